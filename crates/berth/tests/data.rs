//! Data and files: volumes, binds, tmpfs, cp, diff, commit, export.

use crate::common::Berth;

#[test]
fn named_volumes_outlive_containers_and_copy_up_once() {
    let b = Berth::new();
    b.ok(&[
        "run",
        "--rm",
        "-v",
        "data:/data",
        "busybox",
        "sh",
        "-c",
        "echo kept > /data/f",
    ]);
    assert_eq!(
        b.ok(&[
            "run",
            "--rm",
            "-v",
            "data:/data",
            "busybox",
            "cat",
            "/data/f"
        ]),
        "kept\n"
    );
    assert_eq!(b.ok(&["volume", "ls", "-q"]).trim(), "data");
    // A new named volume on a path the image has content at gets that content (copy-up).
    let out = b.ok(&[
        "run",
        "--rm",
        "-v",
        "etcvol:/etc",
        "busybox",
        "sh",
        "-c",
        "ls /etc | sort | tr '\\n' ' '",
    ]);
    assert!(out.contains("group") && out.contains("passwd"), "{out}");
    let mp = b.ok(&["volume", "inspect", "-f", "{{.Mountpoint}}", "etcvol"]);
    assert!(std::path::Path::new(mp.trim()).join("passwd").exists());
    // ... but not with nocopy.
    assert_eq!(
        b.ok(&[
            "run",
            "--rm",
            "-v",
            "empty:/etc:nocopy",
            "busybox",
            "ls",
            "-A",
            "/etc"
        ])
        .trim(),
        "hostname\nhosts\nresolv.conf"
    );
    // Read-only is enforced.
    let o = b.run(&[
        "run",
        "--rm",
        "-v",
        "data:/data:ro",
        "busybox",
        "sh",
        "-c",
        "echo x > /data/g",
    ]);
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("Read-only file system"), "{o:?}");
    // In use: refused; then removed.
    let id = b
        .ok(&["create", "-v", "data:/data", "busybox"])
        .trim()
        .to_string();
    let o = b.fails(&["volume", "rm", "data"], 1);
    assert!(o.stderr.contains("volume is in use"), "{o:?}");
    b.ok(&["rm", &id]);
    assert_eq!(b.ok(&["volume", "rm", "data"]).trim(), "data");
    let v: serde_json::Value =
        serde_json::from_str(&b.ok(&["volume", "inspect", "etcvol"])).unwrap();
    assert_eq!(v[0]["Driver"], "local");
    assert_eq!(v[0]["Name"], "etcvol");
}

#[test]
fn anonymous_volumes_go_with_rm_v_and_rm_flag() {
    let b = Berth::new();
    let id = b
        .ok(&["create", "-v", "/cache", "busybox"])
        .trim()
        .to_string();
    let name = b.inspect(&id, "{{range .Mounts}}{{.Name}}{{end}}");
    assert_eq!(name.len(), 64);
    assert!(b.ok(&["volume", "ls", "-q"]).contains(&name));
    b.ok(&["rm", "-v", &id]);
    assert!(
        !b.ok(&["volume", "ls", "-q"]).contains(&name),
        "rm -v removes anonymous volumes"
    );
    b.ok(&["volume", "create", "keep"]);
    b.ok(&[
        "run", "--rm", "-v", "/tmp/x", "-v", "keep:/k", "busybox", "true",
    ]);
    assert_eq!(
        b.ok(&["volume", "ls", "-q"]).trim(),
        "keep",
        "--rm removes anonymous volumes, never named ones"
    );
    let c = b
        .ok(&["create", "-v", "/anon", "busybox"])
        .trim()
        .to_string();
    b.ok(&["rm", &c]);
    let out = b.ok(&["volume", "prune", "-f"]);
    assert!(out.starts_with("Deleted Volumes:"), "{out}");
    assert_eq!(
        b.ok(&["volume", "ls", "-q"]).trim(),
        "keep",
        "prune keeps named volumes without -a"
    );
    b.ok(&["volume", "prune", "-a", "-f"]);
    assert_eq!(b.ok(&["volume", "ls", "-q"]), "");
}

