//! `run`, `create`, `start`: turning flags into a create request, starting, and streaming an
//! attached container's output (and input) until it exits.

use super::{RunArgs, StartArgs};
use crate::{CmdResult, Exit};
use anyhow::{anyhow, bail, Context};
use berth_engine::container::{HostConfig, LogConfig, RestartPolicy, Ulimit};
use berth_engine::image::ContainerConfig;
use berth_engine::shim::{
    read_frame, write_frame, FRAME_EXIT, FRAME_RESIZE, FRAME_STDERR, FRAME_STDIN, FRAME_STDIN_EOF,
    FRAME_STDOUT,
};
use berth_engine::{CreateRequest, Engine, ErrorKind};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

/// `KEY` alone takes the value from berth's own environment, or is dropped if unset (Docker).
pub fn env_entry(e: &str) -> Option<String> {
    if e.contains('=') {
        Some(e.to_string())
    } else {
        std::env::var(e).ok().map(|v| format!("{e}={v}"))
    }
}

/// Reads an `--env-file`: `KEY=value` lines, `#` comments and blank lines skipped.
pub fn read_env_file(path: &std::path::Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("open {}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let l = line.trim_start();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let key = l.split('=').next().unwrap_or("");
        if key.is_empty() || key.contains(char::is_whitespace) {
            bail!(
                "invalid environment variable at {}:{}: {line:?}",
                path.display(),
                n + 1
            );
        }
        out.extend(env_entry(l));
    }
    Ok(out)
}

fn parse_ulimit(s: &str) -> anyhow::Result<Ulimit> {
    let (name, vals) = s
        .split_once('=')
        .ok_or_else(|| anyhow!("invalid ulimit argument: {s}"))?;
    const KNOWN: &[&str] = &[
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
        "as",
    ];
    if !KNOWN.contains(&name) {
        bail!("invalid ulimit type: {name}");
    }
    let (soft, hard) = match vals.split_once(':') {
        Some((a, b)) => (a, b),
        None => (vals, vals),
    };
    let soft: i64 = soft
        .parse()
        .map_err(|_| anyhow!("invalid ulimit argument: {s}"))?;
    let hard: i64 = hard
        .parse()
        .map_err(|_| anyhow!("invalid ulimit argument: {s}"))?;
    if soft > hard {
        bail!("invalid ulimit argument: {s}: soft limit must be less than or equal to hard limit");
    }
    Ok(Ulimit {
        name: name.to_string(),
        soft,
        hard,
    })
}

/// Docker's `--restart` values: `no`, `always`, `unless-stopped`, `on-failure[:N]`.
pub fn parse_restart(r: Option<&str>) -> anyhow::Result<RestartPolicy> {
    Ok(match r {
        None | Some("") | Some("no") => RestartPolicy::default(),
        Some(r) => {
            let (name, count) = r.split_once(':').unwrap_or((r, ""));
            if !matches!(name, "always" | "unless-stopped" | "on-failure") {
                bail!("invalid restart policy '{name}'");
            }
            let n = if count.is_empty() {
                0
            } else {
                count.parse().map_err(|_| {
                    anyhow!("invalid restart policy format: maximum retry count must be an integer")
                })?
            };
            RestartPolicy {
                name: name.to_string(),
                maximum_retry_count: n,
            }
        }
    })
}

/// The `--health-*` flags as a Docker `Healthcheck` object (durations in nanoseconds).
fn health_flags(a: &RunArgs) -> anyhow::Result<Option<serde_json::Value>> {
    if a.no_healthcheck {
        if a.health_cmd.is_some() {
            bail!("--no-healthcheck conflicts with --health-* options");
        }
        return Ok(Some(serde_json::json!({"Test": ["NONE"]})));
    }
    let mut h = serde_json::Map::new();
    if let Some(c) = &a.health_cmd {
        h.insert("Test".into(), serde_json::json!(["CMD-SHELL", c]));
    }
    for (key, flag, v) in [
        ("Interval", "--health-interval", &a.health_interval),
        ("Timeout", "--health-timeout", &a.health_timeout),
        (
            "StartPeriod",
            "--health-start-period",
            &a.health_start_period,
        ),
        (
            "StartInterval",
            "--health-start-interval",
            &a.health_start_interval,
        ),
    ] {
        if let Some(v) = v {
            let d = berth_engine::health::parse_duration(v)
                .map_err(|e| anyhow!("invalid argument \"{v}\" for \"{flag}\" flag: {e}"))?;
            h.insert(key.into(), serde_json::json!(d.as_nanos() as u64));
        }
    }
    if let Some(r) = a.health_retries {
        if r < 0 {
            bail!("--health-retries cannot be negative");
        }
        h.insert("Retries".into(), serde_json::json!(r));
    }
    Ok((!h.is_empty()).then_some(serde_json::Value::Object(h)))
}

