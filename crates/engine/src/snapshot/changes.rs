//! A container's changes: `diff` (what its rw layer adds, changes and deletes against its
//! image), the layer tar of those changes (`commit`: overlay whiteouts back into OCI `.wh.`
//! entries), and tars of whole trees (`export`, `cp`).

use super::LayerStore;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Files berth itself puts into every container's rw layer (mount points of /etc files and of
/// the kernel file systems); Docker keeps them in a separate init layer, so they are neither
/// changes nor part of a commit.
const INIT_PATHS: &[&str] = &[
    "/etc/hostname",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/proc",
    "/sys",
    "/dev",
    "/.dockerenv",
    "/etc/mtab",
];

/// Kind of change, as `docker diff` prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Added.
    Added,
    /// Changed.
    Changed,
    /// Deleted.
    Deleted,
}

impl Change {
    /// `A`, `C` or `D`.
    pub fn letter(self) -> char {
        match self {
            Change::Added => 'A',
            Change::Changed => 'C',
            Change::Deleted => 'D',
        }
    }
}

fn is_whiteout(md: &fs::Metadata) -> bool {
    md.file_type().is_char_device() && md.rdev() == 0
}

fn is_opaque(p: &Path) -> bool {
    xattr_get(p, "trusted.overlay.opaque").as_deref() == Some(b"y".as_slice())
}

fn xattr_get(p: &Path, name: &str) -> Option<Vec<u8>> {
    let c = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(p.as_os_str())).ok()?;
    let n = std::ffi::CString::new(name).ok()?;
    let mut buf = [0u8; 16];
    // SAFETY: lgetxattr(2) into a local buffer.
    let r = unsafe { libc::lgetxattr(c.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (r >= 0).then(|| buf[..r as usize].to_vec())
}

/// Whether `path` is one of berth's own mount points rather than a change of the user's.
fn excluded(path: &str, extra: &[String]) -> bool {
    INIT_PATHS.contains(&path) || extra.iter().any(|p| p == path)
}

/// The changes of the rw layer `upper` against `layers`, sorted by path. `mount_points` (the
/// container's volumes) are not changes either.
pub fn diff(
    store: &LayerStore,
    upper: &Path,
    layers: &[String],
    mount_points: &[String],
) -> Vec<(Change, String)> {
    let mut out = Vec::new();
    walk(store, upper, Path::new("/"), layers, mount_points, &mut out);
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out
}

/// Returns true if anything at or below `rel` was reported.
fn walk(
    store: &LayerStore,
    upper: &Path,
    rel: &Path,
    layers: &[String],
    skip: &[String],
    out: &mut Vec<(Change, String)>,
) -> bool {
    let Ok(rd) = fs::read_dir(upper.join(rel.strip_prefix("/").unwrap_or(rel))) else {
        return false;
    };
    let mut names: Vec<_> = rd.flatten().collect();
    names.sort_by_key(|e| e.file_name());
    let mut any = false;
    for e in names {
        let p = rel.join(e.file_name());
        let ps = p.display().to_string();
        let Ok(md) = e.path().symlink_metadata() else {
            continue;
        };
        if is_whiteout(&md) {
            out.push((Change::Deleted, ps));
            any = true;
            continue;
        }
        let in_lower = store.path_exists(None, layers, &ps);
        let kind = if in_lower {
            Change::Changed
        } else {
            Change::Added
        };
        if md.is_dir() {
            let below = walk(store, upper, &p, layers, skip, out);
            let own = !excluded(&ps, skip) && (kind == Change::Added || is_opaque(&e.path()));
            if below || own {
                out.push((kind, ps));
                any = true;
            }
        } else if !excluded(&ps, skip) {
            out.push((kind, ps));
            any = true;
        }
    }
    any
}

/// Writes the rw layer `upper` as an OCI layer tar: overlay whiteouts become `.wh.<name>`
/// entries and opaque directories get `.wh..wh..opq`; berth's own mount points are left out.
pub fn write_layer(upper: &Path, skip: &[String], out: impl Write) -> io::Result<()> {
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    layer_dir(&mut b, upper, Path::new(""), skip)?;
    b.into_inner()?.flush()
}

fn layer_dir<W: Write>(
    b: &mut tar::Builder<W>,
    root: &Path,
    rel: &Path,
    skip: &[String],
) -> io::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(root.join(rel))?.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let r = rel.join(e.file_name());
        let abs = format!("/{}", r.display());
        let md = e.path().symlink_metadata()?;
        if is_whiteout(&md) {
            let name = r
                .parent()
                .unwrap_or(Path::new(""))
                .join(format!(".wh.{}", e.file_name().to_string_lossy()));
            let mut h = tar::Header::new_gnu();
            h.set_size(0);
            h.set_mode(0o644);
            h.set_mtime(md.mtime().max(0) as u64);
            b.append_data(&mut h, name, io::empty())?;
            continue;
        }
        if md.is_dir() {
            if !excluded(&abs, skip) {
                append_entry(b, &e.path(), &r, &md)?;
            }
            if is_opaque(&e.path()) {
                let mut h = tar::Header::new_gnu();
                h.set_size(0);
                h.set_mode(0o644);
                b.append_data(&mut h, r.join(".wh..wh..opq"), io::empty())?;
            }
            layer_dir(b, root, &r, skip)?;
        } else if !excluded(&abs, skip) {
            append_entry(b, &e.path(), &r, &md)?;
        }
    }
    Ok(())
}

