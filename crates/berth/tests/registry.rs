//! Registries: push and pull against Debian's real `docker-registry` on loopback (plain, with
//! htpasswd Basic auth, behind a proxy that cuts a download), indexes and platforms, corruption.

use crate::common::{Berth, Registry};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

impl Registry {
    /// Where the registry keeps a blob's bytes.
    fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// A raw HTTP request to the registry; returns (status line, body).
    fn http(&self, method: &str, path: &str, ctype: &str, body: &[u8]) -> (String, Vec<u8>) {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.addr,
            body.len()
        )
        .unwrap();
        s.write_all(body).unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        let text = String::from_utf8_lossy(&out).into_owned();
        let status = text.lines().next().unwrap_or("").to_string();
        let body = match text.find("\r\n\r\n") {
            Some(i) => out[i + 4..].to_vec(),
            None => vec![],
        };
        (status, body)
    }
}

fn digest_of(out: &str) -> String {
    out.lines()
        .find_map(|l| l.split("digest: ").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .expect("a digest line")
        .to_string()
}

fn is_empty_dir(p: &Path) -> bool {
    std::fs::read_dir(p)
        .map(|mut d| d.next().is_none())
        .unwrap_or(true)
}

/// Runs berth with `DOCKER_CONFIG=dir` (where logins are kept) and `input` on stdin; returns the
/// exit code and stdout followed by stderr.
fn with_config(b: &Berth, dir: &Path, args: &[&str], input: &str) -> (i32, String) {
    let mut c = b.cmd(args);
    c.env("DOCKER_CONFIG", dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut ch = c.spawn().unwrap();
    ch.stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let o = ch.wait_with_output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
    )
}

#[test]
fn push_pull_round_trip_keeps_digests() {
    let reg = Registry::start(None);
    let a = Berth::new();
    let name = format!("{}/tools/bb:1", reg.addr);
    a.ok(&["tag", "busybox", &name]);
    let out = a.ok(&["push", &name]);
    assert!(
        out.contains(&format!(
            "The push refers to repository [{}/tools/bb]",
            reg.addr
        )),
        "{out}"
    );
    assert!(out.contains(": Pushed"), "{out}");
    let digest = digest_of(&out);
    // Pushed again: every blob is already there.
    let again = a.ok(&["push", &name]);
    assert!(again.contains("Layer already exists"), "{again}");
    assert_eq!(digest_of(&again), digest);

    let b = Berth::empty();
    let out = b.ok(&["pull", &name]);
    assert!(out.contains("1: Pulling from tools/bb"), "{out}");
    assert!(out.contains(": Pull complete"), "{out}");
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {name}")),
        "{out}"
    );
    let id_a = a.inspect("busybox", "{{.Id}}");
    assert_eq!(
        b.inspect(&name, "{{.Id}}"),
        id_a,
        "same image id after the round trip"
    );
    assert_eq!(
        b.inspect(&name, "{{index .RepoDigests 0}}"),
        format!("{}/tools/bb@{digest}", reg.addr)
    );
    let imgs = b.ok(&["images", "--digests"]);
    assert!(imgs.contains(&digest), "{imgs}");
    assert_eq!(
        b.ok(&["run", "--rm", &name, "echo", "pulled"]).trim(),
        "pulled"
    );
    // Up to date the second time, and pullable by digest.
    let out = b.ok(&["pull", &name]);
    assert!(
        out.contains(&format!("Status: Image is up to date for {name}")),
        "{out}"
    );
    b.ok(&["pull", "-q", &format!("{}/tools/bb@{digest}", reg.addr)]);

    // Pushed from the pulled copy to a sibling repository: mounted, and the same digest.
    let other = format!("{}/other/bb:2", reg.addr);
    b.ok(&["tag", &name, &other]);
    let out = b.ok(&["push", &other]);
    assert!(out.contains("Mounted from tools/bb"), "{out}");
    assert_eq!(digest_of(&out), digest);

    // Removing the tags removes the image, its digest references, layers and blobs.
    b.ok(&["rmi", &name]);
    let out = b.ok(&["rmi", &other]);
    assert!(out.contains("Deleted:"), "{out}");
    assert!(is_empty_dir(&b.path().join("layers")));
    assert!(is_empty_dir(&b.path().join("blobs/sha256")));
}

