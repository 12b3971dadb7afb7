//! start/stop/kill/restart/rm/rename/wait/prune, and the copy-on-write layer's persistence.

use crate::common::{cgroup_dirs, Berth};
use std::time::Instant;

#[test]
fn stop_sends_sigterm_then_sigkill_after_timeout() {
    let b = Berth::new();
    // A shell as pid 1 ignores SIGTERM (no handler), so stop must fall back to SIGKILL.
    let id = b
        .ok(&["run", "-d", "busybox", "sleep", "60"])
        .trim()
        .to_string();
    let t = Instant::now();
    assert_eq!(b.ok(&["stop", "-t", "1", &id]).trim(), id);
    let took = t.elapsed().as_secs_f64();
    assert!(took >= 0.9, "waited the timeout first ({took})");
    assert_eq!(
        b.inspect(&id, "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 137"
    );
    assert!(
        cgroup_dirs(&id).is_empty(),
        "cgroup removed with the container's exit"
    );

    // A process that handles SIGTERM exits promptly with its own code.
    let id = b
        .ok(&[
            "run",
            "-d",
            "busybox",
            "sh",
            "-c",
            "trap 'exit 42' TERM; while true; do sleep 0.05; done",
        ])
        .trim()
        .to_string();
    std::thread::sleep(std::time::Duration::from_millis(200));
    b.ok(&["stop", &id]);
    assert_eq!(b.inspect(&id, "{{.State.ExitCode}}"), "42");
    // Stopping a stopped container is fine.
    b.ok(&["stop", &id]);
}

#[test]
fn stop_signal_from_flag_is_used() {
    let b = Berth::new();
    let id = b
        .ok(&[
            "run",
            "-d",
            "--stop-signal",
            "USR1",
            "busybox",
            "sh",
            "-c",
            "trap 'exit 7' USR1; while true; do sleep 0.05; done",
        ])
        .trim()
        .to_string();
    std::thread::sleep(std::time::Duration::from_millis(200));
    b.ok(&["stop", "-t", "5", &id]);
    assert_eq!(b.inspect(&id, "{{.State.ExitCode}}"), "7");
    b.fails(&["create", "--stop-signal", "SIGNOPE", "busybox"], 125);
}

#[test]
fn kill_with_signal_and_not_running_error() {
    let b = Berth::new();
    let id = b
        .ok(&[
            "run",
            "-d",
            "busybox",
            "sh",
            "-c",
            "trap 'exit 5' HUP; while true; do sleep 0.05; done",
        ])
        .trim()
        .to_string();
    std::thread::sleep(std::time::Duration::from_millis(200));
    b.ok(&["kill", "-s", "HUP", &id]);
    assert_eq!(b.ok(&["wait", &id]).trim(), "5");
    let o = b.fails(&["kill", &id], 1);
    assert!(o.stderr.contains("is not running"), "{o:?}");
    b.fails(&["kill", "-s", "NOPE", &id], 1);
}

#[test]
fn changes_persist_across_restarts_but_not_into_the_image() {
    let b = Berth::new();
    let id = b
        .ok(&[
            "run",
            "--name",
            "keeper",
            "busybox",
            "sh",
            "-c",
            "echo kept > /root/note; rm -f /bin/sed",
        ])
        .trim()
        .to_string();
    let _ = id;
    let o = b.run(&["start", "-a", "keeper"]);
    assert_eq!(o.code, 0, "{o:?}");
    // The same container still has its change (second run appended nothing but saw the file).
    let out = b.run(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "cat /root/note 2>&1; ls /bin/sed",
    ]);
    assert!(
        out.stdout.contains("No such file"),
        "other containers never see it: {out:?}"
    );
    assert!(out.stdout.contains("/bin/sed"), "nor the deletion: {out:?}");
    b.ok(&["rm", "keeper"]);
    let id = b
        .ok(&[
            "create",
            "--name",
            "again",
            "busybox",
            "sh",
            "-c",
            "test -f /root/note || echo first > /root/note; cat /root/note",
        ])
        .trim()
        .to_string();
    assert_eq!(b.run(&["start", "-a", "again"]).stdout, "first\n");
    assert_eq!(
        b.run(&["start", "-a", "again"]).stdout,
        "first\n",
        "the rw layer survives stop/start"
    );
    assert!(b.container_dir(&id).join("upper/root/note").exists());
}