/// `--security-opt` values; a seccomp profile file is read here and passed by content, as the
/// docker CLI does.
fn security_opts(opts: &[String]) -> anyhow::Result<Vec<String>> {
    opts.iter()
        .map(|o| {
            match o
                .strip_prefix("seccomp=")
                .or_else(|| o.strip_prefix("seccomp:"))
            {
                Some(p) if p != "unconfined" => {
                    let text = std::fs::read_to_string(p)
                        .with_context(|| format!("opening seccomp profile ({p}) failed"))?;
                    Ok(format!("seccomp={text}"))
                }
                _ => Ok(o.clone()),
            }
        })
        .collect()
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
    for f in &a.label_file {
        let text = std::fs::read_to_string(f).with_context(|| format!("open {}", f.display()))?;
        for l in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let (k, v) = l.split_once('=').unwrap_or((l, ""));
            labels.insert(k.to_string(), v.to_string());
        }
    }
    for l in &a.label {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        labels.insert(k.to_string(), v.to_string());
    }
    let mut log_opts = BTreeMap::new();
    for o in &a.log_opt {
        let (k, v) = o
            .split_once('=')
            .ok_or_else(|| anyhow!("invalid key value pair format in logging opts: {o}"))?;
        log_opts.insert(k.to_string(), v.to_string());
    }
    let restart = parse_restart(a.restart.as_deref())?;
    if a.rm && !restart.name.is_empty() {
        bail!("Conflicting options: cannot specify both --restart and --rm");
    }
    let limits = a.limits.parse()?;
    let network = match a.network.as_deref() {
        None | Some("default") => "bridge".to_string(),
        Some(other) => other.to_string(),
    };
    // -p: "80/tcp" → host bindings; --expose and -p both expose.
    let mut port_bindings: BTreeMap<String, Vec<berth_engine::container::PortBinding>> =
        BTreeMap::new();
    let mut exposed: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    for p in &a.publish {
        for m in berth_engine::network::parse_publish(p)? {
            let key = format!("{}/{}", m.container_port, m.proto);
            exposed.insert(key.clone(), serde_json::json!({}));
            port_bindings
                .entry(key)
                .or_default()
                .push(berth_engine::container::PortBinding {
                    host_ip: m.host_ip,
                    host_port: if m.host_port == 0 {
                        String::new()
                    } else {
                        m.host_port.to_string()
                    },
                });
        }
    }
    for e in &a.expose {
        let (ports, proto) = e.split_once('/').unwrap_or((e.as_str(), "tcp"));
        let (lo, hi) = ports.split_once('-').unwrap_or((ports, ports));
        let (lo, hi): (u16, u16) = match (lo.parse(), hi.parse()) {
            (Ok(l), Ok(h)) if l <= h => (l, h),
            _ => bail!("invalid range format for --expose: {e}"),
        };
        for p in lo..=hi {
            exposed.insert(format!("{p}/{proto}"), serde_json::json!({}));
        }
    }
    // The engine's rules, with the docker CLI's words for a bad flag.
    use berth_engine::container::validate::{validate_dns_server, validate_extra_host};
    for d in &a.dns {
        if let Err(e) = validate_dns_server(d) {
            bail!("invalid argument \"{d}\" for \"--dns\" flag: {e}");
        }
    }
    for h in &a.add_host {
        if let Err(e) = validate_extra_host(h) {
            bail!("invalid argument \"{h}\" for \"--add-host\" flag: {e}");
        }
    }
    let mut sysctls = BTreeMap::new();
    for x in &a.sysctl {
        let (k, v) = x.split_once('=').ok_or_else(|| {
            anyhow!("invalid argument \"{x}\" for \"--sysctl\" flag: expected key=value")
        })?;
        sysctls.insert(k.to_string(), v.to_string());
    }
    let mut devices = Vec::new();
    for d in &a.device {
        let parts: Vec<&str> = d.split(':').collect();
        let (host, ctr, perms) = match parts.as_slice() {
            [h] => (*h, *h, "rwm"),
            [h, c] if c.chars().all(|x| "rwm".contains(x)) => (*h, *h, *c),
            [h, c] => (*h, *c, "rwm"),
            [h, c, p] => (*h, *c, *p),
            _ => bail!("invalid device specification: {d}"),
        };
        if !host.starts_with('/')
            || !ctr.starts_with("/dev/")
            || perms.is_empty()
            || !perms.chars().all(|x| "rwm".contains(x))
        {
            bail!("invalid device specification: {d}");
        }
        devices.push(berth_engine::container::DeviceMapping {
            path_on_host: host.into(),
            path_in_container: ctr.into(),
            cgroup_permissions: perms.into(),
        });
    }
    for r in &a.device_cgroup_rule {
        berth_engine::container::spec::parse_device_rule(r)?;
    }
    if let Some(c) = &a.cgroupns {
        if c != "host" && c != "private" {
            bail!("invalid cgroup namespace mode: {c} (host or private)");
        }
    }
    let hc = HostConfig {
        auto_remove: a.rm,
        memory: limits.memory.unwrap_or(0),
        memory_swap: limits.memory_swap.unwrap_or(0),
        nano_cpus: limits.nano_cpus.unwrap_or(0),
        cpu_shares: limits.cpu_shares.unwrap_or(0),
        pids_limit: limits.pids_limit,
        privileged: a.privileged,
        readonly_rootfs: a.read_only,
        cap_add: (!a.cap_add.is_empty()).then(|| a.cap_add.clone()),
        cap_drop: (!a.cap_drop.is_empty()).then(|| a.cap_drop.clone()),
        security_opt: (!a.security_opt.is_empty())
            .then(|| security_opts(&a.security_opt))
            .transpose()?,
        ulimits: if a.ulimit.is_empty() {
            None
        } else {
            Some(
                a.ulimit
                    .iter()
                    .map(|u| parse_ulimit(u))
                    .collect::<anyhow::Result<_>>()?,
            )
        },
        pid_mode: a.pid.clone().unwrap_or_default(),
        ipc_mode: a.ipc.clone().unwrap_or_default(),
        uts_mode: a.uts.clone().unwrap_or_default(),
        cgroupns_mode: a.cgroupns.clone().unwrap_or_default(),
        sysctls: (!sysctls.is_empty()).then_some(sysctls),
        oom_score_adj: a.oom_score_adj.unwrap_or(0),
        group_add: (!a.group_add.is_empty()).then(|| a.group_add.clone()),
        cpu_period: a.cpu_period.unwrap_or(0),
        cpu_quota: a.cpu_quota.unwrap_or(0),
        cpuset_cpus: a.cpuset_cpus.clone().unwrap_or_default(),
        cpuset_mems: a.cpuset_mems.clone().unwrap_or_default(),
        memory_reservation: match &a.memory_reservation {
            Some(m) => crate::human::parse_ram(m).map_err(|e| {
                anyhow!("invalid argument \"{m}\" for \"--memory-reservation\" flag: {e}")
            })?,
            None => 0,
        },
        oom_kill_disable: a.oom_kill_disable.then_some(true),
        blkio_weight: a.blkio_weight.unwrap_or(0),
        devices: (!devices.is_empty()).then_some(devices),
        device_cgroup_rules: (!a.device_cgroup_rule.is_empty())
            .then(|| a.device_cgroup_rule.clone()),
        log_config: LogConfig {
            typ: a.log_driver.clone().unwrap_or_else(|| "json-file".into()),
            config: log_opts,
        },
        network_mode: network,
        port_bindings: (!port_bindings.is_empty()).then_some(port_bindings),
        publish_all_ports: a.publish_all,
        extra_hosts: (!a.add_host.is_empty()).then(|| a.add_host.clone()),
        links: (!a.link.is_empty()).then(|| a.link.clone()),
        mac_address: a.mac_address.clone(),
        ipv4_address: a.ip.clone(),
        dns: (!a.dns.is_empty()).then(|| a.dns.clone()),
        dns_search: (!a.dns_search.is_empty()).then(|| a.dns_search.clone()),
        dns_options: (!a.dns_option.is_empty()).then(|| a.dns_option.clone()),
        aliases: (!a.network_alias.is_empty()).then(|| a.network_alias.clone()),
        extra_networks: None,
        disconnected: false,
        restart_policy: restart,
        shm_size: match &a.shm_size {
            Some(s) => crate::human::parse_ram(s)
                .map_err(|e| anyhow!("invalid argument \"{s}\" for \"--shm-size\" flag: {e}"))?,
            None => 0,
        },
        init: a.init.then_some(true),
        binds: (!a.volume.is_empty()).then(|| a.volume.clone()),
        tmpfs: (!a.tmpfs.is_empty()).then(|| {
            a.tmpfs
                .iter()
                .map(|t| match t.split_once(':') {
                    Some((d, o)) => (d.to_string(), o.to_string()),
                    None => (t.clone(), String::new()),
                })
                .collect()
        }),
        volumes_from: (!a.volumes_from.is_empty()).then(|| a.volumes_from.clone()),
        endpoint: None,
        runtime: a.runtime.clone().unwrap_or_default(),
        isolation: a.isolation.clone().unwrap_or_default(),
        volume_driver: a.volume_driver.clone().unwrap_or_default(),
        memory_swappiness: a.memory_swappiness.filter(|v| *v != -1),
    };
    let healthcheck = health_flags(a)?;
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
        entrypoint: a.entrypoint.as_ref().map(|e| {
            if e.is_empty() {
                Vec::new()
            } else {
                vec![e.clone()]
            }
        }),
        labels: (!labels.is_empty()).then_some(labels),
        stop_signal: a.stop_signal.clone(),
        stop_timeout: a.stop_timeout,
        healthcheck,
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        ..Default::default()
    };
    if a.volume.iter().any(|v| {
        v.rsplit_once(':')
            .is_some_and(|(_, o)| o.split(',').any(|x| x == "z" || x == "Z"))
    }) {
        eprintln!("note: the z/Z volume options (SELinux relabelling) are ignored: berth does not manage SELinux labels");
    }
    let mounts = a
        .mount
        .iter()
        .map(|m| berth_engine::container::mounts::parse_mount_flag(m))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CreateRequest {
        mounts,
        name: a.name.clone(),
        image: a.image.clone(),
        config,
        host_config: hc,
    })
}

