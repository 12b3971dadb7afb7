//! Container records and their state, and the names that point at them.
//!
//! A container is a directory `containers/<id>/` holding `container.json` (what was asked for,
//! written once at create and on rename), `state.json` (what is happening, written by the
//! engine and the shim under the container's lock), the OCI bundle (`config.json`, `rootfs/`),
//! the rw layer (`upper/`, `work/`), `hostname`, `hosts`, `resolv.conf` and the json-file log.

pub mod bundle;
pub mod commit;
pub mod copy;
pub mod create;
pub mod etc_files;
pub mod exec;
pub mod filter;
pub mod freeze;
pub mod logs;
pub mod merge;
pub mod mounts;
pub mod names;
pub mod pause;
pub mod remove;
pub mod resources;
pub mod seccomp_profile;
pub mod spec;
pub mod start;
pub mod stop;
pub mod sysctl;
pub mod validate;
pub mod wait;

use crate::error::{Error, Result};
use crate::image::ContainerConfig;
use crate::store::{self, Lock, Root};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

/// `--log-driver` / `--log-opt`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct LogConfig {
    /// Driver name; berth writes Docker's json-file format.
    #[serde(rename = "Type")]
    pub typ: String,
    /// Driver options (`max-size`, `max-file`).
    pub config: BTreeMap<String, String>,
}

/// One `--ulimit`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Ulimit {
    /// e.g. `nofile`.
    pub name: String,
    /// Soft limit.
    pub soft: i64,
    /// Hard limit.
    pub hard: i64,
}

/// `--restart`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct RestartPolicy {
    /// `no`, `always`, `on-failure`, `unless-stopped` (empty means no).
    #[serde(default)]
    pub name: String,
    /// Retries for on-failure (clients leave it out for the other policies).
    #[serde(default)]
    pub maximum_retry_count: i64,
}

/// A further network of a container (`network connect`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ExtraNetwork {
    /// Network name.
    pub name: String,
    /// Its aliases on that network.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The address asked for (`--ip`).
    #[serde(default)]
    pub ip: Option<String>,
    /// What else the client said of this endpoint.
    #[serde(default)]
    pub endpoint: Option<EndpointConfig>,
}

/// The parts of Docker's EndpointSettings a client gives at create or connect and reads back
/// in inspect (addresses and aliases have their own fields).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointConfig {
    /// `IPAMConfig` as given (IPv4Address, LinkLocalIPs).
    #[serde(default, rename = "IPAMConfig")]
    pub ipam_config: Option<serde_json::Value>,
    /// Network-scoped legacy links (`name:alias`).
    #[serde(default)]
    pub links: Option<Vec<String>>,
    /// Driver options of the endpoint.
    #[serde(default)]
    pub driver_opts: Option<BTreeMap<String, String>>,
    /// The interface's MAC address on this network.
    #[serde(default)]
    pub mac_address: Option<String>,
}

/// One host binding of a published port.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct PortBinding {
    /// Host address ("" for all).
    #[serde(default, rename = "HostIp")]
    pub host_ip: String,
    /// Host port ("" for one the kernel picks).
    #[serde(default)]
    pub host_port: String,
}

