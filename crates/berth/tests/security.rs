//! Attacks on the host, each written as the attacker would try it: a Dockerfile, an image
//! archive, a container's planted symlinks and an API client reaching for host files and
//! kernel settings. Each plants something of the host's, attacks it through the berth CLI and
//! through the docker CLI (or raw API) on `berth daemon`, and checks the host is untouched.

use crate::api::Daemon;
use crate::common::Berth;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A directory on the host outside every berth root, holding what an attack reaches for;
/// removed on drop.
struct Host {
    dir: PathBuf,
    secret: String,
}

impl Host {
    fn new() -> Host {
        let tag = berth_engine::store::random_hex(6);
        let dir = PathBuf::from(format!("/tmp/berth-attack-{tag}"));
        std::fs::create_dir_all(dir.join("victim")).unwrap();
        let secret = format!("HOST-SECRET-{tag}");
        std::fs::write(dir.join("secret"), &secret).unwrap();
        Host { dir, secret }
    }

    /// `..` steps from anywhere under /tmp up to `/`, then down to our directory.
    fn climb(&self, extra: &str) -> String {
        format!("../../../../../../../..{}/{extra}", self.dir.display())
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        // Where the COPY --from attack would land on an engine without the fix.
        let _ = std::fs::remove_file(format!("{}-two", self.dir.display()));
    }
}

fn context(b: &Berth, dockerfile: &str) -> PathBuf {
    let dir = b
        .path()
        .join(format!("ctx-{}", berth_engine::store::random_hex(4)));
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    dir
}

