//! File operations on untrusted names, each resolved inside a root directory.
//!
//! Names from images, build contexts, archives, API clients and containers reach host-side
//! code; a `Path::join` of such a name followed by an open lets `..` or a planted symlink lead
//! outside (CVE-2018-15664, CVE-2019-14271, CVE-2021-30465 and their kin). Everything here goes
//! through one directory fd with openat2(2) `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS`, so `..`
//! and every symlink on the way resolve as if the directory were `/`; a last component that
//! must not be followed is opened with `O_NOFOLLOW`.

use std::ffi::OsString;
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// openat2(2) answers EAGAIN under RESOLVE_IN_ROOT when a rename races a `..` lookup.
const RETRIES: usize = 32;

/// A directory that every name given to its methods resolves inside.
#[derive(Debug)]
pub struct Rooted {
    fd: OwnedFd,
}

/// Cleans `name` lexically (Go's `path.Clean`), relative to the root; `None` when a `..`
/// climbs above it: a build context's or an archive's "outside" names, which are refused.
pub fn clean_inside(name: &str) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for comp in name.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            c => out.push(c),
        }
    }
    Some(out.join("/"))
}

/// Cleans `name` as an absolute path (`/..` is `/`, as Go's `path.Clean("/" + name)`), without
/// the leading slash: image paths, where climbing stops at the root.
pub fn clean_clamped(name: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for comp in name.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.join("/")
}

