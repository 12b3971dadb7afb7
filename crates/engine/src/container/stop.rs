//! `kill`, `stop` and `restart`.

use crate::container::wait::pidfd_open;
use crate::container::wait::wait_pidfd;
use crate::container::{self, State, Status};
use crate::error::{Error, Result};
use crate::Engine;
use std::time::Duration;

/// kill(2) of one container process. Never of pid 0 or below (a restarting container's
/// recorded pid is 0, and kill(0) would signal the caller's own process group).
pub(crate) fn signal_pid(pid: i32, sig: i32) -> std::io::Result<()> {
    if pid <= 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the container has no process",
        ));
    }
    // SAFETY: kill(2) of a positive pid.
    if unsafe { libc::kill(pid, sig) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

impl Engine {
    /// Waits for the shim of a running container to finish (exit recorded). True if it did.
    pub(crate) fn wait_shim(&self, st: &State, timeout: Option<Duration>) -> bool {
        if !container::same_process(st.shim_pid, st.shim_start) {
            return true;
        }
        match pidfd_open(st.shim_pid) {
            Some(fd) => wait_pidfd(&fd, timeout),
            None => true,
        }
    }

    /// Sends a signal to a running container's init.
    pub fn kill(&self, id: &str, signal: i32) -> Result<()> {
        let st = self.state(id)?;
        if st.status == Status::Restarting {
            // Between two runs there is no process: ending the restart loop is the kill
            // (Docker's).
            return self.end_restart_loop(id, &st);
        }
        if !matches!(st.status, Status::Running | Status::Paused) {
            return Err(Error::conflict(format!(
                "cannot kill container: {}: container {id} is not running",
                &id[..12]
            )));
        }
        // A user's kill ends the container for good: no restart policy brings it back.
        self.mark_stopping(id)?;
        if let Ok(rec) = self.record(id) {
            self.emit(&rec, "kill", &[("signal", &signal.to_string())]);
        }
        signal_pid(st.pid, signal)
            .map_err(|e| Error::internal(format!("kill container {id}: {e}")))?;
        if signal == libc::SIGKILL {
            // A frozen process dies only once thawed (Docker unpauses after SIGKILL too),
            // whether `pause` or a copy in progress froze it.
            let _ = self.cgroup(id).set_frozen(false);
        }
        // As dockerd: after SIGKILL the container is gone when kill returns, so a `rm` that
        // follows does not find it running.
        if signal == libc::SIGKILL {
            self.wait_shim(&st, Some(Duration::from_secs(10)));
        }
        Ok(())
    }

    /// Stops a container: its stop signal, then SIGKILL after `timeout` seconds (default: the
    /// container's StopTimeout or 10); returns once the exit is recorded.
    pub fn stop(&self, id: &str, timeout: Option<i64>) -> Result<()> {
        let rec = self.record(id)?;
        let st = self.state(id)?;
        if st.status == Status::Restarting {
            return self.end_restart_loop(id, &st);
        }
        if !matches!(st.status, Status::Running | Status::Paused) {
            return Ok(());
        }
        self.mark_stopping(id)?;
        let sig = match &rec.config.stop_signal {
            Some(s) => crate::signal::parse(s)?,
            None => libc::SIGTERM,
        };
        let t = timeout.or(rec.config.stop_timeout).unwrap_or(10);
        let cfd = pidfd_open(st.pid);
        let _ = signal_pid(st.pid, sig);
        // A paused container cannot act on its stop signal: it waits out the timeout, as
        // Docker's does, and is thawed with SIGKILL.
        let exited = match (&cfd, t) {
            (Some(fd), t) if t >= 0 => wait_pidfd(fd, Some(Duration::from_secs(t as u64))),
            (Some(fd), _) => wait_pidfd(fd, None),
            (None, _) => true,
        };
        if !exited {
            let _ = signal_pid(st.pid, libc::SIGKILL);
            // Frozen by `pause` or by a copy whatever the state says: SIGKILL needs a thaw.
            let _ = self.cgroup(id).set_frozen(false);
        }
        self.emit(&rec, "kill", &[("signal", &sig.to_string())]);
        self.wait_shim(&st, Some(Duration::from_secs(30)));
        self.emit(&rec, "stop", &[]);
        Ok(())
    }

    /// Docker's `restart`: stop (a no-op when not running), start, and the `restart` event.
    pub fn restart(&self, id: &str, timeout: Option<i64>) -> Result<()> {
        self.stop(id, timeout)?;
        self.start(id, None)?;
        if let Ok(rec) = self.record(id) {
            self.emit(&rec, "restart", &[]);
        }
        Ok(())
    }

    /// Between two runs of a restart policy: the shim sees the flag and ends instead of
    /// starting the next run.
    fn end_restart_loop(&self, id: &str, st: &State) -> Result<()> {
        self.mark_stopping(id)?;
        self.wait_shim(st, Some(Duration::from_secs(30)));
        Ok(())
    }

    /// Records that the user is stopping the container, so its shim does not restart it.
    pub(crate) fn mark_stopping(&self, id: &str) -> Result<()> {
        let lock = self.containers.lock(id)?;
        let mut st = self.containers.state_raw(id)?;
        if st.status.is_live() {
            st.stopped_by_user();
            self.containers.write_state(&lock, &st)?;
        }
        Ok(())
    }
}
