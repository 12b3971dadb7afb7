//! Which `--sysctl` keys a container may set: only those its own namespaces scope, so no
//! value reaches the host's kernel settings (runc's validator and Docker's daemon rules).

use super::HostConfig;
use crate::error::{Error, Result};

/// Keys scoped by the IPC namespace.
const IPC_KEYS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// The namespace a key belongs to, or `None` for a key no container namespace scopes.
fn namespace_of(key: &str) -> Option<&'static str> {
    if IPC_KEYS.contains(&key) || key.starts_with("fs.mqueue.") {
        Some("ipc")
    } else if key.starts_with("net.") {
        Some("network")
    } else if key == "kernel.domainname" || key == "kernel.hostname" {
        Some("uts")
    } else {
        None
    }
}

/// True when the container shares that namespace with the host or another container.
fn shared(hc: &HostConfig, ns: &str) -> bool {
    let mode = match ns {
        "ipc" => hc.ipc_mode.as_str(),
        "network" => hc.network_mode.as_str(),
        _ => hc.uts_mode.as_str(),
    };
    mode == "host" || mode.starts_with("container:")
}

/// Refuses every sysctl the container's own namespaces do not scope.
pub fn validate(hc: &HostConfig) -> Result<()> {
    for key in hc.sysctls.iter().flatten().map(|(k, _)| k) {
        // Keys are dotted names: a '/' or an empty component would make another /proc/sys path.
        let well_formed = !key.is_empty()
            && key.split('.').all(|c| {
                !c.is_empty()
                    && c.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            });
        let ns = namespace_of(key).filter(|_| well_formed).ok_or_else(|| {
            Error::invalid(format!(
                "sysctl '{key}' is not allowed: only namespaced sysctls (net.*, kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*) can be set"
            ))
        })?;
        if shared(hc, ns) {
            return Err(Error::invalid(format!(
                "sysctl '{key}' is not allowed: the container shares its {ns} namespace ({})",
                match ns {
                    "ipc" => &hc.ipc_mode,
                    "network" => &hc.network_mode,
                    _ => &hc.uts_mode,
                }
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hc(mode: &str, keys: &[&str]) -> HostConfig {
        HostConfig {
            network_mode: mode.into(),
            sysctls: Some(keys.iter().map(|k| (k.to_string(), "1".into())).collect()),
            ..Default::default()
        }
    }

    #[test]
    fn only_namespaced_keys_in_own_namespaces() {
        assert!(validate(&hc(
            "bridge",
            &["net.ipv4.ip_forward", "kernel.shmmax", "fs.mqueue.msg_max"]
        ))
        .is_ok());
        for bad in [
            "kernel.core_pattern",
            "kernel.shmmaxx",
            "vm.overcommit_memory",
            "net..x",
            "net.ipv4/../../kernel/core_pattern",
            "net",
        ] {
            assert!(validate(&hc("bridge", &[bad])).is_err(), "{bad}");
        }
        assert!(validate(&hc("host", &["net.ipv4.ip_forward"])).is_err());
        assert!(validate(&hc("container:abc", &["net.core.somaxconn"])).is_err());
        let mut h = hc("bridge", &["kernel.msgmax"]);
        h.ipc_mode = "host".into();
        assert!(validate(&h).is_err());
    }
}
