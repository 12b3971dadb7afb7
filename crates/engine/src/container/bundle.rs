//! The bundle a start runs: the OCI spec, /etc/hosts, resolv.conf, hostname, links and volume copy-
//! up, written afresh at every start.

use crate::container::etc_files;
use crate::container::{spec, ContainerRecord};
use crate::error::{Error, IoContext, Result};
use crate::network::plan::network_mode_is_bridge;
use crate::snapshot;
use crate::store::{self};
use crate::Engine;
use std::path::{Path, PathBuf};

/// What one legacy link adds to a container at start.
pub(crate) struct LinkEntry {
    hosts_line: String,
    env: Vec<String>,
}

/// Docker's link variables for `alias`: the lowest exposed port as `ALIAS_PORT`, each exposed
/// port's `ALIAS_PORT_<n>_<PROTO>[_ADDR|_PORT|_PROTO]`, `ALIAS_NAME`, and the linked
/// container's environment as `ALIAS_ENV_<k>` (HOME and PATH left out, as Docker does).
pub(crate) fn link_env(
    alias: &str,
    link_name: &str,
    ip: &str,
    child: &crate::image::ContainerConfig,
) -> Vec<String> {
    let a = alias.to_uppercase().replace('-', "_");
    let mut ports: Vec<(u16, String)> = child
        .exposed_ports
        .iter()
        .flat_map(|m| m.keys())
        .filter_map(|k| {
            let (p, proto) = k.split_once('/').unwrap_or((k, "tcp"));
            Some((p.parse().ok()?, proto.to_string()))
        })
        .collect();
    ports.sort();
    let mut env = Vec::new();
    if let Some((p, proto)) = ports.first() {
        env.push(format!("{a}_PORT={proto}://{ip}:{p}"));
    }
    for (p, proto) in &ports {
        let k = format!("{a}_PORT_{p}_{}", proto.to_uppercase());
        env.push(format!("{k}={proto}://{ip}:{p}"));
        env.push(format!("{k}_ADDR={ip}"));
        env.push(format!("{k}_PORT={p}"));
        env.push(format!("{k}_PROTO={proto}"));
    }
    env.push(format!("{a}_NAME={link_name}"));
    for e in child.env.iter().flatten() {
        if let Some((k, v)) = e.split_once('=') {
            if k != "HOME" && k != "PATH" {
                env.push(format!("{a}_ENV_{k}={v}"));
            }
        }
    }
    env
}

