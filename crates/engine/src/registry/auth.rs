//! Credentials as the docker CLI keeps them (`~/.docker/config.json`: `auths`, `credsStore`,
//! `credHelpers`), and the `WWW-Authenticate` challenges registries answer with.

use crate::error::{Error, Result};
use base64::Engine as _;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Docker keeps Hub credentials under this key, not under "docker.io".
pub const HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";

/// A user name and secret for one registry.
#[derive(Debug, Clone, PartialEq)]
pub struct Credentials {
    /// User name ("<token>" for identity tokens).
    pub username: String,
    /// Password or token.
    pub secret: String,
}

/// The key a registry host has in `auths` and for credential helpers.
pub fn auth_key(host: &str) -> String {
    if host == "docker.io" || host == "index.docker.io" || host == "registry-1.docker.io" {
        HUB_AUTH_KEY.to_string()
    } else {
        host.to_string()
    }
}

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`: shared with the docker CLI so
/// existing logins work in berth and the other way round.
pub fn config_path() -> PathBuf {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG") {
        return PathBuf::from(d).join("config.json");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".docker/config.json")
}

fn read_config() -> Value {
    std::fs::read(config_path())
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| json!({}))
}

fn write_config(v: &Value) -> Result<()> {
    let path = config_path();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
    }
    let data = serde_json::to_vec_pretty(v).map_err(|e| Error::internal(e.to_string()))?;
    crate::store::write_atomic(&path, &data)?;
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    Ok(())
}

fn helper_for(cfg: &Value, key: &str) -> Option<String> {
    cfg["credHelpers"][key]
        .as_str()
        .or(cfg["credsStore"].as_str())
        .filter(|s| !s.is_empty())
        .map(String::from)
}

fn run_helper(helper: &str, action: &str, input: &str) -> Result<String> {
    let prog = format!("docker-credential-{helper}");
    let mut child = Command::new(&prog)
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::io(format!("credential helper {prog}"), e))?;
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(input.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::io(format!("credential helper {prog}"), e))?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() {
        return Err(Error::internal(format!(
            "credential helper {prog} {action}: {text}"
        )));
    }
    Ok(text)
}

/// The stored credentials for `host`, from a credential helper or `auths`; none is anonymous.
pub fn lookup(host: &str) -> Option<Credentials> {
    let key = auth_key(host);
    let cfg = read_config();
    if let Some(h) = helper_for(&cfg, &key) {
        let out = run_helper(&h, "get", &key).ok()?;
        let v: Value = serde_json::from_str(&out).ok()?;
        return Some(Credentials {
            username: v["Username"].as_str()?.to_string(),
            secret: v["Secret"].as_str()?.to_string(),
        });
    }
    let entry = &cfg["auths"][&key];
    if let Some(tok) = entry["identitytoken"].as_str().filter(|s| !s.is_empty()) {
        return Some(Credentials {
            username: "<token>".into(),
            secret: tok.to_string(),
        });
    }
    let raw = entry["auth"].as_str()?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(raw).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (u, p) = text.split_once(':')?;
    Some(Credentials {
        username: u.to_string(),
        secret: p.to_string(),
    })
}

/// Stores credentials for `host` where the docker CLI would (helper or `auths`).
pub fn store(host: &str, creds: &Credentials) -> Result<()> {
    let key = auth_key(host);
    let mut cfg = read_config();
    if let Some(h) = helper_for(&cfg, &key) {
        let input = json!({"ServerURL": key, "Username": creds.username, "Secret": creds.secret});
        run_helper(&h, "store", &input.to_string())?;
        return Ok(());
    }
    let auth = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", creds.username, creds.secret));
    if !cfg["auths"].is_object() {
        cfg["auths"] = json!({});
    }
    cfg["auths"][&key] = json!({ "auth": auth });
    write_config(&cfg)
}

/// Forgets the credentials of `host`; false when there were none.
pub fn erase(host: &str) -> Result<bool> {
    let key = auth_key(host);
    let mut cfg = read_config();
    if let Some(h) = helper_for(&cfg, &key) {
        return Ok(run_helper(&h, "erase", &key).is_ok());
    }
    let had = cfg["auths"]
        .as_object_mut()
        .map(|m| m.remove(&key).is_some())
        .unwrap_or(false);
    if had {
        write_config(&cfg)?;
    }
    Ok(had)
}

/// A parsed `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq)]
pub struct Challenge {
    /// "bearer" or "basic", lower-cased.
    pub scheme: String,
    /// Its parameters (realm, service, scope, …).
    pub params: HashMap<String, String>,
}

/// Parses `Bearer realm="https://auth",service="registry",scope="repository:a:pull"`.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut params = HashMap::new();
    let mut s = rest.trim();
    while !s.is_empty() {
        let (k, after) = s.split_once('=')?;
        let k = k.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (v, next) = if let Some(q) = after.strip_prefix('"') {
            // Quoted value; a backslash escapes the next character.
            let mut v = String::new();
            let mut chars = q.char_indices();
            let mut end = q.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            v.push(n)
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    _ => v.push(c),
                }
            }
            (v, &q[end..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        params.insert(k, v);
        s = next.trim_start().trim_start_matches(',').trim_start();
    }
    Some(Challenge {
        scheme: scheme.to_ascii_lowercase(),
        params,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenge() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.params["realm"], "https://auth.docker.io/token");
        assert_eq!(c.params["service"], "registry.docker.io");
        assert_eq!(c.params["scope"], "repository:library/busybox:pull,push");
    }

    #[test]
    fn basic_challenge() {
        let c = parse_challenge(r#"Basic realm="Registry Realm""#).unwrap();
        assert_eq!(c.scheme, "basic");
        assert_eq!(c.params["realm"], "Registry Realm");
    }

    #[test]
    fn hub_key() {
        assert_eq!(auth_key("docker.io"), HUB_AUTH_KEY);
        assert_eq!(auth_key("localhost:5000"), "localhost:5000");
    }
}
