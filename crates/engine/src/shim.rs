//! The shim: berth re-executed (`berth shim`) to be a container's parent for its whole life.
//!
//! It clones the container through the runtime, then — single-threaded, in one poll loop —
//! copies the container's output into the json-file log and to attached clients, feeds their
//! input to the container, reaps it, records the exit in `state.json`, removes the container if
//! `--rm` asked, tells the clients the exit code, and exits. It is detached from whoever started
//! it (its own session, re-parented away), so the CLI may come and go, and no daemon is needed.
//!
//! Descriptors it is started with: 3, a pipe on which it reports the start (`ok <pid>` or
//! `err <exit code> <message>`); optionally 4, a socket of a first attached client.
//!
//! Attach protocol (stream socket, both ways): frames of `[kind: u8][len: u32 BE][payload]`.

use crate::container::{self, ContainerStore, State, Status};
use crate::logs::LogWriter;
use crate::snapshot::LayerStore;
use crate::store::{self, Root};
use berth_runtime::{SpawnOptions, Stdio};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::time::Duration;

/// Descriptor on which the shim reports the start.
pub const READY_FD: RawFd = 3;
/// Descriptor of the first attached client, when present.
pub const ATTACH_FD: RawFd = 4;

/// Frame kind: data for the container's stdin (client → shim).
pub const FRAME_STDIN: u8 = 0;
/// Frame kind: container stdout (shim → client).
pub const FRAME_STDOUT: u8 = 1;
/// Frame kind: container stderr (shim → client).
pub const FRAME_STDERR: u8 = 2;
/// Frame kind: the container exited; payload is the exit code, i32 BE (shim → client).
pub const FRAME_EXIT: u8 = 3;
/// Frame kind: close the container's stdin (client → shim).
pub const FRAME_STDIN_EOF: u8 = 4;
/// Frame kind: terminal size, rows and columns as u16 BE (client → shim).
pub const FRAME_RESIZE: u8 = 5;

/// Docker's json-file driver splits lines longer than this into several entries.
const MAX_LINE: usize = 16 * 1024;

/// Writes one frame.
pub fn write_frame(w: &mut impl Write, kind: u8, payload: &[u8]) -> std::io::Result<()> {
    let mut head = [0u8; 5];
    head[0] = kind;
    head[1..].copy_from_slice(&(payload.len() as u32).to_be_bytes());
    w.write_all(&head)?;
    w.write_all(payload)
}

/// Reads one frame; `None` at a clean end of stream.
pub fn read_frame(r: &mut impl Read) -> std::io::Result<Option<(u8, Vec<u8>)>> {
    let mut head = [0u8; 5];
    match r.read_exact(&mut head) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    if len > 16 << 20 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "attach frame too large",
        ));
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)?;
    Ok(Some((head[0], payload)))
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    Ok((r, w))
}

fn report(ready: &mut Option<std::fs::File>, msg: &str) {
    if let Some(f) = ready.as_mut() {
        let _ = f.write_all(msg.as_bytes());
    }
    *ready = None;
}

/// Path of a container's attach socket (inside its directory).
pub fn attach_socket(dir: &Path) -> std::path::PathBuf {
    dir.join("attach.sock")
}

/// A path for `dir`'s entry `name` that stays short whatever the state root is: unix socket
/// paths are limited to 108 bytes, a container directory's path may be longer.
pub fn short_path(dir: &Path, name: &str) -> std::io::Result<(std::fs::File, String)> {
    let d = std::fs::File::open(dir)?;
    let p = format!("/proc/self/fd/{}/{name}", d.as_raw_fd());
    Ok((d, p))
}

