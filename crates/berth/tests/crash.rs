//! Crash trials: each operation is started and SIGKILLed at a random moment of its run (the
//! CLI, the daemon serving it, or the container's shim); then `system check` judges the store
//! and, once the user's clean-up commands ran, the host is searched for leaks (mounts, veths,
//! cgroups, shims, files) against what it held before the trial.
//!
//! `CRASH_TRIALS` trials per operation (default 2, CI's short run; `bench/crash.sh` runs
//! 100), `CRASH_OPS` a comma-separated subset. Its own test binary, so nothing else runs on
//! the host meanwhile. Needs root, busybox-static, docker-registry and the docker CLI.

#[allow(dead_code)]
#[path = "common.rs"]
mod common;

use common::{Berth, Registry};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Who is killed.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Victim {
    /// The berth CLI running the operation.
    Cli,
    /// The daemon serving the docker CLI's request.
    Daemon,
    /// The shim of the container being started (the CLI when there is none yet).
    Shim,
}

/// One operation under trial.
struct Op {
    name: &'static str,
    victim: Victim,
    /// Run once before the trials.
    setup: fn(&Ctx),
    /// Run before each trial, not killed.
    before: fn(&Ctx),
    /// The command killed.
    command: fn(&Ctx) -> Command,
    /// The user's clean-up after a trial: whatever the operation left is removed the
    /// documented way.
    after: fn(&Ctx),
}

/// What the trials share: the root, a registry, a work folder, a daemon when one runs.
struct Ctx {
    b: Berth,
    exec_root: tempfile::TempDir,
    work: tempfile::TempDir,
    registry: Registry,
    daemon: std::cell::RefCell<Option<Child>>,
    /// Trials run so far.
    n: std::cell::Cell<u64>,
}

impl Drop for Ctx {
    fn drop(&mut self) {
        if let Some(d) = self.daemon.get_mut().as_mut() {
            let _ = d.kill();
            let _ = d.wait();
        }
        for id in self.out(&["ps", "-aq", "--no-trunc"]).lines() {
            self.run(&["rm", "-f", id]);
        }
        self.run(&["network", "rm", "joined"]);
    }
}

impl Ctx {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.b.cmd(args);
        c.env("BERTH_EXEC_ROOT", self.exec_root.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        c
    }

    /// Runs berth; the exit code.
    fn run(&self, args: &[&str]) -> i32 {
        self.cmd(args).status().unwrap().code().unwrap_or(-1)
    }

