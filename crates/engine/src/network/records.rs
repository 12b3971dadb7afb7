//! The network store of one root: records, the predefined networks, creation with a subnet of
//! its own, and address leases.

use super::*;
use crate::error::{Error, IoContext, Result};
use crate::store::{self, Root};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// The networks of one root.
#[derive(Debug, Clone)]
pub struct NetworkStore {
    root: Root,
}

impl NetworkStore {
    /// The store under `root`.
    pub fn new(root: &Root) -> Self {
        NetworkStore { root: root.clone() }
    }

    fn dir(&self) -> PathBuf {
        self.root.join("networks")
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir().join(format!("{id}.json"))
    }

    /// Where a network's leases live: the default bridge is shared by every berth root on the
    /// host, so its leases are host-wide; a user network's are its own.
    pub(crate) fn leases(&self, net: &NetworkRecord) -> PathBuf {
        if net.bridge() == DEFAULT_BRIDGE {
            crate::exec_root::host_path("leases").join(DEFAULT_BRIDGE)
        } else {
            self.dir().join(&net.id).join("leases")
        }
    }

    fn all(&self) -> Vec<NetworkRecord> {
        let Ok(rd) = std::fs::read_dir(self.dir()) else {
            return Vec::new();
        };
        let mut out: Vec<NetworkRecord> = rd
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
            .filter_map(|e| store::read_json(&e.path()).ok())
            .collect();
        out.sort_by(|a, b| a.created.cmp(&b.created));
        out
    }

    /// Every network, the predefined ones made on first use.
    pub fn list(&self) -> Result<Vec<NetworkRecord>> {
        let all = self.all();
        if ["bridge", "host", "none"]
            .iter()
            .all(|n| all.iter().any(|x| x.name == *n))
        {
            self.rereserve(&all);
            return Ok(all);
        }
        let _l = self.root.lock("networks")?;
        std::fs::create_dir_all(self.dir()).ctx(|| "create networks".into())?;
        let all = self.all();
        for (name, driver) in [("bridge", "bridge"), ("host", "host"), ("none", "null")] {
            if all.iter().any(|x| x.name == name) {
                continue;
            }
            let mut rec = NetworkRecord {
                name: name.into(),
                id: store::random_hex(32),
                created: store::now_rfc3339(),
                scope: "local".into(),
                driver: driver.into(),
                ipam: Ipam {
                    driver: "default".into(),
                    ..Default::default()
                },
                ..Default::default()
            };
            if name == "bridge" {
                // berth0 is shared by every root on the host: keep the subnet it already has.
                let _h = host_lock()?;
                let shared = reserved_subnet(DEFAULT_BRIDGE).and_then(|s| parse_cidr(&s).ok());
                let cfg = match shared {
                    Some((net, len)) => IpamConfig {
                        subnet: format!("{net}/{len}"),
                        gateway: Ipv4Addr::from(u32::from(net) + 1).to_string(),
                        ip_range: String::new(),
                        auxiliary_addresses: BTreeMap::new(),
                    },
                    None => {
                        let c = self.pick_subnet(&all)?;
                        reserve(DEFAULT_BRIDGE, &c.subnet)?;
                        c
                    }
                };
                rec.ipam.config = vec![cfg];
                rec.options.insert(
                    "com.docker.network.bridge.name".into(),
                    DEFAULT_BRIDGE.into(),
                );
                rec.options.insert(
                    "com.docker.network.bridge.default_bridge".into(),
                    "true".into(),
                );
            }
            store::write_json(&self.path(&rec.id), &rec)?;
        }
        Ok(self.all())
    }

    /// After a reboot /run is empty: this root's networks take their subnets back before
    /// another root can pick them.
    fn rereserve(&self, all: &[NetworkRecord]) {
        let missing: Vec<&NetworkRecord> = all
            .iter()
            .filter(|n| n.driver == "bridge" && n.bridge() != DEFAULT_BRIDGE)
            .filter(|n| reserved_subnet(&n.bridge()).is_none())
            .collect();
        if missing.is_empty() {
            return;
        }
        if let Ok(_h) = host_lock() {
            for n in missing {
                if let Some(c) = n.ipam.config.first() {
                    let (Ok((net, len)), false) = (
                        parse_cidr(&c.subnet),
                        reserved_subnet(&n.bridge()).is_some(),
                    ) else {
                        continue;
                    };
                    // Taken meanwhile by someone else: leave it (the clash shows at start).
                    if !reserved_subnets().iter().any(|r| overlaps(*r, (net, len))) {
                        let _ = reserve(&n.bridge(), &c.subnet);
                    }
                }
            }
        }
    }