#[test]
fn restart_and_start_print_names() {
    let b = Berth::new();
    b.ok(&["run", "-d", "--name", "r1", "busybox", "sleep", "60"]);
    let pid1 = b.inspect("r1", "{{.State.Pid}}");
    assert_eq!(b.ok(&["restart", "-t", "0", "r1"]).trim(), "r1");
    let pid2 = b.inspect("r1", "{{.State.Pid}}");
    assert_ne!(pid1, pid2);
    assert_eq!(b.inspect("r1", "{{.State.Running}}"), "true");
    b.ok(&["stop", "-t", "0", "r1"]);
    assert_eq!(b.ok(&["start", "r1"]).trim(), "r1");
    assert_eq!(b.inspect("r1", "{{.State.Running}}"), "true");
}

#[test]
fn rm_refuses_running_unless_forced() {
    let b = Berth::new();
    let id = b
        .ok(&["run", "-d", "--name", "busy", "busybox", "sleep", "60"])
        .trim()
        .to_string();
    let o = b.fails(&["rm", "busy"], 1);
    assert!(
        o.stderr
            .contains("cannot remove container \"/busy\": container is running"),
        "{o:?}"
    );
    assert_eq!(b.ok(&["rm", "-f", "busy"]).trim(), "busy");
    assert!(!b.container_dir(&id).exists());
    assert!(cgroup_dirs(&id).is_empty());
    let o = b.fails(&["rm", "busy"], 1);
    assert!(o.stderr.contains("No such container: busy"), "{o:?}");
    // The name is free again.
    b.ok(&["create", "--name", "busy", "busybox"]);
}

#[test]
fn rename_and_wait_and_prune() {
    let b = Berth::new();
    b.ok(&["create", "--name", "old", "busybox", "sh", "-c", "exit 9"]);
    b.ok(&["rename", "old", "new"]);
    assert_eq!(b.inspect("new", "{{.Name}}"), "/new");
    b.fails(&["inspect", "--type", "container", "old"], 1);
    b.fails(&["rename", "new", "new"], 1);
    b.ok(&["start", "new"]);
    assert_eq!(b.ok(&["wait", "new"]).trim(), "9");
    b.ok(&["run", "-d", "--name", "alive", "busybox", "sleep", "60"]);
    let out = b.ok(&["container", "prune", "-f"]);
    assert!(out.starts_with("Deleted Containers:\n"), "{out}");
    assert!(out.contains("Total reclaimed space:"), "{out}");
    assert_eq!(
        b.ok(&["ps", "-a", "--format", "{{.Names}}"]).trim(),
        "alive"
    );
}

#[test]
fn detached_container_outlives_the_cli_and_rm_d_cleans_itself() {
    let b = Berth::new();
    let id = b
        .ok(&["run", "-d", "--rm", "busybox", "sh", "-c", "sleep 0.3"])
        .trim()
        .to_string();
    assert!(b.container_dir(&id).exists());
    b.wait_for(10, "--rm container removal by its shim", || {
        !b.container_dir(&id).exists()
    });
    assert!(cgroup_dirs(&id).is_empty());
}

#[test]
fn shim_keeps_working_after_giving_back_its_start_up_memory() {
    let b = Berth::new();
    // The shim trims itself after 0.5 s without activity; everything must still work after.
    let id = b
        .ok(&[
            "run",
            "-d",
            "-i",
            "busybox",
            "sh",
            "-c",
            "sleep 1.2; echo after-idle; read line; echo got-$line",
        ])
        .trim()
        .to_string();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(
        b.ok(&["exec", &id, "echo", "exec-after-idle"]),
        "exec-after-idle\n"
    );
    let o = b.run_stdin(&["attach", &id], b"x\n");
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("got-x"), "{o:?}");
    assert_eq!(b.ok(&["logs", &id]), "after-idle\ngot-x\n");
}
