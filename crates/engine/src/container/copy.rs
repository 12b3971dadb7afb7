//! `cp` and the archive routes: tar streams in and out of a container, unpacked inside their
//! destination.

use crate::error::{Error, IoContext, Result};
use crate::snapshot;
use crate::Engine;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::path::{Path, PathBuf};

/// One end of a `cp`: a path on the host, or a tar stream on a descriptor (stdin or stdout,
/// the API's request or response).
#[derive(Debug, Clone, Copy)]
pub enum CopyEnd<'a> {
    /// A file or directory on the host.
    Path(&'a Path),
    /// A tar archive read from or written to this descriptor.
    Tar(RawFd),
}

/// Go's `os.ModeDir`, as the API's path stat carries it.
pub(crate) const GO_MODE_DIR: u32 = 1 << 31;

/// A path's stat in a container, with Go's `os.FileMode` bits as Docker's API reports them.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct PathStat {
    /// Last component of the path.
    pub name: String,
    /// Size in bytes.
    pub size: i64,
    /// Permission bits plus Go's type flags (directory 1<<31, symlink 1<<27, …).
    pub mode: u32,
    /// Modification time, RFC 3339.
    pub mtime: String,
    /// A symlink's target.
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

impl PathStat {
    fn new(path: &str, m: &std::fs::Metadata, link: Option<PathBuf>) -> PathStat {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let t = m.file_type();
        let raw = m.mode();
        let mut mode = raw & 0o777;
        let flags: [(bool, u32); 9] = [
            (t.is_dir() && link.is_none(), GO_MODE_DIR),
            (t.is_symlink() || link.is_some(), 1 << 27),
            (t.is_block_device() || t.is_char_device(), 1 << 26),
            (t.is_char_device(), 1 << 21),
            (t.is_fifo(), 1 << 25),
            (t.is_socket(), 1 << 24),
            (raw & 0o4000 != 0, 1 << 23),
            (raw & 0o2000 != 0, 1 << 22),
            (raw & 0o1000 != 0, 1 << 20),
        ];
        for (on, bit) in flags {
            if on {
                mode |= bit;
            }
        }
        let mtime = chrono::DateTime::from_timestamp(m.mtime(), m.mtime_nsec() as u32)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
            .unwrap_or_default();
        let name = Path::new(path.trim_end_matches('/'))
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "/".into());
        PathStat {
            name,
            size: m.size() as i64,
            mode,
            mtime,
            link_target: link.map(|l| l.display().to_string()).unwrap_or_default(),
        }
    }
}

