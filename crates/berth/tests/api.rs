//! The Docker Engine API: `berth daemon` on a temporary socket, driven by the real docker CLI.

use crate::common::{Berth, Term, BERTH};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NEEDS_DOCKER: &str =
    "these tests need the docker CLI on PATH (apt-get install docker.io, daemon not needed)";

/// `berth daemon` on a socket inside the test's root; SIGTERM and wait on drop.
pub struct Daemon {
    child: Child,
    pub socket: PathBuf,
}

impl Daemon {
    pub fn start(b: &Berth) -> Daemon {
        let socket = b.path().join("api.sock");
        let child = Command::new(&*BERTH)
            .env("BERTH_ROOT", b.path())
            .args(["daemon", "-H", &format!("unix://{}", socket.display())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t = Instant::now();
        while std::os::unix::net::UnixStream::connect(&socket).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "the daemon did not come up"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Daemon { child, socket }
    }

    /// The daemon's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A docker CLI command pointed at this daemon.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("docker");
        c.env("DOCKER_HOST", format!("unix://{}", self.socket.display()))
            .env(
                "DOCKER_CONFIG",
                self.socket.parent().unwrap().join("docker-config"),
            )
            .args(args);
        c
    }

    /// Runs the docker CLI with `input` on its stdin.
    pub fn docker_stdin(&self, args: &[&str], input: &[u8]) -> (i32, String, String) {
        use std::io::Write;
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect(NEEDS_DOCKER);
        child.stdin.take().unwrap().write_all(input).unwrap();
        let o = child.wait_with_output().unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    /// Runs the docker CLI pointed at this daemon.
    pub fn docker(&self, args: &[&str]) -> (i32, String, String) {
        let o = self
            .cmd(args)
            .stdin(Stdio::null())
            .output()
            .expect(NEEDS_DOCKER);
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.docker(args);
        assert_eq!(code, 0, "docker {args:?}: {out} {err}");
        out
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

#[test]
fn docker_cli_drives_containers() {
    let b = Berth::new();
    let d = Daemon::start(&b);
    let v = d.ok(&[
        "version",
        "--format",
        "{{.Server.APIVersion}} {{.Server.Os}}",
    ]);
    assert_eq!(v.trim(), "1.51 linux");
    let imgs = d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert_eq!(imgs.trim(), "busybox:latest");
    let id = d.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "busybox",
        "sh",
        "-c",
        "echo hello; echo oops >&2; sleep 100",
    ]);
    let id = id.trim().to_string();
    assert_eq!(id.len(), 64, "{id}");
    // One state: the berth CLI sees what the API made, and the other way round.
    assert!(b.ok(&["ps", "--format", "{{.Names}}"]).contains("web"));
    let ps = d.ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.starts_with("web Up"), "{ps}");
    b.wait_for(5, "logs", || d.docker(&["logs", "web"]).1.contains("hello"));
    let (_, out, err) = d.docker(&["logs", "web"]);
    assert_eq!(out, "hello\n");
    assert_eq!(
        err, "oops\n",
        "stderr demultiplexed from the stdcopy stream"
    );
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Running}} {{.Name}}", "web"])
            .trim(),
        "true /web"
    );
    d.ok(&["stop", "-t", "1", "web"]);
    let ps = d.ok(&["ps", "-a", "--format", "{{.Status}}"]);
    assert!(ps.starts_with("Exited (137)"), "{ps}");
    d.ok(&["start", "web"]);
    assert_eq!(b.inspect("web", "{{.State.Running}}"), "true");
    d.ok(&["kill", "web"]);
    d.ok(&["rm", "web"]);
    assert!(b.ok(&["ps", "-aq"]).trim().is_empty());
    // Made by berth, removed through the API.
    b.ok(&["create", "--name", "made-by-cli", "busybox", "true"]);
    d.ok(&["rm", "made-by-cli"]);
    // Docker's errors and codes.
    let mac = d.ok(&[
        "run",
        "--rm",
        "--mac-address",
        "92:d0:c6:0a:29:34",
        "busybox",
        "cat",
        "/sys/class/net/eth0/address",
    ]);
    assert_eq!(mac, "92:d0:c6:0a:29:34\n");
    let (code, _, err) = d.docker(&["inspect", "nope"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("No such object") || err.contains("No such container"),
        "{err}"
    );
    let (code, _, err) = d.docker(&["run", "-d", "--pull", "never", "no-such-image"]);
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("No such image"), "{err}");
    // Versions outside the range are refused with dockerd's message; unversioned paths work.
    let get = |path: &str| {
        use std::io::{Read, Write};
        let mut s = std::os::unix::net::UnixStream::connect(&d.socket).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: berth\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    let r = get("/v1.99/version");
    assert!(
        r.starts_with("HTTP/1.1 400") && r.contains("client version 1.99 is too new"),
        "{r}"
    );
    let r = get("/v1.12/version");
    assert!(r.contains("is too old"), "{r}");
    let r = get("/_ping");
    assert!(
        r.starts_with("HTTP/1.1 200")
            && r.to_ascii_lowercase().contains("api-version: 1.51")
            && r.ends_with("OK"),
        "{r}"
    );
    let _ = id;
}

