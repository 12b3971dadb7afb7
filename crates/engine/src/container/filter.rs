//! Docker's container list (`ps`, `GET /containers/json`): which containers, in which order,
//! under which filters — one reading for the CLI and the API.

use super::{ContainerRecord, State, Status};
use crate::{Engine, Error, Result};

/// What a container list asks for.
#[derive(Debug, Default, Clone)]
pub struct ListQuery {
    /// Stopped ones too (`-a`, `all=1`).
    pub all: bool,
    /// Only the `n` newest, stopped ones included (`-n`, `-l`, `limit`).
    pub last: Option<usize>,
    /// `(key, value)` filters: values of one key are alternatives (labels must all match),
    /// different keys must all match.
    pub filters: Vec<(String, String)>,
}

/// The keys Docker knows; any other is refused.
const KEYS: &[&str] = &[
    "ancestor", "before", "exited", "expose", "health", "id", "is-task", "label", "name",
    "network", "publish", "since", "status", "volume",
];

/// Docker's container states, as the `status` filter takes them.
const STATES: &[&str] = &[
    "created",
    "restarting",
    "running",
    "removing",
    "paused",
    "exited",
    "dead",
];

impl Engine {
    /// The containers `q` selects, newest first.
    pub fn list_containers(&self, q: &ListQuery) -> Result<Vec<(ContainerRecord, State)>> {
        for (k, v) in &q.filters {
            if !KEYS.contains(&k.as_str()) {
                return Err(Error::invalid(format!("invalid filter '{k}'")));
            }
            if k == "status" && !STATES.contains(&v.as_str()) {
                return Err(Error::invalid(format!("invalid filter 'status={v}'")));
            }
            if k == "health" && !matches!(v.as_str(), "starting" | "healthy" | "unhealthy" | "none")
            {
                return Err(Error::invalid(format!("invalid filter 'health={v}'")));
            }
        }
        let list: Vec<_> = self
            .list()
            .into_iter()
            .filter(|(r, _)| !r.build_step)
            .collect();
        // before/since name containers; they bound the list by creation time.
        let created_of = |name: &str| -> Result<String> {
            let id = self.resolve(name)?;
            Ok(self.record(&id)?.created)
        };
        let mut before = None;
        let mut since = None;
        for (k, v) in &q.filters {
            match k.as_str() {
                "before" => before = Some(created_of(v)?),
                "since" => since = Some(created_of(v)?),
                _ => {}
            }
        }
        // Docker: a status or exited filter looks at every container.
        let all = q.all
            || q.last.is_some()
            || q.filters
                .iter()
                .any(|(k, _)| k == "status" || k == "exited");
        let mut out = Vec::new();
        for (rec, st) in list {
            if !all && !st.status.is_live() {
                continue;
            }
            if before.as_ref().is_some_and(|b| rec.created >= *b)
                || since.as_ref().is_some_and(|s| rec.created <= *s)
            {
                continue;
            }
            if !self.matches_all(&rec, &st, &q.filters) {
                continue;
            }
            out.push((rec, st));
            if q.last.is_some_and(|n| out.len() >= n) {
                break;
            }
        }
        Ok(out)
    }

    /// Every filter key matched (labels: every value; other keys: any value).
    fn matches_all(&self, rec: &ContainerRecord, st: &State, filters: &[(String, String)]) -> bool {
        let mut keys: Vec<&str> = filters.iter().map(|(k, _)| k.as_str()).collect();
        keys.sort_unstable();
        keys.dedup();
        keys.into_iter()
            .filter(|k| !matches!(*k, "before" | "since"))
            .all(|k| {
                let mut vals = filters.iter().filter(|(fk, _)| fk == k).map(|(_, v)| v);
                if k == "label" {
                    vals.all(|v| self.matches(rec, st, k, v))
                } else {
                    vals.any(|v| self.matches(rec, st, k, v))
                }
            })
    }

    /// One filter against one container.
    fn matches(&self, rec: &ContainerRecord, st: &State, key: &str, val: &str) -> bool {
        let hc = &rec.host_config;
        match key {
            "status" => st.status.as_str() == val,
            "name" => rec.name.contains(val.trim_start_matches('/')),
            "id" => rec.id.starts_with(val),
            "exited" => {
                st.status == Status::Exited && val.parse::<i32>().ok() == Some(st.exit_code)
            }
            "label" => {
                let (k, v) = match val.split_once('=') {
                    Some((k, v)) => (k, Some(v)),
                    None => (val, None),
                };
                match rec.config.labels.as_ref().and_then(|l| l.get(k)) {
                    Some(x) => v.is_none_or(|v| v == x),
                    None => false,
                }
            }
            "ancestor" => match self.images.resolve(val) {
                Ok(img) => img.id == rec.image,
                Err(_) => rec.config.image == val,
            },
            "network" => {
                let names = hc
                    .network_name()
                    .into_iter()
                    .map(String::from)
                    .chain(hc.extra_networks.iter().flatten().map(|x| x.name.clone()));
                let wanted = self.networks.get(val).ok();
                names
                    .into_iter()
                    .any(|n| n == val || wanted.as_ref().is_some_and(|w| w.name == n || w.id == n))
            }
            "volume" => rec.mounts.iter().any(|m| {
                m.destination == val
                    || m.name.as_deref() == Some(val)
                    || m.source.to_str() == Some(val)
            }),
            "health" => {
                let h = st
                    .health
                    .as_ref()
                    .map(|h| h.status.as_str())
                    .unwrap_or("none");
                h == val
            }
            "expose" => {
                let want = port_key(val);
                rec.config
                    .exposed_ports
                    .iter()
                    .flat_map(|m| m.keys())
                    .any(|k| port_key(k) == want)
            }
            // A container port that is published (moby keys the filter by PortBindings).
            "publish" => {
                let want = port_key(val);
                hc.port_bindings
                    .iter()
                    .flat_map(|m| m.keys())
                    .any(|k| port_key(k) == want)
            }
            // berth runs no swarm tasks.
            "is-task" => val == "false" || val == "0",
            _ => false,
        }
    }
}

/// `80` and `80/tcp` are the same port.
fn port_key(s: &str) -> String {
    if s.contains('/') {
        s.to_string()
    } else {
        format!("{s}/tcp")
    }
}