#[test]
fn run_pulls_a_missing_image() {
    let reg = Registry::start(None);
    let a = Berth::new();
    let name = format!("{}/app/bb:latest", reg.addr);
    a.ok(&["tag", "busybox", &name]);
    a.ok(&["push", "-q", &name]);
    let b = Berth::empty();
    let short = format!("{}/app/bb", reg.addr);
    let out = b.run(&["run", "--rm", &short, "echo", "from-registry"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout.trim(), "from-registry");
    assert!(
        out.stderr
            .contains(&format!("Unable to find image '{name}' locally")),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("Status: Downloaded newer image"),
        "{}",
        out.stderr
    );
    // --pull never refuses, a missing repository fails with Docker's code and message.
    let c = Berth::empty();
    // The docker CLI's words: it says it will pull only when it does.
    let out = c.fails(&["run", "--pull", "never", "--rm", &short, "true"], 125);
    assert!(
        out.stderr.contains(&format!("No such image: {name}"))
            && !out.stderr.contains("Unable to find image"),
        "{}",
        out.stderr
    );
    let out = c.fails(
        &["run", "--rm", &format!("{}/no/such:1", reg.addr), "true"],
        125,
    );
    assert!(out.stderr.contains("not found"), "{}", out.stderr);
    let out = c.run(&["pull", &format!("{}/no/such:1", reg.addr)]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("manifest unknown") || out.stderr.contains("not found"),
        "{}",
        out.stderr
    );
    // A build pulls its missing FROM image too.
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM {short}\nRUN echo built > /f\n"),
    )
    .unwrap();
    let out = c.ok(&["build", "-t", "on-top", ctx.path().to_str().unwrap()]);
    assert!(out.contains("Status: Downloaded newer image"), "{out}");
    assert_eq!(
        c.ok(&["run", "--rm", "on-top", "cat", "/f"]).trim(),
        "built"
    );
}

#[test]
fn corrupted_blob_fails_and_keeps_nothing() {
    let reg = Registry::start(None);
    let a = Berth::new();
    let name = format!("{}/bad/bb:1", reg.addr);
    a.ok(&["tag", "busybox", &name]);
    a.ok(&["push", "-q", &name]);
    let layer = a.inspect("busybox", "{{index .RootFS.Layers 0}}");
    // busybox was imported uncompressed, so the blob digest is the diff id. Flip bytes in the
    // middle of /bin/busybox: the tar still parses, only the digests catch it.
    let p = reg.blob_path(&layer);
    let mut data = std::fs::read(&p).unwrap();
    let mid = data.len() / 2;
    for b in &mut data[mid..mid + 64] {
        *b ^= 0xff;
    }
    std::fs::write(&p, &data).unwrap();
    let b = Berth::empty();
    let out = b.run(&["pull", &name]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("verification failed"), "{}", out.stderr);
    assert!(b.ok(&["images", "-q", "-a"]).trim().is_empty());
    assert!(is_empty_dir(&b.path().join("layers")), "no layer kept");
    assert!(is_empty_dir(&b.path().join("blobs/sha256")), "no blob kept");
    assert!(is_empty_dir(&b.path().join("tmp")), "no temp files left");
}