#[test]
fn docker_cli_manages_images() {
    let b = Berth::new();
    let d = Daemon::start(&b);
    d.ok(&["tag", "busybox", "tools/bb:2"]);
    let imgs = d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(
        imgs.contains("tools/bb:2") && imgs.contains("busybox:latest"),
        "{imgs}"
    );
    let id = d.ok(&["image", "inspect", "-f", "{{.Id}}", "tools/bb:2"]);
    assert_eq!(id.trim(), b.inspect("busybox", "{{.Id}}"));
    let out = d.ok(&["rmi", "tools/bb:2"]);
    assert!(out.contains("Untagged: tools/bb:2"), "{out}");
    let (code, _, err) = d.docker(&["rmi", "nope:1"]);
    assert_eq!(code, 1);
    assert!(err.contains("No such image"), "{err}");
}

#[test]
fn sigterm_stops_the_daemon_not_the_containers() {
    let b = Berth::new();
    let mut d = Daemon::start(&b);
    d.ok(&["run", "-d", "--name", "lives-on", "busybox", "sleep", "100"]);
    // A client blocked in a wait must not hold the daemon up.
    let mut waiter = Command::new("docker")
        .env("DOCKER_HOST", format!("unix://{}", d.socket.display()))
        .args(["wait", "lives-on"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(d.child.id() as i32, libc::SIGTERM) };
    let t = Instant::now();
    loop {
        if d.child.try_wait().unwrap().is_some() {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the daemon did not exit on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!d.socket.exists(), "socket removed");
    assert_eq!(b.inspect("lives-on", "{{.State.Running}}"), "true");
    let _ = waiter.kill();
    let _ = waiter.wait();
}

#[test]
fn docker_cli_runs_attached_and_interactive() {
    let b = Berth::new();
    let d = Daemon::start(&b);
    // Foreground runs, again and again: output, stderr, exit code, --rm, piped stdin.
    for i in 0..10 {
        let (code, out, err) = d.docker(&[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            &format!("echo out{i}; echo err{i} >&2; exit 3"),
        ]);
        assert_eq!(
            (code, out.as_str(), err.as_str()),
            (
                3,
                format!("out{i}\n").as_str(),
                format!("err{i}\n").as_str()
            )
        );
        let (code, out, err) = d.docker_stdin(
            &["run", "-i", "--rm", "busybox", "cat"],
            format!("in{i}\n").as_bytes(),
        );
        assert_eq!(
            (code, out.as_str()),
            (0, format!("in{i}\n").as_str()),
            "{err}"
        );
    }
    assert!(
        b.ok(&["ps", "-aq"]).trim().is_empty(),
        "--rm removed them all"
    );
    // A terminal: docker run -it, a shell, detach with Ctrl+P Ctrl+Q, attach, exit.
    let mut t = Term::spawn_command(
        d.cmd(&["run", "-it", "--name", "tty", "busybox", "sh"]),
        30,
        100,
    );
    t.expect("# ", 10);
    t.send(b"echo $((6*7)); stty size\r");
    t.expect("42", 5);
    t.expect("30 100", 5);
    t.send(b"\x10\x11");
    assert_eq!(t.wait(10), 0, "detached: {}", t.seen);
    assert_eq!(b.inspect("tty", "{{.State.Running}}"), "true");
    let mut t = Term::spawn_command(d.cmd(&["attach", "tty"]), 30, 100);
    t.send(b"\recho back-$((1+1))\r");
    t.expect("back-2", 10);
    t.send(b"exit 5\r");
    assert_eq!(t.wait(10), 5, "{}", t.seen);
    assert_eq!(b.inspect("tty", "{{.State.Status}}"), "exited");
}

#[test]
fn docker_cli_execs_copies_and_inspects() {
    let b = Berth::new();
    let d = Daemon::start(&b);
    d.ok(&["run", "-d", "--name", "box", "busybox", "sleep", "1000"]);
    // exec: output, stderr, exit code, stdin, user/workdir/env, missing command, detached.
    let (code, out, err) = d.docker(&["exec", "box", "sh", "-c", "echo out; echo err >&2; exit 4"]);
    assert_eq!((code, out.as_str(), err.as_str()), (4, "out\n", "err\n"));
    let (code, out, _) = d.docker_stdin(&["exec", "-i", "box", "cat"], b"fed\n");
    assert_eq!((code, out.as_str()), (0, "fed\n"));
    let out = d.ok(&[
        "exec",
        "-u",
        "nobody",
        "-w",
        "/tmp",
        "-e",
        "A=b",
        "box",
        "sh",
        "-c",
        "id -u; pwd; echo $A",
    ]);
    assert_eq!(out, "65534\n/tmp\nb\n");
    let (code, out, _) = d.docker(&["exec", "box", "no-such-cmd"]);
    assert_eq!(code, 127, "{out}");
    d.ok(&["exec", "-d", "box", "sh", "-c", "echo bg > /tmp/bg"]);
    b.wait_for(5, "detached exec", || {
        d.docker(&["exec", "box", "cat", "/tmp/bg"]).1 == "bg\n"
    });
    // -t without -i: the CLI half-closes at once; the output and exit code still come.
    let (code, out, _) = d.docker(&[
        "exec",
        "-t",
        "box",
        "sh",
        "-c",
        "sleep 0.3; echo tty-out; exit 3",
    ]);
    assert_eq!((code, out.as_str()), (3, "tty-out\r\n"));
    let mut t = Term::spawn_command(d.cmd(&["exec", "-it", "box", "sh"]), 24, 80);
    t.expect("# ", 10);
    t.send(b"tty; exit 6\r");
    t.expect("/dev/pts/", 5);
    assert_eq!(t.wait(10), 6, "{}", t.seen);
    // cp both ways, files and directories, running and stopped.
    let src = b.path().join("cpsrc");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("sub/f"), "deep\n").unwrap();
    std::fs::write(src.join("a.txt"), "top\n").unwrap();
    d.ok(&["cp", src.to_str().unwrap(), "box:/tmp/"]);
    d.ok(&[
        "cp",
        src.join("a.txt").to_str().unwrap(),
        "box:/etc/renamed.txt",
    ]);
    assert_eq!(
        d.ok(&["exec", "box", "cat", "/tmp/cpsrc/sub/f", "/etc/renamed.txt"]),
        "deep\ntop\n"
    );
    assert_eq!(
        d.ok(&["exec", "box", "stat", "-c", "%u", "/etc/renamed.txt"])
            .trim(),
        "0"
    );
    let out = b.path().join("cpout");
    std::fs::create_dir_all(&out).unwrap();
    d.ok(&["cp", "box:/tmp/cpsrc", out.join("dir").to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(out.join("dir/sub/f")).unwrap(),
        "deep\n"
    );
    let (code, _, err) = d.docker(&["cp", "box:/nope", out.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("Could not find the file /nope in container box"),
        "{err}"
    );
    let diff = d.ok(&["diff", "box"]);
    assert!(diff.contains("A /etc/renamed.txt"), "{diff}");
    // top, stats, update, pause, rename.
    let top = d.ok(&["top", "box"]);
    assert!(top.contains("sleep 1000"), "{top}");
    let stats = d.ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.PIDs}}",
        "box",
    ]);
    assert_eq!(stats.trim(), "box 1");
    d.ok(&["update", "--memory", "64m", "box"]);
    assert_eq!(b.inspect("box", "{{.HostConfig.Memory}}"), "67108864");
    d.ok(&["pause", "box"]);
    assert_eq!(b.inspect("box", "{{.State.Status}}"), "paused");
    d.ok(&["unpause", "box"]);
    d.ok(&["rename", "box", "box2"]);
    d.ok(&["stop", "-t", "0", "box2"]);
    d.ok(&[
        "cp",
        src.join("a.txt").to_str().unwrap(),
        "box2:/stopped.txt",
    ]);
    let tar = d.cmd(&["cp", "box2:/stopped.txt", "-"]).output().unwrap();
    assert!(String::from_utf8_lossy(&tar.stdout).contains("top\n"));
    let exported = d.cmd(&["export", "box2"]).output().unwrap();
    assert!(exported.status.success() && exported.stdout.len() > 1 << 20);
    let pruned = d.ok(&["container", "prune", "-f"]);
    assert!(pruned.contains("Deleted Containers"), "{pruned}");
    assert!(b.ok(&["ps", "-aq"]).trim().is_empty());
}

