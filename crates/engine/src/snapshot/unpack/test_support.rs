//! Layers built by hand and sandboxes to unpack them into, for the unit tests.

use std::fs;
use std::path::{Path, PathBuf};

use rustix::fs as rfs;
use rustix::io::Errno;
use tar::{EntryType, Header};

use super::{unpack_layer, UnpackError, UnpackStats};

/// The mtime every hand-built header gets.
pub(super) const T0: u64 = 1_600_000_000;

/// A GNU header whose name is written straight into the bytes. tar::Builder refuses
/// `..` and absolute names, but a hostile archive can carry them.
pub(super) fn header(name: &str, kind: EntryType, size: u64, mode: u32) -> Header {
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
pub(super) fn set_link(h: &mut Header, target: &str) {
    let t = target.as_bytes();
    h.as_gnu_mut().unwrap().linkname[..t.len()].copy_from_slice(t);
}

/// A layer tar built entry by entry.
pub(super) struct Layer(tar::Builder<Vec<u8>>);

impl Layer {
    /// An empty layer.
    pub(super) fn new() -> Self {
        Layer(tar::Builder::new(Vec::new()))
    }
    /// Appends `h` (checksummed here) with `data`.
    pub(super) fn add(&mut self, mut h: Header, data: &[u8]) -> &mut Self {
        h.set_cksum();
        self.0.append(&h, data).unwrap();
        self
    }
    /// Appends a 0644 regular file.
    pub(super) fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.add(
            header(name, EntryType::Regular, data.len() as u64, 0o644),
            data,
        )
    }
    /// Appends a directory.
    pub(super) fn dir(&mut self, name: &str, mode: u32) -> &mut Self {
        self.add(header(name, EntryType::Directory, 0, mode), b"")
    }
    /// Appends a link entry of `kind` whose link name is written raw.
    pub(super) fn link(&mut self, name: &str, kind: EntryType, target: &str) -> &mut Self {
        let mut h = header(name, kind, 0, 0o777);
        set_link(&mut h, target);
        self.add(h, b"")
    }
    /// Appends a symlink.
    pub(super) fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.link(name, EntryType::Symlink, target)
    }
    /// Appends a hard link.
    pub(super) fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.link(name, EntryType::Link, target)
    }
    /// Appends pax records for the next entry.
    pub(super) fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        self.0
            .append_pax_extensions(records.iter().copied())
            .unwrap();
        self
    }
    /// The archive's bytes.
    pub(super) fn finish(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

/// `outer/dest`, so a test can prove that nothing landed beside `dest`.
pub(super) struct Sandbox {
    /// The temporary directory that holds `dest`.
    pub(super) outer: tempfile::TempDir,
    /// Where layers are unpacked.
    pub(super) dest: PathBuf,
}

impl Sandbox {
    /// A fresh `outer/dest`.
    pub(super) fn new() -> Self {
        let outer = tempfile::tempdir().unwrap();
        let dest = outer.path().join("dest");
        fs::create_dir(&dest).unwrap();
        Sandbox { outer, dest }
    }
    /// Unpacks `tar` into `dest`.
    pub(super) fn unpack(&self, tar: &[u8]) -> Result<UnpackStats, UnpackError> {
        unpack_layer(tar, &self.dest)
    }
    /// `rel` under `dest`.
    pub(super) fn p(&self, rel: &str) -> PathBuf {
        self.dest.join(rel)
    }
    /// Asserts that nothing was written beside `dest` or above `outer`.
    pub(super) fn assert_outer_untouched(&self) {
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

/// Metadata of `p` itself, not followed.
pub(super) fn lmeta(p: &Path) -> fs::Metadata {
    fs::symlink_metadata(p).unwrap()
}

/// The value of xattr `name` on `p` itself, if set.
pub(super) fn xattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    match rfs::lgetxattr(p, name, &mut buf) {
        Ok(n) => Some(buf[..n].to_vec()),
        Err(Errno::NODATA) => None,
        Err(e) => panic!("lgetxattr {p:?} {name}: {e}"),
    }
}
