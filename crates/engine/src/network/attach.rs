//! Putting a container on its bridge network and taking it off.
//!
//! The network namespace is made before the container, as CNI plugins do: a bind mount at
//! `<runtime root>/netns/<id>` that the OCI spec joins by path (so runc or crun can start the
//! container the same way). The shim (single-threaded) sets it up just before it forks the
//! starter, so it can bind its DNS socket inside, and takes it down after the container exits;
//! the engine does the same for a container whose shim died.

use super::netlink::{index, Netlink};
use super::{firewall, Attachment};
use crate::error::{Error, Result};
use std::os::fd::{AsFd, AsRawFd};

const MTU: u32 = 1500;

fn io(what: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::internal(format!("network setup: {what}: {e}"))
}

fn mac_bytes(mac: &str) -> [u8; 6] {
    let mut out = [0u8; 6];
    for (i, p) in mac.split(':').take(6).enumerate() {
        out[i] = u8::from_str_radix(p, 16).unwrap_or(0);
    }
    out
}

/// Where the once-per-bridge markers live, named for the firewall's version: a newer berth
/// brings the table of a running host up to date at its first start on each bridge.
const FIREWALL_MARKERS: &str = "firewall.2";

/// The bridge with its gateway address, up, allowed to carry 127.0.0.1 traffic for published
/// ports, and known to the firewall (done once per bridge: a host-wide marker says so).
fn ensure_bridge(h: &mut Netlink, a: &Attachment) -> Result<u32> {
    let marker = crate::exec_root::host_path(FIREWALL_MARKERS).join(&a.bridge);
    let existed = index(&a.bridge).is_some();
    let br = h.ensure_bridge(&a.bridge, MTU).map_err(io("bridge"))?;
    if existed && marker.exists() {
        return Ok(br);
    }
    h.add_address(br, a.gateway, a.prefix)
        .map_err(io("bridge address"))?;
    h.set_up(br, None).map_err(io("bridge up"))?;
    let _ = std::fs::write(
        format!("/proc/sys/net/ipv4/conf/{}/route_localnet", a.bridge),
        "1",
    );
    firewall::add_network(&a.bridge, &a.subnet, a.internal)?;
    let _ = std::fs::create_dir_all(crate::exec_root::host_path(FIREWALL_MARKERS));
    let _ = std::fs::write(&marker, &a.subnet);
    Ok(br)
}

/// Configures one interface inside the namespace the calling thread is in: address, up, and
/// (for the primary one, unless internal) the default route.
fn configure_inside(n: &mut Netlink, a: &Attachment, primary: bool) -> Result<()> {
    let i =
        index(&a.iface).ok_or_else(|| Error::internal(format!("network setup: no {}", a.iface)))?;
    n.add_address(i, a.ip, a.prefix).map_err(io("address"))?;
    n.set_up(i, None).map_err(io("interface up"))?;
    if primary && !a.internal {
        n.add_default_route(a.gateway)
            .map_err(io("default route"))?;
    }
    Ok(())
}

/// Sets up the container's network namespace at the primary attachment's `netns`: one
/// interface per attachment (eth0 with the default route, then eth1, …), loopback, the host
/// ends on their bridges, the primary network's published ports.
pub fn setup(list: &[Attachment]) -> Result<()> {
    let Some(a) = list.first() else {
        return Ok(());
    };
    for x in list {
        teardown_links(x);
    }
    let mut h = Netlink::open().map_err(io("netlink"))?;
    let mut bridges = Vec::new();
    for x in list {
        bridges.push(ensure_bridge(&mut h, x)?);
    }
    let host_ns = std::fs::File::open("/proc/self/ns/net").map_err(io("host namespace"))?;
    if let Some(dir) = a.netns.parent() {
        std::fs::create_dir_all(dir).map_err(io("netns directory"))?;
    }
    // A fresh file, never one a link planted there points to (a crash's leftover goes first).
    let _ = nix::mount::umount2(
        &a.netns,
        nix::mount::MntFlags::MNT_DETACH | nix::mount::MntFlags::UMOUNT_NOFOLLOW,
    );
    let _ = std::fs::remove_file(&a.netns);
    {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&a.netns)
            .map_err(io("netns file"))?;
    }
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(|e| Error::internal(format!("network setup: unshare: {e}")))?;
    let inside = (|| -> Result<()> {
        nix::mount::mount(
            Some("/proc/self/ns/net"),
            &a.netns,
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| Error::internal(format!("network setup: bind {}: {e}", a.netns.display())))?;
        let ns = std::fs::File::open("/proc/self/ns/net").map_err(io("namespace"))?;
        for x in list {
            h.add_veth(&x.veth, &x.iface, mac_bytes(&x.mac), MTU, ns.as_raw_fd())
                .map_err(io("veth"))?;
        }
        let mut n = Netlink::open().map_err(io("netlink in the container"))?;
        let lo = index("lo").unwrap_or(1);
        n.set_up(lo, None).map_err(io("lo up"))?;
        for (k, x) in list.iter().enumerate() {
            configure_inside(&mut n, x, k == 0)?;
        }
        Ok(())
    })();
    nix::sched::setns(host_ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(|e| Error::internal(format!("network setup: back to the host: {e}")))?;
    let r = inside.and_then(|()| {
        for (x, br) in list.iter().zip(&bridges) {
            let v =
                index(&x.veth).ok_or_else(|| Error::internal("network setup: veth vanished"))?;
            h.set_up(v, Some(*br)).map_err(io("veth up"))?;
        }
        firewall::publish(&a.ports, a.ip)
    });
    if r.is_err() {
        for x in list {
            teardown_links(x);
        }
    }
    r
}