/// Every byte of the image `name`'s layers, as `save` writes them.
fn image_bytes(b: &Berth, name: &str) -> Vec<u8> {
    let out = b.path().join("saved.tar");
    b.ok(&["save", "-o", out.to_str().unwrap(), name]);
    let v = std::fs::read(&out).unwrap();
    std::fs::remove_file(&out).unwrap();
    v
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn build_reads_nothing_outside_its_context() {
    let b = Berth::new();
    let h = Host::new();
    let d = Daemon::start(&b);
    // Names that climb out are refused with Docker's message, by both front ends.
    for src in [
        h.climb("secret"),
        format!("sub/{}", h.climb("secret")),
        format!("/{}", h.climb("secret")),
    ] {
        for cmd in ["COPY", "ADD"] {
            let ctx = context(&b, &format!("FROM busybox\n{cmd} {src} /s\n"));
            let o = b.run(&["build", "-t", "evil", ctx.to_str().unwrap()]);
            assert_ne!(o.code, 0, "{cmd} {src}: {o:?}");
            assert!(
                o.stderr
                    .contains("forbidden path outside the build context"),
                "{cmd} {src}: {o:?}"
            );
            let (code, out, err) = d.docker(&["build", "-t", "evil", ctx.to_str().unwrap()]);
            assert_ne!(code, 0, "{out} {err}");
            assert!(
                format!("{out}{err}").contains("forbidden path outside the build context"),
                "{out} {err}"
            );
        }
    }
    // Symlinks in the context resolve inside it: to a host directory, to a host file, to `/`.
    let ctx = context(
        &b,
        "FROM busybox\nCOPY dirlink/ /a/\nCOPY filelink /b\nCOPY rootlink/tmp /c/\nRUN true\n",
    );
    std::os::unix::fs::symlink(&h.dir, ctx.join("dirlink")).unwrap();
    std::os::unix::fs::symlink(h.dir.join("secret"), ctx.join("filelink")).unwrap();
    std::os::unix::fs::symlink("/", ctx.join("rootlink")).unwrap();
    let o = b.run(&["build", "-t", "links", ctx.to_str().unwrap()]);
    if o.code == 0 {
        assert!(!contains(&image_bytes(&b, "links"), &h.secret), "{o:?}");
    }
    let (code, ..) = d.docker(&["build", "-t", "links2", ctx.to_str().unwrap()]);
    if code == 0 {
        assert!(!contains(&image_bytes(&b, "links2"), &h.secret));
    }
    // A .dockerignore or Dockerfile that is a symlink to a host file is read inside the
    // context too (where the link leads to nothing).
    let ctx = context(&b, "");
    std::fs::remove_file(ctx.join("Dockerfile")).unwrap();
    std::os::unix::fs::symlink(h.dir.join("secret"), ctx.join("Dockerfile")).unwrap();
    let o = b.run(&["build", ctx.to_str().unwrap()]);
    assert_ne!(o.code, 0);
    assert!(!o.stderr.contains(&h.secret), "{o:?}");
    // The API's `dockerfile` parameter names a file inside the context only.
    let tar = {
        let mut t = tar::Builder::new(Vec::new());
        let mut hd = tar::Header::new_gnu();
        let df = b"FROM busybox\n";
        hd.set_size(df.len() as u64);
        hd.set_mode(0o644);
        t.append_data(&mut hd, "Dockerfile", &df[..]).unwrap();
        t.into_inner().unwrap()
    };
    let r = raw(
        &d,
        "POST",
        &format!(
            "/v1.45/build?dockerfile={}",
            h.climb("secret").replace('/', "%2F")
        ),
        "application/x-tar",
        &tar,
    );
    assert!(
        r.contains("forbidden path outside the build context") && !r.contains(&h.secret),
        "{r}"
    );
}

#[test]
fn copy_from_a_stage_writes_nothing_on_the_host() {
    let b = Berth::new();
    let h = Host::new();
    let d = Daemon::start(&b);
    let name = h.dir.file_name().unwrap().to_string_lossy().into_owned();
    // The stage makes files at the very host paths the old code wrote to, and a directory
    // holding a symlink to the host's /tmp that a second source then goes through.
    let df = format!(
        "FROM busybox AS s\n\
         RUN mkdir -p {dir}/victim /c && echo pwned > {dir}/victim/one && echo pwned > /tmp/{name}-two && ln -s /tmp /c/l\n\
         FROM busybox\n\
         COPY --from=s /../../../../../../../..{dir}/victim/one /y\n\
         COPY --from=s /c /c/l/{name}-two /z/\n\
         RUN cat /y\n",
        dir = h.dir.display()
    );
    for (i, via_api) in [false, true].into_iter().enumerate() {
        let ctx = context(&b, &df);
        let tag = format!("from{i}");
        if via_api {
            d.ok(&["build", "--no-cache", "-t", &tag, ctx.to_str().unwrap()]);
        } else {
            b.ok(&["build", "--no-cache", "-t", &tag, ctx.to_str().unwrap()]);
        }
        assert!(
            !h.dir.join("victim/one").exists(),
            "COPY --from wrote the host's file"
        );
        assert!(
            !Path::new(&format!("/tmp/{name}-two")).exists(),
            "COPY --from wrote through a stage's symlink onto the host"
        );
        let out = b.ok(&["run", "--rm", &tag, "cat", "/y", &format!("/z/{name}-two")]);
        assert_eq!(out, "pwned\npwned\n");
    }
}

#[test]
fn cp_into_a_container_never_follows_its_symlinks_onto_the_host() {
    let b = Berth::new();
    let h = Host::new();
    let d = Daemon::start(&b);
    let victim = h.dir.join("victim");
    let src = b.path().join("src");
    std::fs::create_dir_all(src.join("dir")).unwrap();
    std::fs::write(src.join("dir/payload"), "payload").unwrap();
    std::fs::write(src.join("file"), "payload").unwrap();
    let plant = format!(
        "ln -s {v} /tmp/dir && ln -s {v}/file /tmp/file && ln -s {v} /tmp/into",
        v = victim.display()
    );
    // Running containers and stopped ones, each attacked through one of the two CLIs.
    for c in ["up-cli", "up-api"] {
        b.ok(&[
            "run",
            "-d",
            "--name",
            c,
            "busybox",
            "sh",
            "-c",
            &format!("{plant}; exec sleep 1000"),
        ]);
        b.wait_for(10, "the planted link", || {
            b.run(&["exec", c, "test", "-L", "/tmp/into"]).code == 0
        });
    }
    for c in ["down-cli", "down-api"] {
        b.ok(&["run", "--name", c, "busybox", "sh", "-c", &plant]);
    }
    for c in ["up-cli", "up-api", "down-cli", "down-api"] {
        let via_api = c.ends_with("api");
        let attempts = [
            [src.join("dir").display().to_string(), format!("{c}:/tmp/")],
            [
                src.join("file").display().to_string(),
                format!("{c}:/tmp/file"),
            ],
            [
                src.join("file").display().to_string(),
                format!("{c}:/tmp/into/"),
            ],
        ];
        for [from, to] in &attempts {
            let a = ["cp", from.as_str(), to.as_str()];
            if via_api {
                let _ = d.docker(&a);
            } else {
                let _ = b.run(&a);
            }
            let left: Vec<_> = std::fs::read_dir(&victim)
                .unwrap()
                .flatten()
                .map(|e| e.file_name())
                .collect();
            assert!(
                left.is_empty(),
                "{a:?} wrote {left:?} into the host's directory"
            );
        }
    }
    // The copies landed inside the container instead (a link to a directory is followed there,
    // as Docker does, so `into/` leads to the container's own path).
    let (code, out, err) = d.docker(&["exec", "up-cli", "cat", "/tmp/dir/payload", "/tmp/file"]);
    assert_eq!((code, out.as_str()), (0, "payloadpayload"), "{err}");
}

#[test]
fn sysctls_that_reach_the_host_are_refused_by_every_front_end() {
    let b = Berth::new();
    let d = Daemon::start(&b);
    let core = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
    let o = b.fails(
        &[
            "run",
            "--rm",
            "--sysctl",
            "kernel.core_pattern=|/tmp/x",
            "busybox",
            "true",
        ],
        125,
    );
    assert!(o.stderr.contains("not allowed"), "{o:?}");
    let o = b.fails(
        &[
            "run",
            "--rm",
            "--network",
            "host",
            "--sysctl",
            "net.ipv4.ip_forward=0",
            "busybox",
            "true",
        ],
        125,
    );
    assert!(o.stderr.contains("not allowed"), "{o:?}");
    for (mode, key) in [
        ("bridge", "kernel.core_pattern"),
        ("host", "net.ipv4.conf.all.forwarding"),
        ("bridge", "net.ipv4/../../kernel/core_pattern"),
    ] {
        let body = format!(
            r#"{{"Image":"busybox","Cmd":["true"],"HostConfig":{{"NetworkMode":"{mode}","Sysctls":{{"{key}":"|/tmp/x"}}}}}}"#
        );
        let r = create(&d, &body);
        assert!(
            r.starts_with("HTTP/1.1 400") && r.contains("not allowed"),
            "{key}: {r}"
        );
    }
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap(),
        core
    );
    // A namespaced one in the container's own namespace still works.
    let out = b.ok(&[
        "run",
        "--rm",
        "--sysctl",
        "net.ipv4.ip_forward=1",
        "busybox",
        "cat",
        "/proc/sys/net/ipv4/ip_forward",
    ]);
    assert_eq!(out.trim(), "1");
}

