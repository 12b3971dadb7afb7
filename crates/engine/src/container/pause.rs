//! `pause`, `unpause`, and the freeze copies and commits hold.

use crate::container::Status;
use crate::error::{Error, Result};
use crate::Engine;

impl Engine {
    /// `docker pause`: freezes every process of the container.
    pub fn pause(&self, id: &str) -> Result<()> {
        let lock = self.containers.lock(id)?;
        let mut st = self.state_locked(&lock)?;
        match st.status {
            Status::Running => {}
            Status::Paused => {
                return Err(Error::conflict(format!("container {id} is already paused")))
            }
            _ => return Err(Error::conflict(format!("container {id} is not running"))),
        }
        self.cgroup(id).set_frozen(true)?;
        st.status = Status::Paused;
        self.containers.write_state(&lock, &st)?;
        if let Ok(rec) = self.record(id) {
            self.emit(&rec, "pause", &[]);
        }
        Ok(())
    }

    /// `docker unpause`.
    pub fn unpause(&self, id: &str) -> Result<()> {
        let lock = self.containers.lock(id)?;
        let mut st = self.state_locked(&lock)?;
        if st.status != Status::Paused {
            return Err(Error::conflict(format!("container {id} is not paused")));
        }
        self.cgroup(id).set_frozen(false)?;
        st.status = Status::Running;
        self.containers.write_state(&lock, &st)?;
        if let Ok(rec) = self.record(id) {
            self.emit(&rec, "unpause", &[]);
        }
        Ok(())
    }

    /// Runs `f` with a running container frozen (processes stopped by the freezer cgroup), so
    /// its files cannot change underneath (commit, and cp's defence against symlink races);
    /// a stopped container is used as it is.
    pub fn with_frozen<T>(
        &self,
        id: &str,
        pause: bool,
        f: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        let st = self.state(id)?;
        if !(pause && st.status == Status::Running) {
            return f();
        }
        let cg = self.cgroup(id);
        let frozen = match crate::container::freeze::freeze(&cg) {
            Ok(g) => Some(g),
            // A container that stopped meanwhile has nothing left to freeze: its files are
            // still, so the work goes on as for a stopped one. Its shim reaps it and removes
            // its cgroup a moment before it records the exit, so a gone process counts too.
            Err(_) if self.state(id).is_ok_and(|s| !s.status.is_live()) || !alive(st.pid) => None,
            Err(e) => return Err(e),
        };
        let r = f();
        drop(frozen);
        r
    }
}

/// Whether process `pid` still exists (reaped ones do not).
fn alive(pid: i32) -> bool {
    // SAFETY: kill(2) with signal 0 only checks that the process exists.
    pid > 0
        && (unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH))
}
