//! Images: references, import, load, save, tag, rmi, history, prune, and what a malicious or
//! corrupted archive can (not) do.

use crate::common::{busybox_tar, Berth};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;

fn sha(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// A tar file of (name, contents) regular files; names are written raw so tests can use `..`.
fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_old();
        {
            let raw = h.as_old_mut();
            raw.name[..name.len()].copy_from_slice(name.as_bytes());
        }
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap()
}

/// A docker-archive with the given layer tars; config diff ids computed from them unless
/// `diff_ids` overrides.
fn docker_archive(
    tag: &str,
    layers: &[Vec<u8>],
    diff_ids: Option<Vec<String>>,
    cmd: &[&str],
) -> Vec<u8> {
    let ids = diff_ids.unwrap_or_else(|| layers.iter().map(|l| sha(l)).collect());
    let cfg = serde_json::json!({
        "architecture": "amd64", "os": "linux", "created": "2026-01-02T03:04:05Z",
        "config": {"Cmd": cmd, "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": ids},
        "history": layers.iter().enumerate().map(|(i, _)| serde_json::json!({"created": "2026-01-02T03:04:05Z", "created_by": format!("step {i}")})).collect::<Vec<_>>(),
    });
    let cfg = serde_json::to_vec(&cfg).unwrap();
    let cfg_name = format!("{}.json", &sha(&cfg)[7..]);
    let mut files: Vec<(String, Vec<u8>)> = vec![(cfg_name.clone(), cfg)];
    let mut names = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let n = format!("layer{i}/layer.tar");
        names.push(n.clone());
        files.push((n, l.clone()));
    }
    let manifest = serde_json::json!([{"Config": cfg_name, "RepoTags": [tag], "Layers": names}]);
    files.push((
        "manifest.json".into(),
        serde_json::to_vec(&manifest).unwrap(),
    ));
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    tar_of(&refs)
}

fn dir_entries(p: &Path) -> usize {
    std::fs::read_dir(p).map(|r| r.count()).unwrap_or(0)
}

#[test]
fn references_normalise_like_docker() {
    let b = Berth::new();
    for name in [
        "busybox",
        "busybox:latest",
        "library/busybox",
        "docker.io/library/busybox:latest",
        "docker.io/library/busybox",
        "index.docker.io/library/busybox",
    ] {
        assert_eq!(b.run(&["run", "--rm", name, "true"]).code, 0, "{name}");
    }
    b.ok(&["tag", "busybox", "localhost:5000/team/tool:v1.2"]);
    b.ok(&["tag", "busybox", "registry.example.com/app"]);
    let repos = b.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    let mut repos: Vec<&str> = repos.lines().collect();
    repos.sort();
    assert_eq!(
        repos,
        vec![
            "busybox:latest",
            "localhost:5000/team/tool:v1.2",
            "registry.example.com/app:latest"
        ]
    );
    for bad in [
        "Busybox",
        "busybox:bad tag",
        "busybox:",
        ":tag",
        "a//b",
        &format!("busybox:{}", "t".repeat(129)),
    ] {
        let o = b.run(&["tag", "busybox", bad]);
        assert_ne!(o.code, 0, "{bad} must be refused");
        assert!(o.stderr.contains("invalid"), "{bad}: {o:?}");
    }
    let o = b.run(&["tag", "busybox", &"a".repeat(64)]);
    assert!(
        o.stderr
            .contains("cannot specify 64-byte hexadecimal strings"),
        "{o:?}"
    );
}

