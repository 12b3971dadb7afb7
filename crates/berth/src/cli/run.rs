//! `run`, `create`, `start`: turning flags into a create request, starting, and streaming an
//! attached container's output (and input) until it exits.

use super::{RunArgs, StartArgs};
use crate::{CmdResult, Exit};
use anyhow::{anyhow, bail, Context};
use berth_engine::container::{HostConfig, LogConfig, RestartPolicy, Ulimit};
use berth_engine::image::ContainerConfig;
use berth_engine::shim::{read_frame, write_frame, FRAME_EXIT, FRAME_RESIZE, FRAME_STDERR, FRAME_STDIN, FRAME_STDIN_EOF, FRAME_STDOUT};
use berth_engine::{CreateRequest, Engine};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

/// `KEY` alone takes the value from berth's own environment, or is dropped if unset (Docker).
fn env_entry(e: &str) -> Option<String> {
    if e.contains('=') {
        Some(e.to_string())
    } else {
        std::env::var(e).ok().map(|v| format!("{e}={v}"))
    }
}

/// Reads an `--env-file`: `KEY=value` lines, `#` comments and blank lines skipped.
fn read_env_file(path: &std::path::Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("open {}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let l = line.trim_start();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let key = l.split('=').next().unwrap_or("");
        if key.is_empty() || key.contains(char::is_whitespace) {
            bail!("invalid environment variable at {}:{}: {line:?}", path.display(), n + 1);
        }
        out.extend(env_entry(l));
    }
    Ok(out)
}

fn parse_ulimit(s: &str) -> anyhow::Result<Ulimit> {
    let (name, vals) = s.split_once('=').ok_or_else(|| anyhow!("invalid ulimit argument: {s}"))?;
    const KNOWN: &[&str] = &[
        "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack", "as",
    ];
    if !KNOWN.contains(&name) {
        bail!("invalid ulimit type: {name}");
    }
    let (soft, hard) = match vals.split_once(':') {
        Some((a, b)) => (a, b),
        None => (vals, vals),
    };
    let soft: i64 = soft.parse().map_err(|_| anyhow!("invalid ulimit argument: {s}"))?;
    let hard: i64 = hard.parse().map_err(|_| anyhow!("invalid ulimit argument: {s}"))?;
    if soft > hard {
        bail!("invalid ulimit argument: {s}: soft limit must be less than or equal to hard limit");
    }
    Ok(Ulimit { name: name.to_string(), soft, hard })
}

