//! Published ports: `-p` specs, port keys and host addresses, each checked to be nothing but
//! a port or an address before it becomes firewall text.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

/// A published port: `[ip:]host:container[/proto]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PortMap {
    /// `tcp` or `udp`.
    pub proto: String,
    /// Host address ("" for all).
    pub host_ip: String,
    /// Host port.
    pub host_port: u16,
    /// Container port.
    pub container_port: u16,
}

/// Parses Docker's `PORT[/PROTO]` key (`80/tcp`, from an image's ExposedPorts or a client's
/// PortBindings): the port and its protocol. The protocol names a firewall map, so only tcp,
/// udp and sctp pass: anything else would be text in an `nft` batch.
pub fn parse_port_key(key: &str) -> Result<(u16, &'static str)> {
    let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    let proto = match proto.to_ascii_lowercase().as_str() {
        "tcp" => "tcp",
        "udp" => "udp",
        "sctp" => "sctp",
        _ => return Err(Error::invalid(format!("invalid proto: {proto}"))),
    };
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| Error::invalid(format!("invalid containerPort: {port}")))?;
    Ok((port, proto))
}

/// The host address of a port binding: "" for every address, or one IPv4 address (it goes
/// into the firewall's maps as text, so nothing else passes).
pub fn parse_host_ip(ip: &str) -> Result<String> {
    match ip {
        "" | "0.0.0.0" | "::" => Ok(String::new()),
        ip => ip
            .parse::<std::net::Ipv4Addr>()
            .map(|a| a.to_string())
            .map_err(|_| Error::invalid(format!("invalid host IP address: {ip}"))),
    }
}

/// Parses `-p [ip:]hostPort[-end]:containerPort[-end][/proto]` and `-p containerPort` into
/// mappings (host port 0 means "pick one").
pub fn parse_publish(spec: &str) -> Result<Vec<PortMap>> {
    let bad = || Error::invalid(format!("invalid port specification: \"{spec}\""));
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p)) if matches!(p, "tcp" | "udp") => (r, p.to_string()),
        Some(_) => return Err(bad()),
        None => (spec, "tcp".to_string()),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host, ctr) = match parts.as_slice() {
        [c] => ("", "", *c),
        [h, c] => ("", *h, *c),
        [ip, h, c] => (*ip, *h, *c),
        _ => return Err(bad()),
    };
    if !ip.is_empty() && ip.parse::<Ipv4Addr>().is_err() {
        return Err(bad());
    }
    let range = |s: &str| -> Result<(u16, u16)> {
        if s.is_empty() {
            return Ok((0, 0));
        }
        let (a, b) = s.split_once('-').unwrap_or((s, s));
        let a: u16 = a.parse().map_err(|_| bad())?;
        let b: u16 = b.parse().map_err(|_| bad())?;
        if a == 0 || b < a {
            return Err(bad());
        }
        Ok((a, b))
    };
    let (c0, c1) = range(ctr)?;
    if c0 == 0 {
        return Err(bad());
    }
    let (h0, h1) = range(host)?;
    if h0 != 0 && h1 - h0 != c1 - c0 {
        return Err(Error::invalid(format!(
            "invalid ranges specified for container and host Ports: {ctr} and {host}"
        )));
    }
    Ok((0..=(c1 - c0))
        .map(|i| PortMap {
            proto: proto.clone(),
            host_ip: if ip == "0.0.0.0" {
                String::new()
            } else {
                ip.to_string()
            },
            host_port: if h0 == 0 { 0 } else { h0 + i },
            container_port: c0 + i,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_keys_and_host_addresses_admit_nothing_but_ports_and_addresses() {
        assert_eq!(parse_port_key("80/tcp").unwrap(), (80, "tcp"));
        assert_eq!(parse_port_key("53/UDP").unwrap(), (53, "udp"));
        assert_eq!(parse_port_key("8080").unwrap(), (8080, "tcp"));
        for bad in [
            "80/tcp_any { 1 : 10.0.0.2 . 1 }\nflush ruleset\n#",
            "x/tcp",
            "0/tcp",
            "80/sctpx",
            "70000",
        ] {
            assert!(parse_port_key(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_host_ip("").unwrap(), "");
        assert_eq!(parse_host_ip("127.0.0.1").unwrap(), "127.0.0.1");
        assert!(parse_host_ip("1.2.3.4 . 1 }\nflush ruleset").is_err());
    }

    #[test]
    fn publish_specs_parse_as_docker() {
        let p = parse_publish("127.0.0.1:8080:80/udp").unwrap();
        assert_eq!(
            p,
            vec![PortMap {
                proto: "udp".into(),
                host_ip: "127.0.0.1".into(),
                host_port: 8080,
                container_port: 80
            }]
        );
        assert_eq!(parse_publish("8000-8001:90-91").unwrap().len(), 2);
        assert_eq!(parse_publish("80").unwrap()[0].host_port, 0);
        assert!(parse_publish("8000-8002:90-91").is_err());
        assert!(parse_publish("x:80").is_err());
        assert!(parse_publish("80/sctp").is_err());
    }
}
