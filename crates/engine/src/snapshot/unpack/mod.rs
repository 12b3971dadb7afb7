//! Unpacks OCI/Docker image layers into a directory that overlayfs uses as a lower dir.
//!
//! Layers are untrusted input. The `tar` crate only parses the stream; every write is
//! done here with `*at` syscalls relative to directory fds. Each entry's parent
//! directory is opened with openat2(2) and `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS`,
//! so absolute paths, `..` and symlinks planted by earlier entries resolve as if the
//! destination were `/`. That is the outcome Docker gets by unpacking inside a chroot,
//! without needing a helper process. The final component is never followed: it is
//! created with `O_EXCL`/`O_NOFOLLOW`, or with calls that do not follow symlinks.
//!
//! Policy decisions, so that callers and reviewers don't have to guess:
//! * Entry names lose their leading `/` and `./` and are cleaned lexically. A name
//!   whose `..` would climb above the layer root is **refused** with
//!   [`UnpackError::PathEscape`]. Docker's `pkg/archive` does the same (its
//!   "breakout" error), and no legitimate layer has such names.
//! * Hard-link targets are cleaned the same way and resolved inside the root. A
//!   target that escapes is refused ([`UnpackError::LinkEscape`]), and one that is
//!   missing is an error ([`UnpackError::LinkTargetMissing`]). A hard-link entry does
//!   not change the metadata of the inode it shares.
//! * Whiteouts follow the OCI image spec, layer "Whiteouts" section. `.wh.NAME`
//!   becomes an overlayfs whiteout (char device 0:0) named NAME, and `.wh..wh..opq`
//!   sets `trusted.overlay.opaque=y` on its directory. Any other `.wh..wh.*` is aufs
//!   metadata (Docker's `WhiteoutMetaPrefix`): those entries, and everything under
//!   such a directory, are skipped. A `.wh.` directory component in any other name is
//!   refused. A file literally named `.wh.*` is never created.
//! * `trusted.overlay.*` and `user.overlay.*` xattrs in the layer are dropped. They are
//!   overlayfs' private metadata (opaque, redirect, metacopy), and honouring them would
//!   let a layer forge it. Other xattrs are set. A failure with `EPERM`/`EOPNOTSUPP`
//!   (e.g. `user.*` on a symlink, xattr(7)) or on `security.*` other than
//!   `security.capability` (host LSM labels) is skipped, as Docker does. Any other
//!   failure is an error.
//! * Directory mtimes are applied after the last entry, because creating children
//!   changes them.
//! * On error, `dest` is left partially populated and must be discarded by the caller.

mod compress;
mod entry;
mod meta;
mod name;
mod root;
#[cfg(test)]
mod test_support;
mod whiteout;

pub use compress::decompress;

use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{self as rfs, Gid, Mode, OFlags, Uid};
use rustix::io::Errno;

use entry::PendingDir;
use name::lossy;

/// Size of the one reusable buffer that file contents stream through.
const COPY_BUF_SIZE: usize = 128 * 1024;