/// Docker's `HostConfig`: how the host runs the container.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct HostConfig {
    /// Remove the container when it exits (`--rm`).
    #[serde(default)]
    pub auto_remove: bool,
    /// Memory limit in bytes (0: none).
    #[serde(default)]
    pub memory: i64,
    /// Memory plus swap limit (-1: unlimited, 0: unset).
    #[serde(default)]
    pub memory_swap: i64,
    /// CPU quota in units of 1e-9 CPUs (`--cpus`).
    #[serde(default, rename = "NanoCpus")]
    pub nano_cpus: i64,
    /// Relative CPU weight (`--cpu-shares`).
    #[serde(default)]
    pub cpu_shares: i64,
    /// Maximum number of processes (`--pids-limit`).
    #[serde(default)]
    pub pids_limit: Option<i64>,
    /// All capabilities, no seccomp, no masked paths.
    #[serde(default)]
    pub privileged: bool,
    /// Read-only root file system.
    #[serde(default)]
    pub readonly_rootfs: bool,
    /// Capabilities added to the defaults.
    #[serde(default)]
    pub cap_add: Option<Vec<String>>,
    /// Capabilities removed from the defaults.
    #[serde(default)]
    pub cap_drop: Option<Vec<String>>,
    /// `--security-opt` values.
    #[serde(default)]
    pub security_opt: Option<Vec<String>>,
    /// `--ulimit` values.
    #[serde(default)]
    pub ulimits: Option<Vec<Ulimit>>,
    /// Logging.
    #[serde(default)]
    pub log_config: LogConfig,
    /// Network mode: `bridge`/`default`/"" (the default bridge), a user network's name,
    /// `none`, `host`, `container:<name|id>`.
    #[serde(default)]
    pub network_mode: String,
    /// `-p`: "80/tcp" → host bindings.
    #[serde(default)]
    pub port_bindings: Option<BTreeMap<String, Vec<PortBinding>>>,
    /// `-P`: every exposed port on an ephemeral host port.
    #[serde(default)]
    pub publish_all_ports: bool,
    /// `--dns`: resolvers for the container (on a user network: where its DNS server forwards).
    #[serde(default)]
    pub dns: Option<Vec<String>>,
    /// `--dns-search`.
    #[serde(default)]
    pub dns_search: Option<Vec<String>>,
    /// `--dns-option`.
    #[serde(default)]
    pub dns_options: Option<Vec<String>>,
    /// `--add-host name:ip`.
    #[serde(default)]
    pub extra_hosts: Option<Vec<String>>,
    /// `--link name[:alias]`, kept as `name:alias` with the linked container's name (inspect
    /// shows Docker's `/name:/container/alias`).
    #[serde(default)]
    pub links: Option<Vec<String>>,
    /// `--ip` (kept here; Docker keeps it in the endpoint settings).
    #[serde(
        default,
        rename = "BerthIPv4Address",
        skip_serializing_if = "Option::is_none"
    )]
    pub ipv4_address: Option<String>,
    /// `--mac-address` of the interface on its network (else 02:42 and the address, as Docker).
    #[serde(
        default,
        rename = "BerthMacAddress",
        skip_serializing_if = "Option::is_none"
    )]
    pub mac_address: Option<String>,
    /// `--network-alias`: more names on its network (Docker keeps them in the endpoint).
    #[serde(
        default,
        rename = "BerthAliases",
        skip_serializing_if = "Option::is_none"
    )]
    pub aliases: Option<Vec<String>>,
    /// Networks joined with `network connect` besides the network mode's.
    #[serde(
        default,
        rename = "BerthNetworks",
        skip_serializing_if = "Option::is_none"
    )]
    pub extra_networks: Option<Vec<ExtraNetwork>>,
    /// Disconnected from every network (`network disconnect` of the last one): the network mode
    /// is kept, as Docker's, but the container starts with loopback only until a `connect`.
    #[serde(
        default,
        rename = "BerthDisconnected",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub disconnected: bool,
    /// Restart policy.
    #[serde(default)]
    pub restart_policy: RestartPolicy,
    /// Size of /dev/shm in bytes.
    #[serde(default)]
    pub shm_size: i64,
    /// `--init`.
    #[serde(default)]
    pub init: Option<bool>,
    /// `-v` specifications as given.
    #[serde(default)]
    pub binds: Option<Vec<String>>,
    /// `--tmpfs`: destination → options.
    #[serde(default)]
    pub tmpfs: Option<BTreeMap<String, String>>,
    /// `--volumes-from` containers (`name[:ro|rw]`).
    #[serde(default)]
    pub volumes_from: Option<Vec<String>>,
    /// `--pid`: "" (private), `host`, `container:<name|id>`.
    #[serde(default, rename = "PidMode")]
    pub pid_mode: String,
    /// `--ipc`: "" / `private` / `shareable`, `host`, `container:<name|id>`.
    #[serde(default, rename = "IpcMode")]
    pub ipc_mode: String,
    /// `--uts`: "" or `host`.
    #[serde(default, rename = "UTSMode")]
    pub uts_mode: String,
    /// `--cgroupns`: `private` (v2 default) or `host`.
    #[serde(default)]
    pub cgroupns_mode: String,
    /// `--sysctl`.
    #[serde(default)]
    pub sysctls: Option<BTreeMap<String, String>>,
    /// `--oom-score-adj`.
    #[serde(default)]
    pub oom_score_adj: i32,
    /// `--group-add`.
    #[serde(default)]
    pub group_add: Option<Vec<String>>,
    /// `--cpu-period` (µs).
    #[serde(default)]
    pub cpu_period: i64,
    /// `--cpu-quota` (µs).
    #[serde(default)]
    pub cpu_quota: i64,
    /// `--cpuset-cpus`.
    #[serde(default)]
    pub cpuset_cpus: String,
    /// `--cpuset-mems`.
    #[serde(default)]
    pub cpuset_mems: String,
    /// `--memory-reservation` (bytes).
    #[serde(default)]
    pub memory_reservation: i64,
    /// `--oom-kill-disable`.
    #[serde(default)]
    pub oom_kill_disable: Option<bool>,
    /// `--device`.
    #[serde(default)]
    pub devices: Option<Vec<DeviceMapping>>,
    /// What the client said of the endpoint on the network of its network mode.
    #[serde(default)]
    pub endpoint: Option<EndpointConfig>,
    /// `--runtime`: berth's own runtime answers to Docker's default name, `runc`.
    #[serde(default)]
    pub runtime: String,
    /// `--isolation` (Linux knows only `default`).
    #[serde(default)]
    pub isolation: String,
    /// `--volume-driver` (berth's volumes are the `local` driver's).
    #[serde(default)]
    pub volume_driver: String,
    /// `--memory-swappiness` (0 to 100; none: the host's).
    #[serde(default)]
    pub memory_swappiness: Option<i64>,
    /// `--blkio-weight` (10 to 1000, 0: unset).
    #[serde(default)]
    pub blkio_weight: u16,
    /// `--device-cgroup-rule`.
    #[serde(default)]
    pub device_cgroup_rules: Option<Vec<String>>,
}

