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
