//! run/create: output, exit codes, the run flags, ps.

use crate::common::Berth;

#[test]
fn run_streams_output_and_returns_exit_code() {
    let b = Berth::new();
    let o = b.run(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(o.code, 3, "{o:?}");
    assert_eq!(o.stdout, "out\n");
    assert_eq!(o.stderr, "err\n");
    assert_eq!(b.ok(&["ps", "-aq"]), "", "--rm removed the container");
}

#[test]
fn exit_codes_follow_docker() {
    let b = Berth::new();
    let o = b.fails(&["run", "--rm", "busybox", "no-such-command"], 127);
    assert!(
        o.stderr.contains("executable file not found in $PATH"),
        "{o:?}"
    );
    let o = b.fails(&["run", "--rm", "busybox", "/nonexistent/cmd"], 127);
    assert!(o.stderr.contains("no such file or directory"), "{o:?}");
    let o = b.fails(&["run", "--rm", "busybox", "/etc"], 126);
    assert!(o.stderr.contains("is a directory"), "{o:?}");
    let o = b.fails(&["run", "--rm", "busybox", "/etc/passwd"], 126);
    assert!(o.stderr.contains("permission denied"), "{o:?}");
    let o = b.fails(&["run", "--rm", "no-such-image"], 125);
    assert!(
        o.stderr
            .contains("Unable to find image 'no-such-image:latest' locally"),
        "{o:?}"
    );
    b.fails(&["run", "--bogus-flag", "busybox"], 125);
    let o = b.fails(&["run", "--rm", "Busybox"], 125);
    assert!(o.stderr.contains("must be lowercase"), "{o:?}");
    // A failed start leaves nothing behind with --rm, and a Created container without.
    assert_eq!(b.ok(&["ps", "-aq"]), "");
    b.fails(&["run", "--name", "broken", "busybox", "nope"], 127);
    assert_eq!(
        b.inspect("broken", "{{.State.Status}} {{.State.ExitCode}}"),
        "created 127"
    );
}

#[test]
fn detached_run_prints_id_and_keeps_running() {
    let b = Berth::new();
    let id = b
        .ok(&["run", "-d", "busybox", "sleep", "30"])
        .trim()
        .to_string();
    assert_eq!(id.len(), 64);
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(b.inspect(&id, "{{.State.Running}}"), "true");
    let ps = b.ok(&["ps"]);
    assert!(ps.starts_with("CONTAINER ID   IMAGE"), "{ps}");
    assert!(ps.contains(&id[..12]) && ps.contains("Up "), "{ps}");
    b.ok(&["rm", "-f", &id]);
}

#[test]
fn hostname_user_workdir_env_defaults() {
    let b = Berth::new();
    let id = b
        .ok(&[
            "create",
            "busybox",
            "sh",
            "-c",
            "hostname; cat /etc/hostname; id -u; pwd; echo $HOME; echo $PATH",
        ])
        .trim()
        .to_string();
    let o = b.run(&["start", "-a", &id]);
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines[0], &id[..12], "hostname is the short id");
    assert_eq!(lines[1], &id[..12]);
    assert_eq!(lines[2], "0", "root by default");
    assert_eq!(lines[3], "/");
    assert_eq!(lines[4], "/root");
    assert_eq!(
        lines[5],
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    );
}

