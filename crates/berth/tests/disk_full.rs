//! A full disk: with the state root on a small loop-mounted ext4 that is filled up, every
//! command fails with a clear error and leaves nothing half-written; once space is freed,
//! everything works, and a container that exited meanwhile still has its exit recorded.

use crate::common::{busybox_tar, Berth};
use std::path::PathBuf;
use std::process::Command;

/// A loop-mounted ext4 file system, unmounted (and its image removed) on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn new(mib: u32) -> SmallDisk {
        let dir = tempfile::Builder::new()
            .prefix("full")
            .tempdir_in("/var/tmp")
            .unwrap();
        let img = dir.path().join("disk.img");
        let f = std::fs::File::create(&img).unwrap();
        f.set_len(u64::from(mib) << 20).unwrap();
        let mkfs = Command::new("mkfs.ext4")
            .args(["-q", "-F", "-m", "0"])
            .arg(&img)
            .status()
            .expect("this test needs mkfs.ext4 (e2fsprogs)");
        assert!(mkfs.success());
        std::fs::create_dir(dir.path().join("mnt")).unwrap();
        let mount = Command::new("mount")
            .args(["-o", "loop"])
            .arg(&img)
            .arg(dir.path().join("mnt"))
            .status()
            .unwrap();
        assert!(
            mount.success(),
            "this test needs loop devices (mount -o loop)"
        );
        SmallDisk { dir }
    }

    fn mnt(&self) -> PathBuf {
        self.dir.path().join("mnt")
    }

    /// Fills every free block (again: what a failed command freed too) with one file;
    /// returns it.
    fn fill(&self) -> PathBuf {
        let p = self.mnt().join("filler");
        let mut f = std::fs::File::options()
            .create(true)
            .append(true)
            .open(&p)
            .unwrap();
        let block = vec![0u8; 1 << 20];
        use std::io::Write;
        while f.write_all(&block).is_ok() {}
        // Down to the last block (1 KiB on a disk this small).
        for size in [4096, 1024, 1] {
            let small = vec![0u8; size];
            while f.write_all(&small).is_ok() {}
        }
        let _ = f.sync_all();
        p
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.mnt()).status();
    }
}

/// The root on the small disk; the berth root is dropped (its containers removed) before
/// the disk is unmounted.
struct FullRoot {
    b: Berth,
    disk: SmallDisk,
}

/// `system check` finds nothing wrong in the store ([`crate::common::own_problems`]).
fn has_no_problems(b: &Berth) {
    let out = b.run(&["system", "check"]);
    assert!(
        crate::common::own_problems(&out.stdout).is_empty(),
        "the full disk left something behind:\n{}",
        out.stdout
    );
}

#[test]
fn a_full_disk_fails_every_command_cleanly_and_nothing_is_left_half_written() {
    let disk = SmallDisk::new(96);
    let b = Berth {
        root: tempfile::Builder::new()
            .prefix("root")
            .tempdir_in(disk.mnt())
            .unwrap(),
    };
    let r = FullRoot { b, disk };
    let b = &r.b;
    let tar = busybox_tar().to_str().unwrap();
    b.ok(&["import", "-c", "CMD [\"sh\"]", tar, "busybox"]);
    b.ok(&["create", "--name", "kept", "busybox", "true"]);
    b.ok(&[
        "run",
        "--name",
        "changed",
        "busybox",
        "sh",
        "-c",
        "echo hi > /f",
    ]);
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nRUN echo built > /b\n",
    )
    .unwrap();
    let host_file = ctx.path().join("payload");
    std::fs::write(&host_file, vec![7u8; 200_000]).unwrap();
    // Exits while the disk is full: the shim must still record its code.
    b.ok(&[
        "run",
        "-d",
        "--name",
        "late",
        "busybox",
        "sh",
        "-c",
        "sleep 2; exit 3",
    ]);
    b.ok(&[
        "run",
        "-d",
        "--name",
        "doomed",
        "--restart",
        "always",
        "busybox",
        "sleep",
        "600",
    ]);
    let names = || {
        let mut v: Vec<String> = b
            .ok(&["ps", "-a", "--format", "{{.Names}}"])
            .lines()
            .map(String::from)
            .collect();
        v.sort();
        v
    };
    let before = names();
    let images_before = b.ok(&["images", "-q"]);

    let filler = r.disk.fill();
    let ctx_s = ctx.path().to_str().unwrap();
    let payload = host_file.to_str().unwrap();
    let attempts: &[&[&str]] = &[
        &["import", tar, "more:1"],
        &["run", "--rm", "busybox", "true"],
        &["create", "--name", "new", "busybox", "true"],
        &["commit", "changed", "changed:1"],
        &["build", "-q", "-t", "built:1", ctx_s],
        &["network", "create", "fullnet"],
        &["volume", "create", "fullvol"],
        &["tag", "busybox", "other:1"],
        &["cp", payload, "kept:/payload"],
    ];
    for args in attempts {
        r.disk.fill();
        let out = b.run(args);
        assert_ne!(out.code, 0, "berth {args:?} succeeded on a full disk");
        assert!(
            out.stderr
                .to_lowercase()
                .contains("no space left on device"),
            "berth {args:?} did not say why: {}",
            out.stderr
        );
    }
    // Removing is how space comes back: it works on a full disk, running or not.
    r.disk.fill();
    b.ok(&["rm", "-f", "doomed"]);
    std::thread::sleep(std::time::Duration::from_secs(3));
    // Nothing of the failed commands shows, and the store is whole.
    assert_eq!(
        names(),
        before
            .iter()
            .filter(|n| *n != "doomed")
            .cloned()
            .collect::<Vec<_>>()
    );
    assert_eq!(b.ok(&["images", "-q"]), images_before);
    has_no_problems(b);

    std::fs::remove_file(&filler).unwrap();
    b.wait_for(10, "the exit recorded once space is back", || {
        b.inspect("late", "{{.State.Status}} {{.State.ExitCode}}") == "exited 3"
    });
    for args in attempts {
        b.ok(args);
    }
    assert_eq!(
        b.ok(&["run", "--rm", "built:1", "cat", "/b"]).trim(),
        "built"
    );
    b.ok(&["network", "rm", "fullnet"]);
    b.ok(&["volume", "rm", "fullvol"]);
    has_no_problems(b);
}
