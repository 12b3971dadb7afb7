//! Supervision: restart policies, --init, pause/unpause.

use crate::common::Berth;
use std::time::{Duration, Instant};

#[test]
fn on_failure_restarts_exactly_max_retries_times() {
    let b = Berth::new();
    let id = b
        .ok(&[
            "run",
            "-d",
            "--restart",
            "on-failure:3",
            "busybox",
            "sh",
            "-c",
            "echo run; exit 1",
        ])
        .trim()
        .to_string();
    b.wait_for(20, "the restarts to end", || {
        b.inspect(&id, "{{.State.Status}}") == "exited"
    });
    assert_eq!(
        b.inspect(&id, "{{.RestartCount}} {{.State.ExitCode}}"),
        "3 1"
    );
    assert_eq!(
        b.ok(&["logs", &id]),
        "run\nrun\nrun\nrun\n",
        "the first run and three restarts"
    );
    // A success is not a failure: no restart.
    let id = b
        .ok(&["run", "-d", "--restart", "on-failure", "busybox", "true"])
        .trim()
        .to_string();
    b.wait_for(10, "exit", || {
        b.inspect(&id, "{{.State.Status}}") == "exited"
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(b.inspect(&id, "{{.RestartCount}}"), "0");
    b.fails(
        &["run", "--rm", "--restart", "always", "busybox", "true"],
        125,
    );
    b.fails(&["run", "--restart", "sometimes", "busybox", "true"], 125);
}

#[test]
fn always_comes_back_and_stop_or_kill_end_it() {
    let b = Berth::new();
    let id = b
        .ok(&[
            "run",
            "-d",
            "--restart",
            "always",
            "busybox",
            "sleep",
            "300",
        ])
        .trim()
        .to_string();
    let pid: i32 = b.inspect(&id, "{{.State.Pid}}").parse().unwrap();
    // SAFETY: kill(2) of the container's process from the host.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    b.wait_for(10, "the restart", || {
        b.inspect(&id, "{{.State.Running}} {{.RestartCount}}") == "true 1"
    });
    assert_ne!(b.inspect(&id, "{{.State.Pid}}"), pid.to_string());
    b.ok(&["stop", "-t", "0", &id]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        b.inspect(&id, "{{.State.Status}}"),
        "exited",
        "a user's stop is final"
    );
    let id = b
        .ok(&[
            "run",
            "-d",
            "--restart",
            "unless-stopped",
            "busybox",
            "sleep",
            "300",
        ])
        .trim()
        .to_string();
    b.ok(&["kill", &id]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        b.inspect(&id, "{{.State.Status}} {{.RestartCount}}"),
        "exited 0",
        "so is a user's kill"
    );
}

#[test]
fn init_forwards_signals_and_reaps() {
    let b = Berth::new();
    let id = b
        .ok(&["run", "-d", "--init", "busybox", "sleep", "1000"])
        .trim()
        .to_string();
    let ps = b.ok(&["exec", &id, "ps", "-o", "pid,comm"]);
    assert!(
        ps.contains("1 berth-init") && ps.contains("2 sleep"),
        "{ps}"
    );
    let t = Instant::now();
    b.ok(&["stop", &id]);
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "SIGTERM reached sleep instead of waiting out the 10 s grace: {:?}",
        t.elapsed()
    );
    assert_eq!(b.inspect(&id, "{{.State.ExitCode}}"), "143");
    // Orphans are reaped: no zombie is left behind by a shell that forgets its children.
    let out = b.ok(&[
        "run",
        "--rm",
        "--init",
        "busybox",
        "sh",
        "-c",
        "(sleep 0.1 &) ; sleep 0.4; ps -o stat | grep -c Z || true",
    ]);
    assert_eq!(out.trim(), "0");
    assert_eq!(
        b.run(&["run", "--rm", "--init", "busybox", "sh", "-c", "exit 7"])
            .code,
        7
    );
    b.fails(&["run", "--rm", "--init", "busybox", "nonexistent"], 127);
}

