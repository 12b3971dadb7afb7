//! Test harness: a temporary state root with the busybox image, and helpers to run berth.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The berth binary under test: the one cargo built, or `BERTH_TEST_BIN` (a long trial run
/// keeps its own copy while the tree is rebuilt).
pub static BERTH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    std::env::var("BERTH_TEST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_berth").into())
});

/// Fails the test (it does not skip) unless we are root with busybox-static installed.
pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "these tests create namespaces, mounts and cgroups: run them as root"
    );
}

/// A busybox root file system tarball built once per test run from Debian's busybox-static.
pub fn busybox_tar() -> &'static Path {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        let bb = Path::new("/bin/busybox");
        let out = Command::new(bb).arg("--list").output().expect("/bin/busybox is missing: apt-get install busybox-static");
        let meta = std::fs::metadata(bb).unwrap();
        assert!(meta.len() > 500_000, "/bin/busybox is not the static build: apt-get install busybox-static");
        // Same content every time; built aside and renamed so concurrent test runs never read
        // a half-written file.
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("busybox.tar");
        let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
        let f = std::fs::File::create(&tmp).unwrap();
        let mut b = tar::Builder::new(f);
        let dir = |b: &mut tar::Builder<std::fs::File>, name: &str, mode: u32| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(mode);
            h.set_size(0);
            h.set_mtime(1_700_000_000);
            b.append_data(&mut h, name, std::io::empty()).unwrap();
        };
        let file = |b: &mut tar::Builder<std::fs::File>, name: &str, mode: u32, data: &[u8]| {
            let mut h = tar::Header::new_gnu();
            h.set_mode(mode);
            h.set_size(data.len() as u64);
            h.set_mtime(1_700_000_000);
            b.append_data(&mut h, name, data).unwrap();
        };
        for (d, m) in [("bin", 0o755), ("etc", 0o755), ("tmp", 0o1777), ("root", 0o700), ("home", 0o755), ("var", 0o755)] {
            dir(&mut b, d, m);
        }
        file(&mut b, "bin/busybox", 0o755, &std::fs::read(bb).unwrap());
        for applet in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            if applet == "busybox" {
                continue;
            }
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            h.set_mode(0o777);
            h.set_mtime(1_700_000_000);
            b.append_link(&mut h, format!("bin/{applet}"), "busybox").unwrap();
        }
        file(&mut b, "etc/passwd", 0o644, b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\nwww:x:33:33:www:/var/www:/bin/sh\n");
        file(&mut b, "etc/group", 0o644, b"root:x:0:\nwww:x:33:\nstaff:x:50:www\nnogroup:x:65534:\n");
        b.into_inner().unwrap().flush().unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        path
    })
}

/// Output of one berth invocation.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    fn from(o: Output) -> Out {
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// A temporary state root; everything it started is removed when it drops, even on failure.
pub struct Berth {
    pub root: tempfile::TempDir,
}

impl Berth {
    /// A root with the busybox image imported as `busybox` (CMD sh).
    pub fn new() -> Berth {
        let b = Berth::empty();
        b.ok(&[
            "import",
            "-c",
            "CMD [\"sh\"]",
            busybox_tar().to_str().unwrap(),
            "busybox",
        ]);
        b
    }

    /// An empty root.
    pub fn empty() -> Berth {
        require_root();
        let root = tempfile::Builder::new()
            .prefix("bt")
            .tempdir_in("/tmp")
            .unwrap();
        Berth { root }
    }

    pub fn path(&self) -> &Path {
        self.root.path()
    }

    /// Containers in the state root, listed or not (a build's steps are not listed).
    pub fn containers_on_disk(&self) -> usize {
        std::fs::read_dir(self.root.path().join("containers"))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&*BERTH);
        c.env("BERTH_ROOT", self.root.path()).args(args);
        c
    }

    /// Runs berth with stdin closed.
    pub fn run(&self, args: &[&str]) -> Out {
        Out::from(self.cmd(args).stdin(Stdio::null()).output().unwrap())
    }

    /// Runs berth feeding `input` on stdin.
    pub fn run_stdin(&self, args: &[&str], input: &[u8]) -> Out {
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut si = child.stdin.take().unwrap();
        let data = input.to_vec();
        let t = std::thread::spawn(move || {
            let _ = si.write_all(&data);
        });
        let o = child.wait_with_output().unwrap();
        t.join().unwrap();
        Out::from(o)
    }

    /// Runs berth, asserts success, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert_eq!(o.code, 0, "berth {args:?} failed: {o:?}");
        o.stdout
    }

    /// Runs berth, asserts the exit code, returns the output.
    pub fn fails(&self, args: &[&str], code: i32) -> Out {
        let o = self.run(args);
        assert_eq!(o.code, code, "berth {args:?}: expected exit {code}: {o:?}");
        o
    }

    /// `inspect -f`, trimmed.
    pub fn inspect(&self, what: &str, fmt: &str) -> String {
        self.ok(&["inspect", "-f", fmt, what]).trim().to_string()
    }

    /// Polls `f` every 20 ms until true, failing after `secs`.
    pub fn wait_for(&self, secs: u64, what: &str, mut f: impl FnMut() -> bool) {
        let end = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < end {
            if f() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("timed out waiting for {what}");
    }

    /// The container's directory.
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.root.path().join("containers").join(id)
    }
}

