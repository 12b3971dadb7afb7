//! The store after crashes and races: `system check` finds and repairs what a kill -9 leaves,
//! orphans are collected but never a live operation's, `rmi` racing `create` leaves no
//! container without its image, and shims outlive the cgroup of whoever started them.

use crate::common::Berth;
use std::path::Path;

/// `system check`'s output, and its exit code counting this root's problems only
/// ([`crate::common::own_problems`]).
fn check(b: &Berth, repair: bool) -> (String, i32) {
    let args: &[&str] = if repair {
        &["system", "check", "--repair"]
    } else {
        &["system", "check"]
    };
    let out = b.run(args);
    let left = crate::common::own_problems(&out.stdout)
        .iter()
        .any(|l| !l.ends_with("— repaired"));
    (out.stdout, i32::from(left))
}

fn hex(c: char) -> String {
    std::iter::repeat_n(c, 64).collect()
}

/// An unpacked layer no image names, as a pull killed before its record leaves it.
fn plant_orphan_layer(b: &Berth, c: char) -> std::path::PathBuf {
    let dir = b.path().join("layers").join(hex(c));
    std::fs::create_dir_all(dir.join("diff")).unwrap();
    std::fs::write(dir.join("diff/file"), "left by a killed pull").unwrap();
    std::fs::write(
        dir.join("layer.json"),
        format!("{{\"diff_id\":\"sha256:{}\",\"size\":21}}", hex(c)),
    )
    .unwrap();
    dir
}

#[test]
fn system_check_finds_and_repairs_what_crashes_leave() {
    let b = Berth::new();
    let (out, code) = check(&b, false);
    assert_eq!(code, 0, "{out}");
    b.ok(&["create", "--name", "kept", "busybox", "true"]);
    // A second image, whose removal is "killed" after its record went: its name and its
    // layer are left.
    b.ok(&["commit", "kept", "second:1"]);
    b.ok(&["run", "--name", "touched", "busybox", "touch", "/new"]);
    b.ok(&["commit", "touched", "third:1"]);
    b.ok(&["rm", "touched"]);
    let third = b.inspect("third:1", "{{.Id}}");
    let third_layer = b.inspect("third:1", "{{index .RootFS.Layers 1}}");
    std::fs::remove_file(
        b.path()
            .join("images")
            .join(format!("{}.json", &third[7..])),
    )
    .unwrap();
    let orphan = plant_orphan_layer(&b, 'a');
    // The blob of an image's only layer is corrupted on disk.
    let second_blob = {
        let v: serde_json::Value = serde_json::from_slice(
            &std::fs::read(
                b.path()
                    .join("images")
                    .join(format!("{}.json", &b.inspect("second:1", "{{.Id}}")[7..])),
            )
            .unwrap(),
        )
        .unwrap();
        v["layers"][1]["blob"].as_str().unwrap().to_string()
    };
    let blob_path = b.path().join("blobs/sha256").join(&second_blob[7..]);
    std::fs::write(&blob_path, "bit rot").unwrap();
    // A container whose state file was lost, and a name held for a container that is gone.
    let kept = b.inspect("kept", "{{.Id}}");
    std::fs::write(b.container_dir(&kept).join("state.json"), "{trunc").unwrap();
    std::fs::write(
        b.path().join("names/ghost"),
        format!("{}\n4194305\n", hex('b')),
    )
    .unwrap();
    set_old(&b.path().join("names/ghost"));
    std::fs::write(b.path().join("images/.x.json.tmp-4194301-ab"), "half").unwrap();

    let (out, code) = check(&b, false);
    assert_eq!(code, 1, "{out}");
    for want in [
        &format!("name third:1 points at missing image {third}") as &str,
        &format!("orphaned layer {third_layer}"),
        &format!("orphaned layer sha256:{}", hex('a')),
        &format!("blob {second_blob} is corrupt"),
        "image sha256:",
        "container kept has no readable state",
        "name ghost is held for a container that does not exist",
        "images/.x.json.tmp-4194301-ab of a process that is gone",
    ] {
        assert!(out.contains(want), "check did not report {want:?}:\n{out}");
    }
    assert!(
        orphan.exists(),
        "a check without --repair changed the store"
    );

    let (out, code) = check(&b, true);
    assert_eq!(code, 0, "{out}");
    assert!(
        !out.contains("damaged") || out.contains("repaired"),
        "{out}"
    );
    let (out, code) = check(&b, false);
    assert_eq!(code, 0, "{out}");
    assert!(!orphan.exists());
    // The damaged image is gone, so it can be made again; the rest works as before.
    let images = b.ok(&["images", "--format", "{{.Repository}}"]);
    assert!(
        !images.contains("second") && !images.contains("third"),
        "{images}"
    );
    assert_eq!(b.inspect("kept", "{{.State.Status}}"), "exited");
    b.ok(&["start", "kept"]);
    assert_eq!(
        b.ok(&["run", "--rm", "busybox", "echo", "whole"]).trim(),
        "whole"
    );
}

