//! Layers on disk, ready for overlayfs.
//!
//! Terms: a *layer* is one image layer's changes, unpacked once into `layers/<diff-id hex>/diff`
//! and shared by every image that lists that diff id (a diff directory does not depend on the
//! layers beneath it: its whiteouts are overlay whiteouts, resolved at mount time). A container's
//! *rw layer* is its own `upper` and `work` directory. A container's root file system is an
//! overlay mount of the rw layer over the image's layers, made inside the container's mount
//! namespace so it vanishes with the container and never leaks onto the host.

pub mod changes;
pub mod unpack;

use crate::content::{digest_hex, HashingReader};
use crate::error::{Error, IoContext, Result};
use crate::store::{self, Root};
use berth_runtime::RootfsMount;
use std::fs;
use std::io::{BufReader, Read, Write};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

/// Metadata kept beside an unpacked layer.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LayerInfo {
    /// sha256 of the uncompressed tar.
    pub diff_id: String,
    /// Bytes of the uncompressed tar.
    pub size: u64,
}

/// The unpacked layers of a root.
#[derive(Debug, Clone)]
pub struct LayerStore {
    root: Root,
}

impl LayerStore {
    /// The layer store of `root`.
    pub fn new(root: &Root) -> Self {
        LayerStore { root: root.clone() }
    }

    /// Directory of a layer (holding `diff/` and `layer.json`).
    pub fn dir(&self, diff_id: &str) -> Result<PathBuf> {
        Ok(self.root.layer_dir(digest_hex(diff_id)?))
    }

    /// True if the layer is unpacked.
    pub fn exists(&self, diff_id: &str) -> bool {
        self.dir(diff_id)
            .map(|d| d.join("layer.json").exists())
            .unwrap_or(false)
    }

    /// Layer metadata.
    pub fn info(&self, diff_id: &str) -> Result<LayerInfo> {
        store::read_json(&self.dir(diff_id)?.join("layer.json"))
    }

    /// Unpacks a layer stream (gzip, zstd or plain tar) into a temp directory, checks its diff
    /// id against `expected`, then renames it into place. A layer already present is not
    /// unpacked again; a failed or interrupted unpack leaves only temp files.
    pub fn unpack<R: Read>(&self, reader: R, expected: Option<&str>) -> Result<LayerInfo> {
        self.unpack_checked(reader, expected, || Ok(()))
    }

    /// [`LayerStore::unpack`], running `check` after the stream is read and before the layer
    /// becomes visible: a pull verifies the compressed blob's digest there, so a layer whose
    /// blob failed verification never lands.
    pub fn unpack_checked<R: Read>(
        &self,
        reader: R,
        expected: Option<&str>,
        check: impl FnOnce() -> Result<()>,
    ) -> Result<LayerInfo> {
        if let Some(d) = expected {
            if self.exists(d) {
                store::touch(&self.dir(d)?);
                return self.info(d);
            }
        }
        let tmp = self.root.temp_path("layer");
        let result = (|| -> Result<LayerInfo> {
            let diff = tmp.join("diff");
            fs::create_dir_all(&diff).ctx(|| format!("create {}", diff.display()))?;
            let plain = unpack::decompress(BufReader::with_capacity(256 * 1024, reader))
                .ctx(|| "read layer".into())?;
            let mut hr = HashingReader::new(plain);
            unpack::unpack_layer(&mut hr, &diff)?;
            let (diff_id, size) = hr.finish().ctx(|| "read layer".into())?;
            check()?;
            if let Some(want) = expected {
                if want != diff_id {
                    return Err(Error::invalid(format!(
                        "layer diff id mismatch: expected {want}, got {diff_id}"
                    )));
                }
            }
            let info = LayerInfo {
                diff_id: diff_id.clone(),
                size,
            };
            store::write_json(&tmp.join("layer.json"), &info)?;
            let dest = self.dir(&diff_id)?;
            let renamed = fs::rename(&tmp, &dest);
            store::sync_dir(&self.root.join("layers"));
            if let Err(e) = renamed {
                // Someone else unpacked the same layer meanwhile: theirs is as good as ours.
                if !dest.join("layer.json").exists() {
                    return Err(Error::io(format!("store layer {diff_id}"), e));
                }
                // Theirs may be an orphan about to be collected: it is ours now.
                store::touch(&dest);
                let _ = store::make_writable_and_remove(&tmp);
            }
            Ok(info)
        })();
        if result.is_err() {
            let _ = store::make_writable_and_remove(&tmp);
        }
        result
    }

