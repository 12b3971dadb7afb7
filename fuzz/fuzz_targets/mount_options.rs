//! `-v`, `--mount`, `--tmpfs` and `-p` flags: whatever parses has an absolute destination other than `/`, absolute bind sources, ports that are not 0, and addresses that are addresses.
#![no_main]

use berth_engine::container::mounts::{
    parse_mount_flag, parse_tmpfs_flag, parse_volume_flag, MountRequest,
};
use berth_engine::network::{parse_host_ip, parse_port_key, parse_publish};
use libfuzzer_sys::fuzz_target;
use std::net::Ipv4Addr;

fn check_mount(spec: &str, m: &MountRequest) {
    let d = m.destination();
    assert!(
        d.starts_with('/') && d != "/",
        "{spec:?}: destination {d:?}"
    );
    if let MountRequest::Bind { source, .. } = m {
        assert!(source.starts_with('/'), "{spec:?}: bind source {source:?}");
    }
}

fuzz_target!(|spec: &str| {
    for parse in [parse_volume_flag, parse_mount_flag, parse_tmpfs_flag] {
        if let Ok(m) = parse(spec) {
            check_mount(spec, &m);
        }
    }
    if let Ok(maps) = parse_publish(spec) {
        assert!(!maps.is_empty());
        for p in &maps {
            assert!(p.container_port != 0, "{spec:?}");
            assert!(matches!(p.proto.as_str(), "tcp" | "udp"), "{spec:?}");
            assert!(
                p.host_ip.is_empty() || p.host_ip.parse::<Ipv4Addr>().is_ok(),
                "{spec:?}"
            );
        }
        let host_ports: Vec<u16> = maps.iter().map(|p| p.host_port).collect();
        assert!(host_ports.iter().all(|p| *p == 0) || host_ports.iter().all(|p| *p != 0));
    }
    if let Ok((port, proto)) = parse_port_key(spec) {
        assert!(port != 0);
        assert_eq!(
            parse_port_key(&format!("{port}/{proto}")).ok(),
            Some((port, proto))
        );
    }
    if let Ok(ip) = parse_host_ip(spec) {
        assert!(
            ip.is_empty() || ip.parse::<Ipv4Addr>().is_ok(),
            "{spec:?} -> {ip:?}"
        );
    }
});