#[test]
fn the_state_root_keeps_secrets_and_setuid_files_from_other_users() {
    let b = Berth::new();
    // A root made by an older berth, 0755 everywhere, is tightened when opened.
    for d in ["", "containers", "layers", "volumes"] {
        std::fs::set_permissions(b.path().join(d), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let id = b
        .ok(&[
            "run",
            "-d",
            "-e",
            "PASSWORD=hunter2",
            "busybox",
            "sh",
            "-c",
            "echo out; cp /bin/busybox /suid && chmod 4755 /suid; sleep 1000",
        ])
        .trim()
        .to_string();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(b.path()), 0o711);
    for d in ["containers", "layers", "volumes", "images", "blobs", "tmp"] {
        assert_eq!(mode(&b.path().join(d)), 0o700, "{d}");
    }
    let dir = b.container_dir(&id);
    b.wait_for(10, "the log", || {
        std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".log"))
    });
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.ends_with(".json") {
            assert_eq!(mode(&e.path()), 0o600, "{n}");
        } else if n.ends_with(".log") {
            assert_eq!(mode(&e.path()), 0o640, "{n}");
        }
    }
    // Checked as a user would meet it: nobody reads the secrets or reaches the setuid copy.
    let as_nobody = |cmd: &str| {
        std::process::Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "sh",
                "-c",
                cmd,
            ])
            .output()
            .expect("setpriv (util-linux) is needed")
    };
    let o = as_nobody(&format!(
        "cat {}/config.json {}/container.json",
        dir.display(),
        dir.display()
    ));
    assert!(!o.status.success() && !String::from_utf8_lossy(&o.stdout).contains("hunter2"));
    b.wait_for(10, "the setuid copy", || dir.join("upper/suid").exists());
    let o = as_nobody(&format!("{}/upper/suid id -u", dir.display()));
    assert!(
        !o.status.success(),
        "a setuid file of a container ran for another user"
    );
}