#[test]
fn docker_cli_follows_logs_and_events_and_manages_volumes() {
    let b = Berth::new();
    let d = Daemon::start(&b);
    // Events as they happen, from the API's own changes and from the berth CLI's.
    let events = d
        .cmd(&[
            "events",
            "--filter",
            "type=container",
            "--format",
            "{{.Action}} {{.Actor.Attributes.name}}",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    d.ok(&[
        "run",
        "-d",
        "--name",
        "talker",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3 4 5 6; do echo line$i; sleep 0.2; done",
    ]);
    b.ok(&["create", "--name", "from-cli", "busybox", "true"]);
    let (code, out, _) = d.docker(&["logs", "-f", "--tail", "all", "talker"]);
    assert_eq!(code, 0);
    assert_eq!(
        out, "line1\nline2\nline3\nline4\nline5\nline6\n",
        "follow ends when the container does"
    );
    assert_eq!(d.ok(&["logs", "--tail", "2", "talker"]), "line5\nline6\n");
    let stamped = d.ok(&["logs", "-t", "--tail", "1", "talker"]);
    assert!(stamped.ends_with("Z line6\n"), "{stamped}");
    assert_eq!(
        d.ok(&["logs", "--until", "1h", "talker"]),
        "",
        "until an hour ago"
    );
    // The follower polls the log every 100 ms.
    std::thread::sleep(Duration::from_millis(400));
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(events.id() as i32, libc::SIGTERM) };
    let out = events.wait_with_output().unwrap();
    let seen = String::from_utf8_lossy(&out.stdout);
    for want in [
        "create talker",
        "start talker",
        "die talker",
        "create from-cli",
    ] {
        assert!(seen.contains(want), "{want} in {seen}");
    }
    let past = d.ok(&[
        "events",
        "--since",
        "1m",
        "--until",
        "0s",
        "--filter",
        "event=create",
        "--format",
        "{{.Actor.Attributes.name}}",
    ]);
    assert_eq!(past, "talker\nfrom-cli\n");
    // Volumes.
    d.ok(&["volume", "create", "--label", "k=v", "data"]);
    assert_eq!(d.ok(&["volume", "ls", "-q", "-f", "label=k=v"]), "data\n");
    d.ok(&[
        "run",
        "--rm",
        "-v",
        "data:/d",
        "busybox",
        "sh",
        "-c",
        "echo kept > /d/f",
    ]);
    assert_eq!(
        d.ok(&["run", "--rm", "-v", "data:/d", "busybox", "cat", "/d/f"]),
        "kept\n"
    );
    d.ok(&[
        "run", "-d", "--name", "user", "-v", "data:/d", "busybox", "sleep", "100",
    ]);
    let (code, _, err) = d.docker(&["volume", "rm", "data"]);
    assert_eq!(code, 1);
    assert!(err.contains("volume is in use"), "{err}");
    d.ok(&["rm", "-f", "user"]);
    d.ok(&["volume", "rm", "data"]);
    let (code, _, err) = d.docker(&["volume", "inspect", "data"]);
    assert_eq!(code, 1, "{err}");
}

/// A file of the client tests (crates/berth/tests/clients).
fn client_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(name)
}

