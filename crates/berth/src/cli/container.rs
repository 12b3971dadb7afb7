//! Container commands other than run/create/start: ps, stop, restart, kill, rm, logs, wait,
//! rename, prune.

use super::{ContainersArgs, KillArgs, LogsArgs, PruneArgs, PsArgs, RenameArgs, RmArgs, StopArgs};
use crate::format::{list_format, print_list};
use crate::{human, CmdResult, Exit};
use anyhow::bail;
use berth_engine::container::{ContainerRecord, State, Status};
use berth_engine::Engine;
use serde_json::{json, Value};
use std::io::Write;

/// Runs `f` on each named container, printing the name on success and Docker's error lines on
/// failure; exit 1 if any failed.
fn each(
    engine: &Engine,
    names: &[String],
    mut f: impl FnMut(&str) -> berth_engine::Result<()>,
) -> CmdResult {
    let mut failed = false;
    for n in names {
        match engine.resolve(n).and_then(|id| f(&id)) {
            Ok(()) => println!("{n}"),
            Err(e) => {
                eprintln!("Error response from daemon: {}", e.message);
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

/// `berth stop`.
pub fn stop(engine: &Engine, a: StopArgs) -> CmdResult {
    let sig = a
        .signal
        .as_deref()
        .map(berth_engine::signal::parse)
        .transpose()?;
    each(engine, &a.containers, |id| {
        if let Some(s) = sig {
            // An explicit signal replaces the container's stop signal for this stop.
            let st = engine.state(id)?;
            if st.status == Status::Running {
                engine.kill(id, s)?;
            }
        }
        engine.stop(id, a.time)
    })
}

/// `berth restart`.
pub fn restart(engine: &Engine, a: StopArgs) -> CmdResult {
    each(engine, &a.containers, |id| engine.restart(id, a.time))
}

/// `berth pause` / `berth unpause`.
pub fn pause(engine: &Engine, a: ContainersArgs, freeze: bool) -> CmdResult {
    each(engine, &a.containers, |id| {
        if freeze {
            engine.pause(id)
        } else {
            engine.unpause(id)
        }
    })
}

/// `berth kill`.
pub fn kill(engine: &Engine, a: KillArgs) -> CmdResult {
    let sig = berth_engine::signal::parse(&a.signal)?;
    each(engine, &a.containers, |id| engine.kill(id, sig))
}

/// `berth rm`.
pub fn rm(engine: &Engine, a: RmArgs) -> CmdResult {
    each(engine, &a.containers, |id| {
        engine.remove(id, a.force, a.volumes)
    })
}

/// `berth wait`.
pub fn wait(engine: &Engine, a: ContainersArgs) -> CmdResult {
    let mut failed = false;
    for n in &a.containers {
        match engine
            .resolve(n)
            .and_then(|id| engine.wait_for(&id, berth_engine::WaitCondition::NotRunning))
        {
            Ok(code) => println!("{code}"),
            Err(e) => {
                eprintln!("Error response from daemon: {}", e.message);
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

/// `berth rename`.
pub fn rename(engine: &Engine, a: RenameArgs) -> CmdResult {
    let id = engine.resolve(&a.container)?;
    engine.rename(&id, &a.new_name)?;
    Ok(0)
}

/// `berth container prune`.
pub fn prune(engine: &Engine, a: PruneArgs) -> CmdResult {
    if !a.force && !confirm("WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ") {
        return Ok(0);
    }
    let (ids, bytes) = engine.prune_containers()?;
    print_deleted("Containers", &ids, "");
    println!("Total reclaimed space: {}", human::size(bytes));
    Ok(0)
}

/// A prune's "Deleted <what>:" block, as Docker prints it (nothing when nothing went).
pub fn print_deleted(what: &str, items: &[String], prefix: &str) {
    if items.is_empty() {
        return;
    }
    println!("Deleted {what}:");
    for i in items {
        println!("{prefix}{i}");
    }
    println!();
}

/// Asks on the terminal; anything but y/yes is no.
pub fn confirm(question: &str) -> bool {
    eprint!("{question}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    if std::io::stdin().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

pub use berth_engine::container::status_text;

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() > n {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    } else {
        s.to_string()
    }
}

/// The row object `ps --format` templates see (Docker's field names).
fn ps_row(engine: &Engine, rec: &ContainerRecord, st: &State, no_trunc: bool) -> Value {
    let mut cmd = rec.path.clone();
    for a in &rec.args {
        cmd.push(' ');
        cmd.push_str(a);
    }
    let cmd = if no_trunc { cmd } else { truncate(&cmd, 20) };
    // The name the user gave, if it still means this image; else the short id (Docker).
    let image = match engine.images.resolve(&rec.config.image) {
        Ok(img) if img.id == rec.image => rec.config.image.clone(),
        _ => {
            if no_trunc {
                rec.image.clone()
            } else {
                rec.image
                    .trim_start_matches("sha256:")
                    .chars()
                    .take(12)
                    .collect()
            }
        }
    };
    let labels: Vec<String> = rec
        .config
        .labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    // Docker's PORTS column: 0.0.0.0:8080->80/tcp, and exposed ports without a binding.
    let attachment = engine.network_attachment(&rec.id);
    let mut ports: Vec<String> = attachment
        .iter()
        .flat_map(|a| a.ports.iter())
        .map(|p| {
            let ip = if p.host_ip.is_empty() {
                "0.0.0.0"
            } else {
                &p.host_ip
            };
            format!("{ip}:{}->{}/{}", p.host_port, p.container_port, p.proto)
        })
        .collect();
    if attachment.is_some() {
        for k in rec.config.exposed_ports.iter().flat_map(|m| m.keys()) {
            if !ports.iter().any(|p| p.ends_with(&format!("->{k}"))) {
                ports.push(k.clone());
            }
        }
    }
    let mut networks: Vec<&str> = rec.host_config.network_name().into_iter().collect();
    networks.extend(
        rec.host_config
            .extra_networks
            .iter()
            .flatten()
            .map(|x| x.name.as_str()),
    );
    let networks = networks.join(",");
    json!({
        "ID": if no_trunc { rec.id.clone() } else { rec.id[..12].to_string() },
        "Image": image,
        "Command": format!("\"{cmd}\""),
        "CreatedAt": human::created_at(&rec.created),
        "RunningFor": format!("{} ago", human::duration(human::since(&rec.created))),
        "Ports": ports.join(", "),
        "State": st.status.as_str(),
        "Status": status_text(st),
        "Size": "0B",
        "Names": rec.name,
        "Labels": labels.join(","),
        "Mounts": "",
        "Networks": networks,
        "LocalVolumes": "0",
    })
}

/// `berth ps`.
pub fn ps(engine: &Engine, a: PsArgs) -> CmdResult {
    let filters = super::filters::filter_pairs(&a.filter)?;
    let last = if a.latest {
        Some(1)
    } else {
        a.last.filter(|n| *n > 0)
    };
    let query = berth_engine::container::filter::ListQuery {
        all: a.all,
        last: last.map(|n| n as usize),
        filters,
    };
    let rows: Vec<_> = engine
        .list_containers(&query)?
        .iter()
        .map(|(rec, st)| ps_row(engine, rec, st, a.no_trunc))
        .collect();
    if a.quiet {
        for r in &rows {
            println!("{}", r["ID"].as_str().unwrap_or(""));
        }
        return Ok(0);
    }
    let fmt = list_format(a.format.as_deref(), "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}");
    let headers = json!({
        "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT", "RunningFor": "CREATED",
        "Ports": "PORTS", "State": "STATE", "Status": "STATUS", "Size": "SIZE", "Names": "NAMES", "Labels": "LABELS",
        "Mounts": "MOUNTS", "Networks": "NETWORKS", "LocalVolumes": "LOCAL VOLUMES",
    });
    print_list(&fmt, &headers, &rows)
}

/// Docker's time argument (RFC 3339, Unix seconds, or a duration ago).
pub fn parse_time(s: &str) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    Ok(berth_engine::human::parse_time(s)?)
}

/// `berth logs`.
pub fn logs(engine: &Engine, a: LogsArgs) -> CmdResult {
    let id = engine.resolve(&a.container)?;
    let tail: Option<usize> = match a.tail.as_str() {
        "all" | "" => None,
        n => match n.parse::<i64>() {
            Ok(v) if v < 0 => None,
            Ok(v) => Some(v as usize),
            Err(_) => bail!("invalid value for \"tail\": {n}"),
        },
    };
    let q = berth_engine::LogQuery {
        since: a.since.as_deref().map(parse_time).transpose()?,
        until: a.until.as_deref().map(parse_time).transpose()?,
        tail,
        follow: a.follow,
    };
    let print = |e: &berth_engine::logs::LogEntry| {
        let line = if a.timestamps {
            format!("{} {}", berth_engine::logs::timestamp(e), e.log)
        } else {
            e.log.clone()
        };
        let r = if e.stream == "stderr" {
            let mut o = std::io::stderr().lock();
            o.write_all(line.as_bytes()).and_then(|_| o.flush())
        } else {
            let mut o = std::io::stdout().lock();
            o.write_all(line.as_bytes()).and_then(|_| o.flush())
        };
        r.is_ok()
    };
    engine.logs(&id, &q, print).map_err(|e| Exit {
        code: 1,
        message: format!("Error response from daemon: {e}"),
    })?;
    Ok(0)
}
