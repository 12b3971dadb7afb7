//! Docker's restart policies: whether an exit restarts the container, and the back-off
//! between runs.

use crate::container::{ContainerStore, RestartPolicy, State};
use std::time::{Duration, Instant};

/// Docker's restart decision after an exit with `code`: never after the user stopped or killed
/// the container; `always`/`unless-stopped` otherwise; `on-failure[:N]` for non-zero codes, at
/// most N times.
pub(super) fn should_restart(policy: &RestartPolicy, code: i32, st: &State) -> bool {
    if st.stopping {
        return false;
    }
    match policy.name.as_str() {
        "always" | "unless-stopped" => true,
        "on-failure" => {
            code != 0
                && (policy.maximum_retry_count <= 0
                    || st.restart_count < policy.maximum_retry_count)
        }
        _ => false,
    }
}

/// Docker's back-off between restarts: 100 ms, doubling up to a minute, back to 100 ms after a
/// run of 10 s or more.
pub(super) struct Backoff(Duration);

impl Backoff {
    /// The first gap.
    pub(super) fn new() -> Backoff {
        Backoff(Duration::from_millis(100))
    }

    /// The gap after a run that lasted `ran`, doubling the next one.
    pub(super) fn next(&mut self, ran: Duration) -> Duration {
        if ran >= Duration::from_secs(10) {
            self.0 = Duration::from_millis(100);
        }
        let now = self.0;
        self.0 = (self.0 * 2).min(Duration::from_secs(60));
        now
    }
}

/// Sleeps out `gap`, watching for a stop meanwhile; true when one came.
pub(super) fn stopped_during(containers: &ContainerStore, id: &str, gap: Duration) -> bool {
    let wake = Instant::now() + gap;
    while Instant::now() < wake {
        std::thread::sleep(
            Duration::from_millis(20).min(wake.saturating_duration_since(Instant::now())),
        );
        if containers
            .state_raw(id)
            .map(|s| s.stopping)
            .unwrap_or(false)
        {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(name: &str, max: i64) -> RestartPolicy {
        RestartPolicy {
            name: name.into(),
            maximum_retry_count: max,
        }
    }

    #[test]
    fn policies_restart_as_dockers_do() {
        let st = State::default();
        assert!(should_restart(&policy("always", 0), 0, &st));
        assert!(should_restart(&policy("unless-stopped", 0), 0, &st));
        assert!(!should_restart(&policy("no", 0), 1, &st));
        assert!(!should_restart(&policy("", 0), 1, &st));
        assert!(!should_restart(&policy("on-failure", 0), 0, &st));
        assert!(should_restart(&policy("on-failure", 0), 1, &st));
        let tried = State {
            restart_count: 2,
            ..Default::default()
        };
        assert!(!should_restart(&policy("on-failure", 2), 1, &tried));
        assert!(should_restart(&policy("on-failure", 3), 1, &tried));
        let stopped = State {
            stopping: true,
            ..Default::default()
        };
        assert!(!should_restart(&policy("always", 0), 0, &stopped));
    }

    #[test]
    fn the_backoff_doubles_to_a_minute_and_resets_after_a_long_run() {
        let mut b = Backoff::new();
        let short = Duration::from_secs(1);
        let gaps: Vec<u64> = (0..12).map(|_| b.next(short).as_millis() as u64).collect();
        assert_eq!(&gaps[..4], &[100, 200, 400, 800]);
        assert_eq!(*gaps.last().unwrap(), 60_000);
        assert_eq!(b.next(Duration::from_secs(10)).as_millis(), 100);
    }
}