    /// Deletes a layer; its directory is first renamed into tmp so a crash mid-delete never
    /// leaves a half-deleted layer under its real name.
    pub fn remove(&self, diff_id: &str) -> Result<()> {
        let dir = self.dir(diff_id)?;
        if !dir.exists() {
            return Ok(());
        }
        let tmp = self.root.temp_path("rmlayer");
        fs::rename(&dir, &tmp).ctx(|| format!("remove layer {diff_id}"))?;
        store::make_writable_and_remove(&tmp).ctx(|| format!("remove layer {diff_id}"))
    }

    /// All diff ids present.
    pub fn list(&self) -> Vec<String> {
        let Ok(rd) = fs::read_dir(self.root.join("layers")) else {
            return Vec::new();
        };
        rd.flatten()
            .filter(|e| e.path().join("layer.json").exists())
            .map(|e| format!("sha256:{}", e.file_name().to_string_lossy()))
            .collect()
    }

    /// Overlay mount for a container whose rw layer is in `dir` (`upper`, `work`), over
    /// `layers` listed bottom to top. `lowerdir` is relative to the layers directory and the
    /// mount is made from there, so a long image still fits mount(2)'s one-page limit.
    pub fn overlay(&self, layers: &[String], dir: &Path) -> Result<RootfsMount> {
        let mut lowers: Vec<String> = Vec::new();
        for l in layers.iter().rev() {
            // The same layer twice (two RUN steps that changed nothing) would make overlayfs
            // refuse the mount (ELOOP): the topmost copy alone gives the same file system, since
            // whatever the lower copy shows through is the top one's content too.
            let d = format!("{}/diff", digest_hex(l)?);
            if !lowers.contains(&d) {
                lowers.push(d);
            }
        }
        if lowers.is_empty() {
            // overlayfs needs a lower directory even for an image with no layers.
            let empty = dir.join("empty");
            fs::create_dir_all(&empty).ctx(|| format!("create {}", empty.display()))?;
            lowers.push(empty.display().to_string());
        }
        Ok(RootfsMount {
            fstype: "overlay".into(),
            source: "overlay".into(),
            options: vec![
                format!("lowerdir={}", lowers.join(":")),
                format!("upperdir={}", dir.join("upper").display()),
                format!("workdir={}", dir.join("work").display()),
            ],
            chdir: Some(self.root.join("layers")),
        })
    }

    /// Reads `path` (absolute, inside the image) from the rw layer `upper` over `layers`
    /// (bottom to top) without mounting anything: the topmost layer that has it or deletes it wins.
    pub fn read_file(
        &self,
        upper: Option<&Path>,
        layers: &[String],
        path: &str,
    ) -> Option<Vec<u8>> {
        let rel = path.trim_start_matches('/');
        let mut dirs: Vec<PathBuf> = upper.map(|u| u.to_path_buf()).into_iter().collect();
        for l in layers.iter().rev() {
            dirs.push(self.dir(l).ok()?.join("diff"));
        }
        for d in dirs {
            // Each layer is a root of its own: a layer's `etc -> /etc` must not make this read
            // the host's files.
            let Ok(layer) = crate::rooted::Rooted::open(&d) else {
                continue;
            };
            match layer.metadata(rel, false) {
                // Anything but a file (an overlay whiteout among them) hides lower layers.
                Ok(m) if m.is_file() => return layer.read(rel).ok(),
                Ok(_) => return None,
                Err(_) => continue,
            }
        }
        None
    }
}

/// Creates a container's rw layer directories under `dir`.
pub fn prepare_rw(dir: &Path) -> Result<()> {
    for sub in ["upper", "work", "rootfs"] {
        fs::create_dir_all(dir.join(sub)).ctx(|| format!("create {}", dir.join(sub).display()))?;
    }
    Ok(())
}

impl LayerStore {
    /// True if `path` exists in the rw layer `upper` or any of `layers` (whiteouts aside: a
    /// cheap pre-check before mounting anything).
    pub fn path_exists(&self, upper: Option<&Path>, layers: &[String], path: &str) -> bool {
        let rel = path.trim_start_matches('/');
        upper
            .map(|u| u.join(rel))
            .into_iter()
            .chain(
                layers
                    .iter()
                    .filter_map(|l| self.dir(l).ok().map(|d| d.join("diff").join(rel))),
            )
            .any(|p| fs::symlink_metadata(p).is_ok())
    }
}

