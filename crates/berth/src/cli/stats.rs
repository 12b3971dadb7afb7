//! `stats` and `update`.

use super::{StatsArgs, UpdateArgs};
use crate::format::{list_format, render_list};
use crate::{human, CmdResult, Exit};
use berth_engine::{ContainerStats, Engine, UpdateRequest};
use serde_json::{json, Value};
use std::io::Write;
use std::time::Duration;

use berth_engine::host_memory;

/// One table row from two samples (Docker's CPU % formula: container CPU time over host CPU
/// time, times the number of CPUs).
fn row(
    engine: &Engine,
    id: &str,
    name: &str,
    a: &ContainerStats,
    b: &ContainerStats,
    no_trunc: bool,
) -> Value {
    let ncpu = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as f64;
    let cpu_d = b.cgroup.cpu_ns.saturating_sub(a.cgroup.cpu_ns) as f64;
    let sys_d = b.system_ns.saturating_sub(a.system_ns) as f64;
    let cpu = if sys_d > 0.0 {
        cpu_d / sys_d * ncpu * 100.0
    } else {
        0.0
    };
    let host = host_memory();
    let limit = if b.cgroup.memory_limit == 0 || b.cgroup.memory_limit >= host {
        host
    } else {
        b.cgroup.memory_limit
    };
    let mem_pct = if limit > 0 {
        b.cgroup.memory as f64 / limit as f64 * 100.0
    } else {
        0.0
    };
    let _ = engine;
    json!({
        "Container": name,
        "ID": if no_trunc { id.to_string() } else { id[..12].to_string() },
        "Name": name,
        "CPUPerc": format!("{cpu:.2}%"),
        "MemUsage": format!("{} / {}", human::bytes(b.cgroup.memory), human::bytes(limit)),
        "MemPerc": format!("{mem_pct:.2}%"),
        "NetIO": format!("{} / {}", human::size(b.net_rx), human::size(b.net_tx)),
        "BlockIO": format!("{} / {}", human::size(b.cgroup.block_read), human::size(b.cgroup.block_write)),
        "PIDs": b.cgroup.pids.to_string(),
    })
}

/// `berth stats`.
pub fn stats(engine: &Engine, a: StatsArgs) -> CmdResult {
    let targets: Vec<(String, String)> = if a.containers.is_empty() {
        engine
            .list()
            .into_iter()
            .filter(|(_, st)| a.all || st.status.is_live())
            .map(|(r, _)| (r.id, r.name))
            .collect()
    } else {
        a.containers
            .iter()
            .map(|c| {
                engine
                    .resolve(c)
                    .and_then(|id| engine.record(&id))
                    .map(|r| (r.id, r.name))
            })
            .collect::<Result<_, _>>()?
    };
    let fmt = list_format(a.format.as_deref(), "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}");
    let headers = json!({
        "Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %", "MemUsage": "MEM USAGE / LIMIT",
        "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O", "PIDs": "PIDS",
    });
    let sample = || -> Vec<ContainerStats> {
        targets
            .iter()
            .map(|(id, _)| engine.stats(id).unwrap_or_default())
            .collect()
    };
    let mut prev = sample();
    // The first figure needs two samples; a short gap instead of Docker's two seconds.
    std::thread::sleep(Duration::from_millis(200));
    let tty = nix::unistd::isatty(std::io::stdout()).unwrap_or(false);
    loop {
        let now = sample();
        let rows: Vec<Value> = targets
            .iter()
            .zip(prev.iter().zip(&now))
            .map(|((id, name), (p, n))| row(engine, id, name, p, n, a.no_trunc))
            .collect();
        let text = render_list(&fmt, &headers, &rows).map_err(|e| Exit {
            code: 1,
            message: e.to_string(),
        })?;
        let mut out = std::io::stdout().lock();
        if tty && !a.no_stream {
            let _ = out.write_all(b"\x1b[2J\x1b[H");
        }
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
        if a.no_stream {
            return Ok(0);
        }
        prev = now;
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// `berth update`.
pub fn update(engine: &Engine, a: UpdateArgs) -> CmdResult {
    let l = a.limits.parse()?;
    let req = UpdateRequest {
        memory: l.memory,
        memory_swap: l.memory_swap,
        nano_cpus: l.nano_cpus,
        cpu_shares: l.cpu_shares,
        pids_limit: l.pids_limit,
        restart_policy: a
            .restart
            .as_deref()
            .map(|r| super::create_request::parse_restart(Some(r)))
            .transpose()?,
        cpuset_cpus: a.cpuset_cpus.clone(),
        cpuset_mems: a.cpuset_mems.clone(),
        blkio_weight: a.blkio_weight,
    };
    let mut failed = false;
    for c in &a.containers {
        match engine.resolve(c).and_then(|id| engine.update(&id, &req)) {
            Ok(()) => println!("{c}"),
            Err(e) => {
                eprintln!("Error response from daemon: {}", e.message);
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}