/// Errors from unpacking a layer.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The destination directory could not be opened.
    #[error("opening unpack destination {path:?}: {error}")]
    Dest {
        /// The destination passed to [`unpack_layer`].
        path: std::path::PathBuf,
        /// The underlying error.
        error: io::Error,
    },
    /// The tar stream is corrupt, truncated, or could not be read.
    #[error("reading layer archive{}: {error}", after_entry(.after))]
    Archive {
        /// The last entry read successfully, if any.
        after: Option<String>,
        /// The underlying error.
        error: io::Error,
    },
    /// An entry's name cannot be unpacked (NUL byte, reserved component, layer root).
    #[error("entry {path:?}: invalid name: {reason}")]
    InvalidName {
        /// The entry's name as stored in the archive.
        path: String,
        /// Why the name is refused.
        reason: &'static str,
    },
    /// An entry's name climbs above the layer root with `..`.
    #[error("entry {path:?}: path escapes the layer root")]
    PathEscape {
        /// The entry's name as stored in the archive.
        path: String,
    },
    /// A hard link's target climbs above the layer root with `..`.
    #[error("entry {path:?}: hard link target {target:?} escapes the layer root")]
    LinkEscape {
        /// The entry's name as stored in the archive.
        path: String,
        /// The link target as stored in the archive.
        target: String,
    },
    /// A hard link's target does not exist inside the layer.
    #[error("entry {path:?}: hard link target {target:?} does not exist in the layer")]
    LinkTargetMissing {
        /// The entry's name as stored in the archive.
        path: String,
        /// The link target as stored in the archive.
        target: String,
    },
    /// An entry has a type a layer must not contain (e.g. GNU volume headers).
    #[error("entry {path:?}: unsupported entry type {kind:?}")]
    Unsupported {
        /// The entry's name as stored in the archive.
        path: String,
        /// The header's typeflag byte, as a character.
        kind: char,
    },
    /// A header field (uid, mode, device number, link name, pax record) is malformed.
    #[error("entry {path:?}: invalid header: {error}")]
    Header {
        /// The entry's name as stored in the archive.
        path: String,
        /// The underlying error.
        error: io::Error,
    },
    /// A file-system operation for an entry failed.
    #[error("entry {path:?}: {op}: {error}")]
    Io {
        /// The entry's name as stored in the archive.
        path: String,
        /// The operation that failed.
        op: &'static str,
        /// The underlying error.
        error: io::Error,
    },
    /// Setting an xattr failed in a way the policy does not allow us to ignore.
    #[error("entry {path:?}: setting xattr {name:?}: {error}")]
    Xattr {
        /// The entry's name as stored in the archive.
        path: String,
        /// The xattr's name.
        name: String,
        /// The underlying error.
        error: io::Error,
    },
}

/// Formats the "after entry" part of an archive error: the stream has no path of its own.
fn after_entry(after: &Option<String>) -> String {
    match after {
        Some(p) => format!(" after entry {p:?}"),
        None => String::new(),
    }
}

/// What an unpack did (for logs and tests).
#[derive(Debug, Default, Clone)]
pub struct UnpackStats {
    /// Archive members processed, including whiteouts; pax global headers excluded.
    pub entries: u64,
    /// Bytes of regular-file content written.
    pub bytes: u64,
}

/// Unpacks the (already decompressed) layer tar `reader` into the existing empty directory `dest`.
pub fn unpack_layer<R: Read>(reader: R, dest: &Path) -> Result<UnpackStats, UnpackError> {
    unpack_owned(reader, dest, None)
}

/// [`unpack_layer`], every entry owned by `owner` (uid, gid) instead of the tar's owners when
/// given: `cp` into a container without `-a`.
pub fn unpack_owned<R: Read>(
    reader: R,
    dest: &Path,
    owner: Option<(u32, u32)>,
) -> Result<UnpackStats, UnpackError> {
    let root = rfs::open(
        dest,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| UnpackError::Dest {
        path: dest.to_owned(),
        error: e.into(),
    })?;
    let mut unpacker = Unpacker {
        root,
        buf: vec![0; COPY_BUF_SIZE],
        dirs: Vec::new(),
        stats: UnpackStats::default(),
        owner: owner.map(|(u, g)| (Uid::from_raw(u), Gid::from_raw(g))),
    };
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries()
        .map_err(|error| UnpackError::Archive { after: None, error })?;
    let mut last: Option<String> = None;
    for entry in entries {
        let entry = entry.map_err(|error| UnpackError::Archive {
            after: last.take(),
            error,
        })?;
        last = Some(lossy(&entry.path_bytes()));
        unpacker.entry(entry)?;
    }
    unpacker.finish_dirs()?;
    Ok(unpacker.stats)
}

/// The state of one unpack: the root fd, the copy buffer and deferred directory times.
struct Unpacker {
    root: OwnedFd,
    buf: Vec<u8>,
    dirs: Vec<PendingDir>,
    stats: UnpackStats,
    /// Owner forced on every entry.
    owner: Option<(Uid, Gid)>,
}