#[test]
fn pause_freezes_and_unpause_resumes() {
    let b = Berth::new();
    let id = b
        .ok(&[
            "run",
            "-d",
            "busybox",
            "sh",
            "-c",
            "i=0; while true; do i=$((i+1)); echo $i > /tmp/t; mv /tmp/t /tmp/n; sleep 0.05; done",
        ])
        .trim()
        .to_string();
    std::thread::sleep(Duration::from_millis(300));
    b.ok(&["pause", &id]);
    assert_eq!(
        b.inspect(&id, "{{.State.Status}} {{.State.Paused}}"),
        "paused true"
    );
    assert!(b
        .ok(&["ps", "--format", "{{.Status}}"])
        .contains("(Paused)"));
    // The shell renames each number into place, so /tmp/n is always whole, even when the
    // freeze catches it mid-write; the retries only wait for the first number.
    let read = |b: &Berth| -> u64 {
        for _ in 0..20 {
            let o = b
                .cmd(&["cp", &format!("{id}:/tmp/n"), "-"])
                .output()
                .unwrap();
            let mut ar = tar::Archive::new(&o.stdout[..]);
            let mut e = ar.entries().unwrap().next().unwrap().unwrap();
            let mut s = String::new();
            std::io::Read::read_to_string(&mut e, &mut s).unwrap();
            if let Ok(n) = s.trim().parse() {
                return n;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("/tmp/n never held a number");
    };
    let a = read(&b);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(read(&b), a, "the counter does not advance while paused");
    b.fails(&["exec", &id, "true"], 1);
    b.ok(&["unpause", &id]);
    std::thread::sleep(Duration::from_millis(400));
    assert!(read(&b) > a, "it advances again");
    b.fails(&["unpause", &id], 1);
    b.ok(&["pause", &id]);
    b.ok(&["rm", "-f", &id]);
}

#[test]
fn stats_match_the_cgroup_and_update_applies_live() {
    let b = Berth::new();
    let id = b
        .ok(&[
            "run",
            "-d",
            "-m",
            "64m",
            "busybox",
            "sh",
            "-c",
            "sleep 300 & sleep 300 & wait",
        ])
        .trim()
        .to_string();
    b.wait_for(5, "three processes", || {
        b.ok(&["stats", "--no-stream", "--format", "{{.PIDs}}", &id])
            .trim()
            == "3"
    });
    let out = b.ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.MemUsage}} {{.CPUPerc}}",
        &id,
    ]);
    let name = b.inspect(&id, "{{.Name}}");
    assert!(
        out.starts_with(&format!("{} ", name.trim_start_matches('/')))
            && out.contains("/ 64MiB")
            && out.contains('%'),
        "{out}"
    );
    let table = b.ok(&["stats", "--no-stream"]);
    assert!(
        table.starts_with("CONTAINER ID   NAME") && table.contains(&id[..12]),
        "{table}"
    );
    // An allocation that fits in 64 MiB...
    let alloc = [
        "exec",
        &id,
        "sh",
        "-c",
        "x=$(head -c 20000000 /dev/zero | tr '\\0' a); echo ok",
    ];
    assert_eq!(b.ok(&alloc), "ok\n");
    // ... no longer does once the limit is lowered on the running container.
    assert_eq!(
        b.ok(&[
            "update",
            "-m",
            "16m",
            "--memory-swap",
            "16m",
            "--pids-limit",
            "10",
            &id
        ])
        .trim(),
        id
    );
    assert_eq!(
        b.inspect(&id, "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}"),
        "16777216 10"
    );
    let o = b.run(&alloc);
    assert_ne!(o.stdout, "ok\n", "the lowered limit bites: {o:?}");
    b.ok(&["update", "--restart", "on-failure:2", &id]);
    assert_eq!(
        b.inspect(
            &id,
            "{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}"
        ),
        "on-failure 2"
    );
    b.fails(&["update", "-m", "1m", &id], 1);
    b.ok(&["update", "--cpuset-cpus", "0", &id]);
    assert_eq!(
        b.ok(&[
            "exec",
            &id,
            "sh",
            "-c",
            "cat /sys/fs/cgroup/cpuset/cpuset.cpus 2>/dev/null || cat /sys/fs/cgroup/cpuset.cpus"
        ]),
        "0\n"
    );
    b.fails(&["update", "--blkio-weight", "5", &id], 1);
    let ev = b.ok(&[
        "events",
        "--since",
        "1m",
        "--until",
        "0s",
        "--filter",
        "event=exec_die",
        "--format",
        "{{.Action}}",
    ]);
    assert!(ev.lines().count() >= 2, "{ev}");
}

#[test]
fn events_record_what_happens_in_order() {
    let b = Berth::new();
    // A follower started first sees what comes next (bounded by --until).
    let until = (std::time::SystemTime::now() + Duration::from_secs(3))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let follower = b
        .cmd(&[
            "events",
            "--until",
            &until,
            "--filter",
            "type=container",
            "--format",
            "{{.Action}} {{.Actor.Attributes.name}}",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    b.ok(&["run", "--rm", "--name", "ev1", "busybox", "true"]);
    let out = follower.wait_with_output().unwrap();
    let seen = String::from_utf8_lossy(&out.stdout);
    assert_eq!(seen, "create ev1\nstart ev1\ndie ev1\ndestroy ev1\n");
    // After the fact, with --since, and filters.
    b.fails(
        &["run", "--name", "ev2", "busybox", "sh", "-c", "exit 3"],
        3,
    );
    b.ok(&["tag", "busybox", "evimg:1"]);
    let die = b.ok(&[
        "events",
        "--since",
        "1m",
        "--until",
        "0s",
        "--filter",
        "container=ev2",
        "--filter",
        "event=die",
        "--format",
        "{{.Action}} {{index .Actor.Attributes \"exitCode\"}}",
    ]);
    assert_eq!(die, "die 3\n");
    let img = b.ok(&[
        "events",
        "--since",
        "1m",
        "--until",
        "0s",
        "--filter",
        "type=image",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}}",
    ]);
    assert!(
        img.contains("import ") && img.contains("tag evimg:1"),
        "{img}"
    );
    let plain = b.ok(&[
        "events",
        "--since",
        "1m",
        "--until",
        "0s",
        "--filter",
        "event=create",
    ]);
    assert!(
        plain
            .lines()
            .all(|l| l.contains(" container create ") && l.contains("image=busybox")),
        "{plain}"
    );
}

