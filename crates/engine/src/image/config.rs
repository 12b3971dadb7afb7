//! Image and container configuration, with Docker's JSON field names.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Docker's `Config` block: the run defaults an image carries and a container records.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    /// Hostname inside the container.
    #[serde(default)]
    pub hostname: String,
    /// NIS domain name.
    #[serde(default)]
    pub domainname: String,
    /// `user[:group]` to run as.
    #[serde(default)]
    pub user: String,
    /// Whether stdin is attached.
    #[serde(default)]
    pub attach_stdin: bool,
    /// Whether stdout is attached.
    #[serde(default)]
    pub attach_stdout: bool,
    /// Whether stderr is attached.
    #[serde(default)]
    pub attach_stderr: bool,
    /// Ports the image exposes (`"80/tcp": {}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, Value>>,
    /// Whether a terminal is allocated.
    #[serde(default)]
    pub tty: bool,
    /// Whether stdin stays open.
    #[serde(default)]
    pub open_stdin: bool,
    /// Whether stdin closes after the first attach.
    #[serde(default)]
    pub stdin_once: bool,
    /// `KEY=value` environment.
    #[serde(default)]
    pub env: Option<Vec<String>>,
    /// Default command.
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    /// Healthcheck settings (kept as given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Value>,
    /// Windows-only quirk Docker keeps in the JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args_escaped: Option<bool>,
    /// The image name the container was created from.
    #[serde(default)]
    pub image: String,
    /// Anonymous volumes.
    #[serde(default)]
    pub volumes: Option<BTreeMap<String, Value>>,
    /// Working directory.
    #[serde(default)]
    pub working_dir: String,
    /// Entrypoint.
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    /// ONBUILD triggers.
    #[serde(default)]
    pub on_build: Option<Vec<String>>,
    /// Labels.
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    /// Signal that stops the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// Seconds to wait before killing on stop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    /// Shell for shell-form commands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
}

/// The `rootfs` block of an image config.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RootFs {
    /// Always "layers".
    #[serde(rename = "type", default)]
    pub typ: String,
    /// Digests of the uncompressed layer tars, bottom first.
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

/// One history entry of an image config.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct History {
    /// When the step ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The command that made the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Who made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// True when the step made no layer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

/// An image configuration (Docker's and OCI's shared shape); unknown fields are kept.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ImageConfig {
    /// CPU architecture, e.g. amd64.
    #[serde(default)]
    pub architecture: String,
    /// Operating system, e.g. linux.
    #[serde(default)]
    pub os: String,
    /// Creation time, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Run defaults.
    #[serde(default)]
    pub config: ContainerConfig,
    /// Layer list.
    #[serde(default)]
    pub rootfs: RootFs,
    /// Build history.
    #[serde(default)]
    pub history: Vec<History>,
    /// Everything else, kept so nothing is lost.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Docker's GOARCH name for this host.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

