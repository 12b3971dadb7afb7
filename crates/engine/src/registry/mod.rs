//! Talking to registries over the OCI distribution protocol: endpoints (Hub, mirrors, insecure
//! registries, `certs.d` CAs), the token/Basic handshake, and requests that carry it.
//! `pull.rs` and `push.rs` build the two operations on top.

pub mod auth;
pub mod manifest;
pub mod pull;
pub mod push;

use crate::error::{Error, ErrorKind, Result};
use crate::reference::Reference;
use auth::{Challenge, Credentials};
use base64::Engine as _;
use serde_json::Value;
use std::collections::HashMap;
use std::io::Read;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;
use ureq::http;

pub use pull::{PullOptions, PullResult};
pub use push::PushResult;

/// Docker Hub's API host; `docker.io` is only its name.
pub const HUB_HOST: &str = "registry-1.docker.io";

/// Media types a manifest GET accepts, in Docker's order.
pub const MANIFEST_ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";

/// Registry settings from berth's config file (Docker's `daemon.json` keys).
#[derive(Debug, Clone, Default)]
pub struct RegistryConfig {
    /// Hosts (or CIDRs) spoken to over plain HTTP or unverified TLS.
    pub insecure: Vec<String>,
    /// Mirrors tried before Docker Hub, e.g. "https://mirror.example".
    pub mirrors: Vec<String>,
    /// Where per-registry CAs live (`<dir>/<host>/ca.crt`).
    pub certs_dir: std::path::PathBuf,
}

impl RegistryConfig {
    /// Reads `$BERTH_CONFIG` or `/etc/berth/daemon.json` (`insecure-registries`,
    /// `registry-mirrors`); a missing file means the defaults.
    pub fn load() -> Result<RegistryConfig> {
        let path = std::env::var_os("BERTH_CONFIG")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| "/etc/berth/daemon.json".into());
        let mut cfg = RegistryConfig {
            certs_dir: "/etc/docker/certs.d".into(),
            ..Default::default()
        };
        let Ok(data) = std::fs::read(&path) else {
            return Ok(cfg);
        };
        let v: Value = serde_json::from_slice(&data)
            .map_err(|e| Error::invalid(format!("{}: {e}", path.display())))?;
        let list = |k: &str| -> Vec<String> {
            crate::store::json_strings(&v[k])
                .into_iter()
                .map(|s| s.trim_end_matches('/').to_string())
                .collect()
        };
        cfg.insecure = list("insecure-registries");
        cfg.mirrors = list("registry-mirrors");
        if let Some(d) = v["certs-dir"].as_str() {
            cfg.certs_dir = d.into();
        }
        Ok(cfg)
    }

    /// Docker's rule: localhost and 127.0.0.0/8 are always insecure, plus what is configured.
    pub fn is_insecure(&self, host: &str) -> bool {
        let bare = strip_port(host);
        if bare == "localhost" {
            return true;
        }
        let ip: Option<IpAddr> = bare.trim_matches(['[', ']']).parse().ok();
        if ip.is_some_and(|ip| ip.is_loopback()) {
            return true;
        }
        self.insecure.iter().any(|i| {
            if i == host || i == bare {
                return true;
            }
            match (i.split_once('/'), ip) {
                (Some((net, bits)), Some(ip)) => cidr_contains(net, bits, ip),
                _ => false,
            }
        })
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split(']').next().map(|h| &h[1..]).unwrap_or(host);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    }
}

fn cidr_contains(net: &str, bits: &str, ip: IpAddr) -> bool {
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) if bits <= 32 => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) if bits <= 128 => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

/// A registry session for one repository: endpoint, credentials and cached tokens.
pub struct Client {
    agent: ureq::Agent,
    /// Fallback agent that skips TLS verification, for insecure registries.
    insecure_agent: Option<ureq::Agent>,
    /// "https://host" or "http://host", settled by the first ping.
    base: Mutex<Option<String>>,
    /// The registry host as the user named it (for messages and credentials).
    pub host: String,
    /// The host requests go to (Hub's API host for docker.io).
    api_host: String,
    /// Repository path, e.g. "library/busybox".
    pub repository: String,
    creds: Option<Credentials>,
    /// Authorization header values by scope.
    tokens: Mutex<HashMap<String, String>>,
    insecure: bool,
}

/// The body and headers of a registry answer, status already checked.
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: http::HeaderMap,
    /// The body, unread.
    pub body: ureq::Body,
}