/// A path resolved inside a container's root.
#[derive(Debug)]
pub struct Resolved {
    /// `/proc/self/fd/N` of the opened object: usable by ordinary file calls, which follow it
    /// to exactly that object (never re-resolving the path).
    pub path: PathBuf,
    /// The link's target when the object is a symlink that was not followed.
    pub link: Option<PathBuf>,
    /// The opened object, held so `path` names it for as long as this lives (a daemon's
    /// `cp` of a running container must not leave one descriptor behind per call).
    pub fd: std::os::fd::OwnedFd,
}

/// Resolves `path` inside `root` as if `root` were `/` (symlinks included, never escaping it).
pub fn resolve_in_root(root: &Path, path: &str) -> std::result::Result<Resolved, String> {
    resolve_in_root_opt(root, path, true)
}

/// [`resolve_in_root`], optionally not following a symlink in the last component.
pub fn resolve_in_root_opt(
    root: &Path,
    path: &str,
    follow_last: bool,
) -> std::result::Result<Resolved, String> {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    let rootfd = rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| format!("open {}: {e}", root.display()))?;
    let rel = path.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    let flags = if follow_last {
        OFlags::PATH | OFlags::CLOEXEC
    } else {
        OFlags::PATH | OFlags::CLOEXEC | OFlags::NOFOLLOW
    };
    let fd = rustix::fs::openat2(
        &rootfd,
        rel,
        flags,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )
    .map_err(|e| format!("{path}: {e}"))?;
    let link = if follow_last {
        None
    } else {
        rustix::fs::readlinkat(&fd, "", Vec::new())
            .ok()
            .map(|t| PathBuf::from(std::ffi::OsString::from_vec(t.into_bytes())))
    };
    let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
    Ok(Resolved {
        path: PathBuf::from(format!("/proc/self/fd/{raw}")),
        link,
        fd,
    })
}

/// Closes every descriptor from 3 up except those in `keep` (close_range over the gaps).
pub(crate) fn close_all_but(keep: &[std::os::fd::RawFd]) {
    let mut keep: Vec<u32> = keep
        .iter()
        .filter(|f| **f >= 3)
        .map(|f| *f as u32)
        .collect();
    keep.sort_unstable();
    keep.dedup();
    let mut from = 3u32;
    for k in keep {
        if k > from {
            // SAFETY: closing descriptors of this (forked, single-threaded) child.
            unsafe { libc::syscall(libc::SYS_close_range, from, k - 1, 0) };
        }
        from = k + 1;
    }
    // SAFETY: as above.
    unsafe { libc::syscall(libc::SYS_close_range, from, u32::MAX, 0) };
}

/// Runs `f` on the container's merged root file system (its rw layer over the image's
/// layers) in a child process with a mount namespace of its own, so the overlay mount exists
/// only for that child and disappears with it. Only for stopped containers: a running one's
/// root is `/proc/<pid>/root`. The child keeps only the descriptors in `keep` (and stdio): in
/// a multi-threaded daemon it would otherwise hold other requests' pipes open.
pub fn in_private_rootfs(
    layers: &LayerStore,
    layer_ids: &[String],
    dir: &Path,
    keep: &[std::os::fd::RawFd],
    f: impl FnOnce(&Path) -> std::result::Result<(), String>,
) -> Result<()> {
    in_private_rootfs_with(layers, layer_ids, dir, keep, &[], f)
}

/// A mount of a container's, shown in its private root file system the way it is at run time:
/// what `cp` and the archive routes must see of a stopped container (Docker mounts them too).
#[derive(Debug, Clone)]
pub struct ShownMount {
    /// The host path (a volume's data or a bind source).
    pub source: PathBuf,
    /// Where it appears in the container.
    pub destination: String,
    /// Read-only in the container.
    pub readonly: bool,
}