#[test]
fn index_picks_the_platform() {
    let reg = Registry::start(None);
    let a = Berth::new();
    let name = format!("{}/multi/bb:amd", reg.addr);
    a.ok(&["tag", "busybox", &name]);
    let digest = digest_of(&a.ok(&["push", &name]));
    let (_, manifest) = reg.http("GET", &format!("/v2/multi/bb/manifests/{digest}"), "", b"");
    let arch = a
        .ok(&["version", "-f", "{{.Server.Arch}}"])
        .trim()
        .to_string();
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{digest}","size":{},"platform":{{"os":"linux","architecture":"{arch}"}}}},
{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{digest}","size":{},"platform":{{"os":"linux","architecture":"arm64","variant":"v8"}}}}]}}"#,
        manifest.len(),
        manifest.len()
    );
    let (status, _) = reg.http(
        "PUT",
        "/v2/multi/bb/manifests/latest",
        "application/vnd.oci.image.index.v1+json",
        index.as_bytes(),
    );
    assert!(status.contains("201"), "{status}");
    let b = Berth::empty();
    let latest = format!("{}/multi/bb", reg.addr);
    let out = b.ok(&["pull", &latest]);
    assert!(out.contains("Pull complete"), "{out}");
    assert_eq!(
        b.inspect(&latest, "{{.Id}}"),
        a.inspect("busybox", "{{.Id}}")
    );
    b.ok(&["pull", "-q", "--platform", "linux/arm64/v8", &latest]);
    let out = b.run(&["pull", "--platform", "linux/s390x", &latest]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("no matching manifest for linux/s390x in the manifest list entries"),
        "{}",
        out.stderr
    );
    let tags = b.ok(&["pull", "-a", "-q", &latest]);
    assert!(tags.contains(&latest), "{tags}");
    let imgs = b.ok(&["images", "--format", "{{.Tag}}", &latest]);
    assert!(imgs.contains("amd") && imgs.contains("latest"), "{imgs}");
}

#[test]
fn basic_auth_login_logout() {
    let reg = Registry::start(Some(("tester", "s3cret")));
    let a = Berth::new();
    let cfgdir = tempfile::tempdir().unwrap();
    let name = format!("{}/private/bb:1", reg.addr);
    a.ok(&["tag", "busybox", &name]);
    let (code, out) = with_config(&a, cfgdir.path(), &["push", &name], "");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("unauthorized") || out.contains("no basic auth credentials"),
        "{out}"
    );
    let (code, out) = with_config(
        &a,
        cfgdir.path(),
        &["login", "-u", "tester", "--password-stdin", &reg.addr],
        "wrong\n",
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("unauthorized"), "{out}");
    let (code, out) = with_config(
        &a,
        cfgdir.path(),
        &["login", "-u", "tester", "--password-stdin", &reg.addr],
        "s3cret\n",
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Login Succeeded"), "{out}");
    // Stored where the docker CLI keeps it, in its format.
    let cfg = std::fs::read_to_string(cfgdir.path().join("config.json")).unwrap();
    assert!(
        cfg.contains(&reg.addr) && cfg.contains("dGVzdGVyOnMzY3JldA=="),
        "{cfg}"
    );
    let (code, out) = with_config(&a, cfgdir.path(), &["push", &name], "");
    assert_eq!(code, 0, "{out}");
    let b = Berth::empty();
    let (code, out) = with_config(&b, cfgdir.path(), &["pull", "-q", &name], "");
    assert_eq!(code, 0, "{out}");
    let (code, out) = with_config(&a, cfgdir.path(), &["logout", &reg.addr], "");
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("Removing login credentials for {}", reg.addr)),
        "{out}"
    );
    let (code, _) = with_config(&a, cfgdir.path(), &["pull", "-q", &name], "");
    assert_eq!(code, 1, "anonymous pull from a private registry fails");
}