impl HostConfig {
    /// The legacy links as (linked container's name, alias), from `name[:alias]` or Docker's
    /// `/name:/container/alias`.
    pub fn link_pairs(&self) -> Vec<(&str, &str)> {
        link_pairs_of(self.links.iter().flatten())
    }

    /// [`HostConfig::link_pairs`] and the network-scoped links of its endpoints (what the
    /// embedded DNS answers for this container).
    pub fn all_link_pairs(&self) -> Vec<(&str, &str)> {
        let scoped = self
            .endpoint
            .iter()
            .chain(
                self.extra_networks
                    .iter()
                    .flatten()
                    .filter_map(|x| x.endpoint.as_ref()),
            )
            .flat_map(|e| e.links.iter().flatten());
        link_pairs_of(self.links.iter().flatten().chain(scoped))
    }

    /// The network its network mode joins (`bridge` for the default; `none` and `host` by
    /// name, as inspect shows them); None for `container:` modes and a disconnected container.
    pub fn network_name(&self) -> Option<&str> {
        match self.network_mode.as_str() {
            _ if self.disconnected => None,
            m if m.starts_with("container:") => None,
            "" | "default" => Some("bridge"),
            m => Some(m),
        }
    }
}

/// Links in `name[:alias]` or Docker's `/name:/container/alias` form, as (name, alias).
fn link_pairs_of<'a>(links: impl Iterator<Item = &'a String>) -> Vec<(&'a str, &'a str)> {
    links.filter_map(|l| link_pair(l)).collect()
}