    /// A network by name, id or id prefix.
    pub fn get(&self, name: &str) -> Result<NetworkRecord> {
        let all = self.list()?;
        if let Some(n) = all.iter().find(|n| n.name == name || n.id == name) {
            return Ok(n.clone());
        }
        let matches: Vec<&NetworkRecord> = all.iter().filter(|n| n.id.starts_with(name)).collect();
        match matches.as_slice() {
            [one] if !name.is_empty() => Ok((*one).clone()),
            [] | [_] => Err(Error::not_found(format!("network {name} not found"))),
            _ => Err(Error::invalid(format!(
                "network {name} is ambiguous ({} matches found based on ID prefix)",
                matches.len()
            ))),
        }
    }

    /// A subnet from Docker's pools (172.17–31.0.0/16, then 192.168.N.0/20) that neither
    /// another network nor a route of the host uses.
    fn pick_subnet(&self, existing: &[NetworkRecord]) -> Result<IpamConfig> {
        let taken: Vec<(Ipv4Addr, u8)> = existing
            .iter()
            .filter_map(|n| n.subnet().map(|(a, l, _)| (a, l)))
            .chain(host_routes())
            .chain(reserved_subnets())
            .collect();
        let candidates = (17..=31)
            .map(|b| (Ipv4Addr::new(172, b, 0, 0), 16))
            .chain((0..16).map(|i| (Ipv4Addr::new(192, 168, i * 16, 0), 20)));
        for c in candidates {
            if !taken.iter().any(|t| overlaps(*t, c)) {
                let gw = Ipv4Addr::from(u32::from(c.0) + 1);
                return Ok(IpamConfig {
                    subnet: format!("{}/{}", c.0, c.1),
                    gateway: gw.to_string(),
                    ip_range: String::new(),
                    auxiliary_addresses: BTreeMap::new(),
                });
            }
        }
        Err(Error::conflict(
            "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network",
        ))
    }

