//! The shim's life with its container: each run started, its descriptors served from one poll
//! loop (the container's exit, its output, the attach socket and clients, the healthcheck
//! probe, the embedded DNS server), its exit recorded, and a restart when the policy asks.

use super::io::{self, Output, FRAME_EXIT, FRAME_RESIZE, FRAME_STDERR, FRAME_STDIN};
use super::io::{FRAME_STDIN_EOF, FRAME_STDOUT};
use super::reply::StarterReply;
use super::restart::{should_restart, stopped_during, Backoff};
use crate::container::{self, ContainerRecord, ContainerStore, State, StateLock, Status};
use crate::error::ErrorKind;
use crate::health::{Check, Health, Probe};
use crate::logs::LogWriter;
use crate::network::dns::Dns;
use crate::store::{self, Root};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The container's supervisor: what lasts across its runs.
pub(super) struct Supervisor<'a> {
    root: Root,
    containers: ContainerStore,
    rec: ContainerRecord,
    id: &'a str,
    dir: PathBuf,
    log: Option<LogWriter>,
    listener: UnixListener,
    check: Option<Check>,
    /// Where the first start is reported, until it is.
    ready: &'a mut Option<std::fs::File>,
    clients: &'a mut Vec<UnixStream>,
    buf: Vec<u8>,
    /// Kept across wake-ups: growing it in the loop would touch allocator code every time.
    pfds: Vec<libc::pollfd>,
}

/// One run of the container: its process and the descriptors it is served through.
struct Run {
    pid: i32,
    pidfd: OwnedFd,
    started: Instant,
    cgroup: Option<berth_runtime::Cgroup>,
    outputs: Vec<Output>,
    stdin_w: Option<OwnedFd>,
    /// The terminal's master side, for resizes.
    master: Option<RawFd>,
    dns: Option<Dns>,
    /// The probe running (its result pipe, its pid), and when the next one is due.
    probe: Option<(OwnedFd, i32)>,
    next_probe: Option<Instant>,
    exit: Option<i32>,
    /// After the exit, how long output may still drain.
    drain_until: Option<Instant>,
    /// Memory given back after a quiet wake-up; the next quiet one sleeps without a timeout.
    shrunk: bool,
}

/// Where each source sits in the poll set.
struct Slots {
    outputs: usize,
    listener: usize,
    clients: usize,
    probe: usize,
    dns: usize,
}

/// Reports the first start to whoever started the shim (once).
pub(super) fn report(ready: &mut Option<std::fs::File>, reply: &StarterReply) {
    if let Some(f) = ready.as_mut() {
        let _ = f.write_all(&reply.encode());
    }
    *ready = None;
}

/// Waits for `pid` and returns Docker's exit code: the status, or 128 plus the signal.
fn reap(pid: i32) -> i32 {
    let mut status = 0;
    // SAFETY: reaping our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    }
}

fn poll_entry(fd: RawFd) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}