#[test]
fn a_refused_create_leaves_no_volume_and_no_name_behind() {
    let b = Berth::new();
    let ctx = b.path().join("ctx-vol");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nVOLUME /data\n").unwrap();
    b.ok(&["build", "-q", "-t", "withvol", ctx.to_str().unwrap()]);
    b.ok(&["create", "--name", "taken", "busybox"]);
    let before = b.ok(&["volume", "ls", "-q"]);
    for _ in 0..3 {
        let o = b.fails(&["run", "--name", "taken", "withvol", "true"], 125);
        assert!(o.stderr.contains("is already in use"), "{o:?}");
    }
    // Refused after the mounts were planned: a duplicate mount point, a bad --volumes-from
    // mode, a new named volume beside a refused one.
    b.fails(
        &["create", "-v", "fresh:/x", "-v", "/tmp:/x", "withvol"],
        125,
    );
    b.fails(
        &[
            "create",
            "-v",
            "fresh:/x",
            "--volumes-from",
            "taken:bogus",
            "withvol",
        ],
        125,
    );
    b.fails(
        &["create", "--name", "taken", "-v", "fresh:/x", "withvol"],
        125,
    );
    // A second volume whose driver options are refused: checked before the first is made.
    b.fails(
        &[
            "create",
            "-v",
            "fresh:/x",
            "--mount",
            "type=volume,source=other,target=/y,volume-opt=type=nfs",
            "withvol",
        ],
        125,
    );
    assert_eq!(
        b.ok(&["volume", "ls", "-q"]),
        before,
        "no volume was left behind"
    );
    assert_eq!(
        b.ok(&["ps", "-aq"]).lines().count(),
        1,
        "only the first container exists"
    );
    // The name a failed create reserved is free again.
    b.fails(
        &[
            "create",
            "--name",
            "fresh-name",
            "--volumes-from",
            "nosuch",
            "busybox",
        ],
        125,
    );
    b.ok(&["create", "--name", "fresh-name", "busybox"]);
}

#[test]
fn bind_mounts_and_tmpfs() {
    let b = Berth::new();
    let host = b.path().join("hostdir");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("in"), "from-host\n").unwrap();
    let spec = format!("{}:/h", host.display());
    assert_eq!(
        b.ok(&[
            "run",
            "--rm",
            "-v",
            &spec,
            "busybox",
            "sh",
            "-c",
            "cat /h/in; echo back > /h/out"
        ]),
        "from-host\n"
    );
    assert_eq!(std::fs::read_to_string(host.join("out")).unwrap(), "back\n");
    // A running container sees host changes.
    let id = b
        .ok(&["run", "-d", "-v", &spec, "busybox", "sleep", "60"])
        .trim()
        .to_string();
    std::fs::write(host.join("later"), "live\n").unwrap();
    assert_eq!(b.ok(&["exec", &id, "cat", "/h/later"]), "live\n");
    b.ok(&["rm", "-f", &id]);
    let ro = format!("type=bind,src={},dst=/h,readonly", host.display());
    let o = b.run(&["run", "--rm", "--mount", &ro, "busybox", "touch", "/h/x"]);
    assert!(o.stderr.contains("Read-only file system"), "{o:?}");
    let o = b.fails(
        &[
            "run",
            "--rm",
            "--mount",
            "type=bind,src=/no/such/dir,dst=/x",
            "busybox",
            "true",
        ],
        125,
    );
    assert!(
        o.stderr.contains("bind source path does not exist"),
        "{o:?}"
    );
    // -v creates a missing host directory, as Docker does.
    let missing = b.path().join("made-by-v");
    b.ok(&[
        "run",
        "--rm",
        "-v",
        &format!("{}:/m", missing.display()),
        "busybox",
        "true",
    ]);
    assert!(missing.is_dir());
    // tmpfs: memory, and gone with the container.
    let out = b.ok(&[
        "run",
        "--rm",
        "--tmpfs",
        "/scratch:size=1m",
        "busybox",
        "sh",
        "-c",
        "grep /scratch /proc/mounts",
    ]);
    assert!(
        out.starts_with("tmpfs /scratch tmpfs") && out.contains("size=1024k"),
        "{out}"
    );
    let id = b
        .ok(&[
            "create",
            "--mount",
            "type=tmpfs,dst=/t",
            "busybox",
            "sh",
            "-c",
            "ls /t; touch /t/f",
        ])
        .trim()
        .to_string();
    assert_eq!(b.run(&["start", "-a", &id]).stdout, "");
    assert_eq!(
        b.run(&["start", "-a", &id]).stdout,
        "",
        "tmpfs content is gone after a stop"
    );
    let out = b.ok(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,src=mv,dst=/m,volume-opt=type=tmpfs,volume-opt=o=size=2m",
        "busybox",
        "sh",
        "-c",
        "grep ' /m ' /proc/mounts",
    ]);
    assert!(
        out.starts_with("tmpfs /m tmpfs") && out.contains("size=2048k"),
        "volume-opt reaches the volume: {out}"
    );
    b.fails(
        &["run", "--rm", "-v", "x:/a", "-v", "y:/a", "busybox", "true"],
        125,
    );
    b.fails(
        &["run", "--rm", "-v", "relative:dir", "busybox", "true"],
        125,
    );
}