/// Applies Dockerfile instructions given with `--change` (CMD, ENTRYPOINT, ENV, WORKDIR, USER,
/// LABEL, EXPOSE, VOLUME, STOPSIGNAL, ONBUILD) to `cfg`.
pub fn apply_change(cfg: &mut ContainerConfig, change: &str) -> Result<(), String> {
    let change = change.trim();
    let (instr, rest) = change
        .split_once(char::is_whitespace)
        .map(|(a, b)| (a, b.trim()))
        .unwrap_or((change, ""));
    let json_or_shell = |s: &str| -> Vec<String> {
        if s.starts_with('[') {
            if let Ok(v) = serde_json::from_str::<Vec<String>>(s) {
                return v;
            }
        }
        vec!["/bin/sh".into(), "-c".into(), s.to_string()]
    };
    match instr.to_ascii_uppercase().as_str() {
        "CMD" => cfg.cmd = Some(json_or_shell(rest)),
        "ENTRYPOINT" => cfg.entrypoint = Some(json_or_shell(rest)),
        "WORKDIR" => cfg.working_dir = rest.to_string(),
        "USER" => cfg.user = rest.to_string(),
        "STOPSIGNAL" => cfg.stop_signal = Some(rest.to_string()),
        "ENV" => {
            let env = cfg.env.get_or_insert_with(Vec::new);
            for (k, v) in parse_key_values(rest)? {
                env.retain(|e| e.split_once('=').map(|x| x.0) != Some(k.as_str()));
                env.push(format!("{k}={v}"));
            }
        }
        "LABEL" => {
            let labels = cfg.labels.get_or_insert_with(BTreeMap::new);
            for (k, v) in parse_key_values(rest)? {
                labels.insert(k, v);
            }
        }
        "EXPOSE" => {
            let ports = cfg.exposed_ports.get_or_insert_with(BTreeMap::new);
            for p in rest.split_whitespace() {
                let p = if p.contains('/') {
                    p.to_string()
                } else {
                    format!("{p}/tcp")
                };
                ports.insert(p, Value::Object(Map::new()));
            }
        }
        "VOLUME" => {
            let vols = cfg.volumes.get_or_insert_with(BTreeMap::new);
            let list = if rest.starts_with('[') {
                serde_json::from_str::<Vec<String>>(rest).map_err(|e| e.to_string())?
            } else {
                rest.split_whitespace().map(String::from).collect()
            };
            for v in list {
                vols.insert(v, Value::Object(Map::new()));
            }
        }
        "ONBUILD" => cfg
            .on_build
            .get_or_insert_with(Vec::new)
            .push(rest.to_string()),
        "" => return Err("empty change".into()),
        other => return Err(format!("{other} is not a valid change command")),
    }
    Ok(())
}

/// Parses `k=v k2="v 2"` or the legacy `k v` form.
fn parse_key_values(s: &str) -> Result<Vec<(String, String)>, String> {
    let first = s.split_whitespace().next().unwrap_or("");
    if !first.contains('=') {
        let (k, v) = s
            .split_once(char::is_whitespace)
            .ok_or_else(|| format!("{s:?} needs a value"))?;
        return Ok(vec![(k.to_string(), v.trim().to_string())]);
    }
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        while let Some(&c) = chars.peek() {
            if quote.is_none() && c.is_whitespace() {
                break;
            }
            chars.next();
            match (quote, c) {
                (None, '"') | (None, '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (_, '\\') => {
                    if let Some(n) = chars.next() {
                        word.push(n);
                    }
                }
                _ => word.push(c),
            }
        }
        let (k, v) = word
            .split_once('=')
            .ok_or_else(|| format!("{word:?} is not of the form key=value"))?;
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_apply() {
        let mut c = ContainerConfig::default();
        apply_change(&mut c, "CMD [\"/bin/sh\"]").unwrap();
        apply_change(&mut c, "ENV A=1 B=\"two words\"").unwrap();
        apply_change(&mut c, "ENV A 3").unwrap();
        apply_change(&mut c, "WORKDIR /srv").unwrap();
        apply_change(&mut c, "ENTRYPOINT echo hi").unwrap();
        apply_change(&mut c, "LABEL a=b").unwrap();
        apply_change(&mut c, "EXPOSE 80").unwrap();
        assert_eq!(c.cmd, Some(vec!["/bin/sh".to_string()]));
        assert_eq!(
            c.env,
            Some(vec!["B=two words".to_string(), "A=3".to_string()])
        );
        assert_eq!(c.working_dir, "/srv");
        assert_eq!(c.entrypoint.as_ref().unwrap()[2], "echo hi");
        assert_eq!(c.labels.as_ref().unwrap()["a"], "b");
        assert!(c.exposed_ports.as_ref().unwrap().contains_key("80/tcp"));
        assert!(apply_change(&mut c, "FROM x").is_err());
    }

    #[test]
    fn config_roundtrip_keeps_unknown_fields() {
        let raw = r#"{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":[]},"docker_version":"20.10"}"#;
        let c: ImageConfig = serde_json::from_str(raw).unwrap();
        assert_eq!(c.config.cmd.as_deref(), Some(&["sh".to_string()][..]));
        let back = serde_json::to_value(&c).unwrap();
        assert_eq!(back["docker_version"], "20.10");
    }
}
