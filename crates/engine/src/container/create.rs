//! `create`: the user's settings merged over the image's and every rule checked first; only
//! then the name, volumes and directory are made, and a failure gives each of them back.

use crate::container::merge::{command_line, merge_config};
use crate::container::mounts::{parse_tmpfs_flag, parse_volume_flag, MountRequest};
use crate::container::validate::{validate_host_config, validate_hostname};
use crate::container::{names, ContainerRecord, HostConfig, MountPoint, MountType, State};
use crate::error::{Error, ErrorKind, IoContext, Result};
use crate::image::ContainerConfig;
use crate::network::plan::network_mode_is_bridge;
use crate::reference::Reference;
use crate::snapshot;
use crate::store;
use crate::Engine;
use std::collections::BTreeMap;
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
    pub mounts: Vec<MountRequest>,
    /// Made by a build for one of its steps (hidden from container lists).
    pub build_step: bool,
}

/// A mount as planned before anything exists: what it needs made at create.
#[derive(Debug)]
enum Needs {
    /// Nothing: a tmpfs, an existing bind source, or a mount taken from another container.
    Nothing,
    /// A volume, named or anonymous (then with the options and flags asked for).
    Volume {
        name: Option<String>,
        options: BTreeMap<String, String>,
        readonly: bool,
        nocopy: bool,
    },
    /// A bind source to make (`--mount type=bind` with create-source).
    BindSource,
}

/// What a failed create gives back: the name it reserved and the volumes it made.
struct Undo<'a> {
    engine: &'a Engine,
    name: Option<(String, String)>,
    volumes: Vec<String>,
    armed: bool,
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some((name, id)) = &self.name {
            names::release(&self.engine.root, name, id);
        }
        for v in &self.volumes {
            // Another container may have come to use a named one meanwhile: it stays then.
            let _ = self.engine.volumes.remove_unused(v);
        }
    }
}

impl Engine {
    /// Creates a container (Docker's `create`); returns its id.
    pub fn create(&self, req: CreateRequest) -> Result<String> {
        let mut hc = req.host_config;
        validate_host_config(&hc)?;
        self.check_networks(&hc)?;
        if let Some(links) = self.resolve_links(&hc)? {
            hc.links = Some(links);
        }
        let img = self.images.resolve(&req.image).map_err(|e| match e.kind {
            ErrorKind::ImageNotFound => {
                let shown = Reference::parse(&req.image)
                    .map(|r| r.familiar())
                    .unwrap_or_else(|_| req.image.clone());
                Error::image_not_found(format!("No such image: {shown}"))
            }
            _ => e,
        })?;
        let icfg = self.images.config(&img.id)?.config;
        let u = req.config;
        let mut cfg = merge_config(&icfg, &u, &req.image)?;
        if !u.hostname.is_empty() {
            validate_hostname(&u.hostname)?;
        }
        let planned =
            self.plan_mounts(&hc, &req.mounts, icfg.volumes.as_ref(), u.volumes.as_ref())?;

        // Everything is checked: from here on each thing made is given back on failure.
        let id = store::random_hex(32);
        cfg.hostname = self.hostname_for(&u.hostname, &hc, &id);
        let mut undo = Undo {
            engine: self,
            name: None,
            volumes: Vec::new(),
            armed: true,
        };
        let name = match &req.name {
            Some(n) => {
                let n = n.trim_start_matches('/').to_string();
                names::reserve(&self.root, &n, &id)?;
                n
            }
            None => names::generate(&self.root, &id)?,
        };
        undo.name = Some((name.clone(), id.clone()));
        let mounts = self.make_mounts(planned, &mut undo.volumes)?;
        let full = command_line(&cfg);
        let rec = ContainerRecord {
            id: id.clone(),
            name,
            created: store::now_rfc3339(),
            image: img.id.clone(),
            path: full[0].clone(),
            args: full[1..].to_vec(),
            config: cfg,
            host_config: hc,
            layers: img.diff_ids(),
            mounts,
            build_step: req.build_step,
            builder: req
                .build_step
                .then(|| {
                    let me = std::process::id() as i32;
                    crate::container::proc_start_time(me).map(|t| (me, t))
                })
                .flatten(),
        };
        // Build the directory aside and rename it into place, so a crash never leaves a
        // half-made container visible.
        let tmp = self.root.temp_path("create");
        let made = (|| -> Result<()> {
            std::fs::create_dir_all(&tmp).ctx(|| format!("create {}", tmp.display()))?;
            snapshot::prepare_rw(&tmp)?;
            store::write_json(&tmp.join("container.json"), &rec)?;
            store::write_json(&tmp.join("state.json"), &State::default())?;
            // `rmi` decides under the images lock whether a container uses the image: the
            // container appears under it too, so the image cannot go between our lookup and
            // this rename.
            let _l = self.images.lock()?;
            self.images.get(&img.id).map_err(|_| {
                Error::conflict(format!(
                    "image {} was removed while the container was being created",
                    req.image
                ))
            })?;
            std::fs::rename(&tmp, self.containers.dir(&id)).ctx(|| "store container".into())?;
            store::sync_dir(&self.root.join("containers"));
            Ok(())
        })();
        if let Err(e) = made {
            let _ = store::make_writable_and_remove(&tmp);
            return Err(e);
        }
        undo.armed = false;
        self.emit(&rec, "create", &[]);
        Ok(id)
    }

