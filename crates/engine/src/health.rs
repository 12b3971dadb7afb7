//! Healthchecks: Docker's `HEALTHCHECK` settings, the probe a shim runs (an exec in the
//! container, in a forked child so none of it weighs on the shim), and `State.Health`.

use crate::store;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

/// How long an interval is when the image and flags set none (Docker's defaults).
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_RETRIES: i64 = 3;
/// Docker keeps this many probe results.
const KEEP: usize = 5;
/// And this much of each probe's output.
const MAX_OUTPUT: usize = 4096;

/// A healthcheck, resolved from the image's and the user's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// The probe command (argv).
    pub cmd: Vec<String>,
    /// Between probes.
    pub interval: Duration,
    /// A probe running longer fails.
    pub timeout: Duration,
    /// Failures during this period do not count.
    pub start_period: Duration,
    /// Between probes during the start period.
    pub start_interval: Duration,
    /// Consecutive failures that make the container unhealthy.
    pub retries: i64,
}

fn ns(v: &Value, key: &str) -> Option<Duration> {
    v.get(key)
        .and_then(Value::as_i64)
        .filter(|n| *n > 0)
        .map(|n| Duration::from_nanos(n as u64))
}

/// The healthcheck of a container config's `Healthcheck` value, if it has a live one.
pub fn check(hc: Option<&Value>) -> Option<Check> {
    let v = hc?;
    let test: Vec<String> = v
        .get("Test")?
        .as_array()?
        .iter()
        .filter_map(|x| x.as_str().map(String::from))
        .collect();
    let cmd = match test.first().map(String::as_str) {
        Some("CMD") => test[1..].to_vec(),
        Some("CMD-SHELL") => vec!["/bin/sh".into(), "-c".into(), test[1..].join(" ")],
        _ => return None, // NONE, or inherit with nothing to inherit
    };
    if cmd.is_empty() {
        return None;
    }
    Some(Check {
        cmd,
        interval: ns(v, "Interval").unwrap_or(DEFAULT_INTERVAL),
        timeout: ns(v, "Timeout").unwrap_or(DEFAULT_TIMEOUT),
        start_period: ns(v, "StartPeriod").unwrap_or_default(),
        start_interval: ns(v, "StartInterval").unwrap_or(DEFAULT_START_INTERVAL),
        retries: v
            .get("Retries")
            .and_then(Value::as_i64)
            .filter(|r| *r > 0)
            .unwrap_or(DEFAULT_RETRIES),
    })
}

/// Parses Go durations as Docker's flags take them: `30s`, `1m30s`, `500ms`, `2h`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration {s:?}");
    let mut total = 0f64;
    let mut rest = s.trim();
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .ok_or_else(bad)?;
        let num: f64 = rest[..n].parse().map_err(|_| bad())?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..u] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += num * mult;
        rest = &rest[u..];
    }
    Ok(Duration::from_secs_f64(total))
}

/// One probe's result.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Probe {
    /// RFC 3339.
    pub start: String,
    /// RFC 3339.
    pub end: String,
    /// 0 healthy, 1 unhealthy, -1 could not run or timed out.
    pub exit_code: i64,
    /// Output, truncated.
    pub output: String,
}

/// Docker's `State.Health`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    /// `starting`, `healthy` or `unhealthy`.
    pub status: String,
    /// Consecutive failures.
    pub failing_streak: i64,
    /// The last five probes.
    pub log: Vec<Probe>,
}

impl Health {
    /// A fresh health record for a container that just started.
    pub fn starting() -> Health {
        Health {
            status: "starting".into(),
            failing_streak: 0,
            log: Vec::new(),
        }
    }

    /// Records a probe; returns true if the status changed.
    pub fn record(&mut self, p: Probe, check: &Check, in_start_period: bool) -> bool {
        let before = self.status.clone();
        if p.exit_code == 0 {
            self.failing_streak = 0;
            self.status = "healthy".into();
        } else if !in_start_period {
            self.failing_streak += 1;
            if self.failing_streak >= check.retries {
                self.status = "unhealthy".into();
            }
        }
        self.log.push(p);
        if self.log.len() > KEEP {
            self.log.remove(0);
        }
        self.status != before
    }
}

/// Runs the probe in the container (an exec with its output captured), bounded by the timeout.
/// Called in a child process forked by the shim.
pub fn probe(root: &std::path::Path, id: &str, check: &Check) -> Probe {
    let start = store::now_rfc3339();
    let done = |code: i64, output: String| Probe {
        start: start.clone(),
        end: store::now_rfc3339(),
        exit_code: code,
        output,
    };
    let engine = match crate::Engine::open(root) {
        Ok(e) => e,
        Err(e) => return done(-1, e.to_string()),
    };
    let Ok((r, w)) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) else {
        return done(-1, "pipe".into());
    };
    let req = crate::ExecRequest {
        cmd: check.cmd.clone(),
        stdio: [
            None,
            Some(std::os::fd::AsRawFd::as_raw_fd(&w)),
            Some(std::os::fd::AsRawFd::as_raw_fd(&w)),
        ],
        ..Default::default()
    };
    let pid = match engine.exec(id, &req) {
        Ok(p) => p,
        Err(e) => return done(-1, e.message),
    };
    drop(w);
    // Output is read on a thread so a chatty probe cannot block on a full pipe.
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::fs::File::from(r), &mut out);
        out
    });
    // SAFETY: pidfd_open on our child.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: poll on one descriptor.
    let exited = fd >= 0
        && unsafe {
            libc::poll(
                &mut p,
                1,
                check.timeout.as_millis().min(i32::MAX as u128) as i32,
            )
        } > 0;
    if !exited {
        // SAFETY: killing our own child.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let mut status = 0;
    // SAFETY: reaping our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    let mut out = reader.join().unwrap_or_default();
    out.truncate(MAX_OUTPUT);
    let output = String::from_utf8_lossy(&out).into_owned();
    if !exited {
        return done(
            -1,
            format!("Health check exceeded timeout ({:?})", check.timeout),
        );
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status) as i64
    } else {
        -1
    };
    done(if code == 0 { 0 } else { 1 }, output)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_checks() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("5x").is_err());
        let c = check(Some(&serde_json::json!({"Test": ["CMD-SHELL", "exit 1"], "Interval": 1_000_000_000, "Retries": 2}))).unwrap();
        assert_eq!(c.cmd, vec!["/bin/sh", "-c", "exit 1"]);
        assert_eq!(
            (c.interval, c.retries, c.timeout),
            (Duration::from_secs(1), 2, DEFAULT_TIMEOUT)
        );
        assert!(check(Some(&serde_json::json!({"Test": ["NONE"]}))).is_none());
        let mut h = Health::starting();
        let fail = || Probe {
            start: String::new(),
            end: String::new(),
            exit_code: 1,
            output: String::new(),
        };
        assert!(
            !h.record(fail(), &c, true),
            "failures in the start period do not count"
        );
        assert!(!h.record(fail(), &c, false));
        assert!(h.record(fail(), &c, false));
        assert_eq!((h.status.as_str(), h.failing_streak), ("unhealthy", 2));
        for _ in 0..6 {
            h.record(fail(), &c, false);
        }
        assert_eq!(h.log.len(), 5);
    }
}
