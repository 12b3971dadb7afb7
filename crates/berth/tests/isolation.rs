//! What the container sees: namespaces, capabilities, seccomp, masked paths, devices,
//! descriptors, cgroup limits.

use crate::common::{cgroup_dirs, Berth};

fn sh(b: &Berth, extra: &[&str], script: &str) -> String {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["busybox", "sh", "-c", script]);
    let o = b.run(&args);
    assert_eq!(o.code, 0, "{o:?}");
    o.stdout
}

#[test]
fn namespaces_are_private() {
    let b = Berth::new();
    let out = sh(
        &b,
        &[],
        "echo $$; ps -o pid | wc -l; ls /sys/class/net; cat /proc/1/cmdline | tr '\\0' ' '",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1", "the command is pid 1");
    assert_eq!(
        (lines[2], lines[3]),
        ("eth0", "lo"),
        "the default bridge's eth0 and loopback"
    );
    let none = sh(&b, &["--network", "none"], "ls /sys/class/net");
    assert_eq!(none, "lo\n", "--network none: loopback only");
    for ns in ["pid", "mnt", "uts", "ipc", "net"] {
        let inside = sh(&b, &[], &format!("readlink /proc/self/ns/{ns}"));
        let outside = std::fs::read_link(format!("/proc/self/ns/{ns}")).unwrap();
        assert_ne!(
            inside.trim(),
            outside.to_string_lossy(),
            "{ns} namespace is new"
        );
    }
}

#[test]
fn default_capabilities_and_seccomp() {
    let b = Berth::new();
    let out = sh(
        &b,
        &[],
        "grep -E 'CapEff|CapBnd|CapInh|Seccomp:|NoNewPrivs' /proc/self/status",
    );
    assert!(
        out.contains("CapEff:\t00000000a80425fb"),
        "Docker's 14 capabilities: {out}"
    );
    assert!(out.contains("CapBnd:\t00000000a80425fb"), "{out}");
    assert!(out.contains("CapInh:\t0000000000000000"), "{out}");
    assert!(out.contains("Seccomp:\t2"), "filter mode: {out}");
    // CAP_SYS_ADMIN is absent and seccomp blocks mount/unshare anyway.
    let o = b.run(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "mount -t tmpfs t /mnt 2>&1; unshare -n true 2>&1; echo rc=$?",
    ]);
    assert!(
        o.stdout.contains("rc=1") && o.stdout.to_lowercase().contains("not permitted"),
        "{o:?}"
    );
    let out = sh(
        &b,
        &["--cap-drop", "ALL", "--cap-add", "NET_ADMIN"],
        "grep CapEff /proc/self/status",
    );
    assert!(out.contains("CapEff:\t0000000000001000"), "{out}");
    let out = sh(
        &b,
        &["--security-opt", "seccomp=unconfined"],
        "grep Seccomp: /proc/self/status",
    );
    assert!(out.contains("Seccomp:\t0"), "{out}");
    let prof = b.path().join("seccomp.json");
    std::fs::write(&prof, r#"{"defaultAction":"SCMP_ACT_ALLOW","archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":["SCMP_ARCH_X86"]},{"architecture":"SCMP_ARCH_AARCH64","subArchitectures":["SCMP_ARCH_ARM"]}],"syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1},{"names":["chmod","fchmodat"],"action":"SCMP_ACT_ERRNO","includes":{"caps":["CAP_SYS_ADMIN"]}}]}"#).unwrap();
    let out = sh(
        &b,
        &["--security-opt", &format!("seccomp={}", prof.display())],
        "mkdir /x 2>/dev/null || echo mkdir-denied; chmod 600 /tmp && echo chmod-ok",
    );
    assert_eq!(
        out, "mkdir-denied\nchmod-ok\n",
        "a custom profile, with its includes honoured"
    );
    let out = sh(
        &b,
        &["--security-opt", "no-new-privileges"],
        "grep NoNewPrivs /proc/self/status",
    );
    assert!(out.contains("NoNewPrivs:\t1"), "{out}");
    b.fails(
        &["run", "--rm", "--cap-add", "BOGUS", "busybox", "true"],
        125,
    );
}

#[test]
fn privileged_grants_what_the_host_has() {
    let b = Berth::new();
    let out = sh(
        &b,
        &["--privileged"],
        "grep -E 'CapEff|Seccomp:' /proc/self/status; mount -t tmpfs t /tmp && echo mounted",
    );
    let host_bnd = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("CapBnd"))
        .unwrap()
        .split('\t')
        .nth(1)
        .unwrap()
        .to_string();
    assert!(
        out.contains(&format!("CapEff:\t{host_bnd}")),
        "every capability the host's bounding set has: {out}"
    );
    assert!(
        out.contains("Seccomp:\t0") && out.contains("mounted"),
        "{out}"
    );
}

