//! `network create`, `rm`, `prune`, and who uses a network.

use crate::container::{ContainerRecord, State};
use crate::error::{Error, Result};
use crate::Engine;

impl Engine {
    /// `network create`.
    pub fn create_network(
        &self,
        req: &crate::network::CreateNetwork,
    ) -> Result<crate::network::NetworkRecord> {
        self.networks.create(req)
    }

    /// The networks `network ls` and `GET /networks` show, by Docker's filters: each key by
    /// any of its values, but every `label`; `dangling` is a user network no container uses
    /// (`false`: the predefined ones and those in use).
    pub fn list_networks(
        &self,
        filters: &[(String, String)],
    ) -> Result<Vec<crate::network::NetworkRecord>> {
        let probe = crate::network::NetworkRecord::default();
        for (k, v) in filters {
            if k != "dangling" {
                // Unknown keys are refused even when there is no network to test.
                crate::network::matches(&probe, k, v)?;
            }
        }
        let mut out = Vec::new();
        'net: for n in self.networks.list()? {
            let mut by_key: std::collections::BTreeMap<&str, Vec<bool>> = Default::default();
            for (k, v) in filters {
                let hit = if k == "dangling" {
                    let dangling = !n.predefined() && self.network_users(&n).is_empty();
                    dangling == matches!(v.as_str(), "true" | "1")
                } else {
                    crate::network::matches(&n, k, v)?
                };
                by_key.entry(k.as_str()).or_default().push(hit);
            }
            for (k, hits) in by_key {
                let keep = if k == "label" {
                    hits.iter().all(|h| *h)
                } else {
                    hits.iter().any(|h| *h)
                };
                if !keep {
                    continue 'net;
                }
            }
            out.push(n);
        }
        Ok(out)
    }

    /// Containers whose network mode or connected networks name `net` (by name or id).
    pub(crate) fn network_users(
        &self,
        net: &crate::network::NetworkRecord,
    ) -> Vec<(ContainerRecord, State)> {
        self.list()
            .into_iter()
            .filter(|(r, _)| {
                let m = r.host_config.network_name();
                m == Some(net.name.as_str())
                    || m == Some(net.id.as_str())
                    || r.host_config
                        .extra_networks
                        .iter()
                        .flatten()
                        .any(|x| x.name == net.name || x.name == net.id)
            })
            .collect()
    }

    /// The running containers of a network with their attachments to it (`network inspect`).
    pub fn network_containers(
        &self,
        net: &crate::network::NetworkRecord,
    ) -> Vec<(ContainerRecord, crate::network::Attachment)> {
        self.network_users(net)
            .into_iter()
            .filter_map(|(r, _)| {
                let a = crate::network::read_attachments(&self.containers.dir(&r.id))
                    .into_iter()
                    .find(|a| a.network_id == net.id)?;
                Some((r, a))
            })
            .collect()
    }

    /// `network rm`: refused for the predefined networks and while containers run on it.
    pub fn remove_network(&self, name: &str) -> Result<String> {
        let net = self.networks.get(name)?;
        if net.predefined() {
            return Err(Error::conflict(format!(
                "{} is a pre-defined network and cannot be removed",
                net.name
            )));
        }
        if self
            .network_users(&net)
            .iter()
            .any(|(_, st)| st.status.is_live())
        {
            return Err(Error::conflict(format!(
                "error while removing network: network {} id {} has active endpoints",
                net.name, net.id
            )));
        }
        if let Some((a, l, _)) = net.subnet() {
            crate::network::attach::remove_bridge(&net.bridge(), &format!("{a}/{l}"))?;
        }
        self.networks.remove(&net)?;
        Ok(net.name)
    }

    /// `network prune`: user networks no container refers to.
    pub fn prune_networks(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for net in self.networks.list()? {
            if !net.predefined() && self.network_users(&net).is_empty() {
                out.push(self.remove_network(&net.id)?);
            }
        }
        Ok(out)
    }
}
