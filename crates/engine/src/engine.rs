//! The engine: one handle on a state root, with the operations the CLI and the API server
//! call. Every method is safe to run from many processes at once.

use crate::container::{
    self, names, spec, ContainerRecord, ContainerStore, HostConfig, State, Status,
};
use crate::error::{Error, ErrorKind, IoContext, Result};
use crate::image::{ContainerConfig, ImageRecord, ImageStore};
use crate::reference::Reference;
use crate::shim;
use crate::snapshot;
use crate::store::{self, Root};
use std::collections::HashMap;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Default PATH for containers whose image sets none (Docker's).
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The host's memory in bytes (`MemTotal` of /proc/meminfo), 0 when unreadable: the limit
/// `stats` shows for unlimited containers and `info`'s MemTotal.
pub fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("MemTotal:")
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
        })
        .unwrap_or(0)
        * 1024
}

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

/// What `logs` reads: a time window, the last N entries, and whether to follow.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    /// Entries at or after this time.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Entries at or before this time (and no following).
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// Only the last N of the existing entries.
    pub tail: Option<usize>,
    /// Keep reading new entries while the container runs.
    pub follow: bool,
}

/// What `system df` reports: every image, container and volume with its size and use.
#[derive(Debug, Clone, Default)]
pub struct DiskUsage {
    /// Bytes of all unpacked layers, each counted once.
    pub layers_size: u64,
    /// (image id, bytes of its layers, bytes it shares with other images, containers using it).
    pub images: Vec<(String, u64, u64, usize)>,
    /// (container id, bytes of its writable layer, running).
    pub containers: Vec<(String, u64, bool)>,
    /// (volume name, bytes, containers using it).
    pub volumes: Vec<(String, u64, usize)>,
    /// Bytes of layers only images without containers hold (what pruning all could reclaim).
    pub images_reclaimable: u64,
}

/// One step of an image's history, as `history` shows it.
#[derive(Debug, Clone)]
pub struct HistoryItem {
    /// The image id, for the newest step only.
    pub id: Option<String>,
    /// RFC 3339.
    pub created: String,
    /// The instruction.
    pub created_by: String,
    /// Bytes its layer adds (0 for config-only steps).
    pub size: u64,
    /// Comment.
    pub comment: String,
    /// The image's tags, on the newest step.
    pub tags: Vec<String>,
}

/// One end of a `cp`: a path on the host, or a tar stream on a descriptor (stdin or stdout,
/// the API's request or response).
#[derive(Debug, Clone, Copy)]
pub enum CopyEnd<'a> {
    /// A file or directory on the host.
    Path(&'a Path),
    /// A tar archive read from or written to this descriptor.
    Tar(RawFd),
}

/// What `wait` waits for, as Docker's `condition`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    /// Until it is not running (at once when it is not).
    NotRunning,
    /// Until its next exit.
    NextExit,
    /// Until its next exit and its removal.
    Removed,
}

impl WaitCondition {
    /// Docker's names: `not-running` (the default), `next-exit`, `removed`.
    pub fn parse(s: &str) -> Result<WaitCondition> {
        match s {
            "" | "not-running" => Ok(WaitCondition::NotRunning),
            "next-exit" => Ok(WaitCondition::NextExit),
            "removed" => Ok(WaitCondition::Removed),
            _ => Err(Error::invalid(format!("invalid condition: \"{s}\""))),
        }
    }
}

/// Go's `os.ModeDir`, as the API's path stat carries it.
const GO_MODE_DIR: u32 = 1 << 31;

/// A path's stat in a container, with Go's `os.FileMode` bits as Docker's API reports them.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct PathStat {
    /// Last component of the path.
    pub name: String,
    /// Size in bytes.
    pub size: i64,
    /// Permission bits plus Go's type flags (directory 1<<31, symlink 1<<27, …).
    pub mode: u32,
    /// Modification time, RFC 3339.
    pub mtime: String,
    /// A symlink's target.
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

impl PathStat {
    fn new(path: &str, m: &std::fs::Metadata, link: Option<PathBuf>) -> PathStat {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let t = m.file_type();
        let raw = m.mode();
        let mut mode = raw & 0o777;
        let flags: [(bool, u32); 9] = [
            (t.is_dir() && link.is_none(), GO_MODE_DIR),
            (t.is_symlink() || link.is_some(), 1 << 27),
            (t.is_block_device() || t.is_char_device(), 1 << 26),
            (t.is_char_device(), 1 << 21),
            (t.is_fifo(), 1 << 25),
            (t.is_socket(), 1 << 24),
            (raw & 0o4000 != 0, 1 << 23),
            (raw & 0o2000 != 0, 1 << 22),
            (raw & 0o1000 != 0, 1 << 20),
        ];
        for (on, bit) in flags {
            if on {
                mode |= bit;
            }
        }
        let mtime = chrono::DateTime::from_timestamp(m.mtime(), m.mtime_nsec() as u32)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
            .unwrap_or_default();
        let name = Path::new(path.trim_end_matches('/'))
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "/".into());
        PathStat {
            name,
            size: m.size() as i64,
            mode,
            mtime,
            link_target: link.map(|l| l.display().to_string()).unwrap_or_default(),
        }
    }
}

/// What `exec` runs and how.
#[derive(Debug, Clone, Default)]
pub struct ExecRequest {
    /// Command and arguments.
    pub cmd: Vec<String>,
    /// Extra `KEY=value` variables.
    pub env: Vec<String>,
    /// `-u user[:group]`.
    pub user: Option<String>,
    /// `-w dir`.
    pub workdir: Option<String>,
    /// `--privileged`: every capability, no seccomp.
    pub privileged: bool,
    /// fds 0, 1, 2 of the process (None: /dev/null), when there is no terminal.
    pub stdio: [Option<RawFd>; 3],
    /// The terminal inside the container (from [`Engine::open_pty`]).
    pub tty_path: Option<String>,
    /// An id the caller made and announced with `exec_create` (the API's exec instances);
    /// None: one is made here and both events are emitted.
    pub exec_id: Option<String>,
}

/// `update`'s changes; None leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub struct UpdateRequest {
    /// Memory limit in bytes.
    pub memory: Option<i64>,
    /// Memory plus swap limit.
    pub memory_swap: Option<i64>,
    /// CPUs × 1e9.
    pub nano_cpus: Option<i64>,
    /// Relative CPU weight.
    pub cpu_shares: Option<i64>,
    /// Maximum number of processes.
    pub pids_limit: Option<i64>,
    /// Restart policy.
    pub restart_policy: Option<crate::container::RestartPolicy>,
    /// CPUs allowed.
    pub cpuset_cpus: Option<String>,
    /// Memory nodes allowed.
    pub cpuset_mems: Option<String>,
    /// Block I/O weight.
    pub blkio_weight: Option<u16>,
}

/// One sample of a container's resource usage.
#[derive(Debug, Clone, Copy)]
pub struct ContainerStats {
    /// cgroup counters.
    pub cgroup: berth_runtime::cgroups::Stats,
    /// Bytes received on its interfaces (loopback aside).
    pub net_rx: u64,
    /// Bytes sent.
    pub net_tx: u64,
    /// When the sample was taken.
    pub at: Instant,
    /// Host CPU time (all CPUs) at that moment, ns, for Docker's CPU % formula.
    pub system_ns: u64,
}

impl Default for ContainerStats {
    fn default() -> Self {
        ContainerStats {
            cgroup: Default::default(),
            net_rx: 0,
            net_tx: 0,
            at: Instant::now(),
            system_ns: system_cpu_ns(),
        }
    }
}

/// Total CPU time of the host from /proc/stat, nanoseconds.
fn system_cpu_ns() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            s.lines().next().map(|l| {
                l.split_whitespace()
                    .skip(1)
                    .filter_map(|v| v.parse::<u64>().ok())
                    .sum::<u64>()
            })
        })
        .map(|ticks| ticks * 1_000_000_000 / hz)
        .unwrap_or(0)
}

/// What `commit` makes.
#[derive(Debug, Clone, Default)]
pub struct CommitRequest {
    /// Name for the new image.
    pub reference: Option<Reference>,
    /// `-m`.
    pub message: Option<String>,
    /// `-a`.
    pub author: Option<String>,
    /// `-c` Dockerfile instructions.
    pub changes: Vec<String>,
    /// Freeze the container while its layer is read (default true).
    pub pause: bool,
}

/// A handle on one state root.
#[derive(Debug, Clone)]
pub struct Engine {
    /// The state root.
    pub root: Root,
    /// Images.
    pub images: ImageStore,
    /// Containers.
    pub containers: ContainerStore,
    /// Volumes.
    pub volumes: crate::volume::VolumeStore,
    /// Networks.
    pub networks: crate::network::NetworkStore,
    /// cgroup parent of containers (`berth`).
    pub cgroup_parent: String,
    /// The binary re-executed as shim (this executable by default).
    pub shim_binary: PathBuf,
}

fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open(2) returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    // SAFETY: a fresh descriptor we own.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Waits until the process behind `fd` exits, at most `timeout` (None: forever). True if it did.
fn wait_pidfd(fd: &OwnedFd, timeout: Option<Duration>) -> bool {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let ms = match deadline {
            None => -1,
            Some(d) => d
                .saturating_duration_since(Instant::now())
                .as_millis()
                .min(i32::MAX as u128) as i32,
        };
        let mut p = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll(2) on one pollfd.
        let n = unsafe { libc::poll(&mut p, 1, ms) };
        if n > 0 {
            return true;
        }
        if n == 0 {
            return false;
        }
        if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return false;
        }
    }
}

impl Engine {
    /// Opens the state root at `root`, sweeping leftovers of crashed processes.
    pub fn open(root: &Path) -> Result<Engine> {
        let root = Root::open(root)?;
        root.sweep_temp();
        let shim_binary =
            std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe"));
        Ok(Engine {
            images: ImageStore::new(&root),
            containers: ContainerStore::new(&root),
            volumes: crate::volume::VolumeStore::new(&root),
            networks: crate::network::NetworkStore::new(&root),
            root,
            cgroup_parent: "berth".into(),
            shim_binary,
        })
    }

    // ----- registries -----

    /// Pulls `reference` from its registry (see [`crate::registry::pull`]).
    pub fn pull(
        &self,
        reference: &Reference,
        opts: &crate::registry::PullOptions,
        progress: &(dyn Fn(crate::registry::pull::PullEvent) + Sync),
    ) -> Result<crate::registry::PullResult> {
        crate::registry::pull::pull(&self.root, &self.images, reference, opts, progress)
    }

    /// Pushes the local image `reference` to its registry, with the stored credentials or
    /// those given.
    pub fn push(
        &self,
        reference: &Reference,
        credentials: Option<&crate::registry::auth::Credentials>,
        progress: &(dyn Fn(crate::registry::pull::PullEvent) + Sync),
    ) -> Result<crate::registry::PushResult> {
        crate::registry::push::push(&self.root, &self.images, reference, credentials, progress)
    }