#[test]
fn masked_and_readonly_paths_and_devices() {
    let b = Berth::new();
    let out = sh(
        &b,
        &[],
        "cat /proc/keys | wc -c; ls /sys/firmware | wc -l; echo 1 > /proc/sys/kernel/domainname 2>/dev/null || echo ro-sys; \
         touch /sys/x 2>/dev/null || echo ro-sysfs; ls /dev | tr '\\n' ' '; echo; stat -c '%t:%T %a' /dev/null; \
         echo x > /dev/null && echo devnull-ok; head -c 4 /dev/urandom | wc -c",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "0", "/proc/keys masked");
    assert_eq!(lines[1], "0", "/sys/firmware masked");
    assert_eq!(lines[2], "ro-sys");
    assert_eq!(lines[3], "ro-sysfs");
    for d in [
        "null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "mqueue", "fd", "stdin",
        "stdout", "stderr", "ptmx",
    ] {
        assert!(
            lines[4].split(' ').any(|x| x == d),
            "/dev/{d} missing: {}",
            lines[4]
        );
    }
    assert_eq!(lines[5], "1:3 666");
    assert_eq!(lines[6], "devnull-ok");
    assert_eq!(lines[7], "4");
    // The device cgroup (v1) refuses a disk even with CAP_MKNOD.
    let o = b.run(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "mknod /tmp/sda b 8 0 && head -c 1 /tmp/sda",
    ]);
    assert_ne!(o.code, 0, "block device must not be readable: {o:?}");
}

#[test]
fn only_stdio_descriptors_reach_the_container() {
    let b = Berth::new();
    let out = sh(&b, &[], "ls /proc/self/fd | sort -n | tr '\\n' ' '");
    // 0 1 2 and the descriptor ls itself opened for the directory.
    assert_eq!(out.trim(), "0 1 2 3", "{out}");
    // The berth binary is nowhere to be reached: pid 1 is the container's own program.
    let out = sh(&b, &[], "readlink /proc/1/exe");
    assert_eq!(out.trim(), "/bin/busybox");
}

#[test]
fn read_only_root_and_etc_files() {
    let b = Berth::new();
    let o = b.run(&[
        "run",
        "--rm",
        "--read-only",
        "busybox",
        "sh",
        "-c",
        "touch /x 2>&1; echo rc=$?; touch /dev/shm/ok && echo shm-ok",
    ]);
    assert!(
        o.stdout.contains("Read-only file system") && o.stdout.contains("shm-ok"),
        "{o:?}"
    );
    let out = sh(&b, &["-h", "box"], "cat /etc/hostname; grep localhost /etc/hosts | head -1; test -s /etc/resolv.conf && echo resolv");
    assert_eq!(out, "box\n127.0.0.1\tlocalhost\nresolv\n");
}

#[test]
fn cgroup_limits_are_enforced_and_removed() {
    let b = Berth::new();
    let v2 = berth_runtime::CgroupVersion::detect() == berth_runtime::CgroupVersion::V2;
    let (mem, pids, cpu) = if v2 {
        (
            "/sys/fs/cgroup/memory.max",
            "/sys/fs/cgroup/pids.max",
            "/sys/fs/cgroup/cpu.max",
        )
    } else {
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/pids/pids.max",
            "/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
        )
    };
    let id = b
        .ok(&[
            "run",
            "-d",
            "-m",
            "32m",
            "--cpus",
            "0.5",
            "--pids-limit",
            "8",
            "--cpu-shares",
            "512",
            "busybox",
            "sleep",
            "60",
        ])
        .trim()
        .to_string();
    let dirs = cgroup_dirs(&id);
    assert!(!dirs.is_empty(), "the container has a cgroup under berth/");
    let out = b.run(&[
        "run",
        "--rm",
        "-m",
        "32m",
        "--cpus",
        "0.5",
        "--pids-limit",
        "8",
        "busybox",
        "sh",
        "-c",
        &format!("cat {mem} {pids} {cpu}"),
    ]);
    let vals: Vec<&str> = out.stdout.split_whitespace().collect();
    assert_eq!(vals[0], "33554432", "{out:?}");
    assert_eq!(vals[1], "8");
    assert_eq!(vals[2], "50000");
    // The pids limit really bites: 20 background sleeps cannot all start.
    let o = b.run(&[
        "run",
        "--rm",
        "--pids-limit",
        "8",
        "busybox",
        "sh",
        "-c",
        "for i in $(seq 20); do sleep 5 & done 2>/dev/null; echo started; wait",
    ]);
    assert!(
        o.stderr.contains("can't fork")
            || o.stderr.contains("Resource temporarily unavailable")
            || o.code != 0,
        "{o:?}"
    );
    // The memory limit really bites: allocating 64 MiB in a 16 MiB container gets OOM-killed.
    let o = b.run(&[
        "run",
        "--rm",
        "-m",
        "16m",
        "--memory-swap",
        "16m",
        "busybox",
        "sh",
        "-c",
        "x=$(head -c 67108864 /dev/zero | tr '\\0' a); echo survived",
    ]);
    assert_ne!(o.stdout.trim(), "survived", "{o:?}");
    b.ok(&["rm", "-f", &id]);
    assert!(
        cgroup_dirs(&id).is_empty(),
        "cgroups removed with the container"
    );
    b.fails(&["run", "--rm", "-m", "1m", "busybox", "true"], 125);
    b.fails(&["run", "--rm", "--cpus", "99", "busybox", "true"], 125);
}