/// Binds the container's attach socket, replacing a stale one from an earlier run.
fn listen(dir: &Path) -> std::io::Result<std::os::unix::net::UnixListener> {
    let (_d, p) = short_path(dir, "attach.sock")?;
    let _ = std::fs::remove_file(&p);
    let l = std::os::unix::net::UnixListener::bind(&p)?;
    // SAFETY: fcntl on our descriptor.
    unsafe { libc::fcntl(l.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
    Ok(l)
}

/// Connects to a running container's shim as one more attached client.
pub fn connect(dir: &Path) -> std::io::Result<std::os::unix::net::UnixStream> {
    let (_d, p) = short_path(dir, "attach.sock")?;
    std::os::unix::net::UnixStream::connect(p)
}

/// A source of container output: a pipe, or the terminal's master side.
struct Output {
    fd: OwnedFd,
    stream: &'static str,
    kind: u8,
    line: Vec<u8>,
    open: bool,
}

/// Runs the shim for container `id` under state root `root`; returns the process exit code.
pub fn run(root: &Path, id: &str, has_attach: bool) -> i32 {
    // SAFETY: setsid/fork/_exit before any other thread exists.
    unsafe {
        libc::setsid();
        match libc::fork() {
            -1 => return 125,
            0 => {}
            _ => libc::_exit(0),
        }
        // A shim outlives terminals and its starter; stray job-control signals must not end it.
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGTERM, libc::SIG_IGN);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    // SAFETY: fds 3 and 4 were set up by our starter for us alone.
    let mut ready = Some(unsafe { std::fs::File::from_raw_fd(READY_FD) });
    let mut clients: Vec<std::os::unix::net::UnixStream> = Vec::new();
    if has_attach {
        // SAFETY: as above.
        clients.push(unsafe { std::os::unix::net::UnixStream::from_raw_fd(ATTACH_FD) });
    }
    match supervise(root, id, &mut ready, &mut clients) {
        Ok(()) => 0,
        Err(msg) => {
            report(&mut ready, &format!("err 125 {msg}"));
            125
        }
    }
}

fn supervise(
    root: &Path,
    id: &str,
    ready: &mut Option<std::fs::File>,
    clients: &mut Vec<std::os::unix::net::UnixStream>,
) -> Result<(), String> {
    let root = Root::open(root).map_err(|e| e.to_string())?;
    let containers = ContainerStore::new(&root);
    let rec = containers.record(id).map_err(|e| e.to_string())?;
    let dir = containers.dir(id);
    // `--log-driver none`: nothing is written.
    let mut log = if rec.host_config.log_config.typ == "none" {
        None
    } else {
        Some(
            LogWriter::open(&containers.log_path(id), &rec.host_config.log_config.config)
                .map_err(|e| e.to_string())?,
        )
    };

    let tty = rec.config.tty;
    let listener = listen(&dir).map_err(|e| format!("attach socket: {e}"))?;
    let policy = rec.host_config.restart_policy.clone();
    let check = crate::health::check(rec.config.healthcheck.as_ref());
    let mut backoff = std::time::Duration::from_millis(100);
    let mut first = true;
    loop {
        let run_started = std::time::Instant::now();
        let mut outputs: Vec<Output> = Vec::new();
        let mut stdin_w: Option<OwnedFd> = None;
        let mut child_ends: Vec<OwnedFd> = Vec::new();
        let mut stdio_fds = [None; 3];
        if !tty {
            let (or, ow) = pipe().map_err(|e| format!("pipe: {e}"))?;
            let (er, ew) = pipe().map_err(|e| format!("pipe: {e}"))?;
            if rec.config.open_stdin {
                let (ir, iw) = pipe().map_err(|e| format!("pipe: {e}"))?;
                stdin_w = Some(iw);
                stdio_fds[0] = Some(ir.as_raw_fd());
                child_ends.push(ir);
            }
            stdio_fds[1] = Some(ow.as_raw_fd());
            stdio_fds[2] = Some(ew.as_raw_fd());
            outputs.push(Output {
                fd: or,
                stream: "stdout",
                kind: FRAME_STDOUT,
                line: Vec::new(),
                open: true,
            });
            outputs.push(Output {
                fd: er,
                stream: "stderr",
                kind: FRAME_STDERR,
                line: Vec::new(),
                open: true,
            });
            child_ends.push(ow);
            child_ends.push(ew);
        }

        // The network namespace first, here: the shim then binds the embedded DNS server's
        // socket inside it before the container's first process can ask anything.
        let mut dns = None;
        let attachments = crate::network::read_attachments(&dir);
        let net_err = match crate::network::attach::setup(&attachments) {
            Ok(()) => {
                if let Some(a) = attachments.iter().find(|a| a.network != "bridge") {
                    dns = crate::network::dns::Dns::open(root.path(), &dir, a).ok();
                }
                None
            }
            Err(e) => Some(format!("err {} {}", e.kind.exit_code(), e.message)),
        };
        let answer = if let Some(err) = net_err {
            Ok((err.into_bytes(), None))
        } else {
            // A short-lived starter process parses the spec and starts the container (as our
            // child, CLONE_PARENT), so none of that memory or code ever becomes part of this
            // long-lived shim.
            let (mine, theirs) =
                std::os::unix::net::UnixStream::pair().map_err(|e| format!("socketpair: {e}"))?;
            // SAFETY: we are single-threaded; the starter leaves with _exit.
            let starter = unsafe { libc::fork() };
            if starter < 0 {
                return Err(format!("fork: {}", std::io::Error::last_os_error()));
            }
            if starter == 0 {
                drop(mine);
                let (msg, fd) = match start_container(&root, &rec, &dir, tty, stdio_fds) {
                    Ok((pid, cgroup, console)) => (format!("ok {pid} {cgroup}"), console),
                    Err(e) => (format!("err {} {}", e.kind.exit_code(), e.message), None),
                };
                let _ = berth_runtime::fdpass::send(
                    theirs.as_raw_fd(),
                    msg.as_bytes(),
                    fd.as_ref().map(|f| f.as_raw_fd()),
                );
                // SAFETY: leaving the forked starter without running the shim's destructors.
                unsafe { libc::_exit(0) };
            }
            drop(theirs);
            let answer = berth_runtime::fdpass::recv(mine.as_raw_fd(), true);
            // SAFETY: reaping the starter.
            unsafe { libc::waitpid(starter, std::ptr::null_mut(), 0) };
            answer
        };
        drop(child_ends);
        let (msg, console) = answer
            .map(|(m, fd)| (String::from_utf8_lossy(&m).into_owned(), fd))
            .unwrap_or_default();
        let started = msg.strip_prefix("ok ").and_then(|r| {
            let mut w = r.split(' ');
            let pid: i32 = w.next()?.parse().ok()?;
            Some((pid, w.next().unwrap_or("").to_string()))
        });
        let Some((pid, cgroup_path)) = started else {
            // The container's init, if it got that far, is our child: reap it.
            // SAFETY: waitpid until no child is left.
            while unsafe { libc::waitpid(-1, std::ptr::null_mut(), 0) } > 0 {}
            let (code, message) = msg
                .strip_prefix("err ")
                .and_then(|r| r.split_once(' '))
                .unwrap_or(("125", "the container's starter died"));
            let code: i32 = code.parse().unwrap_or(125);
            if !first {
                // A restart that cannot start ends the container.
                let _lock = containers.lock(id).ok();
                let mut st = containers.state_raw(id).unwrap_or_default();
                st.status = Status::Exited;
                st.exit_code = code;
                st.error = message.to_string();
                st.pid = 0;
                st.finished_at = store::now_rfc3339();
                let _ = containers.write_state(id, &st);
                crate::network::detach(&root, &dir, id);
                break;
            }
            crate::network::detach(&root, &dir, id);
            // Docker leaves a container whose start failed in "created" with the error recorded.
            let mut st = containers.state_raw(id).unwrap_or_default();
            st.status = Status::Created;
            st.exit_code = code;
            st.error = message.to_string();
            st.pid = 0;
            let _ = containers.write_state(id, &st);
            if rec.host_config.auto_remove {
                let _ = containers.remove_files(&rec);
            }
            report(ready, &format!("err {code} {message}"));
            return Ok(());
        };
        let cgroup =
            (!cgroup_path.is_empty()).then(|| berth_runtime::Cgroup::open(Path::new(&cgroup_path)));
        let mut master: Option<RawFd> = None;
        if let Some(m) = console {
            master = Some(m.as_raw_fd());
            if rec.config.open_stdin {
                stdin_w = Some(m.try_clone().map_err(|e| e.to_string())?);
            }
            outputs.push(Output {
                fd: m,
                stream: "stdout",
                kind: FRAME_STDOUT,
                line: Vec::new(),
                open: true,
            });
        }
        let me = std::process::id() as i32;
        let lock = if first {
            None
        } else {
            containers.lock(id).ok()
        };
        let mut st = containers.state_raw(id).unwrap_or_default();
        if !first && st.stopping {
            // Stopped by the user while this restart was being made.
            // SAFETY: killing our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        st = State {
            status: Status::Running,
            pid,
            shim_pid: me,
            shim_start: container::proc_start_time(me).unwrap_or(0),
            exit_code: 0,
            error: String::new(),
            started_at: store::now_rfc3339(),
            finished_at: st.finished_at,
            oom_killed: false,
            restart_count: st.restart_count,
            // A stop that came while this restart was made holds: no further restart.
            stopping: !first && st.stopping,
            manual_stop: !first && st.manual_stop,
            health: check.as_ref().map(|_| crate::health::Health::starting()),
        };
        // At the first start the engine holds the container's lock until we report, so this write
        // is ours alone; at a restart we took the lock ourselves.
        if let Err(e) = containers.write_state(id, &st) {
            // SAFETY: killing our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            return Err(e.to_string());
        }
        drop(lock);
        emit(&root, &rec, "start", &[]);
        if first {
            report(ready, &format!("ok {pid}\n"));
        }

        // SAFETY: pidfd_open(2) on our own child.
        let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as RawFd;
        if pidfd < 0 {
            return Err(format!("pidfd_open: {}", std::io::Error::last_os_error()));
        }
        // SAFETY: we just got this descriptor.
        let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
        let mut exit_status: Option<i32> = None;
        // Healthcheck: when the next probe is due, and the one running (its result pipe, pid).
        let mut next_probe = check.as_ref().map(|c| {
            run_started
                + if c.start_period > Duration::ZERO {
                    c.start_interval
                } else {
                    c.interval
                }
        });
        let mut probe: Option<(OwnedFd, i32)> = None;
        let mut drain_deadline: Option<std::time::Instant> = None;
        let mut buf = vec![0u8; 16 * 1024];
        let mut shrunk = false;
        // Kept across iterations: growing it in the loop would touch allocator code at every wake-up.
        let mut pfds: Vec<libc::pollfd> = Vec::with_capacity(16);

        loop {
            if exit_status.is_some() && outputs.iter().all(|o| !o.open) {
                break;
            }
            if let Some(d) = drain_deadline {
                if std::time::Instant::now() > d {
                    break;
                }
            }
            pfds.clear();
            pfds.push(libc::pollfd {
                fd: if exit_status.is_none() {
                    pidfd.as_raw_fd()
                } else {
                    -1
                },
                events: libc::POLLIN,
                revents: 0,
            });
            for o in &outputs {
                pfds.push(libc::pollfd {
                    fd: if o.open { o.fd.as_raw_fd() } else { -1 },
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
            pfds.push(libc::pollfd {
                fd: if exit_status.is_none() {
                    listener.as_raw_fd()
                } else {
                    -1
                },
                events: libc::POLLIN,
                revents: 0,
            });
            for c in clients.iter() {
                pfds.push(libc::pollfd {
                    fd: c.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
            let probe_slot = pfds.len();
            pfds.push(libc::pollfd {
                fd: probe.as_ref().map(|p| p.0.as_raw_fd()).unwrap_or(-1),
                events: libc::POLLIN,
                revents: 0,
            });
            let dns_slot = pfds.len();
            for fd in dns.as_ref().map(|d| d.fds()).unwrap_or([-1, -1]) {
                pfds.push(libc::pollfd {
                    fd: if exit_status.is_none() { fd } else { -1 },
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
            let mut timeout = match (exit_status, shrunk) {
                (Some(_), _) => 100,
                (None, false) => 500,
                (None, true) => -1,
            };
            if let (Some(t), None, None) = (next_probe, &probe, exit_status) {
                let ms = t
                    .saturating_duration_since(std::time::Instant::now())
                    .as_millis()
                    .min(i32::MAX as u128) as i32;
                timeout = if timeout < 0 { ms } else { timeout.min(ms) };
            }
            // SAFETY: poll(2) on a vector we own.
            let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout) };
            if n < 0 {
                if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                break;
            }
            if let (Some(c), Some(t), None, None) = (&check, next_probe, &probe, exit_status) {
                if std::time::Instant::now() >= t {
                    probe = start_probe(&root, id, c);
                    next_probe = None;
                    continue;
                }
            }
            if let Some(d) = dns.as_mut() {
                let (q, u) = (pfds[dns_slot].revents, pfds[dns_slot + 1].revents);
                if q != 0 {
                    d.on_query();
                }
                if u != 0 {
                    d.on_upstream();
                }
                if (q != 0 || u != 0) && n as usize == usize::from(q != 0) + usize::from(u != 0) {
                    shrunk = false;
                    continue;
                }
            }
            if pfds[probe_slot].revents != 0 {
                if let (Some((r, ppid)), Some(c)) = (probe.take(), &check) {
                    let mut data = Vec::new();
                    let _ = std::fs::File::from(r).read_to_end(&mut data);
                    // SAFETY: reaping the probe child.
                    unsafe { libc::waitpid(ppid, std::ptr::null_mut(), 0) };
                    if let Ok(p) = serde_json::from_slice::<crate::health::Probe>(&data) {
                        let in_start = run_started.elapsed() < c.start_period;
                        let _lock = containers.lock(id).ok();
                        let mut st = containers.state_raw(id).unwrap_or_default();
                        let h = st
                            .health
                            .get_or_insert_with(crate::health::Health::starting);
                        let changed = h.record(p, c, in_start);
                        let status = h.status.clone();
                        let _ = containers.write_state(id, &st);
                        if changed {
                            emit(&root, &rec, &format!("health_status: {status}"), &[]);
                        }
                    }
                    let gap = if run_started.elapsed() < c.start_period {
                        c.start_interval
                    } else {
                        c.interval
                    };
                    next_probe = Some(std::time::Instant::now() + gap);
                }
                continue;
            }
            if n == 0 && exit_status.is_none() {
                crate::idle::shrink_to_idle();
                shrunk = true;
                continue;
            }
            shrunk = false;
            if pfds[0].revents != 0 && exit_status.is_none() {
                let mut status = 0;
                // SAFETY: reaping our child.
                unsafe { libc::waitpid(pid, &mut status, 0) };
                let code = if libc::WIFEXITED(status) {
                    libc::WEXITSTATUS(status)
                } else {
                    128 + libc::WTERMSIG(status)
                };
                exit_status = Some(code);
                drain_deadline =
                    Some(std::time::Instant::now() + std::time::Duration::from_secs(2));
            }
            for (i, o) in outputs.iter_mut().enumerate() {
                let re = pfds[1 + i].revents;
                if re == 0 || !o.open {
                    continue;
                }
                // SAFETY: read(2) into our buffer.
                let r = unsafe { libc::read(o.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                if r <= 0 {
                    if r < 0
                        && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
                    {
                        continue;
                    }
                    // EOF on a pipe, EIO on a terminal whose last slave closed.
                    o.open = false;
                    continue;
                }
                let data = &buf[..r as usize];
                clients.retain_mut(|c| write_frame(c, o.kind, data).is_ok());
                o.line.extend_from_slice(data);
                while let Some(pos) = o.line.iter().position(|b| *b == b'\n') {
                    let _ = log.as_mut().map(|l| l.write(o.stream, &o.line[..=pos]));
                    o.line.drain(..=pos);
                }
                while o.line.len() >= MAX_LINE {
                    let _ = log.as_mut().map(|l| l.write(o.stream, &o.line[..MAX_LINE]));
                    o.line.drain(..MAX_LINE);
                }
            }
            let lpos = 1 + outputs.len();
            let base = lpos + 1;
            let accepted = if pfds[lpos].revents != 0 {
                listener.accept().ok().map(|(c, _)| c)
            } else {
                None
            };
            let mut gone = Vec::new();
            for (i, c) in clients.iter_mut().enumerate() {
                if pfds[base + i].revents == 0 {
                    continue;
                }
                match read_frame(c) {
                    Ok(Some((FRAME_STDIN, data))) => {
                        if let Some(w) = &stdin_w {
                            let mut f =
                                std::fs::File::from(w.try_clone().map_err(|e| e.to_string())?);
                            let _ = f.write_all(&data);
                        }
                    }
                    Ok(Some((FRAME_STDIN_EOF, _))) => {
                        if !tty {
                            stdin_w = None;
                        } else if let Some(w) = &stdin_w {
                            // A terminal has no close: ^D is how a terminal says end of input.
                            let mut f =
                                std::fs::File::from(w.try_clone().map_err(|e| e.to_string())?);
                            let _ = f.write_all(&[4]);
                        }
                    }
                    Ok(Some((FRAME_RESIZE, data))) if data.len() == 4 => {
                        if let Some(m) = master {
                            let ws = libc::winsize {
                                ws_row: u16::from_be_bytes([data[0], data[1]]),
                                ws_col: u16::from_be_bytes([data[2], data[3]]),
                                ws_xpixel: 0,
                                ws_ypixel: 0,
                            };
                            // SAFETY: TIOCSWINSZ reads the struct.
                            unsafe { libc::ioctl(m, libc::TIOCSWINSZ, &ws) };
                        }
                    }
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => gone.push(i),
                }
            }
            for i in gone.into_iter().rev() {
                clients.remove(i);
            }
            if let Some(c) = accepted {
                let _ = c.set_nonblocking(false);
                clients.push(c);
            }
        }
        for o in outputs.iter_mut() {
            if !o.line.is_empty() {
                let _ = log.as_mut().map(|l| l.write(o.stream, &o.line));
                o.line.clear();
            }
        }
        let code = match exit_status {
            Some(c) => c,
            None => {
                let mut status = 0;
                // SAFETY: reaping our child.
                unsafe { libc::waitpid(pid, &mut status, 0) };
                if libc::WIFEXITED(status) {
                    libc::WEXITSTATUS(status)
                } else {
                    128 + libc::WTERMSIG(status)
                }
            }
        };
        if let Some((_, ppid)) = probe.take() {
            // SAFETY: ending and reaping the probe child.
            unsafe {
                libc::kill(ppid, libc::SIGKILL);
                libc::waitpid(ppid, std::ptr::null_mut(), 0);
            }
        }
        let oom = cgroup.as_ref().is_some_and(oom_killed);
        if oom {
            emit(&root, &rec, "oom", &[]);
        }
        emit(&root, &rec, "die", &[("exitCode", &code.to_string())]);
        if let Some(cg) = &cgroup {
            let _ = cg.destroy();
        }
        drop(dns);
        // Off the network after every run; a restart sets it up again with the same address,
        // whose lease is held meanwhile.
        if let Some(a) = crate::network::read_attachment(&dir) {
            crate::network::attach::teardown(&a);
            crate::network::hold_leases(&root, &dir);
        } else {
            // Every network left while it ran: the namespace has no attachment to name it.
            crate::network::attach::drop_netns(id);
        }
        {
            let _lock = containers.lock(id).ok();
            let mut st = containers.state_raw(id).unwrap_or_default();
            // `update --restart` applies to a container already running, as Docker's.
            let policy = crate::store::read_json::<crate::container::ContainerRecord>(
                &dir.join("container.json"),
            )
            .map(|r| r.host_config.restart_policy)
            .unwrap_or_else(|_| policy.clone());
            if should_restart(&policy, code, &st) {
                // Attached clients see this run's end, as Docker's CLI does when a policy
                // restarts the container.
                for c in clients.iter_mut() {
                    let _ = write_frame(c, FRAME_EXIT, &code.to_be_bytes());
                }
                clients.clear();
                st.status = Status::Restarting;
                st.pid = 0;
                st.exit_code = code;
                st.finished_at = store::now_rfc3339();
                st.oom_killed = oom;
                st.restart_count += 1;
                let _ = containers.write_state(id, &st);
                drop(_lock);
                // Docker's back-off: 100 ms, doubling, back to 100 ms after a run of 10 s or more.
                if run_started.elapsed() >= std::time::Duration::from_secs(10) {
                    backoff = std::time::Duration::from_millis(100);
                }
                let wake = std::time::Instant::now() + backoff;
                backoff = (backoff * 2).min(std::time::Duration::from_secs(60));
                let mut stopped = false;
                while std::time::Instant::now() < wake {
                    std::thread::sleep(
                        std::time::Duration::from_millis(20)
                            .min(wake.saturating_duration_since(std::time::Instant::now())),
                    );
                    if containers
                        .state_raw(id)
                        .map(|s| s.stopping)
                        .unwrap_or(false)
                    {
                        stopped = true;
                        break;
                    }
                }
                if !stopped {
                    first = false;
                    continue;
                }
                let _lock = containers.lock(id).ok();
                let mut st = containers.state_raw(id).unwrap_or_default();
                st.status = Status::Exited;
                st.stopping = false;
                let _ = containers.write_state(id, &st);
                crate::network::detach(&root, &dir, id);
                break;
            }
            st.status = Status::Exited;
            st.pid = 0;
            st.exit_code = code;
            st.finished_at = store::now_rfc3339();
            st.oom_killed = oom;
            st.stopping = false;
            let _ = containers.write_state(id, &st);
            crate::network::detach(&root, &dir, id);
            if rec.host_config.auto_remove {
                // Docker's --rm takes the container's anonymous volumes with it.
                if containers.remove_files(&rec).is_ok() {
                    emit(&root, &rec, "destroy", &[]);
                    crate::volume::remove_anonymous_of(&root, &rec);
                }
            }
        }
        // Only now, after a --rm removal: `run --rm` returns when the container is gone.
        for c in clients.iter_mut() {
            let _ = write_frame(c, FRAME_EXIT, &code.to_be_bytes());
        }
        break;
    }
    drop(listener);
    if !rec.host_config.auto_remove {
        let _ = std::fs::remove_file(attach_socket(&dir));
    }
    Ok(())
}

fn emit(
    root: &Root,
    rec: &crate::container::ContainerRecord,
    action: &str,
    extra: &[(&str, &str)],
) {
    let mut attrs: Vec<(&str, &str)> = vec![
        ("image", rec.config.image.as_str()),
        ("name", rec.name.as_str()),
    ];
    attrs.extend_from_slice(extra);
    crate::events::emit(root, "container", action, &rec.id, &attrs);
}

/// Forks a child that runs one healthcheck probe and writes its result (JSON) to a pipe.
fn start_probe(root: &Root, id: &str, check: &crate::health::Check) -> Option<(OwnedFd, i32)> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).ok()?;
    // SAFETY: we are single-threaded; the child leaves with _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return None;
    }
    if pid == 0 {
        drop(r);
        let p = crate::health::probe(root.path(), id, check);
        let _ = std::fs::File::from(w).write_all(&serde_json::to_vec(&p).unwrap_or_default());
        // SAFETY: leaving the probe child without the shim's destructors.
        unsafe { libc::_exit(0) };
    }
    Some((r, pid))
}

/// Docker's restart decision after an exit with `code`: never after the user stopped or killed
/// the container; `always`/`unless-stopped` otherwise; `on-failure[:N]` for non-zero codes, at
/// most N times.
fn should_restart(policy: &crate::container::RestartPolicy, code: i32, st: &State) -> bool {
    if st.stopping {
        return false;
    }
    match policy.name.as_str() {
        "always" | "unless-stopped" => true,
        "on-failure" => {
            code != 0
                && (policy.maximum_retry_count <= 0
                    || st.restart_count < policy.maximum_retry_count)
        }
        _ => false,
    }
}

/// The starter's work: the OCI spec, the overlay, the compiled seccomp program, then the
/// runtime. Returns the container's pid, its cgroup path and its terminal's master side.
fn start_container(
    root: &Root,
    rec: &crate::container::ContainerRecord,
    dir: &Path,
    tty: bool,
    fds: [Option<RawFd>; 3],
) -> crate::error::Result<(i32, String, Option<OwnedFd>)> {
    let spec = berth_runtime::load_spec(dir)?;
    let overlay = LayerStore::new(root).overlay(&rec.layers, dir)?;
    let bpf = std::fs::read(dir.join("seccomp.bpf")).ok();
    let stdio = if tty {
        // The terminal is allocated inside the container (its own devpts).
        let size = spec
            .process()
            .as_ref()
            .and_then(|p| p.console_size())
            .map(|b| (b.height() as u16, b.width() as u16));
        Stdio {
            stdin: None,
            stdout: None,
            stderr: None,
            tty: true,
            console_size: size,
        }
    } else {
        Stdio {
            stdin: fds[0],
            stdout: fds[1],
            stderr: fds[2],
            tty: false,
            console_size: None,
        }
    };
    let opts = SpawnOptions {
        spec: &spec,
        rootfs: dir.join("rootfs"),
        rootfs_mounts: std::slice::from_ref(&overlay),
        stdio,
        seccomp_bpf: bpf.as_deref(),
        cgroup_fs: None,
        clone_parent: true,
    };
    let s = berth_runtime::spawn(&opts)?;
    let cg = s
        .cgroup
        .as_ref()
        .map(|c| c.rel().display().to_string())
        .unwrap_or_default();
    Ok((s.pid, cg, s.console))
}

fn oom_killed(cg: &berth_runtime::Cgroup) -> bool {
    for d in cg.dirs() {
        for f in ["memory.events", "memory.oom_control"] {
            if let Ok(s) = std::fs::read_to_string(d.join(f)) {
                if s.lines().any(|l| {
                    l.strip_prefix("oom_kill ")
                        .and_then(|n| n.trim().parse::<u64>().ok())
                        .unwrap_or(0)
                        > 0
                }) {
                    return true;
                }
            }
        }
    }
    false
}