/// `berth create`: prints the new id.
pub fn create(engine: &Engine, a: RunArgs) -> CmdResult {
    let id = create_container(engine, &a)?;
    println!("{id}");
    Ok(0)
}

/// Creates the container and, with `--cidfile`, records its id (refusing an existing file).
fn create_container(engine: &Engine, a: &RunArgs) -> anyhow::Result<String> {
    if let Some(f) = &a.cidfile {
        if f.exists() {
            bail!(
                "Container ID file found, make sure the other container isn't running or delete {}",
                f.display()
            );
        }
    }
    let req = request(a)?;
    let progress = || super::registry::Progress::new(true, false);
    match a.pull.as_str() {
        "always" => {
            super::registry::pull_image(engine, &req.image, a.platform.clone(), &progress())?;
        }
        "missing" | "never" => {}
        p => {
            bail!("invalid pull option: '{p}': must be one of \"always\", \"missing\" or \"never\"")
        }
    }
    let id = match engine.create(req.clone()) {
        Err(e) if e.kind == ErrorKind::ImageNotFound && a.pull == "missing" => {
            // The docker CLI's line, before it pulls what the engine did not have.
            let shown = berth_engine::reference::Reference::parse(&req.image)
                .map(|r| r.familiar())
                .unwrap_or_else(|_| req.image.clone());
            eprintln!("Unable to find image '{shown}' locally");
            super::registry::pull_image(engine, &req.image, a.platform.clone(), &progress())?;
            engine.create(req)?
        }
        r => r?,
    };
    if let Some(f) = &a.cidfile {
        std::fs::write(f, &id)
            .with_context(|| format!("write the container ID file {}", f.display()))?;
    }
    Ok(id)
}

