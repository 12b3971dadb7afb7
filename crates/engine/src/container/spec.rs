//! Turns a container record into an OCI runtime spec with Docker's defaults: namespaces,
//! mounts, devices, capabilities, masked paths, seccomp, cgroup resources and rlimits.

use super::{ContainerRecord, HostConfig};
use crate::error::{Error, Result};
use oci_spec::runtime::Spec;
use serde_json::{json, Value};
use std::path::Path;

/// Docker's default capabilities.
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Paths Docker hides from containers.
pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    // Physical page data of the whole host (what Docker still leaves readable).
    "/proc/kpagecount",
    "/proc/kpageflags",
    "/proc/kpagecgroup",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths Docker makes read-only in containers.
pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Every capability name the kernel may know, for `--privileged` and `--cap-add ALL`.
const ALL_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Normalises a capability name as Docker accepts it (`net_admin`, `NET_ADMIN`, `CAP_NET_ADMIN`).
pub fn normalize_cap(name: &str) -> Result<String> {
    let up = name.to_ascii_uppercase();
    if up == "ALL" {
        return Ok(up);
    }
    let full = if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    };
    if ALL_CAPS.contains(&full.as_str()) {
        Ok(full)
    } else {
        Err(Error::invalid(format!("invalid capability: {name}")))
    }
}

/// The capability set of a container: Docker's defaults with `--cap-add`/`--cap-drop` applied,
/// or everything for `--privileged`.
pub fn capabilities(hc: &HostConfig) -> Result<Vec<String>> {
    if hc.privileged {
        return Ok(ALL_CAPS.iter().map(|s| s.to_string()).collect());
    }
    let adds: Vec<String> = hc
        .cap_add
        .iter()
        .flatten()
        .map(|c| normalize_cap(c))
        .collect::<Result<_>>()?;
    let drops: Vec<String> = hc
        .cap_drop
        .iter()
        .flatten()
        .map(|c| normalize_cap(c))
        .collect::<Result<_>>()?;
    let mut caps: Vec<String> = if adds.iter().any(|c| c == "ALL") {
        ALL_CAPS.iter().map(|s| s.to_string()).collect()
    } else {
        DEFAULT_CAPS.iter().map(|s| s.to_string()).collect()
    };
    if drops.iter().any(|c| c == "ALL") {
        caps.clear();
    }
    caps.retain(|c| !drops.contains(c));
    for a in adds {
        if a != "ALL" && !caps.contains(&a) {
            caps.push(a);
        }
    }
    Ok(caps)
}

/// The user the process runs as, resolved against the image's /etc/passwd and /etc/group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResolvedUser {
    /// uid.
    pub uid: u32,
    /// gid.
    pub gid: u32,
    /// Supplementary groups.
    pub additional_gids: Vec<u32>,
    /// Home directory (for HOME).
    pub home: String,
}

