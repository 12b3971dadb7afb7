//! OCI whiteouts written in the overlayfs on-disk format.

use std::ffi::CStr;
use std::os::fd::AsFd;

use rustix::fs::{self as rfs, FileType, Mode, OFlags, XattrFlags};

use super::meta::{chown_entry, Meta};
use super::name::cname;
use super::root::remove_existing;
use super::{Ctx, UnpackError, Unpacker};

/// OCI layer spec: a whiteout file's name is this prefix plus the name it deletes.
pub(super) const WHITEOUT_PREFIX: &[u8] = b".wh.";
/// Docker's reserved prefix for aufs metadata entries, which are not deletions.
pub(super) const WHITEOUT_META_PREFIX: &[u8] = b".wh..wh.";
/// OCI layer spec: the opaque whiteout marks its directory as hiding lower layers.
const WHITEOUT_OPAQUE: &[u8] = b".wh..wh..opq";
/// The overlayfs xattr that makes a directory opaque (see the kernel's overlayfs.rst).
const OPAQUE_XATTR: &CStr = c"trusted.overlay.opaque";

impl Unpacker {
    /// Handles `.wh.NAME` and `.wh..wh..opq` (OCI image spec, layer "Whiteouts"),
    /// translated to the overlayfs on-disk format.
    pub(super) fn whiteout(
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
        chown_entry(dir.as_fd(), &name, meta).ctx(shown, "changing whiteout owner")
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::UnpackError;
    use std::fs;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    use std::path::Path;
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
}
