//! Networks: records (`networks/<id>.json`), the predefined `bridge`, `host` and `none`,
//! address leases, and each container's attachment (`containers/<id>/network.json`).
//! `records.rs` is the store and its leases, `subnet.rs` subnets and their host-wide
//! reservations, `ports.rs` published ports, `attachment.rs` a container's attachments;
//! `plan.rs`, `manage.rs` and `connect.rs` are the engine's network operations.
//!
//! The data plane lives beside: `netlink.rs` talks rtnetlink (bridges, veth pairs, addresses,
//! routes), `firewall.rs` keeps berth's own nftables table, `attach.rs` puts a container on its
//! network and takes it off again.

pub mod attach;
mod attachment;
pub mod connect;
pub mod dns;
pub mod firewall;
pub mod manage;
pub mod netlink;
pub mod plan;
mod ports;
mod records;
mod subnet;

pub use attachment::*;
pub use ports::*;
pub use records::*;
pub use subnet::*;

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// The default bridge's interface.
pub const DEFAULT_BRIDGE: &str = "berth0";

/// Docker's IPAM config entry.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct IpamConfig {
    /// CIDR, e.g. 172.18.0.0/16.
    pub subnet: String,
    /// The bridge's address, handed to containers as their default route.
    pub gateway: String,
    /// Where container addresses come from (a CIDR within the subnet); empty: the whole subnet.
    #[serde(rename = "IPRange", default, skip_serializing_if = "String::is_empty")]
    pub ip_range: String,
    /// Addresses kept out of the pool, by name (`--aux-address`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub auxiliary_addresses: BTreeMap<String, String>,
}

/// Docker's IPAM section.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Ipam {
    /// Always `default`.
    pub driver: String,
    /// Options (none used; absent, as dockerd shows none).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
    /// One entry (IPv4).
    pub config: Vec<IpamConfig>,
}

/// A network, in Docker's inspect shape.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkRecord {
    /// Name.
    pub name: String,
    /// 64 hex.
    pub id: String,
    /// RFC 3339.
    pub created: String,
    /// Always `local`.
    pub scope: String,
    /// `bridge`, `host` or `null`.
    pub driver: String,
    /// IPv6 is not offered.
    #[serde(rename = "EnableIPv6")]
    pub enable_ipv6: bool,
    /// Addresses.
    #[serde(rename = "IPAM")]
    pub ipam: Ipam,
    /// No way out of the network.
    pub internal: bool,
    /// Docker's field; always true for user networks.
    pub attachable: bool,
    /// Swarm only.
    pub ingress: bool,
    /// Driver options (`com.docker.network.bridge.name` names the bridge).
    pub options: BTreeMap<String, String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

impl NetworkRecord {
    /// The bridge interface of a bridge network.
    pub fn bridge(&self) -> String {
        self.options
            .get("com.docker.network.bridge.name")
            .cloned()
            .unwrap_or_else(|| format!("br-{}", &self.id[..12]))
    }

    /// The subnet and the gateway.
    pub fn subnet(&self) -> Option<(Ipv4Addr, u8, Ipv4Addr)> {
        let c = self.ipam.config.first()?;
        let (net, len) = parse_cidr(&c.subnet).ok()?;
        let gw = c.gateway.parse().ok()?;
        Some((net, len, gw))
    }

    /// True for the predefined networks, which cannot be removed.
    pub fn predefined(&self) -> bool {
        matches!(self.name.as_str(), "bridge" | "host" | "none")
    }
}

/// Docker's `network ls` filters on a record: name (substring), id (prefix), driver, scope,
/// type (builtin/custom), label[=value].
pub fn matches(net: &NetworkRecord, key: &str, val: &str) -> Result<bool> {
    Ok(match key {
        "name" => net.name.contains(val),
        "id" => net.id.starts_with(val),
        "driver" => net.driver == val,
        "scope" => net.scope == val,
        "type" => (val == "builtin") == net.predefined(),
        "label" => match val.split_once('=') {
            Some((k, x)) => net.labels.get(k).map(String::as_str) == Some(x),
            None => net.labels.contains_key(val),
        },
        other => return Err(Error::invalid(format!("invalid filter '{other}'"))),
    })
}

/// Why an IPv6 network is refused, said once for the flag, the API field and a v6 subnet.
fn ipv6_refused() -> Error {
    Error::invalid(
        "IPv6 is not supported by berth's networks yet: create the network without --ipv6 or an IPv6 subnet (IPv4 only, as Docker's default)",
    )
}
