//! One tar entry written inside the root, and the directory times set after the last.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Timestamps};
use rustix::io::Errno;

use super::meta::{chown_entry, perm, read_meta, set_xattrs, Meta, XattrTarget};
use super::name::{clean_path, cname, join, lossy, NameError};
use super::root::{make_dirs, open_dir_in_root, remove_existing};
use super::whiteout::{WHITEOUT_META_PREFIX, WHITEOUT_PREFIX};
use super::{Ctx, UnpackError, Unpacker};

/// A directory entry whose mtime is applied after all entries are written. There is one
/// per directory entry (Docker keeps the same list), so memory grows with the number of
/// directories in the layer, never with the size of file contents.
pub(super) struct PendingDir {
    path: Vec<u8>,
    dev: u64,
    ino: u64,
    times: Timestamps,
}

impl Unpacker {
    /// Applies one archive member.
    pub(super) fn entry<R: Read>(
        &mut self,
        mut entry: tar::Entry<'_, R>,
    ) -> Result<(), UnpackError> {
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
    pub(super) fn parent(&self, parent: &[&[u8]], shown: &str) -> Result<OwnedFd, UnpackError> {
        make_dirs(self.root.as_fd(), parent).ctx(shown, "opening parent directory")
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
        chown_entry(dir.as_fd(), &name, meta).ctx(shown, "changing owner")?;
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
        chown_entry(dir.as_fd(), &name, meta).ctx(shown, "changing owner")?;
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
    pub(super) fn finish_dirs(&mut self) -> Result<(), UnpackError> {
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
    use super::super::test_support::*;
    use super::super::UnpackError;
    use rustix::fs as rfs;
    use std::fs;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    use std::path::Path;
    use tar::EntryType;

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
}