    /// The networks a create names must exist: a missing one is a bad request (400), never a
    /// 404, which clients read as a missing image and try to pull.
    fn check_networks(&self, hc: &HostConfig) -> Result<()> {
        for x in hc.extra_networks.iter().flatten() {
            self.networks
                .get(&x.name)
                .map_err(|_| Error::invalid(format!("network {} not found", x.name)))?;
        }
        if network_mode_is_bridge(&hc.network_mode)
            && !matches!(hc.network_mode.as_str(), "" | "default" | "bridge")
        {
            self.networks
                .get(&hc.network_mode)
                .map_err(|e| Error::invalid(e.message))?;
        }
        Ok(())
    }

    /// Legacy links name containers that exist now (Docker checks at create too); what is
    /// kept is the linked container's name. None when there are no links.
    fn resolve_links(&self, hc: &HostConfig) -> Result<Option<Vec<String>>> {
        let pairs = hc.link_pairs();
        if pairs.is_empty() {
            return Ok(None);
        }
        let mode = hc.network_mode.as_str();
        if mode == "host" || mode.starts_with("container:") {
            return Err(Error::invalid(format!(
                "conflicting options: {} type networking can't be used with links. This would result in undefined behavior",
                if mode == "host" { "host" } else { "container" }
            )));
        }
        let mut links = Vec::new();
        for (target, alias) in pairs {
            let child = self.resolve(target).map_err(|e| {
                Error::not_found(format!("could not get container for {target}: {e}"))
            })?;
            links.push(format!("{}:{alias}", self.record(&child)?.name));
        }
        Ok(Some(links))
    }

    /// The container's hostname: the user's, else the host's on the host's network, another
    /// container's when sharing its network, else the short id (Docker's).
    fn hostname_for(&self, asked: &str, hc: &HostConfig, id: &str) -> String {
        if !asked.is_empty() {
            return asked.to_string();
        }
        let short = || id[..12].to_string();
        if hc.network_mode == "host" {
            return nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_else(short);
        }
        if let Some(other) = hc.network_mode.strip_prefix("container:") {
            return self
                .resolve(other)
                .and_then(|o| self.record(&o))
                .map(|r| r.config.hostname)
                .unwrap_or_else(|_| short());
        }
        short()
    }