/// Runs one of `tests/clients`' docker-py scripts against `d`; it fails on any assertion.
fn run_docker_py(d: &Daemon, script: &str) {
    let py = std::env::var("BERTH_PYENV").unwrap_or_else(|_| "/var/tmp/berth-pyenv".into());
    let o = Command::new(format!("{py}/bin/python"))
        .arg(client_file(script))
        .env("DOCKER_HOST", format!("unix://{}", d.socket.display()))
        .output()
        .expect("this test needs docker-py in a virtualenv at $BERTH_PYENV or /var/tmp/berth-pyenv (scripts/deps.sh makes it)");
    assert!(
        o.status.success(),
        "docker-py {script}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn docker_py_drives_containers_images_exec_logs_events() {
    let b = Berth::new();
    let d = Daemon::start(&b);
    run_docker_py(&d, "dockerpy.py");
    assert!(
        b.ok(&["ps", "-aq"]).trim().is_empty(),
        "the script removed its containers"
    );
}

/// The API paths docker-py takes and the docker CLI does not, each a behaviour docker-py's own
/// integration suite showed (chunked streams, swarm answers, archives in volumes, exec
/// framing, inspect fields, waits across restarts, links, networks).
#[test]
fn docker_py_paths_answer_as_dockerd() {
    let b = Berth::new();
    let d = Daemon::start(&b);
    run_docker_py(&d, "dockerpy_conformance.py");
}

#[test]
fn docker_compose_up_ps_logs_down() {
    let b = Berth::new();
    let d = Daemon::start(&b);
    let dir = b.path().join("project");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(client_file("compose.yml"), dir.join("docker-compose.yml")).unwrap();
    let compose = |args: &[&str]| {
        let o = Command::new("docker-compose")
            .current_dir(&dir)
            .env("DOCKER_HOST", format!("unix://{}", d.socket.display()))
            .args(["-p", "bt"])
            .args(args)
            .output()
            .expect("this test needs docker-compose (apt-get install docker-compose)");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(o.status.success(), "docker-compose {args:?}: {text}");
        text
    };
    compose(&["up", "-d"]);
    let ps = compose(&["ps"]);
    assert!(
        ps.contains("bt_store_1") && ps.contains("bt_reader_1") && ps.matches(" Up ").count() == 2,
        "{ps}"
    );
    // The two containers as the berth CLI sees them, with compose's labels.
    assert_eq!(
        b.inspect("bt_store_1", "{{index .Config.Labels \"com.docker.compose.service\"}} {{index .Config.Labels \"role\"}}"),
        "store store"
    );
    b.wait_for(5, "logs", || {
        compose(&["logs", "--no-color"]).contains("reader-up")
    });
    let logs = compose(&["logs", "--no-color"]);
    assert!(
        logs.contains("store-ready") && logs.contains("reader-up"),
        "{logs}"
    );
    assert_eq!(d.ok(&["exec", "bt_store_1", "cat", "/data/f"]), "data\n");
    // Both on compose's default network: the reader fetches from the store by service name
    // (the embedded DNS answers compose's aliases) and by container name.
    for name in ["store", "bt_store_1"] {
        let got = d.ok(&[
            "exec",
            "bt_reader_1",
            "sh",
            "-c",
            &format!("wget -O- http://{name}/f 2>/dev/null"),
        ]);
        assert_eq!(got, "data\n", "{name}");
    }
    assert!(d
        .ok(&["network", "ls", "--format", "{{.Name}}"])
        .contains("bt_default"));
    compose(&["down", "-v", "-t", "1"]);
    assert!(b.ok(&["ps", "-aq"]).trim().is_empty());
    assert!(b.ok(&["volume", "ls", "-q"]).trim().is_empty());
    assert!(!d
        .ok(&["network", "ls", "--format", "{{.Name}}"])
        .contains("bt_default"));
}

#[test]
fn fifty_concurrent_runs_through_the_api_leave_nothing_behind() {
    let b = Berth::new();
    let d = Daemon::start(&b);
    let socket = d.socket.clone();
    let threads: Vec<_> = (0..50)
        .map(|i| {
            let socket = socket.clone();
            std::thread::spawn(move || {
                let o = Command::new("docker")
                    .env("DOCKER_HOST", format!("unix://{}", socket.display()))
                    .args([
                        "run",
                        "--rm",
                        "--name",
                        &format!("c{i}"),
                        "busybox",
                        "sh",
                        "-c",
                        &format!("echo n{i}; exit {}", i % 7),
                    ])
                    .stdin(Stdio::null())
                    .output()
                    .expect(NEEDS_DOCKER);
                (i, o)
            })
        })
        .collect();
    for t in threads {
        let (i, o) = t.join().unwrap();
        assert_eq!(
            (
                o.status.code(),
                String::from_utf8_lossy(&o.stdout).into_owned()
            ),
            (Some(i % 7), format!("n{i}\n")),
            "run {i}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    assert!(b.ok(&["ps", "-aq"]).trim().is_empty());
    let left: Vec<_> = std::fs::read_dir(b.path().join("containers"))
        .map(|r| r.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "container directories left: {left:?}");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(b.path().to_str().unwrap()),
        "mounts left under the root"
    );
    let shims = Command::new("pgrep")
        .args(["-f", &format!("shim --root {}", b.path().display())])
        .output()
        .unwrap();
    assert!(
        shims.stdout.is_empty(),
        "shims left: {}",
        String::from_utf8_lossy(&shims.stdout)
    );
    let ids = b.ok(&[
        "events",
        "--since",
        "5m",
        "--until",
        "0s",
        "--filter",
        "event=destroy",
        "--format",
        "{{.Actor.ID}}",
    ]);
    assert_eq!(ids.lines().count(), 50, "{ids}");
    for id in ids.lines() {
        let cg = crate::common::cgroup_dirs(id);
        assert!(cg.is_empty(), "cgroups left: {cg:?}");
    }
}

#[test]
fn docker_cli_builds_through_the_classic_builder_api() {
    let b = Berth::new();
    let d = Daemon::start(&b);
    let ctx = b.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nARG WHO=nobody\nRUN echo built-by-$WHO > /hello\nCOPY . /app/\nENV MODE=prod\nCMD [\"cat\", \"/hello\"]\n",
    )
    .unwrap();
    std::fs::write(ctx.join("app.txt"), "app\n").unwrap();
    std::fs::write(ctx.join("secret.txt"), "s\n").unwrap();
    std::fs::write(ctx.join(".dockerignore"), "secret.txt\n").unwrap();
    let build = |args: &[&str]| {
        let o = d
            .cmd(&[&["build"], args].concat())
            .env("DOCKER_BUILDKIT", "0")
            .current_dir(&ctx)
            .output()
            .expect(NEEDS_DOCKER);
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (code, out, err) = build(&[
        "-t",
        "api/built:1",
        "-t",
        "api/built:2",
        "--build-arg",
        "WHO=api",
        ".",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    for want in [
        "Step 1/6 : FROM busybox",
        "Step 3/6 : RUN echo built-by-$WHO",
        "Successfully built",
        "Successfully tagged api/built:1",
        "Successfully tagged api/built:2",
    ] {
        assert!(out.contains(want), "{want} in {out}");
    }
    assert_eq!(d.ok(&["run", "--rm", "api/built:2"]), "built-by-api\n");
    assert_eq!(
        d.ok(&["run", "--rm", "api/built:1", "ls", "/app"]),
        "Dockerfile\napp.txt\n",
        ".dockerignore applied"
    );
    // A rebuild comes from the cache; -q and --iidfile give the id.
    let (code, out, _) = build(&["-t", "api/built:1", "--build-arg", "WHO=api", "."]);
    assert_eq!(code, 0);
    assert_eq!(out.matches("Using cache").count(), 4, "{out}");
    let iid = b.path().join("iid");
    let (code, out, err) = build(&[
        "-q",
        "--iidfile",
        iid.to_str().unwrap(),
        "--build-arg",
        "WHO=api",
        ".",
    ]);
    assert_eq!(code, 0, "{err}");
    let id = std::fs::read_to_string(&iid).unwrap().trim().to_string();
    assert_eq!(out.trim(), id);
    assert_eq!(id, b.inspect("api/built:1", "{{.Id}}"));
    // A failing RUN: Docker's message, its exit code as the client's, nothing left behind.
    std::fs::write(ctx.join("Dockerfile.bad"), "FROM busybox\nRUN exit 3\n").unwrap();
    let (code, _, err) = build(&["-f", "Dockerfile.bad", "."]);
    assert_eq!(code, 3);
    assert!(
        err.contains("The command '/bin/sh -c exit 3' returned a non-zero code: 3"),
        "{err}"
    );
    assert!(b.ok(&["ps", "-aq"]).trim().is_empty());
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl.
fn make_certs(dir: &std::path::Path) {
    let sh = |script: &str| {
        let o = Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(dir)
            .output()
            .expect("this test needs openssl");
        assert!(
            o.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout ca-key.pem -out ca.pem -days 2 -subj /CN=berth-test-ca");
    sh("openssl req -newkey rsa:2048 -nodes -keyout server-key.pem -out server.csr -subj /CN=127.0.0.1 \
        && printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' > server.ext \
        && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out server-cert.pem -days 2 -extfile server.ext");
    sh("openssl req -newkey rsa:2048 -nodes -keyout key.pem -out client.csr -subj /CN=client \
        && printf 'extendedKeyUsage=clientAuth\\n' > client.ext \
        && openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out cert.pem -days 2 -extfile client.ext");
}

#[test]
fn tcp_needs_tls_with_client_certificates_and_several_sockets_serve_at_once() {
    let b = Berth::new();
    let dir = b.path().join("tls");
    std::fs::create_dir_all(&dir).unwrap();
    make_certs(&dir);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tcp = format!("tcp://127.0.0.1:{port}");
    // TCP without TLS is refused.
    let o = Command::new(&*BERTH)
        .env("BERTH_ROOT", b.path())
        .args(["daemon", "-H", &tcp])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--tlsverify"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let unix = b.path().join("api.sock");
    let second = b.path().join("second.sock");
    let p = |f: &str| dir.join(f).display().to_string();
    let mut child = Command::new(&*BERTH)
        .env("BERTH_ROOT", b.path())
        .args([
            "daemon",
            "-H",
            &format!("unix://{}", unix.display()),
            "-H",
            &format!("unix://{}", second.display()),
            "-H",
            &tcp,
            "--tlsverify",
            "--tlscacert",
            &p("ca.pem"),
            "--tlscert",
            &p("server-cert.pem"),
            "--tlskey",
            &p("server-key.pem"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() || !second.exists() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the daemon did not come up"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let docker = |args: &[&str], client_cert: bool| {
        let mut c = Command::new("docker");
        c.env("DOCKER_CONFIG", b.path().join("docker-config"));
        if client_cert {
            c.env("DOCKER_CERT_PATH", &dir)
                .env("DOCKER_TLS_VERIFY", "1");
        } else {
            c.args(["--tls", "--tlscacert", &p("ca.pem")]);
        }
        c.args(["-H", &tcp])
            .args(args)
            .output()
            .expect(NEEDS_DOCKER)
    };
    let o = docker(&["run", "--rm", "busybox", "echo", "over-tls"], true);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "over-tls\n");
    let o = docker(&["version"], false);
    assert!(
        !o.status.success(),
        "a client without a certificate is turned away"
    );
    // Both unix sockets answer.
    for s in [&unix, &second] {
        let o = Command::new("docker")
            .env("DOCKER_CONFIG", b.path().join("docker-config"))
            .args([
                "-H",
                &format!("unix://{}", s.display()),
                "version",
                "--format",
                "{{.Server.APIVersion}}",
            ])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "1.51");
    }
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
    assert!(!unix.exists() && !second.exists(), "sockets removed");
}

#[test]
fn docker_cli_system_df_counts_what_is_there() {
    let b = Berth::new();
    let d = Daemon::start(&b);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "sized",
        "-v",
        "dfv:/d",
        "busybox",
        "sh",
        "-c",
        "dd if=/dev/zero of=/big bs=1k count=100 2>/dev/null; echo x > /d/f; sleep 100",
    ]);
    b.wait_for(5, "the file", || {
        d.docker(&["exec", "sized", "test", "-f", "/d/f"]).0 == 0
    });
    let out = d.ok(&[
        "system",
        "df",
        "--format",
        "{{.Type}} {{.TotalCount}} {{.Active}}",
    ]);
    assert_eq!(
        out, "Images 1 1\nContainers 1 1\nLocal Volumes 1 1\nBuild Cache 0 0\n",
        "{out}"
    );
    let v = d.ok(&[
        "system",
        "df",
        "-v",
        "--format",
        "{{range .Containers}}{{.Names}} {{.Size}}{{end}}",
    ]);
    assert!(v.starts_with("sized 10"), "{v}");
}

#[test]
fn docker_cli_publishes_ports_and_uses_networks() {
    let b = Berth::new();
    let d = Daemon::start(&b);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "pweb",
        "-p",
        &format!("{port}:80"),
        "busybox",
        "sh",
        "-c",
        "mkdir /w; echo via-api > /w/index.html; exec httpd -f -p 80 -h /w",
    ]);
    assert_eq!(
        d.ok(&["port", "pweb"]),
        format!("80/tcp -> 0.0.0.0:{port}\n")
    );
    let ps = d.ok(&["ps", "--format", "{{.Ports}} {{.Networks}}"]);
    assert_eq!(ps, format!("0.0.0.0:{port}->80/tcp bridge\n"));
    b.wait_for(5, "the published port", || {
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
            return false;
        };
        let _ = s.write_all(b"GET / HTTP/1.0\r\n\r\n");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out.ends_with("via-api\n")
    });
    d.ok(&["network", "create", "--subnet", "10.233.0.0/24", "apinet"]);
    let (code, _, err) = d.docker(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "fd00:2::/64",
        "six",
    ]);
    assert!(code != 0 && err.contains("IPv6"), "{err}");
    let ls = d.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(
        ls.contains("apinet") && ls.contains("bridge") && ls.contains("none"),
        "{ls}"
    );
    d.ok(&[
        "run",
        "-d",
        "--name",
        "aliased",
        "--network",
        "apinet",
        "--network-alias",
        "svc",
        "busybox",
        "sleep",
        "100",
    ]);
    let found = d.ok(&[
        "run",
        "--rm",
        "--network",
        "apinet",
        "busybox",
        "sh",
        "-c",
        "nslookup svc 2>&1 | grep -A1 '^Name' | tail -1",
    ]);
    assert!(found.starts_with("Address: 10.233.0."), "{found}");
    let (code, _, err) = d.docker(&["network", "rm", "apinet"]);
    assert!(code != 0 && err.contains("active endpoints"), "{err}");
    d.ok(&["rm", "-f", "aliased", "pweb"]);
    d.ok(&["network", "rm", "apinet"]);
}

/// What a review through the docker CLI found different from dockerd, each case as dockerd
/// answers it.
#[test]
fn docker_cli_edge_cases_answer_as_dockerd() {
    let b = Berth::new();
    let d = Daemon::start(&b);
    let status = |n: &str| {
        d.ok(&["inspect", "-f", "{{.State.Status}}", n])
            .trim()
            .to_string()
    };
    // Restart loops: rm -f, stop and kill end them (a restarting container has no pid: the
    // daemon once signalled pid 0, its own process group); `update --restart` applies at once.
    for (name, how) in [("ra", "rm"), ("rb", "stop"), ("rc", "kill")] {
        d.ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--restart",
            "always",
            "busybox",
            "true",
        ]);
        b.wait_for(10, "restarting", || status(name) == "restarting");
        match how {
            "rm" => d.ok(&["rm", "-f", name]),
            "stop" => d.ok(&["stop", name]),
            _ => d.ok(&["kill", name]),
        };
    }
    assert_eq!(
        d.ok(&[
            "ps",
            "-a",
            "--format",
            "{{.Names}} {{.Status}}",
            "-f",
            "name=ra"
        ]),
        ""
    );
    for name in ["rb", "rc"] {
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(status(name), "exited", "{name}");
    }
    d.ok(&[
        "run",
        "-d",
        "--name",
        "rd",
        "--restart",
        "always",
        "busybox",
        "sleep",
        "0.2",
    ]);
    d.ok(&["update", "--restart", "no", "rd"]);
    b.wait_for(10, "rd exited", || status("rd") == "exited");
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(status("rd"), "exited");
    // Paused containers are stopped and killed (thawed for SIGKILL).
    d.ok(&["run", "-d", "--name", "p1", "busybox", "sleep", "100"]);
    d.ok(&["run", "-d", "--name", "p2", "busybox", "sleep", "100"]);
    d.ok(&["pause", "p1"]);
    d.ok(&["pause", "p2"]);
    d.ok(&["stop", "-t", "1", "p1"]);
    d.ok(&["kill", "p2"]);
    b.wait_for(10, "p1 exited", || status("p1") == "exited");
    b.wait_for(10, "p2 exited", || status("p2") == "exited");
    // --rm with a start that fails: an error, and the container is gone (no hang).
    let (code, _, err) = d.docker(&["run", "--rm", "-u", "nosuchuser", "busybox", "id"]);
    assert!(code == 125 && err.contains("nosuchuser"), "{code} {err}");
    assert_eq!(d.ok(&["ps", "-aq", "-f", "status=created"]), "");
    assert_eq!(
        d.ok(&["run", "--rm", "--entrypoint", "", "busybox", "echo", "x"]),
        "x\n"
    );
    let (code, _, err) = d.docker(&["run", "-d", "--restart", "bogus", "busybox", "true"]);
    assert!(
        code == 125 && err.contains("invalid restart policy"),
        "{err}"
    );
    let (code, _, err) = d.docker(&["run", "--rm", "--network", "nosuchnet", "busybox", "true"]);
    assert!(
        code == 125
            && err.contains("network nosuchnet not found")
            && !err.contains("Unable to find image"),
        "{err}"
    );
    let gw = d.ok(&[
        "run",
        "--rm",
        "--add-host",
        "gw:host-gateway",
        "busybox",
        "grep",
        "gw",
        "/etc/hosts",
    ]);
    assert!(
        !gw.contains("host-gateway") && gw.ends_with("\tgw\n"),
        "{gw}"
    );
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(
        d.ok(&["run", "--rm", "--network", "host", "busybox", "hostname"]),
        host
    );
    // commit, image filters, prune, info.
    let id = d.ok(&["commit", "-c", "ENV A=1", "-m", "msg", "p1", "committed:1"]);
    assert!(id.starts_with("sha256:"), "{id}");
    assert_eq!(
        d.ok(&["run", "--rm", "committed:1", "sh", "-c", "echo $A"]),
        "1\n"
    );
    let repos = d.ok(&[
        "images",
        "--format",
        "{{.Repository}}:{{.Tag}}",
        "committed",
    ]);
    assert_eq!(repos, "committed:1\n");
    let repos = d.ok(&[
        "images",
        "--format",
        "{{.Repository}}",
        "-f",
        "reference=busy*",
    ]);
    assert_eq!(repos, "busybox\n");
    let (code, _, err) = d.docker(&["images", "-f", "bogus=1"]);
    assert!(code != 0 && err.contains("invalid filter 'bogus'"), "{err}");
    d.ok(&["system", "prune", "-f"]);
    assert_eq!(
        d.ok(&["info", "--format", "{{.Swarm.LocalNodeState}}"]),
        "inactive\n"
    );
    // A failed RUN's code is the client's exit code.
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), "FROM busybox\nRUN exit 3\n").unwrap();
    let mut cmd = d.cmd(&["build", "-q", ctx.path().to_str().unwrap()]);
    let o = cmd.env("DOCKER_BUILDKIT", "0").output().unwrap();
    assert_eq!(o.status.code(), Some(3), "{o:?}");
}

