//! `volume create|ls|inspect|rm|prune`.

use super::{VolumeCmd, VolumeCreateArgs, VolumeLsArgs};
use crate::format::{list_format, print_list};
use crate::{human, CmdResult};
use anyhow::anyhow;
use berth_engine::Engine;
use serde_json::json;
use std::collections::BTreeMap;

fn key_values(items: &[String], what: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let mut m = BTreeMap::new();
    for i in items {
        let (k, v) = i
            .split_once('=')
            .ok_or_else(|| anyhow!("invalid {what} '{i}': expected key=value"))?;
        m.insert(k.to_string(), v.to_string());
    }
    Ok(m)
}

/// Dispatches a `volume` subcommand.
pub fn run(engine: &Engine, cmd: VolumeCmd) -> CmdResult {
    match cmd {
        VolumeCmd::Create(a) => create(engine, a),
        VolumeCmd::Ls(a) => ls(engine, a),
        VolumeCmd::Inspect(a) => {
            crate::cli::system::inspect_each(&a.names, a.format.as_deref(), |n| {
                Ok(serde_json::to_value(engine.volumes.get(n)?).unwrap_or_default())
            })
        }
        VolumeCmd::Rm(a) => {
            let mut failed = false;
            for n in &a.names {
                match engine.remove_volume(n, a.force) {
                    Ok(()) => println!("{n}"),
                    Err(e) => {
                        eprintln!("Error response from daemon: {}", e.message);
                        failed = true;
                    }
                }
            }
            Ok(if failed { 1 } else { 0 })
        }
        VolumeCmd::Prune(a) => {
            let q = if a.all {
                "WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] "
            } else {
                "WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] "
            };
            if !a.force && !super::container::confirm(q) {
                return Ok(0);
            }
            let (removed, bytes) = engine.prune_volumes(a.all);
            super::container::print_deleted("Volumes", &removed, "");
            println!("Total reclaimed space: {}", human::size(bytes));
            Ok(0)
        }
    }
}

fn create(engine: &Engine, a: VolumeCreateArgs) -> CmdResult {
    let v = engine.create_volume(
        a.name.as_deref(),
        &a.driver,
        key_values(&a.label, "label")?,
        key_values(&a.opt, "option")?,
    )?;
    println!("{}", v.name);
    Ok(0)
}

fn ls(engine: &Engine, a: VolumeLsArgs) -> CmdResult {
    let pairs: Vec<(String, String)> = super::filters::filter_pairs(&a.filter)?;
    let mut rows = Vec::new();
    for v in engine.list_volumes(&pairs)? {
        let labels: Vec<String> = v.labels.iter().map(|(k, x)| format!("{k}={x}")).collect();
        rows.push(json!({"Driver": v.driver, "Name": v.name, "Mountpoint": v.mountpoint, "Scope": v.scope, "Labels": labels.join(","), "Size": "N/A"}));
    }
    if a.quiet {
        for r in &rows {
            println!("{}", r["Name"].as_str().unwrap_or(""));
        }
        return Ok(0);
    }
    let fmt = list_format(a.format.as_deref(), "table {{.Driver}}\t{{.Name}}");
    let headers = json!({"Driver": "DRIVER", "Name": "VOLUME NAME", "Mountpoint": "MOUNTPOINT", "Scope": "SCOPE", "Labels": "LABELS", "Size": "SIZE"});
    print_list(&fmt, &headers, &rows)
}