impl<'a> Supervisor<'a> {
    /// Opens what lasts across runs: the record, the log, the attach socket.
    pub(super) fn open(
        root: &Path,
        id: &'a str,
        ready: &'a mut Option<std::fs::File>,
        clients: &'a mut Vec<UnixStream>,
    ) -> Result<Supervisor<'a>, String> {
        let root = Root::open(root).map_err(|e| e.to_string())?;
        let containers = ContainerStore::new(&root);
        let rec = containers.record(id).map_err(|e| e.to_string())?;
        let dir = containers.dir(id);
        // `--log-driver none`: nothing is written.
        let log = if rec.host_config.log_config.typ == "none" {
            None
        } else {
            Some(
                LogWriter::open(&containers.log_path(id), &rec.host_config.log_config.config)
                    .map_err(|e| e.to_string())?,
            )
        };
        let listener = io::listen(&dir).map_err(|e| format!("attach socket: {e}"))?;
        let check = crate::health::check(rec.config.healthcheck.as_ref());
        Ok(Supervisor {
            root,
            containers,
            rec,
            id,
            dir,
            log,
            listener,
            check,
            ready,
            clients,
            buf: vec![0u8; 16 * 1024],
            pfds: Vec::with_capacity(16),
        })
    }

    /// Runs the container until it ends for good (no restart), then leaves.
    pub(super) fn supervise(mut self) -> Result<(), String> {
        let mut backoff = Backoff::new();
        let mut first = true;
        loop {
            let Some(mut run) = self.begin(first)? else {
                break;
            };
            self.serve(&mut run);
            let exit = self.end(&mut run);
            if !self.record_exit(exit, &run, &mut backoff) {
                break;
            }
            first = false;
        }
        drop(self.listener);
        if !self.rec.host_config.auto_remove {
            let _ = std::fs::remove_file(io::attach_socket(&self.dir));
        }
        Ok(())
    }

    /// Starts one run: its pipes, its network, the starter; records it running. None: it
    /// could not start, and that is recorded.
    fn begin(&mut self, first: bool) -> Result<Option<Run>, String> {
        let tty = self.rec.config.tty;
        let mut outputs = Vec::new();
        let mut stdin_w = None;
        let mut child_ends: Vec<OwnedFd> = Vec::new();
        let mut stdio = [None; 3];
        if !tty {
            let (or, ow) = io::pipe().map_err(|e| format!("pipe: {e}"))?;
            let (er, ew) = io::pipe().map_err(|e| format!("pipe: {e}"))?;
            if self.rec.config.open_stdin {
                let (ir, iw) = io::pipe().map_err(|e| format!("pipe: {e}"))?;
                stdin_w = Some(iw);
                stdio[0] = Some(ir.as_raw_fd());
                child_ends.push(ir);
            }
            stdio[1] = Some(ow.as_raw_fd());
            stdio[2] = Some(ew.as_raw_fd());
            outputs.push(Output::new(or, "stdout", FRAME_STDOUT));
            outputs.push(Output::new(er, "stderr", FRAME_STDERR));
            child_ends.push(ow);
            child_ends.push(ew);
        }
        // The network namespace first, here: the shim then binds the embedded DNS server's
        // socket inside it before the container's first process can ask anything.
        let mut dns = None;
        let attachments = crate::network::read_attachments(&self.dir);
        let (reply, console) = match crate::network::attach::setup(&attachments) {
            Ok(()) => {
                if let Some(a) = attachments.iter().find(|a| a.network != "bridge") {
                    dns = Dns::open(self.root.path(), &self.dir, a).ok();
                }
                super::starter::start(&self.root, &self.rec, &self.dir, tty, stdio)?
            }
            Err(e) => (StarterReply::failed(&e), None),
        };
        drop(child_ends);
        let (pid, cgroup_path) = match reply {
            StarterReply::Started { pid, cgroup } => (pid, cgroup),
            StarterReply::Failed { kind, message } => {
                self.failed_start(first, kind, message);
                return Ok(None);
            }
        };
        let cgroup =
            (!cgroup_path.is_empty()).then(|| berth_runtime::Cgroup::open(Path::new(&cgroup_path)));
        let mut master = None;
        if let Some(m) = console {
            master = Some(m.as_raw_fd());
            if self.rec.config.open_stdin {
                stdin_w = Some(m.try_clone().map_err(|e| e.to_string())?);
            }
            outputs.push(Output::new(m, "stdout", FRAME_STDOUT));
        }
        let started = Instant::now();
        self.record_running(first, pid)?;
        super::emit(&self.root, &self.rec, "start", &[]);
        if first {
            report(
                self.ready,
                &StarterReply::Started {
                    pid,
                    cgroup: String::new(),
                },
            );
        }
        // SAFETY: pidfd_open(2) on our own child.
        let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as RawFd;
        if pidfd < 0 {
            return Err(format!("pidfd_open: {}", std::io::Error::last_os_error()));
        }
        let next_probe = self.check.as_ref().map(|c| {
            started
                + if c.start_period > Duration::ZERO {
                    c.start_interval
                } else {
                    c.interval
                }
        });
        Ok(Some(Run {
            pid,
            // SAFETY: we just got this descriptor.
            pidfd: unsafe { OwnedFd::from_raw_fd(pidfd) },
            started,
            cgroup,
            outputs,
            stdin_w,
            master,
            dns,
            probe: None,
            next_probe,
            exit: None,
            drain_until: None,
            shrunk: false,
        }))
    }

    /// A start that failed: a restart that cannot start ends the container; a first start
    /// leaves it created with the error (Docker's), and is reported.
    fn failed_start(&mut self, first: bool, kind: ErrorKind, message: String) {
        // The container's init, if it got that far, is our child: reap it.
        // SAFETY: waitpid until no child is left.
        while unsafe { libc::waitpid(-1, std::ptr::null_mut(), 0) } > 0 {}
        let (id, containers) = (self.id, &self.containers);
        let lock = self.lock(first);
        let mut st = containers.state_raw(id).unwrap_or_default();
        st.status = if first {
            Status::Created
        } else {
            st.finished_at = store::now_rfc3339();
            Status::Exited
        };
        st.failed_to_start(kind, &message);
        put(containers, &lock, &st);
        crate::network::detach(&self.root, &self.dir, id);
        if first {
            if self.rec.host_config.auto_remove {
                let _ = containers.remove_files(&self.rec);
            }
            report(self.ready, &StarterReply::Failed { kind, message });
        }
    }

    /// Records the run as running. At the first start the engine holds the container's lock
    /// until we report, so the write is ours alone; at a restart we take the lock ourselves.
    fn record_running(&mut self, first: bool, pid: i32) -> Result<(), String> {
        let lock = self.lock(first);
        let old = self.containers.state_raw(self.id).unwrap_or_default();
        // A stop that came while this restart was made holds: no further restart.
        let stopping = !first && old.stopping;
        if stopping {
            // SAFETY: killing our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let me = std::process::id() as i32;
        let st = State {
            status: Status::Running,
            pid,
            shim_pid: me,
            shim_start: container::proc_start_time(me).unwrap_or(0),
            exit_code: 0,
            error: String::new(),
            started_at: store::now_rfc3339(),
            finished_at: old.finished_at,
            oom_killed: false,
            restart_count: old.restart_count,
            stopping,
            manual_stop: !first && old.manual_stop,
            health: self.check.as_ref().map(|_| Health::starting()),
        };
        let written = match &lock {
            Some(l) => self
                .containers
                .write_state(l, &st)
                .map_err(|e| e.to_string()),
            None => Err(format!("container {} is gone", self.id)),
        };
        written.inspect_err(|_| {
            // SAFETY: killing our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        })
    }

    /// The container's lock for a state write: at the first start the one the engine holds
    /// for us until we report; later our own. None when the container is gone.
    fn lock(&self, first: bool) -> Option<StateLock> {
        if first {
            Some(self.containers.held_by_starter(self.id))
        } else {
            self.containers.lock(self.id).ok()
        }
    }

    /// Serves the run until it has exited and its output is drained (or 2 s have passed).
    fn serve(&mut self, run: &mut Run) {
        loop {
            if run.exit.is_some() && run.outputs.iter().all(|o| !o.open) {
                return;
            }
            if run.drain_until.is_some_and(|d| Instant::now() > d) {
                return;
            }
            let slots = self.fill_poll_set(run);
            let n = {
                let timeout = self.timeout(run);
                // SAFETY: poll(2) on a vector we own.
                unsafe {
                    libc::poll(
                        self.pfds.as_mut_ptr(),
                        self.pfds.len() as libc::nfds_t,
                        timeout,
                    )
                }
            };
            if n < 0 {
                if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return;
            }
            if self.probe_due(run) {
                continue;
            }
            if self.on_dns(run, &slots, n as usize) {
                continue;
            }
            if self.pfds[slots.probe].revents != 0 {
                self.on_probe_result(run);
                continue;
            }
            if n == 0 && run.exit.is_none() {
                crate::idle::shrink_to_idle();
                run.shrunk = true;
                continue;
            }
            run.shrunk = false;
            if self.pfds[0].revents != 0 && run.exit.is_none() {
                run.exit = Some(reap(run.pid));
                run.drain_until = Some(Instant::now() + Duration::from_secs(2));
            }
            for (i, o) in run.outputs.iter_mut().enumerate() {
                if self.pfds[slots.outputs + i].revents != 0 && o.open {
                    o.pump(&mut self.buf, self.clients, &mut self.log);
                }
            }
            let accepted = (self.pfds[slots.listener].revents != 0)
                .then(|| self.listener.accept().ok().map(|(c, _)| c))
                .flatten();
            self.on_clients(run, slots.clients);
            if let Some(c) = accepted {
                self.clients.push(io::client(c));
            }
        }
    }

    /// The poll set for this wake-up: the pidfd (slot 0), outputs, the listener, clients, the
    /// probe, the two DNS sockets; a closed or finished source polls as -1.
    fn fill_poll_set(&mut self, run: &Run) -> Slots {
        let live = run.exit.is_none();
        let p = &mut self.pfds;
        p.clear();
        p.push(poll_entry(if live { run.pidfd.as_raw_fd() } else { -1 }));
        let outputs = p.len();
        for o in &run.outputs {
            p.push(poll_entry(if o.open { o.fd.as_raw_fd() } else { -1 }));
        }
        let listener = p.len();
        p.push(poll_entry(if live {
            self.listener.as_raw_fd()
        } else {
            -1
        }));
        let clients = p.len();
        for c in self.clients.iter() {
            p.push(poll_entry(c.as_raw_fd()));
        }
        let probe = p.len();
        p.push(poll_entry(
            run.probe.as_ref().map_or(-1, |x| x.0.as_raw_fd()),
        ));
        let dns = p.len();
        for fd in run.dns.as_ref().map_or([-1, -1], |d| d.fds()) {
            p.push(poll_entry(if live { fd } else { -1 }));
        }
        Slots {
            outputs,
            listener,
            clients,
            probe,
            dns,
        }
    }

    /// How long to sleep: briefly while draining, until the next probe, and without end once
    /// the shim has given memory back on a quiet wake-up.
    fn timeout(&self, run: &Run) -> i32 {
        let mut timeout = match (run.exit, run.shrunk) {
            (Some(_), _) => 100,
            (None, false) => 500,
            (None, true) => -1,
        };
        if let (Some(t), None, None) = (run.next_probe, &run.probe, run.exit) {
            let ms = t
                .saturating_duration_since(Instant::now())
                .as_millis()
                .min(i32::MAX as u128) as i32;
            timeout = if timeout < 0 { ms } else { timeout.min(ms) };
        }
        timeout
    }

    /// Starts the probe when it is due; true when it did.
    fn probe_due(&mut self, run: &mut Run) -> bool {
        let (Some(c), Some(t), None, None) = (&self.check, run.next_probe, &run.probe, run.exit)
        else {
            return false;
        };
        if Instant::now() < t {
            return false;
        }
        run.probe = start_probe(&self.root, self.id, c);
        run.next_probe = None;
        true
    }

    /// Answers the DNS server's sockets; true when they were all that woke us.
    fn on_dns(&mut self, run: &mut Run, slots: &Slots, woke: usize) -> bool {
        let Some(d) = run.dns.as_mut() else {
            return false;
        };
        let (q, u) = (
            self.pfds[slots.dns].revents,
            self.pfds[slots.dns + 1].revents,
        );
        if q != 0 {
            d.on_query();
        }
        if u != 0 {
            d.on_upstream();
        }
        if (q != 0 || u != 0) && woke == usize::from(q != 0) + usize::from(u != 0) {
            run.shrunk = false;
            return true;
        }
        false
    }

    /// Records a finished probe's result in the health state, and when the next is due.
    fn on_probe_result(&mut self, run: &mut Run) {
        let (Some((r, ppid)), Some(c)) = (run.probe.take(), &self.check) else {
            return;
        };
        let mut data = Vec::new();
        let _ = std::fs::File::from(r).read_to_end(&mut data);
        // SAFETY: reaping the probe child.
        unsafe { libc::waitpid(ppid, std::ptr::null_mut(), 0) };
        let in_start = run.started.elapsed() < c.start_period;
        if let Ok(p) = serde_json::from_slice::<Probe>(&data) {
            let lock = self.containers.lock(self.id).ok();
            let mut st = self.containers.state_raw(self.id).unwrap_or_default();
            let h = st.health.get_or_insert_with(Health::starting);
            let changed = h.record(p, c, in_start);
            let status = h.status.clone();
            put(&self.containers, &lock, &st);
            if changed {
                super::emit(
                    &self.root,
                    &self.rec,
                    &format!("health_status: {status}"),
                    &[],
                );
            }
        }
        let gap = if in_start {
            c.start_interval
        } else {
            c.interval
        };
        run.next_probe = Some(Instant::now() + gap);
    }

    /// Reads each client that has something: input for the container, the end of it, a
    /// resize; a client that went away is dropped.
    fn on_clients(&mut self, run: &mut Run, base: usize) {
        let tty = self.rec.config.tty;
        let mut gone = Vec::new();
        for (i, c) in self.clients.iter_mut().enumerate() {
            if self.pfds[base + i].revents == 0 {
                continue;
            }
            match io::read_frame(c) {
                Ok(Some((FRAME_STDIN, data))) => {
                    if let Some(w) = &run.stdin_w {
                        let _ = write_to(w, &data);
                    }
                }
                Ok(Some((FRAME_STDIN_EOF, _))) => {
                    if !tty {
                        run.stdin_w = None;
                    } else if let Some(w) = &run.stdin_w {
                        // A terminal has no close: ^D is how a terminal says end of input.
                        let _ = write_to(w, &[4]);
                    }
                }
                Ok(Some((FRAME_RESIZE, data))) if data.len() == 4 => {
                    if let Some(m) = run.master {
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
            self.clients.remove(i);
        }
    }

    /// Ends the run: the last lines logged, its exit code, the probe stopped, the `oom` and
    /// `die` events, its cgroup and network given back (its address's lease is held).
    fn end(&mut self, run: &mut Run) -> Exit {
        for o in run.outputs.iter_mut() {
            o.flush(&mut self.log);
        }
        let code = run.exit.unwrap_or_else(|| reap(run.pid));
        if let Some((_, ppid)) = run.probe.take() {
            // SAFETY: ending and reaping the probe child.
            unsafe {
                libc::kill(ppid, libc::SIGKILL);
                libc::waitpid(ppid, std::ptr::null_mut(), 0);
            }
        }
        let oom = run.cgroup.as_ref().is_some_and(oom_killed);
        run.exit = Some(code);
        if oom {
            super::emit(&self.root, &self.rec, "oom", &[]);
        }
        super::emit(
            &self.root,
            &self.rec,
            "die",
            &[("exitCode", &code.to_string())],
        );
        if let Some(cg) = &run.cgroup {
            let _ = cg.destroy();
        }
        run.dns = None;
        // Off the network after every run; a restart sets it up again with the same address.
        if let Some(a) = crate::network::read_attachment(&self.dir) {
            crate::network::attach::teardown(&a);
            crate::network::hold_leases(&self.root, &self.dir);
        } else {
            // Every network left while it ran: the namespace has no attachment to name it.
            crate::network::attach::drop_netns(self.id);
        }
        Exit { code, oom }
    }

    /// Records the exit; true when the restart policy starts the container again.
    fn record_exit(&mut self, exit: Exit, run: &Run, backoff: &mut Backoff) -> bool {
        let Exit { code, oom } = exit;
        let (id, containers) = (self.id, &self.containers);
        let lock = containers.lock(id).ok();
        let mut st = containers.state_raw(id).unwrap_or_default();
        // `update --restart` applies to a container already running, as Docker's.
        let policy = store::read_json::<ContainerRecord>(&self.dir.join("container.json"))
            .map(|r| r.host_config.restart_policy)
            .unwrap_or_else(|_| self.rec.host_config.restart_policy.clone());
        st.pid = 0;
        st.exit_code = code;
        st.finished_at = store::now_rfc3339();
        st.oom_killed = oom;
        if should_restart(&policy, code, &st) {
            // Attached clients see this run's end, as Docker's CLI does when a policy
            // restarts the container.
            tell_clients(self.clients, code);
            self.clients.clear();
            st.status = Status::Restarting;
            st.restart_count += 1;
            put_exit(containers, &lock, &st);
            drop(lock);
            if !stopped_during(containers, id, backoff.next(run.started.elapsed())) {
                return true;
            }
            let lock = containers.lock(id).ok();
            let mut st = containers.state_raw(id).unwrap_or_default();
            st.status = Status::Exited;
            st.stopping = false;
            put_exit(containers, &lock, &st);
            crate::network::detach(&self.root, &self.dir, id);
            return false;
        }
        st.exited(code, oom);
        put_exit(containers, &lock, &st);
        crate::network::detach(&self.root, &self.dir, id);
        if self.rec.host_config.auto_remove {
            // Docker's --rm takes the container's anonymous volumes with it.
            if containers.remove_files(&self.rec).is_ok() {
                super::emit(&self.root, &self.rec, "destroy", &[]);
                crate::volume::remove_anonymous_of(&self.root, &self.rec);
            }
        }
        drop(lock);
        // Only now, after a --rm removal: `run --rm` returns when the container is gone.
        tell_clients(self.clients, code);
        false
    }
}

/// How a run ended.
struct Exit {
    /// Docker's exit code.
    code: i32,
    /// The kernel's OOM killer acted.
    oom: bool,
}

/// How long the shim keeps trying to record an exit, a second apart.
const PUT_TRIES: u32 = 60;

/// Writes the state under `lock`; a container that is gone has no state to write.
fn put(containers: &ContainerStore, lock: &Option<StateLock>, st: &State) {
    if let Some(l) = lock {
        let _ = containers.write_state(l, st);
    }
}

/// [`put`] for a run's end, trying again for a while when it fails (a full disk, whose space
/// may come back): an exit not recorded would later read as a dead shim, with no exit code,
/// and end the restart policy. Health results and the like are not worth the wait.
fn put_exit(containers: &ContainerStore, lock: &Option<StateLock>, st: &State) {
    let Some(l) = lock else { return };
    for _ in 0..PUT_TRIES {
        if !containers.dir(l.id()).exists() || containers.write_state(l, st).is_ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

/// Tells each client the run's exit code.
fn tell_clients(clients: &mut [UnixStream], code: i32) {
    for c in clients.iter_mut() {
        let _ = io::write_frame(c, FRAME_EXIT, &code.to_be_bytes());
    }
}

/// Writes to a descriptor we keep open.
fn write_to(fd: &OwnedFd, data: &[u8]) -> std::io::Result<()> {
    std::fs::File::from(fd.try_clone()?).write_all(data)
}

/// Forks a child that runs one healthcheck probe and writes its result (JSON) to a pipe.
fn start_probe(root: &Root, id: &str, check: &Check) -> Option<(OwnedFd, i32)> {
    let (r, w) = io::pipe().ok()?;
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

/// Whether the kernel's OOM killer acted in the cgroup (v2 `memory.events`, v1
/// `memory.oom_control`).
fn oom_killed(cg: &berth_runtime::Cgroup) -> bool {
    cg.dirs().any(|d| {
        ["memory.events", "memory.oom_control"].iter().any(|f| {
            std::fs::read_to_string(d.join(f)).is_ok_and(|s| {
                s.lines().any(|l| {
                    l.strip_prefix("oom_kill ")
                        .and_then(|n| n.trim().parse::<u64>().ok())
                        .unwrap_or(0)
                        > 0
                })
            })
        })
    })
}
