//! Host settings checked before anything is made: the rules the kernel would otherwise be trusted
//! with.

use crate::container::{spec, HostConfig};
use crate::error::{Error, Result};
use crate::network::plan::network_mode_is_bridge;

/// Docker's checks on host settings that would otherwise fail at start.
pub(crate) fn validate_host_config(hc: &HostConfig) -> Result<()> {
    let policy = &hc.restart_policy;
    if !matches!(
        policy.name.as_str(),
        "" | "no" | "always" | "unless-stopped" | "on-failure"
    ) {
        return Err(Error::invalid(format!(
            "invalid restart policy: unknown policy '{}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'",
            policy.name
        )));
    }
    if policy.maximum_retry_count != 0 && policy.name != "on-failure" {
        return Err(Error::invalid(
            "invalid restart policy: maximum retry count can only be used with 'on-failure'",
        ));
    }
    if policy.maximum_retry_count < 0 {
        return Err(Error::invalid(
            "invalid restart policy: maximum retry count cannot be negative",
        ));
    }
    for h in hc.extra_hosts.iter().flatten() {
        validate_extra_host(h)?;
    }
    for d in hc.dns.iter().flatten() {
        validate_dns_server(d)?;
    }
    if hc.memory != 0 && hc.memory < 6 * 1024 * 1024 {
        return Err(Error::invalid("Minimum memory limit allowed is 6MB"));
    }
    if hc.memory_swap > 0 && hc.memory > 0 && hc.memory_swap < hc.memory {
        return Err(Error::invalid(
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ));
    }
    if hc.nano_cpus < 0 {
        return Err(Error::invalid(
            "Range of CPUs is from 0.01 to the number of CPUs available",
        ));
    }
    if hc.nano_cpus > 0 {
        let ncpu = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1) as i64;
        if hc.nano_cpus < 10_000_000 || hc.nano_cpus > ncpu * 1_000_000_000 {
            return Err(Error::invalid(format!(
                "Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
            )));
        }
    }
    if hc.blkio_weight != 0 && !(10..=1000).contains(&hc.blkio_weight) {
        return Err(Error::invalid("Range of blkio weight is from 10 to 1000"));
    }
    if hc.cpu_shares < 0 {
        return Err(Error::invalid("invalid CPU shares: must be positive"));
    }
    match hc.log_config.typ.as_str() {
        // `local` is stored in the json-file format: only `logs` ever reads it.
        "" | "json-file" | "local" => crate::logs::validate_options(&hc.log_config.config)?,
        "none" => {}
        other => {
            return Err(Error::invalid(format!(
                "logger: no log driver named '{other}' is registered"
            )))
        }
    }
    spec::capabilities(hc)?;
    crate::container::sysctl::validate(hc)?;
    if !matches!(hc.runtime.as_str(), "" | "runc" | "berth") {
        return Err(Error::invalid(format!(
            "unknown or invalid runtime name: {}",
            hc.runtime
        )));
    }
    if !matches!(hc.isolation.as_str(), "" | "default") {
        return Err(Error::invalid(format!(
            "invalid isolation '{}' on linux",
            hc.isolation
        )));
    }
    if hc
        .memory_swappiness
        .is_some_and(|v| !(-1..=100).contains(&v))
    {
        return Err(Error::invalid(
            "invalid value: memory swappiness must be in the range [0, 100]",
        ));
    }
    for d in hc.devices.iter().flatten() {
        validate_device(d)?;
    }
    for (key, list) in hc.port_bindings.iter().flatten() {
        crate::network::parse_port_key(key)?;
        for b in list {
            crate::network::parse_host_ip(&b.host_ip)?;
        }
    }
    for u in hc.ulimits.iter().flatten() {
        if u.soft > u.hard {
            return Err(Error::invalid(format!(
                "ulimit soft limit must be less than or equal to hard limit: {} > {}",
                u.soft, u.hard
            )));
        }
    }
    if let Some(mac) = &hc.mac_address {
        validate_mac(mac)?;
    }
    for x in hc.extra_networks.iter().flatten() {
        if let Some(mac) = x.endpoint.as_ref().and_then(|e| e.mac_address.as_deref()) {
            validate_mac(mac)?;
        }
    }
    if !network_mode_is_bridge(&hc.network_mode)
        && (hc.port_bindings.as_ref().is_some_and(|p| !p.is_empty()) || hc.publish_all_ports)
        && hc.network_mode != "host"
    {
        return Err(Error::invalid(format!(
            "conflicting options: port publishing and the container type network mode ({})",
            hc.network_mode
        )));
    }
    Ok(())
}

/// `--add-host name:ip`: a name without blanks and an IP address or `host-gateway`
/// (Docker's check; each becomes a line of the container's /etc/hosts).
pub fn validate_extra_host(entry: &str) -> Result<()> {
    let ok = entry.split_once(':').is_some_and(|(name, ip)| {
        !name.is_empty()
            && !name.chars().any(char::is_whitespace)
            && (ip == "host-gateway" || ip.parse::<std::net::IpAddr>().is_ok())
    });
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "invalid IP address in add-host: {entry:?}"
        )))
    }
}