    /// The tags of `reference`'s repository on its registry.
    pub fn list_tags(&self, reference: &Reference) -> Result<Vec<String>> {
        let cfg = crate::registry::RegistryConfig::load()?;
        crate::registry::Client::new(reference, &cfg)?.tags()
    }

    // ----- containers -----

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
    fn resolve_mounts(
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

    /// A container's record.
    pub fn record(&self, id: &str) -> Result<ContainerRecord> {
        self.containers.record(id)
    }

    /// Resolves a name, id or id prefix to a full id.
    pub fn resolve(&self, s: &str) -> Result<String> {
        self.containers.resolve(s)
    }

    /// The state, corrected if the container's shim died without recording an exit (kill -9):
    /// then whatever is left of the container is killed and it is marked exited.
    pub fn state(&self, id: &str) -> Result<State> {
        let st = self.containers.state_raw(id)?;
        if !st.status.is_live() || container::same_process(st.shim_pid, st.shim_start) {
            return Ok(st);
        }
        let _l = self.containers.lock(id)?;
        self.state_unlocked_check(id)
    }

    /// What the legacy links of a container on the default bridge give it at start: a hosts
    /// line and Docker's `ALIAS_PORT_…`/`ALIAS_ENV_…` variables for each linked container,
    /// which must be running there. On a user network links are names its DNS server answers
    /// for this container alone, so nothing is written.
    fn link_entries(&self, rec: &ContainerRecord) -> Result<Vec<LinkEntry>> {
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
    fn namespace_modes(&self, rec: &ContainerRecord) -> Result<Vec<(&'static str, spec::NsMode)>> {
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
                    spec::NsMode::Join(PathBuf::from(format!("/run/berth/netns/{}", rec.id)))
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
    fn resolve_user(&self, rec: &ContainerRecord, user: &str) -> Result<spec::ResolvedUser> {
        let upper = self.containers.dir(&rec.id).join("upper");
        let read = |p: &str| {
            self.images
                .layers
                .read_file(Some(&upper), &rec.layers, p)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
        };
        spec::resolve_user(
            user,
            read("/etc/passwd").as_deref(),
            read("/etc/group").as_deref(),
        )
    }

    fn prepare_bundle(
        &self,
        rec: &ContainerRecord,
        console_size: Option<(u16, u16)>,
    ) -> Result<()> {
        let dir = self.containers.dir(&rec.id);
        let mut user = self.resolve_user(rec, &rec.config.user)?;
        for g in rec.host_config.group_add.iter().flatten() {
            let gid = match g.parse::<u32>() {
                Ok(n) => n,
                Err(_) => {
                    let upper = dir.join("upper");
                    let group = self
                        .images
                        .layers
                        .read_file(Some(&upper), &rec.layers, "/etc/group")
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_default();
                    group
                        .lines()
                        .find_map(|l| {
                            let f: Vec<&str> = l.split(':').collect();
                            (f.len() >= 3 && f[0] == g)
                                .then(|| f[2].parse().ok())
                                .flatten()
                        })
                        .ok_or_else(|| {
                            Error::invalid(format!(
                                "Unable to find group {g}: no matching entries in group file"
                            ))
                        })?
                }
            };
            if !user.additional_gids.contains(&gid) {
                user.additional_gids.push(gid);
            }
        }
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
        let mut env = rec.config.env.clone().unwrap_or_default();
        let has = |env: &Vec<String>, k: &str| {
            env.iter()
                .any(|e| e.split_once('=').map(|x| x.0) == Some(k))
        };
        if !has(&env, "HOSTNAME") {
            env.insert(
                1.min(env.len()),
                format!("HOSTNAME={}", rec.config.hostname),
            );
        }
        if rec.config.tty && !has(&env, "TERM") {
            env.push("TERM=xterm".into());
        }
        if !has(&env, "HOME") {
            env.push(format!("HOME={}", user.home));
        }
        for e in links.iter().flat_map(|l| &l.env) {
            // The container's own variables win over a link's (Docker's order).
            if !has(&env, e.split_once('=').map_or(e.as_str(), |x| x.0)) {
                env.push(e.clone());
            }
        }
        std::fs::write(dir.join("hostname"), format!("{}\n", rec.config.hostname))
            .ctx(|| "write hostname".into())?;
        let host_net = namespaces
            .iter()
            .any(|(k, m)| *k == "network" && *m == spec::NsMode::Host);
        let hosts = if host_net {
            // On the host's network the host's names are the right ones, as Docker does.
            std::fs::read_to_string("/etc/hosts").unwrap_or_default()
        } else {
            let mut h = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::\tip6-localnet\nff00::\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n".to_string();
            if let Some(a) = &attachment {
                h.push_str(&format!("{}\t{}\n", a.ip, rec.config.hostname));
            }
            for l in &links {
                h.push_str(&l.hosts_line);
            }
            for extra in rec.host_config.extra_hosts.iter().flatten() {
                if let Some((name, ip)) = extra.split_once(':') {
                    // `host-gateway`: the host as the container reaches it — its network's
                    // gateway, else the default bridge's (Docker uses docker0's address).
                    let ip = if ip == "host-gateway" {
                        attachment
                            .as_ref()
                            .map(|a| a.gateway.to_string())
                            .or_else(|| {
                                let net = self.networks.get("bridge").ok()?;
                                net.subnet().map(|(_, _, g)| g.to_string())
                            })
                            .unwrap_or_else(|| "127.0.0.1".into())
                    } else {
                        ip.to_string()
                    };
                    h.push_str(&format!("{ip}\t{name}\n"));
                }
            }
            h
        };
        std::fs::write(dir.join("hosts"), hosts).ctx(|| "write hosts".into())?;
        let hc = &rec.host_config;
        let user_dns = hc.dns.iter().flatten().next().is_some()
            || hc.dns_search.iter().flatten().next().is_some()
            || hc.dns_options.iter().flatten().next().is_some();
        let on_user_network = attachment.as_ref().is_some_and(|a| a.network != "bridge");
        let resolv = if user_dns || on_user_network {
            // Docker's rules: --dns/--dns-search/--dns-option replace the host's lines; on a
            // user network the nameserver is the embedded one (which forwards to --dns).
            let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
            let mut out = String::new();
            if on_user_network {
                out.push_str(&format!("nameserver {}\n", crate::network::dns::ADDRESS));
            } else if let Some(d) = hc.dns.as_ref().filter(|d| !d.is_empty()) {
                for n in d {
                    out.push_str(&format!("nameserver {n}\n"));
                }
            } else {
                out.extend(
                    resolv_conf()
                        .lines()
                        .filter(|l| l.starts_with("nameserver"))
                        .map(|l| format!("{l}\n")),
                );
            }
            match hc.dns_search.as_ref().filter(|d| !d.is_empty()) {
                Some(d) => out.push_str(&format!("search {}\n", d.join(" "))),
                None => out.extend(
                    host.lines()
                        .filter(|l| l.trim_start().starts_with("search"))
                        .map(|l| format!("{l}\n")),
                ),
            }
            let mut opts: Vec<String> = hc.dns_options.clone().unwrap_or_default();
            if on_user_network && !opts.iter().any(|o| o.starts_with("ndots")) {
                opts.push("ndots:0".into());
            }
            if !opts.is_empty() {
                out.push_str(&format!("options {}\n", opts.join(" ")));
            }
            out
        } else if host_net {
            std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default()
        } else {
            resolv_conf()
        };
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
    fn copy_up_volumes(&self, rec: &ContainerRecord) -> Result<()> {
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
                    let src = snapshot::resolve_in_root(rootfs, dest)?;
                    if !src.is_dir() {
                        continue;
                    }
                    let fail =
                        |e: &dyn std::fmt::Display| format!("copy {dest} into its volume: {e}");
                    let f = std::fs::File::create(&staged).map_err(|e| fail(&e))?;
                    let mut b = tar::Builder::new(std::io::BufWriter::new(f));
                    b.follow_symlinks(false);
                    snapshot::changes::write_tree(&mut b, &src, Path::new("."), &[])
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

    /// Removes the anonymous volumes of `rec` that no other container uses (`rm -v`, `--rm`).
    pub fn remove_anonymous_volumes(&self, rec: &ContainerRecord) {
        crate::volume::remove_anonymous_of(&self.root, rec);
    }

    /// The compiled BPF program of a seccomp profile, from `cache/seccomp/<sha256 of the
    /// profile>.bpf`, compiled (once) when missing.
    fn seccomp_program(&self, sc: &oci_spec::runtime::LinuxSeccomp) -> Result<Vec<u8>> {
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

    /// Starts a created or exited container through a new shim; `attach` becomes the shim's
    /// first client. Returns the container's pid; a running container is left as it is.
    pub fn start(&self, id: &str, attach: Option<UnixStream>) -> Result<i32> {
        self.start_sized(id, attach, None)
    }

    /// [`Engine::start`] with the initial size (rows, columns) of the container's terminal.
    pub fn start_sized(
        &self,
        id: &str,
        attach: Option<UnixStream>,
        console_size: Option<(u16, u16)>,
    ) -> Result<i32> {
        let out = self.start_once(id, attach, console_size);
        if out.is_err() && self.record(id).is_ok_and(|r| r.host_config.auto_remove) {
            // Docker's --rm: a container that could not start is removed too (a client
            // waiting for its removal would wait forever otherwise).
            let _ = self.remove(id, true, true);
        }
        out
    }

    fn start_once(
        &self,
        id: &str,
        attach: Option<UnixStream>,
        console_size: Option<(u16, u16)>,
    ) -> Result<i32> {
        let rec = self.record(id)?;
        let _lock = self.containers.lock(id)?;
        let st = self.state_unlocked_check(id)?;
        if st.status.is_live() {
            return Ok(st.pid);
        }
        let dir = self.containers.dir(id);
        // A start that fails before the shim runs gives its network plan back (lease, record).
        let give_back = |e: Error| {
            crate::network::detach(&self.root, &dir, id);
            e
        };
        self.prepare_bundle(&rec, console_size)
            .map_err(give_back)
            .map_err(|e| {
                Error::new(
                    e.kind,
                    format!("failed to start container {}: {}", &id[..12], e.message),
                )
            })?;

        let (ready_r, ready_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| Error::internal(format!("pipe: {e}")))?;
        let ready_w_fd = ready_w.as_raw_fd();
        let attach_fd = attach.as_ref().map(|s| s.as_raw_fd());
        let mut cmd = std::process::Command::new(&self.shim_binary);
        cmd.arg("shim").arg("--root").arg(self.root.path()).arg(id);
        if attach.is_some() {
            cmd.arg("--attach");
        }
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        // SAFETY: the closure only calls dup2(2), async-signal-safe, between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                // Lift both above the targets first: a source may already sit on 3 or 4, and
                // dup2 onto itself would keep its close-on-exec flag.
                let ready = libc::fcntl(ready_w_fd, libc::F_DUPFD_CLOEXEC, 10);
                let attach = attach_fd.map(|a| libc::fcntl(a, libc::F_DUPFD_CLOEXEC, 10));
                if ready < 0
                    || attach.is_some_and(|a| a < 0)
                    || libc::dup2(ready, shim::READY_FD) < 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                if let Some(a) = attach {
                    if libc::dup2(a, shim::ATTACH_FD) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| Error::internal(format!("start shim {}: {e}", self.shim_binary.display())))
            .map_err(give_back)?;
        drop(ready_w);
        drop(attach);
        let mut msg = String::new();
        let _ = std::fs::File::from(ready_r).read_to_string(&mut msg);
        let _ = child.wait();
        if let Some(pid) = msg.strip_prefix("ok ") {
            return pid
                .trim()
                .parse()
                .map_err(|_| Error::internal(format!("shim said {msg:?}")));
        }
        let rest = msg.strip_prefix("err ").unwrap_or("");
        let (code, text) = rest
            .split_once(' ')
            .unwrap_or(("125", "the shim exited without reporting"));
        let kind = match code {
            "127" => ErrorKind::CommandNotFound,
            "126" => ErrorKind::NotExecutable,
            _ => ErrorKind::Internal,
        };
        let text = if msg.is_empty() {
            "the shim exited without reporting".to_string()
        } else {
            text.to_string()
        };
        Err(Error::new(
            kind,
            format!("failed to create task for container {}: {text}", &id[..12]),
        ))
    }

    /// The state check for callers that already hold the container's lock.
    fn state_unlocked_check(&self, id: &str) -> Result<State> {
        let mut st = self.containers.state_raw(id)?;
        if st.status.is_live() && !container::same_process(st.shim_pid, st.shim_start) {
            let cg =
                berth_runtime::Cgroup::open(Path::new(&format!("{}/{id}", self.cgroup_parent)));
            cg.signal_all(libc::SIGKILL);
            let _ = cg.destroy();
            st.status = Status::Exited;
            st.exit_code = 137;
            st.pid = 0;
            st.error = "the container's shim died; the container was killed".into();
            st.finished_at = store::now_rfc3339();
            self.containers.write_state(id, &st)?;
            crate::network::detach(&self.root, &self.containers.dir(id), id);
        }
        Ok(st)
    }

    /// Waits for the shim of a running container to finish (exit recorded). True if it did.
    fn wait_shim(&self, st: &State, timeout: Option<Duration>) -> bool {
        if !container::same_process(st.shim_pid, st.shim_start) {
            return true;
        }
        match pidfd_open(st.shim_pid) {
            Some(fd) => wait_pidfd(&fd, timeout),
            None => true,
        }
    }

    /// Sends a signal to a running container's init.
    pub fn kill(&self, id: &str, signal: i32) -> Result<()> {
        let st = self.state(id)?;
        if st.status == Status::Restarting {
            // Between two runs there is no process: ending the restart loop is the kill
            // (Docker's).
            self.mark_stopping(id)?;
            self.wait_shim(&st, Some(Duration::from_secs(30)));
            return Ok(());
        }
        if !matches!(st.status, Status::Running | Status::Paused) {
            return Err(Error::conflict(format!(
                "cannot kill container: {}: container {id} is not running",
                &id[..12]
            )));
        }
        // A user's kill ends the container for good: no restart policy brings it back.
        self.mark_stopping(id)?;
        if let Ok(rec) = self.record(id) {
            self.emit(&rec, "kill", &[("signal", &signal.to_string())]);
        }
        signal_pid(st.pid, signal)
            .map_err(|e| Error::internal(format!("kill container {id}: {e}")))?;
        if signal == libc::SIGKILL {
            // A frozen process dies only once thawed (Docker unpauses after SIGKILL too),
            // whether `pause` or a copy in progress froze it.
            let _ = self.cgroup(id).set_frozen(false);
        }
        // As dockerd: after SIGKILL the container is gone when kill returns, so a `rm` that
        // follows does not find it running.
        if signal == libc::SIGKILL {
            self.wait_shim(&st, Some(Duration::from_secs(10)));
        }
        Ok(())
    }

    /// Stops a container: its stop signal, then SIGKILL after `timeout` seconds (default: the
    /// container's StopTimeout or 10); returns once the exit is recorded.
    pub fn stop(&self, id: &str, timeout: Option<i64>) -> Result<()> {
        let rec = self.record(id)?;
        let st = self.state(id)?;
        if st.status == Status::Restarting {
            // Between two runs: the shim sees the flag and ends instead of restarting.
            self.mark_stopping(id)?;
            self.wait_shim(&st, Some(Duration::from_secs(30)));
            return Ok(());
        }
        if !matches!(st.status, Status::Running | Status::Paused) {
            return Ok(());
        }
        self.mark_stopping(id)?;
        let sig = match &rec.config.stop_signal {
            Some(s) => crate::signal::parse(s)?,
            None => libc::SIGTERM,
        };
        let t = timeout.or(rec.config.stop_timeout).unwrap_or(10);
        let cfd = pidfd_open(st.pid);
        let _ = signal_pid(st.pid, sig);
        // A paused container cannot act on its stop signal: it waits out the timeout, as
        // Docker's does, and is thawed with SIGKILL.
        let exited = match (&cfd, t) {
            (Some(fd), t) if t >= 0 => wait_pidfd(fd, Some(Duration::from_secs(t as u64))),
            (Some(fd), _) => wait_pidfd(fd, None),
            (None, _) => true,
        };
        if !exited {
            let _ = signal_pid(st.pid, libc::SIGKILL);
            // Frozen by `pause` or by a copy whatever the state says: SIGKILL needs a thaw.
            let _ = self.cgroup(id).set_frozen(false);
        }
        self.emit(&rec, "kill", &[("signal", &sig.to_string())]);
        self.wait_shim(&st, Some(Duration::from_secs(30)));
        self.emit(&rec, "stop", &[]);
        Ok(())
    }

    /// Docker's `restart`: stop (a no-op when not running), start, and the `restart` event.
    pub fn restart(&self, id: &str, timeout: Option<i64>) -> Result<()> {
        self.stop(id, timeout)?;
        self.start(id, None)?;
        if let Ok(rec) = self.record(id) {
            self.emit(&rec, "restart", &[]);
        }
        Ok(())
    }

    /// Waits as Docker's `wait` does for `cond`; returns the exit code of the run that ended.
    /// A run ends when its exit is recorded, also when a restart policy starts the next one.
    pub fn wait_for(&self, id: &str, cond: WaitCondition) -> Result<i32> {
        let st = self.state(id)?;
        if cond == WaitCondition::NotRunning && !st.status.is_live() {
            return Ok(st.exit_code);
        }
        let before = st.finished_at.clone();
        // With a restart policy the shim lives on across runs: only the recorded exit tells a
        // run's end. Without one, waiting for the shim costs no polling.
        let restarts = !matches!(
            self.record(id)?.host_config.restart_policy.name.as_str(),
            "" | "no"
        );
        let code = loop {
            let now = match self.state(id) {
                Ok(s) => s,
                // Removed (AutoRemove) before we saw it stop.
                Err(_) => break self.last_exit_code(id),
            };
            // A recorded exit ends the wait: once stopped, or under a restart policy even when
            // the next run has started.
            if now.finished_at != before && (now.status != Status::Running || restarts) {
                break now.exit_code;
            }
            if now.status.is_live() && !restarts {
                // AutoRemove may take the state (and its exit code) at any moment.
                break match self.wait(id) {
                    Ok(c) if self.record(id).is_ok() => c,
                    _ => self.last_exit_code(id),
                };
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        if cond == WaitCondition::Removed {
            while self.record(id).is_ok() {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        Ok(code)
    }

    /// The exit code of the container's last `die` event (for one already removed).
    fn last_exit_code(&self, id: &str) -> i32 {
        crate::events::read_all(&self.root)
            .iter()
            .rev()
            .find(|ev| ev.typ == "container" && ev.action == "die" && ev.actor.id == id)
            .and_then(|ev| {
                ev.actor
                    .attributes
                    .get("exitCode")
                    .and_then(|c| c.parse().ok())
            })
            .unwrap_or(-1)
    }

    /// Blocks until the container is not running; returns its exit code.
    pub fn wait(&self, id: &str) -> Result<i32> {
        let st = self.state(id)?;
        if st.status.is_live() {
            self.wait_shim(&st, None);
        }
        Ok(self.state(id).map(|s| s.exit_code).unwrap_or(st.exit_code))
    }

    /// Removes a container; a running one only with `force` (then it is killed first).
    pub fn remove(&self, id: &str, force: bool, volumes: bool) -> Result<()> {
        let rec = self.record(id)?;
        let st = self.state(id)?;
        if st.status.is_live() {
            if !force {
                return Err(Error::conflict(format!(
                    "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
                    rec.name
                )));
            }
            self.mark_stopping(id)?;
            // Frozen by `pause` or by a copy whatever the state says: SIGKILL needs a thaw.
            let _ = self.cgroup(id).set_frozen(false);
            // A restarting container has no process (pid 0): the flag alone ends its loop.
            let _ = signal_pid(st.pid, libc::SIGKILL);
            self.wait_shim(&st, Some(Duration::from_secs(30)));
        }
        let _l = self.containers.lock(id)?;
        // Normally gone with the container's exit; this covers a shim that died first.
        let _ = berth_runtime::Cgroup::open(Path::new(&format!("{}/{id}", self.cgroup_parent)))
            .destroy();
        if !self.containers.dir(id).exists() {
            return Ok(()); // --rm beat us to it
        }
        crate::network::detach(&self.root, &self.containers.dir(id), id);
        self.containers.remove_files(&rec)?;
        self.emit(&rec, "destroy", &[]);
        if volumes {
            self.remove_anonymous_volumes(&rec);
        }
        Ok(())
    }

    /// Removes container `id`'s legacy link named `alias` (`DELETE /containers/{id}/{alias}?link=1`).
    pub fn remove_link(&self, id: &str, alias: &str) -> Result<()> {
        let _l = self.containers.lock(id)?;
        let mut rec = self.record(id)?;
        let before = rec.host_config.links.as_ref().map_or(0, Vec::len);
        let kept: Vec<String> = rec
            .host_config
            .links
            .iter()
            .flatten()
            .filter(|l| crate::container::link_pair(l).is_none_or(|(_, a)| a != alias))
            .cloned()
            .collect();
        if kept.len() == before {
            return Err(Error::not_found(format!(
                "Could not find link {alias} of container /{}",
                rec.name
            )));
        }
        rec.host_config.links = (!kept.is_empty()).then_some(kept);
        self.containers.write_record(&rec)
    }

    /// Renames a container.
    pub fn rename(&self, id: &str, new: &str) -> Result<()> {
        let new = new.trim_start_matches('/');
        let _l = self.containers.lock(id)?;
        let mut rec = self.record(id)?;
        if rec.name == new {
            return Err(Error::invalid(
                "Renaming a container with the same name as its current name",
            ));
        }
        names::reserve(&self.root, new, id)?;
        let old = std::mem::replace(&mut rec.name, new.to_string());
        if let Err(e) = self.containers.write_record(&rec) {
            names::release(&self.root, new, id);
            return Err(e);
        }
        names::release(&self.root, &old, id);
        // Links name their containers: those pointing at the old name follow, as Docker's.
        for other in self.containers.ids() {
            if other == id {
                continue;
            }
            let Ok(_o) = self.containers.lock(&other) else {
                continue;
            };
            if let Ok(mut r) = self.record(&other) {
                if relink(&mut r.host_config, &old, new) {
                    let _ = self.containers.write_record(&r);
                }
            }
        }
        self.emit(&rec, "rename", &[("oldName", &format!("/{old}"))]);
        Ok(())
    }

    /// Every container with its state, newest first.
    pub fn list(&self) -> Vec<(ContainerRecord, State)> {
        let mut v: Vec<(ContainerRecord, State)> = self
            .containers
            .ids()
            .into_iter()
            .filter_map(|id| {
                let r = self.containers.record(&id).ok()?;
                let s = self.state(&id).ok()?;
                Some((r, s))
            })
            .collect();
        v.sort_by(|a, b| b.0.created.cmp(&a.0.created));
        v
    }

    /// Removes every container that is not running; returns their ids and reclaimed bytes.
    pub fn prune_containers(&self) -> Result<(Vec<String>, u64)> {
        let mut out = Vec::new();
        let mut bytes = 0;
        for (rec, st) in self.list() {
            if matches!(st.status, Status::Created | Status::Exited | Status::Dead) {
                bytes += dir_size(&self.containers.dir(&rec.id).join("upper"));
                self.remove(&rec.id, false, false)?;
                out.push(rec.id);
            }
        }
        Ok((out, bytes))
    }

    /// Removes the volumes no container uses: anonymous ones, or with `all` named ones too;
    /// returns their names and the bytes reclaimed.
    pub fn prune_volumes(&self, all: bool) -> (Vec<String>, u64) {
        let mut removed = Vec::new();
        let mut bytes = 0;
        for v in self.volumes.list() {
            if (all || v.anonymous()) && crate::volume::users(&self.root, &v.name).is_empty() {
                bytes += self.volumes.size(&v);
                if self.volumes.remove(&v.name).is_ok() {
                    removed.push(v.name);
                }
            }
        }
        (removed, bytes)
    }

    /// Runs one more process in a running container (Docker's `exec`); returns its host pid.
    /// The process is the caller's child: the caller waits for it and gets its exit code.
    pub fn exec(&self, id: &str, req: &ExecRequest) -> Result<i32> {
        let rec = self.record(id)?;
        let st = self.state(id)?;
        if st.status == Status::Paused {
            return Err(Error::conflict(format!(
                "container {id} is paused, unpause the container before exec"
            )));
        }
        if st.status != Status::Running {
            return Err(Error::conflict(format!("container {id} is not running")));
        }
        if req.cmd.is_empty() {
            return Err(Error::invalid("no command specified"));
        }
        let dir = self.containers.dir(id);
        let spec = berth_runtime::load_spec(&dir)?;
        let mut process = spec
            .process()
            .clone()
            .ok_or_else(|| Error::internal("the container's spec has no process"))?;
        process.set_args(Some(req.cmd.clone()));
        process.set_terminal(Some(req.tty_path.is_some()));
        let mut env = process.env().clone().unwrap_or_default();
        for e in &req.env {
            let key = e.split_once('=').map(|x| x.0).unwrap_or(e);
            env.retain(|x| x.split_once('=').map(|y| y.0).unwrap_or(x) != key);
            env.push(e.clone());
        }
        if req.tty_path.is_some() && !env.iter().any(|e| e.starts_with("TERM=")) {
            env.push("TERM=xterm".into());
        }
        if let Some(u) = &req.user {
            let ru = self.resolve_user(&rec, u)?;
            let user = process.user_mut();
            user.set_uid(ru.uid);
            user.set_gid(ru.gid);
            user.set_additional_gids(Some(ru.additional_gids));
            env.retain(|e| !e.starts_with("HOME="));
            env.push(format!("HOME={}", ru.home));
        }
        process.set_env(Some(env));
        if let Some(w) = &req.workdir {
            if !w.starts_with('/') {
                return Err(Error::invalid(format!(
                    "the working directory '{w}' is invalid, it needs to be an absolute path"
                )));
            }
            process.set_cwd(w.into());
        }
        let mut seccomp = spec.linux().as_ref().and_then(|l| l.seccomp().clone());
        if req.privileged {
            let mut hc = rec.host_config.clone();
            hc.privileged = true;
            let all: Vec<oci_spec::runtime::Capability> = spec::capabilities(&hc)?
                .iter()
                .filter_map(|c| serde_json::from_value(serde_json::Value::String(c.clone())).ok())
                .collect();
            let set: oci_spec::runtime::Capabilities = all.into_iter().collect();
            let caps = oci_spec::runtime::LinuxCapabilitiesBuilder::default()
                .bounding(set.clone())
                .effective(set.clone())
                .permitted(set)
                .build()
                .map_err(|e| Error::internal(e.to_string()))?;
            process.set_capabilities(Some(caps));
            seccomp = None;
        }
        let bpf = if seccomp.is_some() {
            std::fs::read(dir.join("seccomp.bpf")).ok()
        } else {
            None
        };
        let cgroup =
            berth_runtime::Cgroup::open(Path::new(&format!("{}/{id}", self.cgroup_parent)));
        let opts = berth_runtime::exec::ExecOptions {
            target_pid: st.pid,
            process: &process,
            seccomp: seccomp.as_ref(),
            seccomp_bpf: bpf.as_deref(),
            cgroup: Some(&cgroup),
            stdio: req.stdio,
            tty_path: req.tty_path.clone(),
        };
        let cmdline = req.cmd.join(" ");
        let exec_id = match &req.exec_id {
            Some(x) => x.clone(),
            None => {
                let x = store::random_hex(32);
                self.emit(
                    &rec,
                    "exec_create",
                    &[("execID", &x), ("execCommand", &cmdline)],
                );
                x
            }
        };
        let pid = berth_runtime::exec::exec(&opts)?;
        self.emit(
            &rec,
            "exec_start",
            &[("execID", &exec_id), ("execCommand", &cmdline)],
        );
        Ok(pid)
    }

    /// `top`: the header and rows of `ps ARGS` (default `-ef`) for the container's processes.
    pub fn top(&self, id: &str, ps_args: &[String]) -> Result<(Vec<String>, Vec<Vec<String>>)> {
        let st = self.state(id)?;
        if !st.status.is_live() {
            return Err(Error::conflict(format!("container {id} is not running")));
        }
        let pids: std::collections::HashSet<i32> = self.cgroup(id).pids().into_iter().collect();
        let args: Vec<String> = if ps_args.is_empty() {
            vec!["-ef".into()]
        } else {
            ps_args.to_vec()
        };
        let out = std::process::Command::new("ps")
            .args(&args)
            .output()
            .ctx(|| "run ps".to_string())?;
        if !out.status.success() {
            return Err(Error::internal(format!(
                "ps {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        let titles: Vec<String> = lines
            .next()
            .unwrap_or("")
            .split_whitespace()
            .map(String::from)
            .collect();
        let Some(pid_col) = titles.iter().position(|c| c == "PID") else {
            return Err(Error::internal("Couldn't find PID field in ps output"));
        };
        let mut rows = Vec::new();
        for l in lines {
            // The last column (the command) may contain spaces.
            let words: Vec<&str> = l.split_whitespace().collect();
            let split = titles.len().saturating_sub(1).min(words.len());
            let mut fields: Vec<String> = words[..split].iter().map(|w| w.to_string()).collect();
            fields.push(words[split..].join(" "));
            if fields
                .get(pid_col)
                .and_then(|p| p.parse::<i32>().ok())
                .is_some_and(|p| pids.contains(&p))
            {
                rows.push(fields);
            }
        }
        Ok((titles, rows))
    }

    /// Opens a new terminal from a running container's own devpts instance: its master side and
    /// the slave's path inside the container (for `exec -t`).
    pub fn open_pty(&self, id: &str) -> Result<(OwnedFd, String)> {
        let st = self.state(id)?;
        if st.status != Status::Running {
            return Err(Error::conflict(format!("container {id} is not running")));
        }
        let path = format!("/proc/{}/root/dev/pts/ptmx", st.pid);
        // Inside the container's root and never through a link: the container controls its
        // /dev. What opens must be a pty multiplexer (char 5:2), nothing else of the host's.
        let root = crate::rooted::Rooted::open(Path::new(&format!("/proc/{}/root", st.pid)))
            .ctx(|| format!("open {path}"))?;
        let fd = root
            .open_at(
                "/dev/pts/ptmx",
                rustix::fs::OFlags::RDWR | rustix::fs::OFlags::NOCTTY,
                false,
            )
            .ctx(|| format!("open {path}"))?;
        let st_dev =
            rustix::fs::fstat(&fd).map_err(|e| Error::internal(format!("stat {path}: {e}")))?;
        let is_ptmx = rustix::fs::FileType::from_raw_mode(st_dev.st_mode)
            == rustix::fs::FileType::CharacterDevice
            && rustix::fs::major(st_dev.st_rdev) == 5
            && rustix::fs::minor(st_dev.st_rdev) == 2;
        if !is_ptmx {
            return Err(Error::invalid(format!("{path} is not a pty multiplexer")));
        }
        let mut n: libc::c_uint = 0;
        // SAFETY: TIOCSPTLCK/TIOCGPTN on our pty master.
        unsafe {
            let unlock: libc::c_int = 0;
            if libc::ioctl(fd.as_raw_fd(), libc::TIOCSPTLCK, &unlock) < 0
                || libc::ioctl(fd.as_raw_fd(), libc::TIOCGPTN, &mut n) < 0
            {
                return Err(Error::internal(format!(
                    "set up terminal: {}",
                    std::io::Error::last_os_error()
                )));
            }
        }
        Ok((fd, format!("/dev/pts/{n}")))
    }

    /// Records a container event with Docker's attributes (image, name) and `extra`.
    pub fn emit(&self, rec: &ContainerRecord, action: &str, extra: &[(&str, &str)]) {
        let mut attrs: Vec<(&str, &str)> = vec![
            ("image", rec.config.image.as_str()),
            ("name", rec.name.as_str()),
        ];
        attrs.extend_from_slice(extra);
        crate::events::emit(&self.root, "container", action, &rec.id, &attrs);
    }

    /// Records that the user is stopping the container, so its shim does not restart it.
    fn mark_stopping(&self, id: &str) -> Result<()> {
        let _l = self.containers.lock(id)?;
        let mut st = self.containers.state_raw(id)?;
        if st.status.is_live() {
            st.stopping = true;
            st.manual_stop = true;
            self.containers.write_state(id, &st)?;
        }
        Ok(())
    }

    /// After a host reboot (or whenever no shim runs any more): starts the containers whose
    /// restart policy says so, as Docker's daemon does at its start: `always`, `unless-stopped`
    /// unless the user stopped it, `on-failure` after a failed last run with retries left.
    /// Returns, per container started or tried, its name and the outcome.
    pub fn boot(&self) -> Vec<(String, Result<i32>)> {
        let mut out = Vec::new();
        for (rec, st) in self.list() {
            if st.status.is_live() {
                continue;
            }
            let p = &rec.host_config.restart_policy;
            let wanted = match p.name.as_str() {
                "always" => true,
                "unless-stopped" => !st.manual_stop,
                "on-failure" => {
                    st.exit_code != 0
                        && !st.manual_stop
                        && (p.maximum_retry_count <= 0 || st.restart_count < p.maximum_retry_count)
                }
                _ => false,
            };
            if wanted && st.status != Status::Created {
                out.push((rec.name.clone(), self.start(&rec.id, None)));
            }
        }
        out
    }

    /// `docker pause`: freezes every process of the container.
    pub fn pause(&self, id: &str) -> Result<()> {
        let _l = self.containers.lock(id)?;
        let mut st = self.state_unlocked_check(id)?;
        match st.status {
            Status::Running => {}
            Status::Paused => {
                return Err(Error::conflict(format!("container {id} is already paused")))
            }
            _ => return Err(Error::conflict(format!("container {id} is not running"))),
        }
        self.cgroup(id).set_frozen(true)?;
        st.status = Status::Paused;
        self.containers.write_state(id, &st)?;
        if let Ok(rec) = self.record(id) {
            self.emit(&rec, "pause", &[]);
        }
        Ok(())
    }

    /// `docker unpause`.
    pub fn unpause(&self, id: &str) -> Result<()> {
        let _l = self.containers.lock(id)?;
        let mut st = self.state_unlocked_check(id)?;
        if st.status != Status::Paused {
            return Err(Error::conflict(format!("container {id} is not paused")));
        }
        self.cgroup(id).set_frozen(false)?;
        st.status = Status::Running;
        self.containers.write_state(id, &st)?;
        if let Ok(rec) = self.record(id) {
            self.emit(&rec, "unpause", &[]);
        }
        Ok(())
    }

    /// `docker update`: new limits (and restart policy) for a container, applied at once when
    /// it runs and kept for its next starts.
    pub fn update(&self, id: &str, req: &UpdateRequest) -> Result<()> {
        let _l = self.containers.lock(id)?;
        let mut rec = self.record(id)?;
        let mut hc = rec.host_config.clone();
        if let Some(m) = req.memory {
            hc.memory = m;
        }
        if let Some(m) = req.memory_swap {
            hc.memory_swap = m;
        }
        if let Some(c) = req.nano_cpus {
            hc.nano_cpus = c;
        }
        if let Some(c) = req.cpu_shares {
            hc.cpu_shares = c;
        }
        if let Some(p) = req.pids_limit {
            hc.pids_limit = Some(p);
        }
        if let Some(c) = &req.cpuset_cpus {
            hc.cpuset_cpus = c.clone();
        }
        if let Some(m) = &req.cpuset_mems {
            hc.cpuset_mems = m.clone();
        }
        if let Some(w) = req.blkio_weight {
            hc.blkio_weight = w;
        }
        if let Some(r) = &req.restart_policy {
            if rec.host_config.auto_remove && !r.name.is_empty() && r.name != "no" {
                return Err(Error::invalid("Restart policy cannot be updated because AutoRemove is enabled for the container"));
            }
            hc.restart_policy = r.clone();
        }
        validate_host_config(&hc)?;
        let st = self.state_unlocked_check(id)?;
        if st.status.is_live() {
            let res: oci_spec::runtime::LinuxResources = serde_json::from_value(spec::limits(&hc))
                .map_err(|e| Error::internal(e.to_string()))?;
            self.cgroup(id)
                .update(&res)
                .map_err(|e| Error::invalid(format!("Cannot update container {id}: {e}")))?;
        }
        rec.host_config = hc;
        self.containers.write_record(&rec)?;
        self.emit(&rec, "update", &[]);
        Ok(())
    }

    /// Resource usage of a running container: cgroup counters plus its network interfaces.
    pub fn stats(&self, id: &str) -> Result<ContainerStats> {
        let st = self.state(id)?;
        if !st.status.is_live() {
            return Ok(ContainerStats::default());
        }
        let cg = self.cgroup(id).stats();
        let (mut rx, mut tx) = (0, 0);
        // The container's own network namespace, seen through its init.
        for l in std::fs::read_to_string(format!("/proc/{}/net/dev", st.pid))
            .unwrap_or_default()
            .lines()
            .skip(2)
        {
            let Some((name, rest)) = l.split_once(':') else {
                continue;
            };
            if name.trim() == "lo" {
                continue;
            }
            let f: Vec<u64> = rest
                .split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect();
            if f.len() >= 9 {
                rx += f[0];
                tx += f[8];
            }
        }
        Ok(ContainerStats {
            cgroup: cg,
            net_rx: rx,
            net_tx: tx,
            at: Instant::now(),
            system_ns: system_cpu_ns(),
        })
    }

    /// The container's cgroup.
    pub fn cgroup(&self, id: &str) -> berth_runtime::Cgroup {
        berth_runtime::Cgroup::open(Path::new(&format!("{}/{id}", self.cgroup_parent)))
    }

    /// Runs `f` with a running container frozen (processes stopped by the freezer cgroup), so
    /// its files cannot change underneath (commit, and cp's defence against symlink races);
    /// a stopped container is used as it is.
    pub fn with_frozen<T>(
        &self,
        id: &str,
        pause: bool,
        f: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        let running = self.state(id)?.status == Status::Running;
        if !(pause && running) {
            return f();
        }
        let cg = self.cgroup(id);
        let frozen = match crate::container::freeze::freeze(&cg) {
            Ok(g) => Some(g),
            // A container that stopped meanwhile has nothing left to freeze: its files are
            // still, so the work goes on as for a stopped one.
            Err(_) if self.state(id).is_ok_and(|s| !s.status.is_live()) => None,
            Err(e) => return Err(e),
        };
        let r = f();
        drop(frozen);
        r
    }

    fn mount_destinations(rec: &ContainerRecord) -> Vec<String> {
        rec.mounts.iter().map(|m| m.destination.clone()).collect()
    }

    /// `docker diff`: the container's changes against its image.
    pub fn diff(&self, id: &str) -> Result<Vec<(snapshot::changes::Change, String)>> {
        let rec = self.record(id)?;
        let upper = self.containers.dir(id).join("upper");
        Ok(snapshot::changes::diff(
            &self.images.layers,
            &upper,
            &rec.layers,
            &Self::mount_destinations(&rec),
        ))
    }

    /// `docker export`: the container's whole root file system (without its volumes) as a tar
    /// written to `fd`.
    pub fn export(&self, id: &str, fd: RawFd) -> Result<()> {
        let rec = self.record(id)?;
        let dir = self.containers.dir(id);
        let skip: Vec<PathBuf> = Self::mount_destinations(&rec)
            .into_iter()
            .map(PathBuf::from)
            .collect();
        self.with_frozen(id, true, || {
            snapshot::in_private_rootfs(
                &self.images.layers,
                &rec.layers,
                &dir,
                &[fd],
                move |root| {
                    // SAFETY: the caller's descriptor, borrowed for the helper's lifetime.
                    let out =
                        std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd) });
                    let mut b = tar::Builder::new(std::io::BufWriter::new(&*out));
                    b.follow_symlinks(false);
                    let mut entries: Vec<_> = std::fs::read_dir(root)
                        .map_err(|e| e.to_string())?
                        .flatten()
                        .collect();
                    entries.sort_by_key(|e| e.file_name());
                    for e in entries {
                        let name = PathBuf::from(e.file_name());
                        snapshot::changes::write_tree(&mut b, &e.path(), &name, &skip)
                            .map_err(|e| format!("export: {e}"))?;
                    }
                    b.into_inner()
                        .and_then(|mut w| std::io::Write::flush(&mut w))
                        .map_err(|e| format!("export: {e}"))
                },
            )
        })
    }

    /// `docker commit`: a new image whose top layer is exactly the container's changes.
    pub fn commit(&self, id: &str, req: &CommitRequest) -> Result<String> {
        let rec = self.record(id)?;
        let mut run = rec.config.clone();
        // The image gets the container's settings minus what belongs to this container only.
        run.hostname = String::new();
        run.domainname = String::new();
        run.image = String::new();
        run.attach_stdin = false;
        run.attach_stdout = false;
        run.attach_stderr = false;
        run.tty = false;
        run.open_stdin = false;
        run.stdin_once = false;
        for c in &req.changes {
            crate::image::config::apply_change(&mut run, c).map_err(Error::invalid)?;
        }
        let mut cmdline = vec![rec.path.clone()];
        cmdline.extend(rec.args.iter().cloned());
        let history = crate::image::History {
            created: None,
            created_by: Some(cmdline.join(" ")),
            author: req.author.clone(),
            comment: req.message.clone(),
            empty_layer: false,
        };
        let image = self.commit_layer(
            id,
            req.pause,
            run,
            req.author.clone(),
            history,
            req.reference.as_ref(),
            false,
        )?;
        self.emit(&rec, "commit", &[]);
        Ok(image)
    }

    /// The container's changes as a new top layer over its image, with run settings `run` and
    /// one more history entry; tagged `reference` when given. `intermediate` marks a build step.
    #[allow(clippy::too_many_arguments)] // commit and build each fill these differently
    pub(crate) fn commit_layer(
        &self,
        id: &str,
        pause: bool,
        run: ContainerConfig,
        author: Option<String>,
        mut history: crate::image::History,
        reference: Option<&Reference>,
        intermediate: bool,
    ) -> Result<String> {
        let rec = self.record(id)?;
        let dir = self.containers.dir(id);
        let skip = Self::mount_destinations(&rec);
        let tmp = self.root.temp_path("commit");
        let layer = self.with_frozen(id, pause, || {
            let f = std::fs::File::create(&tmp).ctx(|| format!("create {}", tmp.display()))?;
            snapshot::changes::write_layer(&dir.join("upper"), &skip, std::io::BufWriter::new(f))
                .ctx(|| "write the container's layer".into())?;
            Ok(())
        });
        let result = layer.and_then(|()| {
            let f = std::fs::File::open(&tmp).ctx(|| "read layer".into())?;
            let (blob, blob_size) = self.images.content.ingest(f, None, None)?;
            let info = self
                .images
                .layers
                .unpack(self.images.content.open(&blob)?, None)?;
            let base = self.images.get(&rec.image)?;
            let mut cfg = self.images.config(&rec.image)?;
            cfg.config = run;
            let now = store::now_rfc3339();
            cfg.created = Some(now.clone());
            if author.is_some() {
                cfg.author = author;
            }
            history.created = Some(now);
            cfg.history.push(history);
            cfg.rootfs.diff_ids.push(info.diff_id.clone());
            let bytes = serde_json::to_vec(&cfg).map_err(|e| Error::internal(e.to_string()))?;
            let mut layers = base.layers.clone();
            layers.push(crate::image::LayerRef {
                diff_id: info.diff_id,
                blob,
                media_type: "application/vnd.oci.image.layer.v1.tar".into(),
                blob_size,
            });
            let _l = self.images.lock()?;
            let image = self
                .images
                .put_child(&bytes, layers, intermediate, Some(&base.id))?;
            if let Some(r) = reference {
                self.images.tag_locked(&image, r)?;
            }
            Ok(image)
        });
        let _ = std::fs::remove_file(&tmp);
        result
    }

    /// Runs `f` on the container's root file system: a running container's own (frozen meanwhile,
    /// so no symlink can be swapped in under a path being resolved: CVE-2018-15664), a stopped
    /// one's mounted privately in a helper process.
    fn with_root(
        &self,
        id: &str,
        keep: &[RawFd],
        f: impl FnOnce(&Path) -> std::result::Result<(), String>,
    ) -> Result<()> {
        let rec = self.record(id)?;
        let st = self.state(id)?;
        if st.status.is_live() {
            let root = PathBuf::from(format!("/proc/{}/root", st.pid));
            return self.with_frozen(id, true, || f(&root).map_err(Error::invalid));
        }
        // Volumes and binds as the container sees them (tmpfs mounts are empty while stopped).
        let mounts: Vec<snapshot::ShownMount> = rec
            .mounts
            .iter()
            .filter(|m| m.typ != crate::container::MountType::Tmpfs)
            .map(|m| snapshot::ShownMount {
                source: m.source.clone(),
                destination: m.destination.clone(),
                readonly: !m.rw,
            })
            .collect();
        snapshot::in_private_rootfs_with(
            &self.images.layers,
            &rec.layers,
            &self.containers.dir(id),
            keep,
            &mounts,
            f,
        )
    }

    /// Runs `f` on a stopped container's merged root (privately mounted in a helper process).
    pub(crate) fn with_stopped_root(
        &self,
        id: &str,
        f: impl FnOnce(&Path) -> std::result::Result<(), String>,
    ) -> Result<()> {
        let rec = self.record(id)?;
        snapshot::in_private_rootfs(
            &self.images.layers,
            &rec.layers,
            &self.containers.dir(id),
            &[],
            f,
        )
    }

    /// Refuses a container whose log driver keeps nothing to read (`none`).
    pub fn check_logs_readable(&self, id: &str) -> Result<()> {
        if self.record(id)?.host_config.log_config.typ == "none" {
            return Err(Error::invalid(
                "configured logging driver does not support reading",
            ));
        }
        Ok(())
    }

    /// `docker logs`: hands each entry of `q` to `emit`, following while the container runs
    /// when asked; `emit` returning false stops (a client that went away).
    pub fn logs(
        &self,
        id: &str,
        q: &LogQuery,
        mut emit: impl FnMut(&crate::logs::LogEntry) -> bool,
    ) -> Result<()> {
        self.check_logs_readable(id)?;
        let path = self.containers.log_path(id);
        let in_range = |t: &str| -> bool {
            let Ok(t) = chrono::DateTime::parse_from_rfc3339(t) else {
                return true;
            };
            let t = t.with_timezone(&chrono::Utc);
            q.since.is_none_or(|s| t >= s) && q.until.is_none_or(|u| t <= u)
        };
        let offset = crate::logs::live_len(&path);
        let mut entries: Vec<_> = crate::logs::read_all(&path)
            .into_iter()
            .filter(|e| in_range(&e.time))
            .collect();
        if let Some(n) = q.tail {
            let skip = entries.len().saturating_sub(n);
            entries.drain(..skip);
        }
        for e in &entries {
            if !emit(e) {
                return Ok(());
            }
        }
        if q.follow && q.until.is_none() {
            let running = || self.state(id).map(|s| s.status.is_live()).unwrap_or(false);
            crate::logs::follow(
                &path,
                offset,
                |e| !in_range(&e.time) || emit(e),
                || !running(),
            )?;
        }
        Ok(())
    }

    /// Where a starting container goes on its network: its bridge network, an address leased
    /// for it, published ports (ephemeral ones chosen now), written to `network.json` for the
    /// starter, which builds the namespace from it. None for none/host/container: modes.
    fn plan_network(&self, rec: &ContainerRecord) -> Result<Option<crate::network::Attachment>> {
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
        let live = |owner: &str| Path::new("/run/berth/netns").join(owner).exists();
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
    fn attachment_for(
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
            netns: PathBuf::from(format!("/run/berth/netns/{id}")),
            subnet: format!("{subnet}/{prefix}"),
            internal: net.internal,
        })
    }

    /// `docker cp`'s stat of a path in the container (the last symlink not followed), as the
    /// API's `X-Docker-Container-Path-Stat` reports it.
    pub fn path_stat(&self, id: &str, path: &str) -> Result<PathStat> {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| Error::internal(format!("pipe: {e}")))?;
        let p = path.to_string();
        let wfd = w.as_raw_fd();
        // For a stopped container the closure runs in a helper process: the answer comes back
        // through the pipe.
        let res = self.with_root(id, &[wfd], move |root| {
            let st = (|| -> std::result::Result<PathStat, String> {
                let r = snapshot::resolve_in_root_opt(root, &p, false)?;
                // stat, not lstat: r.path is a /proc/self/fd link to the object itself (a
                // symlink that was not followed stays one: r.link says so).
                let m = std::fs::metadata(&r.path).map_err(|e| format!("{p}: {e}"))?;
                Ok(PathStat::new(&p, &m, r.link))
            })();
            let line = match st {
                Ok(st) => serde_json::to_string(&st).unwrap_or_default(),
                Err(e) => format!("!{e}"),
            };
            // SAFETY: writing to the pipe's write end, open for this call.
            let f = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(wfd) });
            std::io::Write::write_all(&mut &*f, line.as_bytes()).map_err(|e| e.to_string())
        });
        drop(w);
        res?;
        let mut out = String::new();
        std::fs::File::from(r)
            .read_to_string(&mut out)
            .map_err(|e| Error::internal(e.to_string()))?;
        match out.strip_prefix('!') {
            Some(e) => Err(Error::not_found(format!(
                "Could not find the file {path} in container {id} ({e})"
            ))),
            None => serde_json::from_str(&out).map_err(|e| Error::internal(e.to_string())),
        }
    }

    /// `docker cp CONTAINER:SRC DEST`: to a host path, or as a tar written to a descriptor.
    /// The container's files reach a host path only through the layer unpacker, inside the
    /// destination directory: a symlink the container made never leads a write elsewhere.
    pub fn copy_from(&self, id: &str, src: &str, dest: CopyEnd, follow: bool) -> Result<()> {
        let d = match dest {
            CopyEnd::Tar(fd) => return self.copy_out(id, src, fd, follow, None),
            CopyEnd::Path(d) => d,
        };
        let (dir, name) = if d.is_dir() {
            (d.to_path_buf(), None)
        } else {
            let parent = match d.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            if !parent.is_dir() {
                return Err(Error::not_found(format!(
                    "destination directory {} does not exist",
                    parent.display()
                )));
            }
            let name = d
                .file_name()
                .ok_or_else(|| Error::invalid(format!("invalid destination {}", d.display())))?;
            (parent, Some(name.to_string_lossy().into_owned()))
        };
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| Error::internal(format!("pipe: {e}")))?;
        // The files belong to whoever runs the copy, as with Docker's.
        let me = (
            rustix::process::geteuid().as_raw(),
            rustix::process::getegid().as_raw(),
        );
        let shown = d.display().to_string();
        let reader = std::thread::spawn(move || {
            snapshot::unpack::unpack_owned(std::fs::File::from(r), &dir, Some(me))
                .map_err(|e| Error::invalid(format!("copy to {shown}: {e}")))
        });
        let sent = self.copy_out(id, src, w.as_raw_fd(), follow, name.as_deref());
        drop(w);
        let got = reader
            .join()
            .map_err(|_| Error::internal("the copy's reader panicked"))?;
        sent.and(got.map(|_| ()))
    }

    /// The tar of `src` in the container written to `fd`, its top entry named `name` (default:
    /// `src`'s own last component).
    fn copy_out(
        &self,
        id: &str,
        src: &str,
        fd: RawFd,
        follow: bool,
        name: Option<&str>,
    ) -> Result<()> {
        let src = src.to_string();
        let base = match name {
            Some(n) => PathBuf::from(n),
            None => Path::new(src.trim_end_matches('/'))
                .file_name()
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(".")),
        };
        self.with_root(id, &[fd], move |root| {
            let r = snapshot::resolve_in_root_opt(root, &src, follow)?;
            // SAFETY: the caller's descriptor, open for this call; never closed here.
            let out = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd) });
            let mut b = tar::Builder::new(std::io::BufWriter::new(&*out));
            b.follow_symlinks(false);
            match &r.link {
                Some(t) => {
                    let mut h = tar::Header::new_gnu();
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    h.set_mode(0o777);
                    b.append_link(&mut h, &base, t).map_err(|e| e.to_string())?;
                }
                None => snapshot::changes::write_tree(&mut b, &r.path, &base, &[])
                    .map_err(|e| format!("copy {src}: {e}"))?,
            }
            b.into_inner()
                .and_then(|mut w| std::io::Write::flush(&mut w))
                .map_err(|e| e.to_string())
        })
    }

    /// `docker cp SRC CONTAINER:DEST`: from a host path, or a tar read from a descriptor and
    /// unpacked into the directory DEST. Without `archive` the copies belong to the container's
    /// root user. Everything lands through the layer unpacker, resolved inside the container's
    /// root, so a symlink the container planted cannot lead the copy onto the host.
    pub fn copy_to(&self, id: &str, src: CopyEnd, dest: &str, archive: bool) -> Result<()> {
        let s = match src {
            CopyEnd::Tar(fd) => return self.copy_in(id, fd, dest, archive),
            CopyEnd::Path(s) => s.to_path_buf(),
        };
        if std::fs::symlink_metadata(&s).is_err() {
            return Err(Error::not_found(format!(
                "could not find the file {} on the host",
                s.display()
            )));
        }
        // As the docker CLI does: into DEST when it is a directory, else as DEST in its parent.
        let into_dir = self
            .path_stat(id, dest)
            .is_ok_and(|st| st.mode & GO_MODE_DIR != 0);
        let (dir, name) = if into_dir {
            let base = s
                .file_name()
                .map(PathBuf::from)
                .unwrap_or_else(|| ".".into());
            (dest.to_string(), base)
        } else {
            let dp = Path::new(dest);
            let name = dp
                .file_name()
                .ok_or_else(|| Error::invalid(format!("invalid destination {dest}")))?;
            let parent = dp
                .parent()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "/".into());
            (parent, PathBuf::from(name))
        };
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| Error::internal(format!("pipe: {e}")))?;
        let writer = std::thread::spawn(move || -> std::io::Result<()> {
            let mut b = tar::Builder::new(std::io::BufWriter::new(std::fs::File::from(w)));
            b.follow_symlinks(false);
            snapshot::changes::write_tree(&mut b, &s, &name, &[])?;
            b.into_inner()
                .and_then(|mut w| std::io::Write::flush(&mut w))
        });
        let got = self.copy_in(id, r.as_raw_fd(), &dir, archive);
        drop(r);
        let sent = writer
            .join()
            .map_err(|_| Error::internal("the copy's writer panicked"))?;
        // A reader that stopped early makes the writer's error (a broken pipe): report the
        // reader's.
        got.and(sent.ctx(|| "read the copy's source".into()))
    }

