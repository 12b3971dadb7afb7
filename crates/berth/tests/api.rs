//! The Docker Engine API: `berth daemon` on a temporary socket, driven by the real docker CLI.

use crate::common::{Berth, BERTH};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `berth daemon` on a socket inside the test's root; SIGTERM and wait on drop.
struct Daemon {
    child: Child,
    socket: PathBuf,
}

impl Daemon {
    fn start(b: &Berth) -> Daemon {
        let socket = b.path().join("api.sock");
        let child = Command::new(BERTH)
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

    /// The docker CLI pointed at this daemon.
    fn docker(&self, args: &[&str]) -> (i32, String, String) {
        let o = Command::new("docker")
            .env("DOCKER_HOST", format!("unix://{}", self.socket.display()))
            .env("DOCKER_CONFIG", self.socket.parent().unwrap().join("docker-config"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("these tests need the docker CLI on PATH (apt-get install docker.io, daemon not needed)");
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    fn ok(&self, args: &[&str]) -> String {
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