/// `berth ps` and `docker ps` through the daemon list the same containers for the same filters
/// (one engine reading serves both): paused and restarting ones without `-a`, several labels
/// (all must match), `exited`, `ancestor`, `status`, `before`/`since`, `-n`, unknown keys refused.
#[test]
fn berth_ps_and_docker_ps_agree_on_every_filter() {
    let b = Berth::new();
    let d = Daemon::start(&b);
    let run = |args: &[&str]| b.ok(args).trim().to_string();
    let first = run(&[
        "run", "-d", "--name", "lab", "-l", "a=1", "-l", "b=2", "busybox", "sleep", "100",
    ]);
    run(&[
        "run", "-d", "--name", "lab1", "-l", "a=1", "busybox", "sleep", "100",
    ]);
    b.fails(
        &["run", "--name", "ex3", "busybox", "sh", "-c", "exit 3"],
        3,
    );
    run(&["run", "-d", "--name", "paused", "busybox", "sleep", "100"]);
    b.ok(&["pause", "paused"]);
    run(&[
        "run",
        "-d",
        "--name",
        "again",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "exit 1",
    ]);
    b.wait_for(10, "a restart", || {
        b.inspect("again", "{{.RestartCount}}") != "0"
    });
    let cases: &[&[&str]] = &[
        &[],
        &["-a"],
        &["-f", "label=a=1"],
        &["-f", "label=a=1", "-f", "label=b=2"],
        &["-a", "-f", "exited=3"],
        &["-f", "status=paused"],
        &["-a", "-f", "ancestor=busybox"],
        &["-a", "-f", "before=paused"],
        &["-a", "-f", "since=lab1"],
        &["-n", "2"],
        &["-f", "name=lab"],
    ];
    for c in cases {
        let mut args = vec!["ps", "-q", "--no-trunc"];
        args.extend_from_slice(c);
        let mine = b.ok(&args);
        let theirs = d.ok(&args);
        let sorted = |s: &str| {
            let mut v: Vec<String> = s.split_whitespace().map(String::from).collect();
            v.sort();
            v
        };
        assert_eq!(sorted(&mine), sorted(&theirs), "ps {c:?}");
    }
    // Both labels: only the first container; without -a the paused and restarting ones count.
    assert_eq!(
        b.ok(&[
            "ps",
            "-q",
            "--no-trunc",
            "-f",
            "label=a=1",
            "-f",
            "label=b=2"
        ])
        .trim(),
        first
    );
    let live = b.ok(&["ps", "--format", "{{.Names}}"]);
    assert!(
        live.contains("paused") && live.contains("again") && !live.contains("ex3"),
        "{live}"
    );
    // As the docker CLI: the daemon's words, exit code 1.
    let o = b.run(&["ps", "-f", "bogus=1"]);
    assert!(
        o.code == 1 && o.stderr.contains("invalid filter 'bogus'"),
        "{o:?}"
    );
    let (code, _, err) = d.docker(&["ps", "-f", "bogus=1"]);
    assert!(code != 0 && err.contains("invalid filter"), "{err}");
    b.ok(&["unpause", "paused"]);
}

