//! berth's packet filtering and NAT: one nftables table of its own (`ip berth`), changed with
//! `nft -f -` batches that apply atomically. Other software's tables (Docker's, a site
//! firewall) are never touched; site rules for container traffic go in the `user` chain, which
//! berth creates once and never changes.
//!
//! Everything per network or per container is an element of a set or map, so it is added and
//! removed by value, with no rule handles to track:
//! - `bridges`, `subnets`: masquerade what leaves a berth subnet for anywhere but a berth bridge;
//! - `isolation` (bridge . bridge → drop): every pair of distinct berth bridges, so networks
//!   cannot reach each other (published ports excepted: those are for everyone);
//! - `internal`: bridges with no way out;
//! - `tcp_any`/`udp_any` (host port → address . port) and `tcp_ip`/`udp_ip` (host address .
//!   port → …): published ports, looked up for packets to a local address, from outside
//!   (prerouting) and from the host itself (output).
//!
//! Two guards keep the host's own traffic out of reach:
//! - `localnet`: published ports work from 127.0.0.1 because the bridges have `route_localnet`,
//!   which also lets a container (or anything routed in) send to the host's loopback services.
//!   Nothing that arrives on an interface other than `lo` may be addressed to 127.0.0.0/8 (the
//!   class of CVE-2020-8558; Docker 28 drops it per published port, this drops it all). The
//!   chain runs before conntrack's NAT, so replies to the host's own hairpin connections, still
//!   addressed to the bridge then, pass.
//! - `not_ours`: when berth is what turned IPv4 forwarding on, the host does not become a router
//!   for traffic that is neither from nor to a berth bridge (Docker sets FORWARD's policy to
//!   drop instead, which also cuts other software's forwarding).

use crate::error::{Error, Result};
use crate::network::PortMap;
use std::io::Write;
use std::process::{Command, Stdio};

const TABLE: &str = "
table ip berth {
  set bridges { type ifname; }
  set internal { type ifname; }
  set subnets { type ipv4_addr; flags interval; }
  map isolation { type ifname . ifname : verdict; }
  map tcp_any { type inet_service : ipv4_addr . inet_service; }
  map udp_any { type inet_service : ipv4_addr . inet_service; }
  map tcp_ip { type ipv4_addr . inet_service : ipv4_addr . inet_service; }
  map udp_ip { type ipv4_addr . inet_service : ipv4_addr . inet_service; }
  chain user { }
  chain prerouting { type nat hook prerouting priority dstnat; policy accept;
    fib daddr type local dnat ip to ip daddr . tcp dport map @tcp_ip
    fib daddr type local dnat ip to tcp dport map @tcp_any
    fib daddr type local dnat ip to ip daddr . udp dport map @udp_ip
    fib daddr type local dnat ip to udp dport map @udp_any
  }
  chain output { type nat hook output priority -100; policy accept;
    fib daddr type local dnat ip to ip daddr . tcp dport map @tcp_ip
    fib daddr type local dnat ip to tcp dport map @tcp_any
    fib daddr type local dnat ip to ip daddr . udp dport map @udp_ip
    fib daddr type local dnat ip to udp dport map @udp_any
  }
  chain postrouting { type nat hook postrouting priority srcnat; policy accept;
    ip saddr @subnets oifname != @bridges masquerade
    ip saddr 127.0.0.0/8 oifname @bridges masquerade
    ct status dnat iifname @bridges oifname @bridges masquerade
  }
  chain forward { type filter hook forward priority filter; policy accept;
    jump user
    ct status dnat accept
    iifname . oifname vmap @isolation
    iifname @internal oifname != @bridges drop
    oifname @internal iifname != @bridges drop
  }
}
";

/// What a table made by an older berth lacks: the two guards of the module's doc. Its presence
/// is known by the `localnet` chain.
const GUARDS: &str = "
add chain ip berth localnet { type filter hook prerouting priority raw; policy accept; }
add rule ip berth localnet iifname != \"lo\" ip daddr 127.0.0.0/8 drop
add chain ip berth not_ours
add rule ip berth forward jump not_ours
";

/// The `not_ours` rule, for when berth turned forwarding on.
const NOT_OURS: &str = "flush chain ip berth not_ours
add rule ip berth not_ours iifname != @bridges oifname != @bridges drop
";