    /// Plans `-v`, `--mount`, `--tmpfs`, `--volumes-from` and the image's VOLUMEs as mount
    /// points, making nothing yet; explicit mounts win over `--volumes-from` and image volumes
    /// at the same path.
    fn plan_mounts(
        &self,
        hc: &HostConfig,
        requests: &[MountRequest],
        image_volumes: Option<&BTreeMap<String, serde_json::Value>>,
        user_volumes: Option<&BTreeMap<String, serde_json::Value>>,
    ) -> Result<Vec<(MountPoint, Needs)>> {
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
        let mut points: Vec<(MountPoint, Needs)> = Vec::new();
        let taken =
            |points: &[(MountPoint, Needs)], d: &str| points.iter().any(|p| p.0.destination == d);
        for r in &explicit {
            if taken(&points, r.destination()) {
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
                    if let Some(n) = name {
                        crate::volume::validate_name(n)?;
                    }
                    let options: BTreeMap<String, String> = options.iter().cloned().collect();
                    // A volume that exists keeps its options; a new one's are checked now.
                    if name.as_deref().is_none_or(|n| self.volumes.get(n).is_err()) {
                        crate::volume::mountpoint_for(Path::new("/"), &options)?;
                    }
                    let needs = Needs::Volume { name: name.clone(), options, readonly: *readonly, nocopy: *nocopy };
                    (base, needs)
                }
                MountRequest::Bind { source, readonly, propagation, create_source, .. } => {
                    let src = Path::new(source);
                    let needs = if src.exists() {
                        Needs::Nothing
                    } else if *create_source {
                        Needs::BindSource
                    } else {
                        return Err(Error::invalid(format!(
                            "invalid mount config for type \"bind\": bind source path does not exist: {source}"
                        )));
                    };
                    let m = MountPoint { typ: MountType::Bind, source: src.to_path_buf(), rw: !readonly, propagation: propagation.clone(), ..base };
                    (m, needs)
                }
                MountRequest::Tmpfs { options, .. } => {
                    let m = MountPoint { rw: !options.iter().any(|o| o == "ro"), tmpfs_options: options.clone(), ..base };
                    (m, Needs::Nothing)
                }
            });
        }
        for vf in hc.volumes_from.iter().flatten() {
            let (c, mode) = vf.split_once(':').unwrap_or((vf, ""));
            let rw = match mode {
                "ro" => Some(false),
                "rw" => Some(true),
                "" => None,
                other => {
                    return Err(Error::invalid(format!(
                        "invalid mode for --volumes-from: {other}"
                    )))
                }
            };
            let other = self.record(&self.resolve(c)?)?;
            for mut m in other
                .mounts
                .into_iter()
                .filter(|m| m.typ != MountType::Tmpfs)
            {
                if taken(&points, &m.destination) {
                    continue;
                }
                if let Some(rw) = rw {
                    m.rw = rw;
                }
                points.push((m, Needs::Nothing));
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
            if d.is_empty() || taken(&points, d) {
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
            let m = MountPoint {
                typ: MountType::Volume,
                name: None,
                source: PathBuf::new(),
                destination: d.to_string(),
                rw: true,
                propagation: String::new(),
                nocopy: false,
                tmpfs_options: vec![],
            };
            let needs = Needs::Volume {
                name: None,
                options: BTreeMap::new(),
                readonly: false,
                nocopy: false,
            };
            points.push((m, needs));
        }
        Ok(points)
    }

    /// Makes what the planned mounts need: volumes (those this call made, named or not, are
    /// added to `made`, so a failure can give them back) and bind sources.
    fn make_mounts(
        &self,
        planned: Vec<(MountPoint, Needs)>,
        made: &mut Vec<String>,
    ) -> Result<Vec<MountPoint>> {
        let mut out = Vec::with_capacity(planned.len());
        let mut bind_sources = Vec::new();
        for (m, needs) in planned {
            out.push(match needs {
                Needs::Nothing => m,
                Needs::BindSource => {
                    bind_sources.push(m.source.clone());
                    m
                }
                Needs::Volume {
                    name,
                    options,
                    readonly,
                    nocopy,
                } => {
                    let (v, new) = self.volumes.create_reporting(
                        name.as_deref(),
                        Default::default(),
                        options,
                    )?;
                    if new {
                        made.push(v.name.clone());
                    }
                    match v.tmpfs_options() {
                        Some(opts) => MountPoint {
                            typ: MountType::Tmpfs,
                            name: Some(v.name),
                            rw: !readonly,
                            tmpfs_options: opts,
                            ..m
                        },
                        None => MountPoint {
                            typ: MountType::Volume,
                            name: Some(v.name),
                            source: v.mountpoint,
                            rw: !readonly,
                            nocopy,
                            ..m
                        },
                    }
                }
            });
        }
        // Bind sources last: they are host folders a failure does not take back.
        for src in bind_sources {
            std::fs::create_dir_all(&src)
                .ctx(|| format!("create bind source {}", src.display()))?;
        }
        Ok(out)
    }
}