    /// The tar on `fd` unpacked into the directory `dest` inside the container.
    fn copy_in(&self, id: &str, fd: RawFd, dest: &str, archive: bool) -> Result<()> {
        let dest = dest.to_string();
        self.with_root(id, &[fd], move |root| {
            let d = snapshot::resolve_in_root(root, &dest)
                .map_err(|_| format!("no such directory in the container: {dest}"))?;
            if !d.is_dir() {
                return Err(format!("extraction point is not a directory: {dest}"));
            }
            // SAFETY: the caller's descriptor, open for this call; never closed here.
            let input = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd) });
            let owner = (!archive).then_some((0, 0));
            snapshot::unpack::unpack_owned(&*input, &d, owner)
                .map_err(|e| format!("extract into {dest}: {e}"))?;
            Ok(())
        })
    }

    // ----- images -----

    /// `system df`.
    pub fn disk_usage(&self) -> DiskUsage {
        let containers = self.list();
        let images = self.images.list();
        let mut users: HashMap<&str, usize> = HashMap::new();
        for (r, _) in &containers {
            *users.entry(r.image.as_str()).or_default() += 1;
        }
        // Layers are shared: each counted once; those only unused images hold are reclaimable.
        let mut layer_size: HashMap<String, u64> = HashMap::new();
        let mut holders: HashMap<String, usize> = HashMap::new();
        let mut used_layers = std::collections::HashSet::new();
        for img in &images {
            for l in &img.layers {
                layer_size.entry(l.diff_id.clone()).or_insert_with(|| {
                    self.images
                        .layers
                        .info(&l.diff_id)
                        .map(|i| i.size)
                        .unwrap_or(0)
                });
                *holders.entry(l.diff_id.clone()).or_default() += 1;
                if users.contains_key(img.id.as_str()) {
                    used_layers.insert(l.diff_id.clone());
                }
            }
        }
        let mut du = DiskUsage {
            layers_size: layer_size.values().sum(),
            images_reclaimable: layer_size
                .iter()
                .filter(|(k, _)| !used_layers.contains(*k))
                .map(|(_, v)| v)
                .sum(),
            ..Default::default()
        };
        for img in &images {
            let (mut size, mut shared) = (0, 0);
            for l in &img.layers {
                let s = layer_size.get(&l.diff_id).copied().unwrap_or(0);
                size += s;
                if holders.get(&l.diff_id).copied().unwrap_or(0) > 1 {
                    shared += s;
                }
            }
            let n = users.get(img.id.as_str()).copied().unwrap_or(0);
            du.images.push((img.id.clone(), size, shared, n));
        }
        for (r, st) in &containers {
            let sz = dir_size(&self.containers.dir(&r.id).join("upper"));
            du.containers.push((r.id.clone(), sz, st.status.is_live()));
        }
        for v in self.volumes.list() {
            let n = crate::volume::users(&self.root, &v.name).len();
            du.volumes.push((v.name.clone(), self.volumes.size(&v), n));
        }
        du
    }

    /// `network create`.
    pub fn create_network(
        &self,
        req: &crate::network::CreateNetwork,
    ) -> Result<crate::network::NetworkRecord> {
        self.networks.create(req)
    }

    /// Containers whose network mode or connected networks name `net` (by name or id).
    fn network_users(&self, net: &crate::network::NetworkRecord) -> Vec<(ContainerRecord, State)> {
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
        let _l = self.containers.lock(&id)?;
        let mut rec = self.record(&id)?;
        let live = self.state_unlocked_check(&id)?.status.is_live();
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
            if !Path::new("/run/berth/netns").join(&id).exists() {
                return Err(Error::conflict(format!(
                    "container {id} has no network namespace to add an interface to"
                )));
            }
            // The first interface name free in the container (eth0 again after its network
            // mode's network was left).
            let n = (0..)
                .find(|k| !list.iter().any(|a| a.iface == format!("eth{k}")))
                .unwrap_or(0);
            let live = |owner: &str| Path::new("/run/berth/netns").join(owner).exists();
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
        let _l = self.containers.lock(&id)?;
        let mut rec = self.record(&id)?;
        let running = self.state_unlocked_check(&id)?.status.is_live();
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

    /// `history`: the image's steps, newest first; only the newest has an id (Docker's
    /// `<missing>` for the others, whose images are not kept).
    pub fn history(&self, name: &str) -> Result<Vec<HistoryItem>> {
        let img = self.images.resolve(name)?;
        let cfg = self.images.config(&img.id)?;
        let mut sizes = img.layers.iter().map(|l| {
            self.images
                .layers
                .info(&l.diff_id)
                .map(|i| i.size)
                .unwrap_or(0)
        });
        let n = cfg.history.len();
        let tags: Vec<String> = self
            .images
            .refs_of(&img.id)
            .iter()
            .filter(|r| r.digest().is_none())
            .map(|r| r.familiar())
            .collect();
        let mut out: Vec<HistoryItem> = cfg
            .history
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let last = i + 1 == n;
                HistoryItem {
                    id: last.then(|| img.id.clone()),
                    created: h.created.clone().unwrap_or_default(),
                    created_by: h.created_by.clone().unwrap_or_default(),
                    size: if h.empty_layer {
                        0
                    } else {
                        sizes.next().unwrap_or(0)
                    },
                    comment: h.comment.clone().unwrap_or_default(),
                    tags: if last { tags.clone() } else { Vec::new() },
                }
            })
            .collect();
        out.reverse();
        Ok(out)
    }

    /// What `save NAME…` writes: each image once, with the names asked for (a name that is
    /// one of its tags) or all its names (an id).
    pub fn save_selection(&self, names: &[String]) -> Result<Vec<(String, Vec<Reference>)>> {
        let mut wanted: Vec<(String, Vec<Reference>)> = Vec::new();
        for name in names {
            let img = self.images.resolve(name)?;
            // Named by its id, an image is saved untagged (Docker's: `docker save <id>` loads
            // as "Loaded image ID").
            let hex = &img.id[img.id.find(':').map_or(0, |i| i + 1)..];
            let bare = name.strip_prefix("sha256:").unwrap_or(name);
            let by_id = bare.len() >= 12 && hex.starts_with(bare);
            let refs: Vec<Reference> = match Reference::parse(name) {
                _ if by_id => Vec::new(),
                Ok(r) if self.images.refs_of(&img.id).contains(&r) => vec![r],
                _ => self.images.refs_of(&img.id),
            };
            match wanted.iter_mut().find(|(id, _)| *id == img.id) {
                Some((_, v)) => v.extend(refs),
                None => wanted.push((img.id.clone(), refs)),
            }
        }
        Ok(wanted)
    }

    /// Containers (ids) whose image is `image_id`.
    pub fn containers_using(&self, image_id: &str) -> Vec<String> {
        self.containers
            .ids()
            .into_iter()
            .filter(|id| {
                self.containers
                    .record(id)
                    .map(|r| r.image == image_id)
                    .unwrap_or(false)
            })
            .collect()
    }

    /// Docker's `rmi`: untags `name`, and deletes the image once no name is left; returns the
    /// lines Docker prints (`Untagged: …`, `Deleted: …`).
    pub fn remove_image(&self, name: &str, force: bool) -> Result<Vec<String>> {
        let img = self.images.resolve(name)?;
        let _l = self.images.lock()?;
        let refs = self.images.refs_of(&img.id);
        let by_ref = Reference::parse(name).ok().filter(|r| refs.contains(r));
        let users = self.containers_using(&img.id);
        let short = &img.id[7..19];
        let mut out = Vec::new();
        if let Some(r) = by_ref {
            // Digest references (from pull/push) do not keep an image alive on their own: the
            // last tag of a repository takes that repository's digest references with it.
            let others: Vec<&Reference> = refs.iter().filter(|x| **x != r).collect();
            let other_tags = others.iter().any(|x| x.digest().is_none());
            if other_tags || (r.digest().is_some() && !others.is_empty()) {
                self.images.untag_locked(&r)?;
                out.push(format!("Untagged: {}", r.familiar()));
                let repo_tag_left = others
                    .iter()
                    .any(|x| x.digest().is_none() && x.name() == r.name());
                if r.digest().is_none() && !repo_tag_left {
                    for d in others
                        .iter()
                        .filter(|x| x.digest().is_some() && x.name() == r.name())
                    {
                        self.images.untag_locked(d)?;
                        out.push(format!("Untagged: {}", d.familiar()));
                    }
                }
                return Ok(out);
            }
            if !users.is_empty() && !force {
                return Err(Error::conflict(format!(
                    "conflict: unable to remove repository reference \"{name}\" (must force) - container {} is using its referenced image {short}",
                    &users[0][..12]
                )));
            }
            self.images.untag_locked(&r)?;
            out.push(format!("Untagged: {}", r.familiar()));
            for d in others {
                self.images.untag_locked(d)?;
                out.push(format!("Untagged: {}", d.familiar()));
            }
        } else {
            let repos: std::collections::BTreeSet<String> = refs.iter().map(|r| r.name()).collect();
            if repos.len() > 1 && !force {
                return Err(Error::conflict(format!("conflict: unable to delete {short} (must be forced) - image is referenced in multiple repositories")));
            }
            if !users.is_empty() && !force {
                let running = users.iter().any(|c| {
                    self.state(c)
                        .map(|s| s.status == Status::Running)
                        .unwrap_or(false)
                });
                let what = if running {
                    "cannot delete"
                } else {
                    "unable to delete"
                };
                return Err(Error::conflict(format!(
                    "conflict: {what} {short} (must be forced) - image is being used by {}container {}",
                    if running { "running " } else { "stopped " },
                    &users[0][..12]
                )));
            }
            for r in &refs {
                self.images.untag_locked(r)?;
                out.push(format!("Untagged: {}", r.familiar()));
            }
        }
        if users.is_empty() {
            self.images.delete_locked(&img.id)?;
            out.push(format!("Deleted: {}", img.id));
            // The manifests kept from pulls and pushes go with the image.
            let names = self.images.all_refs();
            for d in refs.iter().filter_map(|r| r.digest()) {
                if !names.iter().any(|(r, _)| r.digest() == Some(d)) {
                    self.images.content.delete(d)?;
                }
            }
        }
        Ok(out)
    }

    /// Docker's `image prune`: deletes dangling images (with `all`, every image no container
    /// uses); returns the deleted ids and the bytes reclaimed.
    pub fn prune_images(&self, all: bool) -> Result<(Vec<String>, u64)> {
        let _l = self.images.lock()?;
        let mut out = Vec::new();
        let mut bytes = 0;
        for img in self.images.list() {
            let tagged = !self.images.refs_of(&img.id).is_empty();
            // Intermediate build images are the build cache: only `-a` takes them.
            if ((tagged || img.intermediate) && !all) || !self.containers_using(&img.id).is_empty()
            {
                continue;
            }
            bytes += self.images.size(&img);
            for r in self.images.refs_of(&img.id) {
                self.images.untag_locked(&r)?;
            }
            self.images.delete_locked(&img.id)?;
            out.push(img.id);
        }
        Ok((out, bytes))
    }

    /// An image by name or id.
    pub fn image(&self, name: &str) -> Result<ImageRecord> {
        self.images.resolve(name)
    }
}