/// A docker-archive whose layer lies behind a symlink to a host directory.
fn archive_through_a_symlink(h: &Host) -> Vec<u8> {
    let layer = {
        let mut t = tar::Builder::new(Vec::new());
        let mut hd = tar::Header::new_gnu();
        hd.set_size(h.secret.len() as u64);
        hd.set_mode(0o644);
        t.append_data(&mut hd, "stolen", h.secret.as_bytes())
            .unwrap();
        t.into_inner().unwrap()
    };
    std::fs::write(h.dir.join("layer.tar"), &layer).unwrap();
    let diff = berth_engine::content::sha256_digest(&layer);
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{}},"rootfs":{{"type":"layers","diff_ids":["{diff}"]}}}}"#
    );
    let manifest = r#"[{"Config":"c.json","RepoTags":["evil:1"],"Layers":["l/layer.tar"]}]"#;
    let mut t = tar::Builder::new(Vec::new());
    for (name, data) in [
        ("c.json", config.as_bytes()),
        ("manifest.json", manifest.as_bytes()),
    ] {
        let mut hd = tar::Header::new_gnu();
        hd.set_size(data.len() as u64);
        hd.set_mode(0o644);
        t.append_data(&mut hd, name, data).unwrap();
    }
    let mut hd = tar::Header::new_gnu();
    hd.set_entry_type(tar::EntryType::Symlink);
    hd.set_size(0);
    hd.set_mode(0o777);
    t.append_link(&mut hd, "l", &h.dir).unwrap();
    t.into_inner().unwrap()
}

#[test]
fn load_reads_nothing_through_an_archives_symlinks() {
    let b = Berth::new();
    let h = Host::new();
    let d = Daemon::start(&b);
    let ar = b.path().join("evil.tar");
    std::fs::write(&ar, archive_through_a_symlink(&h)).unwrap();
    let o = b.run(&["load", "-i", ar.to_str().unwrap()]);
    assert_ne!(o.code, 0, "{o:?}");
    let (code, out, err) = d.docker(&["load", "-i", ar.to_str().unwrap()]);
    assert_ne!(code, 0, "{out} {err}");
    assert!(
        b.run(&["image", "inspect", "evil:1"]).code != 0,
        "an image was made of a host file"
    );
}

