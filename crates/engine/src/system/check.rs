//! `system check [--repair]`: verifies the store (every image's config, layers and blobs present
//! and digest-correct, the names, no orphans or temp leftovers, container records against their
//! directories) and what containers hold on the host (name files, leases, network namespaces,
//! cgroups, shims, mounts), and repairs what it can.

use super::orphans::{older_than, stray_temp_files};
use crate::content::HashingReader;
use crate::error::Result;
use crate::network::DEFAULT_BRIDGE;
use crate::store;
use crate::Engine;
use std::collections::HashSet;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Runtime leftovers younger than this may belong to a start still under way.
const GRACE_SECS: u64 = 30;

/// What kind of thing a problem is: damage loses data or breaks an image or container;
/// garbage only takes space or a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// An image or container that cannot be used as it is.
    Damage,
    /// A leftover that holds space, a name, an address or a kernel object.
    Leftover,
}

/// One thing `system check` found.
#[derive(Debug, Clone)]
pub struct Problem {
    /// Damage or leftover.
    pub severity: Severity,
    /// What is wrong, for people.
    pub what: String,
    /// `--repair` fixed it.
    pub repaired: bool,
    /// Bytes it holds on disk, where that is known (orphans).
    pub bytes: u64,
}

/// What `system check` saw and found.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    /// Images checked.
    pub images: usize,
    /// Layers checked.
    pub layers: usize,
    /// Blobs whose digest was checked.
    pub blobs: usize,
    /// Containers checked.
    pub containers: usize,
    /// Everything found, in the order checked.
    pub problems: Vec<Problem>,
}

impl CheckReport {
    /// Problems `--repair` did not (or could not) fix.
    pub fn unrepaired(&self) -> usize {
        self.problems.iter().filter(|p| !p.repaired).count()
    }
}

/// The check in progress: what it found, and whether it repairs.
struct Checker<'a> {
    engine: &'a Engine,
    repair: bool,
    report: CheckReport,
}

impl Checker<'_> {
    /// Records a problem, repairing it with `fix` when asked to.
    fn found(&mut self, severity: Severity, what: String, fix: impl FnOnce() -> Result<()>) {
        let repaired = self.repair && fix().is_ok();
        self.report.problems.push(Problem {
            severity,
            what,
            repaired,
            bytes: 0,
        });
    }

    /// Records a problem no repair can fix here (the user decides).
    fn found_only(&mut self, severity: Severity, what: String) {
        self.report.problems.push(Problem {
            severity,
            what,
            repaired: false,
            bytes: 0,
        });
    }
}

impl Engine {
    /// `system check`: every check, repairing when `repair` says so.
    pub fn system_check(&self, repair: bool) -> Result<CheckReport> {
        let mut c = Checker {
            engine: self,
            repair,
            report: CheckReport::default(),
        };
        // Hashing every blob takes long: done without the lock, which a pull or a create
        // needs; a blob is renamed into place whole, so one that hashes wrong is corrupt.
        let bad_blobs = c.blobs();
        {
            // Images, names and orphans are judged with no pull, rmi or create in between.
            let _l = self.images.lock()?;
            c.images(&bad_blobs);
            c.names_of_images();
            c.orphans();
        }
        c.temp_files();
        let ours = c.containers();
        c.container_names();
        c.leases(&ours);
        c.netns(&ours);
        c.cgroups(&ours);
        c.shims();
        c.mounts();
        Ok(c.report)
    }
}