/// Docker's checks on host settings that would otherwise fail at start.
fn validate_host_config(hc: &HostConfig) -> Result<()> {
    let policy = &hc.restart_policy;
    if !matches!(
        policy.name.as_str(),
        "" | "no" | "always" | "unless-stopped" | "on-failure"
    ) {
        return Err(Error::invalid(format!(
            "invalid restart policy: unknown policy '{}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'",
            policy.name
        )));
    }
    if policy.maximum_retry_count != 0 && policy.name != "on-failure" {
        return Err(Error::invalid(
            "invalid restart policy: maximum retry count can only be used with 'on-failure'",
        ));
    }
    if policy.maximum_retry_count < 0 {
        return Err(Error::invalid(
            "invalid restart policy: maximum retry count cannot be negative",
        ));
    }
    if hc.memory != 0 && hc.memory < 6 * 1024 * 1024 {
        return Err(Error::invalid("Minimum memory limit allowed is 6MB"));
    }
    if hc.memory_swap > 0 && hc.memory > 0 && hc.memory_swap < hc.memory {
        return Err(Error::invalid(
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ));
    }
    if hc.nano_cpus < 0 {
        return Err(Error::invalid(
            "Range of CPUs is from 0.01 to the number of CPUs available",
        ));
    }
    if hc.nano_cpus > 0 {
        let ncpu = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1) as i64;
        if hc.nano_cpus < 10_000_000 || hc.nano_cpus > ncpu * 1_000_000_000 {
            return Err(Error::invalid(format!(
                "Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
            )));
        }
    }
    if hc.blkio_weight != 0 && !(10..=1000).contains(&hc.blkio_weight) {
        return Err(Error::invalid("Range of blkio weight is from 10 to 1000"));
    }
    if hc.cpu_shares < 0 {
        return Err(Error::invalid("invalid CPU shares: must be positive"));
    }
    match hc.log_config.typ.as_str() {
        // `local` is stored in the json-file format: only `logs` ever reads it.
        "" | "json-file" | "local" => crate::logs::validate_options(&hc.log_config.config)?,
        "none" => {}
        other => {
            return Err(Error::invalid(format!(
                "logger: no log driver named '{other}' is registered"
            )))
        }
    }
    spec::capabilities(hc)?;
    crate::container::sysctl::validate(hc)?;
    if !matches!(hc.runtime.as_str(), "" | "runc" | "berth") {
        return Err(Error::invalid(format!(
            "unknown or invalid runtime name: {}",
            hc.runtime
        )));
    }
    if !matches!(hc.isolation.as_str(), "" | "default") {
        return Err(Error::invalid(format!(
            "invalid isolation '{}' on linux",
            hc.isolation
        )));
    }
    if hc
        .memory_swappiness
        .is_some_and(|v| !(-1..=100).contains(&v))
    {
        return Err(Error::invalid(
            "invalid value: memory swappiness must be in the range [0, 100]",
        ));
    }
    for d in hc.devices.iter().flatten() {
        validate_device(d)?;
    }
    for (key, list) in hc.port_bindings.iter().flatten() {
        crate::network::parse_port_key(key)?;
        for b in list {
            crate::network::parse_host_ip(&b.host_ip)?;
        }
    }
    for u in hc.ulimits.iter().flatten() {
        if u.soft > u.hard {
            return Err(Error::invalid(format!(
                "ulimit soft limit must be less than or equal to hard limit: {} > {}",
                u.soft, u.hard
            )));
        }
    }
    if let Some(mac) = &hc.mac_address {
        validate_mac(mac)?;
    }
    for x in hc.extra_networks.iter().flatten() {
        if let Some(mac) = x.endpoint.as_ref().and_then(|e| e.mac_address.as_deref()) {
            validate_mac(mac)?;
        }
    }
    if !network_mode_is_bridge(&hc.network_mode)
        && (hc.port_bindings.as_ref().is_some_and(|p| !p.is_empty()) || hc.publish_all_ports)
        && hc.network_mode != "host"
    {
        return Err(Error::invalid(format!(
            "conflicting options: port publishing and the container type network mode ({})",
            hc.network_mode
        )));
    }
    Ok(())
}