#[test]
fn berth_and_docker_agree_on_image_volume_and_network_lists() {
    let b = Berth::new();
    let d = Daemon::start(&b);
    b.ok(&[
        "volume", "create", "--label", "a=1", "--label", "b=2", "vol-ab",
    ]);
    b.ok(&["volume", "create", "--label", "a=1", "vol-a"]);
    b.ok(&["volume", "create", "other"]);
    b.ok(&["create", "-v", "vol-a:/x", "busybox"]);
    b.ok(&[
        "network", "create", "--label", "a=1", "--label", "b=2", "net-ab",
    ]);
    b.ok(&["network", "create", "--label", "a=1", "net-a"]);
    b.ok(&["create", "--network", "net-a", "busybox"]);
    b.ok(&["tag", "busybox", "mine/one:1"]);
    b.ok(&["tag", "busybox", "mine/two:2"]);
    let sorted = |s: String| {
        let mut v: Vec<String> = s.split_whitespace().map(String::from).collect();
        v.sort();
        v
    };
    let cases: &[&[&str]] = &[
        &["volume", "ls", "-q"],
        &["volume", "ls", "-q", "-f", "label=a=1"],
        &["volume", "ls", "-q", "-f", "label=a=1", "-f", "label=b=2"],
        &["volume", "ls", "-q", "-f", "name=vol-a", "-f", "name=other"],
        &["volume", "ls", "-q", "-f", "dangling=true"],
        &["network", "ls", "-q"],
        &["network", "ls", "-q", "-f", "label=a=1", "-f", "label=b=2"],
        &[
            "network",
            "ls",
            "-q",
            "-f",
            "name=net-ab",
            "-f",
            "name=host",
        ],
        &["network", "ls", "-q", "-f", "dangling=true"],
        &[
            "network",
            "ls",
            "-q",
            "-f",
            "dangling=false",
            "-f",
            "type=custom",
        ],
        &["images", "--format", "{{.Repository}}:{{.Tag}}"],
        &[
            "images",
            "--format",
            "{{.Repository}}:{{.Tag}}",
            "-f",
            "reference=mine/*",
        ],
        &["images", "--format", "{{.Repository}}:{{.Tag}}", "mine/one"],
        &["images", "-q", "-f", "dangling=false"],
    ];
    for c in cases {
        assert_eq!(sorted(b.ok(c)), sorted(d.ok(c)), "{c:?}");
    }
    let bad = b.run(&["volume", "ls", "-f", "colour=red"]);
    assert!(
        bad.code != 0 && bad.stderr.contains("invalid filter 'colour'"),
        "{bad:?}"
    );
    let (code, _, err) = d.docker(&["network", "ls", "-f", "colour=red"]);
    assert!(
        code != 0 && err.contains("invalid filter 'colour'"),
        "{err}"
    );
    // The volume and tag rules are the engine's, whichever front end asks.
    let mine = b.run(&["volume", "create", "-d", "nfs", "x"]);
    let (code, _, theirs) = d.docker(&["volume", "create", "-d", "nfs", "x"]);
    assert!(
        mine.code != 0 && mine.stderr.contains("plugin \"nfs\" not found"),
        "{mine:?}"
    );
    assert!(
        code != 0 && theirs.contains("plugin \"nfs\" not found"),
        "{theirs}"
    );
    b.ok(&["volume", "rm", "-f", "no-such-volume"]);
    d.ok(&["volume", "rm", "-f", "no-such-volume"]);
    let digest = format!("mine/one@sha256:{}", "a".repeat(64));
    let out = b.run(&["tag", "busybox", &digest]);
    assert!(
        out.code != 0 && out.stderr.contains("digest reference"),
        "{out:?}"
    );
}