/// Attaches the entry path and the failing operation to low-level errors.
trait Ctx<T> {
    fn ctx(self, path: &str, op: &'static str) -> Result<T, UnpackError>;
}

impl<T> Ctx<T> for Result<T, Errno> {
    fn ctx(self, path: &str, op: &'static str) -> Result<T, UnpackError> {
        self.map_err(|e| UnpackError::Io {
            path: path.to_owned(),
            op,
            error: e.into(),
        })
    }
}

impl<T> Ctx<T> for io::Result<T> {
    fn ctx(self, path: &str, op: &'static str) -> Result<T, UnpackError> {
        self.map_err(|error| UnpackError::Io {
            path: path.to_owned(),
            op,
            error,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;
    use std::fs;
    use tar::EntryType;

    #[test]
    fn no_fds_left_open() {
        let sb = Sandbox::new();
        let mut l = Layer::new();
        l.dir("d/", 0o755);
        l.file("d/f", b"f");
        l.file("a/b/c", b"c");
        l.symlink("s", "/d");
        l.file("s/g", b"g");
        l.hardlink("h", "d/f");
        l.add(header("p", EntryType::Fifo, 0, 0o600), b"");
        l.file("d/.wh.f", b"");
        l.file("d/.wh..wh..opq", b"");
        l.file("a", b"replaces a tree");
        sb.unpack(&l.finish()).unwrap();
        let mut l = Layer::new();
        l.file("x/y", b"y");
        l.hardlink("z", "/missing");
        sb.unpack(&l.finish()).unwrap_err();
        // Other tests run in parallel, so only fds that point into this sandbox count.
        let outer = fs::canonicalize(sb.outer.path()).unwrap();
        for fd in fs::read_dir("/proc/self/fd").unwrap() {
            if let Ok(target) = fs::read_link(fd.unwrap().path()) {
                assert!(!target.starts_with(&outer), "leaked fd to {target:?}");
            }
        }
    }

    #[test]
    fn malformed_archives_are_errors() {
        // Truncated in the middle of a file's contents.
        let mut l = Layer::new();
        l.file("big", &[7u8; 4096]);
        let tar = l.finish();
        let sb = Sandbox::new();
        let err = sb.unpack(&tar[..1024]).unwrap_err();
        assert!(
            matches!(err, UnpackError::Io { .. } | UnpackError::Archive { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("big"), "{err}");

        // Unknown entry type (GNU volume header).
        let mut l = Layer::new();
        l.add(header("vol", EntryType::new(b'V'), 0, 0o644), b"");
        let err = Sandbox::new().unpack(&l.finish()).unwrap_err();
        assert!(
            matches!(err, UnpackError::Unsupported { kind: 'V', .. }),
            "{err}"
        );

        // A non-directory cannot become the root.
        let mut l = Layer::new();
        l.file("./", b"");
        let err = Sandbox::new().unpack(&l.finish()).unwrap_err();
        assert!(matches!(err, UnpackError::InvalidName { .. }), "{err}");

        // Hard link to a directory.
        let mut l = Layer::new();
        l.dir("d/", 0o755);
        l.hardlink("h", "d");
        let err = Sandbox::new().unpack(&l.finish()).unwrap_err();
        assert!(matches!(err, UnpackError::Io { .. }), "{err}");

        // Corrupt checksum.
        let mut l = Layer::new();
        l.file("ok", b"1");
        let mut tar = l.finish();
        tar[0] ^= 0xff;
        let err = Sandbox::new().unpack(&tar).unwrap_err();
        assert!(
            matches!(err, UnpackError::Archive { after: None, .. }),
            "{err}"
        );

        // Missing destination.
        let err = unpack_layer(&b""[..], Path::new("/nonexistent/berth-dest")).unwrap_err();
        assert!(matches!(err, UnpackError::Dest { .. }), "{err}");
    }
}