/// `berth run`.
pub fn run(engine: &Engine, a: RunArgs) -> CmdResult {
    let id = create_container(engine, &a)?;
    if a.detach {
        engine.start_sized(&id, None, terminal_size())?;
        println!("{id}");
        return Ok(0);
    }
    let keys = detach_keys(a.detach_keys.as_deref())?;
    let (mine, theirs) = UnixStream::pair().context("socketpair")?;
    engine.start_sized(&id, Some(theirs), terminal_size())?;
    attach_stream(
        engine,
        &id,
        mine,
        AttachOptions {
            interactive: a.interactive,
            tty: a.tty,
            sig_proxy: a.sig_proxy && !a.tty,
            detach_keys: keys,
        },
    )
}

/// `berth start`.
pub fn start(engine: &Engine, a: StartArgs) -> CmdResult {
    if a.attach || a.interactive {
        if a.containers.len() > 1 {
            bail!("you cannot start and attach multiple containers at once");
        }
        let id = engine.resolve(&a.containers[0])?;
        let rec = engine.record(&id)?;
        let keys = detach_keys(a.detach_keys.as_deref())?;
        let (mine, theirs) = UnixStream::pair().context("socketpair")?;
        engine.start_sized(&id, Some(theirs), terminal_size())?;
        let o = AttachOptions {
            interactive: a.interactive && rec.config.open_stdin,
            tty: rec.config.tty,
            sig_proxy: !rec.config.tty,
            detach_keys: keys,
        };
        return attach_stream(engine, &id, mine, o);
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
        Err(Exit {
            code: 1,
            message: format!("Error: failed to start containers: {}", failed.join(", ")),
        }
        .into())
    }
}

