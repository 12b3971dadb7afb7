//! `network create|ls|inspect|rm|prune` and `port`.

use super::{NetworkCmd, NetworkCreateArgs, PortArgs, VolumeLsArgs};
use crate::format::{list_format, print_list};
use crate::{CmdResult, Exit};
use anyhow::anyhow;
use berth_engine::network::CreateNetwork;
use berth_engine::Engine;
use serde_json::json;
use std::collections::BTreeMap;

fn key_values(items: &[String], what: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let mut m = BTreeMap::new();
    for i in items {
        let (k, v) = i.split_once('=').unwrap_or((i, ""));
        if k.is_empty() {
            return Err(anyhow!("invalid {what} '{i}'"));
        }
        m.insert(k.to_string(), v.to_string());
    }
    Ok(m)
}

fn ls(engine: &Engine, a: VolumeLsArgs) -> CmdResult {
    let pairs: Vec<(String, String)> = super::filters::filter_pairs(&a.filter)?;
    let mut rows = Vec::new();
    for n in engine.list_networks(&pairs)? {
        rows.push(json!({"ID": &n.id[..12], "Name": n.name, "Driver": n.driver, "Scope": n.scope,
                         "IPv6": "false", "Internal": n.internal.to_string(), "CreatedAt": n.created}));
    }
    if a.quiet {
        for r in &rows {
            println!("{}", r["ID"].as_str().unwrap_or(""));
        }
        return Ok(0);
    }
    let fmt = list_format(
        a.format.as_deref(),
        "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
    );
    let headers = json!({"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE",
                         "IPv6": "IPV6", "Internal": "INTERNAL", "CreatedAt": "CREATED AT"});
    print_list(&fmt, &headers, &rows)
}

fn create(engine: &Engine, a: NetworkCreateArgs) -> CmdResult {
    let net = engine.create_network(&CreateNetwork {
        name: a.name,
        driver: a.driver,
        subnet: a.subnet,
        gateway: a.gateway,
        ip_range: a.ip_range,
        aux_addresses: a
            .aux_address
            .iter()
            .map(|x| {
                x.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .ok_or_else(|| anyhow::anyhow!("invalid aux address {x}: expected name=ip"))
            })
            .collect::<anyhow::Result<_>>()?,
        internal: a.internal,
        options: key_values(&a.opt, "option")?,
        labels: key_values(&a.label, "label")?,
        ipv6: a.ipv6,
    })?;
    println!("{}", net.id);
    Ok(0)
}

/// Dispatches a `network` subcommand.
pub fn run(engine: &Engine, cmd: NetworkCmd) -> CmdResult {
    match cmd {
        NetworkCmd::Create(a) => create(engine, a),
        NetworkCmd::Ls(a) => ls(engine, a),
        NetworkCmd::Inspect(a) => {
            crate::cli::system::inspect_each(&a.names, a.format.as_deref(), |n| {
                Ok(engine.inspect_network(&engine.networks.get(n)?))
            })
        }
        NetworkCmd::Rm(a) => {
            let mut failed = false;
            for n in &a.names {
                match engine.remove_network(n) {
                    Ok(_) => println!("{n}"),
                    Err(e) if a.force && e.kind == berth_engine::ErrorKind::NotFound => {}
                    Err(e) => {
                        eprintln!("Error response from daemon: {}", e.message);
                        failed = true;
                    }
                }
            }
            Ok(if failed { 1 } else { 0 })
        }
        NetworkCmd::Connect(a) => {
            engine.connect_network_ip(&a.container, &a.network, &a.alias, a.ip.as_deref(), None)?;
            Ok(0)
        }
        NetworkCmd::Disconnect(a) => {
            engine.disconnect_network(&a.container, &a.network)?;
            Ok(0)
        }
        NetworkCmd::Prune(a) => {
            if !a.force
                && !super::container::confirm(
                    "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ",
                )
            {
                return Ok(0);
            }
            let removed = engine.prune_networks()?;
            if !removed.is_empty() {
                println!("Deleted Networks:");
                for r in removed {
                    println!("{r}");
                }
            }
            Ok(0)
        }
    }
}

/// `berth port CONTAINER [PRIVATE_PORT[/PROTO]]`.
pub fn port(engine: &Engine, a: PortArgs) -> CmdResult {
    let id = engine.resolve(&a.container)?;
    let maps = engine
        .network_attachment(&id)
        .map(|x| x.ports)
        .unwrap_or_default();
    let want = a.port.as_deref().map(|p| {
        let (n, proto) = p.split_once('/').unwrap_or((p, "tcp"));
        (n.to_string(), proto.to_string())
    });
    let mut found = false;
    for m in maps {
        let host = format!(
            "{}:{}",
            if m.host_ip.is_empty() {
                "0.0.0.0"
            } else {
                &m.host_ip
            },
            m.host_port
        );
        match &want {
            Some((n, proto)) => {
                if *n == m.container_port.to_string() && *proto == m.proto {
                    println!("{host}");
                    found = true;
                }
            }
            None => println!("{}/{} -> {host}", m.container_port, m.proto),
        }
    }
    if let (Some(p), false) = (&a.port, found) {
        return Err(Exit {
            code: 1,
            message: format!(
                "Error: No public port '{}' published for {}",
                if p.contains('/') {
                    p.clone()
                } else {
                    format!("{p}/tcp")
                },
                a.container
            ),
        }
        .into());
    }
    Ok(0)
}