impl Reply {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

fn http_err(host: &str, e: ureq::Error) -> Error {
    let text = e.to_string();
    let msg = match &e {
        ureq::Error::HostNotFound => format!("lookup {host}: no such host"),
        _ if text.contains("lookup address") || text.contains("Name or service not known") => {
            format!("lookup {host}: no such host")
        }
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            format!("dial tcp {host}: connect: connection refused")
        }
        _ => format!("{host}: {e}"),
    };
    Error::new(ErrorKind::Internal, msg)
}

impl Client {
    /// A client for `reference`'s repository with the stored credentials of its registry.
    pub fn new(reference: &Reference, config: &RegistryConfig) -> Result<Client> {
        Self::for_repository(reference.registry(), reference.repository(), config)
    }

    /// A client for `host`/`repository`.
    pub fn for_repository(host: &str, repository: &str, config: &RegistryConfig) -> Result<Client> {
        let insecure = config.is_insecure(host);
        let api_host = if host == "docker.io" { HUB_HOST } else { host }.to_string();
        let mut tls = ureq::tls::TlsConfig::builder();
        let ca = config.certs_dir.join(host).join("ca.crt");
        if let Ok(pem) = std::fs::read(&ca) {
            let certs: Vec<_> = ureq::tls::parse_pem(&pem)
                .filter_map(|i| match i {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                    _ => None,
                })
                .collect();
            tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
        } else {
            tls = tls.root_certs(ureq::tls::RootCerts::PlatformVerifier);
        }
        let build = |tls: ureq::tls::TlsConfig| {
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .tls_config(tls)
                .timeout_connect(Some(Duration::from_secs(15)))
                .timeout_recv_response(Some(Duration::from_secs(60)))
                .timeout_per_read(Some(Duration::from_secs(60)))
                .user_agent(format!("berth/{}", env!("CARGO_PKG_VERSION")))
                .max_idle_connections_per_host(8)
                .build()
                .new_agent()
        };
        let agent = build(tls.build());
        let insecure_agent = insecure.then(|| {
            build(
                ureq::tls::TlsConfig::builder()
                    .disable_verification(true)
                    .build(),
            )
        });
        Ok(Client {
            agent,
            insecure_agent,
            base: Mutex::new(None),
            host: host.to_string(),
            api_host,
            repository: repository.to_string(),
            creds: auth::lookup(host),
            tokens: Mutex::new(HashMap::new()),
            insecure,
        })
    }

    /// A client for a Hub mirror given as a URL ("https://mirror.example"); plain `http://`
    /// mirrors count as insecure.
    pub fn for_mirror(url: &str, repository: &str, config: &RegistryConfig) -> Result<Client> {
        let host = url
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or(url);
        let mut cfg = config.clone();
        if url.starts_with("http://") {
            cfg.insecure.push(host.to_string());
        }
        Self::for_repository(host, repository, &cfg)
    }

    /// Uses `creds` instead of the stored ones (login checks them before storing).
    pub fn with_credentials(mut self, creds: Credentials) -> Self {
        self.creds = Some(creds);
        self
    }

    /// Works out the scheme: HTTPS, and for insecure registries HTTPS without verification
    /// or plain HTTP, as Docker falls back. Returns the `/v2/` answer.
    fn base(&self) -> Result<String> {
        if let Some(b) = self.base.lock().unwrap().clone() {
            return Ok(b);
        }
        let mut tries = vec![(format!("https://{}", self.api_host), &self.agent)];
        if let Some(a) = &self.insecure_agent {
            tries.push((format!("https://{}", self.api_host), a));
            tries.push((format!("http://{}", self.api_host), a));
        }
        let mut last = None;
        for (base, agent) in tries {
            match agent.get(format!("{base}/v2/")).call() {
                Ok(_) => {
                    *self.base.lock().unwrap() = Some(base.clone());
                    return Ok(base);
                }
                Err(e) => last = Some(e),
            }
        }
        let e = last.expect("at least one try");
        let mut err = http_err(&self.api_host, e);
        let tls = ["tls", "certificate", "handshake", "corrupt message"]
            .iter()
            .any(|w| err.message.to_ascii_lowercase().contains(w));
        if !self.insecure && tls {
            err.message.push_str(&format!(
                " (if {} serves plain HTTP, list it in \"insecure-registries\" of /etc/berth/daemon.json)",
                self.host
            ));
        }
        Err(err)
    }

    fn agent(&self) -> &ureq::Agent {
        match (&self.insecure_agent, self.base.lock().unwrap().as_deref()) {
            (Some(a), Some(b)) if b.starts_with("http://") || self.insecure => a,
            _ => &self.agent,
        }
    }

    /// `https://host/v2/<repository>/<rest>`.
    pub fn url(&self, rest: &str) -> Result<String> {
        Ok(format!("{}/v2/{}/{}", self.base()?, self.repository, rest))
    }