/// The terminal settings to put back, shared with the signal thread so a SIGTERM or SIGHUP to
/// the CLI still leaves the user's terminal as it was.
static SAVED_TERMIOS: std::sync::Mutex<Option<nix::sys::termios::Termios>> =
    std::sync::Mutex::new(None);

pub fn restore_terminal() {
    if let Some(t) = SAVED_TERMIOS.lock().ok().and_then(|mut g| g.take()) {
        let _ =
            nix::sys::termios::tcsetattr(std::io::stdin(), nix::sys::termios::SetArg::TCSANOW, &t);
    }
}

/// Restores the terminal's settings when dropped (every way out of an attach).
pub struct RawMode;

impl RawMode {
    /// Puts the terminal on stdin into raw mode.
    pub fn enter() -> Option<RawMode> {
        use nix::sys::termios::*;
        let stdin = std::io::stdin();
        let saved = tcgetattr(&stdin).ok()?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        *SAVED_TERMIOS.lock().ok()? = Some(saved);
        tcsetattr(&stdin, SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode)
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// The host terminal's size (rows, columns), if stdin is a terminal.
pub fn terminal_size() -> Option<(u16, u16)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ fills the struct.
    let r = unsafe { libc::ioctl(libc::STDIN_FILENO, libc::TIOCGWINSZ, &mut ws) };
    (r == 0 && ws.ws_row > 0).then_some((ws.ws_row, ws.ws_col))
}

/// Docker's detach-key syntax: comma-separated `ctrl-<x>` or single characters.
pub fn parse_detach_keys(s: &str) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    for part in s.split(',') {
        let p = part.trim();
        let b = if let Some(k) = p.strip_prefix("ctrl-") {
            let c = k
                .chars()
                .next()
                .filter(|_| k.chars().count() == 1)
                .ok_or_else(|| anyhow!("Invalid detach keys ({s}) provided"))?;
            match c {
                'a'..='z' => c as u8 - b'a' + 1,
                '@' => 0,
                '[' => 27,
                '\\' => 28,
                ']' => 29,
                '^' => 30,
                '_' => 31,
                _ => bail!("Invalid detach keys ({s}) provided"),
            }
        } else if p.chars().count() == 1 && p.is_ascii() {
            p.as_bytes()[0]
        } else {
            bail!("Invalid detach keys ({s}) provided");
        };
        out.push(b);
    }
    Ok(out)
}