    /// `network create`.
    pub fn create(&self, req: &CreateNetwork) -> Result<NetworkRecord> {
        validate_name(&req.name)?;
        if req.ipv6 {
            return Err(ipv6_refused());
        }
        if !matches!(req.driver.as_str(), "" | "bridge") {
            return Err(Error::not_found(format!(
                "plugin \"{}\" not found: berth has the bridge driver",
                req.driver
            )));
        }
        let existing = self.list()?;
        let _h = host_lock()?;
        let _l = self.root.lock("networks")?;
        let existing = if existing.len() == self.all().len() {
            existing
        } else {
            self.all()
        };
        if existing.iter().any(|n| n.name == req.name) {
            return Err(Error::conflict(format!(
                "network with name {} already exists",
                req.name
            )));
        }
        // The bridge is a host-wide name: a kernel interface name, never the default bridge's
        // nor one another network (of any root) already has.
        if let Some(b) = req.options.get("com.docker.network.bridge.name") {
            let ok = !b.is_empty()
                && b.len() <= 15
                && b.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
                && b != "."
                && b != "..";
            if !ok {
                return Err(Error::invalid(format!("invalid bridge name {b:?}")));
            }
            if b == DEFAULT_BRIDGE
                || reserved_subnet(b).is_some()
                || existing.iter().any(|n| n.bridge() == *b)
            {
                return Err(Error::conflict(format!(
                    "bridge name {b} is already used by another network"
                )));
            }
        }
        let cfg = match &req.subnet {
            Some(s) => {
                let (net, len) = parse_cidr(s)?;
                if let Some(o) = existing.iter().find(|n| {
                    n.subnet()
                        .is_some_and(|(a, l, _)| overlaps((a, l), (net, len)))
                }) {
                    return Err(Error::conflict(format!(
                        "invalid pool request: Pool overlaps with other one on this address space ({})",
                        o.name
                    )));
                }
                if reserved_subnets().iter().any(|r| overlaps(*r, (net, len))) {
                    return Err(Error::conflict(format!(
                        "invalid pool request: Pool overlaps with other one on this address space ({s} is used by another berth network on this host)"
                    )));
                }
                let gw = match &req.gateway {
                    Some(g) => {
                        let g: Ipv4Addr = g
                            .parse()
                            .map_err(|_| Error::invalid(format!("invalid gateway {g}")))?;
                        if u32::from(g) & mask(len) != u32::from(net) {
                            return Err(Error::invalid(format!(
                                "no matching subnet for gateway {g}"
                            )));
                        }
                        g
                    }
                    None => Ipv4Addr::from(u32::from(net) + 1),
                };
                if let Some(r) = &req.ip_range {
                    let (rn, rl) = parse_cidr(r)?;
                    if rl < len || u32::from(rn) & mask(len) != u32::from(net) {
                        return Err(Error::invalid(format!(
                            "ip range {r} is not within subnet {s}"
                        )));
                    }
                }
                let mut aux = BTreeMap::new();
                for (k, a) in &req.aux_addresses {
                    let ip: Ipv4Addr = a.parse().map_err(|_| {
                        Error::invalid(format!("invalid auxiliary address {k}={a}"))
                    })?;
                    if u32::from(ip) & mask(len) != u32::from(net) {
                        return Err(Error::invalid(format!(
                            "auxiliary address {k}={a} is not within subnet {s}"
                        )));
                    }
                    aux.insert(k.clone(), ip.to_string());
                }
                IpamConfig {
                    subnet: format!("{net}/{len}"),
                    gateway: gw.to_string(),
                    ip_range: req.ip_range.clone().unwrap_or_default(),
                    auxiliary_addresses: aux,
                }
            }
            None => {
                if req.gateway.is_some() || req.ip_range.is_some() || !req.aux_addresses.is_empty()
                {
                    return Err(Error::invalid(
                        "--gateway, --ip-range and --aux-address need a --subnet",
                    ));
                }
                self.pick_subnet(&existing)?
            }
        };
        let rec = NetworkRecord {
            name: req.name.clone(),
            id: store::random_hex(32),
            created: store::now_rfc3339(),
            scope: "local".into(),
            driver: "bridge".into(),
            enable_ipv6: false,
            ipam: Ipam {
                driver: "default".into(),
                options: BTreeMap::new(),
                config: vec![cfg],
            },
            internal: req.internal,
            attachable: true,
            ingress: false,
            options: req.options.clone(),
            labels: req.labels.clone(),
        };
        reserve(&rec.bridge(), &rec.ipam.config[0].subnet)?;
        store::write_json(&self.path(&rec.id), &rec)?;
        crate::events::emit(
            &self.root,
            "network",
            "create",
            &rec.id,
            &[("name", &rec.name), ("type", "bridge")],
        );
        Ok(rec)
    }

    /// Removes a network's record and leases (the caller checked it has no containers and took
    /// its bridge down).
    pub fn remove(&self, rec: &NetworkRecord) -> Result<()> {
        let _l = self.root.lock("networks")?;
        std::fs::remove_file(self.path(&rec.id)).ctx(|| format!("remove network {}", rec.name))?;
        unreserve(&rec.bridge());
        let _ = std::fs::remove_dir_all(self.dir().join(&rec.id));
        crate::events::emit(
            &self.root,
            "network",
            "destroy",
            &rec.id,
            &[("name", &rec.name), ("type", &rec.driver)],
        );
        Ok(())
    }

    /// Records a network event about a container (connect, disconnect).
    pub fn emit(&self, net: &NetworkRecord, action: &str, container: &str) {
        crate::events::emit(
            &self.root,
            "network",
            action,
            &net.id,
            &[
                ("container", container),
                ("name", &net.name),
                ("type", &net.driver),
            ],
        );
    }