/// Resolves `user` (`name`, `uid`, `name:group`, `uid:gid`) like Docker: names must exist in
/// the image's files; a numeric uid need not.
pub fn resolve_user(user: &str, passwd: Option<&str>, group: Option<&str>) -> Result<ResolvedUser> {
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let u = if u.is_empty() { "0" } else { u };
    let pw: Vec<Vec<&str>> = passwd
        .unwrap_or("")
        .lines()
        .map(|l| l.split(':').collect())
        .filter(|f: &Vec<&str>| f.len() >= 7)
        .collect();
    let gr: Vec<Vec<&str>> = group
        .unwrap_or("")
        .lines()
        .map(|l| l.split(':').collect())
        .filter(|f: &Vec<&str>| f.len() >= 4)
        .collect();
    let mut out = ResolvedUser {
        home: "/".into(),
        ..Default::default()
    };
    let entry = pw
        .iter()
        .find(|f| f[0] == u || (u.parse::<u32>().is_ok() && f[2] == u));
    let username;
    match (entry, u.parse::<u32>()) {
        (Some(f), _) => {
            out.uid = f[2].parse().unwrap_or(0);
            out.gid = f[3].parse().unwrap_or(0);
            out.home = f[5].to_string();
            username = Some(f[0].to_string());
        }
        (None, Ok(n)) => {
            out.uid = n;
            username = None;
        }
        (None, Err(_)) => {
            return Err(Error::invalid(format!(
                "unable to find user {u}: no matching entries in passwd file"
            )))
        }
    }
    if out.uid == 0 && entry.is_none() {
        out.home = "/root".into();
    }
    if let Some(g) = g {
        match (
            gr.iter()
                .find(|f| f[0] == g || (g.parse::<u32>().is_ok() && f[2] == g)),
            g.parse::<u32>(),
        ) {
            (Some(f), _) => out.gid = f[2].parse().unwrap_or(0),
            (None, Ok(n)) => out.gid = n,
            (None, Err(_)) => {
                return Err(Error::invalid(format!(
                    "unable to find group {g}: no matching entries in group file"
                )))
            }
        }
    }
    // The primary group is also a supplementary group, as `id` in a Docker container shows.
    out.additional_gids.push(out.gid);
    if let (None, Some(name)) = (g, &username) {
        for f in &gr {
            if f[3].split(',').any(|m| m == name) {
                if let Ok(gid) = f[2].parse::<u32>() {
                    if !out.additional_gids.contains(&gid) {
                        out.additional_gids.push(gid);
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Adds `--group-add` groups (names from the image's /etc/group, or numbers) to `user`'s
/// supplementary groups.
pub fn add_groups(user: &mut ResolvedUser, groups: &[String], group: Option<&str>) -> Result<()> {
    for g in groups {
        let gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => group
                .unwrap_or("")
                .lines()
                .find_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    (f.len() >= 3 && f[0] == g)
                        .then(|| f[2].parse().ok())
                        .flatten()
                })
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "Unable to find group {g}: no matching entries in group file"
                    ))
                })?,
        };
        if !user.additional_gids.contains(&gid) {
            user.additional_gids.push(gid);
        }
    }
    Ok(())
}

/// How a container gets one kind of namespace.
#[derive(Debug, Clone, PartialEq)]
pub enum NsMode {
    /// A new one of its own.
    Private,
    /// The host's (the kind is left out of the spec).
    Host,
    /// Another container's, by its /proc path.
    Join(std::path::PathBuf),
}

/// Everything [`build`] needs beyond the record.
pub struct SpecInputs<'a> {
    /// The container's directory (bundle).
    pub dir: &'a Path,
    /// The resolved user.
    pub user: &'a ResolvedUser,
    /// Full environment.
    pub env: Vec<String>,
    /// cgroup path relative to each hierarchy root.
    pub cgroup_path: String,
    /// Whether the host is on cgroup v2 (a private cgroup namespace then).
    pub cgroup_v2: bool,
    /// Current hard RLIMIT_NOFILE, the ceiling for Docker's default.
    pub nofile_hard: u64,
    /// pid, ipc, uts and network namespace modes (absent: private).
    pub namespaces: Vec<(&'static str, NsMode)>,
    /// Devices from `--device`, resolved on the host: (path in container, type, major, minor,
    /// permissions).
    pub devices: Vec<(String, char, i64, i64, String)>,
}

