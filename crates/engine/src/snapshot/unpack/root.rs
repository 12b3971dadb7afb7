//! Directories opened, created and emptied inside the layer root, never outside it.

use std::ffi::{CStr, CString};
use std::os::fd::{BorrowedFd, OwnedFd};

use rustix::fs::{self as rfs, AtFlags, Dir, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use super::meta::perm;
use super::name::{cname, join};

/// openat2(2) may return EAGAIN under RESOLVE_IN_ROOT when a concurrent rename races a
/// `..` lookup, so we retry a bounded number of times.
const OPENAT2_RETRIES: usize = 32;
/// Mode of parent directories that the archive implies but does not list (as Docker).
const IMPLICIT_DIR_MODE: u32 = 0o755;

/// Opens clean `comps` (relative to `root`) as an `O_PATH` directory. openat2(2)
/// RESOLVE_IN_ROOT treats `root` as "/" for every symlink and `..` on the way, and
/// RESOLVE_NO_MAGICLINKS refuses /proc-style links that would jump anywhere.
pub(super) fn open_dir_in_root(root: BorrowedFd<'_>, comps: &[&[u8]]) -> Result<OwnedFd, Errno> {
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
pub(super) fn make_dirs(root: BorrowedFd<'_>, comps: &[&[u8]]) -> Result<OwnedFd, Errno> {
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
pub(super) fn remove_existing(
    dir: BorrowedFd<'_>,
    name: &CStr,
    keep_dir: bool,
) -> Result<bool, Errno> {
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

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::UnpackError;
    use std::fs;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    use tar::EntryType;

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
}
