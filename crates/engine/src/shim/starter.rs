//! The starter: a short-lived child of the shim that reads the bundle and starts the
//! container through the runtime, so none of that memory or code stays in the long-lived
//! shim. It answers with a [`StarterReply`] and the terminal's master side.

use super::reply::StarterReply;
use crate::container::ContainerRecord;
use crate::snapshot::LayerStore;
use crate::store::Root;
use berth_runtime::{SpawnOptions, Stdio};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;

/// Starts the container in a forked starter (the container becomes the shim's child through
/// CLONE_PARENT); returns its reply and the terminal's master side.
pub(super) fn start(
    root: &Root,
    rec: &ContainerRecord,
    dir: &Path,
    tty: bool,
    stdio: [Option<RawFd>; 3],
) -> Result<(StarterReply, Option<OwnedFd>), String> {
    let (mine, theirs) =
        std::os::unix::net::UnixStream::pair().map_err(|e| format!("socketpair: {e}"))?;
    // SAFETY: the shim is single-threaded; the starter leaves with _exit.
    let starter = unsafe { libc::fork() };
    if starter < 0 {
        return Err(format!("fork: {}", std::io::Error::last_os_error()));
    }
    if starter == 0 {
        drop(mine);
        let (reply, fd) = match start_container(root, rec, dir, tty, stdio) {
            Ok((pid, cgroup, console)) => (StarterReply::Started { pid, cgroup }, console),
            Err(e) => (StarterReply::failed(&e), None),
        };
        let _ = berth_runtime::fdpass::send(
            theirs.as_raw_fd(),
            &reply.encode(),
            fd.as_ref().map(|f| f.as_raw_fd()),
        );
        // SAFETY: leaving the forked starter without running the shim's destructors.
        unsafe { libc::_exit(0) };
    }
    drop(theirs);
    let answer = berth_runtime::fdpass::recv(mine.as_raw_fd(), true);
    // SAFETY: reaping the starter.
    unsafe { libc::waitpid(starter, std::ptr::null_mut(), 0) };
    let (bytes, console) = answer.unwrap_or_default();
    Ok((
        StarterReply::decode(&bytes, "the container's starter"),
        console,
    ))
}

/// The starter's work: the OCI spec, the overlay, the compiled seccomp program, then the
/// runtime. Returns the container's pid, its cgroup path and its terminal's master side.
fn start_container(
    root: &Root,
    rec: &ContainerRecord,
    dir: &Path,
    tty: bool,
    fds: [Option<RawFd>; 3],
) -> crate::error::Result<(i32, String, Option<OwnedFd>)> {
    let spec = berth_runtime::load_spec(dir)?;
    let overlay = LayerStore::new(root).overlay(&rec.layers, dir)?;
    let bpf = std::fs::read(dir.join("seccomp.bpf")).ok();
    let stdio = if tty {
        // The terminal is allocated inside the container (its own devpts).
        let size = spec
            .process()
            .as_ref()
            .and_then(|p| p.console_size())
            .map(|b| (b.height() as u16, b.width() as u16));
        Stdio {
            stdin: None,
            stdout: None,
            stderr: None,
            tty: true,
            console_size: size,
        }
    } else {
        Stdio {
            stdin: fds[0],
            stdout: fds[1],
            stderr: fds[2],
            tty: false,
            console_size: None,
        }
    };
    let opts = SpawnOptions {
        spec: &spec,
        rootfs: dir.join("rootfs"),
        rootfs_mounts: std::slice::from_ref(&overlay),
        stdio,
        seccomp_bpf: bpf.as_deref(),
        cgroup_fs: None,
        clone_parent: true,
    };
    let s = berth_runtime::spawn(&opts)?;
    let cg = s
        .cgroup
        .as_ref()
        .map(|c| c.rel().display().to_string())
        .unwrap_or_default();
    Ok((s.pid, cg, s.console))
}
