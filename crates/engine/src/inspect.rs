//! `inspect` output in Docker's JSON shape and key names.

use crate::container::{ContainerRecord, State, Status};
use crate::image::{ImageConfig, ImageRecord};
use crate::reference::Reference;
use crate::store::ZERO_TIME;
use crate::Engine;
use serde_json::{json, Value};

fn or_zero(s: &str) -> &str {
    if s.is_empty() {
        ZERO_TIME
    } else {
        s
    }
}

impl Engine {
    /// Docker's `ContainerJSON` for a container.
    pub fn inspect_container(&self, rec: &ContainerRecord, st: &State) -> Value {
        let dir = self.containers.dir(&rec.id);
        let lower: Vec<String> = rec
            .layers
            .iter()
            .rev()
            .filter_map(|l| {
                self.images
                    .layers
                    .dir(l)
                    .ok()
                    .map(|d| d.join("diff").display().to_string())
            })
            .collect();
        let mut hc = serde_json::to_value(&rec.host_config).unwrap_or(json!({}));
        if rec.host_config.runtime.is_empty() {
            hc["Runtime"] = json!("runc");
        }
        if rec.host_config.log_config.typ.is_empty() {
            hc["LogConfig"]["Type"] = json!("json-file");
        }
        if rec.host_config.network_mode.is_empty() {
            hc["NetworkMode"] = json!("bridge");
        }
        if rec.host_config.links.is_some() {
            let shown: Vec<String> = rec
                .host_config
                .link_pairs()
                .iter()
                .map(|(target, alias)| format!("/{target}:/{}/{alias}", rec.name))
                .collect();
            hc["Links"] = json!(shown);
        }
        if rec.host_config.shm_size == 0 {
            // The /dev/shm every container gets, as Docker reports its default.
            hc["ShmSize"] = json!(64 * 1024 * 1024);
        }
        json!({
            "Id": rec.id,
            "Created": rec.created,
            "Path": rec.path,
            "Args": rec.args,
            "State": {
                "Status": st.status.as_str(),
                // Docker's: a paused or restarting container still counts as running.
                "Running": st.status.is_live(),
                "Paused": st.status == Status::Paused,
                "Restarting": st.status == Status::Restarting,
                "OOMKilled": st.oom_killed,
                "Dead": st.status == Status::Dead,
                "Pid": st.pid,
                "ExitCode": st.exit_code,
                "Error": st.error,
                "StartedAt": or_zero(&st.started_at),
                "FinishedAt": or_zero(&st.finished_at),
                "Health": st.health,
            },
            "Image": rec.image,
            "ResolvConfPath": dir.join("resolv.conf"),
            "HostnamePath": dir.join("hostname"),
            "HostsPath": dir.join("hosts"),
            "LogPath": self.containers.log_path(&rec.id),
            "Name": format!("/{}", rec.name),
            "RestartCount": st.restart_count,
            "Driver": "overlay2",
            "Platform": "linux",
            "MountLabel": "",
            "ProcessLabel": "",
            "AppArmorProfile": "",
            "ExecIDs": Value::Null,
            "HostConfig": hc,
            "GraphDriver": {
                "Name": "overlay2",
                "Data": {
                    "LowerDir": lower.join(":"),
                    "MergedDir": dir.join("rootfs"),
                    "UpperDir": dir.join("upper"),
                    "WorkDir": dir.join("work"),
                },
            },
            "Mounts": rec.mounts.iter().map(|m| {
                let mut v = json!({
                    "Type": match m.typ { crate::container::MountType::Volume => "volume", crate::container::MountType::Bind => "bind", crate::container::MountType::Tmpfs => "tmpfs" },
                    "Source": m.source,
                    "Destination": m.destination,
                    "Mode": if m.typ == crate::container::MountType::Bind { "" } else { "z" },
                    "RW": m.rw,
                    "Propagation": m.propagation,
                });
                if let Some(n) = &m.name {
                    v["Name"] = json!(n);
                    v["Driver"] = json!("local");
                }
                v
            }).collect::<Vec<_>>(),
            "Config": rec.config,
            "NetworkSettings": self.network_settings(rec),
        })
    }

