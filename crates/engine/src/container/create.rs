//! `create`: the user's settings merged over the image's, validated, then the name, volumes and directory made, all undone on failure.

use crate::container::validate::validate_host_config;
use crate::container::validate::validate_hostname;
use crate::container::{names, ContainerRecord, HostConfig, State};
use crate::error::{Error, ErrorKind, IoContext, Result};
use crate::image::ContainerConfig;
use crate::network::plan::network_mode_is_bridge;
use crate::reference::Reference;
use crate::snapshot;
use crate::store::{self};
use crate::Engine;
use crate::DEFAULT_PATH;
use std::path::{Path, PathBuf};

/// What `create` needs: the user's settings before the image's defaults are merged in.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    /// `--name`.
    pub name: Option<String>,
    /// Image reference or id.
    pub image: String,
    /// The user's run settings: `cmd` set when arguments were given, `entrypoint` when
    /// `--entrypoint` was (empty to clear the image's), `env` the user's variables.
    pub config: ContainerConfig,
    /// Host settings (`binds`, `tmpfs` and `volumes_from` are resolved into mounts).
    pub host_config: HostConfig,
    /// `--mount` requests.
    pub mounts: Vec<crate::container::mounts::MountRequest>,
}

impl Engine {
    /// Creates a container (Docker's `create`); returns its id.
    pub fn create(&self, req: CreateRequest) -> Result<String> {
        let mut hc = req.host_config;
        validate_host_config(&hc)?;
        // Further networks named at create must exist (400, not 404: the docker CLI reads a
        // 404 from create as a missing image).
        for x in hc.extra_networks.iter().flatten() {
            self.networks
                .get(&x.name)
                .map_err(|_| Error::invalid(format!("network {} not found", x.name)))?;
        }
        // Legacy links name containers that exist now (Docker checks at create too); the
        // linked container's name is what is kept.
        let mode = hc.network_mode.as_str();
        if !hc.link_pairs().is_empty() && (mode == "host" || mode.starts_with("container:")) {
            return Err(Error::invalid(format!(
                "conflicting options: {} type networking can't be used with links. This would result in undefined behavior",
                if mode == "host" { "host" } else { "container" }
            )));
        }
        let mut links = Vec::new();
        for (target, alias) in hc.link_pairs() {
            let child = self.resolve(target).map_err(|e| {
                Error::not_found(format!("could not get container for {target}: {e}"))
            })?;
            links.push(format!("{}:{alias}", self.record(&child)?.name));
        }
        if !links.is_empty() {
            hc.links = Some(links);
        }
        if network_mode_is_bridge(&hc.network_mode)
            && !matches!(hc.network_mode.as_str(), "" | "default" | "bridge")
        {
            // Docker's message for a user network that does not exist — not a 404, which
            // clients read as a missing image and try to pull.
            self.networks
                .get(&hc.network_mode)
                .map_err(|e| Error::invalid(e.message))?;
        }
        let img = self.images.resolve(&req.image).map_err(|e| match e.kind {
            ErrorKind::NotFound => {
                let shown = Reference::parse(&req.image)
                    .map(|r| r.familiar())
                    .unwrap_or_else(|_| req.image.clone());
                Error::not_found(format!("Unable to find image '{shown}' locally"))
            }
            _ => e,
        })?;
        let icfg = self.images.config(&img.id)?.config;
        let u = req.config;

        let mut cfg = icfg.clone();
        cfg.image = req.image.clone();
        if u.entrypoint.is_some() {
            // `--entrypoint ''` arrives as [""]: no entrypoint, as Docker reads it.
            cfg.entrypoint = u
                .entrypoint
                .clone()
                .filter(|e| !e.is_empty() && e != &[String::new()]);
            // A new entrypoint drops the image's command (Docker's rule).
            cfg.cmd = None;
        }
        if u.cmd.is_some() {
            cfg.cmd = u.cmd.clone();
        }
        let mut env = icfg.env.clone().unwrap_or_default();
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.insert(0, DEFAULT_PATH.to_string());
        }
        for e in u.env.iter().flatten() {
            let key = e.split_once('=').map(|x| x.0).unwrap_or(e);
            env.retain(|x| x.split_once('=').map(|y| y.0).unwrap_or(x) != key);
            env.push(e.clone());
        }
        cfg.env = Some(env);
        if !u.user.is_empty() {
            cfg.user = u.user.clone();
        }
        if !u.working_dir.is_empty() {
            if !u.working_dir.starts_with('/') {
                return Err(Error::invalid(format!(
                    "the working directory '{}' is invalid, it needs to be an absolute path",
                    u.working_dir
                )));
            }
            cfg.working_dir = u.working_dir.clone();
        }
        if let Some(l) = &u.labels {
            let labels = cfg.labels.get_or_insert_with(Default::default);
            labels.extend(l.clone());
        }
        if let Some(p) = &u.exposed_ports {
            let ports = cfg.exposed_ports.get_or_insert_with(Default::default);
            ports.extend(p.clone());
        }
        if let Some(v) = &u.volumes {
            cfg.volumes
                .get_or_insert_with(Default::default)
                .extend(v.clone());
        }
        // The image's ports as much as the client's: each becomes firewall text with -P.
        for key in cfg.exposed_ports.iter().flat_map(|m| m.keys()) {
            crate::network::parse_port_key(key)?;
        }
        if u.stop_signal.is_some() {
            cfg.stop_signal = u.stop_signal.clone();
        }
        if let Some(s) = &cfg.stop_signal {
            crate::signal::parse(s)?;
        }
        if u.stop_timeout.is_some() {
            cfg.stop_timeout = u.stop_timeout;
        }
        if let Some(h) = &u.healthcheck {
            // The user's settings override the image's field by field; a new test replaces it.
            let mut merged = cfg
                .healthcheck
                .clone()
                .unwrap_or_else(|| serde_json::json!({}));
            if let (Some(m), Some(o)) = (merged.as_object_mut(), h.as_object()) {
                for (k, v) in o {
                    m.insert(k.clone(), v.clone());
                }
            }
            cfg.healthcheck = Some(merged);
        }
        cfg.tty = u.tty;
        cfg.open_stdin = u.open_stdin;
        cfg.stdin_once = u.stdin_once;
        cfg.attach_stdin = u.attach_stdin;
        cfg.attach_stdout = u.attach_stdout;
        cfg.attach_stderr = u.attach_stderr;
        cfg.domainname = u.domainname.clone();

