//! The shim: berth re-executed (`berth shim`) to be a container's parent for its whole life.
//!
//! It clones the container through the runtime, then — single-threaded, in one poll loop —
//! copies the container's output into the json-file log and to attached clients, feeds their
//! input to the container, reaps it, records the exit in `state.json`, removes the container if
//! `--rm` asked, tells the clients the exit code, and exits. It is detached from whoever started
//! it (its own session, re-parented away), so the CLI may come and go, and no daemon is needed.
//!
//! Descriptors it is started with: 3, a pipe on which it reports the start (a
//! [`reply::StarterReply`]); optionally 4, a socket of a first attached client.
//!
//! Attach protocol (stream socket, both ways): frames of `[kind: u8][len: u32 BE][payload]`.

mod io;
pub mod reply;
mod restart;
mod starter;
mod supervise;

pub use io::{
    attach_socket, connect, read_frame, short_path, write_frame, FRAME_EXIT, FRAME_RESIZE,
    FRAME_STDERR, FRAME_STDIN, FRAME_STDIN_EOF, FRAME_STDOUT,
};

use crate::container::ContainerRecord;
use crate::store::Root;
use reply::StarterReply;
use std::os::fd::{FromRawFd, RawFd};
use std::path::Path;

/// Descriptor on which the shim reports the start.
pub const READY_FD: RawFd = 3;
/// Descriptor of the first attached client, when present.
pub const ATTACH_FD: RawFd = 4;
/// The cgroup under which each shim has one of its own (`berth-shim/<id>`).
pub const SHIM_CGROUP: &str = "berth-shim";

/// Runs the shim for container `id` under state root `root`; returns the process exit code.
pub fn run(root: &Path, id: &str, has_attach: bool) -> i32 {
    // SAFETY: setsid/fork/_exit before any other thread exists.
    unsafe {
        libc::setsid();
        match libc::fork() {
            -1 => return 125,
            0 => {}
            _ => libc::_exit(0),
        }
        // A shim outlives terminals and its starter; stray job-control signals must not end it.
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGTERM, libc::SIG_IGN);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    // SAFETY: fds 3 and 4 were set up by our starter for us alone.
    let mut ready = Some(unsafe { std::fs::File::from_raw_fd(READY_FD) });
    let mut clients: Vec<std::os::unix::net::UnixStream> = Vec::new();
    if has_attach {
        // SAFETY: as above.
        clients.push(io::client(unsafe {
            std::os::unix::net::UnixStream::from_raw_fd(ATTACH_FD)
        }));
    }
    let own = own_cgroup(id);
    let done = supervise::Supervisor::open(root, id, &mut ready, &mut clients)
        .and_then(supervise::Supervisor::supervise);
    if let Some(cg) = own {
        leave_cgroup(&cg);
    }
    match done {
        Ok(()) => 0,
        Err(message) => {
            let failed = StarterReply::Failed {
                kind: crate::error::ErrorKind::Internal,
                message,
            };
            supervise::report(&mut ready, &failed);
            125
        }
    }
}

/// Moves the shim into a cgroup of its own: left in the cgroup of the CLI or daemon that
/// started it, the end of a login session or a restart of the service would kill it, and its
/// container with it. Best effort: without cgroups the shim still runs.
fn own_cgroup(id: &str) -> Option<berth_runtime::Cgroup> {
    let cg = own_cgroup_of(id);
    cg.create(None).ok()?;
    if cg.add(std::process::id() as i32).is_err() {
        // Placed in some hierarchies only: back to the root in all, then the empty cgroup goes
        // (never `destroy`, whose fallback kills what is inside: this shim).
        leave_cgroup(&cg);
        return None;
    }
    Some(cg)
}

/// The cgroup of container `id`'s shim, in every hierarchy a session could be tracked in.
pub fn own_cgroup_of(id: &str) -> berth_runtime::Cgroup {
    berth_runtime::Cgroup::open_everywhere(Path::new(&format!("{SHIM_CGROUP}/{id}")))
}

/// Leaves the shim's cgroup for the root one and removes it if nothing else is in it (a newer
/// shim of the same container may be), so no empty cgroup stays and nothing is killed.
fn leave_cgroup(cg: &berth_runtime::Cgroup) {
    let top = berth_runtime::Cgroup::open_everywhere(Path::new(""));
    let _ = top.add(std::process::id() as i32);
    cg.remove_if_empty();
}

/// Records a container event from the shim.
fn emit(root: &Root, rec: &ContainerRecord, action: &str, extra: &[(&str, &str)]) {
    let mut attrs: Vec<(&str, &str)> = vec![
        ("image", rec.config.image.as_str()),
        ("name", rec.name.as_str()),
    ];
    attrs.extend_from_slice(extra);
    crate::events::emit(root, "container", action, &rec.id, &attrs);
}
