//! A container's attachments (`containers/<id>/network.json`): read, written, their leases
//! held between runs and given back at the end.

use super::*;
use crate::error::Result;
use crate::store::{self, Root};
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;
use std::path::PathBuf;

pub(crate) fn eth0() -> String {
    "eth0".into()
}

/// A container's place on one of its networks while it runs (`containers/<id>/network.json`
/// holds the list; the first is the network of its network mode, with the default route).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Attachment {
    /// The interface inside the container (`eth0`, `eth1`, …).
    #[serde(default = "eth0")]
    pub iface: String,
    /// More names for the container on this network (`--network-alias`, compose's).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Network id.
    pub network_id: String,
    /// Network name.
    pub network: String,
    /// The bridge interface.
    pub bridge: String,
    /// The host end of the veth pair.
    pub veth: String,
    /// Its address.
    pub ip: Ipv4Addr,
    /// Prefix length.
    pub prefix: u8,
    /// Default route.
    pub gateway: Ipv4Addr,
    /// MAC of eth0 (Docker's 02:42 + the address).
    pub mac: String,
    /// Published ports.
    pub ports: Vec<PortMap>,
    /// Where its network namespace is kept (bind mount).
    pub netns: PathBuf,
    /// The subnet, for firewall rules.
    pub subnet: String,
    /// No way out.
    pub internal: bool,
}

/// Every attachment recorded in a container directory, the primary one first (an older single
/// record reads as a list of one).
pub fn read_attachments(dir: &std::path::Path) -> Vec<Attachment> {
    let v: serde_json::Value = match store::read_json(&dir.join("network.json")) {
        Ok(v) => v,
        Err(_) => return Vec::new(),
    };
    match v {
        serde_json::Value::Array(_) => serde_json::from_value(v).unwrap_or_default(),
        other => serde_json::from_value(other)
            .map(|a| vec![a])
            .unwrap_or_default(),
    }
}

/// The primary attachment (the network of the network mode), if any.
pub fn read_attachment(dir: &std::path::Path) -> Option<Attachment> {
    read_attachments(dir).into_iter().next()
}

/// Records a container's attachments.
pub fn write_attachments(dir: &std::path::Path, list: &[Attachment]) -> Result<()> {
    store::write_json(&dir.join("network.json"), &list)
}

/// Keeps a restarting container's leases: between its runs the namespace is gone, so only the
/// lease files' age says they are held (see [`NetworkStore::lease`]).
pub fn hold_leases(root: &Root, dir: &std::path::Path) {
    let nets = NetworkStore::new(root);
    for a in read_attachments(dir) {
        if let Ok(net) = nets.get(&a.network_id) {
            let p = nets.leases(&net).join(a.ip.to_string());
            if let Ok(f) = std::fs::File::options().write(true).open(&p) {
                let _ = f.set_modified(std::time::SystemTime::now());
            }
        }
    }
}

/// Takes a container off its networks for good (it stopped, its shim died, or it is being
/// removed): published ports, namespace (with every interface in it), address leases, record.
/// Idempotent.
pub fn detach(root: &Root, dir: &std::path::Path, id: &str) {
    let list = read_attachments(dir);
    let Some(primary) = list.first() else {
        // Every network left while it ran: only the namespace is left to take away.
        attach::drop_netns(id);
        return;
    };
    attach::teardown(primary);
    let nets = NetworkStore::new(root);
    for a in &list {
        if let Ok(net) = nets.get(&a.network_id) {
            nets.release(&net, a.ip, id);
        }
    }
    let _ = std::fs::remove_file(dir.join("network.json"));
}

/// Docker's MAC for an address: 02:42 then the four address bytes.
pub fn mac_for(ip: Ipv4Addr) -> String {
    let o = ip.octets();
    format!("02:42:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3])
}