/// `--dns`: a name server is an IP address.
pub fn validate_dns_server(server: &str) -> Result<()> {
    server
        .parse::<std::net::IpAddr>()
        .map(|_| ())
        .map_err(|_| Error::invalid(format!("{server} is not an ip address")))
}

/// A unicast MAC address, `xx:xx:xx:xx:xx:xx`.
pub(crate) fn validate_mac(mac: &str) -> Result<()> {
    let ok = mac.split(':').count() == 6
        && mac
            .split(':')
            .all(|b| b.len() == 2 && b.bytes().all(|c| c.is_ascii_hexdigit()));
    // A multicast address (low bit of the first byte) cannot be an interface's.
    let unicast = u8::from_str_radix(&mac[..2.min(mac.len())], 16).is_ok_and(|b| b & 1 == 0);
    if ok && unicast {
        Ok(())
    } else {
        Err(Error::invalid(format!("invalid MAC address: {mac}")))
    }
}

/// A device's place in the container is a clean path under /dev (the runtime makes the node
/// there before the root is pivoted), its cgroup permissions some of `rwm`.
pub(crate) fn validate_device(d: &crate::container::DeviceMapping) -> Result<()> {
    let p = d.path_in_container.as_str();
    let clean = p.strip_prefix("/dev/").is_some_and(|rel| {
        rel.split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
    });
    if !clean {
        return Err(Error::invalid(format!(
            "invalid device path in the container: {p:?}: it must be a clean path under /dev"
        )));
    }
    let perms = &d.cgroup_permissions;
    let mut seen = std::collections::HashSet::new();
    if perms.len() > 3 || !perms.chars().all(|c| "rwm".contains(c) && seen.insert(c)) {
        return Err(Error::invalid(format!("invalid device mode: {perms}")));
    }
    Ok(())
}

/// A hostname of DNS labels (letters, digits, `-`), as Docker accepts.
pub(crate) fn validate_hostname(h: &str) -> Result<()> {
    let ok = h.len() <= 253
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!("invalid hostname format: {h}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::{DeviceMapping, RestartPolicy};

    fn refused(hc: HostConfig) -> String {
        validate_host_config(&hc).unwrap_err().message
    }

    #[test]
    fn restart_policies_and_limits_are_checked_as_dockers() {
        assert!(validate_host_config(&HostConfig::default()).is_ok());
        let policy = |name: &str, n| HostConfig {
            restart_policy: RestartPolicy {
                name: name.into(),
                maximum_retry_count: n,
            },
            ..Default::default()
        };
        assert!(refused(policy("sometimes", 0)).contains("unknown policy 'sometimes'"));
        assert!(refused(policy("always", 3)).contains("only be used with 'on-failure'"));
        assert!(refused(policy("on-failure", -1)).contains("cannot be negative"));
        assert!(validate_host_config(&policy("on-failure", 3)).is_ok());
        let m = HostConfig {
            memory: 1024,
            ..Default::default()
        };
        assert_eq!(refused(m), "Minimum memory limit allowed is 6MB");
    }

    #[test]
    fn extra_hosts_are_a_name_and_an_address() {
        for ok in ["db:10.0.0.2", "gw:host-gateway", "v6:::1", "x:fe80::1"] {
            assert!(validate_extra_host(ok).is_ok(), "{ok}");
        }
        for bad in [
            "db",
            ":1.2.3.4",
            "db:nowhere",
            "a b:1.2.3.4",
            "x\n1.1.1.1 evil:1.2.3.4",
        ] {
            assert!(validate_extra_host(bad).is_err(), "{bad:?}");
        }
        let hc = HostConfig {
            extra_hosts: Some(vec!["db:999.1.1.1".into()]),
            ..Default::default()
        };
        assert!(refused(hc).contains("add-host"));
        assert!(validate_dns_server("9.9.9.9").is_ok());
        assert!(validate_dns_server("dns.example").is_err());
    }

    #[test]
    fn macs_devices_and_hostnames() {
        assert!(validate_mac("02:42:ac:11:00:02").is_ok());
        for bad in [
            "01:00:5e:00:00:01",
            "02:42:ac:11:00",
            "zz:42:ac:11:00:02",
            "",
        ] {
            assert!(validate_mac(bad).is_err(), "{bad:?}");
        }
        let dev = |p: &str, perms: &str| DeviceMapping {
            path_on_host: "/dev/null".into(),
            path_in_container: p.into(),
            cgroup_permissions: perms.into(),
        };
        assert!(validate_device(&dev("/dev/xnull", "rwm")).is_ok());
        for (p, perms) in [
            ("/dev/../etc/x", "rw"),
            ("/etc/x", "rw"),
            ("/dev/", "rw"),
            ("/dev/a//b", "r"),
            ("/dev/ok", "rwx"),
            ("/dev/ok", "rr"),
        ] {
            assert!(validate_device(&dev(p, perms)).is_err(), "{p} {perms}");
        }
        assert!(validate_hostname("web-1.example").is_ok());
        for bad in ["", "a..b", "under_score", &"x".repeat(64)] {
            assert!(validate_hostname(bad).is_err(), "{bad:?}");
        }
    }
}
