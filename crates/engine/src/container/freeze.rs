//! Freezing a running container for a consistent view of its files (cp, commit, export) in a
//! way that always ends: a small guard process thaws the cgroup as soon as the freezer's
//! caller is done — or dies, even by SIGKILL, since the guard sees its pipe close.

use crate::error::{Error, Result};
use std::os::fd::{AsRawFd, OwnedFd};

/// A frozen container; dropping it thaws the container and waits until it is thawed.
pub struct FrozenGuard {
    /// The write end the guard process waits on; closing it asks for the thaw.
    hold: Option<OwnedFd>,
    /// The guard process.
    pid: libc::pid_t,
}

/// Freezes `cg`'s processes; the returned guard thaws them when dropped or when this process
/// dies.
pub fn freeze(cg: &berth_runtime::Cgroup) -> Result<FrozenGuard> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| Error::internal(format!("pipe: {e}")))?;
    // SAFETY: the child only reads a pipe, writes cgroup files and leaves with _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(Error::internal(format!(
            "fork the freezer's guard: {}",
            std::io::Error::last_os_error()
        )));
    }
    if pid == 0 {
        drop(w);
        let keep = r.as_raw_fd();
        // It keeps only the pipe and stdio.
        crate::snapshot::close_all_but(&[keep]);
        let mut b = [0u8; 1];
        // Returns on EOF: the caller closed its end or is gone.
        loop {
            // SAFETY: read(2) into a one-byte buffer.
            let n = unsafe { libc::read(keep, b.as_mut_ptr().cast(), 1) };
            if n == 0
                || (n < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR))
            {
                break;
            }
        }
        let ok = cg.set_frozen(false).is_ok();
        // SAFETY: leaving the guard without running the parent's destructors.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    drop(r);
    let guard = FrozenGuard { hold: Some(w), pid };
    cg.set_frozen(true)?;
    Ok(guard)
}

impl Drop for FrozenGuard {
    fn drop(&mut self) {
        self.hold.take();
        let mut status = 0;
        // SAFETY: reaping our own guard process, which ends once it has thawed the cgroup.
        unsafe { libc::waitpid(self.pid, &mut status, 0) };
    }
}