/// `/proc/self/fd/N`: a path that ordinary calls follow to exactly the object `fd` holds.
pub fn fd_path(fd: BorrowedFd<'_>) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

fn rel(name: &str) -> &str {
    let r = name.trim_start_matches('/');
    if r.is_empty() {
        "."
    } else {
        r
    }
}

/// An object opened inside a root, reachable by path-taking calls while it is held.
#[derive(Debug)]
pub struct Opened(OwnedFd);

impl Opened {
    /// `/proc/self/fd/N` of the object: ordinary calls reach exactly it, never re-resolving.
    pub fn path(&self) -> PathBuf {
        fd_path(self.0.as_fd())
    }
}

impl Rooted {
    /// Opens the regular file `name` (followed inside the root) and holds it for calls that
    /// take a path.
    pub fn opened(&self, name: &str) -> io::Result<Opened> {
        Ok(Opened(self.regular(name, true)?))
    }

    /// An `O_PATH` descriptor of `name`, refused unless it is a regular file: a device or a
    /// fifo planted in an archive or a context must never be opened (a disk read whole, a
    /// read that never ends).
    fn regular(&self, name: &str, follow: bool) -> io::Result<OwnedFd> {
        let fd = self.open_at(name, OFlags::PATH, follow)?;
        let st = rustix::fs::fstat(&fd)?;
        if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{name}: not a regular file"),
            ));
        }
        Ok(fd)
    }

    /// Opens the directory `dir` (a trusted path) as a root.
    pub fn open(dir: &Path) -> io::Result<Rooted> {
        let fd = rustix::fs::open(
            dir,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| {
            io::Error::new(io::Error::from(e).kind(), format!("{}: {e}", dir.display()))
        })?;
        Ok(Rooted { fd })
    }

    /// The root's own descriptor.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Opens `name` inside the root with `flags`; the last component is followed only when
    /// `follow` (and then inside the root too).
    pub fn open_at(&self, name: &str, flags: OFlags, follow: bool) -> io::Result<OwnedFd> {
        let mut flags = flags | OFlags::CLOEXEC;
        if !follow {
            flags |= OFlags::NOFOLLOW;
        }
        let how = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
        let mut tries = 0;
        loop {
            match rustix::fs::openat2(&self.fd, rel(name), flags, Mode::empty(), how) {
                Err(Errno::AGAIN) if tries < RETRIES => tries += 1,
                Err(Errno::INTR) => {}
                r => return r.map_err(io::Error::from),
            }
        }
    }

    /// The metadata of `name`; a symlink in the last component is followed only when `follow`.
    pub fn metadata(&self, name: &str, follow: bool) -> io::Result<Metadata> {
        File::from(self.open_at(name, OFlags::PATH, follow)?).metadata()
    }

    /// Opens the regular file `name` (with `follow`, what a link there leads to, inside the
    /// root) for reading. Anything but a regular file is refused before it is opened.
    pub fn open_read(&self, name: &str, follow: bool) -> io::Result<File> {
        let held = self.regular(name, follow)?;
        // Reopened through its own descriptor: the very inode just checked, no path again.
        let fd = rustix::fs::open(
            fd_path(held.as_fd()),
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(File::from(fd))
    }

    /// Reads the whole file `name` (the last component followed inside the root).
    pub fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        let mut v = Vec::new();
        io::Read::read_to_end(&mut self.open_read(name, true)?, &mut v)?;
        Ok(v)
    }

    /// The target of the symlink `name`, as stored (never resolved on the host).
    pub fn read_link(&self, name: &str) -> io::Result<PathBuf> {
        let fd = self.open_at(name, OFlags::PATH, false)?;
        let t = rustix::fs::readlinkat(&fd, "", Vec::new())?;
        Ok(PathBuf::from(OsString::from_vec(t.into_bytes())))
    }

    /// The entry names of the directory `name` (following it inside the root), sorted.
    pub fn read_dir(&self, name: &str) -> io::Result<Vec<OsString>> {
        let fd = self.open_at(name, OFlags::RDONLY | OFlags::DIRECTORY, true)?;
        let mut names = Vec::new();
        for e in rustix::fs::Dir::read_from(&fd)? {
            let e = e?;
            let n = e.file_name().to_bytes();
            if n != b"." && n != b".." {
                names.push(OsString::from_vec(n.to_vec()));
            }
        }
        names.sort();
        Ok(names)
    }

    /// The directory `name` as a root of its own (followed inside this root).
    pub fn subdir(&self, name: &str) -> io::Result<Rooted> {
        let fd = self.open_at(name, OFlags::PATH | OFlags::DIRECTORY, true)?;
        Ok(Rooted { fd })
    }

    /// Creates the directories of `name` that are missing (mode `mode`), each inside the root,
    /// and returns the last one as a root of its own. A symlink on the way is followed inside
    /// the root (its missing target made too); a non-directory is an error.
    pub fn create_dirs(&self, name: &str, mode: u32) -> io::Result<Rooted> {
        self.create_dirs_within(name, mode, 0)
    }

    fn create_dirs_within(&self, name: &str, mode: u32, links: usize) -> io::Result<Rooted> {
        // The kernel's own limit on symlinks in one lookup (MAXSYMLINKS).
        const MAX_LINKS: usize = 40;
        let mut done = String::new();
        let mut cur = self.subdir(".")?;
        for comp in clean_clamped(name).split('/').filter(|c| !c.is_empty()) {
            match rustix::fs::mkdirat(&cur.fd, comp, Mode::from_raw_mode(mode)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(e.into()),
            }
            let at = format!("{done}/{comp}");
            // From this root again: a link planted at `comp` resolves as it would inside.
            cur = match self.subdir(&at) {
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) && links < MAX_LINKS => {
                    // A dangling link: make its target, inside the root.
                    let target = self.read_link(&at)?;
                    let target = target.to_string_lossy();
                    let next = if target.starts_with('/') {
                        target.into_owned()
                    } else {
                        format!("{done}/{target}")
                    };
                    self.create_dirs_within(&next, mode, links + 1)?;
                    self.subdir(&at)?
                }
                r => r?,
            };
            done = at;
        }
        Ok(cur)
    }

    /// A path for calls that take one: `/proc/self/fd/N` of the root itself. Only for handing
    /// the root to code that opens it once and then works relative to the descriptor.
    pub fn path(&self) -> PathBuf {
        fd_path(self.fd.as_fd())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_inside_refuses_climbing_out() {
        assert_eq!(clean_inside("a/./b/../c").as_deref(), Some("a/c"));
        assert_eq!(clean_inside("/a//b/").as_deref(), Some("a/b"));
        assert_eq!(clean_inside("sub/../.."), None);
        assert_eq!(clean_inside("../x"), None);
        assert_eq!(clean_inside("/../x"), None);
        assert_eq!(clean_inside("."), Some(String::new()));
    }

    #[test]
    fn clean_clamped_stops_at_the_root() {
        assert_eq!(clean_clamped("/../../tmp/x"), "tmp/x");
        assert_eq!(clean_clamped("a/../../b"), "b");
        assert_eq!(clean_clamped("/"), "");
    }

    #[test]
    fn symlinks_and_dotdot_stay_inside() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        std::fs::create_dir_all(root.join("d")).unwrap();
        std::fs::write(t.path().join("secret"), "host").unwrap();
        std::fs::write(root.join("secret"), "inside").unwrap();
        std::os::unix::fs::symlink("/", root.join("up")).unwrap();
        std::os::unix::fs::symlink("../../secret", root.join("d/rel")).unwrap();
        let r = Rooted::open(&root).unwrap();
        assert_eq!(r.read("up/secret").unwrap(), b"inside");
        assert_eq!(r.read("d/rel").unwrap(), b"inside");
        assert_eq!(r.read("../secret").unwrap(), b"inside");
        assert!(r.open_read("d/rel", false).is_err());
        assert_eq!(r.read_link("d/rel").unwrap(), PathBuf::from("../../secret"));
        assert!(r.metadata("up", false).unwrap().file_type().is_symlink());
        let made = r.create_dirs("up/new/deeper", 0o755).unwrap();
        assert!(root.join("new/deeper").is_dir());
        std::os::unix::fs::symlink("/made/by/link", root.join("dangling")).unwrap();
        r.create_dirs("dangling/x", 0o755).unwrap();
        assert!(root.join("made/by/link/x").is_dir());
        assert!(!Path::new("/made").exists());
        // A fifo or a device is never opened for reading (it could block or read a disk).
        rustix::fs::mknodat(
            rustix::fs::CWD,
            root.join("fifo"),
            rustix::fs::FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        assert!(r.read("fifo").is_err());
        assert!(r.opened("fifo").is_err());
        assert!(made.metadata(".", true).unwrap().is_dir());
        assert!(!t.path().join("new").exists());
    }
}
