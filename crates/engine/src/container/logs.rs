//! `logs`: a container's log read through its driver.

use crate::error::{Error, Result};
use crate::Engine;

/// What `logs` reads: a time window, the last N entries, and whether to follow.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    /// Entries at or after this time.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Entries at or before this time (and no following).
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// Only the last N of the existing entries.
    pub tail: Option<usize>,
    /// Keep reading new entries while the container runs.
    pub follow: bool,
}

impl Engine {
    /// Refuses a container whose log driver keeps nothing to read (`none`).
    pub fn check_logs_readable(&self, id: &str) -> Result<()> {
        if self.record(id)?.host_config.log_config.typ == "none" {
            return Err(Error::invalid(
                "configured logging driver does not support reading",
            ));
        }
        Ok(())
    }

    /// The container's log, opened: read it with [`Engine::logs_from`]. The API opens it
    /// before it answers, so a container removed meanwhile still gives its lines.
    pub fn open_logs(&self, id: &str) -> Result<crate::logs::OpenLog> {
        self.check_logs_readable(id)?;
        Ok(crate::logs::OpenLog::open(&self.containers.log_path(id)))
    }

    /// `docker logs`: hands each entry of `q` to `emit`, following while the container runs
    /// when asked; `emit` returning false stops (a client that went away).
    pub fn logs(
        &self,
        id: &str,
        q: &LogQuery,
        emit: impl FnMut(&crate::logs::LogEntry) -> bool,
    ) -> Result<()> {
        let log = self.open_logs(id)?;
        self.logs_from(id, log, q, emit)
    }

    /// [`Engine::logs`] of a log already opened.
    pub fn logs_from(
        &self,
        id: &str,
        log: crate::logs::OpenLog,
        q: &LogQuery,
        mut emit: impl FnMut(&crate::logs::LogEntry) -> bool,
    ) -> Result<()> {
        let in_range = |t: &str| -> bool {
            let Ok(t) = chrono::DateTime::parse_from_rfc3339(t) else {
                return true;
            };
            let t = t.with_timezone(&chrono::Utc);
            q.since.is_none_or(|s| t >= s) && q.until.is_none_or(|u| t <= u)
        };
        let running = || self.state(id).map(|s| s.status.is_live()).unwrap_or(false);
        let (going, offset) = match q.tail {
            // `--tail N` keeps only the last N in memory, whatever the log's size.
            Some(n) => {
                let mut last = std::collections::VecDeque::with_capacity(n.min(4096));
                let (_, offset) = log.read_existing(|e| {
                    if n > 0 && in_range(&e.time) {
                        if last.len() == n {
                            last.pop_front();
                        }
                        last.push_back(e.clone());
                    }
                    true
                });
                (last.iter().all(&mut emit), offset)
            }
            None => log.read_existing(|e| !in_range(&e.time) || emit(e)),
        };
        if going && q.follow && q.until.is_none() {
            log.follow(offset, |e| !in_range(&e.time) || emit(e), || !running())?;
        }
        Ok(())
    }
}