/// One link, `name[:alias]` or Docker's `/name:/container/alias`, as (name, alias).
pub fn link_pair(l: &str) -> Option<(&str, &str)> {
    let (target, alias) = l.split_once(':').unwrap_or((l, l));
    let alias = alias.rsplit('/').next().unwrap_or(alias);
    Some((target.trim_start_matches('/'), alias)).filter(|(t, a)| !t.is_empty() && !a.is_empty())
}

/// One `--device HOST[:CONTAINER[:PERMISSIONS]]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct DeviceMapping {
    /// Device node on the host.
    pub path_on_host: String,
    /// Where it appears in the container.
    pub path_in_container: String,
    /// `r`, `w`, `m` combination.
    pub cgroup_permissions: String,
}

/// What a container was created with; immutable after create (but for the name).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerRecord {
    /// 64 hex.
    pub id: String,
    /// Name without the leading slash.
    pub name: String,
    /// Creation time, RFC 3339.
    pub created: String,
    /// Image id (`sha256:…`).
    pub image: String,
    /// The process path (entrypoint/cmd first element).
    pub path: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Run configuration.
    pub config: ContainerConfig,
    /// Host configuration.
    pub host_config: HostConfig,
    /// The image's diff ids, bottom first, captured at create.
    pub layers: Vec<String>,
    /// Volumes, binds and tmpfs mounts, resolved at create.
    #[serde(default)]
    pub mounts: Vec<MountPoint>,
    /// A build step's container: left out of container lists, as BuildKit's steps are no
    /// containers at all (a build whose client stopped reading must not show in `ps`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub build_step: bool,
    /// A build step's builder process (pid, start time): once it is gone, nothing will
    /// remove the step's container but the next listing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builder: Option<(i32, u64)>,
}

impl ContainerRecord {
    /// A build step whose builder was killed: a leftover no one else will remove. A step of
    /// an older berth, which recorded no builder, is never judged so.
    pub fn abandoned_build_step(&self) -> bool {
        self.build_step
            && self
                .builder
                .is_some_and(|(pid, start)| !same_process(pid, start))
    }
}

/// How a mount point is backed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountType {
    /// A named or anonymous volume.
    Volume,
    /// A host path.
    Bind,
    /// Memory.
    Tmpfs,
}

/// One mount of a container (Docker's `MountPoint`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MountPoint {
    /// What backs it.
    pub typ: MountType,
    /// Volume name (volumes only).
    pub name: Option<String>,
    /// Host path (bind source, or the volume's data directory).
    pub source: PathBuf,
    /// Path in the container.
    pub destination: String,
    /// Writable.
    pub rw: bool,
    /// Mount propagation (binds), e.g. `rprivate`.
    pub propagation: String,
    /// Do not copy the image's content into a new volume.
    pub nocopy: bool,
    /// tmpfs options (`size=…`, `mode=…`).
    pub tmpfs_options: Vec<String>,
}

/// Status names as Docker prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Created, never started.
    #[default]
    Created,
    /// Running.
    Running,
    /// Paused.
    Paused,
    /// Restarting.
    Restarting,
    /// Being removed.
    Removing,
    /// Exited.
    Exited,
    /// Dead: could not be cleaned up.
    Dead,
}

impl Status {
    /// True while the container's processes exist (running or frozen).
    pub fn is_live(self) -> bool {
        matches!(self, Status::Running | Status::Paused | Status::Restarting)
    }

    /// The lower-case word.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }
}

/// What is happening to a container now.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct State {
    /// Status.
    pub status: Status,
    /// Host pid of the container's init (0 when not running).
    pub pid: i32,
    /// Host pid of its shim.
    pub shim_pid: i32,
    /// The shim's start time (clock ticks since boot) to tell it from a reused pid.
    pub shim_start: u64,
    /// Exit code of the last run.
    pub exit_code: i32,
    /// Why the last start failed.
    pub error: String,
    /// When it last started.
    pub started_at: String,
    /// When it last finished.
    pub finished_at: String,
    /// Killed by the OOM killer.
    pub oom_killed: bool,
    /// Times restarted by policy.
    pub restart_count: i64,
    /// True while a user's stop is in progress (so restart policies stay quiet).
    #[serde(default)]
    pub stopping: bool,
    /// The user stopped or killed the container (kept across reboots, for `unless-stopped`).
    #[serde(default)]
    pub manual_stop: bool,
    /// Healthcheck results, when the container has a healthcheck.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<crate::health::Health>,
}