/// The memory, CPU and pids limits of `hc` as OCI `linux.resources` fields (used at start, and
/// by `update` on a running container).
pub fn limits(hc: &HostConfig) -> Value {
    let mut resources = json!({});
    if hc.memory > 0 {
        // Docker's default for -m without --memory-swap: as much swap as memory.
        let swap = match hc.memory_swap {
            0 => hc.memory * 2,
            s => s,
        };
        resources["memory"] = json!({"limit": hc.memory, "swap": swap});
    }
    if let Some(s) = hc.memory_swappiness.filter(|s| *s >= 0) {
        resources["memory"]["swappiness"] = json!(s);
    }
    if hc.memory_reservation > 0 {
        resources["memory"]["reservation"] = json!(hc.memory_reservation);
    }
    if hc.oom_kill_disable == Some(true) {
        resources["memory"]["disableOOMKiller"] = json!(true);
    }
    let mut cpu = serde_json::Map::new();
    if hc.cpu_shares > 0 {
        cpu.insert("shares".into(), json!(hc.cpu_shares));
    }
    if hc.nano_cpus > 0 {
        let period = 100_000i64;
        cpu.insert("period".into(), json!(period));
        cpu.insert("quota".into(), json!(hc.nano_cpus * period / 1_000_000_000));
    }
    if hc.cpu_period > 0 {
        cpu.insert("period".into(), json!(hc.cpu_period));
    }
    if hc.cpu_quota != 0 {
        cpu.insert("quota".into(), json!(hc.cpu_quota));
    }
    if !hc.cpuset_cpus.is_empty() {
        cpu.insert("cpus".into(), json!(hc.cpuset_cpus));
    }
    if !hc.cpuset_mems.is_empty() {
        cpu.insert("mems".into(), json!(hc.cpuset_mems));
    }
    if !cpu.is_empty() {
        resources["cpu"] = Value::Object(cpu);
    }
    if let Some(p) = hc.pids_limit.filter(|p| *p != 0) {
        resources["pids"] = json!({"limit": p});
    }
    if hc.blkio_weight > 0 {
        resources["blockIO"] = json!({"weight": hc.blkio_weight});
    }
    resources
}

/// Parses a `--device-cgroup-rule` (`c 1:3 rwm`, `b 8:* r`, `a *:* rwm`) into an OCI rule.
pub fn parse_device_rule(rule: &str) -> Result<Value> {
    let bad = || Error::invalid(format!("invalid device cgroup rule format: '{rule}'"));
    let f: Vec<&str> = rule.split_whitespace().collect();
    if f.len() != 3
        || !matches!(f[0], "a" | "b" | "c")
        || f[2].is_empty()
        || !f[2].chars().all(|c| "rwm".contains(c))
    {
        return Err(bad());
    }
    let (ma, mi) = f[1].split_once(':').ok_or_else(bad)?;
    let num = |x: &str| -> Result<Value> {
        if x == "*" {
            Ok(Value::Null)
        } else {
            x.parse::<i64>().map(|n| json!(n)).map_err(|_| bad())
        }
    };
    let mut v = json!({"allow": true, "type": f[0], "access": f[2]});
    if let Value::Number(n) = num(ma)? {
        v["major"] = Value::Number(n);
    }
    if let Value::Number(n) = num(mi)? {
        v["minor"] = Value::Number(n);
    }
    Ok(v)
}