#[test]
fn working_directories_outside_the_root_and_host_page_data_are_refused() {
    let b = Berth::new();
    // CVE-2024-21626: a working directory naming a descriptor the runtime still holds.
    for fd in 3..=12 {
        let w = format!("/proc/self/fd/{fd}");
        let o = b.run(&[
            "run",
            "--rm",
            "-w",
            &w,
            "busybox",
            "sh",
            "-c",
            "pwd -P; ls ..",
        ]);
        if o.code == 0 {
            assert!(
                o.stdout.starts_with('/') && !o.stdout.contains("unreachable"),
                "{w}: {o:?}"
            );
        }
        b.ok(&[
            "run",
            "-d",
            "--name",
            &format!("x{fd}"),
            "busybox",
            "sleep",
            "100",
        ]);
        let o = b.run(&["exec", "-w", &w, &format!("x{fd}"), "sh", "-c", "pwd -P"]);
        if o.code == 0 {
            assert!(
                o.stdout.starts_with('/') && !o.stdout.contains("unreachable"),
                "exec {w}: {o:?}"
            );
        }
        b.ok(&["rm", "-f", &format!("x{fd}")]);
    }
    // Host physical-page data is masked (Docker leaves it readable).
    for f in ["kpagecount", "kpageflags", "kpagecgroup"] {
        if Path::new(&format!("/proc/{f}")).exists() {
            let out = b.ok(&[
                "run",
                "--rm",
                "busybox",
                "sh",
                "-c",
                &format!("head -c 64 /proc/{f} | wc -c"),
            ]);
            assert_eq!(out.trim(), "0", "/proc/{f} is readable in a container");
        }
    }
}