/// Forwards to the registry, but cuts the first response carrying `needle` after `cut` bytes:
/// a registry (or network) failing in the middle of a download.
fn cutting_proxy(
    upstream: String,
    needle: String,
    cut: usize,
    always: bool,
) -> (String, Arc<AtomicBool>, Arc<AtomicBool>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let done = Arc::new(AtomicBool::new(false));
    let cut_once = Arc::new(AtomicBool::new(false));
    let did_cut = cut_once.clone();
    let d = done.clone();
    std::thread::spawn(move || {
        for c in l.incoming() {
            if d.load(Ordering::SeqCst) {
                break;
            }
            let Ok(mut client) = c else { continue };
            let Ok(mut server) = TcpStream::connect(&upstream) else {
                continue;
            };
            let cut_once = cut_once.clone();
            let needle = needle.clone();
            std::thread::spawn(move || {
                // One request per connection is enough for a proxy that only forwards.
                let mut buf = vec![0u8; 65536];
                let mut c2 = client.try_clone().unwrap();
                let mut s2 = server.try_clone().unwrap();
                let cutting = Arc::new(AtomicBool::new(false));
                let cutting2 = cutting.clone();
                let cut_once2 = cut_once.clone();
                let up = std::thread::spawn(move || {
                    let mut b = vec![0u8; 65536];
                    while let Ok(n) = c2.read(&mut b) {
                        if n == 0 {
                            break;
                        }
                        let req = String::from_utf8_lossy(&b[..n]);
                        if req.starts_with("GET")
                            && req.contains(&needle)
                            && (always
                                || (!req.contains("Range")
                                    && !cut_once2.swap(true, Ordering::SeqCst)))
                        {
                            cut_once2.store(true, Ordering::SeqCst);
                            cutting2.store(true, Ordering::SeqCst);
                        }
                        if s2.write_all(&b[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = s2.shutdown(std::net::Shutdown::Write);
                });
                let mut sent = 0usize;
                let mut counting = false;
                while let Ok(n) = server.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if cutting.load(Ordering::SeqCst) && !counting {
                        // Count from the start of the blob's response, not the connection's.
                        counting = true;
                        sent = 0;
                    }
                    if counting && sent + n > cut {
                        let _ = client.write_all(&buf[..cut.saturating_sub(sent)]);
                        break;
                    }
                    if client.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    sent += n;
                }
                let _ = client.shutdown(std::net::Shutdown::Both);
                let _ = server.shutdown(std::net::Shutdown::Both);
                let _ = up.join();
            });
        }
    });
    (addr, done, did_cut)
}

#[test]
fn interrupted_download_resumes() {
    let reg = Registry::start(None);
    let a = Berth::new();
    let name = format!("{}/cut/bb:1", reg.addr);
    a.ok(&["tag", "busybox", &name]);
    a.ok(&["push", "-q", &name]);
    let layer = a.inspect("busybox", "{{index .RootFS.Layers 0}}");
    let (proxy, done, did_cut) =
        cutting_proxy(reg.addr.clone(), format!("/blobs/{layer}"), 300_000, false);
    let b = Berth::empty();
    let via = format!("{proxy}/cut/bb:1");
    let out = b.run(&["pull", &via]);
    done.store(true, Ordering::SeqCst);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        did_cut.load(Ordering::SeqCst),
        "the proxy cut the layer's download"
    );
    assert_eq!(b.inspect(&via, "{{.Id}}"), a.inspect("busybox", "{{.Id}}"));
    assert_eq!(
        b.ok(&["run", "--rm", &via, "echo", "whole"]).trim(),
        "whole"
    );
}

#[test]
fn hub_names_go_through_a_configured_mirror() {
    let reg = Registry::start(None);
    let a = Berth::new();
    let mirrored = format!("{}/library/busybox:latest", reg.addr);
    a.ok(&["tag", "busybox", &mirrored]);
    a.ok(&["push", "-q", &mirrored]);
    let cfg = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        cfg.path(),
        format!(r#"{{"registry-mirrors": ["http://{}"]}}"#, reg.addr),
    )
    .unwrap();
    let b = Berth::empty();
    let mut c = b.cmd(&["pull", "busybox"]);
    c.env("BERTH_CONFIG", cfg.path());
    let out = c.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("docker.io/library/busybox:latest"), "{text}");
    assert_eq!(
        b.inspect("busybox", "{{.Id}}"),
        a.inspect("busybox", "{{.Id}}")
    );
    // An unknown host is named as such.
    let out = b.run(&["pull", "no-such-host.invalid/x:1"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("no-such-host.invalid"),
        "{}",
        out.stderr
    );
}

/// A token server as Docker Hub's auth service works: Basic credentials in, a JWT signed with
/// a key the registry trusts out (RS256, certificate in `x5c`). Anonymous callers get pull only.
struct TokenServer {
    addr: String,
    dir: tempfile::TempDir,
    issued: Arc<std::sync::atomic::AtomicUsize>,
    stop: Arc<AtomicBool>,
}

fn b64url(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl TokenServer {
    fn start(user: &'static str, password: &'static str) -> TokenServer {
        let dir = tempfile::tempdir().unwrap();
        let st = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=berth-test-token",
            ])
            .arg("-keyout")
            .arg(dir.path().join("key.pem"))
            .arg("-out")
            .arg(dir.path().join("cert.pem"))
            .stderr(Stdio::null())
            .status()
            .expect("the token test needs openssl");
        assert!(st.success());
        let der = Command::new("openssl")
            .args(["x509", "-outform", "der", "-in"])
            .arg(dir.path().join("cert.pem"))
            .output()
            .unwrap()
            .stdout;
        use base64::Engine as _;
        let x5c = base64::engine::general_purpose::STANDARD.encode(der);
        let key = dir.path().join("key.pem");
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let issued = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (iss, stp) = (issued.clone(), stop.clone());
        std::thread::spawn(move || {
            for c in l.incoming() {
                if stp.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut c) = c else { continue };
                let mut buf = vec![0u8; 16384];
                let n = c.read(&mut buf).unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).into_owned();
                let path = req.split_whitespace().nth(1).unwrap_or("").to_string();
                let query = path.split_once('?').map(|(_, q)| q).unwrap_or("");
                let mut scopes = Vec::new();
                let mut service = String::new();
                for kv in query.split('&') {
                    match kv.split_once('=') {
                        Some(("scope", v)) => scopes.push(url_decode(v)),
                        Some(("service", v)) => service = url_decode(v),
                        _ => {}
                    }
                }
                let basic = req
                    .lines()
                    .find_map(|l| {
                        l.strip_prefix("Authorization: Basic ")
                            .or(l.strip_prefix("authorization: Basic "))
                    })
                    .map(|v| {
                        String::from_utf8(
                            base64::engine::general_purpose::STANDARD
                                .decode(v.trim())
                                .unwrap_or_default(),
                        )
                        .unwrap_or_default()
                    });
                let authed = match &basic {
                    Some(b) if *b == format!("{user}:{password}") => true,
                    Some(_) => {
                        let body = r#"{"details":"incorrect username or password"}"#;
                        let _ = write!(c, "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
                        continue;
                    }
                    None => false,
                };
                let access: Vec<String> = scopes
                    .iter()
                    .filter_map(|s| {
                        let mut p = s.splitn(3, ':');
                        let (typ, name, actions) = (p.next()?, p.next()?, p.next()?);
                        let granted: Vec<String> = actions
                            .split(',')
                            .filter(|a| authed || *a == "pull")
                            .map(|a| format!("\"{a}\""))
                            .collect();
                        Some(format!(
                            r#"{{"type":"{typ}","name":"{name}","actions":[{}]}}"#,
                            granted.join(",")
                        ))
                    })
                    .collect();
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs();
                let header = format!(r#"{{"typ":"JWT","alg":"RS256","x5c":["{x5c}"]}}"#);
                let claims = format!(
                    r#"{{"iss":"berth-test-issuer","sub":"{}","aud":"{service}","exp":{},"nbf":{},"iat":{now},"jti":"{}-{now}","access":[{}]}}"#,
                    if authed { user } else { "" },
                    now + 300,
                    now - 10,
                    iss.load(Ordering::SeqCst),
                    access.join(",")
                );
                let signing_input = format!(
                    "{}.{}",
                    b64url(header.as_bytes()),
                    b64url(claims.as_bytes())
                );
                let mut sign = Command::new("openssl")
                    .args(["dgst", "-sha256", "-sign"])
                    .arg(&key)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap();
                sign.stdin
                    .take()
                    .unwrap()
                    .write_all(signing_input.as_bytes())
                    .unwrap();
                let sig = sign.wait_with_output().unwrap().stdout;
                let jwt = format!("{signing_input}.{}", b64url(&sig));
                iss.fetch_add(1, Ordering::SeqCst);
                let body =
                    format!(r#"{{"token":"{jwt}","access_token":"{jwt}","expires_in":300}}"#);
                let _ = write!(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            }
        });
        TokenServer {
            addr,
            dir,
            issued,
            stop,
        }
    }

    fn registry_config(&self) -> String {
        format!(
            "auth:\n  token:\n    realm: http://{}/token\n    service: berth-test\n    issuer: berth-test-issuer\n    rootcertbundle: {}\n",
            self.addr,
            self.dir.path().join("cert.pem").display()
        )
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr);
    }
}

#[test]
fn bearer_token_auth() {
    let tokens = TokenServer::start("tester", "s3cret");
    let reg = Registry::start_with(None, &tokens.registry_config());
    let a = Berth::new();
    let cfgdir = tempfile::tempdir().unwrap();
    let name = format!("{}/team/bb:1", reg.addr);
    a.ok(&["tag", "busybox", &name]);
    // Anonymous: the token grants pull only, so the push is refused.
    let (code, out) = with_config(&a, cfgdir.path(), &["push", &name], "");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("unauthorized") || out.contains("denied"),
        "{out}"
    );
    let (code, out) = with_config(
        &a,
        cfgdir.path(),
        &["login", "-u", "tester", "--password-stdin", &reg.addr],
        "nope\n",
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("incorrect username or password"), "{out}");
    let (code, out) = with_config(
        &a,
        cfgdir.path(),
        &["login", "-u", "tester", "--password-stdin", &reg.addr],
        "s3cret\n",
    );
    assert_eq!(code, 0, "{out}");
    let (code, out) = with_config(&a, cfgdir.path(), &["push", &name], "");
    assert_eq!(code, 0, "{out}");
    // Anonymous pull works with a pull-only token; the token is fetched once per scope.
    let b = Berth::empty();
    let before = tokens.issued.load(Ordering::SeqCst);
    let out = b.ok(&["pull", &name]);
    assert!(out.contains("Pull complete"), "{out}");
    let used = tokens.issued.load(Ordering::SeqCst) - before;
    assert_eq!(used, 1, "one token for the whole pull");
    assert_eq!(b.inspect(&name, "{{.Id}}"), a.inspect("busybox", "{{.Id}}"));
}