#[test]
fn import_gives_a_content_addressed_image() {
    let b = Berth::empty();
    let out = b.ok(&[
        "import",
        "-c",
        "ENV FOO=bar",
        "-c",
        "WORKDIR /tmp",
        "-m",
        "hello",
        busybox_tar().to_str().unwrap(),
        "bb:1",
    ]);
    let id = out.trim();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    let cfg = std::fs::read(b.path().join("blobs/sha256").join(&id[7..])).unwrap();
    assert_eq!(sha(&cfg), id, "image id is the digest of its config");
    let table = b.ok(&["images"]);
    let mut lines = table.lines();
    assert_eq!(
        lines.next().unwrap().split_whitespace().collect::<Vec<_>>(),
        vec!["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    );
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(&row[..3], &["bb", "1", &id[7..19]]);
    assert_eq!(b.ok(&["images", "-q"]).trim(), &id[7..19]);
    assert_eq!(b.ok(&["images", "-q", "--no-trunc"]).trim(), id);
    assert!(b.ok(&["images", "--digests"]).contains("DIGEST"));
    assert_eq!(
        b.inspect(
            "bb:1",
            "{{.Config.WorkingDir}} {{index .Config.Env 0}} {{.Comment}} {{len .RootFS.Layers}}"
        ),
        "/tmp FOO=bar hello 1"
    );
    assert_eq!(
        b.ok(&["run", "--rm", "bb:1", "sh", "-c", "echo $FOO; pwd"]),
        "bar\n/tmp\n"
    );
    // import from stdin, untagged: a dangling <none> image with the same layer.
    let data = std::fs::read(busybox_tar()).unwrap();
    let o = b.run_stdin(&["import", "-"], &data);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(b.ok(&["images"]).contains("<none>"));
    assert_eq!(
        dir_entries(&b.path().join("layers")),
        1,
        "the identical layer is unpacked once"
    );
    let hist = b.ok(&["history", "bb:1"]);
    assert!(
        hist.starts_with("IMAGE") && hist.contains("hello"),
        "{hist}"
    );
}

#[test]
fn save_and_load_roundtrip_both_layouts() {
    let b = Berth::new();
    b.ok(&["tag", "busybox", "keep:me"]);
    let archive = b.path().join("out.tar");
    b.ok(&[
        "save",
        "-o",
        archive.to_str().unwrap(),
        "busybox",
        "keep:me",
    ]);
    // Both layouts are present, with layers named by their diff ids.
    let mut names = Vec::new();
    let mut ar = tar::Archive::new(std::fs::File::open(&archive).unwrap());
    for e in ar.entries().unwrap() {
        names.push(e.unwrap().path().unwrap().display().to_string());
    }
    for n in ["manifest.json", "index.json", "oci-layout"] {
        assert!(names.contains(&n.to_string()), "{n} in {names:?}");
    }
    let id = b.inspect("busybox", "{{.Id}}");
    let layer = b.inspect("busybox", "{{index .RootFS.Layers 0}}");
    assert!(names.contains(&format!("blobs/sha256/{}", &layer[7..])));

    let other = Berth::empty();
    let out = other.ok(&["load", "-i", archive.to_str().unwrap()]);
    assert!(
        out.contains("Loaded image: busybox:latest") && out.contains("Loaded image: keep:me"),
        "{out}"
    );
    assert_eq!(
        other.inspect("keep:me", "{{.Id}}"),
        id,
        "same config, same id"
    );
    assert_eq!(other.ok(&["run", "--rm", "keep:me", "echo", "ok"]), "ok\n");

    // The OCI layout alone (manifest.json removed) loads too, from stdin.
    let mut oci = tar::Builder::new(Vec::new());
    let mut ar = tar::Archive::new(std::fs::File::open(&archive).unwrap());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let p = e.path().unwrap().display().to_string();
        if p == "manifest.json" {
            continue;
        }
        let mut h = e.header().clone();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        oci.append_data(&mut h, &p, &data[..]).unwrap();
    }
    let oci = oci.into_inner().unwrap();
    let third = Berth::empty();
    let o = third.run_stdin(&["load"], &oci);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("Loaded image: busybox:latest"), "{o:?}");
    assert_eq!(third.inspect("busybox", "{{.Id}}"), id);
}

#[test]
fn multi_layer_load_applies_whiteouts_and_opaque_dirs() {
    let b = Berth::empty();
    let base = std::fs::read(busybox_tar()).unwrap();
    let l2 = tar_of(&[
        ("etc/motd", b"hi\n"),
        ("opt/a/one", b"1"),
        ("opt/gone", b"x"),
    ]);
    let l3 = tar_of(&[
        ("opt/.wh.gone", b""),
        ("opt/a/.wh..wh..opq", b""),
        ("opt/a/two", b"2"),
        ("etc/.wh.group", b""),
    ]);
    let ar = docker_archive("multi:1", &[base, l2, l3], None, &["sh"]);
    let o = b.run_stdin(&["load"], &ar);
    assert_eq!(o.code, 0, "{o:?}");
    let out = b.ok(&[
        "run",
        "--rm",
        "multi:1",
        "sh",
        "-c",
        "cat /etc/motd; ls /opt; ls /opt/a; test -e /etc/group || echo nogroup",
    ]);
    assert_eq!(out, "hi\na\ntwo\nnogroup\n");
    assert_eq!(b.inspect("multi:1", "{{len .RootFS.Layers}}"), "3");
    let h = b.ok(&["history", "--format", "{{.CreatedBy}}", "multi:1"]);
    assert_eq!(
        h.lines().collect::<Vec<_>>(),
        vec!["step 2", "step 1", "step 0"]
    );
}