impl Engine {
    /// What the legacy links of a container on the default bridge give it at start: a hosts
    /// line and Docker's `ALIAS_PORT_…`/`ALIAS_ENV_…` variables for each linked container,
    /// which must be running there. On a user network links are names its DNS server answers
    /// for this container alone, so nothing is written.
    pub(crate) fn link_entries(&self, rec: &ContainerRecord) -> Result<Vec<LinkEntry>> {
        let pairs = rec.host_config.link_pairs();
        if pairs.is_empty() || rec.host_config.network_name() != Some("bridge") {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for (target, alias) in pairs {
            let child = self
                .resolve(target)
                .ok()
                .filter(|c| self.state(c).is_ok_and(|st| st.status.is_live()))
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "Cannot link to a non running container: /{target} AS /{}/{alias}",
                        rec.name
                    ))
                })?;
            let crec = self.record(&child)?;
            let Some(a) = crate::network::read_attachments(&self.containers.dir(&child))
                .into_iter()
                .find(|a| a.network == "bridge")
            else {
                return Err(Error::invalid(format!(
                    "Cannot link to /{target}, as it does not belong to the default network"
                )));
            };
            let mut names = format!("{alias} {}", crec.config.hostname);
            if alias != crec.name {
                names = format!("{names} {}", crec.name);
            }
            out.push(LinkEntry {
                hosts_line: format!("{}\t{names}\n", a.ip),
                env: link_env(
                    alias,
                    &format!("/{}/{alias}", rec.name),
                    &a.ip.to_string(),
                    &crec.config,
                ),
            });
        }
        Ok(out)
    }

    /// The pid, ipc, uts and network namespace modes of a container: private, the host's, or
    /// another running container's.
    pub(crate) fn namespace_modes(
        &self,
        rec: &ContainerRecord,
    ) -> Result<Vec<(&'static str, spec::NsMode)>> {
        let hc = &rec.host_config;
        let mut out = Vec::new();
        for (kind, proc_name, mode) in [
            ("pid", "pid", &hc.pid_mode),
            ("ipc", "ipc", &hc.ipc_mode),
            ("uts", "uts", &hc.uts_mode),
            ("network", "net", &hc.network_mode),
        ] {
            let m = match mode.as_str() {
                // Disconnected from every network: a namespace of its own with loopback only.
                _ if kind == "network" && hc.disconnected => spec::NsMode::Private,
                // On a bridge network: the namespace the starter prepares before the start.
                _ if kind == "network" && network_mode_is_bridge(mode) => {
                    spec::NsMode::Join(crate::exec_root::netns_path(&rec.id))
                }
                "" | "private" | "shareable" | "none" | "default" | "bridge" => {
                    spec::NsMode::Private
                }
                "host" => spec::NsMode::Host,
                other => match other.strip_prefix("container:") {
                    Some(c) => {
                        let cid = self.resolve(c)?;
                        let st = self.state(&cid)?;
                        if !st.status.is_live() {
                            return Err(Error::conflict(format!("cannot join the {kind} namespace of container {c}: it is not running")));
                        }
                        spec::NsMode::Join(PathBuf::from(format!(
                            "/proc/{}/ns/{proc_name}",
                            st.pid
                        )))
                    }
                    None => return Err(Error::invalid(format!("invalid {kind} mode: {other}"))),
                },
            };
            out.push((kind, m));
        }
        Ok(out)
    }

    /// Resolves `user` against the container's own `/etc/passwd` and `/etc/group` (its rw layer
    /// over the image's layers, read without mounting anything).
    pub(crate) fn resolve_user(
        &self,
        rec: &ContainerRecord,
        user: &str,
        group_add: Option<&[String]>,
    ) -> Result<spec::ResolvedUser> {
        let upper = self.containers.dir(&rec.id).join("upper");
        let read = |p: &str| {
            self.images
                .layers
                .read_file(Some(&upper), &rec.layers, p)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
        };
        let group = read("/etc/group");
        let mut u = spec::resolve_user(user, read("/etc/passwd").as_deref(), group.as_deref())?;
        spec::add_groups(&mut u, group_add.unwrap_or_default(), group.as_deref())?;
        Ok(u)
    }

    pub(crate) fn prepare_bundle(
        &self,
        rec: &ContainerRecord,
        console_size: Option<(u16, u16)>,
    ) -> Result<()> {
        let dir = self.containers.dir(&rec.id);
        let user =
            self.resolve_user(rec, &rec.config.user, rec.host_config.group_add.as_deref())?;
        let links = self.link_entries(rec)?;
        let attachment = self.plan_network(rec)?;
        let namespaces = self.namespace_modes(rec)?;
        let mut devices = Vec::new();
        for d in rec.host_config.devices.iter().flatten() {
            use std::os::unix::fs::{FileTypeExt, MetadataExt};
            let md = std::fs::metadata(&d.path_on_host).map_err(|e| {
                Error::invalid(format!(
                    "error gathering device information while adding custom device {:?}: {e}",
                    d.path_on_host
                ))
            })?;
            let typ = if md.file_type().is_block_device() {
                'b'
            } else if md.file_type().is_char_device() {
                'c'
            } else {
                return Err(Error::invalid(format!("error gathering device information while adding custom device {:?}: not a device node", d.path_on_host)));
            };
            devices.push((
                d.path_in_container.clone(),
                typ,
                libc::major(md.rdev()) as i64,
                libc::minor(md.rdev()) as i64,
                d.cgroup_permissions.clone(),
            ));
        }
        let link_env: Vec<String> = links.iter().flat_map(|l| l.env.clone()).collect();
        let env = etc_files::start_env(
            rec.config.env.clone().unwrap_or_default(),
            &rec.config.hostname,
            rec.config.tty,
            &user.home,
            &link_env,
        );
        std::fs::write(dir.join("hostname"), format!("{}\n", rec.config.hostname))
            .ctx(|| "write hostname".into())?;
        let host_net = namespaces
            .iter()
            .any(|(k, m)| *k == "network" && *m == spec::NsMode::Host);
        let hosts = if host_net {
            // On the host's network the host's names are the right ones, as Docker does.
            std::fs::read_to_string("/etc/hosts").unwrap_or_default()
        } else {
            // `host-gateway`: the host as the container reaches it — its network's gateway,
            // else the default bridge's (Docker uses docker0's address). Looked up only when
            // an `--add-host` asks: a start reads no network record it does not need.
            let extra_hosts = rec.host_config.extra_hosts.as_deref().unwrap_or_default();
            let wants_gateway = extra_hosts.iter().any(|h| h.ends_with(":host-gateway"));
            let gateway = attachment
                .as_ref()
                .map(|a| a.gateway.to_string())
                .or_else(|| {
                    let net = wants_gateway
                        .then(|| self.networks.get("bridge").ok())
                        .flatten()?;
                    net.subnet().map(|(_, _, g)| g.to_string())
                })
                .unwrap_or_else(|| "127.0.0.1".into());
            let link_lines: Vec<String> = links.iter().map(|l| l.hosts_line.clone()).collect();
            etc_files::hosts_file(&etc_files::HostsInputs {
                own: attachment
                    .as_ref()
                    .map(|a| (a.ip.to_string(), rec.config.hostname.as_str())),
                link_lines: &link_lines,
                extra_hosts,
                host_gateway: &gateway,
            })
        };
        std::fs::write(dir.join("hosts"), hosts).ctx(|| "write hosts".into())?;
        let hc = &rec.host_config;
        let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let on_user_network = attachment.as_ref().is_some_and(|a| a.network != "bridge");
        let embedded = crate::network::dns::ADDRESS.to_string();
        let resolv = etc_files::resolv_file(&etc_files::ResolvInputs {
            host: &host_resolv,
            host_network: host_net,
            embedded: on_user_network.then_some(embedded.as_str()),
            dns: hc.dns.as_deref().unwrap_or_default(),
            search: hc.dns_search.as_deref().unwrap_or_default(),
            options: hc.dns_options.as_deref().unwrap_or_default(),
        });
        std::fs::write(dir.join("resolv.conf"), resolv).ctx(|| "write resolv.conf".into())?;
        self.copy_up_volumes(rec)?;
        let nofile_hard = {
            let mut l = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: getrlimit fills the struct.
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) };
            l.rlim_max
        };
        let inputs = spec::SpecInputs {
            dir: &dir,
            user: &user,
            env,
            cgroup_path: format!("{}/{}", self.cgroup_parent, rec.id),
            cgroup_v2: berth_runtime::CgroupVersion::detect() == berth_runtime::CgroupVersion::V2,
            nofile_hard,
            namespaces,
            devices,
        };
        let mut spec = spec::build(rec, &inputs)?;
        if let (Some((rows, cols)), Some(p)) =
            (console_size.filter(|_| rec.config.tty), spec.process_mut())
        {
            let b = oci_spec::runtime::BoxBuilder::default()
                .height(rows as u64)
                .width(cols as u64)
                .build()
                .map_err(|e| Error::internal(e.to_string()))?;
            p.set_console_size(Some(b));
        }
        let data = serde_json::to_vec(&spec).map_err(|e| Error::internal(e.to_string()))?;
        // The bundle is rewritten at every start, so it needs atomicity but not durability.
        store::write_replace(&dir.join("config.json"), &data)?;
        let bpf_path = dir.join("seccomp.bpf");
        match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
            Some(sc) => store::write_replace(&bpf_path, &self.seccomp_program(sc)?),
            None => match std::fs::remove_file(&bpf_path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(Error::io("remove seccomp.bpf", e))
                }
                _ => Ok(()),
            },
        }
    }

    /// Docker's copy-up: a volume that is still empty when first mounted gets the image's
    /// content at its path (modes, owners and times kept), unless `nocopy` was asked.
    pub(crate) fn copy_up_volumes(&self, rec: &ContainerRecord) -> Result<()> {
        let dir = self.containers.dir(&rec.id);
        let wanted: Vec<&crate::container::MountPoint> = rec
            .mounts
            .iter()
            .filter(|m| {
                m.typ == crate::container::MountType::Volume
                    && !m.nocopy
                    && m.source.starts_with(self.root.path())
            })
            .filter(|m| {
                std::fs::read_dir(&m.source)
                    .map(|mut d| d.next().is_none())
                    .unwrap_or(false)
            })
            .filter(|m| {
                self.images.layers.path_exists(
                    Some(&dir.join("upper")),
                    &rec.layers,
                    &m.destination,
                )
            })
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let jobs: Vec<(String, PathBuf)> = wanted
            .iter()
            .map(|m| (m.destination.clone(), m.source.clone()))
            .collect();
        let tmp = self.root.temp_path("copy-up");
        let staged = tmp.clone();
        // Through a tar and the layer unpacker, like `cp`: another container sharing the volume
        // may plant symlinks in it meanwhile, and those resolve inside the volume.
        let r = snapshot::in_private_rootfs(
            &self.images.layers,
            &rec.layers,
            &dir,
            &[],
            move |rootfs| {
                for (dest, target) in &jobs {
                    let resolved = snapshot::resolve_in_root(rootfs, dest)?;
                    let src = &resolved.path;
                    if !src.is_dir() {
                        continue;
                    }
                    let fail =
                        |e: &dyn std::fmt::Display| format!("copy {dest} into its volume: {e}");
                    let f = std::fs::File::create(&staged).map_err(|e| fail(&e))?;
                    let mut b = tar::Builder::new(std::io::BufWriter::new(f));
                    b.follow_symlinks(false);
                    snapshot::changes::write_tree(&mut b, src, Path::new("."), &[])
                        .and_then(|()| {
                            b.into_inner()
                                .and_then(|mut w| std::io::Write::flush(&mut w))
                        })
                        .map_err(|e| fail(&e))?;
                    let f = std::fs::File::open(&staged).map_err(|e| fail(&e))?;
                    snapshot::unpack::unpack_layer(f, target).map_err(|e| fail(&e))?;
                }
                Ok(())
            },
        );
        let _ = std::fs::remove_file(&tmp);
        r
    }

    /// The compiled BPF program of a seccomp profile, from `cache/seccomp/<sha256 of the
    /// profile>.bpf`, compiled (once) when missing.
    pub(crate) fn seccomp_program(&self, sc: &oci_spec::runtime::LinuxSeccomp) -> Result<Vec<u8>> {
        let json = serde_json::to_vec(sc).map_err(|e| Error::internal(e.to_string()))?;
        let key = crate::content::sha256_digest(&json);
        let dir = self.root.join("cache/seccomp");
        let path = dir.join(format!("{}.bpf", &key[7..]));
        if let Ok(b) = std::fs::read(&path) {
            if !b.is_empty() && b.len() % 8 == 0 {
                return Ok(b);
            }
        }
        let bpf =
            berth_runtime::seccomp::compile_bpf(sc).map_err(|e| Error::internal(e.to_string()))?;
        std::fs::create_dir_all(&dir).ctx(|| format!("create {}", dir.display()))?;
        store::write_replace(&path, &bpf)?;
        Ok(bpf)
    }
}