/// Validates run/create flags and makes the engine request.
pub fn request(a: &RunArgs) -> anyhow::Result<CreateRequest> {
    if a.detach && !a.attach.is_empty() {
        bail!("Conflicting options: -a and -d");
    }
    let mut env = Vec::new();
    for f in &a.env_file {
        env.extend(read_env_file(f)?);
    }
    env.extend(a.env.iter().filter_map(|e| env_entry(e)));
    let mut labels = BTreeMap::new();
    for l in &a.label {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        labels.insert(k.to_string(), v.to_string());
    }
    let mut log_opts = BTreeMap::new();
    for o in &a.log_opt {
        let (k, v) = o.split_once('=').ok_or_else(|| anyhow!("invalid key value pair format in logging opts: {o}"))?;
        log_opts.insert(k.to_string(), v.to_string());
    }
    let restart = match a.restart.as_deref() {
        None | Some("") | Some("no") => RestartPolicy::default(),
        Some(r) => {
            let (name, count) = r.split_once(':').unwrap_or((r, ""));
            if !matches!(name, "always" | "unless-stopped" | "on-failure") {
                bail!("invalid restart policy '{name}'");
            }
            let n = if count.is_empty() { 0 } else { count.parse().map_err(|_| anyhow!("invalid restart policy format: maximum retry count must be an integer"))? };
            RestartPolicy { name: name.to_string(), maximum_retry_count: n }
        }
    };
    if a.rm && !restart.name.is_empty() {
        bail!("Conflicting options: cannot specify both --restart and --rm");
    }
    let nano_cpus = match &a.cpus {
        Some(c) => {
            let f: f64 = c.parse().map_err(|_| anyhow!("invalid argument \"{c}\" for \"--cpus\" flag: failed to parse {c} as a rational number"))?;
            (f * 1e9).round() as i64
        }
        None => 0,
    };
    let memory_swap = match a.memory_swap.as_deref() {
        Some("-1") => -1,
        Some(s) => crate::human::parse_ram(s).map_err(|e| anyhow!("invalid argument \"{s}\" for \"--memory-swap\" flag: {e}"))?,
        None => 0,
    };
    let network = match a.network.as_deref() {
        None | Some("default") | Some("bridge") | Some("none") => "none".to_string(),
        Some(other) => other.to_string(),
    };
    let hc = HostConfig {
        auto_remove: a.rm,
        memory: match &a.memory {
            Some(m) => crate::human::parse_ram(m).map_err(|e| anyhow!("invalid argument \"{m}\" for \"-m, --memory\" flag: {e}"))?,
            None => 0,
        },
        memory_swap,
        nano_cpus,
        cpu_shares: a.cpu_shares.unwrap_or(0),
        pids_limit: a.pids_limit,
        privileged: a.privileged,
        readonly_rootfs: a.read_only,
        cap_add: (!a.cap_add.is_empty()).then(|| a.cap_add.clone()),
        cap_drop: (!a.cap_drop.is_empty()).then(|| a.cap_drop.clone()),
        security_opt: (!a.security_opt.is_empty()).then(|| a.security_opt.clone()),
        ulimits: if a.ulimit.is_empty() { None } else { Some(a.ulimit.iter().map(|u| parse_ulimit(u)).collect::<anyhow::Result<_>>()?) },
        log_config: LogConfig { typ: a.log_driver.clone().unwrap_or_else(|| "json-file".into()), config: log_opts },
        network_mode: network,
        restart_policy: restart,
        shm_size: match &a.shm_size {
            Some(s) => crate::human::parse_ram(s).map_err(|e| anyhow!("invalid argument \"{s}\" for \"--shm-size\" flag: {e}"))?,
            None => 0,
        },
        init: None,
    };
    let attach_all = !a.detach && a.attach.is_empty();
    let config = ContainerConfig {
        hostname: a.hostname.clone().unwrap_or_default(),
        domainname: a.domainname.clone().unwrap_or_default(),
        user: a.user.clone().unwrap_or_default(),
        attach_stdin: a.interactive && !a.detach,
        attach_stdout: attach_all || a.attach.iter().any(|s| s.eq_ignore_ascii_case("stdout")),
        attach_stderr: attach_all || a.attach.iter().any(|s| s.eq_ignore_ascii_case("stderr")),
        tty: a.tty,
        open_stdin: a.interactive,
        stdin_once: a.interactive && !a.detach,
        env: Some(env),
        cmd: (!a.command.is_empty()).then(|| a.command.clone()),
        working_dir: a.workdir.clone().unwrap_or_default(),
        entrypoint: a.entrypoint.as_ref().map(|e| if e.is_empty() { Vec::new() } else { vec![e.clone()] }),
        labels: (!labels.is_empty()).then_some(labels),
        stop_signal: a.stop_signal.clone(),
        stop_timeout: a.stop_timeout,
        ..Default::default()
    };
    Ok(CreateRequest { name: a.name.clone(), image: a.image.clone(), config, host_config: hc })
}

/// `berth create`: prints the new id.
pub fn create(engine: &Engine, a: RunArgs) -> CmdResult {
    let id = engine.create(request(&a)?)?;
    println!("{id}");
    Ok(0)
}

/// `berth run`.
pub fn run(engine: &Engine, a: RunArgs) -> CmdResult {
    let req = request(&a)?;
    let id = engine.create(req)?;
    if a.detach {
        engine.start(&id, None)?;
        println!("{id}");
        return Ok(0);
    }
    let (mine, theirs) = UnixStream::pair().context("socketpair")?;
    engine.start(&id, Some(theirs))?;
    let code = attach_stream(engine, &id, mine, a.interactive, a.tty, a.sig_proxy && !a.tty)?;
    Ok(code)
}