impl Drop for Berth {
    fn drop(&mut self) {
        // Every container on disk, a build's hidden steps too.
        let ids: Vec<String> = std::fs::read_dir(self.root.path().join("containers"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        for id in &ids {
            let _ = self.run(&["rm", "-f", id]);
        }
        // User networks: their bridges and firewall entries are host-wide.
        let _ = self.run(&["network", "prune", "-f"]);
        // Shims of this root that survived (a test that killed things on purpose).
        let needle = self.root.path().to_string_lossy().into_owned();
        if let Ok(rd) = std::fs::read_dir("/proc") {
            for e in rd.flatten() {
                let pid: i32 = match e.file_name().to_string_lossy().parse() {
                    Ok(p) => p,
                    Err(_) => continue,
                };
                if let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) {
                    let cmd = String::from_utf8_lossy(&cmd);
                    if cmd.contains("shim") && cmd.contains(&needle) {
                        // SAFETY: kill(2).
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                        // Its cgroup (and its container's) would stay: nobody removes a
                        // container of this root any more.
                        let id = cmd.trim_end_matches('\0').rsplit('\0').next().unwrap_or("");
                        remove_cgroups_of(id);
                    }
                }
            }
        }
    }
}

/// Cgroup directories of a container on this host (v1 or v2); empty when removed.
pub fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for base in [
        "/sys/fs/cgroup",
        "/sys/fs/cgroup/memory",
        "/sys/fs/cgroup/pids",
        "/sys/fs/cgroup/cpu",
    ] {
        let p = Path::new(base).join("berth").join(id);
        if p.exists() {
            out.push(p);
        }
    }
    out
}

/// A berth process on a real pseudo-terminal, as a person would run it.
pub struct Term {
    master: std::fs::File,
    slave: std::os::fd::OwnedFd,
    child: std::process::Child,
    pub seen: String,
    saved: nix::sys::termios::Termios,
}

impl Term {
    /// Starts `berth args` with a new terminal of `rows` x `cols` as its controlling terminal.
    pub fn spawn(b: &Berth, args: &[&str], rows: u16, cols: u16) -> Term {
        Term::spawn_command(b.cmd(args), rows, cols)
    }