#[test]
fn run_flags_are_applied() {
    let b = Berth::new();
    let envf = b.path().join("env.list");
    std::fs::write(&envf, "# comment\nFROM_FILE=yes\n\nA=from-file\n").unwrap();
    let o = b.run(&[
        "run",
        "--rm",
        "-e",
        "A=1",
        "-e",
        "B=two words",
        "--env-file",
        envf.to_str().unwrap(),
        "-w",
        "/srv/app",
        "-h",
        "myhost",
        "-u",
        "www",
        "busybox",
        "sh",
        "-c",
        "echo $A; echo $B; echo $FROM_FILE; pwd; hostname; id",
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines[0], "1", "-e wins over --env-file");
    assert_eq!(lines[1], "two words");
    assert_eq!(lines[2], "yes");
    assert_eq!(lines[3], "/srv/app", "working dir created");
    assert_eq!(lines[4], "myhost");
    assert_eq!(lines[5], "uid=33(www) gid=33(www) groups=33(www),50(staff)");

    let o = b.run(&["run", "--rm", "-u", "1234:4321", "busybox", "id"]);
    assert_eq!(o.stdout.trim(), "uid=1234 gid=4321 groups=4321");
    let o = b.fails(&["run", "--rm", "-u", "ghost", "busybox", "id"], 125);
    assert!(o.stderr.contains("unable to find user ghost"), "{o:?}");

    let o = b.run(&["run", "--rm", "--entrypoint", "echo", "busybox", "a", "b"]);
    assert_eq!(o.stdout, "a b\n");
    // The image's CMD (sh) runs with closed stdin and exits 0.
    b.ok(&["run", "--rm", "busybox"]);
}

#[test]
fn labels_names_and_ps_filters() {
    let b = Berth::new();
    let a = b
        .ok(&[
            "run", "-d", "--name", "alpha", "-l", "tier=web", "-l", "x", "busybox", "sleep", "30",
        ])
        .trim()
        .to_string();
    b.ok(&["run", "--name", "beta", "busybox", "true"]);
    let c = b
        .ok(&["create", "--name", "gamma", "busybox"])
        .trim()
        .to_string();
    assert_eq!(b.ok(&["ps", "-q"]).trim(), &a[..12]);
    let all = b.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert_eq!(
        all.lines().collect::<Vec<_>>(),
        vec!["gamma", "beta", "alpha"],
        "newest first"
    );
    assert_eq!(
        b.ok(&["ps", "-a", "-f", "status=exited", "--format", "{{.Names}}"])
            .trim(),
        "beta"
    );
    assert_eq!(
        b.ok(&["ps", "-a", "-f", "status=created", "-q", "--no-trunc"])
            .trim(),
        c
    );
    assert_eq!(
        b.ok(&["ps", "-a", "-f", "label=tier=web", "--format", "{{.Names}}"])
            .trim(),
        "alpha"
    );
    assert_eq!(
        b.ok(&["ps", "-a", "-f", "name=bet", "--format", "{{.Names}}"])
            .trim(),
        "beta"
    );
    assert_eq!(
        b.ok(&[
            "ps",
            "-a",
            "-f",
            &format!("id={}", &a[..5]),
            "--format",
            "{{.Names}}"
        ])
        .trim(),
        "alpha"
    );
    assert_eq!(
        b.ok(&["ps", "-n", "2", "--format", "{{.Names}}"])
            .lines()
            .collect::<Vec<_>>(),
        vec!["gamma", "beta"]
    );
    assert_eq!(
        b.ok(&["ps", "-l", "--format", "{{.Names}}"]).trim(),
        "gamma"
    );
    assert_eq!(
        b.ok(&["ps", "-a", "-f", "ancestor=busybox", "-q"])
            .lines()
            .count(),
        3
    );
    assert_eq!(
        b.ok(&["ps", "-a", "-f", "exited=0", "--format", "{{.Names}}"])
            .trim(),
        "beta"
    );
    let t = b.ok(&["ps", "-a", "--format", "table {{.Names}}\t{{.Status}}"]);
    assert!(
        t.starts_with("NAMES     STATUS\n") || t.starts_with("NAMES"),
        "{t}"
    );
    let j = b.ok(&["ps", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(j.lines().next().unwrap()).unwrap();
    assert_eq!(v["Names"], "alpha");
    assert_eq!(
        b.inspect("alpha", "{{index .Config.Labels \"tier\"}}"),
        "web"
    );
    b.fails(&["ps", "-f", "status=bogus"], 1);
    // Generated names are Docker-like and unique.
    let n1 = b.ok(&["create", "busybox"]);
    let n1 = b.inspect(n1.trim(), "{{.Name}}");
    assert!(n1.starts_with('/') && n1.contains('_'), "{n1}");
}

#[test]
fn duplicate_name_and_bad_names_are_refused() {
    let b = Berth::new();
    b.ok(&["create", "--name", "dup", "busybox"]);
    let o = b.fails(&["create", "--name", "dup", "busybox"], 125);
    assert!(
        o.stderr
            .contains("The container name \"/dup\" is already in use"),
        "{o:?}"
    );
    let o = b.fails(&["create", "--name=-bad", "busybox"], 125);
    assert!(o.stderr.contains("Invalid container name"), "{o:?}");
    assert_eq!(
        b.ok(&["ps", "-aq"]).lines().count(),
        1,
        "no half-made container left"
    );
}

#[test]
fn stdin_pipes_into_interactive_container() {
    let b = Berth::new();
    let o = b.run_stdin(
        &["run", "--rm", "-i", "busybox", "sh", "-c", "cat; echo done"],
        b"hello\nworld\n",
    );
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stdout, "hello\nworld\ndone\n");
    // Without -i the container's stdin is empty.
    let o = b.run_stdin(&["run", "--rm", "busybox", "cat"], b"ignored\n");
    assert_eq!(o.stdout, "");
}

#[test]
fn inspect_has_dockers_shape() {
    let b = Berth::new();
    let id = b
        .ok(&[
            "create", "--name", "shape", "-e", "X=1", "busybox", "echo", "hi",
        ])
        .trim()
        .to_string();
    let out = b.ok(&["inspect", "shape"]);
    assert!(out.starts_with("[\n    {"), "four-space indent like docker");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let c = &v[0];
    assert_eq!(c["Id"], id.as_str());
    assert_eq!(c["Name"], "/shape");
    assert_eq!(c["Path"], "echo");
    assert_eq!(c["Args"][0], "hi");
    assert_eq!(c["State"]["Status"], "created");
    assert_eq!(c["State"]["Running"], false);
    assert_eq!(c["Config"]["Hostname"], &id[..12]);
    assert!(c["Config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e == "X=1"));
    assert_eq!(c["HostConfig"]["LogConfig"]["Type"], "json-file");
    assert_eq!(c["GraphDriver"]["Name"], "overlay2");
    assert!(c["Image"].as_str().unwrap().starts_with("sha256:"));
    for key in [
        "Created",
        "ResolvConfPath",
        "HostnamePath",
        "HostsPath",
        "LogPath",
        "RestartCount",
        "Mounts",
        "NetworkSettings",
    ] {
        assert!(c.get(key).is_some(), "missing {key}");
    }
    assert_eq!(b.inspect("shape", "{{.State.Running}}"), "false");
    assert_eq!(
        b.inspect("shape", "{{json .Config.Cmd}}"),
        "[\"echo\",\"hi\"]"
    );
    assert_eq!(
        b.ok(&["container", "inspect", "--format", "{{.Name}}", &id[..6]])
            .trim(),
        "/shape"
    );
    let o = b.fails(&["inspect", "nothing-here"], 1);
    assert!(o.stderr.contains("No such object: nothing-here"), "{o:?}");
}

#[test]
fn options_stop_at_the_image_like_docker() {
    let b = Berth::new();
    // `-c` after the image belongs to the command, not to berth's --cpu-shares.
    assert_eq!(
        b.ok(&["run", "--rm", "-e", "A=1", "busybox", "sh", "-c", "echo $A"]),
        "1\n"
    );
    assert_eq!(
        b.ok(&["run", "--rm", "busybox", "ls", "-d", "/bin"]),
        "/bin\n"
    );
    let id = b
        .ok(&["run", "-d", "busybox", "sleep", "60"])
        .trim()
        .to_string();
    assert_eq!(
        b.ok(&["exec", "-e", "X=2", &id, "sh", "-c", "echo $X"]),
        "2\n"
    );
}
