//! Crashes and concurrency: kill -9 at awkward moments, many processes on one root.

use crate::common::{cgroup_dirs, Berth};

#[test]
fn killed_shim_is_noticed_and_cleaned_up() {
    let b = Berth::new();
    let id = b
        .ok(&["run", "-d", "busybox", "sleep", "60"])
        .trim()
        .to_string();
    let st: serde_json::Value =
        serde_json::from_slice(&std::fs::read(b.container_dir(&id).join("state.json")).unwrap())
            .unwrap();
    let shim = st["shim_pid"].as_i64().unwrap() as i32;
    let pid = st["pid"].as_i64().unwrap() as i32;
    // SAFETY: kill(2).
    unsafe { libc::kill(shim, libc::SIGKILL) };
    b.wait_for(5, "shim death", || {
        !std::path::Path::new(&format!("/proc/{shim}")).exists()
            || std::fs::read_to_string(format!("/proc/{shim}/stat"))
                .map(|s| s.contains(") Z"))
                .unwrap_or(true)
    });
    let ps = b.ok(&["ps", "-a", "--format", "{{.Status}}"]);
    assert!(ps.starts_with("Exited (137)"), "{ps}");
    b.wait_for(5, "container process killed", || {
        !std::path::Path::new(&format!("/proc/{pid}/cmdline")).exists()
            || std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| c.is_empty())
                .unwrap_or(true)
    });
    assert!(cgroup_dirs(&id).is_empty());
    let shim_cgroups: Vec<_> = std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .map(|h| h.path().join("berth-shim").join(&id))
        .filter(|d| d.exists())
        .collect();
    assert!(
        shim_cgroups.is_empty(),
        "the killed shim's cgroup stayed: {shim_cgroups:?}"
    );
    b.ok(&["start", &id]);
    assert_eq!(
        b.inspect(&id, "{{.State.Running}}"),
        "true",
        "restartable after the crash"
    );
}

#[test]
fn leftovers_of_dead_processes_are_swept() {
    let b = Berth::new();
    let stale = b.path().join("tmp/layer-999999-deadbeef");
    std::fs::create_dir_all(stale.join("diff/etc")).unwrap();
    std::fs::write(stale.join("diff/etc/x"), "half").unwrap();
    b.ok(&["images"]);
    assert!(
        !stale.exists(),
        "the next command removes a crashed process's temp files"
    );
}

#[test]
fn killed_import_leaves_no_trace() {
    let b = Berth::new();
    let before = std::fs::read_dir(b.path().join("layers")).unwrap().count();
    // An import that never finishes: kill -9 it while it reads stdin.
    let mut child = b
        .cmd(&["import", "-", "half:1"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let si = child.stdin.as_mut().unwrap();
        si.write_all(&std::fs::read(crate::common::busybox_tar()).unwrap()[..100_000])
            .unwrap();
        si.flush().unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(b
        .ok(&["images", "--format", "{{.Repository}}"])
        .lines()
        .all(|l| l != "half"));
    assert_eq!(
        std::fs::read_dir(b.path().join("layers")).unwrap().count(),
        before
    );
    assert_eq!(std::fs::read_dir(b.path().join("tmp")).unwrap().count(), 0);
}

#[test]
fn concurrent_runs_share_one_root_safely() {
    let b = Berth::new();
    let mut kids = Vec::new();
    for i in 0..6 {
        // Two processes race for each name: exactly one of each pair wins.
        let name = format!("racer{}", i / 2);
        kids.push(
            b.cmd(&["run", "-d", "--name", &name, "busybox", "sleep", "30"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        );
    }
    let codes: Vec<i32> = kids
        .into_iter()
        .map(|mut k| k.wait().unwrap().code().unwrap())
        .collect();
    assert_eq!(codes.iter().filter(|c| **c == 0).count(), 3, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == 125).count(), 3, "{codes:?}");
    let names = b.ok(&["ps", "--format", "{{.Names}}"]);
    let mut names: Vec<&str> = names.lines().collect();
    names.sort();
    assert_eq!(names, vec!["racer0", "racer1", "racer2"]);
    // Parallel imports of the same layer end with one layer directory.
    let mut kids = Vec::new();
    for i in 0..4 {
        kids.push(
            b.cmd(&[
                "import",
                crate::common::busybox_tar().to_str().unwrap(),
                &format!("par:{i}"),
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap(),
        );
    }
    for mut k in kids {
        assert!(k.wait().unwrap().success());
    }
    assert_eq!(
        std::fs::read_dir(b.path().join("layers")).unwrap().count(),
        1
    );
}

#[test]
fn version_and_info() {
    let b = Berth::new();
    let v = b.ok(&["-v"]);
    assert!(v.starts_with("berth version "), "{v}");
    let info = b.ok(&["info"]);
    assert!(
        info.contains("Storage Driver: overlay2")
            && info.contains("Cgroup Version:")
            && info.contains("Images: 1"),
        "{info}"
    );
    assert!(info.contains(&b.path().display().to_string()));
    assert_eq!(
        b.ok(&["info", "--format", "{{.Images}} {{.Driver}}"])
            .trim(),
        "1 overlay2"
    );
    assert!(b.ok(&["version"]).contains("Server"));
}
