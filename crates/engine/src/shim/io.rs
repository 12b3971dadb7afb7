//! The shim's descriptors: the attach protocol's frames, the attach socket, and the sources
//! of container output whose lines go to the log and whose bytes go to every client.

use crate::logs::LogWriter;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// Frame kind: data for the container's stdin (client → shim).
pub const FRAME_STDIN: u8 = 0;
/// Frame kind: container stdout (shim → client).
pub const FRAME_STDOUT: u8 = 1;
/// Frame kind: container stderr (shim → client).
pub const FRAME_STDERR: u8 = 2;
/// Frame kind: the container exited; payload is the exit code, i32 BE (shim → client).
pub const FRAME_EXIT: u8 = 3;
/// Frame kind: close the container's stdin (client → shim).
pub const FRAME_STDIN_EOF: u8 = 4;
/// Frame kind: terminal size, rows and columns as u16 BE (client → shim).
pub const FRAME_RESIZE: u8 = 5;

/// How long a write to an attached client may block before the client is dropped: one that
/// stops reading must not stall the container's output, its log and its DNS answers.
const CLIENT_STALL: std::time::Duration = std::time::Duration::from_secs(5);

/// An attached client's socket as the shim uses it: blocking, with writes bounded in time.
pub(super) fn client(c: UnixStream) -> UnixStream {
    let _ = c.set_nonblocking(false);
    let _ = c.set_write_timeout(Some(CLIENT_STALL));
    c
}

/// Writes one frame.
pub fn write_frame(w: &mut impl Write, kind: u8, payload: &[u8]) -> std::io::Result<()> {
    let mut head = [0u8; 5];
    head[0] = kind;
    head[1..].copy_from_slice(&(payload.len() as u32).to_be_bytes());
    w.write_all(&head)?;
    w.write_all(payload)
}

/// Reads one frame; `None` at a clean end of stream.
pub fn read_frame(r: &mut impl Read) -> std::io::Result<Option<(u8, Vec<u8>)>> {
    let mut head = [0u8; 5];
    match r.read_exact(&mut head) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    if len > 16 << 20 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "attach frame too large",
        ));
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)?;
    Ok(Some((head[0], payload)))
}

/// A close-on-exec pipe (read end, write end).
pub(super) fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    Ok((r, w))
}

/// Path of a container's attach socket (inside its directory).
pub fn attach_socket(dir: &Path) -> std::path::PathBuf {
    dir.join("attach.sock")
}

/// A path for `dir`'s entry `name` that stays short whatever the state root is: unix socket
/// paths are limited to 108 bytes, a container directory's path may be longer.
pub fn short_path(dir: &Path, name: &str) -> std::io::Result<(std::fs::File, String)> {
    let d = std::fs::File::open(dir)?;
    let p = format!("/proc/self/fd/{}/{name}", d.as_raw_fd());
    Ok((d, p))
}

/// Binds the container's attach socket, replacing a stale one from an earlier run.
pub(super) fn listen(dir: &Path) -> std::io::Result<std::os::unix::net::UnixListener> {
    let (_d, p) = short_path(dir, "attach.sock")?;
    let _ = std::fs::remove_file(&p);
    let l = std::os::unix::net::UnixListener::bind(&p)?;
    // SAFETY: fcntl on our descriptor.
    unsafe { libc::fcntl(l.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
    Ok(l)
}

/// Connects to a running container's shim as one more attached client.
pub fn connect(dir: &Path) -> std::io::Result<std::os::unix::net::UnixStream> {
    let (_d, p) = short_path(dir, "attach.sock")?;
    std::os::unix::net::UnixStream::connect(p)
}

/// A source of container output: a pipe, or the terminal's master side.
pub(super) struct Output {
    /// What is read.
    pub(super) fd: OwnedFd,
    /// The log's stream name.
    stream: &'static str,
    /// The frame kind clients get.
    kind: u8,
    /// A line not yet ended.
    line: Vec<u8>,
    /// Not at its end yet.
    pub(super) open: bool,
}

impl Output {
    /// A source whose bytes go out as `kind` frames and into the log as `stream`.
    pub(super) fn new(fd: OwnedFd, stream: &'static str, kind: u8) -> Output {
        Output {
            fd,
            stream,
            kind,
            line: Vec::new(),
            open: true,
        }
    }

    /// Reads what is ready into `buf`: to every client (dropping those that went away) and,
    /// line by line, to the log. At the end of the stream it is closed.
    pub(super) fn pump(
        &mut self,
        buf: &mut [u8],
        clients: &mut Vec<UnixStream>,
        log: &mut Option<LogWriter>,
    ) {
        // SAFETY: read(2) into our buffer.
        let r = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if r <= 0 {
            if r < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                return;
            }
            // EOF on a pipe, EIO on a terminal whose last slave closed.
            self.open = false;
            return;
        }
        let data = &buf[..r as usize];
        clients.retain_mut(|c| write_frame(c, self.kind, data).is_ok());
        self.line.extend_from_slice(data);
        while let Some(pos) = self.line.iter().position(|b| *b == b'\n') {
            let _ = log
                .as_mut()
                .map(|l| l.write(self.stream, &self.line[..=pos]));
            self.line.drain(..=pos);
        }
        while self.line.len() >= MAX_LINE {
            let _ = log
                .as_mut()
                .map(|l| l.write(self.stream, &self.line[..MAX_LINE]));
            self.line.drain(..MAX_LINE);
        }
    }

    /// Logs the unended last line, at the end of a run.
    pub(super) fn flush(&mut self, log: &mut Option<LogWriter>) {
        if !self.line.is_empty() {
            let _ = log.as_mut().map(|l| l.write(self.stream, &self.line));
            self.line.clear();
        }
    }
}

/// Docker's json-file driver splits lines longer than this into several entries.
const MAX_LINE: usize = 16 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_a_huge_length_is_refused() {
        let mut v = Vec::new();
        write_frame(&mut v, FRAME_STDOUT, b"hello").unwrap();
        write_frame(&mut v, FRAME_EXIT, &7i32.to_be_bytes()).unwrap();
        let mut r = &v[..];
        assert_eq!(
            read_frame(&mut r).unwrap(),
            Some((FRAME_STDOUT, b"hello".to_vec()))
        );
        assert_eq!(
            read_frame(&mut r).unwrap(),
            Some((FRAME_EXIT, 7i32.to_be_bytes().to_vec()))
        );
        assert_eq!(read_frame(&mut r).unwrap(), None);
        let huge = [FRAME_STDIN, 0xff, 0xff, 0xff, 0xff];
        assert!(read_frame(&mut &huge[..]).is_err());
    }
}