/// The detach sequence: the flag, else `detachKeys` of berth's (or docker's) config file,
/// else Docker's ctrl-p,ctrl-q.
pub fn detach_keys(flag: Option<&str>) -> anyhow::Result<Vec<u8>> {
    if let Some(f) = flag {
        return parse_detach_keys(f);
    }
    if let Some(home) = std::env::var_os("HOME") {
        for cfg in [".berth/config.json", ".docker/config.json"] {
            let p = std::path::Path::new(&home).join(cfg);
            if let Ok(data) = std::fs::read(&p) {
                if let Some(k) = serde_json::from_slice::<serde_json::Value>(&data)
                    .ok()
                    .and_then(|v| v["detachKeys"].as_str().map(String::from))
                {
                    return parse_detach_keys(&k).with_context(|| format!("in {}", p.display()));
                }
            }
        }
    }
    Ok(vec![16, 17])
}

/// Finds the detach sequence in what the user types; keys that only started the sequence are
/// passed on unchanged when the next key does not continue it.
pub struct DetachMatcher {
    keys: Vec<u8>,
    matched: usize,
}

impl DetachMatcher {
    /// A matcher for `keys` (empty: never detaches).
    pub fn new(keys: Vec<u8>) -> Self {
        DetachMatcher { keys, matched: 0 }
    }

    /// Feeds input; returns the bytes to forward and whether the sequence completed.
    pub fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if self.keys.is_empty() {
                out.push(b);
                continue;
            }
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return (out, true);
                }
                continue;
            }
            // The partial sequence was just keys after all.
            out.extend_from_slice(&self.keys[..self.matched]);
            self.matched = 0;
            if b == self.keys[0] {
                self.matched = 1;
            } else {
                out.push(b);
            }
        }
        (out, false)
    }
}

/// How to attach.
pub struct AttachOptions {
    /// Forward our stdin.
    pub interactive: bool,
    /// The container has a terminal: raw mode, resizes, one output stream.
    pub tty: bool,
    /// Forward signals sent to the CLI to the container.
    pub sig_proxy: bool,
    /// The detach sequence.
    pub detach_keys: Vec<u8>,
}

fn send(w: &std::sync::Mutex<UnixStream>, kind: u8, data: &[u8]) -> bool {
    match w.lock() {
        Ok(mut g) => write_frame(&mut *g, kind, data).is_ok(),
        Err(_) => false,
    }
}

fn resize_frame(w: &std::sync::Mutex<UnixStream>) {
    if let Some((r, c)) = terminal_size() {
        let mut p = Vec::with_capacity(4);
        p.extend_from_slice(&r.to_be_bytes());
        p.extend_from_slice(&c.to_be_bytes());
        send(w, FRAME_RESIZE, &p);
    }
}