    /// Leases an address of `net` to container `owner`: the one asked for, or the first free
    /// one. A lease is a file created with O_EXCL, so racing starts never share an address;
    /// leases of containers that no longer run (a crash) are taken back.
    pub fn lease(
        &self,
        net: &NetworkRecord,
        owner: &str,
        wanted: Option<Ipv4Addr>,
        live: &dyn Fn(&str) -> bool,
    ) -> Result<Ipv4Addr> {
        let (subnet, len, gw) = net
            .subnet()
            .ok_or_else(|| Error::invalid(format!("network {} has no subnet", net.name)))?;
        let dir = self.leases(net);
        std::fs::create_dir_all(&dir).ctx(|| format!("create {}", dir.display()))?;
        let (from, to) = match net.ipam.config.first().map(|c| c.ip_range.as_str()) {
            Some(r) if !r.is_empty() => {
                let (rn, rl) = parse_cidr(r)?;
                (u32::from(rn), u32::from(rn) | !mask(rl))
            }
            _ => (u32::from(subnet), u32::from(subnet) | !mask(len)),
        };
        let try_take = |ip: Ipv4Addr| -> Result<bool> {
            let p = dir.join(ip.to_string());
            for _ in 0..2 {
                // Written whole aside and linked into place (failing when taken): a kill or a
                // full disk never leaves an empty lease that holds the address.
                let tmp = dir.join(format!(
                    ".{ip}.tmp-{}-{}",
                    std::process::id(),
                    crate::store::random_hex(6)
                ));
                match crate::store::link_new(&tmp, &p, owner.as_bytes()) {
                    Ok(()) => return Ok(true),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        let holder = std::fs::read_to_string(&p).unwrap_or_default();
                        // A lease touched lately belongs to a container starting, or waiting
                        // out a restart back-off (at most 60 s; the shim touches it then).
                        let fresh = std::fs::metadata(&p)
                            .and_then(|m| m.modified())
                            .is_ok_and(|t| t.elapsed().is_ok_and(|e| e.as_secs() < 90));
                        // An empty one is a lease whose writer died before it wrote (a
                        // kill, a full disk): once it is not fresh it holds nothing.
                        if holder == owner || (!fresh && (holder.is_empty() || !live(&holder))) {
                            let _ = std::fs::remove_file(&p);
                            continue;
                        }
                        return Ok(false);
                    }
                    Err(e) => return Err(Error::internal(format!("lease {}: {e}", p.display()))),
                }
            }
            Ok(false)
        };
        if let Some(ip) = wanted {
            let n = u32::from(ip);
            if n & mask(len) != u32::from(subnet) || ip == gw {
                return Err(Error::invalid(format!(
                    "invalid address {ip}: it does not belong to any of this network's subnets"
                )));
            }
            if !try_take(ip)? {
                return Err(Error::conflict(format!(
                    "Address already in use: {ip} on network {}",
                    net.name
                )));
            }
            return Ok(ip);
        }
        // Network and broadcast addresses and the gateway are never handed out. The search
        // starts after the last address handed out, as Docker's allocator does: an address just
        // given back may still sit on a veth the kernel is freeing in the background.
        let (lo, hi) = (
            from.max(u32::from(subnet) + 1),
            to.min(u32::from(subnet) | !mask(len)),
        );
        let last_file = dir.join("last");
        let last: u32 = std::fs::read_to_string(&last_file)
            .ok()
            .and_then(|s| s.trim().parse::<Ipv4Addr>().ok())
            .map(u32::from)
            .filter(|l| (lo..hi).contains(l))
            .unwrap_or(hi.saturating_sub(1));
        let span = hi.saturating_sub(lo);
        for k in 1..=span {
            let n = lo + (last - lo + k) % span;
            let ip = Ipv4Addr::from(n);
            let aux = net
                .ipam
                .config
                .first()
                .is_some_and(|c| c.auxiliary_addresses.values().any(|a| *a == ip.to_string()));
            if ip == gw || aux {
                continue;
            }
            if try_take(ip)? {
                let _ = std::fs::write(&last_file, ip.to_string());
                return Ok(ip);
            }
        }
        Err(Error::conflict(format!(
            "no available IPv4 addresses on network {}",
            net.name
        )))
    }

    /// Gives a lease back (only if `owner` still holds it).
    pub fn release(&self, net: &NetworkRecord, ip: Ipv4Addr, owner: &str) {
        let p = self.leases(net).join(ip.to_string());
        if std::fs::read_to_string(&p).is_ok_and(|h| h == owner) {
            let _ = std::fs::remove_file(&p);
        }
    }
}

/// What `network create` asks for.
#[derive(Debug, Clone, Default)]
pub struct CreateNetwork {
    /// Name.
    pub name: String,
    /// `bridge` (or empty).
    pub driver: String,
    /// `--subnet`.
    pub subnet: Option<String>,
    /// `--gateway`.
    pub gateway: Option<String>,
    /// `--ip-range`.
    pub ip_range: Option<String>,
    /// `--aux-address name=ip`: addresses never handed out.
    pub aux_addresses: BTreeMap<String, String>,
    /// `--internal`.
    pub internal: bool,
    /// `-o`.
    pub options: BTreeMap<String, String>,
    /// `--label`.
    pub labels: BTreeMap<String, String>,
    /// `--ipv6` (refused: berth's networks are IPv4 only, as Docker's default).
    pub ipv6: bool,
}

