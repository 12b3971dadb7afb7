//! What network a starting container gets: its attachment, addresses and published ports.

use crate::container::ContainerRecord;
use crate::error::{Error, Result};
use crate::Engine;

/// The ports a starting container publishes on `net` (ephemeral host ports chosen now).
pub(crate) fn published_ports(
    rec: &ContainerRecord,
    net: &crate::network::NetworkRecord,
) -> Result<Vec<crate::network::PortMap>> {
    let hc = &rec.host_config;
    let mut ports = Vec::new();
    let mut bindings: Vec<(String, crate::container::PortBinding)> = Vec::new();
    for (key, list) in hc.port_bindings.iter().flatten() {
        for b in list {
            bindings.push((key.clone(), b.clone()));
        }
    }
    // An internal network has no way in either: no ports are published there (Docker's).
    if net.internal {
        bindings.clear();
    }
    if hc.publish_all_ports && !net.internal {
        for key in rec.config.exposed_ports.iter().flat_map(|m| m.keys()) {
            // berth's firewall has tcp and udp maps: -P publishes those.
            let sctp = crate::network::parse_port_key(key).is_ok_and(|(_, p)| p == "sctp");
            if !sctp && !bindings.iter().any(|(k, _)| k == key) {
                bindings.push((key.clone(), Default::default()));
            }
        }
    }
    for (key, b) in bindings {
        let (container_port, proto) = crate::network::parse_port_key(&key)?;
        if proto == "sctp" {
            return Err(Error::invalid(format!(
                "cannot publish {key}: berth publishes tcp and udp ports"
            )));
        }
        let host_ip = crate::network::parse_host_ip(&b.host_ip)?;
        let host_port: u16 = match b.host_port.as_str() {
            "" | "0" => ephemeral_port(proto)?,
            p => p
                .parse()
                .map_err(|_| Error::invalid(format!("invalid host port {p}")))?,
        };
        ports.push(crate::network::PortMap {
            proto: proto.to_string(),
            host_ip,
            host_port,
            container_port,
        });
    }
    Ok(ports)
}

/// A free host port for `-P` or `-p CONTAINERPORT` (the kernel's choice from its ephemeral
/// range, as Docker's allocator picks from the same range).
pub(crate) fn ephemeral_port(proto: &str) -> Result<u16> {
    let port = if proto == "udp" {
        std::net::UdpSocket::bind("0.0.0.0:0").and_then(|s| s.local_addr())
    } else {
        std::net::TcpListener::bind("0.0.0.0:0").and_then(|s| s.local_addr())
    };
    port.map(|a| a.port())
        .map_err(|e| Error::internal(format!("pick a host port: {e}")))
}

/// True when a network mode puts the container on a bridge network (the default one or a user
/// network), not none/host/container:.
pub(crate) fn network_mode_is_bridge(mode: &str) -> bool {
    !matches!(mode, "none" | "host") && !mode.starts_with("container:")
}

impl Engine {
    /// Where a starting container goes on its network: its bridge network, an address leased
    /// for it, published ports (ephemeral ones chosen now), written to `network.json` for the
    /// starter, which builds the namespace from it. None for none/host/container: modes.
    pub(crate) fn plan_network(
        &self,
        rec: &ContainerRecord,
    ) -> Result<Option<crate::network::Attachment>> {
        let dir = self.containers.dir(&rec.id);
        let hc = &rec.host_config;
        let name = match hc.network_name() {
            Some(name) if network_mode_is_bridge(name) => name,
            _ => {
                let _ = std::fs::remove_file(dir.join("network.json"));
                return Ok(None);
            }
        };
        let net = self.networks.get(name)?;
        if net.subnet().is_none() {
            return Err(Error::invalid(format!("network {name} has no subnet")));
        }
        // A container still running on that lease (a crash leftover) holds it; gone ones not.
        let live = |owner: &str| crate::exec_root::netns_path(owner).exists();
        let wanted = hc
            .ipv4_address
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse()
                    .map_err(|_| Error::invalid(format!("invalid IPv4 address: {s}")))
            })
            .transpose()?;
        // Parsed before the lease, so a bad port leaves no lease behind.
        let ports = published_ports(rec, &net)?;
        let ip = self.networks.lease(&net, &rec.id, wanted, &live)?;
        let mut primary = self.attachment_for(&rec.id, &net, ip, 0)?;
        primary.ports = ports;
        primary.aliases = hc.aliases.clone().unwrap_or_default();
        if let Some(mac) = &hc.mac_address {
            primary.mac = mac.to_lowercase();
        }
        let mut list = vec![primary.clone()];
        // Networks joined with `network connect`: eth1, eth2, … (a network that is gone is
        // skipped, as Docker starts the container without it… after saying so in its log).
        for (n, extra) in hc.extra_networks.iter().flatten().enumerate() {
            let Ok(net) = self.networks.get(&extra.name) else {
                continue;
            };
            let wanted = extra
                .ip
                .as_deref()
                .map(|s| {
                    s.parse()
                        .map_err(|_| Error::invalid(format!("invalid IPv4 address: {s}")))
                })
                .transpose()?;
            let ip = match self.networks.lease(&net, &rec.id, wanted, &live) {
                Ok(ip) => ip,
                Err(e) => {
                    for a in &list {
                        if let Ok(n) = self.networks.get(&a.network_id) {
                            self.networks.release(&n, a.ip, &rec.id);
                        }
                    }
                    return Err(e);
                }
            };
            let mut a = self.attachment_for(&rec.id, &net, ip, n + 1)?;
            a.aliases = extra.aliases.clone();
            if let Some(m) = extra.endpoint.as_ref().and_then(|e| e.mac_address.as_ref()) {
                a.mac = m.to_lowercase();
            }
            list.push(a);
        }
        crate::network::write_attachments(&dir, &list)?;
        Ok(Some(primary))
    }

    /// The attachment of container `id` to `net` with address `ip` as its `n`th interface.
    pub(crate) fn attachment_for(
        &self,
        id: &str,
        net: &crate::network::NetworkRecord,
        ip: std::net::Ipv4Addr,
        n: usize,
    ) -> Result<crate::network::Attachment> {
        let (subnet, prefix, gateway) = net
            .subnet()
            .ok_or_else(|| Error::invalid(format!("network {} has no subnet", net.name)))?;
        Ok(crate::network::Attachment {
            iface: format!("eth{n}"),
            aliases: Vec::new(),
            network_id: net.id.clone(),
            network: net.name.clone(),
            bridge: net.bridge(),
            // Host-side names stay within the kernel's 15 characters.
            veth: if n == 0 {
                format!("veth{}", &id[..8])
            } else {
                format!("v{n}x{}", &id[..8])
            },
            ip,
            prefix,
            gateway,
            mac: crate::network::mac_for(ip),
            ports: Vec::new(),
            netns: crate::exec_root::netns_path(id),
            subnet: format!("{subnet}/{prefix}"),
            internal: net.internal,
        })
    }
}