#[test]
fn registry_dying_mid_pull_leaves_the_store_consistent() {
    let reg = Registry::start(None);
    let a = Berth::new();
    let name = format!("{}/dies/bb:1", reg.addr);
    a.ok(&["tag", "busybox", &name]);
    a.ok(&["push", "-q", &name]);
    let layer = a.inspect("busybox", "{{index .RootFS.Layers 0}}");
    // Every download of the layer breaks off: the retries give up.
    let (proxy, done, _) =
        cutting_proxy(reg.addr.clone(), format!("/blobs/{layer}"), 100_000, true);
    let b = Berth::empty();
    let out = b.run(&["pull", &format!("{proxy}/dies/bb:1")]);
    done.store(true, Ordering::SeqCst);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(b.ok(&["images", "-q", "-a"]).trim().is_empty());
    assert!(is_empty_dir(&b.path().join("layers")), "no layer kept");
    assert!(is_empty_dir(&b.path().join("blobs/sha256")), "no blob kept");
    assert!(is_empty_dir(&b.path().join("tmp")), "no temp files left");
    // The retry against a registry that works completes.
    b.ok(&["pull", "-q", &name]);
    assert_eq!(b.ok(&["run", "--rm", &name, "echo", "ok"]).trim(), "ok");
}

#[test]
fn gzip_layers_round_trip() {
    let reg = Registry::start(None);
    let a = Berth::empty();
    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join("bb.tar.gz");
    let out = Command::new("gzip")
        .args(["-n", "-c"])
        .arg(crate::common::busybox_tar())
        .output()
        .expect("gzip");
    std::fs::write(&gz, out.stdout).unwrap();
    let name = format!("{}/gz/bb:1", reg.addr);
    a.ok(&["import", "-c", "CMD [\"sh\"]", gz.to_str().unwrap(), &name]);
    a.ok(&["push", "-q", &name]);
    let b = Berth::empty();
    b.ok(&["pull", "-q", &name]);
    assert_eq!(b.inspect(&name, "{{.Id}}"), a.inspect(&name, "{{.Id}}"));
    assert_eq!(b.ok(&["run", "--rm", &name, "echo", "gz"]).trim(), "gz");
    // The blob kept is the compressed one, byte for byte.
    let blobs = |x: &Berth| {
        let mut v: Vec<_> = std::fs::read_dir(x.path().join("blobs/sha256"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        v.sort();
        v
    };
    assert_eq!(blobs(&a), blobs(&b));
}

#[test]
fn many_layers_pull_through_the_worker_pool() {
    let reg = Registry::start(None);
    let a = Berth::new();
    let ctx = tempfile::tempdir().unwrap();
    let mut df = String::from("FROM busybox\n");
    for i in 0..11 {
        df.push_str(&format!("RUN echo {i} > /layer{i}\n"));
    }
    std::fs::write(ctx.path().join("Dockerfile"), df).unwrap();
    let name = format!("{}/many/layers:1", reg.addr);
    a.ok(&["build", "-q", "-t", &name, ctx.path().to_str().unwrap()]);
    a.ok(&["push", "-q", &name]);
    let b = Berth::empty();
    let out = b.ok(&["pull", &name]);
    assert_eq!(out.matches("Pull complete").count(), 12, "{out}");
    let cat = b.ok(&["run", "--rm", &name, "sh", "-c", "cat /layer*"]);
    assert_eq!(cat.split_whitespace().count(), 11, "{cat}");
    assert_eq!(b.inspect(&name, "{{.Id}}"), a.inspect(&name, "{{.Id}}"));
}

#[test]
fn docker_cli_logs_in_pushes_and_pulls_through_the_api() {
    let reg = Registry::start(Some(("tester", "s3cret")));
    let b = Berth::new();
    let d = crate::api::Daemon::start(&b);
    let name = format!("{}/private/bb:1", reg.addr);
    d.ok(&["tag", "busybox", &name]);
    let (code, _, err) = d.docker(&["push", &name]);
    assert_eq!(code, 1, "anonymous push refused: {err}");
    let (code, _, err) = d.docker_stdin(
        &["login", "-u", "tester", "--password-stdin", &reg.addr],
        b"wrong\n",
    );
    assert_eq!(code, 1, "{err}");
    let (code, out, err) = d.docker_stdin(
        &["login", "-u", "tester", "--password-stdin", &reg.addr],
        b"s3cret\n",
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Login Succeeded"), "{out}");
    // The CLI keeps the credentials and sends them with each push and pull (X-Registry-Auth).
    let out = d.ok(&["push", &name]);
    assert!(out.contains("digest: sha256:"), "{out}");
    let history = d.ok(&["history", "--format", "{{.ID}}", &name]);
    assert!(
        history.lines().next().is_some_and(|l| l.len() == 12),
        "{history}"
    );
    d.ok(&["rmi", &name]);
    let out = d.ok(&["pull", &name]);
    assert!(out.contains("Status: Downloaded newer image"), "{out}");
    assert_eq!(d.ok(&["run", "--rm", &name, "echo", "pulled"]), "pulled\n");
    // save | load and import through the API.
    let tar = b.path().join("saved.tar");
    d.ok(&["save", "-o", tar.to_str().unwrap(), &name]);
    d.ok(&["rmi", &name]);
    let out = d.ok(&["load", "-i", tar.to_str().unwrap()]);
    assert!(out.contains(&format!("Loaded image: {name}")), "{out}");
    let id = d.ok(&[
        "import",
        "-c",
        "CMD [\"sh\"]",
        "-c",
        "ENV FROM_IMPORT=yes",
        crate::common::busybox_tar().to_str().unwrap(),
        "imp/bb:1",
    ]);
    assert!(id.starts_with("sha256:"), "{id}");
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "imp/bb:1",
            "sh",
            "-c",
            "echo imported $FROM_IMPORT"
        ]),
        "imported yes\n",
        "every --change applied"
    );
}