/// Docker takes nearly any network name ("test 01" too): names are looked up, never made
/// into paths or interface names here. Refused: empty, over 255 bytes, control characters,
/// `/`, and `:` (which would read as a `container:` network mode).
pub(crate) fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && !name.chars().any(|c| c.is_control() || c == '/' || c == ':');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!("invalid network name \"{name}\"")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Root;

    /// Ages a lease past the time a starting container may hold it.
    fn make_old(lease: &std::path::Path) {
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(120);
        std::fs::File::options()
            .write(true)
            .open(lease)
            .unwrap()
            .set_modified(old)
            .unwrap();
    }

    #[test]
    fn an_empty_lease_left_by_a_crash_holds_its_address_only_while_fresh() {
        let d = tempfile::tempdir().unwrap();
        let root = Root::open(d.path()).unwrap();
        let s = NetworkStore::new(&root);
        let net = s
            .create(&CreateNetwork {
                name: "empty-lease".into(),
                subnet: Some("10.98.0.0/29".into()),
                ..Default::default()
            })
            .unwrap();
        let ip = Ipv4Addr::new(10, 98, 0, 2);
        let dir = s.leases(&net);
        std::fs::create_dir_all(&dir).unwrap();
        let lease = dir.join(ip.to_string());
        std::fs::write(&lease, "").unwrap();
        let live = |_: &str| true;
        let fresh = s.lease(&net, "x", Some(ip), &live);
        make_old(&lease);
        let stale = s.lease(&net, "x", Some(ip), &live);
        s.remove(&net).unwrap();
        assert!(
            fresh.is_err(),
            "a fresh empty lease may be a start in progress"
        );
        assert_eq!(
            stale.unwrap(),
            ip,
            "an old empty lease is a crash's leftover"
        );
    }

    #[test]
    fn leases_are_exclusive_and_crashed_owners_give_them_back() {
        let d = tempfile::tempdir().unwrap();
        let root = Root::open(d.path()).unwrap();
        let s = NetworkStore::new(&root);
        let net = s
            .create(&CreateNetwork {
                name: "n1".into(),
                subnet: Some("10.99.0.0/29".into()),
                ..Default::default()
            })
            .unwrap();
        let live = |_: &str| true;
        let a = s.lease(&net, "a", None, &live).unwrap();
        let b = s.lease(&net, "b", None, &live).unwrap();
        assert_eq!(
            (a, b),
            (Ipv4Addr::new(10, 99, 0, 2), Ipv4Addr::new(10, 99, 0, 3))
        );
        assert!(s.lease(&net, "c", Some(a), &live).is_err());
        // "a" is gone (crashed) and its lease is old: its address can be had.
        let lease = d
            .path()
            .join("networks")
            .join(&net.id)
            .join("leases")
            .join(a.to_string());
        make_old(&lease);
        let c = s.lease(&net, "c", Some(a), &|o: &str| o != "a").unwrap();
        assert_eq!(c, a);
        s.release(&net, b, "b");
        // Not handed out again at once: the next free address after the last one comes first.
        let d2 = s.lease(&net, "d", None, &live).unwrap();
        assert_eq!(d2, Ipv4Addr::new(10, 99, 0, 4));
        assert_eq!(
            s.lease(&net, "e", None, &live).unwrap(),
            Ipv4Addr::new(10, 99, 0, 5)
        );
        assert_eq!(
            s.lease(&net, "f", None, &live).unwrap(),
            Ipv4Addr::new(10, 99, 0, 6)
        );
        assert_eq!(
            s.lease(&net, "g", None, &live).unwrap(),
            b,
            "then it wraps around"
        );
        assert!(s
            .create(&CreateNetwork {
                name: "n2".into(),
                subnet: Some("10.99.0.0/24".into()),
                ..Default::default()
            })
            .is_err());
        // The reservation is host-wide: give it back.
        s.remove(&net).unwrap();
        assert!(reserved_subnet(&net.bridge()).is_none());
    }
}