    /// Docker's `NetworkSettings`: the address, gateway and published ports while the
    /// container is on a bridge network (they go when it stops, as Docker's do).
    pub fn network_settings(&self, rec: &crate::container::ContainerRecord) -> Value {
        let list = crate::network::read_attachments(&self.containers.dir(&rec.id));
        let a = list.first().cloned();
        let mut ports = serde_json::Map::new();
        for k in rec.config.exposed_ports.iter().flat_map(|m| m.keys()) {
            ports.insert(k.clone(), Value::Null);
        }
        let mut networks = serde_json::Map::new();
        if let Some(a) = &a {
            for p in &a.ports {
                let key = format!("{}/{}", p.container_port, p.proto);
                let host_ip = if p.host_ip.is_empty() {
                    "0.0.0.0"
                } else {
                    &p.host_ip
                };
                let entry = ports.entry(key).or_insert_with(|| json!([]));
                if !entry.is_array() {
                    *entry = json!([]);
                }
                entry
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"HostIp": host_ip, "HostPort": p.host_port.to_string()}));
            }
        }
        let endpoint = |id: &str,
                        x: Option<&crate::network::Attachment>,
                        aliases: Option<&Vec<String>>,
                        given: Option<&crate::container::EndpointConfig>| {
            let given_mac = given
                .and_then(|g| g.mac_address.clone())
                .unwrap_or_default();
            json!({
                "IPAMConfig": given.and_then(|g| g.ipam_config.clone()),
                "Links": given.and_then(|g| g.links.clone()),
                "Aliases": aliases,
                "DriverOpts": given.and_then(|g| g.driver_opts.clone()),
                "MacAddress": x.map(|x| x.mac.clone()).unwrap_or(given_mac),
                "NetworkID": id, "EndpointID": x.map(|x| x.veth.clone()).unwrap_or_default(),
                "Gateway": x.map(|x| x.gateway.to_string()).unwrap_or_default(),
                "IPAddress": x.map(|x| x.ip.to_string()).unwrap_or_default(),
                "IPPrefixLen": x.map(|x| x.prefix).unwrap_or(0), "IPv6Gateway": "",
                "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
                "DNSNames": null,
            })
        };
        {
            type Wanted<'a> = (
                String,
                Option<Vec<String>>,
                Option<&'a crate::container::EndpointConfig>,
            );
            let mut wanted: Vec<Wanted> = Vec::new();
            let hc = &rec.host_config;
            if let Some(mode) = hc.network_name() {
                wanted.push((mode.to_string(), hc.aliases.clone(), hc.endpoint.as_ref()));
            }
            for x in hc.extra_networks.iter().flatten() {
                wanted.push((x.name.clone(), Some(x.aliases.clone()), x.endpoint.as_ref()));
            }
            for (name, aliases, given) in wanted {
                let net = self.networks.get(&name).ok();
                let id = net.as_ref().map(|n| n.id.clone()).unwrap_or_default();
                let name = net.as_ref().map(|n| n.name.clone()).unwrap_or(name);
                let x = list.iter().find(|x| x.network_id == id);
                networks.insert(name, endpoint(&id, x, aliases.as_ref(), given));
            }
        }
        let on_default = a.as_ref().is_some_and(|a| a.network == "bridge");
        let field = |f: &dyn Fn(&crate::network::Attachment) -> Value, empty: Value| {
            a.as_ref().filter(|_| on_default).map(f).unwrap_or(empty)
        };
        json!({
            "Bridge": "", "SandboxID": a.as_ref().map(|a| a.veth.clone()).unwrap_or_default(),
            "SandboxKey": a.as_ref().map(|a| a.netns.display().to_string()).unwrap_or_default(),
            "Ports": ports, "HairpinMode": false,
            "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
            "Gateway": field(&|a| json!(a.gateway.to_string()), json!("")),
            "IPAddress": field(&|a| json!(a.ip.to_string()), json!("")),
            "IPPrefixLen": field(&|a| json!(a.prefix), json!(0)),
            "MacAddress": field(&|a| json!(a.mac), json!("")),
            "Networks": networks,
        })
    }

    /// A network in Docker's inspect shape, with its running containers (`network inspect`,
    /// `GET /networks`).
    pub fn inspect_network(&self, net: &crate::network::NetworkRecord) -> Value {
        let mut v = serde_json::to_value(net).unwrap_or_default();
        let mut ctrs = serde_json::Map::new();
        for (rec, a) in self.network_containers(net) {
            ctrs.insert(
                rec.id.clone(),
                json!({"Name": rec.name, "EndpointID": a.veth, "MacAddress": a.mac,
                       "IPv4Address": format!("{}/{}", a.ip, a.prefix), "IPv6Address": ""}),
            );
        }
        v["Containers"] = Value::Object(ctrs);
        v["ConfigFrom"] = json!({"Network": ""});
        v["ConfigOnly"] = json!(false);
        v
    }

    /// An image's `RepoTags` and `RepoDigests`, as inspect and the image list show them.
    pub fn repo_tags_and_digests(&self, id: &str) -> (Vec<String>, Vec<String>) {
        let refs = self.images.refs_of(id);
        let tags = refs
            .iter()
            .filter(|r| r.tag().is_some())
            .map(Reference::familiar)
            .collect();
        let digests = refs
            .iter()
            .filter_map(|r| r.digest().map(|d| format!("{}@{d}", r.familiar_name())))
            .collect();
        (tags, digests)
    }

    /// Docker's image inspect object.
    pub fn inspect_image(&self, img: &ImageRecord, cfg: &ImageConfig) -> Value {
        let (tags, digests) = self.repo_tags_and_digests(&img.id);
        let lower: Vec<String> = img
            .layers
            .iter()
            .rev()
            .filter_map(|l| {
                self.images
                    .layers
                    .dir(&l.diff_id)
                    .ok()
                    .map(|d| d.join("diff").display().to_string())
            })
            .collect();
        json!({
            "Id": img.id,
            "RepoTags": tags,
            "RepoDigests": digests,
            "Parent": img.parent.clone().unwrap_or_default(),
            "Comment": cfg.history.last().and_then(|h| h.comment.clone()).unwrap_or_default(),
            "Created": cfg.created.clone().unwrap_or_else(|| ZERO_TIME.to_string()),
            "DockerVersion": cfg.extra.get("docker_version").cloned().unwrap_or(json!("")),
            "Author": cfg.author.clone().unwrap_or_default(),
            "Config": cfg.config,
            "Architecture": cfg.architecture,
            "Os": cfg.os,
            "Size": self.images.size(img),
            "GraphDriver": {"Name": "overlay2", "Data": {"LowerDir": lower.join(":")}},
            "RootFS": {"Type": "layers", "Layers": img.diff_ids()},
            "Metadata": {"LastTagTime": img.loaded_at},
        })
    }
}