/// Bind-mounts `m` over its destination, resolved inside `rootfs` (created there as needed,
/// as at start), in the helper's private mount namespace.
fn show_mount(rootfs: &Path, m: &ShownMount) -> std::result::Result<(), String> {
    use nix::mount::{mount, MsFlags};
    let file = !m.source.is_dir();
    let root = rustix::fs::open(
        rootfs,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| format!("open {}: {e}", rootfs.display()))?;
    let target = berth_runtime::rootfs::open_in_root(&root, Path::new(&m.destination), file)
        .map_err(|e| format!("mount point {}: {e}", m.destination))?;
    let at = crate::rooted::fd_path(std::os::fd::AsFd::as_fd(&target));
    mount(
        Some(&m.source),
        &at,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| format!("mount {} at {}: {e}", m.source.display(), m.destination))?;
    if m.readonly {
        mount(
            None::<&str>,
            &at,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .map_err(|e| format!("read-only {}: {e}", m.destination))?;
    }
    Ok(())
}

/// overlayfs mounts read-only, without failing, when it cannot make its work directory: a
/// full disk would then read as "read-only file system" to whoever writes.
fn read_only_fallback(rootfs: &Path, dir: &Path) -> std::result::Result<(), String> {
    let Ok(st) = nix::sys::statvfs::statvfs(rootfs) else {
        return Ok(());
    };
    if !st.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY) {
        return Ok(());
    }
    let full =
        nix::sys::statvfs::statvfs(&dir.join("upper")).is_ok_and(|u| u.blocks_available() == 0);
    Err(if full {
        "mount the container's root file system: No space left on device".to_string()
    } else {
        "mount the container's root file system: overlayfs could not make its work directory and mounted it read-only".to_string()
    })
}

/// [`in_private_rootfs`] with the container's `mounts` shown at their destinations.
pub fn in_private_rootfs_with(
    layers: &LayerStore,
    layer_ids: &[String],
    dir: &Path,
    keep: &[std::os::fd::RawFd],
    mounts: &[ShownMount],
    f: impl FnOnce(&Path) -> std::result::Result<(), String>,
) -> Result<()> {
    let m = layers.overlay(layer_ids, dir)?;
    let rootfs = dir.join("rootfs");
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| Error::internal(format!("pipe: {e}")))?;
    // SAFETY: the child does its work and leaves with _exit; the caller is single-threaded
    // or holds no locks the child needs.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(Error::internal(format!(
            "fork: {}",
            std::io::Error::last_os_error()
        )));
    }
    if pid == 0 {
        drop(r);
        close_all_but(&[keep, &[std::os::fd::AsRawFd::as_raw_fd(&w)]].concat());
        let res = (|| -> std::result::Result<(), String> {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
                .map_err(|e| format!("unshare: {e}"))?;
            use nix::mount::{mount, MsFlags};
            mount(
                None::<&str>,
                "/",
                None::<&str>,
                MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                None::<&str>,
            )
            .map_err(|e| format!("make / private: {e}"))?;
            if let Some(d) = &m.chdir {
                nix::unistd::chdir(d.as_path()).map_err(|e| format!("chdir: {e}"))?;
            }
            mount(
                Some(m.source.as_str()),
                &rootfs,
                Some(m.fstype.as_str()),
                MsFlags::empty(),
                Some(m.options.join(",").as_str()),
            )
            .map_err(|e| format!("mount the container's root file system: {e}"))?;
            read_only_fallback(&rootfs, dir)?;
            nix::unistd::chdir("/").map_err(|e| format!("chdir: {e}"))?;
            for sm in mounts {
                show_mount(&rootfs, sm)?;
            }
            f(&rootfs)
        })();
        let code = match res {
            Ok(()) => 0,
            Err(msg) => {
                let _ = std::fs::File::from(w).write_all(msg.as_bytes());
                1
            }
        };
        // SAFETY: leaving the helper without running the parent's destructors.
        unsafe { libc::_exit(code) };
    }
    drop(w);
    let mut msg = String::new();
    let _ = std::fs::File::from(r).read_to_string(&mut msg);
    let mut status = 0;
    // SAFETY: reaping our helper.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
        Ok(())
    } else if msg.is_empty() {
        Err(Error::internal("the root file system helper failed"))
    } else {
        Err(Error::invalid(msg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layer_twice_is_mounted_once_at_its_topmost_place() {
        let t = tempfile::tempdir().unwrap();
        let root = crate::store::Root::open(t.path()).unwrap();
        let store = LayerStore::new(&root);
        let (a, b) = (
            format!("sha256:{}", "a".repeat(64)),
            format!("sha256:{}", "b".repeat(64)),
        );
        let m = store
            .overlay(&[a.clone(), b.clone(), a.clone()], t.path())
            .unwrap();
        let lower = m.options[0].trim_start_matches("lowerdir=");
        assert_eq!(
            lower,
            format!("{}/diff:{}/diff", "a".repeat(64), "b".repeat(64))
        );
    }
}