        let mut full: Vec<String> = cfg.entrypoint.clone().unwrap_or_default();
        full.extend(cfg.cmd.clone().unwrap_or_default());
        if full.is_empty() {
            return Err(Error::invalid("no command specified"));
        }

        let mut anonymous = Vec::new();
        let mounts = match self.resolve_mounts(
            &hc,
            &req.mounts,
            icfg.volumes.as_ref(),
            u.volumes.as_ref(),
            &mut anonymous,
        ) {
            Ok(m) => m,
            Err(e) => {
                for v in anonymous {
                    let _ = self.volumes.remove(&v);
                }
                return Err(e);
            }
        };
        let id = store::random_hex(32);
        cfg.hostname = if !u.hostname.is_empty() {
            u.hostname.clone()
        } else if hc.network_mode == "host" {
            // On the host's network the host's name, as Docker's.
            nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_else(|| id[..12].to_string())
        } else if let Some(other) = hc.network_mode.strip_prefix("container:") {
            // Sharing another container's network: its name too.
            self.resolve(other)
                .and_then(|o| self.record(&o))
                .map(|r| r.config.hostname)
                .unwrap_or_else(|_| id[..12].to_string())
        } else {
            id[..12].to_string()
        };
        if !u.hostname.is_empty() {
            validate_hostname(&u.hostname)?;
        }
        let name = match &req.name {
            Some(n) => {
                let n = n.trim_start_matches('/').to_string();
                names::reserve(&self.root, &n, &id)?;
                n
            }
            None => names::generate(&self.root, &id)?,
        };
        let rec = ContainerRecord {
            id: id.clone(),
            name: name.clone(),
            created: store::now_rfc3339(),
            image: img.id.clone(),
            path: full[0].clone(),
            args: full[1..].to_vec(),
            config: cfg,
            host_config: hc,
            layers: img.diff_ids(),
            mounts,
        };
        // Build the directory aside and rename it into place, so a crash never leaves a
        // half-made container visible.
        let tmp = self.root.temp_path("create");
        let made = (|| -> Result<()> {
            std::fs::create_dir_all(&tmp).ctx(|| format!("create {}", tmp.display()))?;
            snapshot::prepare_rw(&tmp)?;
            store::write_json(&tmp.join("container.json"), &rec)?;
            store::write_json(&tmp.join("state.json"), &State::default())?;
            std::fs::rename(&tmp, self.containers.dir(&id)).ctx(|| "store container".into())
        })();
        if let Err(e) = made {
            let _ = store::make_writable_and_remove(&tmp);
            names::release(&self.root, &name, &id);
            for v in &anonymous {
                let _ = self.volumes.remove(v);
            }
            return Err(e);
        }
        self.emit(&rec, "create", &[]);
        Ok(id)
    }

    /// Turns `-v`, `--mount`, `--tmpfs`, `--volumes-from` and the image's VOLUMEs into mount
    /// points, creating the volumes they name; explicit mounts win over `--volumes-from` and
    /// image volumes at the same path. Anonymous volumes made are added to `anonymous`.
    pub(crate) fn resolve_mounts(
        &self,
        hc: &HostConfig,
        requests: &[crate::container::mounts::MountRequest],
        image_volumes: Option<&std::collections::BTreeMap<String, serde_json::Value>>,
        user_volumes: Option<&std::collections::BTreeMap<String, serde_json::Value>>,
        anonymous: &mut Vec<String>,
    ) -> Result<Vec<crate::container::MountPoint>> {
        use crate::container::mounts::{parse_tmpfs_flag, parse_volume_flag, MountRequest};
        use crate::container::{MountPoint, MountType};
        let mut explicit: Vec<MountRequest> = Vec::new();
        for b in hc.binds.iter().flatten() {
            explicit.push(parse_volume_flag(b)?);
        }
        explicit.extend(requests.iter().cloned());
        for (d, o) in hc.tmpfs.iter().flatten() {
            let spec = if o.is_empty() {
                d.clone()
            } else {
                format!("{d}:{o}")
            };
            explicit.push(parse_tmpfs_flag(&spec)?);
        }
        let mut points: Vec<MountPoint> = Vec::new();
        for r in &explicit {
            if points.iter().any(|p| p.destination == r.destination()) {
                return Err(Error::invalid(format!(
                    "Duplicate mount point: {}",
                    r.destination()
                )));
            }
            let base = MountPoint {
                typ: MountType::Tmpfs,
                name: None,
                source: PathBuf::new(),
                destination: r.destination().to_string(),
                rw: true,
                propagation: String::new(),
                nocopy: false,
                tmpfs_options: vec![],
            };
            points.push(match r {
                MountRequest::Volume { name, readonly, nocopy, options, .. } => {
                    let v = self.volumes.create(name.as_deref(), Default::default(), options.iter().cloned().collect())?;
                    if name.is_none() {
                        anonymous.push(v.name.clone());
                    }
                    match v.tmpfs_options() {
                        Some(opts) => MountPoint { name: Some(v.name), rw: !readonly, tmpfs_options: opts, ..base },
                        None => MountPoint { typ: MountType::Volume, name: Some(v.name), source: v.mountpoint, rw: !readonly, nocopy: *nocopy, ..base },
                    }
                }
                MountRequest::Bind { source, readonly, propagation, create_source, .. } => {
                    let src = Path::new(source);
                    if !src.exists() {
                        if !create_source {
                            return Err(Error::invalid(format!(
                                "invalid mount config for type \"bind\": bind source path does not exist: {source}"
                            )));
                        }
                        std::fs::create_dir_all(src).ctx(|| format!("create bind source {source}"))?;
                    }
                    MountPoint { typ: MountType::Bind, source: src.to_path_buf(), rw: !readonly, propagation: propagation.clone(), ..base }
                }
                MountRequest::Tmpfs { options, .. } => {
                    MountPoint { rw: !options.iter().any(|o| o == "ro"), tmpfs_options: options.clone(), ..base }
                }
            });
        }
        for vf in hc.volumes_from.iter().flatten() {
            let (c, mode) = vf.split_once(':').unwrap_or((vf, ""));
            let other = self.record(&self.resolve(c)?)?;
            for mut m in other
                .mounts
                .into_iter()
                .filter(|m| m.typ != MountType::Tmpfs)
            {
                if points.iter().any(|p| p.destination == m.destination) {
                    continue;
                }
                match mode {
                    "ro" => m.rw = false,
                    "rw" => m.rw = true,
                    "" => {}
                    other => {
                        return Err(Error::invalid(format!(
                            "invalid mode for --volumes-from: {other}"
                        )))
                    }
                }
                points.push(m);
            }
        }
        // The client's anonymous volumes (`Config.Volumes`, `-v /path`), then the image's.
        let wanted = user_volumes
            .into_iter()
            .flat_map(|v| v.keys().map(|k| (k, false)))
            .chain(
                image_volumes
                    .into_iter()
                    .flat_map(|v| v.keys().map(|k| (k, true))),
            );
        for (dest, from_image) in wanted {
            let d = dest.trim_end_matches('/');
            if d.is_empty() || points.iter().any(|p| p.destination == d) {
                continue;
            }
            if !d.starts_with('/') {
                return Err(Error::invalid(format!(
                    "invalid volume specification: '{dest}': the destination must be an absolute path"
                )));
            }
            // An image's volume must not hide the kernel's file systems: a volume at /dev/pts
            // would let the container choose what `exec -t` opens as its terminal.
            let clean = format!("/{}", crate::rooted::clean_clamped(d));
            if from_image
                && ["/proc", "/sys", "/dev"]
                    .iter()
                    .any(|k| clean == *k || clean.starts_with(&format!("{k}/")))
            {
                return Err(Error::invalid(format!(
                    "invalid volume {dest:?} in the image: a volume cannot cover /proc, /sys or /dev"
                )));
            }
            let v = self
                .volumes
                .create(None, Default::default(), Default::default())?;
            anonymous.push(v.name.clone());
            points.push(MountPoint {
                typ: MountType::Volume,
                name: Some(v.name),
                source: v.mountpoint,
                destination: d.to_string(),
                rw: true,
                propagation: String::new(),
                nocopy: false,
                tmpfs_options: vec![],
            });
        }
        Ok(points)
    }
}