/// Runs one `nft -f -` batch.
fn nft(batch: &str) -> Result<()> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::internal(format!("run nft (apt-get install nftables): {e}")))?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(batch.as_bytes())
        .map_err(|e| Error::internal(format!("nft: {e}")))?;
    let out = child
        .wait_with_output()
        .map_err(|e| Error::internal(format!("nft: {e}")))?;
    if !out.status.success() {
        return Err(Error::internal(format!(
            "nft: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// A host-wide lock: several berth roots share the one table.
fn lock() -> Result<crate::store::Lock> {
    std::fs::create_dir_all(crate::exec_root::DEFAULT)
        .map_err(|e| Error::internal(format!("create /run/berth: {e}")))?;
    crate::store::Lock::exclusive(&crate::exec_root::host_path("firewall.lock"))
}

fn nft_lists(what: &[&str]) -> bool {
    Command::new("nft")
        .arg("list")
        .args(what)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn table_exists() -> bool {
    nft_lists(&["table", "ip", "berth"])
}

/// The batch that brings the table up to date: made whole, or given the guards it lacks.
fn table_batch() -> String {
    if !table_exists() {
        format!("{TABLE}{GUARDS}")
    } else if !nft_lists(&["chain", "ip", "berth", "localnet"]) {
        GUARDS.to_string()
    } else {
        String::new()
    }
}

/// The host's IPv4 forwarding switch.
const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

/// True while IPv4 forwarding is off: then berth is what makes the host a router.
fn forwarding_off() -> bool {
    std::fs::read_to_string(IP_FORWARD).is_ok_and(|v| v.trim() == "0")
}

/// The berth bridges the table knows.
fn bridges() -> Vec<String> {
    let out = Command::new("nft")
        .args(["-j", "list", "set", "ip", "berth", "bridges"])
        .output();
    let Ok(out) = out else { return Vec::new() };
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x.get("set"))
        .flat_map(|s| s["elem"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| e.as_str().map(String::from))
        .collect()
}

/// The isolation map for this set of bridges: every ordered pair of distinct ones dropped.
fn isolation(bridges: &[String]) -> String {
    let mut b = String::from("flush map ip berth isolation\n");
    let pairs: Vec<String> = bridges
        .iter()
        .flat_map(|x| {
            bridges
                .iter()
                .filter(move |y| *y != x)
                .map(move |y| format!("\"{x}\" . \"{y}\" : drop"))
        })
        .collect();
    if !pairs.is_empty() {
        b.push_str(&format!(
            "add element ip berth isolation {{ {} }}\n",
            pairs.join(", ")
        ));
    }
    b
}

/// Makes sure a bridge's network is in the table (idempotent): its bridge, subnet, isolation
/// from the other berth bridges, and whether it is internal. Also turns on IP forwarding.
pub fn add_network(bridge: &str, subnet: &str, internal: bool) -> Result<()> {
    let _l = lock()?;
    let mut batch = table_batch();
    // The guard goes in before forwarding is on, so there is no moment without it.
    let turn_on = forwarding_off();
    if turn_on {
        batch.push_str(NOT_OURS);
    }
    let mut all = bridges();
    if all.iter().any(|b| b == bridge) && batch.is_empty() {
        return Ok(());
    }
    all.push(bridge.to_string());
    batch.push_str(&format!(
        "add element ip berth bridges {{ \"{bridge}\" }}\nadd element ip berth subnets {{ {subnet} }}\n"
    ));
    if internal {
        batch.push_str(&format!(
            "add element ip berth internal {{ \"{bridge}\" }}\n"
        ));
    }
    batch.push_str(&isolation(&all));
    nft(&batch)?;
    if turn_on {
        std::fs::write(IP_FORWARD, "1")
            .map_err(|e| Error::internal(format!("turn on IPv4 forwarding: {e}")))?;
    }
    Ok(())
}

/// Takes a network out of the table.
pub fn remove_network(bridge: &str, subnet: &str) -> Result<()> {
    let _l = lock()?;
    if !table_exists() {
        return Ok(());
    }
    let mut all = bridges();
    let known = all.iter().any(|b| b == bridge);
    all.retain(|b| b != bridge);
    let mut batch = isolation(&all);
    if known {
        batch.push_str(&format!(
            "delete element ip berth bridges {{ \"{bridge}\" }}\n"
        ));
    }
    // Separately: an element that is not there would fail the whole batch.
    let _ = nft(&format!("delete element ip berth subnets {{ {subnet} }}\n"));
    let _ = nft(&format!(
        "delete element ip berth internal {{ \"{bridge}\" }}\n"
    ));
    nft(&batch)
}

fn port_elements(ports: &[PortMap], ip: std::net::Ipv4Addr, with_value: bool) -> String {
    let mut b = String::new();
    for p in ports {
        let (map, key) = if p.host_ip.is_empty() {
            (format!("{}_any", p.proto), p.host_port.to_string())
        } else {
            (
                format!("{}_ip", p.proto),
                format!("{} . {}", p.host_ip, p.host_port),
            )
        };
        if with_value {
            b.push_str(&format!(
                "add element ip berth {map} {{ {key} : {ip} . {} }}\n",
                p.container_port
            ));
        } else {
            b.push_str(&format!("delete element ip berth {map} {{ {key} }}\n"));
        }
    }
    b
}

/// Publishes ports to a container's address. A host port another container already has is
/// refused, and so is one a host process listens on, as Docker's CLI says it.
pub fn publish(ports: &[PortMap], ip: std::net::Ipv4Addr) -> Result<()> {
    if ports.is_empty() {
        return Ok(());
    }
    for p in ports {
        let addr = if p.host_ip.is_empty() {
            "0.0.0.0"
        } else {
            p.host_ip.as_str()
        };
        let free = match p.proto.as_str() {
            "udp" => std::net::UdpSocket::bind((addr, p.host_port)).is_ok(),
            _ => std::net::TcpListener::bind((addr, p.host_port)).is_ok(),
        };
        if !free {
            return Err(Error::conflict(format!(
                "Bind for {addr}:{} failed: port is already allocated",
                p.host_port
            )));
        }
    }
    let _l = lock()?;
    nft(&port_elements(ports, ip, true)).map_err(|e| {
        if e.message.contains("File exists") {
            Error::conflict(format!(
                "Bind for {}:{} failed: port is already allocated",
                if ports[0].host_ip.is_empty() {
                    "0.0.0.0"
                } else {
                    &ports[0].host_ip
                },
                ports[0].host_port
            ))
        } else {
            e
        }
    })
}

/// The published-port elements currently in the table that send to `ip`, as (map, key).
fn elements_to(ip: std::net::Ipv4Addr) -> Vec<(String, String)> {
    let out = Command::new("nft")
        .args(["-j", "list", "table", "ip", "berth"])
        .output();
    let Ok(out) = out else { return Vec::new() };
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let want = ip.to_string();
    let mut found = Vec::new();
    for item in v["nftables"].as_array().into_iter().flatten() {
        let Some(map) = item.get("map") else { continue };
        let name = map["name"].as_str().unwrap_or("");
        if !name.ends_with("_any") && !name.ends_with("_ip") {
            continue;
        }
        for e in map["elem"].as_array().into_iter().flatten() {
            // [key, value]; a concatenation is {"concat": [a, b]}.
            let (Some(k), Some(val)) = (e.get(0), e.get(1)) else {
                continue;
            };
            let addr = val["concat"][0].as_str().unwrap_or("");
            if addr != want {
                continue;
            }
            let key = match &k["concat"] {
                serde_json::Value::Array(parts) => parts
                    .iter()
                    .map(|p| p.to_string().trim_matches('"').to_string())
                    .collect::<Vec<_>>()
                    .join(" . "),
                _ => k.to_string().trim_matches('"').to_string(),
            };
            found.push((name.to_string(), key));
        }
    }
    found
}

/// Takes a container's published ports away: only elements that still send to its address,
/// so a port another container holds (say, after this one's publish was refused) stays.
pub fn unpublish(ports: &[PortMap], ip: std::net::Ipv4Addr) {
    if ports.is_empty() {
        return;
    }
    if let Ok(_l) = lock() {
        for (map, key) in elements_to(ip) {
            let _ = nft(&format!("delete element ip berth {map} {{ {key} }}\n"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isolation_drops_every_pair_of_distinct_bridges() {
        let b = isolation(&["a".into(), "b".into(), "c".into()]);
        assert_eq!(b.matches(": drop").count(), 6);
        assert!(b.contains("\"a\" . \"b\" : drop") && b.contains("\"b\" . \"a\" : drop"));
        assert_eq!(isolation(&["a".into()]), "flush map ip berth isolation\n");
    }
}