impl Checker<'_> {
    /// Every blob hashes to its name; returns the ones that do not (removed when repairing).
    fn blobs(&mut self) -> HashSet<String> {
        let content = &self.engine.images.content;
        let mut bad = HashSet::new();
        for digest in content.list() {
            self.report.blobs += 1;
            let got = content.open(&digest).and_then(|f| {
                let mut hr = HashingReader::new(std::io::BufReader::new(f));
                std::io::copy(&mut hr, &mut std::io::sink())
                    .and_then(|_| hr.finish())
                    .map(|(d, _)| d)
                    .map_err(|e| crate::Error::io(format!("read blob {digest}"), e))
            });
            let got = match got {
                Ok(d) => d,
                // Gone meanwhile (an rmi), or unreadable: no evidence of corruption.
                Err(e) if e.kind == crate::ErrorKind::NotFound => continue,
                Err(e) => {
                    self.found_only(Severity::Damage, e.message);
                    continue;
                }
            };
            if got != digest {
                bad.insert(digest.clone());
                let what = format!("blob {digest} is corrupt (its content does not match)");
                self.found(Severity::Damage, what, || content.delete(&digest));
            }
        }
        bad
    }

    /// Every image record readable, its config and layers present and matching.
    fn images(&mut self, bad_blobs: &HashSet<String>) {
        let e = self.engine;
        let Ok(rd) = std::fs::read_dir(e.root.join("images")) else {
            return;
        };
        let mut records = Vec::new();
        for entry in rd.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|x| x != "json") {
                continue;
            }
            self.report.images += 1;
            match store::read_json::<crate::image::ImageRecord>(&path) {
                Ok(rec) => records.push(rec),
                // A newer berth's record or an I/O error: the user decides, nothing is removed.
                Err(err) => self.found_only(
                    Severity::Damage,
                    format!("image record {} is unreadable: {err}", path.display()),
                ),
            }
        }
        for rec in records {
            self.report.layers += rec.layers.len();
            let mut wrong = Vec::new();
            match e.images.config(&rec.id) {
                Err(err) => wrong.push(format!("its config: {}", err.message)),
                Ok(cfg) if cfg.rootfs.diff_ids != rec.diff_ids() => {
                    wrong.push("its config names other layers than its record".into())
                }
                Ok(_) => {}
            }
            for l in &rec.layers {
                if !e.images.layers.exists(&l.diff_id) {
                    wrong.push(format!("layer {} is missing", l.diff_id));
                }
                if !e.images.content.exists(&l.blob) || bad_blobs.contains(&l.blob) {
                    wrong.push(format!("blob {} is missing or corrupt", l.blob));
                }
            }
            if wrong.is_empty() {
                continue;
            }
            let users = e.containers_using(&rec.id);
            let what = format!("image {} is damaged: {}", rec.id, wrong.join("; "));
            if users.is_empty() {
                // Removed, the image can be pulled or loaded again whole.
                self.found(Severity::Damage, what, || e.images.delete_locked(&rec.id));
            } else {
                let what = format!(
                    "{what} (used by container {}: remove it first)",
                    users[0].get(..12).unwrap_or(&users[0])
                );
                self.found_only(Severity::Damage, what);
            }
        }
    }

    /// Every name in the name table points at an image that exists.
    fn names_of_images(&mut self) {
        let e = self.engine;
        for (name, id) in e.images.all_refs() {
            if e.images.get(&id).is_err() {
                let what = format!("name {} points at missing image {id}", name.familiar());
                self.found(Severity::Leftover, what, || {
                    e.images.untag_locked(&name).map(|_| ())
                });
            } else if let Some(d) = name.digest() {
                if !e.images.content.exists(d) {
                    let what = format!("the manifest of {} is missing", name.familiar());
                    self.found(Severity::Leftover, what, || {
                        e.images.untag_locked(&name).map(|_| ())
                    });
                }
            }
        }
    }

    /// Layers and blobs nothing refers to.
    fn orphans(&mut self) {
        let e = self.engine;
        let orphans = match e.find_orphans() {
            Ok(o) => o,
            Err(err) => {
                let what = format!("orphans not judged: {}", err.message);
                return self.found_only(Severity::Damage, what);
            }
        };
        for (o, size) in orphans {
            self.found(Severity::Leftover, o.to_string(), || e.remove_orphan(&o));
            if let Some(p) = self.report.problems.last_mut() {
                p.bytes = size;
            }
        }
    }

    /// Work in progress of processes that are gone.
    fn temp_files(&mut self) {
        let e = self.engine;
        let mut stale: Vec<PathBuf> = Vec::new();
        if let Ok(rd) = std::fs::read_dir(e.root.join("tmp")) {
            for entry in rd.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if !store::temp_owner(&name).is_some_and(store::pid_alive) {
                    stale.push(entry.path());
                }
            }
        }
        stale.extend(stray_temp_files(e));
        for p in stale {
            let what = format!("temp file {} of a process that is gone", p.display());
            self.found(Severity::Leftover, what, || {
                let r = if p.is_dir() {
                    store::make_writable_and_remove(&p)
                } else {
                    std::fs::remove_file(&p)
                };
                r.map_err(|e| crate::Error::io("remove", e))
            });
        }
    }

    /// Every container directory has a readable record and state, its image and layers;
    /// returns the ids of this root's containers and whether each is live.
    fn containers(&mut self) -> Vec<(String, bool)> {
        let e = self.engine;
        let mut ours = Vec::new();
        for id in e.containers.ids() {
            self.report.containers += 1;
            let dir = e.containers.dir(&id);
            let rec = match e.containers.record(&id) {
                Ok(r) => r,
                // Its rw layer is the user's: reported, never removed here.
                Err(err) => {
                    let what = format!(
                        "container {id} has no readable record ({}): {}",
                        dir.display(),
                        err.message
                    );
                    self.found_only(Severity::Damage, what);
                    ours.push((id, true));
                    continue;
                }
            };
            if e.containers.state_raw(&id).is_err() {
                let what = format!("container {} has no readable state", rec.name);
                self.found(Severity::Damage, what, || {
                    let lock = e.containers.lock(&id)?;
                    let mut st = crate::container::State::default();
                    st.exited(255, false);
                    st.error = "state lost; reset by system check".into();
                    e.containers.write_state(&lock, &st)
                });
            }
            // Reading the state marks a container whose shim died as exited; one whose state
            // cannot be read counts as live, so nothing it may hold is taken.
            let live = e.state(&id).map_or(true, |s| s.status.is_live());
            if rec.abandoned_build_step() && !live {
                let what = format!("build step container {id} of a build that was killed");
                self.found(Severity::Leftover, what, || e.remove(&id, true, true));
                continue;
            }
            if !rec.build_step && e.images.get(&rec.image).is_err() {
                let what = format!(
                    "container {} uses image {} that is gone",
                    rec.name, rec.image
                );
                self.found_only(Severity::Damage, what);
            }
            for l in rec.layers.iter().filter(|l| !e.images.layers.exists(l)) {
                let what = format!("container {} is missing its layer {l}", rec.name);
                self.found_only(Severity::Damage, what);
            }
            ours.push((id, live));
        }
        ours
    }

    /// Every container's name reserved to it, and no name file left for a container gone.
    fn container_names(&mut self) {
        let e = self.engine;
        let mut named = HashSet::new();
        for id in e.containers.ids() {
            let Ok(rec) = e.containers.record(&id) else {
                continue;
            };
            named.insert(rec.name.clone());
            match crate::container::names::lookup(&e.root, &rec.name) {
                Some(owner) if owner == id => {}
                Some(owner) => self.found_only(
                    Severity::Damage,
                    format!(
                        "containers {id} and {owner} both hold the name {}",
                        rec.name
                    ),
                ),
                None => {
                    let what = format!("container {id}'s name {} is not reserved", rec.name);
                    self.found(Severity::Leftover, what, || {
                        crate::container::names::reserve(&e.root, &rec.name, &id)
                    });
                }
            }
        }
        let Ok(rd) = std::fs::read_dir(e.root.join("names")) else {
            return;
        };
        for entry in rd.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if named.contains(&name) || !crate::container::names::is_stale(&e.root, &entry.path()) {
                continue;
            }
            let what = format!("name {name} is held for a container that does not exist");
            let p = entry.path();
            self.found(Severity::Leftover, what, || {
                std::fs::remove_file(&p).map_err(|x| crate::Error::io("remove", x))
            });
        }
    }

    /// Address leases held for containers that no longer run.
    fn leases(&mut self, ours: &[(String, bool)]) {
        let e = self.engine;
        let known: std::collections::HashMap<&str, bool> =
            ours.iter().map(|(id, live)| (id.as_str(), *live)).collect();
        for net in e.networks.list().unwrap_or_default() {
            let shared = net.bridge() == DEFAULT_BRIDGE;
            let Ok(rd) = std::fs::read_dir(e.networks.leases(&net)) else {
                continue;
            };
            for entry in rd.flatten() {
                let file = entry.file_name().to_string_lossy().into_owned();
                if file.parse::<std::net::Ipv4Addr>().is_err()
                    || !older_than(entry.metadata().and_then(|m| m.modified()), 90)
                {
                    continue;
                }
                let holder = std::fs::read_to_string(entry.path()).unwrap_or_default();
                // The default bridge's leases are host-wide: one of a container not of this
                // root may be another root's, and only that root can judge it.
                let stale = match known.get(holder.as_str()) {
                    Some(live) => !live,
                    None => holder.is_empty() || !shared,
                };
                if stale {
                    let what = format!(
                        "address {file} on network {} is leased to a container that does not run",
                        net.name
                    );
                    let p = entry.path();
                    self.found(Severity::Leftover, what, || {
                        e.still_stopped(&holder)?;
                        std::fs::remove_file(&p).map_err(|x| crate::Error::io("remove", x))
                    });
                }
            }
        }
    }

    /// Network namespaces kept for containers that no longer run.
    fn netns(&mut self, ours: &[(String, bool)]) {
        let dir = crate::exec_root::exec_root().join("netns");
        let Ok(rd) = std::fs::read_dir(&dir) else {
            return;
        };
        let in_use = namespaces_in_use();
        for entry in rd.flatten() {
            let id = entry.file_name().to_string_lossy().into_owned();
            let p = entry.path();
            if !older_than(entry.metadata().and_then(|m| m.modified()), GRACE_SECS) {
                continue;
            }
            // The exec root may be shared: a namespace of another root's container is judged
            // by whether any process is in it.
            let stale = match ours.iter().find(|(c, _)| *c == id) {
                Some((_, live)) => !live,
                None => std::fs::metadata(&p).is_ok_and(|m| {
                    use std::os::unix::fs::MetadataExt;
                    !in_use.contains(&m.ino())
                }),
            };
            if stale {
                let what = format!("network namespace {} is left mounted", p.display());
                let e = self.engine;
                self.found(Severity::Leftover, what, || {
                    e.still_stopped(&id)?;
                    crate::network::attach::drop_netns(&id);
                    Ok(())
                });
            }
        }
    }

    /// Empty cgroups of containers and shims that are gone.
    fn cgroups(&mut self, ours: &[(String, bool)]) {
        let e = self.engine;
        for parent in [
            e.cgroup_parent.clone(),
            crate::shim::SHIM_CGROUP.to_string(),
        ] {
            let mut children = HashSet::new();
            for d in berth_runtime::Cgroup::open(Path::new(&parent)).dirs() {
                if let Ok(rd) = std::fs::read_dir(d) {
                    children.extend(
                        rd.flatten()
                            .filter(|x| x.path().is_dir())
                            .map(|x| x.file_name().to_string_lossy().into_owned()),
                    );
                }
            }
            for child in children {
                let rel = format!("{parent}/{child}");
                let cg = if parent == crate::shim::SHIM_CGROUP {
                    crate::shim::own_cgroup_of(&child)
                } else {
                    berth_runtime::Cgroup::open(Path::new(&rel))
                };
                let young = cg.dirs().next().is_some_and(|d| {
                    !older_than(std::fs::metadata(d).and_then(|m| m.modified()), GRACE_SECS)
                });
                let live = ours.iter().any(|(c, l)| *c == child && *l);
                if young || live || !cg.pids().is_empty() {
                    continue;
                }
                let what = format!("cgroup {rel} is left with nothing in it");
                // Only empty directories go: a start that just made it and moved its process
                // in keeps it, and nothing is killed.
                self.found(Severity::Leftover, what, || {
                    if cg.remove_if_empty() {
                        Ok(())
                    } else {
                        Err(crate::Error::conflict(format!("cgroup {rel} is in use")))
                    }
                });
            }
        }
    }

    /// Shims of this root whose container is gone.
    fn shims(&mut self) {
        let e = self.engine;
        for (pid, id) in shims_of(e.root.path(), &e.shim_binary) {
            if e.containers.dir(&id).exists() {
                continue;
            }
            let what = format!("shim {pid} runs for container {id} that does not exist");
            self.found(Severity::Leftover, what, || {
                // Through a pidfd: the pid cannot be another process's by the time of the kill.
                let fd = rustix::process::pidfd_open(
                    rustix::process::Pid::from_raw(pid)
                        .ok_or_else(|| crate::Error::internal("pid"))?,
                    rustix::process::PidfdFlags::empty(),
                )
                .map_err(|x| crate::Error::internal(format!("pidfd {pid}: {x}")))?;
                if !shims_of(e.root.path(), &e.shim_binary).contains(&(pid, id.clone())) {
                    return Err(crate::Error::conflict("the shim is gone"));
                }
                e.cgroup(&id).signal_all(libc::SIGKILL);
                rustix::process::pidfd_send_signal(&fd, rustix::process::Signal::KILL)
                    .map_err(|x| crate::Error::internal(format!("kill {pid}: {x}")))
            });
        }
    }

    /// Nothing of the root is mounted on the host: a container's mounts live in its own
    /// mount namespace.
    fn mounts(&mut self) {
        let root = self.engine.root.path().to_path_buf();
        let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
            return;
        };
        for line in info.lines() {
            let Some(mp) = line.split(' ').nth(4) else {
                continue;
            };
            // Only what berth itself mounts (a container's overlay, a namespace): a disk the
            // operator mounted for volumes or containers is theirs.
            let fstype = line
                .split_once(" - ")
                .and_then(|(_, post)| post.split(' ').next())
                .unwrap_or("");
            let mp = PathBuf::from(unescape_mountinfo(mp));
            if mp == root || !mp.starts_with(&root) || !matches!(fstype, "overlay" | "nsfs") {
                continue;
            }
            let what = format!("{} is left mounted on the host", mp.display());
            self.found(Severity::Leftover, what, || {
                nix::mount::umount2(&mp, nix::mount::MntFlags::MNT_DETACH)
                    .map_err(|x| crate::Error::internal(format!("umount: {x}")))
            });
        }
    }
}