    /// Starts any command (the docker CLI, say) on a new terminal of `rows` x `cols`.
    pub fn spawn_command(mut cmd: Command, rows: u16, cols: u16) -> Term {
        use std::os::fd::{AsRawFd, FromRawFd};
        use std::os::unix::process::CommandExt;
        let ws = nix::pty::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = nix::pty::openpty(Some(&ws), None).unwrap();
        let saved = nix::sys::termios::tcgetattr(&pty.slave).unwrap();
        let s = pty.slave.as_raw_fd();
        // SAFETY: the slave descriptor stays open until spawn returns.
        unsafe {
            cmd.stdin(Stdio::from_raw_fd(libc::dup(s)))
                .stdout(Stdio::from_raw_fd(libc::dup(s)))
                .stderr(Stdio::from_raw_fd(libc::dup(s)));
            cmd.pre_exec(|| {
                libc::setsid();
                libc::ioctl(0, libc::TIOCSCTTY, 0);
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap();
        let master = std::fs::File::from(pty.master);
        // SAFETY: fcntl on our descriptor.
        unsafe { libc::fcntl(master.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
        Term {
            master,
            slave: pty.slave,
            child,
            seen: String::new(),
            saved,
        }
    }

    /// Types `s`.
    pub fn send(&mut self, s: &[u8]) {
        self.master.write_all(s).unwrap();
    }

    fn pump(&mut self) -> bool {
        use std::io::Read;
        let mut buf = [0u8; 4096];
        match self.master.read(&mut buf) {
            Ok(n) if n > 0 => {
                self.seen.push_str(&String::from_utf8_lossy(&buf[..n]));
                true
            }
            _ => false,
        }
    }

    /// Reads the screen until `needle` shows up after position `from` (bounded polling).
    pub fn expect_from(&mut self, from: usize, needle: &str, secs: u64) {
        let end = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < end {
            if self.seen.len() > from && self.seen[from..].contains(needle) {
                return;
            }
            if !self.pump() {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        panic!(
            "timed out waiting for {needle:?}; terminal showed: {:?}",
            self.seen
        );
    }

    /// Reads until `needle` shows up anywhere.
    pub fn expect(&mut self, needle: &str, secs: u64) {
        self.expect_from(0, needle, secs)
    }

    /// Changes the terminal's size (the kernel sends SIGWINCH to berth).
    pub fn resize(&mut self, rows: u16, cols: u16) {
        use std::os::fd::AsRawFd;
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads the struct.
        unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    }

    /// Waits for berth to exit (bounded) and returns its exit code.
    pub fn wait(&mut self, secs: u64) -> i32 {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            self.pump();
            if let Some(st) = self.child.try_wait().unwrap() {
                while self.pump() {}
                return st.code().unwrap_or(-1);
            }
            if Instant::now() > end {
                let _ = self.child.kill();
                panic!("berth did not exit; terminal showed: {:?}", self.seen);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// True if the terminal's settings are what they were before berth ran.
    pub fn settings_restored(&self) -> bool {
        let now = nix::sys::termios::tcgetattr(&self.slave).unwrap();
        now.input_flags == self.saved.input_flags
            && now.output_flags == self.saved.output_flags
            && now.local_flags == self.saved.local_flags
            && now.control_flags == self.saved.control_flags
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `docker-registry` on a free 127.0.0.1 port with its own storage; killed on drop.
pub struct Registry {
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub addr: String,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn wait_port(addr: &str) {
    let t = Instant::now();
    while TcpStream::connect(addr).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "registry on {addr} did not come up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Registry {
    pub fn start(basic: Option<(&str, &str)>) -> Registry {
        Self::start_with(basic, "")
    }

    /// A registry with `extra` appended to its config (the token auth section).
    pub fn start_with(basic: Option<(&str, &str)>, extra: &str) -> Registry {
        assert!(
            Path::new("/usr/bin/docker-registry").exists(),
            "these tests need Debian's docker-registry: apt-get install docker-registry"
        );
        let dir = tempfile::Builder::new()
            .prefix("reg")
            .tempdir_in("/tmp")
            .unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let mut auth = String::new();
        if let Some((u, p)) = basic {
            let out = Command::new("htpasswd")
                .args(["-Bbn", u, p])
                .output()
                .expect("these tests need htpasswd: apt-get install apache2-utils");
            assert!(out.status.success());
            std::fs::write(dir.path().join("htpasswd"), out.stdout).unwrap();
            auth = format!(
                "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                dir.path().join("htpasswd").display()
            );
        }
        let cfg = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n{auth}{extra}",
            dir.path().join("data").display()
        );
        std::fs::write(dir.path().join("config.yml"), cfg).unwrap();
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        let child = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        wait_port(&addr);
        Registry { child, dir, addr }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Removes container `id`'s cgroups and its shim's once empty (waiting a moment for a killed
/// shim to be reaped).
fn remove_cgroups_of(id: &str) {
    if id.len() != 64 {
        return;
    }
    let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    let dirs: Vec<PathBuf> = rd
        .flatten()
        .flat_map(|h| {
            [
                h.path().join("berth").join(id),
                h.path().join("berth-shim").join(id),
            ]
        })
        .collect();
    let end = Instant::now() + Duration::from_secs(2);
    while dirs
        .iter()
        .any(|d| d.exists() && std::fs::remove_dir(d).is_err())
        && Instant::now() < end
    {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The problems `system check` printed that are this root's own: host-wide leftovers (other
/// roots' cgroups, namespaces, lease files) belong to tests running beside it, and the crash
/// trials, which run alone, judge those.
pub fn own_problems(check_output: &str) -> Vec<&str> {
    check_output
        .lines()
        .filter(|l| l.starts_with("damaged:") || l.starts_with("leftover:"))
        .filter(|l| !(l.contains(": cgroup ") || l.contains(" /run/")))
        .collect()
}
