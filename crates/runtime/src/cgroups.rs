//! Control groups for containers, on cgroup v1 (one hierarchy per controller) and v2 (one unified
//! tree), chosen at run time from what `/sys/fs/cgroup` is.
//!
//! A container's cgroup is `<parent>/<id>` in every hierarchy it uses. The parent (`berth` by
//! default) is created on demand and removed again when its last container goes, so an idle host
//! carries no berth cgroups at all.

use crate::error::{Result, RuntimeError};
use oci_spec::runtime::LinuxResources;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The v1 controllers a container gets a directory in; others are left to the parent.
const V1_CONTROLLERS: &[&str] = &[
    "memory", "cpu", "cpuacct", "pids", "devices", "freezer", "blkio", "cpuset",
];
/// The v2 controllers enabled for containers' subtrees.
const V2_CONTROLLERS: &[&str] = &["cpu", "memory", "pids", "io", "cpuset"];
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// Which cgroup file-system layout the host uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Version {
    /// Legacy (or hybrid) hierarchy: a mount per controller.
    V1,
    /// The unified hierarchy.
    V2,
}

impl Version {
    /// Detects the layout of the host's `/sys/fs/cgroup`; a hybrid host (v1 controllers plus an
    /// empty v2 `unified` mount) counts as v1 because every controller lives in v1 there.
    pub fn detect() -> Version {
        Self::detect_at(Path::new("/sys/fs/cgroup"))
    }

    /// Detects the layout of the cgroup file system mounted at `root`.
    pub fn detect_at(root: &Path) -> Version {
        match nix::sys::statfs::statfs(root) {
            Ok(st) if st.filesystem_type().0 == CGROUP2_SUPER_MAGIC => Version::V2,
            _ => Version::V1,
        }
    }

    /// "1" or "2", as `docker info` prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V1 => "1",
            Version::V2 => "2",
        }
    }
}

/// Resource usage read from a cgroup.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stats {
    /// CPU time used, nanoseconds.
    pub cpu_ns: u64,
    /// Memory in use, page cache that can be dropped excluded (as Docker computes it).
    pub memory: u64,
    /// Memory limit (`u64::MAX`-ish when unlimited).
    pub memory_limit: u64,
    /// Processes.
    pub pids: u64,
    /// Bytes read from block devices.
    pub block_read: u64,
    /// Bytes written to block devices.
    pub block_write: u64,
}

/// A container's cgroup: one directory per v1 hierarchy, or one v2 directory.
#[derive(Debug, Clone)]
pub struct Cgroup {
    version: Version,
    /// (hierarchy mount point, container dir) pairs.
    dirs: Vec<(PathBuf, PathBuf)>,
    rel: PathBuf,
}

impl Cgroup {
    /// Names the cgroup `rel` (e.g. `berth/<id>`) on the host without touching it.
    pub fn open(rel: &Path) -> Cgroup {
        Self::open_at(Path::new("/sys/fs/cgroup"), Version::detect(), rel)
    }

    /// [`Cgroup::open`] in v1's named hierarchies too (`name=systemd`), where a login session
    /// or a service is tracked and killed as a whole: what a shim must leave. Only for a
    /// process's own placement; controllers, pids and stats are read from [`Cgroup::open`]'s.
    pub fn open_everywhere(rel: &Path) -> Cgroup {
        Self::open_in(Path::new("/sys/fs/cgroup"), Version::detect(), rel, true)
    }

    /// Names the cgroup `rel` under the cgroup file system at `root` laid out as `version`.
    pub fn open_at(root: &Path, version: Version, rel: &Path) -> Cgroup {
        Self::open_in(root, version, rel, false)
    }

    fn open_in(root: &Path, version: Version, rel: &Path, named: bool) -> Cgroup {
        let rel = rel.strip_prefix("/").unwrap_or(rel).to_path_buf();
        let dirs = match version {
            Version::V2 => vec![(root.to_path_buf(), root.join(&rel))],
            Version::V1 => v1_hierarchies(root, named)
                .into_iter()
                .map(|mp| {
                    let dir = mp.join(&rel);
                    (mp, dir)
                })
                .collect(),
        };
        Cgroup { version, dirs, rel }
    }

    /// The layout this cgroup lives in.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The path relative to each hierarchy's root, e.g. `berth/<id>`.
    pub fn rel(&self) -> &Path {
        &self.rel
    }

