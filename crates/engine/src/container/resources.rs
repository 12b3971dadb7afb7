//! `update` and `stats`: a running container's cgroup limits and counters.

use crate::container::spec;
use crate::container::validate::validate_host_config;
use crate::error::{Error, Result};
use crate::Engine;
use std::time::Instant;

/// The host's memory in bytes (`MemTotal` of /proc/meminfo), 0 when unreadable: the limit
/// `stats` shows for unlimited containers and `info`'s MemTotal.
pub fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("MemTotal:")
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
        })
        .unwrap_or(0)
        * 1024
}

/// `update`'s changes; None leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub struct UpdateRequest {
    /// Memory limit in bytes.
    pub memory: Option<i64>,
    /// Memory plus swap limit.
    pub memory_swap: Option<i64>,
    /// CPUs × 1e9.
    pub nano_cpus: Option<i64>,
    /// Relative CPU weight.
    pub cpu_shares: Option<i64>,
    /// Maximum number of processes.
    pub pids_limit: Option<i64>,
    /// Restart policy.
    pub restart_policy: Option<crate::container::RestartPolicy>,
    /// CPUs allowed.
    pub cpuset_cpus: Option<String>,
    /// Memory nodes allowed.
    pub cpuset_mems: Option<String>,
    /// Block I/O weight.
    pub blkio_weight: Option<u16>,
}

/// One sample of a container's resource usage.
#[derive(Debug, Clone, Copy)]
pub struct ContainerStats {
    /// cgroup counters.
    pub cgroup: berth_runtime::cgroups::Stats,
    /// Bytes received on its interfaces (loopback aside).
    pub net_rx: u64,
    /// Bytes sent.
    pub net_tx: u64,
    /// When the sample was taken.
    pub at: Instant,
    /// Host CPU time (all CPUs) at that moment, ns, for Docker's CPU % formula.
    pub system_ns: u64,
}

impl Default for ContainerStats {
    fn default() -> Self {
        ContainerStats {
            cgroup: Default::default(),
            net_rx: 0,
            net_tx: 0,
            at: Instant::now(),
            system_ns: system_cpu_ns(),
        }
    }
}

/// Total CPU time of the host from /proc/stat, nanoseconds.
pub(crate) fn system_cpu_ns() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            s.lines().next().map(|l| {
                l.split_whitespace()
                    .skip(1)
                    .filter_map(|v| v.parse::<u64>().ok())
                    .sum::<u64>()
            })
        })
        .map(|ticks| ticks * 1_000_000_000 / hz)
        .unwrap_or(0)
}

impl Engine {
    /// `docker update`: new limits (and restart policy) for a container, applied at once when
    /// it runs and kept for its next starts.
    pub fn update(&self, id: &str, req: &UpdateRequest) -> Result<()> {
        let lock = self.containers.lock(id)?;
        let mut rec = self.record(id)?;
        let mut hc = rec.host_config.clone();
        if let Some(m) = req.memory {
            hc.memory = m;
        }
        if let Some(m) = req.memory_swap {
            hc.memory_swap = m;
        }
        if let Some(c) = req.nano_cpus {
            hc.nano_cpus = c;
        }
        if let Some(c) = req.cpu_shares {
            hc.cpu_shares = c;
        }
        if let Some(p) = req.pids_limit {
            hc.pids_limit = Some(p);
        }
        if let Some(c) = &req.cpuset_cpus {
            hc.cpuset_cpus = c.clone();
        }
        if let Some(m) = &req.cpuset_mems {
            hc.cpuset_mems = m.clone();
        }
        if let Some(w) = req.blkio_weight {
            hc.blkio_weight = w;
        }
        if let Some(r) = &req.restart_policy {
            if rec.host_config.auto_remove && !r.name.is_empty() && r.name != "no" {
                return Err(Error::invalid("Restart policy cannot be updated because AutoRemove is enabled for the container"));
            }
            hc.restart_policy = r.clone();
        }
        validate_host_config(&hc)?;
        let st = self.state_locked(&lock)?;
        if st.status.is_live() {
            let res: oci_spec::runtime::LinuxResources = serde_json::from_value(spec::limits(&hc))
                .map_err(|e| Error::internal(e.to_string()))?;
            self.cgroup(id)
                .update(&res)
                .map_err(|e| Error::invalid(format!("Cannot update container {id}: {e}")))?;
        }
        rec.host_config = hc;
        self.containers.write_record(&rec)?;
        self.emit(&rec, "update", &[]);
        Ok(())
    }

    /// Resource usage of a running container: cgroup counters plus its network interfaces.
    pub fn stats(&self, id: &str) -> Result<ContainerStats> {
        let st = self.state(id)?;
        if !st.status.is_live() {
            return Ok(ContainerStats::default());
        }
        let cg = self.cgroup(id).stats();
        let (mut rx, mut tx) = (0, 0);
        // The container's own network namespace, seen through its init.
        for l in std::fs::read_to_string(format!("/proc/{}/net/dev", st.pid))
            .unwrap_or_default()
            .lines()
            .skip(2)
        {
            let Some((name, rest)) = l.split_once(':') else {
                continue;
            };
            if name.trim() == "lo" {
                continue;
            }
            let f: Vec<u64> = rest
                .split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect();
            if f.len() >= 9 {
                rx += f[0];
                tx += f[8];
            }
        }
        Ok(ContainerStats {
            cgroup: cg,
            net_rx: rx,
            net_tx: tx,
            at: Instant::now(),
            system_ns: system_cpu_ns(),
        })
    }
}