#[test]
fn volumes_from_shares_mounts() {
    let b = Berth::new();
    b.ok(&["create", "--name", "src", "-v", "shared:/shared", "busybox"]);
    b.ok(&[
        "run",
        "--rm",
        "--volumes-from",
        "src",
        "busybox",
        "sh",
        "-c",
        "echo via > /shared/f",
    ]);
    assert_eq!(
        b.ok(&["run", "--rm", "-v", "shared:/s", "busybox", "cat", "/s/f"]),
        "via\n"
    );
    let o = b.run(&[
        "run",
        "--rm",
        "--volumes-from",
        "src:ro",
        "busybox",
        "touch",
        "/shared/g",
    ]);
    assert_ne!(o.code, 0, "{o:?}");
}

#[test]
fn diff_commit_export_round_trip() {
    let b = Berth::new();
    b.ok(&[
        "run",
        "--name",
        "work",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /app/sub; echo v1 > /app/sub/f; rm /bin/vi; echo extra >> /etc/passwd",
    ]);
    let diff = b.ok(&["diff", "work"]);
    assert_eq!(
        diff,
        "A /app\nA /app/sub\nA /app/sub/f\nC /bin\nD /bin/vi\nC /etc\nC /etc/passwd\n"
    );
    let id = b
        .ok(&[
            "commit",
            "-m",
            "add app",
            "-a",
            "me",
            "-c",
            "WORKDIR /app",
            "work",
            "app:1",
        ])
        .trim()
        .to_string();
    assert!(id.starts_with("sha256:"));
    assert_eq!(
        b.ok(&[
            "run",
            "--rm",
            "app:1",
            "sh",
            "-c",
            "pwd; cat sub/f; ls /bin/vi 2>&1; tail -1 /etc/passwd"
        ]),
        "/app\nv1\nls: /bin/vi: No such file or directory\nextra\n"
    );
    assert_eq!(
        b.inspect("app:1", "{{len .RootFS.Layers}} {{.Author}}"),
        "2 me"
    );
    let hist = b.ok(&["history", "--format", "{{.Comment}}", "app:1"]);
    assert_eq!(hist.lines().next(), Some("add app"));
    // The committed layer is exactly the diff: no berth mount points in it.
    let layer_files = b.ok(&[
        "run",
        "--rm",
        "app:1",
        "sh",
        "-c",
        "cat /etc/hostname | wc -c",
    ]);
    assert_ne!(layer_files.trim(), "0");
    // export | import keeps the files.
    let tarball = b.path().join("fs.tar");
    b.ok(&["export", "-o", tarball.to_str().unwrap(), "work"]);
    b.ok(&["import", tarball.to_str().unwrap(), "flat:1"]);
    assert_eq!(
        b.ok(&[
            "run",
            "--rm",
            "flat:1",
            "sh",
            "-c",
            "cat /app/sub/f; ls /bin/vi 2>&1 | wc -l; ls /bin/sh"
        ]),
        "v1\n1\n/bin/sh\n"
    );
    assert_eq!(b.inspect("flat:1", "{{len .RootFS.Layers}}"), "1");
    // A running container is paused while committed and keeps running.
    let live = b
        .ok(&[
            "run",
            "-d",
            "busybox",
            "sh",
            "-c",
            "echo live > /live; sleep 60",
        ])
        .trim()
        .to_string();
    b.wait_for(5, "file written", || {
        b.run(&["exec", &live, "test", "-f", "/live"]).code == 0
    });
    b.ok(&["commit", &live, "live:1"]);
    assert_eq!(b.inspect(&live, "{{.State.Running}}"), "true");
    assert_eq!(b.ok(&["run", "--rm", "live:1", "cat", "/live"]), "live\n");
}

