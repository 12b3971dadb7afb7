//! `run`/`create` flags translated into the engine's create request.

use super::RunArgs;
use anyhow::{anyhow, bail, Context};
use berth_engine::container::{HostConfig, LogConfig, RestartPolicy, Ulimit};
use berth_engine::image::ContainerConfig;
use berth_engine::CreateRequest;
use std::collections::BTreeMap;

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
        build_step: false,
    })
}
