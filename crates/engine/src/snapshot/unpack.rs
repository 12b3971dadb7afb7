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

use std::ffi::{CStr, CString};
use std::fs::File;
use std::io::{self, BufRead, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{
    self as rfs, AtFlags, Dir, FileType, Gid, Mode, OFlags, ResolveFlags, Timespec, Timestamps,
    Uid, XattrFlags,
};
use rustix::io::Errno;

/// OCI layer spec: a whiteout file's name is this prefix plus the name it deletes.
const WHITEOUT_PREFIX: &[u8] = b".wh.";
/// Docker's reserved prefix for aufs metadata entries, which are not deletions.
const WHITEOUT_META_PREFIX: &[u8] = b".wh..wh.";
/// OCI layer spec: the opaque whiteout marks its directory as hiding lower layers.
const WHITEOUT_OPAQUE: &[u8] = b".wh..wh..opq";
/// The overlayfs xattr that makes a directory opaque (see the kernel's overlayfs.rst).
const OPAQUE_XATTR: &CStr = c"trusted.overlay.opaque";
/// The pax record prefix that GNU tar, Docker and BuildKit use for xattrs.
const PAX_XATTR_PREFIX: &[u8] = b"SCHILY.xattr.";
/// Size of the one reusable buffer that file contents stream through.
const COPY_BUF_SIZE: usize = 128 * 1024;
/// openat2(2) may return EAGAIN under RESOLVE_IN_ROOT when a concurrent rename races a
/// `..` lookup, so we retry a bounded number of times.
const OPENAT2_RETRIES: usize = 32;
/// Mode of parent directories that the archive implies but does not list (as Docker).
const IMPLICIT_DIR_MODE: u32 = 0o755;

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

/// Wraps `reader` in a decompressor chosen by its magic bytes: gzip, zstd, or none (plain tar).
pub fn decompress<'a, R: BufRead + 'a>(mut reader: R) -> io::Result<Box<dyn Read + 'a>> {
    // Read rather than peek: `fill_buf` may legally return fewer than 4 bytes, so we
    // consume the magic and put it back in front of the stream.
    let mut magic = [0u8; 4];
    let mut n = 0;
    while n < magic.len() {
        match reader.read(&mut magic[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let magic = &magic[..n];
    let stream = io::Cursor::new(magic.to_vec()).chain(reader);
    let is_gzip = magic.starts_with(&[0x1f, 0x8b]);
    // RFC 8878: a frame is either a zstd frame or a skippable frame (0x184D2A5?).
    let is_zstd = magic == [0x28, 0xb5, 0x2f, 0xfd]
        || (n == 4 && magic[0] & 0xf0 == 0x50 && magic[1..] == [0x2a, 0x4d, 0x18]);
    Ok(if is_gzip {
        // Multi-member: pigz and concatenating tools emit several gzip members.
        Box::new(flate2::bufread::MultiGzDecoder::new(stream))
    } else if is_zstd {
        Box::new(zstd::stream::read::Decoder::with_buffer(stream)?)
    } else {
        Box::new(stream)
    })
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

/// Metadata of one entry, decoded from its header and pax records.
struct Meta {
    uid: Uid,
    gid: Gid,
    mode: Mode,
    times: Timestamps,
    xattrs: Vec<(CString, Vec<u8>)>,
}

/// A directory entry whose mtime is applied after all entries are written. There is one
/// per directory entry (Docker keeps the same list), so memory grows with the number of
/// directories in the layer, never with the size of file contents.
struct PendingDir {
    path: Vec<u8>,
    dev: u64,
    ino: u64,
    times: Timestamps,
}

/// Where to set xattrs: an open fd, or a name in a directory, for inodes we must not open.
enum XattrTarget<'a> {
    Fd(BorrowedFd<'a>),
    At(BorrowedFd<'a>, &'a CStr),
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

/// Why a name could not be cleaned.
enum NameError {
    Nul,
    Escape,
}

/// Cleans a name the way Go's `path.Clean` does. We drop leading `/`, `.` and empty
/// components, and fold `..` lexically. Climbing above the root is refused.
fn clean_path(raw: &[u8]) -> Result<Vec<&[u8]>, NameError> {
    if raw.contains(&0) {
        return Err(NameError::Nul);
    }
    let mut out: Vec<&[u8]> = Vec::new();
    for comp in raw.split(|b| *b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                if out.pop().is_none() {
                    return Err(NameError::Escape);
                }
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Renders raw name bytes for error messages.
fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Builds a C path from clean components; "." stands for the root itself.
fn join(comps: &[&[u8]]) -> CString {
    if comps.is_empty() {
        return c".".to_owned();
    }
    let mut v = Vec::with_capacity(comps.iter().map(|c| c.len() + 1).sum());
    for (i, c) in comps.iter().enumerate() {
        if i > 0 {
            v.push(b'/');
        }
        v.extend_from_slice(c);
    }
    // clean_path rejected NUL bytes, so this cannot fail.
    CString::new(v).expect("clean path has no NUL")
}

/// One component as a C string; clean_path already rejected NUL bytes.
fn cname(comp: &[u8]) -> CString {
    CString::new(comp).expect("clean component has no NUL")
}

/// Only the permission bits: file-type bits in a header mode are noise.
fn perm(mode: u32) -> Mode {
    Mode::from_raw_mode(mode & 0o7777)
}

/// Parses a pax time record ("secs[.frac]", possibly negative) with ns precision.
fn parse_pax_time(v: &[u8]) -> Option<Timespec> {
    let s = std::str::from_utf8(v).ok()?;
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = int.parse().ok()?;
    let mut nsec: i64 = 0;
    for (i, d) in frac.bytes().take(9).enumerate() {
        nsec += i64::from(d - b'0') * 10i64.pow(8 - i as u32);
    }
    Some(if !neg {
        Timespec {
            tv_sec: secs,
            tv_nsec: nsec,
        }
    } else if nsec == 0 {
        Timespec {
            tv_sec: -secs,
            tv_nsec: 0,
        }
    } else {
        Timespec {
            tv_sec: -secs - 1,
            tv_nsec: 1_000_000_000 - nsec,
        }
    })
}

/// Overlayfs keeps its own metadata in these namespaces, so layers must not supply it.
fn is_overlay_xattr(name: &[u8]) -> bool {
    name.starts_with(b"trusted.overlay.") || name.starts_with(b"user.overlay.")
}

/// Whether an xattr failure may be skipped, per the module's policy (as Docker does).
fn xattr_failure_ignorable(name: &CStr, err: Errno) -> bool {
    let name = name.to_bytes();
    (name.starts_with(b"security.") && name != b"security.capability")
        || err == Errno::OPNOTSUPP
        || err == Errno::PERM
}

/// Go's archive/tar, which wrote most layers and parses them for Docker, reads an
/// all-NUL/space numeric field as 0. The tar crate rejects it, so we accept it here.
fn numeric(parsed: io::Result<u64>, raw: &[u8]) -> io::Result<u64> {
    match parsed {
        Err(_) if raw.iter().all(|b| *b == 0 || *b == b' ') => Ok(0),
        other => other,
    }
}

/// Decodes uid/gid/mode/times/xattrs. The tar crate has already applied pax uid/gid to the header.
fn read_meta<R: Read>(entry: &mut tar::Entry<'_, R>, shown: &str) -> Result<Meta, UnpackError> {
    let bad = |error: io::Error| UnpackError::Header {
        path: shown.to_owned(),
        error,
    };
    let invalid = |msg: &str| bad(io::Error::new(io::ErrorKind::InvalidData, msg.to_owned()));
    let h = entry.header();
    let old = h.as_old();
    // u32::MAX is chown's "leave unchanged" sentinel, so it cannot be a real id.
    let id = |v: u64| u32::try_from(v).ok().filter(|v| *v != u32::MAX);
    let uid = numeric(h.uid(), &old.uid).map_err(bad)?;
    let uid = id(uid).ok_or_else(|| invalid("uid out of range"))?;
    let gid = numeric(h.gid(), &old.gid).map_err(bad)?;
    let gid = id(gid).ok_or_else(|| invalid("gid out of range"))?;
    let mode = perm(numeric(h.mode().map(u64::from), &old.mode).map_err(bad)? as u32);
    let mtime_secs =
        i64::try_from(numeric(h.mtime(), &old.mtime).map_err(bad)?).unwrap_or(i64::MAX);
    let mut mtime = Timespec {
        tv_sec: mtime_secs,
        tv_nsec: 0,
    };
    let mut atime = None;
    let mut xattrs = Vec::new();
    if let Some(exts) = entry.pax_extensions().map_err(bad)? {
        for ext in exts {
            let ext = ext.map_err(bad)?;
            let key = ext.key_bytes();
            if let Some(name) = key.strip_prefix(PAX_XATTR_PREFIX) {
                if name.is_empty() || name.contains(&0) {
                    return Err(invalid("malformed xattr name"));
                }
                if !is_overlay_xattr(name) {
                    xattrs.push((cname(name), ext.value_bytes().to_vec()));
                }
            } else if key == b"mtime" {
                mtime = parse_pax_time(ext.value_bytes())
                    .ok_or_else(|| invalid("malformed pax mtime"))?;
            } else if key == b"atime" {
                atime = Some(
                    parse_pax_time(ext.value_bytes())
                        .ok_or_else(|| invalid("malformed pax atime"))?,
                );
            }
        }
    }
    Ok(Meta {
        uid: Uid::from_raw(uid),
        gid: Gid::from_raw(gid),
        mode,
        times: Timestamps {
            last_access: atime.unwrap_or(mtime),
            last_modification: mtime,
        },
        xattrs,
    })
}

/// Opens clean `comps` (relative to `root`) as an `O_PATH` directory. openat2(2)
/// RESOLVE_IN_ROOT treats `root` as "/" for every symlink and `..` on the way, and
/// RESOLVE_NO_MAGICLINKS refuses /proc-style links that would jump anywhere.
fn open_dir_in_root(root: BorrowedFd<'_>, comps: &[&[u8]]) -> Result<OwnedFd, Errno> {
    let path = join(comps);
    let mut tries = 0;
    loop {
        let res = rfs::openat2(
            root,
            &path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        );
        match res {
            Err(Errno::AGAIN) if tries < OPENAT2_RETRIES => tries += 1,
            other => return other,
        }
    }
}

/// Like `mkdir -p` inside the root: opens `comps` as a directory and creates the
/// missing parts with mode 0755. A dangling symlink on the way is an error
/// (`EEXIST`), as it is for Docker's MkdirAll in its chroot.
fn make_dirs(root: BorrowedFd<'_>, comps: &[&[u8]]) -> Result<OwnedFd, Errno> {
    match open_dir_in_root(root, comps) {
        Err(Errno::NOENT) => {}
        other => return other,
    }
    let mut cur = open_dir_in_root(root, &[])?;
    for i in 0..comps.len() {
        cur = match open_dir_in_root(root, &comps[..=i]) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => {
                // The prefix resolved to `cur`, so the missing piece is comps[i] in it.
                let name = cname(comps[i]);
                rfs::mkdirat(&cur, &name, perm(IMPLICIT_DIR_MODE))?;
                // mkdirat is subject to the umask, so we set the mode explicitly.
                rfs::chmodat(&cur, &name, perm(IMPLICIT_DIR_MODE), AtFlags::empty())?;
                rfs::openat(
                    &cur,
                    &name,
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?
            }
            Err(e) => return Err(e),
        };
    }
    Ok(cur)
}

/// Whether a stat result is a directory.
fn is_dir(st: &rfs::Stat) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::Directory
}

/// Makes room for an entry: a later entry replaces an earlier one. An existing
/// directory is kept when `keep_dir` (dir-over-dir merges); otherwise anything at
/// `name` is removed, recursively for directories (Docker's RemoveAll). Returns
/// whether a directory was kept.
fn remove_existing(dir: BorrowedFd<'_>, name: &CStr, keep_dir: bool) -> Result<bool, Errno> {
    match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Err(Errno::NOENT) => Ok(false),
        Err(e) => Err(e),
        Ok(st) if is_dir(&st) => {
            if keep_dir {
                return Ok(true);
            }
            remove_tree(dir, name)?;
            Ok(false)
        }
        Ok(_) => {
            rfs::unlinkat(dir, name, AtFlags::empty())?;
            Ok(false)
        }
    }
}

/// A directory being emptied by `remove_tree`.
struct RmFrame {
    dir: Dir,
    name: CString,
    removed_this_pass: bool,
}

/// Removes the directory `name` in `parent` and everything below it. It works only
/// through fds opened with O_NOFOLLOW, so it never leaves the tree, and it keeps an
/// explicit stack so that deep trees cannot overflow the thread stack.
fn remove_tree(parent: BorrowedFd<'_>, name: &CStr) -> Result<(), Errno> {
    let open = |at: BorrowedFd<'_>, n: &CStr| -> Result<Dir, Errno> {
        let fd = rfs::openat(
            at,
            n,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Dir::new(fd)
    };
    let mut stack = vec![RmFrame {
        dir: open(parent, name)?,
        name: name.to_owned(),
        removed_this_pass: false,
    }];
    while let Some(top) = stack.last_mut() {
        match top.dir.read() {
            Some(Ok(ent)) => {
                let n = ent.file_name();
                if n == c"." || n == c".." {
                    continue;
                }
                let fd = top.dir.fd()?;
                let child_is_dir = match ent.file_type() {
                    FileType::Directory => true,
                    FileType::Unknown => is_dir(&rfs::statat(fd, n, AtFlags::SYMLINK_NOFOLLOW)?),
                    _ => false,
                };
                top.removed_this_pass = true;
                if child_is_dir {
                    let child = RmFrame {
                        dir: open(fd, n)?,
                        name: n.to_owned(),
                        removed_this_pass: false,
                    };
                    stack.push(child);
                } else {
                    rfs::unlinkat(fd, n, AtFlags::empty())?;
                }
            }
            Some(Err(e)) => return Err(e),
            None if top.removed_this_pass => {
                // Unlinking while reading may make getdents skip names on some file
                // systems, so we read again until a pass finds nothing.
                top.removed_this_pass = false;
                top.dir.rewind();
            }
            None => {
                let done = stack.pop().expect("stack is non-empty");
                let at = match stack.last() {
                    Some(f) => f.dir.fd()?,
                    None => parent,
                };
                rfs::unlinkat(at, &done.name, AtFlags::REMOVEDIR)?;
            }
        }
    }
    Ok(())
}

/// The path by which we set xattrs on inodes we must not open (symlinks, devices,
/// fifos). The directory fd is already pinned, and the last component is a plain name
/// that lsetxattr does not follow.
fn proc_path(dir: BorrowedFd<'_>, name: &CStr) -> CString {
    let mut p = format!("/proc/thread-self/fd/{}/", dir.as_raw_fd()).into_bytes();
    p.extend_from_slice(name.to_bytes());
    CString::new(p).expect("fd number and clean name have no NUL")
}

/// Sets the entry's xattrs, skipping failures the policy allows.
fn set_xattrs(target: XattrTarget<'_>, meta: &Meta, shown: &str) -> Result<(), UnpackError> {
    for (name, value) in &meta.xattrs {
        let res = match target {
            XattrTarget::Fd(fd) => rfs::fsetxattr(fd, name, value, XattrFlags::empty()),
            XattrTarget::At(dir, n) => {
                rfs::lsetxattr(proc_path(dir, n), name, value, XattrFlags::empty())
            }
        };
        match res {
            Ok(()) => {}
            Err(e) if xattr_failure_ignorable(name, e) => {}
            Err(e) => {
                return Err(UnpackError::Xattr {
                    path: shown.to_owned(),
                    name: lossy(name.to_bytes()),
                    error: e.into(),
                })
            }
        }
    }
    Ok(())
}

impl Unpacker {
    /// Applies one archive member.
    fn entry<R: Read>(&mut self, mut entry: tar::Entry<'_, R>) -> Result<(), UnpackError> {
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() {
            // Global pax headers carry archive-wide defaults that layers don't rely on.
            // Docker ignores them too.
            return Ok(());
        }
        self.stats.entries += 1;
        let raw = entry.path_bytes().into_owned();
        let shown = lossy(&raw);
        let comps = match clean_path(&raw) {
            Ok(c) => c,
            Err(NameError::Nul) => {
                return Err(UnpackError::InvalidName {
                    path: shown,
                    reason: "contains a NUL byte",
                })
            }
            Err(NameError::Escape) => return Err(UnpackError::PathEscape { path: shown }),
        };
        let mut meta = read_meta(&mut entry, &shown)?;
        if let Some((uid, gid)) = self.owner {
            meta.uid = uid;
            meta.gid = gid;
        }

        if let Some((base, parent)) = comps.split_last() {
            if parent.iter().any(|c| c.starts_with(WHITEOUT_META_PREFIX)) {
                // Entries under aufs metadata dirs (e.g. .wh..wh.plnk), as Docker skips them.
                return Ok(());
            }
            if parent.iter().any(|c| c.starts_with(WHITEOUT_PREFIX)) {
                return Err(UnpackError::InvalidName {
                    path: shown,
                    reason: "whiteout prefix in a directory component",
                });
            }
            if base.starts_with(WHITEOUT_PREFIX) {
                // OCI layer spec: whiteouts are recognised by name, whatever their type.
                return self.whiteout(parent, base, &meta, &shown);
            }
        }

        use tar::EntryType as T;
        match kind {
            T::Directory => self.directory(&comps, &meta, &shown),
            _ if comps.is_empty() => Err(UnpackError::InvalidName {
                path: shown,
                reason: "a non-directory cannot replace the layer root",
            }),
            T::Regular | T::Continuous | T::GNUSparse => {
                self.regular(&comps, &mut entry, &meta, &shown)
            }
            T::Symlink => {
                let target = self.link_name(&entry, &shown)?;
                let target = CString::new(target).map_err(|_| UnpackError::Header {
                    path: shown.clone(),
                    error: io::Error::new(io::ErrorKind::InvalidData, "symlink target has NUL"),
                })?;
                self.symlink(&comps, &target, &meta, &shown)
            }
            T::Link => {
                let target = self.link_name(&entry, &shown)?;
                self.hardlink(&comps, &target, &shown)
            }
            T::Char | T::Block | T::Fifo => self.special(&comps, &entry, &meta, &shown),
            other => Err(UnpackError::Unsupported {
                path: shown,
                kind: char::from(other.as_byte()),
            }),
        }
    }

    /// The link name of a symlink or hard-link entry. The tar crate has already
    /// applied GNU long links and pax linkpath.
    fn link_name<R: Read>(
        &self,
        entry: &tar::Entry<'_, R>,
        shown: &str,
    ) -> Result<Vec<u8>, UnpackError> {
        entry
            .link_name_bytes()
            .map(|c| c.into_owned())
            .ok_or_else(|| UnpackError::Header {
                path: shown.to_owned(),
                error: io::Error::new(io::ErrorKind::InvalidData, "link entry without target"),
            })
    }

    /// Opens (creating as needed) the parent directory of an entry inside the root.
    fn parent(&self, parent: &[&[u8]], shown: &str) -> Result<OwnedFd, UnpackError> {
        make_dirs(self.root.as_fd(), parent).ctx(shown, "opening parent directory")
    }

    /// Handles `.wh.NAME` and `.wh..wh..opq` (OCI image spec, layer "Whiteouts"),
    /// translated to the overlayfs on-disk format.
    fn whiteout(
        &mut self,
        parent: &[&[u8]],
        base: &[u8],
        meta: &Meta,
        shown: &str,
    ) -> Result<(), UnpackError> {
        if base == WHITEOUT_OPAQUE {
            let dir = self.parent(parent, shown)?;
            // fsetxattr needs a real fd. Reopening "." on the O_PATH fd pins the same inode.
            let fd = rfs::openat(
                &dir,
                c".",
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .ctx(shown, "opening opaque directory")?;
            return rfs::fsetxattr(&fd, OPAQUE_XATTR, b"y", XattrFlags::empty())
                .ctx(shown, "marking directory opaque");
        }
        if base.starts_with(WHITEOUT_META_PREFIX) {
            // Other aufs metadata entries are not deletions, so we skip them.
            return Ok(());
        }
        let name = &base[WHITEOUT_PREFIX.len()..];
        if name.is_empty() || name == b"." || name == b".." {
            return Err(UnpackError::InvalidName {
                path: shown.to_owned(),
                reason: "whiteout names nothing",
            });
        }
        let dir = self.parent(parent, shown)?;
        let name = cname(name);
        remove_existing(dir.as_fd(), &name, false).ctx(shown, "removing whited-out entry")?;
        // Overlayfs treats a 0:0 character device as "deleted in this layer".
        rfs::mknodat(
            &dir,
            &name,
            FileType::CharacterDevice,
            Mode::empty(),
            rfs::makedev(0, 0),
        )
        .ctx(shown, "creating whiteout device")?;
        rfs::chownat(
            &dir,
            &name,
            Some(meta.uid),
            Some(meta.gid),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .ctx(shown, "changing whiteout owner")
    }

    /// Creates or updates a directory. Its times wait until `finish_dirs`.
    fn directory(&mut self, comps: &[&[u8]], meta: &Meta, shown: &str) -> Result<(), UnpackError> {
        let fd = match comps.split_last() {
            // "./" describes the layer root itself, whose metadata overlay shows as "/".
            None => rfs::openat(
                &self.root,
                c".",
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .ctx(shown, "opening layer root")?,
            Some((base, parent)) => {
                let dir = self.parent(parent, shown)?;
                let name = cname(base);
                let kept = remove_existing(dir.as_fd(), &name, true)
                    .ctx(shown, "removing existing entry")?;
                if !kept {
                    rfs::mkdirat(&dir, &name, perm(0o700)).ctx(shown, "creating directory")?;
                }
                rfs::openat(
                    &dir,
                    &name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .ctx(shown, "opening directory")?
            }
        };
        rfs::fchown(&fd, Some(meta.uid), Some(meta.gid)).ctx(shown, "changing owner")?;
        rfs::fchmod(&fd, meta.mode).ctx(shown, "changing mode")?;
        set_xattrs(XattrTarget::Fd(fd.as_fd()), meta, shown)?;
        let st = rfs::fstat(&fd).ctx(shown, "stat directory")?;
        self.dirs.push(PendingDir {
            path: join(comps).into_bytes(),
            dev: st.st_dev,
            ino: st.st_ino,
            times: meta.times.clone(),
        });
        Ok(())
    }

    /// Creates a regular file and streams its contents through the fixed buffer.
    fn regular<R: Read>(
        &mut self,
        comps: &[&[u8]],
        entry: &mut tar::Entry<'_, R>,
        meta: &Meta,
        shown: &str,
    ) -> Result<(), UnpackError> {
        let (base, parent) = comps.split_last().expect("caller checked non-empty");
        let dir = self.parent(parent, shown)?;
        let name = cname(base);
        remove_existing(dir.as_fd(), &name, false).ctx(shown, "removing existing entry")?;
        // O_EXCL also refuses to follow a symlink at the final component.
        let fd = rfs::openat(
            &dir,
            &name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            perm(0o600),
        )
        .ctx(shown, "creating file")?;
        let mut file = File::from(fd);
        let expected = entry.size();
        let mut written: u64 = 0;
        loop {
            let n = match entry.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e).ctx(shown, "reading file contents"),
            };
            file.write_all(&self.buf[..n]).ctx(shown, "writing file")?;
            written += n as u64;
        }
        self.stats.bytes += written;
        if written != expected {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("archive ended after {written} of {expected} bytes"),
            ))
            .ctx(shown, "reading file contents");
        }
        // Order matters: chown clears setuid/setgid and security.capability, so the
        // mode and then the xattrs come after it.
        rfs::fchown(&file, Some(meta.uid), Some(meta.gid)).ctx(shown, "changing owner")?;
        rfs::fchmod(&file, meta.mode).ctx(shown, "changing mode")?;
        set_xattrs(XattrTarget::Fd(file.as_fd()), meta, shown)?;
        rfs::futimens(&file, &meta.times).ctx(shown, "setting times")
    }

    /// Creates a symlink. The target is stored verbatim and never followed here.
    fn symlink(
        &mut self,
        comps: &[&[u8]],
        target: &CStr,
        meta: &Meta,
        shown: &str,
    ) -> Result<(), UnpackError> {
        let (base, parent) = comps.split_last().expect("caller checked non-empty");
        let dir = self.parent(parent, shown)?;
        let name = cname(base);
        remove_existing(dir.as_fd(), &name, false).ctx(shown, "removing existing entry")?;
        rfs::symlinkat(target, &dir, &name).ctx(shown, "creating symlink")?;
        rfs::chownat(
            &dir,
            &name,
            Some(meta.uid),
            Some(meta.gid),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .ctx(shown, "changing owner")?;
        set_xattrs(XattrTarget::At(dir.as_fd(), &name), meta, shown)?;
        rfs::utimensat(&dir, &name, &meta.times, AtFlags::SYMLINK_NOFOLLOW)
            .ctx(shown, "setting times")
    }

    /// Creates a hard link to an inode that an earlier entry put inside the root.
    fn hardlink(&mut self, comps: &[&[u8]], target: &[u8], shown: &str) -> Result<(), UnpackError> {
        let target_shown = lossy(target);
        let missing = || UnpackError::LinkTargetMissing {
            path: shown.to_owned(),
            target: target_shown.clone(),
        };
        let tcomps = match clean_path(target) {
            Ok(c) => c,
            Err(NameError::Escape) => {
                return Err(UnpackError::LinkEscape {
                    path: shown.to_owned(),
                    target: target_shown,
                })
            }
            Err(NameError::Nul) => {
                return Err(UnpackError::Header {
                    path: shown.to_owned(),
                    error: io::Error::new(io::ErrorKind::InvalidData, "link target has NUL"),
                })
            }
        };
        let Some((tbase, tparent)) = tcomps.split_last() else {
            // Directories cannot be hard-linked, and the root is one.
            return Err(UnpackError::Io {
                path: shown.to_owned(),
                op: "hard-linking to the layer root",
                error: Errno::PERM.into(),
            });
        };
        // Same containment as entry parents, but without creating anything.
        let tdir = match open_dir_in_root(self.root.as_fd(), tparent) {
            Ok(fd) => fd,
            Err(Errno::NOENT) | Err(Errno::NOTDIR) => return Err(missing()),
            Err(e) => return Err(e).ctx(shown, "opening hard link target directory"),
        };
        let tname = cname(tbase);
        let (base, parent) = comps.split_last().expect("caller checked non-empty");
        let dir = self.parent(parent, shown)?;
        let name = cname(base);
        remove_existing(dir.as_fd(), &name, false).ctx(shown, "removing existing entry")?;
        // No AT_SYMLINK_FOLLOW: a target that is a symlink is linked itself, as tar does.
        match rfs::linkat(&tdir, &tname, &dir, &name, AtFlags::empty()) {
            Ok(()) => Ok(()),
            Err(Errno::NOENT) => Err(missing()),
            Err(e) => Err(e).ctx(shown, "creating hard link"),
        }
    }

    /// Creates a character device, block device or fifo.
    fn special<R: Read>(
        &mut self,
        comps: &[&[u8]],
        entry: &tar::Entry<'_, R>,
        meta: &Meta,
        shown: &str,
    ) -> Result<(), UnpackError> {
        let h = entry.header();
        let bad = |error| UnpackError::Header {
            path: shown.to_owned(),
            error,
        };
        let (ftype, dev) = match h.entry_type() {
            tar::EntryType::Fifo => (FileType::Fifo, 0),
            kind => {
                let major = h.device_major().map_err(bad)?.unwrap_or(0);
                let minor = h.device_minor().map_err(bad)?.unwrap_or(0);
                let ftype = if kind == tar::EntryType::Char {
                    FileType::CharacterDevice
                } else {
                    FileType::BlockDevice
                };
                (ftype, rfs::makedev(major, minor))
            }
        };
        let (base, parent) = comps.split_last().expect("caller checked non-empty");
        let dir = self.parent(parent, shown)?;
        let name = cname(base);
        remove_existing(dir.as_fd(), &name, false).ctx(shown, "removing existing entry")?;
        rfs::mknodat(&dir, &name, ftype, meta.mode, dev).ctx(shown, "creating device node")?;
        rfs::chownat(
            &dir,
            &name,
            Some(meta.uid),
            Some(meta.gid),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .ctx(shown, "changing owner")?;
        // We just created this name and it is not a symlink. Linux fchmodat has no
        // AT_SYMLINK_NOFOLLOW before fchmodat2, so we pass no flags.
        rfs::chmodat(&dir, &name, meta.mode, AtFlags::empty()).ctx(shown, "changing mode")?;
        set_xattrs(XattrTarget::At(dir.as_fd(), &name), meta, shown)?;
        rfs::utimensat(&dir, &name, &meta.times, AtFlags::SYMLINK_NOFOLLOW)
            .ctx(shown, "setting times")
    }

    /// Sets directory times last, since every child added earlier bumped them. A
    /// directory that a later entry replaced (different inode, or no longer a
    /// directory) is skipped.
    fn finish_dirs(&mut self) -> Result<(), UnpackError> {
        let dirs = std::mem::take(&mut self.dirs);
        for d in dirs {
            let shown = lossy(&d.path);
            let comps = clean_path(&d.path).unwrap_or_default();
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            // futimens needs a real fd (O_PATH fds are rejected), so we reopen the
            // name with O_NOFOLLOW: if it became a symlink, we skip it.
            let fd = match comps.split_last() {
                None => rfs::openat(&self.root, c".", flags, Mode::empty()),
                Some((base, parent)) => open_dir_in_root(self.root.as_fd(), parent)
                    .and_then(|p| rfs::openat(&p, cname(base), flags, Mode::empty())),
            };
            let fd = match fd {
                Ok(fd) => fd,
                Err(Errno::NOENT) | Err(Errno::NOTDIR) | Err(Errno::LOOP) => continue,
                Err(e) => return Err(e).ctx(&shown, "reopening directory to set times"),
            };
            let st = rfs::fstat(&fd).ctx(&shown, "stat directory")?;
            if st.st_dev != d.dev || st.st_ino != d.ino {
                continue;
            }
            rfs::futimens(&fd, &d.times).ctx(&shown, "setting directory times")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::io::BufReader;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    use std::path::PathBuf;
    use tar::{EntryType, Header};

    const T0: u64 = 1_600_000_000;

    /// A GNU header whose name is written straight into the bytes. tar::Builder refuses
    /// `..` and absolute names, but a hostile archive can carry them.
    fn header(name: &str, kind: EntryType, size: u64, mode: u32) -> Header {
        let mut h = Header::new_gnu();
        let name = name.as_bytes();
        assert!(name.len() <= 100, "use Builder::append_data for long names");
        h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name);
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(T0);
        h
    }

    /// Writes a link name into raw header bytes, with no validation.
    fn set_link(h: &mut Header, target: &str) {
        let t = target.as_bytes();
        h.as_gnu_mut().unwrap().linkname[..t.len()].copy_from_slice(t);
    }

    struct Layer(tar::Builder<Vec<u8>>);

    impl Layer {
        fn new() -> Self {
            Layer(tar::Builder::new(Vec::new()))
        }
        fn add(&mut self, mut h: Header, data: &[u8]) -> &mut Self {
            h.set_cksum();
            self.0.append(&h, data).unwrap();
            self
        }
        fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
            self.add(
                header(name, EntryType::Regular, data.len() as u64, 0o644),
                data,
            )
        }
        fn dir(&mut self, name: &str, mode: u32) -> &mut Self {
            self.add(header(name, EntryType::Directory, 0, mode), b"")
        }
        fn link(&mut self, name: &str, kind: EntryType, target: &str) -> &mut Self {
            let mut h = header(name, kind, 0, 0o777);
            set_link(&mut h, target);
            self.add(h, b"")
        }
        fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
            self.link(name, EntryType::Symlink, target)
        }
        fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
            self.link(name, EntryType::Link, target)
        }
        fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
            self.0
                .append_pax_extensions(records.iter().copied())
                .unwrap();
            self
        }
        fn finish(self) -> Vec<u8> {
            self.0.into_inner().unwrap()
        }
    }

    /// `outer/dest`, so a test can prove that nothing landed beside `dest`.
    struct Sandbox {
        outer: tempfile::TempDir,
        dest: PathBuf,
    }

    impl Sandbox {
        fn new() -> Self {
            let outer = tempfile::tempdir().unwrap();
            let dest = outer.path().join("dest");
            fs::create_dir(&dest).unwrap();
            Sandbox { outer, dest }
        }
        fn unpack(&self, tar: &[u8]) -> Result<UnpackStats, UnpackError> {
            unpack_layer(tar, &self.dest)
        }
        fn p(&self, rel: &str) -> PathBuf {
            self.dest.join(rel)
        }
        fn assert_outer_untouched(&self) {
            let names: Vec<_> = fs::read_dir(self.outer.path())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(names, vec![std::ffi::OsString::from("dest")]);
            // `../../x` from outer/dest would be a sibling of outer.
            let grand = self.outer.path().parent().unwrap();
            assert!(!grand.join("escape").exists());
            assert!(!grand.join("etc/x").exists());
        }
    }

    fn lmeta(p: &Path) -> fs::Metadata {
        fs::symlink_metadata(p).unwrap()
    }

    fn xattr(p: &Path, name: &str) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; 256];
        match rfs::lgetxattr(p, name, &mut buf) {
            Ok(n) => Some(buf[..n].to_vec()),
            Err(Errno::NODATA) => None,
            Err(e) => panic!("lgetxattr {p:?} {name}: {e}"),
        }
    }

    /// Every name under `dir`, for "no .wh.* file was created" checks.
    fn walk(dir: &Path, out: &mut Vec<String>) {
        for e in fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            out.push(e.file_name().to_string_lossy().into_owned());
            if e.file_type().unwrap().is_dir() {
                walk(&e.path(), out);
            }
        }
    }

    fn assert_no_whiteout_files(dest: &Path) {
        let mut names = Vec::new();
        walk(dest, &mut names);
        assert!(
            names.iter().all(|n| !n.starts_with(".wh.")),
            "found .wh.* names: {names:?}"
        );
    }

    #[test]
    fn regular_file_content_mode_owner_mtime() {
        let sb = Sandbox::new();
        let mut l = Layer::new();
        let mut h = header("usr/bin/tool", EntryType::Regular, 5, 0o4755);
        h.set_uid(1234);
        h.set_gid(5678);
        h.set_mtime(T0 + 5);
        l.add(h, b"hello");
        l.file("usr/bin/dup", b"first version");
        l.file("usr/bin/dup", b"second");
        let stats = sb.unpack(&l.finish()).unwrap();
        let p = sb.p("usr/bin/tool");
        assert_eq!(fs::read(&p).unwrap(), b"hello");
        let m = lmeta(&p);
        assert!(m.file_type().is_file());
        // setuid survives because chmod runs after chown.
        assert_eq!(m.mode() & 0o7777, 0o4755);
        assert_eq!((m.uid(), m.gid()), (1234, 5678));
        assert_eq!(m.mtime(), (T0 + 5) as i64);
        // Duplicate entries: the later one replaces the earlier one.
        assert_eq!(fs::read(sb.p("usr/bin/dup")).unwrap(), b"second");
        assert_eq!(stats.entries, 3);
        assert_eq!(stats.bytes, 5 + 13 + 6);
    }

    #[test]
    fn nested_dirs_created_implicitly() {
        let sb = Sandbox::new();
        let mut l = Layer::new();
        l.file("a/b/c/file", b"x");
        sb.unpack(&l.finish()).unwrap();
        for d in ["a", "a/b", "a/b/c"] {
            let m = lmeta(&sb.p(d));
            assert!(m.is_dir(), "{d}");
            assert_eq!(m.mode() & 0o7777, 0o755, "{d}");
        }
        assert_eq!(fs::read(sb.p("a/b/c/file")).unwrap(), b"x");
    }

    #[test]
    fn symlink_target_stored_verbatim() {
        let sb = Sandbox::new();
        let mut l = Layer::new();
        l.symlink("rel", "../../../etc/shadow");
        l.symlink("abs", "/nonexistent/x");
        let mut h = header("owned", EntryType::Symlink, 0, 0o777);
        set_link(&mut h, "target");
        h.set_uid(42);
        h.set_gid(43);
        h.set_mtime(T0 + 9);
        l.add(h, b"");
        sb.unpack(&l.finish()).unwrap();
        assert_eq!(
            fs::read_link(sb.p("rel")).unwrap(),
            Path::new("../../../etc/shadow")
        );
        assert_eq!(
            fs::read_link(sb.p("abs")).unwrap(),
            Path::new("/nonexistent/x")
        );
        let m = lmeta(&sb.p("owned"));
        assert!(m.file_type().is_symlink());
        assert_eq!((m.uid(), m.gid()), (42, 43));
        assert_eq!(m.mtime(), (T0 + 9) as i64);
        assert!(!sb.p("etc").exists() && !sb.p("nonexistent").exists());
        sb.assert_outer_untouched();
    }

    #[test]
    fn hard_link_shares_inode() {
        let sb = Sandbox::new();
        let mut l = Layer::new();
        l.file("f", b"data");
        l.hardlink("g", "f");
        // Absolute and ./ targets resolve inside the root.
        l.hardlink("sub/h", "/f");
        l.hardlink("sub/i", "./sub/../f");
        sb.unpack(&l.finish()).unwrap();
        let ino = lmeta(&sb.p("f")).ino();
        for n in ["g", "sub/h", "sub/i"] {
            assert_eq!(lmeta(&sb.p(n)).ino(), ino, "{n}");
        }
        assert_eq!(lmeta(&sb.p("f")).nlink(), 4);
    }

    #[test]
    fn char_block_devices_and_fifo() {
        let sb = Sandbox::new();
        let mut l = Layer::new();
        let mut h = header("dev/null", EntryType::Char, 0, 0o666);
        h.set_device_major(1).unwrap();
        h.set_device_minor(3).unwrap();
        l.add(h, b"");
        let mut h = header("dev/loop9", EntryType::Block, 0, 0o660);
        h.set_device_major(7).unwrap();
        h.set_device_minor(9).unwrap();
        h.set_gid(6);
        l.add(h, b"");
        l.add(header("run/fifo", EntryType::Fifo, 0, 0o620), b"");
        sb.unpack(&l.finish()).unwrap();
        let m = lmeta(&sb.p("dev/null"));
        assert!(m.file_type().is_char_device());
        assert_eq!(m.rdev(), rfs::makedev(1, 3));
        assert_eq!(m.mode() & 0o7777, 0o666);
        let m = lmeta(&sb.p("dev/loop9"));
        assert!(m.file_type().is_block_device());
        assert_eq!(m.rdev(), rfs::makedev(7, 9));
        assert_eq!((m.mode() & 0o7777, m.gid()), (0o660, 6));
        let m = lmeta(&sb.p("run/fifo"));
        assert!(m.file_type().is_fifo());
        assert_eq!(m.mode() & 0o7777, 0o620);
        assert_eq!(m.mtime(), T0 as i64);
    }

    #[test]
    fn whiteout_becomes_0_0_char_device() {
        let sb = Sandbox::new();
        let mut l = Layer::new();
        l.file("dir/gone", b"old");
        l.file("dir/.wh.gone", b"");
        // Deleting something only a lower layer has.
        l.file("dir/.wh.lower", b"");
        // A whiteout replaces a whole directory, and one in a missing dir creates it.
        l.file("dir/sub/f", b"x");
        l.file("dir/.wh.sub", b"");
        l.file("other/deep/.wh.thing", b"");
        sb.unpack(&l.finish()).unwrap();
        for n in ["dir/gone", "dir/lower", "dir/sub", "other/deep/thing"] {
            let m = lmeta(&sb.p(n));
            assert!(m.file_type().is_char_device(), "{n}");
            assert_eq!(m.rdev(), 0, "{n}");
        }
        assert_no_whiteout_files(&sb.dest);
    }

    #[test]
    fn opaque_whiteout_sets_xattr() {
        let sb = Sandbox::new();
        let mut l = Layer::new();
        l.dir("d/", 0o755);
        l.file("d/.wh..wh..opq", b"");
        l.file("d/keep", b"k");
        // The directory may be implied only by the marker.
        l.file("new/.wh..wh..opq", b"");
        sb.unpack(&l.finish()).unwrap();
        assert_eq!(
            xattr(&sb.p("d"), "trusted.overlay.opaque").as_deref(),
            Some(&b"y"[..])
        );
        assert_eq!(
            xattr(&sb.p("new"), "trusted.overlay.opaque").as_deref(),
            Some(&b"y"[..])
        );
        assert_eq!(fs::read(sb.p("d/keep")).unwrap(), b"k");
        assert_no_whiteout_files(&sb.dest);
    }

    #[test]
    fn aufs_metadata_skipped_and_wh_dir_components_refused() {
        let sb = Sandbox::new();
        let mut l = Layer::new();
        l.file(".wh..wh.plnk/1234.5678", b"aufs");
        l.file(".wh..wh.aufs", b"");
        sb.unpack(&l.finish()).unwrap();
        assert_eq!(fs::read_dir(&sb.dest).unwrap().count(), 0);

        for bad in ["x/.wh.y/z", "dir/.wh.", "dir/.wh.."] {
            let sb = Sandbox::new();
            let mut l = Layer::new();
            l.file(bad, b"");
            let err = sb.unpack(&l.finish()).unwrap_err();
            assert!(
                matches!(err, UnpackError::InvalidName { .. }),
                "{bad}: {err}"
            );
            assert_no_whiteout_files(&sb.dest);
        }
    }

    #[test]
    fn dotdot_names_are_refused_and_nothing_escapes() {
        for name in [
            "../escape",
            "../../etc/x",
            "a/../../escape",
            "./../escape",
            "/../escape",
        ] {
            for kind in [EntryType::Regular, EntryType::Directory, EntryType::Symlink] {
                let sb = Sandbox::new();
                let mut l = Layer::new();
                l.file("ok", b"fine");
                let mut h = header(name, kind, 4, 0o644);
                set_link(&mut h, "/");
                let data: &[u8] = if kind == EntryType::Regular {
                    b"evil"
                } else {
                    b""
                };
                h.set_size(data.len() as u64);
                l.add(h, data);
                let err = sb.unpack(&l.finish()).unwrap_err();
                assert!(
                    matches!(err, UnpackError::PathEscape { .. }),
                    "{name}: {err}"
                );
                let msg = err.to_string();
                assert!(msg.starts_with("entry ") && msg.contains(name), "{msg}");
                sb.assert_outer_untouched();
                assert!(sb.p("ok").exists());
            }
        }
    }

    #[test]
    fn pax_and_gnu_long_names_are_cleaned_too() {
        // pax `path` overrides the benign header name.
        let sb = Sandbox::new();
        let mut l = Layer::new();
        l.pax(&[("path", b"../escape")]);
        l.file("benign", b"x");
        let err = sb.unpack(&l.finish()).unwrap_err();
        assert!(matches!(err, UnpackError::PathEscape { .. }), "{err}");
        sb.assert_outer_untouched();

        // pax `linkpath` overrides the benign header link name.
        let sb = Sandbox::new();
        let mut l = Layer::new();
        l.file("benign", b"x");
        l.pax(&[("linkpath", b"../../etc/passwd")]);
        l.hardlink("h", "benign");
        let err = sb.unpack(&l.finish()).unwrap_err();
        assert!(matches!(err, UnpackError::LinkEscape { .. }), "{err}");
        sb.assert_outer_untouched();

        // A GNU long name ('L' member) is subject to the same cleaning.
        let sb = Sandbox::new();
        let mut l = Layer::new();
        let long = format!("../{}", "e".repeat(150));
        l.add(
            header(
                "././@LongLink",
                EntryType::GNULongName,
                long.len() as u64 + 1,
                0o644,
            ),
            format!("{long}\0").as_bytes(),
        );
        l.file("benign", b"x");
        let err = sb.unpack(&l.finish()).unwrap_err();
        assert!(matches!(err, UnpackError::PathEscape { .. }), "{err}");
        sb.assert_outer_untouched();
    }

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
    fn absolute_names_land_inside_dest() {
        let sb = Sandbox::new();
        let mut l = Layer::new();
        l.file("/abs/file", b"a");
        l.dir("/absdir/", 0o755);
        l.file("//double//slash", b"d");
        l.file("./dot/./file", b"o");
        l.file("in/../folded", b"f");
        sb.unpack(&l.finish()).unwrap();
        assert_eq!(fs::read(sb.p("abs/file")).unwrap(), b"a");
        assert!(sb.p("absdir").is_dir());
        assert_eq!(fs::read(sb.p("double/slash")).unwrap(), b"d");
        assert_eq!(fs::read(sb.p("dot/file")).unwrap(), b"o");
        assert_eq!(fs::read(sb.p("folded")).unwrap(), b"f");
        sb.assert_outer_untouched();
        assert!(!Path::new("/abs/file").exists());
    }

    #[test]
    fn symlinked_parents_resolve_inside_dest() {
        let sb = Sandbox::new();
        let mut l = Layer::new();
        l.symlink("link", "/");
        l.file("link/file", b"1");
        l.symlink("up", "../../..");
        l.file("up/file2", b"2");
        l.dir("tmp/", 0o1777);
        l.symlink("deep", "../../../../../../tmp");
        l.file("deep/f3", b"3");
        // Nested: a symlink through a symlink.
        l.symlink("tmp/back", "../up/../link");
        l.file("tmp/back/f4", b"4");
        sb.unpack(&l.finish()).unwrap();
        assert_eq!(fs::read(sb.p("file")).unwrap(), b"1");
        assert_eq!(fs::read(sb.p("file2")).unwrap(), b"2");
        assert_eq!(fs::read(sb.p("tmp/f3")).unwrap(), b"3");
        assert_eq!(fs::read(sb.p("f4")).unwrap(), b"4");
        assert!(lmeta(&sb.p("link")).file_type().is_symlink());
        assert_eq!(lmeta(&sb.p("tmp")).mode() & 0o7777, 0o1777);
        sb.assert_outer_untouched();
    }

    #[test]
    fn symlink_to_etc_then_passwd_stays_inside() {
        let host_before = fs::read("/etc/passwd").unwrap();
        let sb = Sandbox::new();
        let mut l = Layer::new();
        l.dir("etc/", 0o755);
        l.symlink("a", "/etc");
        l.file("a/passwd", b"pwned");
        sb.unpack(&l.finish()).unwrap();
        assert_eq!(fs::read(sb.p("etc/passwd")).unwrap(), b"pwned");
        assert_eq!(fs::read("/etc/passwd").unwrap(), host_before);

        // Without etc/ in the layer the symlink dangles (inside the root), so the
        // entry fails rather than being written through to the host.
        let sb = Sandbox::new();
        let mut l = Layer::new();
        l.symlink("a", "/etc");
        l.file("a/passwd", b"pwned");
        let err = sb.unpack(&l.finish()).unwrap_err();
        assert!(matches!(err, UnpackError::Io { .. }), "{err}");
        assert!(err.to_string().contains("a/passwd"));
        assert!(!sb.p("etc").exists());
        assert_eq!(fs::read("/etc/passwd").unwrap(), host_before);
        sb.assert_outer_untouched();
    }

    #[test]
    fn final_component_symlink_is_replaced_not_followed() {
        let sb = Sandbox::new();
        let mut l = Layer::new();
        l.dir("real/", 0o755);
        l.file("real/inside", b"r");
        l.symlink("f", "/real/inside");
        l.file("f", b"new");
        l.symlink("d", "/real");
        l.dir("d/", 0o700);
        l.symlink("dev", "/real/inside");
        l.add(header("dev", EntryType::Fifo, 0, 0o600), b"");
        sb.unpack(&l.finish()).unwrap();
        assert!(lmeta(&sb.p("f")).file_type().is_file());
        assert_eq!(fs::read(sb.p("f")).unwrap(), b"new");
        assert!(lmeta(&sb.p("d")).file_type().is_dir());
        assert_eq!(lmeta(&sb.p("d")).mode() & 0o7777, 0o700);
        assert!(lmeta(&sb.p("dev")).file_type().is_fifo());
        assert_eq!(fs::read(sb.p("real/inside")).unwrap(), b"r");
        assert_eq!(lmeta(&sb.p("real")).mode() & 0o7777, 0o755);
    }

    #[test]
    fn hard_links_never_reach_host_files() {
        let host = lmeta(Path::new("/etc/passwd"));
        type Case<'a> = (&'a [(&'a str, &'a str)], fn(&UnpackError) -> bool);
        let cases: &[Case<'_>] = &[
            (&[("h", "../../etc/passwd")], |e| {
                matches!(e, UnpackError::LinkEscape { .. })
            }),
            (&[("h", "/../etc/passwd")], |e| {
                matches!(e, UnpackError::LinkEscape { .. })
            }),
            (&[("h", "/etc/passwd")], |e| {
                matches!(e, UnpackError::LinkTargetMissing { .. })
            }),
            (&[("s", "../../../.."), ("h", "s/etc/passwd")], |e| {
                matches!(e, UnpackError::LinkTargetMissing { .. })
            }),
        ];
        for (entries, ok) in cases {
            let sb = Sandbox::new();
            let mut l = Layer::new();
            for (name, target) in *entries {
                if *name == "h" {
                    l.hardlink(name, target);
                } else {
                    l.symlink(name, target);
                }
            }
            let err = sb.unpack(&l.finish()).unwrap_err();
            assert!(ok(&err), "{entries:?}: {err}");
            assert!(err.to_string().contains("etc/passwd"), "{err}");
            assert!(!sb.p("h").exists());
            sb.assert_outer_untouched();
        }
        // With etc/passwd in the layer, an absolute target links to the layer's copy.
        let sb = Sandbox::new();
        let mut l = Layer::new();
        l.file("etc/passwd", b"root:x:0:0::/root:/bin/sh\n");
        l.hardlink("h", "/etc/passwd");
        l.symlink("s", "../../../..");
        l.hardlink("h2", "s/etc/passwd");
        sb.unpack(&l.finish()).unwrap();
        let inner = lmeta(&sb.p("etc/passwd"));
        for n in ["h", "h2"] {
            let m = lmeta(&sb.p(n));
            assert_eq!((m.dev(), m.ino()), (inner.dev(), inner.ino()), "{n}");
            assert_ne!((m.dev(), m.ino()), (host.dev(), host.ino()), "{n}");
        }
        assert_eq!(lmeta(Path::new("/etc/passwd")).nlink(), host.nlink());
    }

    #[test]
    fn file_replaced_by_dir_and_dir_by_file() {
        let sb = Sandbox::new();
        let mut l = Layer::new();
        l.file("x", b"file first");
        l.dir("x/", 0o750);
        l.file("x/child", b"c");
        l.dir("y/", 0o755);
        l.file("y/sub/deep/f", b"f");
        l.symlink("y/sub/link", "/");
        l.add(header("y/sub/fifo", EntryType::Fifo, 0, 0o600), b"");
        l.file("y", b"now a file");
        sb.unpack(&l.finish()).unwrap();
        let m = lmeta(&sb.p("x"));
        assert!(m.is_dir());
        assert_eq!(m.mode() & 0o7777, 0o750);
        assert_eq!(fs::read(sb.p("x/child")).unwrap(), b"c");
        assert!(lmeta(&sb.p("y")).file_type().is_file());
        assert_eq!(fs::read(sb.p("y")).unwrap(), b"now a file");
        // The symlink to "/" inside y was removed, not followed.
        assert_eq!(fs::read(sb.p("x/child")).unwrap(), b"c");
    }

    #[test]
    fn dir_over_dir_merges_and_updates_metadata() {
        let sb = Sandbox::new();
        let mut l = Layer::new();
        l.dir("d/", 0o755);
        l.file("d/a", b"a");
        let mut h = header("d/", EntryType::Directory, 0, 0o700);
        h.set_uid(7);
        l.add(h, b"");
        sb.unpack(&l.finish()).unwrap();
        assert_eq!(fs::read(sb.p("d/a")).unwrap(), b"a");
        let m = lmeta(&sb.p("d"));
        assert_eq!((m.mode() & 0o7777, m.uid()), (0o700, 7));
    }

    #[test]
    fn directory_mtimes_survive_later_children() {
        let sb = Sandbox::new();
        let mut l = Layer::new();
        let mut h = header("./", EntryType::Directory, 0, 0o755);
        h.set_mtime(T0 + 1);
        l.add(h, b"");
        let mut h = header("d/", EntryType::Directory, 0, 0o755);
        h.set_mtime(T0 + 2);
        l.add(h, b"");
        l.pax(&[("mtime", b"1600000003.5")]);
        l.dir("d/sub/", 0o755);
        l.file("d/f", b"f");
        l.file("d/sub/g", b"g");
        l.file("d/.wh.x", b"");
        l.file("d/sub/.wh..wh..opq", b"");
        l.file("top", b"t");
        let stats = sb.unpack(&l.finish()).unwrap();
        assert_eq!(stats.entries, 8);
        let root = lmeta(&sb.dest);
        assert_eq!(
            (root.mtime(), root.mode() & 0o7777),
            ((T0 + 1) as i64, 0o755)
        );
        assert_eq!(lmeta(&sb.p("d")).mtime(), (T0 + 2) as i64);
        let sub = lmeta(&sb.p("d/sub"));
        assert_eq!(
            (sub.mtime(), sub.mtime_nsec()),
            ((T0 + 3) as i64, 500_000_000)
        );
    }

    #[test]
    fn pax_xattrs_are_applied_with_policy() {
        let sb = Sandbox::new();
        let mut l = Layer::new();
        // VFS_CAP_REVISION_2 | effective, permitted = CAP_NET_RAW.
        let cap: &[u8] = &[
            1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        l.pax(&[
            ("SCHILY.xattr.security.capability", cap),
            ("SCHILY.xattr.user.note", b"hi"),
            ("SCHILY.xattr.trusted.overlay.redirect", b"/elsewhere"),
            ("SCHILY.xattr.security.selinux", b"not_a_real_label_t"),
        ]);
        let mut h = header("bin/ping", EntryType::Regular, 1, 0o755);
        h.set_uid(0);
        l.add(h, b"p");
        l.pax(&[
            ("SCHILY.xattr.user.dir", b"d"),
            ("SCHILY.xattr.trusted.overlay.opaque", b"y"),
        ]);
        l.dir("etc/", 0o755);
        // user.* is not allowed on symlinks (xattr(7)); trusted.* is, via the /proc path.
        l.pax(&[
            ("SCHILY.xattr.user.nope", b"x"),
            ("SCHILY.xattr.trusted.t", b"sym"),
        ]);
        l.symlink("lnk", "/bin/ping");
        l.pax(&[("SCHILY.xattr.trusted.f", b"fifo")]);
        l.add(header("fifo", EntryType::Fifo, 0, 0o600), b"");
        sb.unpack(&l.finish()).unwrap();
        assert_eq!(
            xattr(&sb.p("bin/ping"), "security.capability").as_deref(),
            Some(cap)
        );
        assert_eq!(
            xattr(&sb.p("bin/ping"), "user.note").as_deref(),
            Some(&b"hi"[..])
        );
        assert_eq!(xattr(&sb.p("bin/ping"), "trusted.overlay.redirect"), None);
        assert_eq!(xattr(&sb.p("etc"), "user.dir").as_deref(), Some(&b"d"[..]));
        assert_eq!(xattr(&sb.p("etc"), "trusted.overlay.opaque"), None);
        assert_eq!(
            xattr(&sb.p("lnk"), "trusted.t").as_deref(),
            Some(&b"sym"[..])
        );
        assert_eq!(xattr(&sb.p("lnk"), "user.nope"), None);
        assert_eq!(
            xattr(&sb.p("fifo"), "trusted.f").as_deref(),
            Some(&b"fifo"[..])
        );
        // The symlink itself got the xattr, not its target.
        assert_eq!(xattr(&sb.p("bin/ping"), "trusted.t"), None);
    }

    #[test]
    fn long_names_and_link_targets() {
        let sb = Sandbox::new();
        let long_dir = "d".repeat(120);
        let name = format!("{long_dir}/{}", "f".repeat(120));
        let mut b = tar::Builder::new(Vec::new());
        // uid, gid and mtime are left all-NUL on purpose: Go's reader treats them as 0.
        let mut h = Header::new_gnu();
        h.set_size(4);
        h.set_mode(0o644);
        b.append_data(&mut h, &name, &b"long"[..]).unwrap();
        let target = format!("/{name}");
        let mut h = header("", EntryType::Symlink, 0, 0o777);
        b.append_link(&mut h, "sym", &target).unwrap();
        let mut h = header("", EntryType::Link, 0, 0o777);
        b.append_link(&mut h, "hard", &name).unwrap();
        sb.unpack(&b.into_inner().unwrap()).unwrap();
        assert_eq!(fs::read(sb.p(&name)).unwrap(), b"long");
        assert_eq!(fs::read_link(sb.p("sym")).unwrap(), Path::new(&target));
        assert_eq!(lmeta(&sb.p("hard")).ino(), lmeta(&sb.p(&name)).ino());
    }

    #[test]
    fn decompress_detects_gzip_zstd_and_plain() {
        let mut l = Layer::new();
        l.file("hello", b"world");
        let tar = l.finish();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&tar[..], 3).unwrap();
        for (what, data) in [("gzip", &gz), ("zstd", &zst), ("plain", &tar)] {
            // A 1-byte BufReader makes fill_buf short: the magic must still be detected.
            for cap in [1, 8192] {
                let mut out = Vec::new();
                decompress(BufReader::with_capacity(cap, &data[..]))
                    .unwrap()
                    .read_to_end(&mut out)
                    .unwrap();
                assert_eq!(out, tar, "{what} cap {cap}");
            }
            let sb = Sandbox::new();
            let reader = decompress(BufReader::new(&data[..])).unwrap();
            unpack_layer(reader, &sb.dest).unwrap();
            assert_eq!(fs::read(sb.p("hello")).unwrap(), b"world", "{what}");
        }
        // Concatenated gzip members, as pigz and layer-appending tools produce.
        let half = tar.len() / 2;
        let mut multi = Vec::new();
        for part in [&tar[..half], &tar[half..]] {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(part).unwrap();
            multi.extend(e.finish().unwrap());
        }
        let mut out = Vec::new();
        decompress(&multi[..])
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, tar);
        // Empty and tiny inputs pass through untouched.
        for tiny in [&b""[..], &b"\x1f"[..], &b"ab"[..]] {
            let mut out = Vec::new();
            decompress(tiny).unwrap().read_to_end(&mut out).unwrap();
            assert_eq!(out, tiny);
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

    #[test]
    fn pax_global_header_is_ignored() {
        let sb = Sandbox::new();
        let mut l = Layer::new();
        let rec = b"22 comment=ignored me\n";
        l.add(
            header(
                "pax_global_header",
                EntryType::XGlobalHeader,
                rec.len() as u64,
                0o644,
            ),
            rec,
        );
        l.file("f", b"1");
        let stats = sb.unpack(&l.finish()).unwrap();
        assert_eq!(stats.entries, 1);
        assert!(!sb.p("pax_global_header").exists());
    }

    #[test]
    fn pax_time_parsing() {
        let t = |s: &str| parse_pax_time(s.as_bytes()).map(|t| (t.tv_sec, t.tv_nsec));
        assert_eq!(t("12"), Some((12, 0)));
        assert_eq!(t("12.5"), Some((12, 500_000_000)));
        assert_eq!(t("12.0000000019999"), Some((12, 1)));
        assert_eq!(t("-1.25"), Some((-2, 750_000_000)));
        assert_eq!(t("-3"), Some((-3, 0)));
        assert_eq!(t(""), None);
        assert_eq!(t("1.x"), None);
        assert_eq!(t(".5"), None);
    }
}