/// A unicast MAC address, `xx:xx:xx:xx:xx:xx`.
fn validate_mac(mac: &str) -> Result<()> {
    let ok = mac.split(':').count() == 6
        && mac
            .split(':')
            .all(|b| b.len() == 2 && b.bytes().all(|c| c.is_ascii_hexdigit()));
    // A multicast address (low bit of the first byte) cannot be an interface's.
    let unicast = u8::from_str_radix(&mac[..2.min(mac.len())], 16).is_ok_and(|b| b & 1 == 0);
    if ok && unicast {
        Ok(())
    } else {
        Err(Error::invalid(format!("invalid MAC address: {mac}")))
    }
}

/// A device's place in the container is a clean path under /dev (the runtime makes the node
/// there before the root is pivoted), its cgroup permissions some of `rwm`.
fn validate_device(d: &crate::container::DeviceMapping) -> Result<()> {
    let p = d.path_in_container.as_str();
    let clean = p.strip_prefix("/dev/").is_some_and(|rel| {
        rel.split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
    });
    if !clean {
        return Err(Error::invalid(format!(
            "invalid device path in the container: {p:?}: it must be a clean path under /dev"
        )));
    }
    let perms = &d.cgroup_permissions;
    let mut seen = std::collections::HashSet::new();
    if perms.len() > 3 || !perms.chars().all(|c| "rwm".contains(c) && seen.insert(c)) {
        return Err(Error::invalid(format!("invalid device mode: {perms}")));
    }
    Ok(())
}