/// Appends one file system object with its metadata (regular files with their contents).
pub fn append_entry<W: Write>(
    b: &mut tar::Builder<W>,
    path: &Path,
    name: &Path,
    md: &fs::Metadata,
) -> io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_metadata_in_mode(md, tar::HeaderMode::Complete);
    let ft = md.file_type();
    if ft.is_symlink() {
        h.set_size(0);
        b.append_link(&mut h, name, fs::read_link(path)?)
    } else if ft.is_file() {
        b.append_data(&mut h, name, fs::File::open(path)?)
    } else if ft.is_dir() {
        h.set_size(0);
        b.append_data(&mut h, name, io::empty())
    } else {
        // Devices and fifos: the header carries everything.
        h.set_size(0);
        if ft.is_char_device() || ft.is_block_device() {
            h.set_device_major(libc::major(md.rdev()))?;
            h.set_device_minor(libc::minor(md.rdev()))?;
        }
        b.append_data(&mut h, name, io::empty())
    }
}

/// Writes the tree at `src` into a tar under the name `prefix` (e.g. `.` for a whole root
/// file system, or the copied item's base name), not crossing into other file systems
/// listed in `skip` (absolute paths relative to `src`).
pub fn write_tree<W: Write>(
    b: &mut tar::Builder<W>,
    src: &Path,
    prefix: &Path,
    skip: &[PathBuf],
) -> io::Result<()> {
    // `src` may be a /proc/self/fd magic link: follow it to the object itself.
    let md = src.metadata()?;
    append_entry(b, src, prefix, &md)?;
    if md.is_dir() {
        tree_dir(b, src, prefix, Path::new("/"), skip)?;
    }
    Ok(())
}

fn tree_dir<W: Write>(
    b: &mut tar::Builder<W>,
    dir: &Path,
    name: &Path,
    abs: &Path,
    skip: &[PathBuf],
) -> io::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)?.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let a = abs.join(e.file_name());
        let n = name.join(e.file_name());
        let md = e.path().symlink_metadata()?;
        append_entry(b, &e.path(), &n, &md)?;
        // A mount point's contents belong to what is mounted there, not to this tree.
        if md.is_dir() && !skip.contains(&a) {
            tree_dir(b, &e.path(), &n, &a, skip)?;
        }
    }
    Ok(())
}
