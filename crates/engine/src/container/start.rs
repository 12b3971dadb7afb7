//! `start`: the bundle, then a shim that reports the container's pid or why it could not start.

use crate::container::Status;
use crate::error::{Error, ErrorKind, Result};
use crate::shim;
use crate::shim::reply::StarterReply;
use crate::Engine;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;

impl Engine {
    /// Starts a created or exited container through a new shim; `attach` becomes the shim's
    /// first client. Returns the container's pid; a running container is left as it is.
    pub fn start(&self, id: &str, attach: Option<UnixStream>) -> Result<i32> {
        self.start_sized(id, attach, None)
    }

    /// [`Engine::start`] with the initial size (rows, columns) of the container's terminal.
    pub fn start_sized(
        &self,
        id: &str,
        attach: Option<UnixStream>,
        console_size: Option<(u16, u16)>,
    ) -> Result<i32> {
        let out = self.start_once(id, attach, console_size);
        if out.is_err() && self.record(id).is_ok_and(|r| r.host_config.auto_remove) {
            // Docker's --rm: a container that could not start is removed too (a client
            // waiting for its removal would wait forever otherwise).
            let _ = self.remove(id, true, true);
        }
        out
    }

    pub(crate) fn start_once(
        &self,
        id: &str,
        attach: Option<UnixStream>,
        console_size: Option<(u16, u16)>,
    ) -> Result<i32> {
        let rec = self.record(id)?;
        let lock = self.containers.lock(id)?;
        let st = self.state_locked(&lock)?;
        if st.status.is_live() {
            return Ok(st.pid);
        }
        let dir = self.containers.dir(id);
        // A start that fails before the shim runs gives its network plan back (lease, record).
        let give_back = |e: Error| {
            crate::network::detach(&self.root, &dir, id);
            e
        };
        self.prepare_bundle(&rec, console_size)
            .map_err(give_back)
            .map_err(|e| {
                Error::new(
                    e.kind,
                    format!("failed to start container {}: {}", &id[..12], e.message),
                )
            })?;

        let (ready_r, ready_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| Error::internal(format!("pipe: {e}")))?;
        let ready_w_fd = ready_w.as_raw_fd();
        let attach_fd = attach.as_ref().map(|s| s.as_raw_fd());
        let mut cmd = std::process::Command::new(&self.shim_binary);
        cmd.arg("shim").arg("--root").arg(self.root.path()).arg(id);
        if attach.is_some() {
            cmd.arg("--attach");
        }
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        // SAFETY: the closure only calls dup2(2), async-signal-safe, between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                // Lift both above the targets first: a source may already sit on 3 or 4, and
                // dup2 onto itself would keep its close-on-exec flag.
                let ready = libc::fcntl(ready_w_fd, libc::F_DUPFD_CLOEXEC, 10);
                let attach = attach_fd.map(|a| libc::fcntl(a, libc::F_DUPFD_CLOEXEC, 10));
                if ready < 0
                    || attach.is_some_and(|a| a < 0)
                    || libc::dup2(ready, shim::READY_FD) < 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                if let Some(a) = attach {
                    if libc::dup2(a, shim::ATTACH_FD) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| Error::internal(format!("start shim {}: {e}", self.shim_binary.display())))
            .map_err(give_back)?;
        drop(ready_w);
        drop(attach);
        let mut bytes = Vec::new();
        let _ = std::fs::File::from(ready_r).read_to_end(&mut bytes);
        let _ = child.wait();
        match StarterReply::decode(&bytes, "the shim") {
            StarterReply::Started { pid, .. } => Ok(pid),
            StarterReply::Failed { kind, message } => {
                // A shim that died before it reported left its network plan behind.
                crate::network::detach(&self.root, &dir, id);
                // Kinds that name the request or the command keep their meaning; anything
                // else (a missing layer or bundle file) is the engine's own failure, not the
                // caller's "no such container".
                let kind = match kind {
                    ErrorKind::InvalidArgument
                    | ErrorKind::CommandNotFound
                    | ErrorKind::NotExecutable => kind,
                    _ => ErrorKind::Internal,
                };
                Err(Error::new(
                    kind,
                    format!(
                        "failed to create task for container {}: {message}",
                        &id[..12]
                    ),
                ))
            }
        }
    }

    /// After a host reboot (or whenever no shim runs any more): starts the containers whose
    /// restart policy says so, as Docker's daemon does at its start: `always`, `unless-stopped`
    /// unless the user stopped it, `on-failure` after a failed last run with retries left.
    /// Returns, per container started or tried, its name and the outcome.
    pub fn boot(&self) -> Vec<(String, Result<i32>)> {
        let mut out = Vec::new();
        for (rec, st) in self.list() {
            if st.status.is_live() {
                continue;
            }
            let p = &rec.host_config.restart_policy;
            let wanted = match p.name.as_str() {
                "always" => true,
                "unless-stopped" => !st.manual_stop,
                "on-failure" => {
                    st.exit_code != 0
                        && !st.manual_stop
                        && (p.maximum_retry_count <= 0 || st.restart_count < p.maximum_retry_count)
                }
                _ => false,
            };
            if wanted && st.status != Status::Created {
                out.push((rec.name.clone(), self.start(&rec.id, None)));
            }
        }
        out
    }
}
