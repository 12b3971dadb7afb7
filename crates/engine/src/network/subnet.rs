//! Subnets: CIDR arithmetic, the host's routes, and the host-wide reservations every berth
//! consults before it gives a bridge a subnet.

use super::*;
use crate::error::{Error, IoContext, Result};
use crate::store;
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// Parses `a.b.c.d/n`, returning the network address (host bits cleared).
pub fn parse_cidr(s: &str) -> Result<(Ipv4Addr, u8)> {
    let bad = || Error::invalid(format!("invalid CIDR address: {s}"));
    let (a, n) = s.split_once('/').ok_or_else(bad)?;
    if a.parse::<std::net::Ipv6Addr>().is_ok() {
        return Err(ipv6_refused());
    }
    let ip: Ipv4Addr = a.parse().map_err(|_| bad())?;
    let n: u8 = n.parse().map_err(|_| bad())?;
    if n > 30 {
        return Err(Error::invalid(format!("subnet {s} is too small")));
    }
    Ok((Ipv4Addr::from(u32::from(ip) & mask(n)), n))
}

pub(crate) fn mask(n: u8) -> u32 {
    if n == 0 {
        0
    } else {
        u32::MAX << (32 - n)
    }
}

pub(crate) fn overlaps(a: (Ipv4Addr, u8), b: (Ipv4Addr, u8)) -> bool {
    let m = mask(a.1.min(b.1));
    u32::from(a.0) & m == u32::from(b.0) & m
}

/// IPv4 routes of the host (destination, prefix) from /proc/net/route: a new network must not
/// take a subnet the host already reaches some other way.
pub(crate) fn host_routes() -> Vec<(Ipv4Addr, u8)> {
    let text = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let dest = u32::from_str_radix(f.get(1)?, 16).ok()?;
            let m = u32::from_str_radix(f.get(7)?, 16).ok()?;
            if m == 0 {
                return None; // the default route overlaps everything
            }
            Some((
                Ipv4Addr::from(u32::from_be(dest)),
                u32::from_be(m).count_ones() as u8,
            ))
        })
        .collect()
}

/// Where subnets are reserved host-wide (one file per bridge holding its CIDR): several berth
/// roots share the host, and a network's bridge (with its route) may not exist yet.
pub(crate) fn reserved_dir() -> PathBuf {
    crate::exec_root::host_path("subnets")
}

pub(crate) fn reserved_subnets() -> Vec<(Ipv4Addr, u8)> {
    let Ok(rd) = std::fs::read_dir(reserved_dir()) else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .filter_map(|s| parse_cidr(s.trim()).ok())
        .collect()
}

/// The subnet reserved for `bridge`, if any.
pub fn reserved_subnet(bridge: &str) -> Option<String> {
    std::fs::read_to_string(reserved_dir().join(bridge))
        .ok()
        .map(|s| s.trim().to_string())
}

pub(crate) fn reserve(bridge: &str, subnet: &str) -> Result<()> {
    let dir = reserved_dir();
    std::fs::create_dir_all(&dir).ctx(|| format!("create {}", dir.display()))?;
    std::fs::write(dir.join(bridge), subnet).ctx(|| format!("reserve subnet {subnet}"))
}

/// Gives a bridge's subnet back.
pub fn unreserve(bridge: &str) {
    let _ = std::fs::remove_file(reserved_dir().join(bridge));
}

/// A host-wide lock for choosing subnets.
pub(crate) fn host_lock() -> Result<store::Lock> {
    let lock = crate::exec_root::host_path("subnets.lock");
    std::fs::create_dir_all(crate::exec_root::DEFAULT).ctx(|| "create /run/berth".into())?;
    store::Lock::exclusive(&lock)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_and_overlaps() {
        assert_eq!(
            parse_cidr("172.18.3.4/16").unwrap(),
            (Ipv4Addr::new(172, 18, 0, 0), 16)
        );
        assert!(parse_cidr("10.0.0.0/31").is_err());
        assert!(overlaps(
            (Ipv4Addr::new(172, 18, 0, 0), 16),
            (Ipv4Addr::new(172, 18, 5, 0), 24)
        ));
        assert!(!overlaps(
            (Ipv4Addr::new(172, 18, 0, 0), 16),
            (Ipv4Addr::new(172, 19, 0, 0), 16)
        ));
    }
}