impl State {
    /// The run ended with `code`: no process, the time of the end, no stop pending.
    pub fn exited(&mut self, code: i32, oom: bool) {
        self.status = Status::Exited;
        self.pid = 0;
        self.exit_code = code;
        self.finished_at = store::now_rfc3339();
        self.oom_killed = oom;
        self.stopping = false;
    }

    /// The user stops or kills it: no restart policy brings it back.
    pub fn stopped_by_user(&mut self) {
        self.stopping = true;
        self.manual_stop = true;
    }

    /// It could not start: Docker's exit code for `kind` and the reason, no process.
    pub fn failed_to_start(&mut self, kind: crate::error::ErrorKind, message: &str) {
        self.exit_code = kind.exit_code();
        self.error = message.to_string();
        self.pid = 0;
    }
}

/// A container's lock, held: the only way to write its state, so no state is written by a
/// process that does not hold it (the engine, or the shim).
#[derive(Debug)]
pub struct StateLock {
    id: String,
    _lock: Option<Lock>,
}

impl StateLock {
    /// The container it locks.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// The containers of one root.
#[derive(Debug, Clone)]
pub struct ContainerStore {
    root: Root,
}

impl ContainerStore {
    /// The container store of `root`.
    pub fn new(root: &Root) -> Self {
        ContainerStore { root: root.clone() }
    }

    /// A container's directory.
    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.container_dir(id)
    }

    /// Takes the container's lock.
    pub fn lock(&self, id: &str) -> Result<StateLock> {
        Ok(StateLock {
            id: id.to_string(),
            _lock: Some(Lock::exclusive(&self.dir(id).join("lock"))?),
        })
    }

    /// The lock the engine holds for a shim's first start while it waits for the shim's
    /// report: the shim writes the start under it, and must not take it again.
    pub(crate) fn held_by_starter(&self, id: &str) -> StateLock {
        StateLock {
            id: id.to_string(),
            _lock: None,
        }
    }

    /// Reads a record.
    pub fn record(&self, id: &str) -> Result<ContainerRecord> {
        let p = self.dir(id).join("container.json");
        if !p.exists() {
            return Err(Error::not_found(format!("No such container: {id}")));
        }
        store::read_json(&p)
    }

    /// Writes a record.
    pub fn write_record(&self, rec: &ContainerRecord) -> Result<()> {
        store::write_json(&self.dir(&rec.id).join("container.json"), rec)
    }

    /// Reads the state as stored (see [`crate::Engine::state`] for the checked one).
    pub fn state_raw(&self, id: &str) -> Result<State> {
        let p = self.dir(id).join("state.json");
        if !p.exists() {
            // A removed container must not read as a fresh one: waiters poll this.
            if !self.dir(id).join("container.json").exists() {
                return Err(Error::not_found(format!("No such container: {id}")));
            }
            return Ok(State::default());
        }
        store::read_json(&p)
    }

    /// Writes the state; the caller holds the container's lock. Atomic but not synced: a state
    /// lost to a power failure is recomputed (a shim that no longer runs means "exited").
    pub fn write_state(&self, lock: &StateLock, st: &State) -> Result<()> {
        let id = lock.id.as_str();
        let data = serde_json::to_vec(st).map_err(|e| Error::internal(e.to_string()))?;
        store::write_replace(&self.dir(id).join("state.json"), &data)
    }