#[test]
fn cp_both_ways_and_no_escape() {
    let b = Berth::new();
    let host = b.path().join("h");
    std::fs::create_dir_all(host.join("dir/sub")).unwrap();
    std::fs::write(host.join("dir/sub/file"), "payload\n").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            host.join("dir/sub/file"),
            std::fs::Permissions::from_mode(0o640),
        )
        .unwrap();
    }
    let id = b
        .ok(&["run", "-d", "busybox", "sleep", "120"])
        .trim()
        .to_string();
    b.ok(&[
        "cp",
        host.join("dir").to_str().unwrap(),
        &format!("{id}:/tmp/"),
    ]);
    assert_eq!(
        b.ok(&[
            "exec",
            &id,
            "sh",
            "-c",
            "cat /tmp/dir/sub/file; stat -c '%a %u' /tmp/dir/sub/file"
        ]),
        "payload\n640 0\n"
    );
    // Out again, to a new name.
    let back = b.path().join("back");
    b.ok(&["cp", &format!("{id}:/tmp/dir"), back.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(back.join("sub/file")).unwrap(),
        "payload\n"
    );
    // Symlinks planted in the container resolve inside it, never on the host.
    b.ok(&[
        "exec",
        &id,
        "sh",
        "-c",
        "ln -s / /escape; ln -s ../../../../../../../etc /up; echo inside > /etc/marker",
    ]);
    let out = b.path().join("esc");
    b.ok(&[
        "cp",
        &format!("{id}:/escape/etc/marker"),
        out.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "inside\n");
    let out2 = b.path().join("esc2");
    b.ok(&["cp", &format!("{id}:/up/hostname"), out2.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&out2).unwrap().trim(), &id[..12]);
    // Writing through a planted symlink stays inside too.
    let file = b.path().join("note");
    std::fs::write(&file, "n\n").unwrap();
    b.ok(&["cp", file.to_str().unwrap(), &format!("{id}:/up/")]);
    assert_eq!(b.ok(&["exec", &id, "cat", "/etc/note"]), "n\n");
    assert!(!std::path::Path::new("/etc/note").exists());
    // Without -L a symlink is copied as a symlink.
    let l = b.path().join("link");
    b.ok(&["cp", &format!("{id}:/escape"), l.to_str().unwrap()]);
    assert_eq!(std::fs::read_link(&l).unwrap(), std::path::Path::new("/"));
    // Tar streams both ways, and a stopped container.
    let o = b
        .cmd(&["cp", &format!("{id}:/tmp/dir"), "-"])
        .output()
        .unwrap();
    let mut names: Vec<String> = tar::Archive::new(&o.stdout[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    names.sort();
    assert_eq!(names, vec!["dir", "dir/sub", "dir/sub/file"]);
    b.ok(&["stop", "-t", "0", &id]);
    let o = b.run_stdin(&["cp", "-", &format!("{id}:/root")], &o.stdout);
    assert_eq!(o.code, 0, "{o:?}");
    b.ok(&["start", &id]);
    assert_eq!(
        b.ok(&["exec", &id, "cat", "/root/dir/sub/file"]),
        "payload\n"
    );
    b.fails(&["cp", "/no/such/file", &format!("{id}:/tmp")], 1);
    b.fails(
        &["cp", &format!("{id}:/no/such"), b.path().to_str().unwrap()],
        1,
    );
}

fn du(p: &std::path::Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
        let m = e.path().symlink_metadata().unwrap();
        if m.is_dir() {
            total += du(&e.path());
        } else {
            total += m.len();
        }
    }
    total
}

#[test]
fn system_df_prune_and_space_returns() {
    let b = Berth::new();
    let start = du(b.path());
    b.ok(&[
        "run",
        "--name",
        "fat",
        "-v",
        "/anon",
        "busybox",
        "sh",
        "-c",
        "head -c 300000 /dev/zero > /big; head -c 200000 /dev/zero > /anon/f",
    ]);
    b.ok(&["commit", "fat", "fat:1"]);
    b.ok(&[
        "volume",
        "create",
        "-o",
        "type=tmpfs",
        "-o",
        "o=size=1m",
        "mem",
    ]);
    assert_eq!(
        b.ok(&[
            "run",
            "--rm",
            "-v",
            "mem:/m",
            "busybox",
            "sh",
            "-c",
            "grep ' /m ' /proc/mounts | cut -d' ' -f3"
        ]),
        "tmpfs\n"
    );
    let df = b.ok(&["system", "df"]);
    assert!(
        df.starts_with("TYPE") && df.contains("Images") && df.contains("Local Volumes"),
        "{df}"
    );
    assert_eq!(
        b.ok(&["system", "df", "--format", "{{.Type}}={{.TotalCount}}"])
            .lines()
            .take(3)
            .collect::<Vec<_>>(),
        vec!["Images=2", "Containers=1", "Local Volumes=2"]
    );
    assert!(du(b.path()) > start + 400_000);
    let out = b.ok(&["system", "prune", "-a", "--volumes", "-f"]);
    assert!(
        out.contains("Deleted Containers:")
            && out.contains("Deleted Images:")
            && out.contains("Deleted Volumes:"),
        "{out}"
    );
    b.ok(&["volume", "rm", "mem"]);
    assert_eq!(b.ok(&["images", "-q"]), "", "every unused image pruned");
    assert_eq!(du(b.path().join("layers").as_path()), 0, "no layer left");
    assert_eq!(
        du(b.path().join("volumes").as_path()),
        0,
        "no volume data left"
    );
    assert_eq!(du(b.path().join("containers").as_path()), 0);
    let blobs = std::fs::read_dir(b.path().join("blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!(blobs, 0, "no blob left behind");
}