/// Converts a seccomp profile in Docker's JSON format (`--security-opt seccomp=<file>`, whose
/// content the CLI passes) into the OCI form: the host's architectures from `archMap`, and the
/// rules whose `includes`/`excludes` (capabilities, architectures) fit this container.
pub fn from_docker_profile(profile: &str, caps: &[String]) -> Result<Value> {
    let v: Value = serde_json::from_str(profile)
        .map_err(|e| Error::invalid(format!("decoding seccomp profile failed: {e}")))?;
    let host = match std::env::consts::ARCH {
        "x86_64" => "SCMP_ARCH_X86_64",
        "aarch64" => "SCMP_ARCH_AARCH64",
        "x86" => "SCMP_ARCH_X86",
        "arm" => "SCMP_ARCH_ARM",
        "s390x" => "SCMP_ARCH_S390X",
        "powerpc64" => "SCMP_ARCH_PPC64LE",
        "riscv64" => "SCMP_ARCH_RISCV64",
        other => other,
    };
    let mut archs: Vec<Value> = Vec::new();
    if let Some(map) = v["archMap"].as_array() {
        for m in map.iter().filter(|m| m["architecture"] == host) {
            archs.push(m["architecture"].clone());
            archs.extend(
                m["subArchitectures"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
            );
        }
    } else if let Some(a) = v["architectures"].as_array() {
        archs = a.clone();
    }
    let fits = |cond: &Value, want: bool| -> bool {
        let has_caps = cond["caps"]
            .as_array()
            .map(|c| {
                c.iter()
                    .filter_map(Value::as_str)
                    .map(|c| caps.iter().any(|x| x == c))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        let on_arch = cond["arches"].as_array().map(|a| {
            a.iter().filter_map(Value::as_str).any(|a| {
                a == std::env::consts::ARCH
                    || a == host
                    || (a == "amd64" && host == "SCMP_ARCH_X86_64")
                    || (a == "arm64" && host == "SCMP_ARCH_AARCH64")
            })
        });
        if want {
            has_caps.iter().all(|x| *x) && on_arch.unwrap_or(true)
        } else {
            !has_caps.iter().any(|x| *x) && !on_arch.unwrap_or(false)
        }
    };
    let mut syscalls = Vec::new();
    for sc in v["syscalls"].as_array().cloned().unwrap_or_default() {
        if !fits(&sc["includes"], true) || !fits(&sc["excludes"], false) {
            continue;
        }
        let names = match (&sc["names"], &sc["name"]) {
            (Value::Array(n), _) => Value::Array(n.clone()),
            (_, Value::String(n)) => json!([n]),
            _ => continue,
        };
        let mut r = json!({"names": names, "action": sc["action"]});
        for k in ["errnoRet", "args"] {
            if !sc[k].is_null() {
                r[k] = sc[k].clone();
            }
        }
        syscalls.push(r);
    }
    let mut out =
        json!({"defaultAction": v["defaultAction"], "architectures": archs, "syscalls": syscalls});
    for k in ["defaultErrnoRet", "flags"] {
        if !v[k].is_null() {
            out[k] = v[k].clone();
        }
    }
    // Checked here so a bad profile fails at create, not at start.
    serde_json::from_value::<oci_spec::runtime::LinuxSeccomp>(out.clone())
        .map_err(|e| Error::invalid(format!("invalid seccomp profile: {e}")))?;
    Ok(out)
}

/// Builds the OCI spec for `rec`.
pub fn build(rec: &ContainerRecord, inp: &SpecInputs) -> Result<Spec> {
    let hc = &rec.host_config;
    let caps = capabilities(hc)?;
    let mut args = vec![rec.path.clone()];
    args.extend(rec.args.iter().cloned());
    let cwd = if rec.config.working_dir.is_empty() {
        "/".to_string()
    } else {
        rec.config.working_dir.clone()
    };

    // Docker's default is 1048576 (containerd's); without CAP_SYS_RESOURCE a hard limit can
    // only go down, so cap it at what we hold.
    let nofile = 1_048_576u64.min(inp.nofile_hard);
    let mut rlimits = vec![json!({"type": "RLIMIT_NOFILE", "hard": nofile, "soft": nofile})];
    for u in hc.ulimits.iter().flatten() {
        let typ = format!("RLIMIT_{}", u.name.to_ascii_uppercase());
        rlimits.retain(|r| r["type"] != typ.as_str());
        rlimits.push(json!({"type": typ, "hard": u.hard, "soft": u.soft}));
    }

    let no_new_privs = hc.security_opt.iter().flatten().any(|o| {
        o == "no-new-privileges" || o == "no-new-privileges:true" || o == "no-new-privileges=true"
    });
    let seccomp_unconfined = hc
        .security_opt
        .iter()
        .flatten()
        .any(|o| o == "seccomp=unconfined" || o == "seccomp:unconfined");

    let dir = inp.dir;
    let shm = if hc.shm_size > 0 {
        hc.shm_size
    } else {
        67_108_864
    };
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", if hc.privileged { "rw" } else { "ro" }]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", if hc.privileged { "rw" } else { "ro" }]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", format!("size={shm}")]}),
    ];
    for f in ["resolv.conf", "hostname", "hosts"] {
        mounts.push(json!({"destination": format!("/etc/{f}"), "type": "bind", "source": dir.join(f), "options": ["rbind", "rprivate"]}));
    }
    // The user's mounts replace a default at the same path, and come after the defaults so
    // they stack over them (a volume at /tmp, a bind over /etc/hosts).
    mounts.retain(|m| {
        !rec.mounts
            .iter()
            .any(|u| m["destination"] == u.destination.as_str())
    });
    for m in &rec.mounts {
        mounts.push(match m.typ {
            super::MountType::Tmpfs => {
                let mut opts = vec!["nosuid".to_string(), "nodev".to_string(), "noexec".to_string()];
                opts.extend(m.tmpfs_options.iter().cloned());
                json!({"destination": m.destination, "type": "tmpfs", "source": "tmpfs", "options": opts})
            }
            _ => {
                let prop = if m.propagation.is_empty() { "rprivate" } else { m.propagation.as_str() };
                let mut opts = vec!["rbind", prop];
                if !m.rw {
                    opts.push("ro");
                }
                json!({"destination": m.destination, "type": "bind", "source": m.source, "options": opts})
            }
        });
    }

    // Parents before children, as Docker orders them: a volume at /etc must not hide the
    // /etc/hostname mounted after it.
    mounts.sort_by_key(|m| {
        m["destination"]
            .as_str()
            .map(|d| d.split('/').filter(|c| !c.is_empty()).count())
            .unwrap_or(0)
    });

    let mode = |kind: &str| {
        inp.namespaces
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, m)| m.clone())
            .unwrap_or(NsMode::Private)
    };
    let mut namespaces = Vec::new();
    for kind in ["pid", "ipc", "uts", "mount", "network"] {
        match mode(kind) {
            NsMode::Private => namespaces.push(json!({"type": kind})),
            NsMode::Host => {}
            NsMode::Join(p) => namespaces.push(json!({"type": kind, "path": p})),
        }
    }
    if inp.cgroup_v2 && hc.cgroupns_mode != "host" {
        namespaces.push(json!({"type": "cgroup"}));
    }

    let mut resources = json!({
        "devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "access": "m"},
            {"allow": true, "type": "b", "access": "m"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 8, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 7, "access": "rwm"},
            {"allow": true, "type": "c", "major": 5, "minor": 0, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 9, "access": "rwm"},
            {"allow": true, "type": "c", "major": 5, "minor": 1, "access": "rwm"},
            {"allow": true, "type": "c", "major": 136, "access": "rwm"},
            {"allow": true, "type": "c", "major": 5, "minor": 2, "access": "rwm"},
            {"allow": true, "type": "c", "major": 10, "minor": 200, "access": "rwm"},
        ]
    });
    if hc.privileged {
        resources["devices"] = json!([{"allow": true, "access": "rwm"}]);
    }
    if let Value::Object(limits) = limits(hc) {
        for (k, v) in limits {
            resources[k] = v;
        }
    }

    let mut devices: Vec<Value> = [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)]
        .iter()
        .map(|(n, ma, mi)| json!({"path": format!("/dev/{n}"), "type": "c", "major": ma, "minor": mi, "fileMode": 0o666, "uid": 0, "gid": 0}))
        .collect();

    for (path, typ, major, minor, perms) in &inp.devices {
        devices.push(json!({"path": path, "type": typ.to_string(), "major": major, "minor": minor, "fileMode": 0o660, "uid": 0, "gid": 0}));
        if let Some(list) = resources["devices"].as_array_mut() {
            list.push(json!({"allow": true, "type": typ.to_string(), "major": major, "minor": minor, "access": perms}));
        }
    }
    for rule in hc.device_cgroup_rules.iter().flatten() {
        if let Some(list) = resources["devices"].as_array_mut() {
            list.push(parse_device_rule(rule)?);
        }
    }
    let mut linux = json!({
        "namespaces": namespaces,
        "cgroupsPath": inp.cgroup_path,
        "resources": resources,
        "devices": devices,
        "rootfsPropagation": "rprivate",
    });
    if let Some(sysctls) = &hc.sysctls {
        linux["sysctl"] = json!(sysctls);
    }
    if !hc.privileged {
        linux["maskedPaths"] = json!(MASKED_PATHS);
        linux["readonlyPaths"] = json!(READONLY_PATHS);
        let custom = hc.security_opt.iter().flatten().find_map(|o| {
            o.strip_prefix("seccomp=")
                .or_else(|| o.strip_prefix("seccomp:"))
                .filter(|p| *p != "unconfined")
        });
        if let Some(profile) = custom {
            linux["seccomp"] = from_docker_profile(profile, &caps)?;
        } else if !seccomp_unconfined {
            linux["seccomp"] = serde_json::to_value(super::seccomp_profile::default_profile(&caps))
                .map_err(|e| Error::internal(e.to_string()))?;
        }
    }

    let spec = json!({
        "ociVersion": "1.0.2",
        "root": {"path": dir.join("rootfs"), "readonly": hc.readonly_rootfs},
        "hostname": if mode("uts") == NsMode::Private { json!(rec.config.hostname) } else { Value::Null },
        "process": {
            "terminal": rec.config.tty,
            "user": {"uid": inp.user.uid, "gid": inp.user.gid, "additionalGids": inp.user.additional_gids},
            "oomScoreAdj": if hc.oom_score_adj != 0 { json!(hc.oom_score_adj) } else { Value::Null },
            "args": args,
            "env": inp.env,
            "cwd": cwd,
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": rlimits,
            "noNewPrivileges": no_new_privs,
        },
        "mounts": mounts,
        "linux": linux,
        "annotations": if hc.init == Some(true) { json!({berth_runtime::init_annotation(): "true"}) } else { json!({}) },
    });
    serde_json::from_value(spec).map_err(|e| Error::internal(format!("building the OCI spec: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_add_drop_all() {
        let mut hc = HostConfig::default();
        assert_eq!(capabilities(&hc).unwrap().len(), 14);
        hc.cap_drop = Some(vec!["ALL".into()]);
        hc.cap_add = Some(vec!["net_admin".into()]);
        assert_eq!(capabilities(&hc).unwrap(), vec!["CAP_NET_ADMIN"]);
        hc.cap_add = Some(vec!["bogus".into()]);
        assert!(capabilities(&hc).is_err());
    }

    #[test]
    fn users_resolve_like_docker() {
        let pw = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\nwww:x:33:33::/var/www:/bin/sh\n";
        let gr = "root:x:0:\nwww:x:33:\nstaff:x:50:www,other\nnogroup:x:65534:\n";
        let r = resolve_user("www", Some(pw), Some(gr)).unwrap();
        assert_eq!(
            (r.uid, r.gid, r.additional_gids.clone(), r.home.as_str()),
            (33, 33, vec![33, 50], "/var/www")
        );
        let r = resolve_user("1234:50", Some(pw), Some(gr)).unwrap();
        assert_eq!((r.uid, r.gid, r.additional_gids), (1234, 50, vec![50]));
        let r = resolve_user("nobody:staff", Some(pw), Some(gr)).unwrap();
        assert_eq!((r.uid, r.gid), (65534, 50));
        let e = resolve_user("ghost", Some(pw), Some(gr)).unwrap_err();
        assert_eq!(
            e.message,
            "unable to find user ghost: no matching entries in passwd file"
        );
        let r = resolve_user("", None, None).unwrap();
        assert_eq!((r.uid, r.home.as_str()), (0, "/root"));
    }
}