#[test]
fn namespace_sharing_and_more_run_flags() {
    let b = Berth::new();
    let host_procs = std::fs::read_dir("/proc")
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .parse::<u32>()
                .is_ok()
        })
        .count();
    let n: usize = sh(&b, &["--pid", "host"], "ls /proc | grep -c '^[0-9]'")
        .trim()
        .parse()
        .unwrap();
    assert!(
        n > 5 && n + 50 > host_procs,
        "the host's processes are visible: {n} vs {host_procs}"
    );
    let host_name = nix::unistd::gethostname()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_eq!(sh(&b, &["--uts", "host"], "hostname").trim(), host_name);
    assert!(
        sh(&b, &["--network", "host"], "ls /sys/class/net")
            .lines()
            .count()
            >= 1
    );
    b.ok(&["run", "-d", "--name", "peer", "busybox", "sleep", "60"]);
    let out = sh(
        &b,
        &["--pid", "container:peer"],
        "ps -o comm | tr '\\n' ' '",
    );
    assert!(out.contains("sleep"), "{out}");
    let peer_net = b.ok(&["exec", "peer", "readlink", "/proc/self/ns/net"]);
    assert_eq!(
        sh(
            &b,
            &["--network", "container:peer"],
            "readlink /proc/self/ns/net"
        ),
        peer_net
    );
    b.fails(
        &[
            "run",
            "--rm",
            "--pid",
            "container:nosuch",
            "busybox",
            "true",
        ],
        125,
    );
    assert_eq!(
        sh(
            &b,
            &["--sysctl", "net.ipv4.ip_forward=1"],
            "cat /proc/sys/net/ipv4/ip_forward"
        ),
        "1\n"
    );
    b.fails(
        &[
            "run",
            "--rm",
            "--sysctl",
            "vm.swappiness=1",
            "busybox",
            "true",
        ],
        125,
    );
    assert_eq!(
        sh(
            &b,
            &["--oom-score-adj", "321"],
            "cat /proc/self/oom_score_adj"
        ),
        "321\n"
    );
    assert!(
        sh(&b, &["--group-add", "50", "--group-add", "nogroup"], "id")
            .contains("groups=0(root),50(staff),65534(nogroup)")
    );
    let out = sh(&b, &["--cpuset-cpus", "0", "--cpu-period", "50000", "--cpu-quota", "25000", "--memory-reservation", "10m"], "cat /sys/fs/cgroup/cpuset/cpuset.cpus /sys/fs/cgroup/cpu/cpu.cfs_period_us /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/memory/memory.soft_limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/cpuset.cpus /sys/fs/cgroup/cpu.max /sys/fs/cgroup/memory.low");
    assert!(
        out.starts_with("0\n") && out.contains("25000") && out.contains("10485760"),
        "{out}"
    );
    assert_eq!(
        sh(
            &b,
            &["--device", "/dev/null:/dev/mynull:rw"],
            "echo x > /dev/mynull && echo ok"
        ),
        "ok\n"
    );
    let o = b.run(&[
        "run",
        "--rm",
        "--device-cgroup-rule",
        "c 1:1 r",
        "busybox",
        "sh",
        "-c",
        "mknod /tmp/m c 1:1 2>&1; echo done",
    ]);
    assert!(o.stdout.contains("done"), "{o:?}");
    b.fails(
        &[
            "run",
            "--rm",
            "--device-cgroup-rule",
            "x y z",
            "busybox",
            "true",
        ],
        125,
    );
    let cid = b.path().join("cid");
    let id = b
        .ok(&[
            "run",
            "-d",
            "--cidfile",
            cid.to_str().unwrap(),
            "busybox",
            "true",
        ])
        .trim()
        .to_string();
    assert_eq!(std::fs::read_to_string(&cid).unwrap(), id);
    b.fails(
        &[
            "run",
            "--rm",
            "--cidfile",
            cid.to_str().unwrap(),
            "busybox",
            "true",
        ],
        125,
    );
    let lf = b.path().join("labels");
    std::fs::write(&lf, "# c\na=1\nb\n").unwrap();
    let id = b
        .ok(&["create", "--label-file", lf.to_str().unwrap(), "busybox"])
        .trim()
        .to_string();
    assert_eq!(
        b.inspect(&id, "{{json .Config.Labels}}"),
        "{\"a\":\"1\",\"b\":\"\"}"
    );
    b.ok(&[
        "run",
        "--log-driver",
        "none",
        "--name",
        "quiet",
        "busybox",
        "echo",
        "x",
    ]);
    let o = b.fails(&["logs", "quiet"], 1);
    assert!(o.stderr.contains("does not support reading"), "{o:?}");
}