#[test]
fn corrupted_or_malicious_archives_are_refused_and_leave_nothing() {
    let b = Berth::new();
    let layers_before = dir_entries(&b.path().join("layers"));
    let images_before = dir_entries(&b.path().join("images"));
    // A layer whose content does not match the config's diff id.
    let l = tar_of(&[("file", b"content")]);
    let ar = docker_archive(
        "bad:1",
        std::slice::from_ref(&l),
        Some(vec![format!("sha256:{}", "0".repeat(64))]),
        &["sh"],
    );
    let o = b.run_stdin(&["load"], &ar);
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("mismatch"), "{o:?}");
    // Path escapes inside a layer.
    let outside = std::path::Path::new("/tmp").join(format!("berth-escape-{}", std::process::id()));
    let evil_name = format!("../../../../../../..{}", outside.display());
    let evil = tar_of(&[(&evil_name, b"pwned"), ("ok", b"fine")]);
    let ar = docker_archive("evil:1", &[evil], None, &["sh"]);
    let o = b.run_stdin(&["load"], &ar);
    assert_ne!(o.code, 0, "{o:?}");
    assert!(!outside.exists(), "nothing written outside the layer");
    // Not an archive at all.
    let o = b.run_stdin(&["load"], b"this is not a tar file at all, not even close....................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................");
    assert_ne!(o.code, 0);
    assert_eq!(
        dir_entries(&b.path().join("layers")),
        layers_before,
        "no half layer left"
    );
    assert_eq!(dir_entries(&b.path().join("images")), images_before);
    assert_eq!(dir_entries(&b.path().join("tmp")), 0, "temp files cleaned");
    assert!(b.ok(&["images", "--format", "{{.Repository}}"]).trim() == "busybox");
    // A corrupted stored blob is detected when used.
    let id = b.inspect("busybox", "{{.Id}}");
    let blob = b.path().join("blobs/sha256").join(&id[7..]);
    let mut data = std::fs::read(&blob).unwrap();
    data.push(b' ');
    std::fs::write(&blob, &data).unwrap();
    let o = b.run(&["run", "--rm", "busybox", "true"]);
    assert_eq!(o.code, 125);
    assert!(o.stderr.contains("corrupted"), "{o:?}");
}

#[test]
fn symlink_and_hardlink_escapes_stay_inside() {
    let b = Berth::empty();
    let target = std::path::Path::new("/tmp").join(format!("berth-sym-{}", std::process::id()));
    std::fs::create_dir_all(&target).unwrap();
    // A symlink to a host directory, then a file through it.
    let mut t = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    t.append_link(&mut h, "escape", &target).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_size(5);
    h.set_mode(0o644);
    t.append_data(&mut h, "escape/file", &b"pwned"[..]).unwrap();
    let layer = t.into_inner().unwrap();
    let ar = docker_archive(
        "sym:1",
        &[std::fs::read(busybox_tar()).unwrap(), layer],
        None,
        &["sh"],
    );
    let _ = b.run_stdin(&["load"], &ar);
    assert!(
        !target.join("file").exists(),
        "a symlink in a layer never leads outside it"
    );
    std::fs::remove_dir_all(&target).unwrap();
    // A hard link to a host file.
    let mut t = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Link);
    h.set_size(0);
    t.append_link(&mut h, "passwd", "/etc/passwd").unwrap();
    let ar = docker_archive("hl:1", &[t.into_inner().unwrap()], None, &["sh"]);
    let before = std::fs::metadata("/etc/passwd").unwrap();
    let _ = b.run_stdin(&["load"], &ar);
    let after = std::fs::metadata("/etc/passwd").unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        before.nlink(),
        after.nlink(),
        "the host file gained no link"
    );
}