/// `berth start`.
pub fn start(engine: &Engine, a: StartArgs) -> CmdResult {
    if a.attach || a.interactive {
        if a.containers.len() > 1 {
            bail!("you cannot start and attach multiple containers at once");
        }
        let id = engine.resolve(&a.containers[0])?;
        let rec = engine.record(&id)?;
        let (mine, theirs) = UnixStream::pair().context("socketpair")?;
        engine.start(&id, Some(theirs))?;
        return attach_stream(engine, &id, mine, a.interactive && rec.config.open_stdin, rec.config.tty, !rec.config.tty);
    }
    let mut failed = Vec::new();
    for c in &a.containers {
        match engine.resolve(c).and_then(|id| engine.start(&id, None)) {
            Ok(_) => println!("{c}"),
            Err(e) => {
                eprintln!("Error response from daemon: {}", e.message);
                failed.push(c.clone());
            }
        }
    }
    if failed.is_empty() {
        Ok(0)
    } else {
        Err(Exit { code: 1, message: format!("Error: failed to start containers: {}", failed.join(", ")) }.into())
    }
}

/// Restores the terminal's settings when dropped.
struct RawMode {
    saved: nix::sys::termios::Termios,
}

impl RawMode {
    fn enter() -> Option<RawMode> {
        use nix::sys::termios::*;
        let stdin = std::io::stdin();
        let saved = tcgetattr(&stdin).ok()?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(&stdin, SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = nix::sys::termios::tcsetattr(std::io::stdin(), nix::sys::termios::SetArg::TCSANOW, &self.saved);
    }
}

fn terminal_size() -> Option<(u16, u16)> {
    let mut ws = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ fills the struct.
    let r = unsafe { libc::ioctl(libc::STDIN_FILENO, libc::TIOCGWINSZ, &mut ws) };
    (r == 0 && ws.ws_row > 0).then_some((ws.ws_row, ws.ws_col))
}

/// Streams an attached container until it exits; returns its exit code.
pub fn attach_stream(engine: &Engine, id: &str, sock: UnixStream, interactive: bool, tty: bool, sig_proxy: bool) -> CmdResult {
    let stdin_is_tty = nix::unistd::isatty(std::io::stdin()).unwrap_or(false);
    let _raw = if tty && interactive && stdin_is_tty { RawMode::enter() } else { None };
    if tty {
        if let Some((r, c)) = terminal_size() {
            let mut p = Vec::with_capacity(4);
            p.extend_from_slice(&r.to_be_bytes());
            p.extend_from_slice(&c.to_be_bytes());
            let mut s = &sock;
            let _ = write_frame(&mut s, FRAME_RESIZE, &p);
        }
    }
    if sig_proxy {
        use nix::sys::signal::{SigSet, Signal};
        let mut set = SigSet::empty();
        for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP, Signal::SIGQUIT, Signal::SIGUSR1, Signal::SIGUSR2] {
            set.add(s);
        }
        // Blocked here and in every thread started after, so only the waiter below sees them.
        let _ = set.thread_block();
        let engine = engine.clone();
        let id = id.to_string();
        std::thread::spawn(move || loop {
            if let Ok(sig) = set.wait() {
                let _ = engine.kill(&id, sig as i32);
            }
        });
    }
    if interactive {
        let mut w = sock.try_clone().context("clone attach socket")?;
        std::thread::spawn(move || {
            let mut buf = [0u8; 32 * 1024];
            let mut stdin = std::io::stdin().lock();
            loop {
                match stdin.read(&mut buf) {
                    Ok(0) | Err(_) => {
                        let _ = write_frame(&mut w, FRAME_STDIN_EOF, &[]);
                        break;
                    }
                    Ok(n) => {
                        if write_frame(&mut w, FRAME_STDIN, &buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
        });
    }
    let mut r = std::io::BufReader::with_capacity(64 * 1024, &sock);
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    loop {
        match read_frame(&mut r) {
            Ok(Some((FRAME_STDOUT, d))) => {
                let mut o = stdout.lock();
                let _ = o.write_all(&d);
                let _ = o.flush();
            }
            Ok(Some((FRAME_STDERR, d))) => {
                let mut e = stderr.lock();
                let _ = e.write_all(&d);
                let _ = e.flush();
            }
            Ok(Some((FRAME_EXIT, d))) if d.len() == 4 => return Ok(i32::from_be_bytes([d[0], d[1], d[2], d[3]])),
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => {
                // The shim went away without a word (killed): whatever the state says.
                return Ok(engine.wait(id).unwrap_or(137));
            }
        }
    }
}