#[test]
fn a_pull_racing_rmi_of_an_image_sharing_its_layers_records_it_whole() {
    let reg = Registry::start(None);
    let a = Berth::new();
    let base = format!("{}/race/base:1", reg.addr);
    let top = format!("{}/race/top:1", reg.addr);
    a.ok(&["tag", "busybox", &base]);
    a.ok(&["push", "-q", &base]);
    a.ok(&[
        "run",
        "--name",
        "grow",
        "busybox",
        "sh",
        "-c",
        "head -c 3000000 /dev/urandom > /big",
    ]);
    a.ok(&["commit", "grow", &top]);
    a.ok(&["push", "-q", &top]);
    let b = Berth::empty();
    for _ in 0..8 {
        b.ok(&["pull", "-q", &base]);
        // The pull finds busybox's layer "Already exists"; the rmi deletes it meanwhile.
        let pull = b
            .cmd(&["pull", "-q", &top])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(5));
        b.ok(&["rmi", &base]);
        let out = pull.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            b.ok(&["run", "--rm", &top, "sh", "-c", "wc -c < /big"])
                .trim(),
            "3000000"
        );
        b.ok(&["rmi", &top]);
    }
    let out = b.run(&["system", "check"]);
    assert!(
        crate::common::own_problems(&out.stdout).is_empty(),
        "{}",
        out.stdout
    );
}