#[test]
fn rmi_untags_then_deletes_and_respects_containers() {
    let b = Berth::new();
    b.ok(&["tag", "busybox", "second:tag"]);
    assert_eq!(b.ok(&["rmi", "second:tag"]).trim(), "Untagged: second:tag");
    let id = b.inspect("busybox", "{{.Id}}");
    let c = b.ok(&["create", "busybox"]).trim().to_string();
    let o = b.fails(&["rmi", "busybox"], 1);
    assert!(
        o.stderr.contains("container") && o.stderr.contains("is using its referenced image"),
        "{o:?}"
    );
    b.ok(&["rm", &c]);
    let out = b.ok(&["rmi", "busybox"]);
    assert_eq!(out, format!("Untagged: busybox:latest\nDeleted: {id}\n"));
    assert_eq!(
        dir_entries(&b.path().join("layers")),
        0,
        "layers removed with their last image"
    );
    assert_eq!(dir_entries(&b.path().join("images")), 0);
    let o = b.fails(&["rmi", "busybox"], 1);
    assert!(o.stderr.contains("No such image: busybox"), "{o:?}");
}

#[test]
fn rmi_force_and_prune() {
    let b = Berth::new();
    b.ok(&["tag", "busybox", "two:x"]);
    let short = b.inspect("busybox", "{{.Id}}")[7..19].to_string();
    let o = b.fails(&["rmi", &short], 1);
    assert!(
        o.stderr.contains("referenced in multiple repositories"),
        "{o:?}"
    );
    let c = b.ok(&["create", "busybox"]).trim().to_string();
    let out = b.ok(&["rmi", "-f", &short]);
    assert!(
        out.contains("Untagged: busybox:latest") && out.contains("Untagged: two:x"),
        "{out}"
    );
    assert!(
        !out.contains("Deleted"),
        "kept for the container that uses it"
    );
    // The container still runs from the now dangling image.
    assert_eq!(b.run(&["start", "-a", &c]).code, 0);
    assert_eq!(b.ok(&["images", "-f", "dangling=true", "-q"]).trim(), short);
    let out = b.ok(&["image", "prune", "-f"]);
    assert!(!out.contains("deleted:"), "in use, so not pruned: {out}");
    b.ok(&["rm", &c]);
    let out = b.ok(&["image", "prune", "-f"]);
    assert!(out.contains(&format!("deleted: sha256:{short}")), "{out}");
    assert_eq!(b.ok(&["images", "-q"]), "");
}

#[test]
fn save_to_stdout_pipes_into_load() {
    let b = Berth::new();
    let o = b
        .cmd(&["save", "busybox"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success());
    let other = Berth::empty();
    let l = other.run_stdin(&["load", "-q"], &o.stdout);
    assert_eq!(l.code, 0, "{l:?}");
    assert_eq!(l.stdout, "");
    assert_eq!(
        other
            .ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .trim(),
        "busybox:latest"
    );
    let _ = std::io::stdout().flush();
}

#[test]
fn saved_archives_are_read_by_other_tools() {
    let b = Berth::new();
    let skopeo = "/usr/bin/skopeo";
    assert!(std::path::Path::new(skopeo).exists(), "this test needs skopeo (apt-get install skopeo): it checks that docker-archive and OCI readers accept berth's save");
    b.ok(&["tag", "busybox", "interop:1"]);
    let archive = b.path().join("interop.tar");
    b.ok(&["save", "-o", archive.to_str().unwrap(), "interop:1"]);
    let layer = b.inspect("interop:1", "{{index .RootFS.Layers 0}}");
    for transport in ["docker-archive", "oci-archive"] {
        let out = std::process::Command::new(skopeo)
            .args([
                "inspect",
                "--raw",
                &format!("{transport}:{}", archive.display()),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "skopeo refused the {transport} view: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let conf = std::process::Command::new(skopeo)
            .args([
                "inspect",
                "--config",
                &format!("{transport}:{}", archive.display()),
            ])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&conf.stdout).unwrap();
        assert_eq!(v["rootfs"]["diff_ids"][0], layer.as_str(), "{transport}");
    }
    // And skopeo's own OCI layout comes back in.
    let oci = b.path().join("oci-out.tar");
    let out = std::process::Command::new(skopeo)
        .args([
            "copy",
            &format!("docker-archive:{}", archive.display()),
            &format!("oci-archive:{}:copied:2", oci.display()),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let other = Berth::empty();
    let out = other.ok(&["load", "-i", oci.to_str().unwrap()]);
    assert!(out.contains("Loaded image"), "{out}");
    assert_eq!(
        other.ok(&[
            "run",
            "--rm",
            other.ok(&["images", "-q"]).trim(),
            "echo",
            "roundtrip"
        ]),
        "roundtrip\n"
    );
}