impl Engine {
    /// Fails unless container `id` of this root is (still) not running, read under its lock:
    /// what a repair takes from a stopped container must not be taken from one that started
    /// since the check looked. A container of no known record counts as stopped.
    fn still_stopped(&self, id: &str) -> Result<()> {
        if !self.containers.dir(id).exists() {
            return Ok(());
        }
        let lock = self.containers.lock(id)?;
        match self.state_locked(&lock) {
            Ok(st) if !st.status.is_live() => Ok(()),
            _ => Err(crate::Error::conflict(format!("container {id} runs now"))),
        }
    }
}

/// The network namespaces (inode numbers) some process is in.
fn namespaces_in_use() -> HashSet<u64> {
    let mut out = HashSet::new();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            if let Ok(m) = std::fs::metadata(e.path().join("ns/net")) {
                use std::os::unix::fs::MetadataExt;
                out.insert(m.ino());
            }
        }
    }
    out
}

/// The shims (pid, container id) serving the state root `root`: root's processes running the
/// shim binary as `berth shim --root <root> <64-hex id>` (a command line alone anyone can forge).
pub fn shims_of(root: &Path, binary: &Path) -> Vec<(i32, String)> {
    use std::os::unix::fs::MetadataExt;
    let ours = std::fs::metadata(binary).ok().map(|m| (m.dev(), m.ino()));
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
        let hex_id = args.len() >= 5
            && args[4].len() == 64
            && args[4]
                .iter()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b));
        if !(hex_id
            && args[1] == b"shim"
            && args[2] == b"--root"
            && Path::new(std::ffi::OsStr::from_bytes(args[3])) == root)
        {
            continue;
        }
        let exe = std::fs::metadata(e.path().join("exe")).ok();
        let owner = std::fs::metadata(e.path()).ok().map(|m| m.uid());
        if exe.map(|m| (m.dev(), m.ino())) == ours && ours.is_some() && owner == Some(0) {
            out.push((pid, String::from_utf8_lossy(args[4]).into_owned()));
        }
    }
    out
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            let digits = std::str::from_utf8(&b[i + 1..i + 4]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(digits, 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_read_back() {
        assert_eq!(unescape_mountinfo(r"/var/lib/a\040b"), "/var/lib/a b");
        assert_eq!(unescape_mountinfo("/plain"), "/plain");
        assert_eq!(unescape_mountinfo(r"/end\04"), r"/end\04");
    }
}