#[test]
fn oom_kill_is_recorded() {
    let b = Berth::new();
    let id = b
        .ok(&[
            "create",
            "-m",
            "16m",
            "--memory-swap",
            "16m",
            "busybox",
            "sh",
            "-c",
            "x=$(head -c 100000000 /dev/zero | tr '\\0' a)",
        ])
        .trim()
        .to_string();
    b.run(&["start", "-a", &id]);
    assert_eq!(
        b.inspect(&id, "{{.State.OOMKilled}} {{.State.ExitCode}}"),
        "true 137"
    );
    let ev = b.ok(&[
        "events",
        "--since",
        "1m",
        "--until",
        "0s",
        "--filter",
        "event=oom",
        "--format",
        "{{.Action}}",
    ]);
    assert_eq!(ev, "oom\n");
}

#[test]
fn healthchecks_turn_healthy_then_unhealthy() {
    let b = Berth::new();
    let id = b
        .ok(&[
            "run",
            "-d",
            "--health-cmd",
            "test -f /tmp/ok",
            "--health-interval",
            "200ms",
            "--health-retries",
            "2",
            "busybox",
            "sh",
            "-c",
            "touch /tmp/ok; sleep 1.5; rm /tmp/ok; sleep 100",
        ])
        .trim()
        .to_string();
    b.wait_for(5, "healthy", || {
        b.inspect(&id, "{{.State.Health.Status}}") == "healthy"
    });
    assert!(b
        .ok(&["ps", "--format", "{{.Status}}"])
        .contains("(healthy)"));
    // interval × retries after the probe starts failing, plus slack.
    b.wait_for(5, "unhealthy", || {
        b.inspect(&id, "{{.State.Health.Status}}") == "unhealthy"
    });
    let streak: i64 = b
        .inspect(&id, "{{.State.Health.FailingStreak}}")
        .parse()
        .unwrap();
    assert!(streak >= 2);
    assert_eq!(b.inspect(&id, "{{len .State.Health.Log}}"), "5");
    let ev = b.ok(&[
        "events",
        "--since",
        "1m",
        "--until",
        "0s",
        "--filter",
        "event=health_status: unhealthy",
        "--format",
        "{{.Action}}",
    ]);
    assert_eq!(ev, "health_status: unhealthy\n");
    // --no-healthcheck turns an image's check off.
    let c = b
        .ok(&["run", "-d", "--no-healthcheck", "busybox", "sleep", "30"])
        .trim()
        .to_string();
    assert_eq!(b.inspect(&c, "{{json .State.Health}}"), "null");
}

#[test]
fn boot_starts_what_restart_policies_ask_for() {
    let b = Berth::new();
    let always = b
        .ok(&[
            "run",
            "-d",
            "--restart",
            "always",
            "busybox",
            "sleep",
            "300",
        ])
        .trim()
        .to_string();
    let stopped = b
        .ok(&[
            "run",
            "-d",
            "--restart",
            "unless-stopped",
            "busybox",
            "sleep",
            "300",
        ])
        .trim()
        .to_string();
    let plain = b
        .ok(&["run", "-d", "busybox", "sleep", "300"])
        .trim()
        .to_string();
    b.ok(&["stop", "-t", "0", &stopped]);
    // A reboot: every shim and container process gone at once.
    for id in [&always, &plain] {
        let st: serde_json::Value =
            serde_json::from_slice(&std::fs::read(b.container_dir(id).join("state.json")).unwrap())
                .unwrap();
        // SAFETY: kill(2).
        unsafe {
            libc::kill(st["shim_pid"].as_i64().unwrap() as i32, libc::SIGKILL);
            libc::kill(st["pid"].as_i64().unwrap() as i32, libc::SIGKILL);
        }
    }
    b.wait_for(5, "the crash to be noticed", || {
        b.inspect(&always, "{{.State.Running}}") == "false"
            && b.inspect(&plain, "{{.State.Running}}") == "false"
    });
    let started = b.ok(&["system", "boot"]);
    assert_eq!(started.lines().count(), 1, "{started}");
    assert_eq!(b.inspect(&always, "{{.State.Running}}"), "true");
    assert_eq!(
        b.inspect(&stopped, "{{.State.Running}}"),
        "false",
        "unless-stopped stays down after a user's stop"
    );
    assert_eq!(b.inspect(&plain, "{{.State.Running}}"), "false");
}