#[test]
fn a_copy_whose_caller_dies_leaves_the_container_running() {
    let b = Berth::new();
    b.ok(&[
        "run",
        "-d",
        "--name",
        "cc",
        "busybox",
        "sh",
        "-c",
        "dd if=/dev/zero of=/big bs=1M count=64 2>/dev/null; exec sleep 1000",
    ]);
    b.wait_for(20, "the big file", || {
        b.run(&["exec", "cc", "test", "-s", "/big"]).code == 0
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    // The copy's output is a pipe nobody reads: it blocks while the container is frozen.
    let (r, w) = nix::unistd::pipe().unwrap();
    let mut cp = b
        .cmd(&["cp", "cc:/big", "-"])
        .stdout(std::process::Stdio::from(w))
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    cp.kill().unwrap();
    let _ = cp.wait();
    drop(r);
    // A frozen container would hang the exec: bounded by timeout(1).
    b.wait_for(15, "the container to answer again", || {
        std::process::Command::new("timeout")
            .args(["3", crate::common::BERTH.as_str(), "exec", "cc", "true"])
            .env("BERTH_ROOT", b.path())
            .status()
            .is_ok_and(|s| s.success())
    });
    assert_eq!(b.inspect("cc", "{{.State.Status}}"), "running");
}

/// `POST /containers/create` with `body`; the whole answer as text.
fn create(d: &Daemon, body: &str) -> String {
    raw(
        d,
        "POST",
        "/v1.45/containers/create",
        "application/json",
        body.as_bytes(),
    )
}

/// One HTTP request on the daemon's socket; the whole answer as text.
fn raw(d: &Daemon, method: &str, path: &str, ctype: &str, body: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(&d.socket).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: berth\r\nConnection: close\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn containers_reach_neither_the_hosts_loopback_nor_a_host_made_router() {
    use std::time::Duration;
    let b = Berth::new();
    // A host service on loopback only, and a published port (so the bridge carries 127.0.0.1
    // traffic for it: route_localnet).
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let port = sock.local_addr().unwrap().port();
    b.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        "127.0.0.1::80",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
    ]);
    // The attacker routes 127.0.0.1 to its gateway, the host (NET_ADMIN inside its own
    // namespace is all it takes; raw packets with CAP_NET_RAW do the same).
    let script = format!(
        "gw=$(ip route | awk '/default/ {{print $3}}'); \
         ip route del local 127.0.0.1 dev lo table local; ip route del local 127.0.0.0/8 dev lo table local; \
         ip route add 127.0.0.1/32 via $gw dev eth0 && (tftp -g -r x 127.0.0.1 {port} & sleep 1); echo sent"
    );
    let out = b.ok(&[
        "run",
        "--rm",
        "--cap-add",
        "NET_ADMIN",
        "busybox",
        "sh",
        "-c",
        &script,
    ]);
    assert!(out.contains("sent"), "{out}");
    let mut buf = [0u8; 64];
    assert!(
        sock.recv_from(&mut buf).is_err(),
        "a container reached a service on the host's loopback"
    );
    // The published port still answers on the host's loopback (the reply path is not cut).
    let hp = b.ok(&["port", "web", "80"]);
    let hp = hp.trim().rsplit(':').next().unwrap().to_string();
    let mut s = std::net::TcpStream::connect(format!("127.0.0.1:{hp}")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    use std::io::{Read, Write};
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1."), "{answer}");
}

/// Test hosts made with `ip netns add`, deleted on drop.
struct TestHosts(Vec<String>);

impl Drop for TestHosts {
    fn drop(&mut self) {
        for n in &self.0 {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", n])
                .status();
        }
    }
}

#[test]
fn forwarding_that_berth_turned_on_carries_only_berths_traffic() {
    let b = Berth::new();
    let tag = berth_engine::store::random_hex(3);
    let hosts = TestHosts(vec![format!("fwa{tag}"), format!("fwb{tag}")]);
    let (na, nb) = (&hosts.0[0], &hosts.0[1]);
    // A network namespace of the test's own, where forwarding starts off as on a fresh host:
    // berth's first network there turns it on. Two test hosts hang off it on their own links,
    // so the namespace could route between them.
    let script = format!(
        r#"set -e
ip link set lo up
# A new namespace copies the host's setting: start from a host that does not route.
echo 0 > /proc/sys/net/ipv4/ip_forward
ip netns add {na}; ip netns add {nb}
ip link add a{tag} type veth peer name eth0 netns {na}
ip link add b{tag} type veth peer name eth0 netns {nb}
ip addr add 10.214.1.1/24 dev a{tag}; ip link set a{tag} up
ip addr add 10.214.2.1/24 dev b{tag}; ip link set b{tag} up
ip -n {na} addr add 10.214.1.2/24 dev eth0; ip -n {na} link set eth0 up; ip -n {na} route add default via 10.214.1.1
ip -n {nb} addr add 10.214.2.2/24 dev eth0; ip -n {nb} link set eth0 up; ip -n {nb} route add default via 10.214.2.1
echo before=$(cat /proc/sys/net/ipv4/ip_forward)
{berth} network create --subnet 10.213.{n}.0/24 fw{tag} >/dev/null
{berth} run --rm --network fw{tag} busybox true
echo after=$(cat /proc/sys/net/ipv4/ip_forward)
if ip netns exec {na} busybox ping -c 1 -W 1 10.214.2.2 >/dev/null; then echo routed; else echo dropped; fi
nft flush chain ip berth not_ours
if ip netns exec {na} busybox ping -c 1 -W 1 10.214.2.2 >/dev/null; then echo routed-without-guard; fi
{berth} network rm fw{tag} >/dev/null
"#,
        berth = crate::common::BERTH.as_str(),
        n = u8::from_str_radix(&tag[..2], 16).unwrap(),
    );
    let o = std::process::Command::new("unshare")
        .args(["-n", "sh", "-c", &script])
        .env("BERTH_ROOT", b.path())
        .output()
        .expect("unshare (util-linux) is needed");
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{out} {err}");
    assert!(
        out.contains("before=0") && out.contains("after=1"),
        "{out} {err}"
    );
    assert!(
        out.contains("dropped"),
        "the host routed traffic that is not berth's: {out} {err}"
    );
    // The setup itself routes: only the guard stopped it.
    assert!(out.contains("routed-without-guard"), "{out} {err}");
    drop(hosts);
}

#[test]
fn long_lived_and_slow_clients_do_not_stall_the_daemon() {
    use std::io::Write;
    let b = Berth::new();
    let d = Daemon::start(&b);
    let id = d
        .ok(&["run", "-d", "busybox", "sleep", "1000"])
        .trim()
        .to_string();
    let mut held = Vec::new();
    let connect = || std::os::unix::net::UnixStream::connect(&d.socket).unwrap();
    // More waits and followed logs than the blocking pool has threads, and clients that never
    // finish their headers.
    for _ in 0..60 {
        let mut s = connect();
        write!(
            s,
            "POST /v1.45/containers/{id}/wait HTTP/1.1\r\nHost: b\r\nContent-Length: 0\r\n\r\n"
        )
        .unwrap();
        held.push(s);
        let mut s = connect();
        write!(
            s,
            "GET /v1.45/containers/{id}/logs?follow=1&stdout=1 HTTP/1.1\r\nHost: b\r\n\r\n"
        )
        .unwrap();
        held.push(s);
        let mut s = connect();
        write!(s, "GET /_ping HTTP/1.1\r\nHost:").unwrap();
        held.push(s);
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    // Bounded by timeout(1): a stalled daemon would hang the client for good.
    let docker = |args: &[&str]| {
        let o = std::process::Command::new("timeout")
            .arg("20")
            .arg("docker")
            .args(args)
            .env("DOCKER_HOST", format!("unix://{}", d.socket.display()))
            .env("DOCKER_CONFIG", b.path().join("docker-config"))
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "docker {args:?} with 180 long-lived connections open: {o:?}"
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert!(docker(&["ps", "-q"]).contains(&id[..12]));
    assert_eq!(
        docker(&["exec", &id, "echo", "answered"]).trim(),
        "answered"
    );
    assert_eq!(
        docker(&["run", "--rm", "busybox", "echo", "ran"]).trim(),
        "ran"
    );
    drop(held);
}

/// A docker-archive of `layers` (plain tars) tagged `tag`, with `config` merged into the
/// image's `config` object.
fn docker_archive(tag: &str, layers: &[Vec<u8>], config: serde_json::Value) -> Vec<u8> {
    let diffs: Vec<String> = layers
        .iter()
        .map(|l| berth_engine::content::sha256_digest(l))
        .collect();
    let cfg = serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": config,
        "rootfs": {"type": "layers", "diff_ids": diffs},
    })
    .to_string();
    let names: Vec<String> = (0..layers.len()).map(|i| format!("l{i}.tar")).collect();
    let manifest =
        serde_json::json!([{"Config": "c.json", "RepoTags": [tag], "Layers": names}]).to_string();
    let mut t = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut hd = tar::Header::new_gnu();
        hd.set_size(data.len() as u64);
        hd.set_mode(0o644);
        t.append_data(&mut hd, name, data).unwrap();
    };
    add("c.json", cfg.as_bytes());
    add("manifest.json", manifest.as_bytes());
    for (n, l) in names.iter().zip(layers) {
        add(n, l);
    }
    t.into_inner().unwrap()
}

fn load(b: &Berth, archive: Vec<u8>) {
    let p = b
        .path()
        .join(format!("a-{}.tar", berth_engine::store::random_hex(3)));
    std::fs::write(&p, archive).unwrap();
    b.ok(&["load", "-i", p.to_str().unwrap()]);
}

/// Whether nftables has the table `ip NAME`.
fn nft_table(name: &str) -> bool {
    std::process::Command::new("nft")
        .args(["list", "table", "ip", name])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success()
}

#[test]
fn image_and_client_settings_never_become_firewall_commands_or_host_paths() {
    let b = Berth::new();
    let d = Daemon::start(&b);
    let tag = berth_engine::store::random_hex(3);
    let pwned = format!("berthpwned{tag}");
    let _ = std::process::Command::new("nft")
        .args(["delete", "table", "ip", &pwned])
        .status();
    // A port protocol that closes the nft line and starts another.
    let key = format!(
        "80/tcp_any {{ 1 : 127.0.0.2 . 1 }}\nadd table ip {pwned}\nadd element ip berth tcp"
    );
    let busybox = std::fs::read(crate::common::busybox_tar()).unwrap();
    load(
        &b,
        docker_archive(
            "ports:1",
            std::slice::from_ref(&busybox),
            serde_json::json!({"ExposedPorts": {key.clone(): {}}, "Cmd": ["sleep", "100"]}),
        ),
    );
    let o = b.run(&["run", "-d", "-P", "ports:1"]);
    assert_ne!(o.code, 0, "{o:?}");
    let body = serde_json::json!({"Image": "busybox", "Cmd": ["sleep", "100"], "HostConfig": {"PortBindings": {key.clone(): [{"HostPort": ""}]}}}).to_string();
    let r = create(&d, &body);
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    let body = serde_json::json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"PortBindings": {"80/tcp": [{"HostIp": "1.2.3.4 . 1 }\nadd table ip x\n#", "HostPort": "8080"}]}}}).to_string();
    let r = create(&d, &body);
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    assert!(!nft_table(&pwned), "an image's port key ran nft commands");
    // Devices, tmpfs options and ids are checked the same way, in the engine.
    let h = Host::new();
    let victim = h.dir.join("secret");
    let body = serde_json::json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"Devices": [{"PathOnHost": "/dev/null", "PathInContainer": format!("/dev/../../../../../../../..{}", victim.display()), "CgroupPermissions": "rwm"}]}}).to_string();
    let r = create(&d, &body);
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    b.fails(
        &[
            "run",
            "--rm",
            "--device",
            "/dev/null:/dev/../x",
            "busybox",
            "true",
        ],
        125,
    );
    b.fails(
        &[
            "run",
            "--rm",
            "--device",
            "/dev/null:/dev/n:rwx",
            "busybox",
            "true",
        ],
        125,
    );
    b.fails(
        &["run", "--rm", "--tmpfs", "/t:bind", "busybox", "true"],
        125,
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), h.secret);
    let fake = format!("..%2F..%2Fvolumes%2F{}", "a".repeat(64 - 23));
    let r = raw(
        &d,
        "GET",
        &format!("/v1.45/containers/{fake}/json"),
        "application/json",
        b"",
    );
    assert!(r.starts_with("HTTP/1.1 404"), "{r}");
    // An image's volume cannot cover the container's /dev/pts (what `exec -t` opens there).
    load(
        &b,
        docker_archive(
            "pts:1",
            &[busybox],
            serde_json::json!({"Volumes": {"/dev/pts": {}}, "Cmd": ["sleep", "100"]}),
        ),
    );
    let o = b.run(&["create", "pts:1"]);
    assert_ne!(o.code, 0, "{o:?}");
    assert!(o.stderr.contains("/dev"), "{o:?}");
}