/// Streams an attached container until it exits (returns its exit code) or the user detaches
/// (returns 0, the container keeps running).
pub fn attach_stream(engine: &Engine, id: &str, sock: UnixStream, o: AttachOptions) -> CmdResult {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let stdin_is_tty = nix::unistd::isatty(std::io::stdin()).unwrap_or(false);
    let _raw = if o.tty && o.interactive && stdin_is_tty {
        RawMode::enter()
    } else {
        None
    };
    let writer = Arc::new(std::sync::Mutex::new(
        sock.try_clone().context("clone attach socket")?,
    ));
    let detached = Arc::new(AtomicBool::new(false));
    if o.tty {
        resize_frame(&writer);
    }
    {
        use nix::sys::signal::Signal;
        let set = forwarded_signals();
        // Blocked here and in every thread started after, so only the waiter below sees them.
        let _ = set.thread_block();
        let engine = engine.clone();
        let id = id.to_string();
        let w = writer.clone();
        let (tty, proxy) = (o.tty, o.sig_proxy);
        std::thread::spawn(move || loop {
            let Ok(sig) = set.wait() else { continue };
            if sig == Signal::SIGWINCH {
                if tty {
                    resize_frame(&w);
                }
            } else if proxy {
                let _ = engine.kill(&id, sig as i32);
            } else if matches!(
                sig,
                Signal::SIGTERM | Signal::SIGHUP | Signal::SIGINT | Signal::SIGQUIT
            ) {
                restore_terminal();
                std::process::exit(128 + sig as i32);
            }
        });
    }
    if o.interactive {
        let w = writer.clone();
        let det = detached.clone();
        let sock_for_detach = sock.try_clone().context("clone attach socket")?;
        let mut matcher = DetachMatcher::new(o.detach_keys);
        std::thread::spawn(move || {
            let mut buf = [0u8; 32 * 1024];
            let mut stdin = std::io::stdin().lock();
            loop {
                match stdin.read(&mut buf) {
                    Ok(0) | Err(_) => {
                        send(&w, FRAME_STDIN_EOF, &[]);
                        break;
                    }
                    Ok(n) => {
                        let (data, detach) = matcher.feed(&buf[..n]);
                        if !data.is_empty() && !send(&w, FRAME_STDIN, &data) {
                            break;
                        }
                        if detach {
                            det.store(true, Ordering::SeqCst);
                            let _ = sock_for_detach.shutdown(std::net::Shutdown::Both);
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
                let mut out = stdout.lock();
                let _ = out.write_all(&d);
                let _ = out.flush();
            }
            Ok(Some((FRAME_STDERR, d))) => {
                let mut e = stderr.lock();
                let _ = e.write_all(&d);
                let _ = e.flush();
            }
            Ok(Some((FRAME_EXIT, d))) if d.len() == 4 => {
                return Ok(i32::from_be_bytes([d[0], d[1], d[2], d[3]]))
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => {
                if detached.load(Ordering::SeqCst) {
                    return Ok(0);
                }
                // The shim went away without a word (killed): whatever the state says.
                return Ok(engine.wait(id).unwrap_or(137));
            }
        }
    }
}

/// `berth attach`.
pub fn attach(engine: &Engine, a: super::AttachArgs) -> CmdResult {
    let id = engine.resolve(&a.container)?;
    let rec = engine.record(&id)?;
    let st = engine.state(&id)?;
    if st.status == berth_engine::container::Status::Paused {
        return Err(Exit {
            code: 1,
            message: "You cannot attach to a paused container, unpause it first".into(),
        }
        .into());
    }
    if st.status != berth_engine::container::Status::Running {
        return Err(Exit {
            code: 1,
            message: "You cannot attach to a stopped container, start it first".into(),
        }
        .into());
    }
    let sock = berth_engine::shim::connect(&engine.containers.dir(&id))
        .context("connect to the container's shim")?;
    let keys = detach_keys(a.detach_keys.as_deref())?;
    attach_stream(
        engine,
        &id,
        sock,
        AttachOptions {
            interactive: !a.no_stdin && rec.config.open_stdin,
            tty: rec.config.tty,
            sig_proxy: a.sig_proxy && !rec.config.tty,
            detach_keys: keys,
        },
    )
}

/// The signals an attached CLI takes over: forwarded to the container (or, for SIGWINCH,
/// turned into a resize); blocked and waited for in one thread.
pub(crate) fn forwarded_signals() -> nix::sys::signal::SigSet {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGWINCH,
    ] {
        set.add(s);
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_parse_like_docker() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(parse_detach_keys("ctrl-a,x").unwrap(), vec![1, b'x']);
        assert_eq!(parse_detach_keys("ctrl-@,ctrl-_").unwrap(), vec![0, 31]);
        assert!(parse_detach_keys("ctrl-").is_err());
        assert!(parse_detach_keys("ctrl-pp").is_err());
        assert!(parse_detach_keys("abc").is_err());
    }

    #[test]
    fn matcher_detaches_and_passes_partial_sequences_through() {
        let mut m = DetachMatcher::new(vec![16, 17]);
        assert_eq!(m.feed(b"ls\r"), (b"ls\r".to_vec(), false));
        assert_eq!(m.feed(&[16]), (vec![], false));
        assert_eq!(
            m.feed(b"x"),
            (vec![16, b'x'], false),
            "ctrl-p then x reaches the container"
        );
        assert_eq!(m.feed(&[16, 16]), (vec![16], false));
        assert_eq!(m.feed(&[17, b'z']), (vec![], true));
        let mut never = DetachMatcher::new(vec![]);
        assert_eq!(never.feed(&[16, 17]), (vec![16, 17], false));
    }
}