    /// The container's directories, one per hierarchy.
    pub fn dirs(&self) -> impl Iterator<Item = &Path> {
        self.dirs.iter().map(|(_, d)| d.as_path())
    }

    /// Creates the directories and applies `resources`; on failure removes what it created.
    pub fn create(&self, resources: Option<&LinuxResources>) -> Result<()> {
        let result = self.create_inner(resources);
        if result.is_err() {
            let _ = self.destroy();
        }
        result
    }

    fn create_inner(&self, resources: Option<&LinuxResources>) -> Result<()> {
        for (mount, dir) in &self.dirs {
            if self.version == Version::V2 {
                enable_v2_controllers(mount, dir)?;
            }
            mkdir_racy(dir)?;
            if self.version == Version::V1
                && mount
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().split(',').any(|c| c == "cpuset"))
            {
                inherit_cpuset(mount, dir)?;
            }
        }
        if let Some(res) = resources {
            match self.version {
                Version::V1 => self.apply_v1(res)?,
                Version::V2 => self.apply_v2(res)?,
            }
        }
        Ok(())
    }

    fn dir_of(&self, controller: &str) -> Option<&Path> {
        match self.version {
            Version::V2 => self.dirs.first().map(|(_, d)| d.as_path()),
            Version::V1 => self
                .dirs
                .iter()
                .find(|(mp, _)| {
                    mp.file_name()
                        .map(|n| n.to_string_lossy().split(',').any(|c| c == controller))
                        == Some(true)
                })
                .map(|(_, d)| d.as_path()),
        }
    }

    /// The directory of `controller`, or an error naming a controller this host lacks.
    fn controller_dir(&self, controller: &str) -> Result<&Path> {
        self.dir_of(controller).ok_or_else(|| RuntimeError::Cgroup {
            path: format!("{controller} controller"),
            source: io::Error::new(
                io::ErrorKind::NotFound,
                "controller not mounted on this host",
            ),
        })
    }

    fn write_in(&self, controller: &str, file: &str, value: &str) -> Result<()> {
        let dir = self.controller_dir(controller)?;
        write_file(&dir.join(file), value)
    }

    /// Writes the first of `files` the controller's directory has (kernels name the block I/O
    /// weight differently depending on the I/O scheduler).
    fn write_first(&self, controller: &str, files: &[&str], value: &str) -> Result<()> {
        let dir = self.controller_dir(controller)?;
        let f = files
            .iter()
            .map(|f| dir.join(f))
            .find(|p| p.exists())
            .ok_or_else(|| RuntimeError::Cgroup {
                path: dir.display().to_string(),
                source: io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("none of {files:?} exists: the I/O weight is not supported here"),
                ),
            })?;
        write_file(&f, value)
    }

    fn apply_v1(&self, res: &LinuxResources) -> Result<()> {
        if let Some(mem) = res.memory() {
            if let Some(limit) = mem.limit() {
                self.write_in("memory", "memory.limit_in_bytes", &limit.to_string())?;
                if let Some(swap) = mem.swap() {
                    let path = self
                        .dir_of("memory")
                        .map(|d| d.join("memory.memsw.limit_in_bytes"));
                    // Swap accounting is a boot option; without it the file is absent and Docker
                    // warns instead of failing.
                    if let Some(p) = path.filter(|p| p.exists()) {
                        write_file(&p, &swap.to_string())?;
                    }
                }
            }
        }
        if let Some(mem) = res.memory() {
            if let Some(r) = mem.reservation() {
                self.write_in("memory", "memory.soft_limit_in_bytes", &r.to_string())?;
            }
            if mem.disable_oom_killer() == Some(true) {
                self.write_in("memory", "memory.oom_control", "1")?;
            }
            // cgroup v1 only: v2 has no per-cgroup swappiness (runc ignores it there too).
            if let Some(s) = mem.swappiness() {
                self.write_in("memory", "memory.swappiness", &s.to_string())?;
            }
        }
        if let Some(cpu) = res.cpu() {
            if let Some(c) = cpu.cpus() {
                self.write_in("cpuset", "cpuset.cpus", c)?;
            }
            if let Some(m) = cpu.mems() {
                self.write_in("cpuset", "cpuset.mems", m)?;
            }
            if let Some(shares) = cpu.shares() {
                self.write_in("cpu", "cpu.shares", &shares.to_string())?;
            }
            if let Some(period) = cpu.period() {
                self.write_in("cpu", "cpu.cfs_period_us", &period.to_string())?;
            }
            if let Some(quota) = cpu.quota() {
                self.write_in("cpu", "cpu.cfs_quota_us", &quota.to_string())?;
            }
        }
        if let Some(w) = res.block_io().as_ref().and_then(|b| b.weight()) {
            self.write_first(
                "blkio",
                &["blkio.weight", "blkio.bfq.weight"],
                &w.to_string(),
            )?;
        }
        if let Some(pids) = res.pids() {
            let v = if pids.limit() > 0 {
                pids.limit().to_string()
            } else {
                "max".into()
            };
            self.write_in("pids", "pids.max", &v)?;
        }
        if let Some(devices) = res.devices() {
            if let Some(dir) = self.dir_of("devices") {
                for rule in devices {
                    let typ = rule
                        .typ()
                        .map(|t| t.as_str().to_string())
                        .unwrap_or_else(|| "a".into());
                    let major = rule
                        .major()
                        .map(|m| m.to_string())
                        .unwrap_or_else(|| "*".into());
                    let minor = rule
                        .minor()
                        .map(|m| m.to_string())
                        .unwrap_or_else(|| "*".into());
                    let access = rule.access().clone().unwrap_or_else(|| "rwm".into());
                    let line = if typ == "a" {
                        "a".to_string()
                    } else {
                        format!("{typ} {major}:{minor} {access}")
                    };
                    let file = if rule.allow() {
                        "devices.allow"
                    } else {
                        "devices.deny"
                    };
                    write_file(&dir.join(file), &line)?;
                }
            }
        }
        Ok(())
    }

    fn apply_v2(&self, res: &LinuxResources) -> Result<()> {
        if let Some(mem) = res.memory() {
            if let Some(r) = mem.reservation() {
                self.write_in("memory", "memory.low", &r.to_string())?;
            }
            if let Some(limit) = mem.limit() {
                self.write_in("memory", "memory.max", &limit.to_string())?;
                if let Some(swap) = mem.swap() {
                    // v1's memsw counts memory plus swap; v2's swap.max counts swap alone.
                    let only_swap = if swap < 0 {
                        "max".to_string()
                    } else {
                        (swap - limit).max(0).to_string()
                    };
                    let p = self.dirs[0].1.join("memory.swap.max");
                    if p.exists() {
                        write_file(&p, &only_swap)?;
                    }
                }
            }
        }
        if let Some(cpu) = res.cpu() {
            if let Some(c) = cpu.cpus() {
                self.write_in("cpuset", "cpuset.cpus", c)?;
            }
            if let Some(m) = cpu.mems() {
                self.write_in("cpuset", "cpuset.mems", m)?;
            }
            if let Some(shares) = cpu.shares() {
                // The conversion runc and crun use, mapping [2, 262144] onto [1, 10000].
                let weight = 1 + ((shares.clamp(2, 262_144) - 2) * 9999) / 262_142;
                self.write_in("cpu", "cpu.weight", &weight.to_string())?;
            }
            if cpu.quota().is_some() || cpu.period().is_some() {
                let quota = match cpu.quota() {
                    Some(q) if q > 0 => q.to_string(),
                    _ => "max".into(),
                };
                let period = cpu.period().unwrap_or(100_000);
                self.write_in("cpu", "cpu.max", &format!("{quota} {period}"))?;
            }
        }
        if let Some(w) = res.block_io().as_ref().and_then(|b| b.weight()) {
            self.write_first("io", &["io.weight", "io.bfq.weight"], &w.to_string())?;
        }
        if let Some(pids) = res.pids() {
            let v = if pids.limit() > 0 {
                pids.limit().to_string()
            } else {
                "max".into()
            };
            self.write_in("pids", "pids.max", &v)?;
        }
        if let Some(devices) = res.devices() {
            if let Some(prog) = crate::devices::program(devices) {
                let dir = &self.dirs[0].1;
                crate::devices::attach(dir, &prog).map_err(|source| RuntimeError::Cgroup {
                    path: dir.display().to_string(),
                    source,
                })?;
            }
        }
        Ok(())
    }

    /// Applies new limits to an existing cgroup (`update`); device rules are left as they are.
    pub fn update(&self, resources: &LinuxResources) -> Result<()> {
        let mut r = resources.clone();
        r.set_devices(None);
        match self.version {
            Version::V1 => self.apply_v1(&r),
            Version::V2 => self.apply_v2(&r),
        }
    }

    /// Reads one file of the hierarchy holding `controller` (v1) or of the single v2 directory.
    pub fn read(&self, controller: &str, file: &str) -> Option<String> {
        fs::read_to_string(self.dir_of(controller)?.join(file)).ok()
    }

    /// A resource usage sample.
    pub fn stats(&self) -> Stats {
        let num = |s: Option<String>| s.and_then(|v| v.trim().parse::<u64>().ok());
        let keyed = |s: Option<String>, key: &str| -> Option<u64> {
            s?.lines().find_map(|l| {
                l.strip_prefix(key)
                    .and_then(|r| r.strip_prefix(' '))
                    .and_then(|v| v.trim().parse().ok())
            })
        };
        let mut st = Stats::default();
        match self.version {
            Version::V1 => {
                st.cpu_ns = num(self.read("cpuacct", "cpuacct.usage")).unwrap_or(0);
                let usage = num(self.read("memory", "memory.usage_in_bytes")).unwrap_or(0);
                let inactive =
                    keyed(self.read("memory", "memory.stat"), "total_inactive_file").unwrap_or(0);
                st.memory = usage.saturating_sub(inactive);
                st.memory_limit =
                    num(self.read("memory", "memory.limit_in_bytes")).unwrap_or(u64::MAX);
                st.pids = num(self.read("pids", "pids.current")).unwrap_or(0);
                for l in self
                    .read("blkio", "blkio.throttle.io_service_bytes")
                    .unwrap_or_default()
                    .lines()
                {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    if f.len() == 3 {
                        let v: u64 = f[2].parse().unwrap_or(0);
                        match f[1] {
                            "Read" => st.block_read += v,
                            "Write" => st.block_write += v,
                            _ => {}
                        }
                    }
                }
            }
            Version::V2 => {
                st.cpu_ns = keyed(self.read("cpu", "cpu.stat"), "usage_usec").unwrap_or(0) * 1000;
                let usage = num(self.read("memory", "memory.current")).unwrap_or(0);
                let inactive =
                    keyed(self.read("memory", "memory.stat"), "inactive_file").unwrap_or(0);
                st.memory = usage.saturating_sub(inactive);
                st.memory_limit = num(self.read("memory", "memory.max")).unwrap_or(u64::MAX);
                st.pids = num(self.read("pids", "pids.current")).unwrap_or(0);
                for l in self.read("io", "io.stat").unwrap_or_default().lines() {
                    for kv in l.split_whitespace().skip(1) {
                        match kv.split_once('=') {
                            Some(("rbytes", v)) => st.block_read += v.parse::<u64>().unwrap_or(0),
                            Some(("wbytes", v)) => st.block_write += v.parse::<u64>().unwrap_or(0),
                            _ => {}
                        }
                    }
                }
            }
        }
        st
    }

    /// Freezes (`true`) or thaws every process of the cgroup (`pause`, and a consistent view for
    /// commit and cp), waiting until the kernel reports the new state.
    pub fn set_frozen(&self, frozen: bool) -> Result<()> {
        let (file, value, check_file, want) = match self.version {
            Version::V1 => (
                "freezer.state",
                if frozen { "FROZEN" } else { "THAWED" },
                "freezer.state",
                if frozen { "FROZEN" } else { "THAWED" },
            ),
            Version::V2 => (
                "cgroup.freeze",
                if frozen { "1" } else { "0" },
                "cgroup.events",
                if frozen { "frozen 1" } else { "frozen 0" },
            ),
        };
        let dir = self.dir_of("freezer").ok_or_else(|| RuntimeError::Cgroup {
            path: "freezer".into(),
            source: io::Error::new(io::ErrorKind::NotFound, "no freezer on this host"),
        })?;
        write_file(&dir.join(file), value)?;
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let now = fs::read_to_string(dir.join(check_file)).unwrap_or_default();
            if now.lines().any(|l| l.trim() == want) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Err(RuntimeError::Cgroup {
            path: dir.display().to_string(),
            source: io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{file} did not reach {want}"),
            ),
        })
    }

    /// Moves process `pid` into this cgroup in every hierarchy.
    pub fn add(&self, pid: i32) -> Result<()> {
        let s = pid.to_string();
        for (_, dir) in &self.dirs {
            write_file(&dir.join("cgroup.procs"), &s)?;
        }
        Ok(())
    }

    /// The processes in the cgroup (host pids).
    pub fn pids(&self) -> Vec<i32> {
        let Some((_, dir)) = self.dirs.iter().find(|(_, d)| d.exists()) else {
            return Vec::new();
        };
        fs::read_to_string(dir.join("cgroup.procs"))
            .map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default()
    }

    /// Sends `signal` to every process in the cgroup.
    pub fn signal_all(&self, signal: i32) {
        for pid in self.pids() {
            // SAFETY: kill(2) has no memory-safety preconditions.
            unsafe { libc::kill(pid, signal) };
        }
    }

    /// Removes the directories that are empty, killing nothing: a cgroup something still uses
    /// (a new shim of the same container) stays. True when none is left.
    pub fn remove_if_empty(&self) -> bool {
        let mut all = true;
        for (mount, dir) in &self.dirs {
            match fs::remove_dir(dir) {
                Ok(()) => remove_empty_parents(mount, dir),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(_) => all = false,
            }
        }
        all
    }

    /// Kills whatever is left, removes the directories, and the parent when it is empty.
    /// Tries every directory and reports the first error.
    pub fn destroy(&self) -> Result<()> {
        let mut first_err = None;
        let deadline = Instant::now() + Duration::from_secs(5);
        for (mount, dir) in &self.dirs {
            loop {
                match fs::remove_dir(dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                    // EBUSY: tasks are still exiting; kill stragglers and retry briefly.
                    Err(e) if Instant::now() < deadline => {
                        let _ = e;
                        self.signal_all(libc::SIGKILL);
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    Err(e) => {
                        first_err.get_or_insert(RuntimeError::Cgroup {
                            path: dir.display().to_string(),
                            source: e,
                        });
                        break;
                    }
                }
            }
            remove_empty_parents(mount, dir);
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Removes the now possibly empty parents of `dir` up to (not including) the hierarchy root
/// `mount`; a parent still holding other cgroups refuses with EBUSY/ENOTEMPTY, which is fine.
fn remove_empty_parents(mount: &Path, dir: &Path) {
    let mut p = dir.parent();
    while let Some(parent) = p {
        if parent == mount || !parent.starts_with(mount) || fs::remove_dir(parent).is_err() {
            break;
        }
        p = parent.parent();
    }
}

/// The v1 hierarchies' mount points that carry a controller berth uses, and with `named` the
/// named ones (`name=systemd`) too.
fn v1_hierarchies(root: &Path, named: bool) -> Vec<PathBuf> {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for line in info.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let mut post = post.split(' ');
        if post.next() != Some("cgroup") {
            continue;
        }
        let superopts = post.nth(1).unwrap_or("");
        let Some(mp) = pre.split(' ').nth(4) else {
            continue;
        };
        let mp = PathBuf::from(unescape_mount(mp));
        if !mp.starts_with(root) {
            continue;
        }
        let wanted = superopts
            .split(',')
            .any(|o| V1_CONTROLLERS.contains(&o) || (named && o.starts_with("name=")));
        if wanted && !out.contains(&mp) {
            out.push(mp);
        }
    }
    out
}

fn unescape_mount(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

fn enable_v2_controllers(mount: &Path, dir: &Path) -> Result<()> {
    let available = fs::read_to_string(mount.join("cgroup.controllers")).unwrap_or_default();
    let wanted: Vec<String> = V2_CONTROLLERS
        .iter()
        .filter(|c| available.split_whitespace().any(|a| a == **c))
        .map(|c| format!("+{c}"))
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let line = wanted.join(" ");
    // Every ancestor between the mount and the container must delegate the controllers.
    let mut cur = mount.to_path_buf();
    for comp in dir
        .strip_prefix(mount)
        .unwrap_or(dir)
        .parent()
        .into_iter()
        .flat_map(|p| p.components())
    {
        write_file(&cur.join("cgroup.subtree_control"), &line).ok();
        cur.push(comp);
        mkdir_racy(&cur)?;
    }
    write_file(&cur.join("cgroup.subtree_control"), &line)
}

/// A new v1 cpuset cgroup starts with no CPUs and no memory nodes, and no task can join it:
/// every level gets its parent's sets first.
fn inherit_cpuset(mount: &Path, dir: &Path) -> Result<()> {
    let rel = dir.strip_prefix(mount).unwrap_or(dir);
    let mut parent = mount.to_path_buf();
    for comp in rel.components() {
        let cur = parent.join(comp);
        for f in ["cpuset.cpus", "cpuset.mems"] {
            let now = fs::read_to_string(cur.join(f)).unwrap_or_default();
            if now.trim().is_empty() {
                let v = fs::read_to_string(parent.join(f)).unwrap_or_default();
                write_file(&cur.join(f), v.trim())?;
            }
        }
        parent = cur;
    }
    Ok(())
}

/// `mkdir -p` that tolerates another process removing an empty parent between our steps.
fn mkdir_racy(dir: &Path) -> Result<()> {
    let mut last = None;
    for _ in 0..5 {
        match fs::create_dir_all(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => last = Some(e),
            Err(e) => {
                return Err(RuntimeError::Cgroup {
                    path: dir.display().to_string(),
                    source: e,
                })
            }
        }
    }
    Err(RuntimeError::Cgroup {
        path: dir.display().to_string(),
        source: last.unwrap(),
    })
}

fn write_file(path: &Path, value: &str) -> Result<()> {
    fs::write(path, value).map_err(|source| RuntimeError::Cgroup {
        path: format!("{} (writing {value:?})", path.display()),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_host_layout() {
        // Whatever the host is, detection must agree with the file system magic.
        let v = Version::detect();
        let st = nix::sys::statfs::statfs("/sys/fs/cgroup").unwrap();
        assert_eq!(
            v == Version::V2,
            st.filesystem_type().0 as i64 == CGROUP2_SUPER_MAGIC
        );
    }

    #[test]
    fn v2_stats_read_from_fake_root() {
        let tmp = std::env::temp_dir().join(format!("berth-cg-stats-{}", std::process::id()));
        let d = tmp.join("p/c");
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("cpu.stat"), "usage_usec 2500\nuser_usec 2000\n").unwrap();
        fs::write(d.join("memory.current"), "10485760\n").unwrap();
        fs::write(d.join("memory.stat"), "anon 1\ninactive_file 1048576\n").unwrap();
        fs::write(d.join("memory.max"), "max\n").unwrap();
        fs::write(d.join("pids.current"), "3\n").unwrap();
        fs::write(
            d.join("io.stat"),
            "8:0 rbytes=100 wbytes=200 rios=1\n8:16 rbytes=1 wbytes=2\n",
        )
        .unwrap();
        let cg = Cgroup::open_at(&tmp, Version::V2, Path::new("p/c"));
        let s = cg.stats();
        assert_eq!(s.cpu_ns, 2_500_000);
        assert_eq!(s.memory, 9 * 1024 * 1024);
        assert_eq!(s.memory_limit, u64::MAX);
        assert_eq!((s.pids, s.block_read, s.block_write), (3, 101, 202));
        let res: LinuxResources =
            serde_json::from_str(r#"{"memory":{"limit":33554432},"pids":{"limit":7}}"#).unwrap();
        cg.update(&res).unwrap();
        assert_eq!(
            fs::read_to_string(d.join("memory.max")).unwrap(),
            "33554432"
        );
        assert_eq!(fs::read_to_string(d.join("pids.max")).unwrap(), "7");
        fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn v2_files_written_under_fake_root() {
        let tmp = std::env::temp_dir().join(format!("berth-cg-test-{}", std::process::id()));
        fs::create_dir_all(&tmp).unwrap();
        fs::write(tmp.join("cgroup.controllers"), "cpu memory pids").unwrap();
        let cg = Cgroup::open_at(&tmp, Version::V2, Path::new("/parent/ctr"));
        let res: LinuxResources = serde_json::from_str(
            r#"{"memory":{"limit":67108864},"cpu":{"shares":512,"quota":50000,"period":100000},"pids":{"limit":20}}"#,
        )
        .unwrap();
        cg.create(Some(&res)).unwrap();
        let d = tmp.join("parent/ctr");
        assert_eq!(
            fs::read_to_string(d.join("memory.max")).unwrap(),
            "67108864"
        );
        assert_eq!(
            fs::read_to_string(d.join("cpu.max")).unwrap(),
            "50000 100000"
        );
        assert_eq!(fs::read_to_string(d.join("cpu.weight")).unwrap(), "20");
        assert_eq!(fs::read_to_string(d.join("pids.max")).unwrap(), "20");
        assert_eq!(
            fs::read_to_string(tmp.join("parent/cgroup.subtree_control")).unwrap(),
            "+cpu +memory +pids"
        );
        fs::remove_dir_all(&tmp).unwrap();
    }
}