/// A registry that serves one manifest whose config is `config_size` bytes (claimed in the
/// manifest when `claimed`), and streams that many bytes for the config; returns its address.
fn hostile_registry(config_size: usize, claimed: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let cfg = format!("sha256:{}", "ab".repeat(32));
    let layer = format!("sha256:{}", "cd".repeat(32));
    let size = if claimed {
        format!(",\"size\":{config_size}")
    } else {
        String::new()
    };
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{cfg}"{size}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer}","size":10}}]}}"#
    );
    std::thread::spawn(move || {
        for conn in listener.incoming().take(20) {
            let Ok(mut c) = conn else { break };
            let mut req = [0u8; 4096];
            let n = c.read(&mut req).unwrap_or(0);
            let line = String::from_utf8_lossy(&req[..n])
                .lines()
                .next()
                .unwrap_or("")
                .to_string();
            let path = line.split(' ').nth(1).unwrap_or("");
            let (ctype, body): (&str, Vec<u8>) = if path == "/v2/" {
                ("application/json", b"{}".to_vec())
            } else if path.contains("/manifests/") {
                (
                    "application/vnd.oci.image.manifest.v1+json",
                    manifest.clone().into_bytes(),
                )
            } else if path.contains(&cfg) {
                ("application/octet-stream", Vec::new())
            } else {
                let _ = c.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                continue;
            };
            let len = if body.is_empty() {
                config_size
            } else {
                body.len()
            };
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
            );
            if body.is_empty() {
                let chunk = vec![b' '; 1 << 20];
                let mut sent = 0;
                while sent < config_size {
                    let k = chunk.len().min(config_size - sent);
                    if c.write_all(&chunk[..k]).is_err() {
                        break;
                    }
                    sent += k;
                }
            } else {
                let _ = c.write_all(&body);
            }
        }
    });
    addr
}

#[test]
fn an_oversized_image_config_is_refused() {
    for claimed in [true, false] {
        let addr = hostile_registry(17 << 20, claimed);
        let b = Berth::empty();
        let out = b.run(&["pull", &format!("{addr}/big/bb:huge")]);
        assert_eq!(out.code, 1, "{out:?}");
        let said = if claimed {
            "more than the 16 MiB accepted"
        } else {
            "limit"
        };
        assert!(
            out.stderr.contains(said),
            "claimed {claimed}: {}",
            out.stderr
        );
        assert!(is_empty_dir(&b.path().join("blobs/sha256")), "no blob kept");
        assert!(is_empty_dir(&b.path().join("tmp")), "no temp files left");
    }
}
