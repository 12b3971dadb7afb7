//! `wait` and its conditions, on pidfds where there is a process to wait for.

use crate::container::Status;
use crate::error::{Error, Result};
use crate::Engine;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// What `wait` waits for, as Docker's `condition`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    /// Until it is not running (at once when it is not).
    NotRunning,
    /// Until its next exit.
    NextExit,
    /// Until its next exit and its removal.
    Removed,
}

impl WaitCondition {
    /// Docker's names: `not-running` (the default), `next-exit`, `removed`.
    pub fn parse(s: &str) -> Result<WaitCondition> {
        match s {
            "" | "not-running" => Ok(WaitCondition::NotRunning),
            "next-exit" => Ok(WaitCondition::NextExit),
            "removed" => Ok(WaitCondition::Removed),
            _ => Err(Error::invalid(format!("invalid condition: \"{s}\""))),
        }
    }
}

pub(crate) fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open(2) returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    // SAFETY: a fresh descriptor we own.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Waits until the process behind `fd` exits, at most `timeout` (None: forever). True if it did.
pub(crate) fn wait_pidfd(fd: &OwnedFd, timeout: Option<Duration>) -> bool {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let ms = match deadline {
            None => -1,
            Some(d) => d
                .saturating_duration_since(Instant::now())
                .as_millis()
                .min(i32::MAX as u128) as i32,
        };
        let mut p = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll(2) on one pollfd.
        let n = unsafe { libc::poll(&mut p, 1, ms) };
        if n > 0 {
            return true;
        }
        if n == 0 {
            return false;
        }
        if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return false;
        }
    }
}

impl Engine {
    /// Waits as Docker's `wait` does for `cond`; returns the exit code of the run that ended.
    /// A run ends when its exit is recorded, also when a restart policy starts the next one.
    pub fn wait_for(&self, id: &str, cond: WaitCondition) -> Result<i32> {
        let st = self.state(id)?;
        if cond == WaitCondition::NotRunning && !st.status.is_live() {
            return Ok(st.exit_code);
        }
        let before = st.finished_at.clone();
        // With a restart policy the shim lives on across runs: only the recorded exit tells a
        // run's end. Without one, waiting for the shim costs no polling.
        let restarts = !matches!(
            self.record(id)?.host_config.restart_policy.name.as_str(),
            "" | "no"
        );
        let code = loop {
            let now = match self.state(id) {
                Ok(s) => s,
                // Removed (AutoRemove) before we saw it stop.
                Err(_) => break self.last_exit_code(id),
            };
            // A recorded exit ends the wait: once stopped, or under a restart policy even when
            // the next run has started.
            if now.finished_at != before && (now.status != Status::Running || restarts) {
                break now.exit_code;
            }
            if now.status.is_live() && !restarts {
                // AutoRemove may take the state (and its exit code) at any moment.
                break match self.wait(id) {
                    Ok(c) if self.record(id).is_ok() => c,
                    _ => self.last_exit_code(id),
                };
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        if cond == WaitCondition::Removed {
            while self.record(id).is_ok() {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        Ok(code)
    }

    /// The exit code of the container's last `die` event (for one already removed).
    pub(crate) fn last_exit_code(&self, id: &str) -> i32 {
        crate::events::read_all(&self.root)
            .iter()
            .rev()
            .find(|ev| ev.typ == "container" && ev.action == "die" && ev.actor.id == id)
            .and_then(|ev| {
                ev.actor
                    .attributes
                    .get("exitCode")
                    .and_then(|c| c.parse().ok())
            })
            .unwrap_or(-1)
    }

    /// Blocks until the container is not running; returns its exit code.
    pub fn wait(&self, id: &str) -> Result<i32> {
        let st = self.state(id)?;
        if st.status.is_live() {
            self.wait_shim(&st, None);
        }
        Ok(self.state(id).map(|s| s.exit_code).unwrap_or(st.exit_code))
    }
}