    /// The base URL for absolute `Location` headers that are relative.
    pub fn absolute(&self, location: &str) -> Result<String> {
        if location.starts_with("http://") || location.starts_with("https://") {
            Ok(location.to_string())
        } else {
            Ok(format!("{}{}", self.base()?, location))
        }
    }

    /// Sends a request with the token for `scope`, answering one auth challenge if the
    /// registry asks. `body` is sent as is.
    pub fn send(
        &self,
        method: &str,
        url: &str,
        scope: &str,
        headers: &[(&str, &str)],
        body: Option<&mut dyn Read>,
    ) -> Result<Reply> {
        let mut body = body;
        let mut retried = false;
        loop {
            let mut b = http::Request::builder().method(method).uri(url);
            for (k, v) in headers {
                b = b.header(*k, *v);
            }
            if let Some(t) = self.tokens.lock().unwrap().get(scope) {
                b = b.header("Authorization", t.as_str());
            }
            let resp = match body.as_deref_mut() {
                Some(r) => self.agent().run(
                    b.body(ureq::SendBody::from_reader(r))
                        .map_err(|e| Error::internal(e.to_string()))?,
                ),
                None => self
                    .agent()
                    .run(b.body(()).map_err(|e| Error::internal(e.to_string()))?),
            }
            .map_err(|e| http_err(&self.host, e))?;
            let (parts, rbody) = resp.into_parts();
            let status = parts.status.as_u16();
            if status == 401 && !retried && body.is_none() {
                let challenge = parts
                    .headers
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok())
                    .and_then(auth::parse_challenge);
                if let Some(c) = challenge {
                    let value = self.authorize(&c, scope)?;
                    self.tokens.lock().unwrap().insert(scope.to_string(), value);
                    retried = true;
                    continue;
                }
            }
            return Ok(Reply {
                status,
                headers: parts.headers,
                body: rbody,
            });
        }
    }

    /// Fetches the token once for `scope` before a request whose body cannot be replayed.
    pub fn prime(&self, scope: &str) -> Result<()> {
        if self.tokens.lock().unwrap().contains_key(scope) {
            return Ok(());
        }
        let url = format!("{}/v2/", self.base()?);
        let resp = self
            .agent()
            .get(&url)
            .call()
            .map_err(|e| http_err(&self.host, e))?;
        if resp.status().as_u16() == 401 {
            if let Some(c) = resp
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .and_then(auth::parse_challenge)
            {
                let v = self.authorize(&c, scope)?;
                self.tokens.lock().unwrap().insert(scope.to_string(), v);
            }
        }
        Ok(())
    }

    /// The Authorization value answering `challenge` for `scope`.
    fn authorize(&self, c: &Challenge, scope: &str) -> Result<String> {
        let basic = |cr: &Credentials| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD
                    .encode(format!("{}:{}", cr.username, cr.secret))
            )
        };
        match c.scheme.as_str() {
            "basic" => match &self.creds {
                Some(cr) => Ok(basic(cr)),
                None => Err(self.unauthorized("no basic auth credentials")),
            },
            "bearer" => {
                let realm = c
                    .params
                    .get("realm")
                    .ok_or_else(|| Error::internal("bearer challenge without realm"))?;
                let mut req = self.agent().get(realm);
                if let Some(s) = c.params.get("service") {
                    req = req.query("service", s);
                }
                if !scope.is_empty() {
                    req = req.query("scope", scope);
                }
                if let Some(cr) = &self.creds {
                    req = req.header("Authorization", &basic(cr));
                }
                let mut resp = req.call().map_err(|e| http_err(realm, e))?;
                let st = resp.status().as_u16();
                let text = resp.body_mut().read_to_string().unwrap_or_default();
                if st == 401 || st == 403 {
                    return Err(self.unauthorized(&registry_message(&text)));
                }
                if st >= 300 {
                    return Err(Error::internal(format!(
                        "token from {realm}: HTTP {st}: {}",
                        registry_message(&text)
                    )));
                }
                let v: Value = serde_json::from_str(&text)
                    .map_err(|e| Error::internal(format!("token from {realm}: {e}")))?;
                let tok = v["token"]
                    .as_str()
                    .or(v["access_token"].as_str())
                    .ok_or_else(|| Error::internal(format!("no token in the answer of {realm}")))?;
                Ok(format!("Bearer {tok}"))
            }
            other => Err(Error::internal(format!(
                "{}: unsupported auth scheme {other}",
                self.host
            ))),
        }
    }

    fn unauthorized(&self, why: &str) -> Error {
        Error::new(
            ErrorKind::InvalidArgument,
            format!("unauthorized: {}: {why}", self.host),
        )
    }

    /// The pull scope of this repository.
    pub fn pull_scope(&self) -> String {
        format!("repository:{}:pull", self.repository)
    }

    /// The push scope of this repository.
    pub fn push_scope(&self) -> String {
        format!("repository:{}:pull,push", self.repository)
    }

    /// An error for a registry answer that is not success, with the registry's own message.
    pub fn status_error(&self, what: &str, mut reply: Reply) -> Error {
        let text = reply.body.read_to_string().unwrap_or_default();
        let msg = registry_message(&text);
        match reply.status {
            401 | 403 => Error::new(
                ErrorKind::InvalidArgument,
                format!("{what}: unauthorized: {msg}"),
            ),
            404 => Error::not_found(format!("{what}: not found: {msg}")),
            429 => Error::internal(format!("{what}: toomanyrequests: {msg}")),
            s => Error::internal(format!("{what}: HTTP {s}: {msg}")),
        }
    }

    /// The repository's tags (`GET /v2/<name>/tags/list`), for `pull --all-tags`.
    pub fn tags(&self) -> Result<Vec<String>> {
        let url = self.url("tags/list")?;
        let mut reply = self.send("GET", &url, &self.pull_scope(), &[], None)?;
        if reply.status >= 300 {
            return Err(self.status_error(&format!("list tags of {}", self.repository), reply));
        }
        let text = reply
            .body
            .read_to_string()
            .map_err(|e| Error::internal(format!("tags of {}: {e}", self.repository)))?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| Error::internal(format!("tags of {}: {e}", self.repository)))?;
        let mut tags = crate::store::json_strings(&v["tags"]);
        tags.sort();
        Ok(tags)
    }

    /// Checks credentials against the registry (`login`): a `/v2/` ping answered with them.
    pub fn check_login(&self) -> Result<()> {
        let url = format!("{}/v2/", self.base()?);
        let reply = self.send("GET", &url, "", &[], None)?;
        if reply.status >= 300 {
            return Err(self.status_error(&format!("login to {}", self.host), reply));
        }
        Ok(())
    }
}