    /// Ids of every container (complete ones: with a record).
    pub fn ids(&self) -> Vec<String> {
        let Ok(rd) = fs::read_dir(self.root.join("containers")) else {
            return Vec::new();
        };
        rd.flatten()
            .filter(|e| e.path().join("container.json").exists())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    }

    /// Finds a container by full id, name, or unique id prefix (Docker's order).
    pub fn resolve(&self, s: &str) -> Result<String> {
        let not_found = || Error::not_found(format!("No such container: {s}"));
        if s.is_empty() {
            return Err(not_found());
        }
        // Only ids name directories: a 64-character `../../volumes/x/_data/…` from a client
        // must not make a container of files another container wrote.
        let is_id =
            |i: &str| i.len() == 64 && i.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if is_id(s) && self.dir(s).join("container.json").exists() {
            return Ok(s.to_string());
        }
        if let Some(id) = names::lookup(&self.root, s.trim_start_matches('/')) {
            if is_id(&id) && self.dir(&id).join("container.json").exists() {
                return Ok(id);
            }
        }
        if s.bytes().all(|b| b.is_ascii_hexdigit()) {
            let m: Vec<String> = self
                .ids()
                .into_iter()
                .filter(|i| i.starts_with(s))
                .collect();
            match m.len() {
                1 => return Ok(m.into_iter().next().unwrap()),
                n if n > 1 => {
                    return Err(Error::invalid(format!(
                        "multiple IDs found with provided prefix: {s}"
                    )))
                }
                _ => {}
            }
        }
        Err(not_found())
    }
}

impl ContainerStore {
    /// Deletes a container's directory and frees its name. The directory is first renamed into
    /// tmp, so a crash mid-delete leaves no half-container under its id.
    pub fn remove_files(&self, rec: &ContainerRecord) -> Result<()> {
        let dir = self.dir(&rec.id);
        if dir.exists() {
            let tmp = self.root.temp_path("rmctr");
            fs::rename(&dir, &tmp)
                .map_err(|e| Error::io(format!("remove container {}", rec.id), e))?;
            names::release(&self.root, &rec.name, &rec.id);
            store::make_writable_and_remove(&tmp)
                .map_err(|e| Error::io(format!("remove container {}", rec.id), e))?;
        } else {
            names::release(&self.root, &rec.name, &rec.id);
        }
        Ok(())
    }

    /// The json-file log of a container.
    pub fn log_path(&self, id: &str) -> PathBuf {
        self.dir(id).join(format!("{id}-json.log"))
    }
}

/// A process's start time in clock ticks since boot (field 22 of /proc/PID/stat), which with
/// the pid identifies it even after the pid is reused.
pub fn proc_start_time(pid: i32) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &s[s.rfind(')')? + 1..];
    let mut fields = after.split_whitespace();
    // A zombie has finished; only its parent has yet to notice.
    if matches!(fields.next(), Some("Z") | Some("X") | None) {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

/// True if `pid` still is the process that started at `start`.
pub fn same_process(pid: i32, start: u64) -> bool {
    pid > 0 && proc_start_time(pid) == Some(start)
}

/// Docker's STATUS column.
pub fn status_text(st: &State) -> String {
    match st.status {
        Status::Running => {
            let health = match st.health.as_ref().map(|h| h.status.as_str()) {
                Some("starting") => " (health: starting)",
                Some("healthy") => " (healthy)",
                Some("unhealthy") => " (unhealthy)",
                _ => "",
            };
            format!(
                "Up {}{health}",
                crate::human::duration(crate::human::since(&st.started_at))
            )
        }
        Status::Exited => format!(
            "Exited ({}) {} ago",
            st.exit_code,
            crate::human::duration(crate::human::since(&st.finished_at))
        ),
        Status::Created => "Created".into(),
        Status::Paused => format!(
            "Up {} (Paused)",
            crate::human::duration(crate::human::since(&st.started_at))
        ),
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            st.exit_code,
            crate::human::duration(crate::human::since(&st.finished_at))
        ),
        Status::Removing => "Removal In Progress".into(),
        Status::Dead => "Dead".into(),
    }
}