#[test]
fn a_forged_shim_command_line_is_never_killed_by_a_repair() {
    let b = Berth::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("shim"), "import time\ntime.sleep(30)\n").unwrap();
    // Any user can run `python3 shim --root <root> <id>`: a command line like a shim's.
    let mut forged: Vec<std::process::Child> = [hex('e'), "../system.slice/ssh.service".into()]
        .iter()
        .map(|id| {
            std::process::Command::new("python3")
                .current_dir(dir.path())
                .args(["shim", "--root", b.path().to_str().unwrap(), id])
                .spawn()
                .expect("this test needs python3")
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let (out, _) = check(&b, true);
    for f in forged.iter_mut() {
        assert!(
            f.try_wait().unwrap().is_none(),
            "a repair killed a process that is no shim:\n{out}"
        );
        let _ = f.kill();
        let _ = f.wait();
    }
    assert!(!out.contains("shim "), "{out}");
}

/// Sets a file's times an hour back.
fn set_old(p: &Path) {
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    let f = std::fs::File::options().write(true).open(p).unwrap();
    f.set_modified(old).unwrap();
}

#[test]
fn prune_collects_orphans_but_not_what_a_live_operation_just_stored() {
    let b = Berth::new();
    let orphan = plant_orphan_layer(&b, 'c');
    // A live pull (this test process) that began before the layer was stored.
    let op = b
        .path()
        .join("tmp")
        .join(format!("op-pull-{}-00ff", std::process::id()));
    std::fs::write(&op, "").unwrap();
    set_old(&op);
    b.ok(&["image", "prune", "-f"]);
    assert!(
        orphan.exists(),
        "a layer a live pull may still record was collected"
    );
    std::fs::remove_file(&op).unwrap();
    let out = b.ok(&["image", "prune", "-f"]);
    assert!(!orphan.exists(), "the orphan outlived the operation: {out}");
    assert!(out.contains("Total reclaimed space: 21B"), "{out}");
    assert_eq!(b.ok(&["run", "--rm", "busybox", "true"]), "");
}

#[test]
fn the_daemon_collects_orphans_when_it_starts() {
    let b = Berth::new();
    let orphan = plant_orphan_layer(&b, 'd');
    let _d = crate::api::Daemon::start(&b);
    b.wait_for(10, "the daemon to collect the orphan", || !orphan.exists());
    assert_eq!(b.ok(&["run", "--rm", "busybox", "echo", "ok"]).trim(), "ok");
}

#[test]
fn copying_from_a_running_container_leaves_the_daemon_no_descriptor() {
    let b = Berth::new();
    b.ok(&["run", "-d", "--name", "src", "busybox", "sleep", "60"]);
    let d = crate::api::Daemon::start(&b);
    let fds = || {
        std::fs::read_dir(format!("/proc/{}/fd", d.pid()))
            .unwrap()
            .count()
    };
    let dest = tempfile::tempdir().unwrap();
    let copy = |i: usize| {
        let out = d
            .cmd(&[
                "cp",
                "src:/etc/passwd",
                dest.path().join(format!("p{i}")).to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    };
    copy(0);
    let before = fds();
    for i in 1..=20 {
        copy(i);
    }
    // The blocking pool's threads come and go; a leak grows by one per copy.
    let after = fds();
    assert!(
        after < before + 5,
        "{before} descriptors before 20 copies, {after} after"
    );
}

#[test]
fn an_attached_client_that_stops_reading_does_not_stall_the_container() {
    let b = Berth::new();
    let script = "sleep 1; head -c 4000000 /dev/zero | tr '\\0' a | fold -w 100; echo done";
    let out = b.ok(&["run", "-d", "busybox", "sh", "-c", script]);
    let id = out.trim();
    // Attached, and never reading a byte.
    let _stalled =
        std::os::unix::net::UnixStream::connect(b.container_dir(id).join("attach.sock")).unwrap();
    let t = std::time::Instant::now();
    let out = b.run(&["wait", id]);
    assert_eq!(out.stdout.trim(), "0", "{out:?}");
    assert!(
        t.elapsed() < std::time::Duration::from_secs(30),
        "the container waited on its stalled client"
    );
    let last = b.ok(&["logs", "--tail", "1", id]);
    assert!(
        last.trim_end().ends_with("done"),
        "the log lost the end: {last}"
    );
}

#[test]
fn rmi_racing_create_never_leaves_a_container_without_its_image() {
    let b = Berth::new();
    let mut outcomes = (0, 0);
    for i in 0..12 {
        let name = format!("race:{i}");
        b.ok(&["commit", b.ok(&["create", "busybox", "true"]).trim(), &name]);
        let create = b
            .cmd(&["create", "--name", &format!("c{i}"), &name, "true"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let rmi = b.run(&["rmi", &name]);
        let created = create.wait_with_output().unwrap().status.success();
        match (created, rmi.code) {
            // The container came first: the image stays for it.
            (true, 1) => outcomes.0 += 1,
            // The image went first: the create fails, naming it.
            (false, 0) => outcomes.1 += 1,
            other => panic!("create and rmi both {other:?}: {}", rmi.stderr),
        }
        if created {
            b.ok(&["rm", &format!("c{i}")]);
        }
    }
    let (out, code) = check(&b, false);
    assert_eq!(code, 0, "a race left damage:\n{out}");
    eprintln!(
        "create first {} times, rmi first {} times",
        outcomes.0, outcomes.1
    );
}

/// The cgroup v1 `pids` hierarchy's (or v2's) path of process `pid`.
fn cgroup_of(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default()
}

#[test]
fn shims_outlive_the_cgroup_of_whoever_started_them() {
    let b = Berth::new();
    // The CLI runs in a cgroup of its own, as a login session's or a service's would be.
    let session = berth_cgroup("berth-test-session");
    let mut cmd = b.cmd(&["run", "-d", "--name", "survivor", "busybox", "sleep", "60"]);
    let procs: Vec<_> = session.iter().map(|d| d.join("cgroup.procs")).collect();
    // SAFETY: pre_exec only writes the child's own pid to cgroup files.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(move || {
            for p in &procs {
                std::fs::write(p, std::process::id().to_string())?;
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let id = b.inspect("survivor", "{{.Id}}");
    let st: serde_json::Value =
        serde_json::from_slice(&std::fs::read(b.container_dir(&id).join("state.json")).unwrap())
            .unwrap();
    let shim = st["shim_pid"].as_i64().unwrap() as i32;
    assert!(
        cgroup_of(shim).contains(&format!("berth-shim/{id}")),
        "the shim is not in a cgroup of its own: {}",
        cgroup_of(shim)
    );
    // The session ends: everything in its cgroup is killed.
    for d in &session {
        for pid in std::fs::read_to_string(d.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
        {
            // SAFETY: kill(2).
            unsafe { libc::kill(pid.trim().parse().unwrap_or(0), libc::SIGKILL) };
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(b.inspect("survivor", "{{.State.Running}}"), "true");
    b.ok(&["rm", "-f", "survivor"]);
    b.wait_for(5, "the shim's cgroup removed", || {
        !shim_cgroup_dirs(&id).iter().any(|d| d.exists())
    });
    for d in session {
        let _ = std::fs::remove_dir(d);
    }
}

/// Makes an empty cgroup `name` in every hierarchy; returns its directories.
fn berth_cgroup(name: &str) -> Vec<std::path::PathBuf> {
    // cpuset needs its cpus and mems set before it takes a process: left out.
    let dirs = hierarchies()
        .into_iter()
        .filter(|h| !h.to_string_lossy().contains("cpuset"))
        .map(|h| h.join(name))
        .collect::<Vec<_>>();
    for d in &dirs {
        let _ = std::fs::create_dir(d);
    }
    dirs
}

/// The shim cgroup's directories of container `id`.
fn shim_cgroup_dirs(id: &str) -> Vec<std::path::PathBuf> {
    hierarchies()
        .into_iter()
        .map(|h| h.join("berth-shim").join(id))
        .collect()
}

/// The cgroup hierarchies berth uses: v1's controller mounts, or the v2 root.
fn hierarchies() -> Vec<std::path::PathBuf> {
    let base = Path::new("/sys/fs/cgroup");
    if base.join("cgroup.controllers").exists() {
        return vec![base.to_path_buf()];
    }
    std::fs::read_dir(base)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.join("cgroup.procs").exists()
                && !p.ends_with("unified")
                && !std::fs::symlink_metadata(p)
                    .unwrap()
                    .file_type()
                    .is_symlink()
        })
        .collect()
}