/// The human part of a registry error body (`{"errors":[{"code","message"}]}`), else the text.
pub fn registry_message(text: &str) -> String {
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        if let Some(errs) = v["errors"].as_array() {
            let parts: Vec<String> = errs
                .iter()
                .map(|e| {
                    let m = e["message"].as_str().unwrap_or("");
                    let c = e["code"].as_str().unwrap_or("").to_ascii_lowercase();
                    if c.is_empty() {
                        m.to_string()
                    } else {
                        format!("{m} ({c})")
                    }
                })
                .collect();
            return parts.join("; ");
        }
        if let Some(d) = v["details"].as_str().or(v["error"].as_str()) {
            return d.to_string();
        }
    }
    let t = text.trim();
    if t.is_empty() {
        "no details".into()
    } else {
        t.chars().take(300).collect()
    }
}

/// The registry host a `login` server argument names (default Docker Hub, whose several
/// spellings are one).
pub fn login_host(server: Option<&str>) -> String {
    let s = server.filter(|s| !s.is_empty()).unwrap_or("docker.io");
    let s = s
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = s.split('/').next().unwrap_or(s);
    match host {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".into(),
        h => h.to_string(),
    }
}

/// Checks credentials against the registry at `host` (what `login` does before storing them).
pub fn check_credentials(host: &str, creds: &auth::Credentials) -> Result<()> {
    let config = RegistryConfig::load()?;
    Client::for_repository(host, "", &config)?
        .with_credentials(creds.clone())
        .check_login()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insecure_rules() {
        let mut c = RegistryConfig::default();
        assert!(c.is_insecure("localhost:5000"));
        assert!(c.is_insecure("127.0.0.1:5000"));
        assert!(c.is_insecure("127.9.9.9"));
        assert!(c.is_insecure("[::1]:5000"));
        assert!(!c.is_insecure("docker.io"));
        assert!(!c.is_insecure("10.1.2.3:5000"));
        c.insecure = vec!["10.0.0.0/8".into(), "reg.local:5000".into()];
        assert!(c.is_insecure("10.1.2.3:5000"));
        assert!(c.is_insecure("reg.local:5000"));
        assert!(!c.is_insecure("reg.local:6000"));
    }

    #[test]
    fn error_bodies() {
        assert_eq!(
            registry_message(
                r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#
            ),
            "manifest unknown (manifest_unknown)"
        );
        assert_eq!(registry_message(""), "no details");
    }
}