    /// Runs berth and requires success.
    fn ok(&self, args: &[&str]) {
        let out = self.cmd(args).output().unwrap();
        assert!(
            out.status.success(),
            "berth {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// stdout of a berth command.
    fn out(&self, args: &[&str]) -> String {
        let o = self.cmd(args).stdout(Stdio::piped()).output().unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn work(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    fn socket(&self) -> PathBuf {
        self.work("api.sock")
    }

    /// Starts the daemon unless it runs.
    fn daemon_up(&self) {
        let mut d = self.daemon.borrow_mut();
        if let Some(c) = d.as_mut() {
            if c.try_wait().unwrap().is_none() {
                return;
            }
        }
        let _ = std::fs::remove_file(self.socket());
        let sock = format!("unix://{}", self.socket().display());
        let child = self
            .cmd(&["daemon", "-H", &sock])
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t = Instant::now();
        while std::os::unix::net::UnixStream::connect(self.socket()).is_err() {
            assert!(t.elapsed() < Duration::from_secs(10), "no daemon");
            std::thread::sleep(Duration::from_millis(10));
        }
        *d = Some(child);
    }

    fn docker(&self, args: &[&str]) -> Command {
        let mut c = Command::new("docker");
        c.env("DOCKER_HOST", format!("unix://{}", self.socket().display()))
            .env("DOCKER_CONFIG", self.work("docker-config"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    }

    /// Removes every container but the anchor.
    fn remove_containers(&self) {
        for id in self.others() {
            self.run(&["rm", "-f", &id]);
        }
    }

    /// Containers other than the anchor that keeps busybox from `image prune -a`.
    fn others(&self) -> Vec<String> {
        self.out(&["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}}"])
            .lines()
            .filter_map(|l| l.split_once(' '))
            .filter(|(_, name)| *name != "anchor")
            .map(|(id, _)| id.to_string())
            .collect()
    }

    fn registry_ref(&self, name: &str) -> String {
        format!("{}/crash/{name}", self.registry.addr)
    }
}

/// A tarball of one 4 MB file of random bytes: a layer with something to unpack.
fn random_tar(path: &Path) {
    let data: Vec<u8> = (0..4_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(1_700_000_000);
    b.append_data(&mut h, "data", &data[..]).unwrap();
    b.finish().unwrap();
}

fn none(_: &Ctx) {}

fn ops() -> Vec<Op> {
    vec![
        Op {
            name: "pull",
            victim: Victim::Cli,
            setup: |c| {
                let r = c.registry_ref("top:1");
                c.ok(&["import", c.work("big.tar").to_str().unwrap(), &r]);
                c.ok(&["push", "-q", &r]);
                c.ok(&["rmi", &r]);
            },
            before: none,
            command: |c| c.cmd(&["pull", "-q", &c.registry_ref("top:1")]),
            after: |c| {
                c.run(&["rmi", &c.registry_ref("top:1")]);
            },
        },
        Op {
            name: "load",
            victim: Victim::Cli,
            setup: |c| {
                c.ok(&["import", c.work("big.tar").to_str().unwrap(), "loaded:1"]);
                c.ok(&[
                    "save",
                    "-o",
                    c.work("saved.tar").to_str().unwrap(),
                    "loaded:1",
                ]);
                c.ok(&["rmi", "loaded:1"]);
            },
            before: none,
            command: |c| c.cmd(&["load", "-q", "-i", c.work("saved.tar").to_str().unwrap()]),
            after: |c| {
                c.run(&["rmi", "loaded:1"]);
            },
        },
        Op {
            name: "import",
            victim: Victim::Cli,
            setup: none,
            before: none,
            command: |c| c.cmd(&["import", c.work("big.tar").to_str().unwrap(), "imported:1"]),
            after: |c| {
                c.run(&["rmi", "imported:1"]);
            },
        },
        Op {
            name: "build",
            victim: Victim::Cli,
            setup: |c| {
                let ctx = c.work("context");
                std::fs::create_dir_all(&ctx).unwrap();
                std::fs::copy(c.work("big.tar"), ctx.join("big")).unwrap();
                std::fs::write(
                    ctx.join("Dockerfile"),
                    "FROM busybox\nCOPY big /big\nRUN wc -c /big > /size\nCMD [\"cat\", \"/size\"]\n",
                )
                .unwrap();
            },
            before: none,
            command: |c| {
                c.cmd(&[
                    "build",
                    "-q",
                    "-t",
                    "built:1",
                    c.work("context").to_str().unwrap(),
                ])
            },
            after: |c| {
                c.run(&["rmi", "built:1"]);
                c.remove_containers();
                c.run(&["image", "prune", "-a", "-f"]);
            },
        },
        Op {
            name: "create",
            victim: Victim::Cli,
            setup: none,
            before: none,
            command: |c| c.cmd(&["create", "--name", "made", "busybox", "true"]),
            after: Ctx::remove_containers,
        },
        Op {
            name: "start",
            victim: Victim::Cli,
            setup: none,
            before: |c| c.ok(&["create", "--name", "started", "busybox", "sleep", "1"]),
            command: |c| c.cmd(&["start", "started"]),
            after: Ctx::remove_containers,
        },
        Op {
            name: "run-rm",
            victim: Victim::Cli,
            setup: none,
            before: none,
            command: |c| c.cmd(&["run", "--rm", "busybox", "true"]),
            after: |c| {
                // The shim removes the container by itself: given a moment to, first.
                let t = Instant::now();
                while !c.others().is_empty() && t.elapsed() < Duration::from_secs(3) {
                    std::thread::sleep(Duration::from_millis(50));
                }
                c.remove_containers();
            },
        },
        Op {
            name: "shim",
            victim: Victim::Shim,
            setup: none,
            before: none,
            command: |c| {
                c.cmd(&[
                    "run",
                    "-d",
                    "--name",
                    "shimmed",
                    "-p",
                    "127.0.0.1::80",
                    "busybox",
                    "sleep",
                    "5",
                ])
            },
            after: Ctx::remove_containers,
        },
        Op {
            name: "commit",
            victim: Victim::Cli,
            setup: none,
            before: |c| {
                c.ok(&[
                    "run",
                    "--name",
                    "committed",
                    "busybox",
                    "sh",
                    "-c",
                    "head -c 3000000 /dev/zero > /x",
                ])
            },
            command: |c| c.cmd(&["commit", "committed", "committed:1"]),
            after: |c| {
                c.remove_containers();
                c.run(&["rmi", "committed:1"]);
            },
        },
        Op {
            name: "cp",
            victim: Victim::Cli,
            setup: |c| c.ok(&["run", "-d", "--name", "copied", "busybox", "sleep", "3600"]),
            before: none,
            command: |c| {
                if c.n.get() % 2 == 0 {
                    c.cmd(&["cp", c.work("big.tar").to_str().unwrap(), "copied:/in"])
                } else {
                    c.cmd(&["cp", "copied:/bin/busybox", c.work("out").to_str().unwrap()])
                }
            },
            after: |c| {
                let _ = std::fs::remove_file(c.work("out"));
                c.run(&["exec", "copied", "rm", "-f", "/in"]);
            },
        },
        Op {
            name: "rm",
            victim: Victim::Cli,
            setup: none,
            before: |c| c.ok(&["run", "-d", "--name", "removed", "busybox", "sleep", "60"]),
            command: |c| c.cmd(&["rm", "-f", "removed"]),
            after: Ctx::remove_containers,
        },
        Op {
            name: "rmi",
            victim: Victim::Cli,
            setup: none,
            before: |c| c.ok(&["import", c.work("big.tar").to_str().unwrap(), "unwanted:1"]),
            command: |c| c.cmd(&["rmi", "unwanted:1"]),
            after: |c| {
                c.run(&["rmi", "unwanted:1"]);
            },
        },
        Op {
            name: "prune",
            victim: Victim::Cli,
            setup: none,
            before: |c| {
                c.ok(&["create", "busybox", "true"]);
                c.ok(&["import", c.work("big.tar").to_str().unwrap()]);
            },
            command: |c| c.cmd(&["system", "prune", "-f"]),
            after: |c| {
                c.run(&["system", "prune", "-f"]);
            },
        },
        Op {
            name: "network-create",
            victim: Victim::Cli,
            setup: none,
            before: none,
            command: |c| c.cmd(&["network", "create", "crashnet"]),
            after: |c| {
                c.run(&["network", "rm", "crashnet"]);
            },
        },
        Op {
            name: "network-connect",
            victim: Victim::Cli,
            setup: |c| c.ok(&["network", "create", "joined"]),
            before: |c| c.ok(&["run", "-d", "--name", "joiner", "busybox", "sleep", "60"]),
            command: |c| c.cmd(&["network", "connect", "joined", "joiner"]),
            after: Ctx::remove_containers,
        },
        Op {
            name: "daemon-run",
            victim: Victim::Daemon,
            setup: none,
            before: Ctx::daemon_up,
            command: |c| c.docker(&["run", "-d", "--name", "served", "busybox", "sleep", "5"]),
            after: Ctx::remove_containers,
        },
    ]
}

/// What the host holds that a trial could leak.
#[derive(Debug, Default, PartialEq, Clone)]
struct HostState {
    mounts: BTreeSet<String>,
    veths: BTreeSet<String>,
    cgroups: BTreeSet<String>,
    shims: BTreeSet<String>,
    files: BTreeSet<String>,
}

impl HostState {
    fn read(c: &Ctx) -> HostState {
        let root = c.b.path().to_string_lossy().into_owned();
        let exec = c.exec_root.path().to_string_lossy().into_owned();
        let mounts = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| m.starts_with(&root) || m.starts_with(&exec))
            .map(String::from)
            .collect();
        let veths = std::fs::read_dir("/sys/class/net")
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("veth"))
            .collect();
        let mut cgroups = BTreeSet::new();
        for h in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
            for parent in ["berth", "berth-shim"] {
                if let Ok(rd) = std::fs::read_dir(h.path().join(parent)) {
                    for e in rd.flatten().filter(|e| e.path().is_dir()) {
                        cgroups.insert(format!(
                            "{}/{parent}/{}",
                            h.file_name().to_string_lossy(),
                            e.file_name().to_string_lossy()
                        ));
                    }
                }
            }
        }
        let shims = shims_of(c.b.path())
            .into_iter()
            .map(|(p, id)| format!("{p} {id}"))
            .collect();
        let mut files = BTreeSet::new();
        for top in [
            "blobs/sha256",
            "layers",
            "images",
            "containers",
            "names",
            "volumes",
            "networks",
            "tmp",
        ] {
            if let Ok(rd) = std::fs::read_dir(c.b.path().join(top)) {
                for e in rd.flatten() {
                    files.insert(format!("{top}/{}", e.file_name().to_string_lossy()));
                }
            }
        }
        if let Ok(rd) = std::fs::read_dir(c.exec_root.path().join("netns")) {
            for e in rd.flatten() {
                files.insert(format!("netns/{}", e.file_name().to_string_lossy()));
            }
        }
        HostState {
            mounts,
            veths,
            cgroups,
            shims,
            files,
        }
    }

    /// What `self` holds that `base` did not, by kind.
    fn leaks(&self, base: &HostState) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let pairs: [(&'static str, &BTreeSet<String>, &BTreeSet<String>); 5] = [
            ("mount", &self.mounts, &base.mounts),
            ("veth", &self.veths, &base.veths),
            ("cgroup", &self.cgroups, &base.cgroups),
            ("shim", &self.shims, &base.shims),
            ("file", &self.files, &base.files),
        ];
        for (kind, now, before) in pairs {
            for x in now.difference(before) {
                out.push((kind, x.clone()));
            }
        }
        out
    }
}

/// The shims of a root, from their command lines.
fn shims_of(root: &Path) -> Vec<(i32, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let args: Vec<String> = cmd
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args.len() >= 5 && args[1] == "shim" && Path::new(&args[3]) == root {
            out.push((pid, args[4].clone()));
        }
    }
    out
}

/// A random number below `n` from the kernel.
fn random_below(n: u64) -> u64 {
    let mut b = [0u8; 8];
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut b)
        .unwrap();
    u64::from_le_bytes(b) % n.max(1)
}

/// The problems `system check` reports, split into damage and leftovers.
fn check(c: &Ctx) -> (Vec<String>, Vec<String>) {
    let out = c.out(&["system", "check"]);
    let lines = |p: &str| {
        out.lines()
            .filter(|l| l.starts_with(p))
            .map(String::from)
            .collect()
    };
    (lines("damaged:"), lines("leftover:"))
}

/// Counts of one operation's trials.
#[derive(Default)]
struct Tally {
    trials: usize,
    killed: usize,
    corrupt: usize,
    leaks: std::collections::BTreeMap<&'static str, usize>,
    findings: Vec<String>,
}

/// One trial: the operation killed `at` after its start (or never, for `at: None`).
fn trial(c: &Ctx, op: &Op, at: Option<Duration>, base: &HostState, t: &mut Tally) -> Duration {
    c.n.set(c.n.get() + 1);
    (op.before)(c);
    let started = Instant::now();
    let mut child = (op.command)(c).spawn().unwrap();
    let mut killed = false;
    if let Some(at) = at {
        while started.elapsed() < at {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_micros(300));
        }
        if child.try_wait().unwrap().is_none() || op.victim != Victim::Cli {
            let pid = match op.victim {
                Victim::Cli => Some(child.id() as i32),
                Victim::Daemon => c.daemon.borrow().as_ref().map(|d| d.id() as i32),
                Victim::Shim => shims_of(c.b.path())
                    .into_iter()
                    .find(|(p, id)| !base.shims.contains(&format!("{p} {id}")))
                    .map(|(p, _)| p)
                    .or(Some(child.id() as i32)),
            };
            if let Some(pid) = pid {
                // SAFETY: kill(2).
                unsafe { libc::kill(pid, libc::SIGKILL) };
                killed = true;
            }
        }
    }
    let _ = child.wait();
    let took = started.elapsed();
    if op.victim == Victim::Daemon {
        if let Some(mut d) = c.daemon.borrow_mut().take() {
            let _ = d.kill();
            let _ = d.wait();
        }
    }
    t.trials += 1;
    t.killed += killed as usize;
    // The next command anyone runs sees the store as the kill left it.
    let (damage, _) = check(c);
    t.corrupt += damage.len();
    t.findings
        .extend(damage.into_iter().map(|d| format!("after the kill: {d}")));
    (op.after)(c);
    // Orphans and the names of killed creates are collected by the prunes (and the
    // daemon); what they leave is a leak.
    c.run(&["container", "prune", "-f"]);
    c.run(&["image", "prune", "-f"]);
    // Leftovers that the user's clean-up and the next commands do not take are leaks.
    let end = Instant::now() + Duration::from_secs(5);
    let (mut left, mut damage, mut host);
    loop {
        (damage, left) = check(c);
        host = HostState::read(c).leaks(base);
        if (left.is_empty() && damage.is_empty() && host.is_empty()) || Instant::now() > end {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    t.corrupt += damage.len();
    t.findings
        .extend(damage.into_iter().map(|d| format!("after clean-up: {d}")));
    for l in left {
        *t.leaks.entry("store").or_default() += 1;
        t.findings.push(l);
    }
    for (kind, what) in host {
        *t.leaks.entry(kind).or_default() += 1;
        t.findings.push(format!("leaked {kind}: {what}"));
    }
    took
}

#[test]
fn operations_killed_at_random_moments_leave_no_damage_and_no_leak() {
    common::require_root();
    let trials: usize = std::env::var("CRASH_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let only: Option<Vec<String>> = std::env::var("CRASH_OPS")
        .ok()
        .map(|s| s.split(',').map(String::from).collect());
    let c = Ctx {
        b: Berth::new(),
        exec_root: tempfile::Builder::new()
            .prefix("bx")
            .tempdir_in("/run")
            .unwrap(),
        work: tempfile::tempdir().unwrap(),
        registry: Registry::start(None),
        daemon: std::cell::RefCell::new(None),
        n: std::cell::Cell::new(0),
    };
    assert!(
        Command::new("docker").arg("--version").output().is_ok(),
        "the crash trials need the docker CLI (apt-get install docker.io)"
    );
    random_tar(&c.work("big.tar"));
    c.ok(&[
        "run", "-d", "--name", "anchor", "busybox", "sleep", "100000",
    ]);
    // The predefined networks' records are made on first use: before any baseline.
    c.ok(&["network", "ls"]);
    let mut report = Vec::new();
    for op in ops() {
        if only
            .as_ref()
            .is_some_and(|o| !o.iter().any(|n| n == op.name))
        {
            continue;
        }
        (op.setup)(&c);
        // One run to the end: the moment of the kill is drawn within its length. It may
        // make lasting files (a network's lease folder, caches): the trials' baseline is
        // taken after it.
        let base = HostState::read(&c);
        let mut t = Tally::default();
        let full = trial(&c, &op, None, &base, &mut t);
        let unkilled: Vec<_> = t
            .findings
            .iter()
            .filter(|f| !f.starts_with("leaked file:"))
            .collect();
        assert!(
            unkilled.is_empty(),
            "{} leaves problems even when not killed: {unkilled:?}",
            op.name
        );
        let base = HostState::read(&c);
        let mut t = Tally::default();
        let span = full.as_micros().max(1000) as u64;
        for _ in 0..trials {
            let at = Duration::from_micros(random_below(span));
            trial(&c, &op, Some(at), &base, &mut t);
        }
        eprintln!(
            "{:16} {:4} trials ({:4} killed, {:6.1} ms runs): {} corrupt, leaks {:?}",
            op.name,
            t.trials,
            t.killed,
            full.as_secs_f64() * 1000.0,
            t.corrupt,
            t.leaks
        );
        for f in t.findings.iter().take(10) {
            eprintln!("    {f}");
        }
        report.push((op.name, t));
    }
    let bad: Vec<_> = report
        .iter()
        .filter(|(_, t)| t.corrupt > 0 || !t.leaks.is_empty())
        .map(|(n, t)| format!("{n}: {}", t.findings.join(" | ")))
        .collect();
    let total: usize = report.iter().map(|(_, t)| t.trials).sum();
    eprintln!("{total} trials, {} operations with findings", bad.len());
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