fn validate_hostname(h: &str) -> Result<()> {
    let ok = h.len() <= 253
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!("invalid hostname format: {h}")))
    }
}

/// The host's resolv.conf minus loopback name servers (unreachable from a container's own
/// network namespace); Docker falls back to public resolvers when none are left.
fn resolv_conf() -> String {
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut out = String::new();
    let mut servers = 0;
    for line in host.lines() {
        let t = line.trim();
        if let Some(ns) = t.strip_prefix("nameserver") {
            let ns = ns.trim();
            if ns.starts_with("127.") || ns == "::1" {
                continue;
            }
            servers += 1;
        }
        out.push_str(line);
        out.push('\n');
    }
    if servers == 0 {
        out.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    out
}

/// The ports a starting container publishes on `net` (ephemeral host ports chosen now).
fn published_ports(
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
fn ephemeral_port(proto: &str) -> Result<u16> {
    let port = if proto == "udp" {
        std::net::UdpSocket::bind("0.0.0.0:0").and_then(|s| s.local_addr())
    } else {
        std::net::TcpListener::bind("0.0.0.0:0").and_then(|s| s.local_addr())
    };
    port.map(|a| a.port())
        .map_err(|e| Error::internal(format!("pick a host port: {e}")))
}

/// kill(2) of one container process. Never of pid 0 or below (a restarting container's
/// recorded pid is 0, and kill(0) would signal the caller's own process group).
fn signal_pid(pid: i32, sig: i32) -> std::io::Result<()> {
    if pid <= 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the container has no process",
        ));
    }
    // SAFETY: kill(2) of a positive pid.
    if unsafe { libc::kill(pid, sig) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Renames linked container `old` to `new` in the stored links; true when one changed.
fn relink(hc: &mut HostConfig, old: &str, new: &str) -> bool {
    let pairs = hc.link_pairs();
    if !pairs.iter().any(|(target, _)| *target == old) {
        return false;
    }
    let fresh = pairs
        .iter()
        .map(|(target, alias)| format!("{}:{alias}", if *target == old { new } else { target }))
        .collect();
    hc.links = Some(fresh);
    true
}

/// What one legacy link adds to a container at start.
struct LinkEntry {
    hosts_line: String,
    env: Vec<String>,
}

/// Docker's link variables for `alias`: the lowest exposed port as `ALIAS_PORT`, each exposed
/// port's `ALIAS_PORT_<n>_<PROTO>[_ADDR|_PORT|_PROTO]`, `ALIAS_NAME`, and the linked
/// container's environment as `ALIAS_ENV_<k>` (HOME and PATH left out, as Docker does).
fn link_env(
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

/// True when a network mode puts the container on a bridge network (the default one or a user
/// network), not none/host/container:.
fn network_mode_is_bridge(mode: &str) -> bool {
    !matches!(mode, "none" | "host") && !mode.starts_with("container:")
}

/// Disk usage of a tree in bytes (allocated blocks, like du).
pub fn dir_size(p: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![p.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            if let Ok(m) = e.metadata() {
                if m.is_dir() {
                    stack.push(e.path());
                } else {
                    total += m.len();
                }
            }
        }
    }
    total
}