/// Adds interface `a.iface` to a running container's namespace (`network connect`). Runs in a
/// thread of its own, which enters the namespace: the caller may be a multi-threaded daemon.
pub fn join_running(a: &Attachment) -> Result<()> {
    let mut h = Netlink::open().map_err(io("netlink"))?;
    let br = ensure_bridge(&mut h, a)?;
    let ns = std::fs::File::open(&a.netns).map_err(io("the container's namespace"))?;
    if let Some(v) = index(&a.veth) {
        let _ = h.del_link(v);
    }
    h.add_veth(&a.veth, &a.iface, mac_bytes(&a.mac), MTU, ns.as_raw_fd())
        .map_err(io("veth"))?;
    let inside = {
        let a = a.clone();
        std::thread::spawn(move || -> Result<()> {
            nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(|e| Error::internal(format!("network setup: enter: {e}")))?;
            let mut n = Netlink::open().map_err(io("netlink in the container"))?;
            configure_inside(&mut n, &a, false)
        })
        .join()
        .map_err(|_| Error::internal("network setup: the helper thread failed"))?
    };
    let r = inside.and_then(|()| {
        let v = index(&a.veth).ok_or_else(|| Error::internal("network setup: veth vanished"))?;
        h.set_up(v, Some(br)).map_err(io("veth up"))
    });
    if r.is_err() {
        if let Some(v) = index(&a.veth) {
            let _ = h.del_link(v);
        }
    }
    r
}

/// Takes interface `a.iface` out of a running container (`network disconnect`).
pub fn leave_running(a: &Attachment) -> Result<()> {
    if let Some(v) = index(&a.veth) {
        Netlink::open()
            .and_then(|mut h| h.del_link(v))
            .map_err(io("delete veth"))?;
    }
    Ok(())
}

/// Removes the veth pair and the namespace mount (idempotent).
fn teardown_links(a: &Attachment) {
    if let Some(v) = index(&a.veth) {
        if let Ok(mut h) = Netlink::open() {
            let _ = h.del_link(v);
        }
    }
    let _ = nix::mount::umount2(&a.netns, nix::mount::MntFlags::MNT_DETACH);
    let _ = std::fs::remove_file(&a.netns);
}

/// Takes the container off its network after it stopped: published ports and the namespace.
/// The veth pair goes with the namespace when the kernel frees it, in the background:
/// deleting it here would wait for a network RCU grace period (tens of ms) on every stop.
pub fn teardown(a: &Attachment) {
    firewall::unpublish(&a.ports, a.ip);
    let _ = nix::mount::umount2(&a.netns, nix::mount::MntFlags::MNT_DETACH);
    let _ = std::fs::remove_file(&a.netns);
}

/// Unmounts a container's network namespace by its id: for a container whose every network
/// was left while it ran, which has no attachment left to name the namespace (idempotent).
pub fn drop_netns(id: &str) {
    let p = crate::exec_root::netns_path(id);
    let _ = nix::mount::umount2(&p, nix::mount::MntFlags::MNT_DETACH);
    let _ = std::fs::remove_file(&p);
}

/// Takes a bridge network's bridge and firewall entries away (`network rm`).
pub fn remove_bridge(bridge: &str, subnet: &str) -> Result<()> {
    if let Some(i) = index(bridge) {
        let mut h = Netlink::open().map_err(io("netlink"))?;
        h.del_link(i).map_err(io("delete bridge"))?;
    }
    let _ = std::fs::remove_file(crate::exec_root::host_path(FIREWALL_MARKERS).join(bridge));
    firewall::remove_network(bridge, subnet)
}
