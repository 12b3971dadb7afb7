//! `network connect` and `disconnect`, on running and stopped containers.

use crate::container::validate::validate_mac;
use crate::error::{Error, Result};
use crate::Engine;

impl Engine {
    /// `network connect`: the container joins one more network; a running one gets its next
    /// interface at once, a stopped one at its next start. Already on it: only its aliases
    /// grow.
    pub fn connect_network(
        &self,
        container: &str,
        network: &str,
        aliases: &[String],
    ) -> Result<()> {
        self.connect_network_ip(container, network, aliases, None, None)
    }

    /// [`Engine::connect_network`] with the address to take (`--ip`) and what else the client
    /// said of the endpoint (its MAC address is used; the rest is shown back).
    pub fn connect_network_ip(
        &self,
        container: &str,
        network: &str,
        aliases: &[String],
        ip: Option<&str>,
        endpoint: Option<crate::container::EndpointConfig>,
    ) -> Result<()> {
        if let Some(mac) = endpoint.as_ref().and_then(|e| e.mac_address.as_deref()) {
            validate_mac(mac)?;
        }
        let mac = endpoint.as_ref().and_then(|e| e.mac_address.clone());
        let id = self.resolve(container)?;
        let net = self.networks.get(network)?;
        let lock = self.containers.lock(&id)?;
        let mut rec = self.record(&id)?;
        let live = self.state_locked(&lock)?.status.is_live();
        let hc = &mut rec.host_config;
        // A container disconnected from every network (docker-compose disconnects and connects
        // again to set aliases) takes this one as its network mode's.
        if hc.disconnected {
            hc.disconnected = false;
            hc.network_mode = net.name.clone();
            hc.aliases = (!aliases.is_empty()).then(|| aliases.to_vec());
            hc.ipv4_address = ip.map(String::from);
            hc.endpoint = endpoint;
        } else {
            // Docker's refusals, word for word: none, host and another container's stack are a
            // network mode of their own, not a network beside others.
            let shared = |m: &str| m == "host" || m.starts_with("container:");
            if shared(&hc.network_mode) || net.driver == "host" {
                return Err(Error::invalid(
                    "container sharing network namespace with another container or host cannot be connected to any other network",
                ));
            }
            if hc.network_mode == "none" || net.driver == "null" {
                return Err(Error::invalid(
                    "container cannot be connected to multiple networks with one of the networks in private (none) mode",
                ));
            }
            let primary = hc.network_name().unwrap_or("bridge").to_string();
            let extras = hc.extra_networks.get_or_insert_with(Vec::new);
            // Connected already: Docker refuses (compose disconnects first to change aliases).
            if primary == net.name
                || primary == net.id
                || extras
                    .iter()
                    .any(|x| x.name == net.name || x.name == net.id)
            {
                return Err(Error::conflict(format!(
                    "endpoint with name {} already exists in network {}",
                    rec.name, net.name
                )));
            }
            extras.push(crate::container::ExtraNetwork {
                name: net.name.clone(),
                aliases: aliases.to_vec(),
                ip: ip.map(String::from),
                endpoint,
            });
        }
        let dir = self.containers.dir(&id);
        if live {
            let mut list = crate::network::read_attachments(&dir);
            if !crate::exec_root::netns_path(&id).exists() {
                return Err(Error::conflict(format!(
                    "container {id} has no network namespace to add an interface to"
                )));
            }
            // The first interface name free in the container (eth0 again after its network
            // mode's network was left).
            let n = (0..)
                .find(|k| !list.iter().any(|a| a.iface == format!("eth{k}")))
                .unwrap_or(0);
            let live = |owner: &str| crate::exec_root::netns_path(owner).exists();
            let wanted = ip
                .map(|s| {
                    s.parse()
                        .map_err(|_| Error::invalid(format!("invalid IPv4 address: {s}")))
                })
                .transpose()?;
            let addr = self.networks.lease(&net, &id, wanted, &live)?;
            let mut a = self.attachment_for(&id, &net, addr, n)?;
            a.aliases = aliases.to_vec();
            if let Some(m) = &mac {
                a.mac = m.to_lowercase();
            }
            if let Err(e) = crate::network::attach::join_running(&a) {
                self.networks.release(&net, addr, &id);
                return Err(e);
            }
            list.push(a);
            crate::network::write_attachments(&dir, &list)?;
        }
        self.containers.write_record(&rec)?;
        self.networks.emit(&net, "connect", &id);
        Ok(())
    }

    /// `network disconnect`: the container leaves a network (a running one loses that interface
    /// at once). Leaving the network of its network mode is for stopped containers: another
    /// connected network takes its place, or none.
    pub fn disconnect_network(&self, container: &str, network: &str) -> Result<()> {
        let id = self.resolve(container)?;
        let net = self.networks.get(network)?;
        let lock = self.containers.lock(&id)?;
        let mut rec = self.record(&id)?;
        let running = self.state_locked(&lock)?.status.is_live();
        let hc = &mut rec.host_config;
        let primary = hc.network_name().unwrap_or_default().to_string();
        if net.driver == "host" || hc.network_mode == "host" {
            return Err(Error::invalid(
                "container cannot be disconnected from host network or connected to host network",
            ));
        }
        // A running container loses the interface at once: its published ports, its veth
        // (the container's side goes with it) and its lease.
        let leave_now = |id: &str| -> Result<()> {
            let dir = self.containers.dir(id);
            let mut list = crate::network::read_attachments(&dir);
            if let Some(k) = list.iter().position(|a| a.network_id == net.id) {
                let a = list.remove(k);
                crate::network::firewall::unpublish(&a.ports, a.ip);
                crate::network::attach::leave_running(&a)?;
                self.networks.release(&net, a.ip, id);
                crate::network::write_attachments(&dir, &list)?;
            }
            Ok(())
        };
        let extras = hc.extra_networks.get_or_insert_with(Vec::new);
        if let Some(pos) = extras
            .iter()
            .position(|x| x.name == net.name || x.name == net.id)
        {
            extras.remove(pos);
            if running {
                leave_now(&id)?;
            }
        } else if (primary == net.name || primary == net.id) && !hc.disconnected {
            if running {
                leave_now(&id)?;
            }
            match (!extras.is_empty()).then(|| extras.remove(0)) {
                Some(next) => {
                    hc.network_mode = next.name;
                    hc.aliases = (!next.aliases.is_empty()).then_some(next.aliases);
                    hc.ipv4_address = next.ip;
                }
                None => {
                    hc.disconnected = true;
                    hc.aliases = None;
                    hc.ipv4_address = None;
                }
            }
        } else {
            return Err(Error::invalid(format!(
                "container {id} is not connected to network {}",
                net.name
            )));
        }
        self.containers.write_record(&rec)?;
        self.networks.emit(&net, "disconnect", &id);
        Ok(())
    }
}