/// The newest Engine API version berth speaks (dockerd 28's).
pub const API_VERSION: &str = "1.51";
/// The oldest Engine API version berth accepts.
pub const MIN_API_VERSION: &str = "1.24";

/// The running kernel's release.
pub fn kernel_version() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// The host's distribution name (`PRETTY_NAME` of /etc/os-release).
pub fn os_name() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim_matches('"').to_string())
            })
        })
        .unwrap_or_else(|| "Linux".into())
}

/// Docker's server `Version` object: `berth version` shows it, `GET /version` returns it.
pub fn server_version() -> Value {
    let v = env!("CARGO_PKG_VERSION");
    let arch = crate::image::config::host_arch();
    json!({
        "Platform": {"Name": "berth"},
        "Components": [
            {"Name": "Engine", "Version": v, "Details": {
                "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "Os": "linux",
                "Arch": arch, "KernelVersion": kernel_version(), "Experimental": "false"}},
            {"Name": "runtime", "Version": format!("berth-runtime {v}")},
        ],
        "Version": v,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "berth",
        "GoVersion": "n/a (Rust)",
        "Os": "linux",
        "Arch": arch,
        "KernelVersion": kernel_version(),
        "BuildTime": "",
    })
}

impl Engine {
    /// Docker's `Info` object: `berth info` shows it, `GET /info` returns it.
    pub fn info(&self) -> Value {
        let list = self.list();
        let count = |s: Status| list.iter().filter(|(_, st)| st.status == s).count();
        let (running, paused) = (count(Status::Running), count(Status::Paused));
        let v2 = berth_runtime::CgroupVersion::detect() == berth_runtime::CgroupVersion::V2;
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        json!({
            "ID": "",
            "Containers": list.len(),
            "ContainersRunning": running,
            "ContainersPaused": paused,
            "ContainersStopped": list.len() - running - paused,
            "Images": self.images.list().len(),
            "Driver": "overlay2",
            "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]],
            "Plugins": {"Volume": ["local"], "Network": ["host", "null"], "Log": ["json-file", "local", "none"]},
            "MemoryLimit": true, "SwapLimit": true, "CpuCfsPeriod": true, "CpuCfsQuota": true,
            "CPUShares": true, "CPUSet": true, "PidsLimit": true, "OomKillDisable": true,
            "IPv4Forwarding": false, "Debug": false,
            "NFd": 0, "NGoroutines": 0, "SystemTime": chrono::Utc::now().to_rfc3339(),
            "LoggingDriver": "json-file",
            "CgroupDriver": "cgroupfs",
            "CgroupVersion": if v2 { "2" } else { "1" },
            "NEventsListener": 0,
            "KernelVersion": kernel_version(),
            "OperatingSystem": os_name(),
            "OSVersion": "",
            "OSType": "linux",
            "Architecture": std::env::consts::ARCH,
            "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": {"IndexConfigs": {}, "InsecureRegistryCIDRs": ["127.0.0.0/8", "::1/128"], "Mirrors": []},
            "NCPU": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            "MemTotal": crate::host_memory(),
            "DockerRootDir": self.root.path().display().to_string(),
            "Name": hostname.trim(),
            "Labels": [],
            "ExperimentalBuild": false,
            "ServerVersion": env!("CARGO_PKG_VERSION"),
            "Runtimes": {"berth": {"path": "builtin"}},
            "DefaultRuntime": "berth",
            "LiveRestoreEnabled": true,
            "Isolation": "",
            "InitBinary": "berth",
            "SecurityOptions": ["name=seccomp,profile=builtin"],
            "Swarm": {"LocalNodeState": "inactive", "NodeID": "", "NodeAddr": "", "ControlAvailable": false, "Error": "", "RemoteManagers": null},
            "Warnings": [],
        })
    }
}