#[test]
fn users_are_looked_up_in_the_image_never_through_its_links_on_the_host() {
    let b = Berth::new();
    let h = Host::new();
    std::fs::create_dir_all(h.dir.join("etc")).unwrap();
    std::fs::write(
        h.dir.join("etc/passwd"),
        "hostonly:x:4242:4242::/h:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(h.dir.join("etc/group"), "hostonly:x:4242:\n").unwrap();
    let link = {
        let mut t = tar::Builder::new(Vec::new());
        let mut hd = tar::Header::new_gnu();
        hd.set_entry_type(tar::EntryType::Symlink);
        hd.set_size(0);
        hd.set_mode(0o777);
        t.append_link(&mut hd, "etc", h.dir.join("etc")).unwrap();
        t.into_inner().unwrap()
    };
    let busybox = std::fs::read(crate::common::busybox_tar()).unwrap();
    load(
        &b,
        docker_archive(
            "links:1",
            &[busybox, link],
            serde_json::json!({"Cmd": ["sh"]}),
        ),
    );
    let o = b.run(&[
        "run",
        "--rm",
        "-u",
        "hostonly",
        "links:1",
        "/bin/busybox",
        "id",
        "-u",
    ]);
    assert!(
        !o.stdout.contains("4242"),
        "the host's passwd named the container's user: {o:?}"
    );
    assert!(o.stderr.contains("unable to find user hostonly"), "{o:?}");
}