impl Engine {
    /// `docker cp`'s stat of a path in the container (the last symlink not followed), as the
    /// API's `X-Docker-Container-Path-Stat` reports it.
    pub fn path_stat(&self, id: &str, path: &str) -> Result<PathStat> {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| Error::internal(format!("pipe: {e}")))?;
        let p = path.to_string();
        let wfd = w.as_raw_fd();
        // For a stopped container the closure runs in a helper process: the answer comes back
        // through the pipe.
        let res = self.with_root(id, &[wfd], move |root| {
            let st = (|| -> std::result::Result<PathStat, String> {
                let r = snapshot::resolve_in_root_opt(root, &p, false)?;
                // stat, not lstat: r.path is a /proc/self/fd link to the object itself (a
                // symlink that was not followed stays one: r.link says so).
                let m = std::fs::metadata(&r.path).map_err(|e| format!("{p}: {e}"))?;
                Ok(PathStat::new(&p, &m, r.link))
            })();
            let line = match st {
                Ok(st) => serde_json::to_string(&st).unwrap_or_default(),
                Err(e) => format!("!{e}"),
            };
            // SAFETY: writing to the pipe's write end, open for this call.
            let f = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(wfd) });
            std::io::Write::write_all(&mut &*f, line.as_bytes()).map_err(|e| e.to_string())
        });
        drop(w);
        res?;
        let mut out = String::new();
        std::fs::File::from(r)
            .read_to_string(&mut out)
            .map_err(|e| Error::internal(e.to_string()))?;
        match out.strip_prefix('!') {
            Some(e) => Err(Error::not_found(format!(
                "Could not find the file {path} in container {id} ({e})"
            ))),
            None => serde_json::from_str(&out).map_err(|e| Error::internal(e.to_string())),
        }
    }

    /// `docker cp CONTAINER:SRC DEST`: to a host path, or as a tar written to a descriptor.
    /// The container's files reach a host path only through the layer unpacker, inside the
    /// destination directory: a symlink the container made never leads a write elsewhere.
    pub fn copy_from(&self, id: &str, src: &str, dest: CopyEnd, follow: bool) -> Result<()> {
        let d = match dest {
            CopyEnd::Tar(fd) => return self.copy_out(id, src, fd, follow, None),
            CopyEnd::Path(d) => d,
        };
        let (dir, name) = if d.is_dir() {
            (d.to_path_buf(), None)
        } else {
            let parent = match d.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            if !parent.is_dir() {
                return Err(Error::not_found(format!(
                    "destination directory {} does not exist",
                    parent.display()
                )));
            }
            let name = d
                .file_name()
                .ok_or_else(|| Error::invalid(format!("invalid destination {}", d.display())))?;
            (parent, Some(name.to_string_lossy().into_owned()))
        };
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| Error::internal(format!("pipe: {e}")))?;
        // The files belong to whoever runs the copy, as with Docker's.
        let me = (
            rustix::process::geteuid().as_raw(),
            rustix::process::getegid().as_raw(),
        );
        let shown = d.display().to_string();
        let reader = std::thread::spawn(move || {
            snapshot::unpack::unpack_owned(std::fs::File::from(r), &dir, Some(me))
                .map_err(|e| Error::invalid(format!("copy to {shown}: {e}")))
        });
        let sent = self.copy_out(id, src, w.as_raw_fd(), follow, name.as_deref());
        drop(w);
        let got = reader
            .join()
            .map_err(|_| Error::internal("the copy's reader panicked"))?;
        sent.and(got.map(|_| ()))
    }

    /// The tar of `src` in the container written to `fd`, its top entry named `name` (default:
    /// `src`'s own last component).
    pub(crate) fn copy_out(
        &self,
        id: &str,
        src: &str,
        fd: RawFd,
        follow: bool,
        name: Option<&str>,
    ) -> Result<()> {
        let src = src.to_string();
        let base = match name {
            Some(n) => PathBuf::from(n),
            None => Path::new(src.trim_end_matches('/'))
                .file_name()
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(".")),
        };
        self.with_root(id, &[fd], move |root| {
            let r = snapshot::resolve_in_root_opt(root, &src, follow)?;
            // SAFETY: the caller's descriptor, open for this call; never closed here.
            let out = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd) });
            let mut b = tar::Builder::new(std::io::BufWriter::new(&*out));
            b.follow_symlinks(false);
            match &r.link {
                Some(t) => {
                    let mut h = tar::Header::new_gnu();
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    h.set_mode(0o777);
                    b.append_link(&mut h, &base, t).map_err(|e| e.to_string())?;
                }
                None => snapshot::changes::write_tree(&mut b, &r.path, &base, &[])
                    .map_err(|e| format!("copy {src}: {e}"))?,
            }
            b.into_inner()
                .and_then(|mut w| std::io::Write::flush(&mut w))
                .map_err(|e| e.to_string())
        })
    }

    /// `docker cp SRC CONTAINER:DEST`: from a host path, or a tar read from a descriptor and
    /// unpacked into the directory DEST. Without `archive` the copies belong to the container's
    /// root user. Everything lands through the layer unpacker, resolved inside the container's
    /// root, so a symlink the container planted cannot lead the copy onto the host.
    pub fn copy_to(&self, id: &str, src: CopyEnd, dest: &str, archive: bool) -> Result<()> {
        let s = match src {
            CopyEnd::Tar(fd) => return self.copy_in(id, fd, dest, archive),
            CopyEnd::Path(s) => s.to_path_buf(),
        };
        if std::fs::symlink_metadata(&s).is_err() {
            return Err(Error::not_found(format!(
                "could not find the file {} on the host",
                s.display()
            )));
        }
        // As the docker CLI does: into DEST when it is a directory, else as DEST in its parent.
        let into_dir = self
            .path_stat(id, dest)
            .is_ok_and(|st| st.mode & GO_MODE_DIR != 0);
        let (dir, name) = if into_dir {
            let base = s
                .file_name()
                .map(PathBuf::from)
                .unwrap_or_else(|| ".".into());
            (dest.to_string(), base)
        } else {
            let dp = Path::new(dest);
            let name = dp
                .file_name()
                .ok_or_else(|| Error::invalid(format!("invalid destination {dest}")))?;
            let parent = dp
                .parent()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "/".into());
            (parent, PathBuf::from(name))
        };
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| Error::internal(format!("pipe: {e}")))?;
        let writer = std::thread::spawn(move || -> std::io::Result<()> {
            let mut b = tar::Builder::new(std::io::BufWriter::new(std::fs::File::from(w)));
            b.follow_symlinks(false);
            snapshot::changes::write_tree(&mut b, &s, &name, &[])?;
            b.into_inner()
                .and_then(|mut w| std::io::Write::flush(&mut w))
        });
        let got = self.copy_in(id, r.as_raw_fd(), &dir, archive);
        drop(r);
        let sent = writer
            .join()
            .map_err(|_| Error::internal("the copy's writer panicked"))?;
        // A reader that stopped early makes the writer's error (a broken pipe): report the
        // reader's.
        got.and(sent.ctx(|| "read the copy's source".into()))
    }

    /// The tar on `fd` unpacked into the directory `dest` inside the container.
    pub(crate) fn copy_in(&self, id: &str, fd: RawFd, dest: &str, archive: bool) -> Result<()> {
        let dest = dest.to_string();
        self.with_root(id, &[fd], move |root| {
            let resolved = snapshot::resolve_in_root(root, &dest)
                .map_err(|_| format!("no such directory in the container: {dest}"))?;
            let d = &resolved.path;
            if !d.is_dir() {
                return Err(format!("extraction point is not a directory: {dest}"));
            }
            // SAFETY: the caller's descriptor, open for this call; never closed here.
            let input = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd) });
            let owner = (!archive).then_some((0, 0));
            snapshot::unpack::unpack_owned(&*input, d, owner)
                .map_err(|e| format!("extract into {dest}: {e}"))?;
            Ok(())
        })
    }
}
