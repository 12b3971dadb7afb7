//! Networking: the default bridge, user networks, published ports, isolation, the other
//! network modes, and that nothing is left behind. Traffic goes only to loopback, the host's
//! own addresses and the tests' own containers.

use crate::common::Berth;
use std::io::{Read, Write};
use std::time::Duration;

/// An HTTP GET from the host with std only (no tool needed), the body or the error.
fn http_get(addr: &str) -> Result<String, String> {
    let mut s =
        std::net::TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(3))
            .map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    write!(s, "GET / HTTP/1.0\r\nHost: x\r\n\r\n").map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(|e| e.to_string())?;
    Ok(out.split("\r\n\r\n").nth(1).unwrap_or("").to_string())
}

/// A detached busybox httpd answering `body` on port 80.
fn web(b: &Berth, name: &str, extra: &[&str], body: &str) -> String {
    let script = format!("mkdir -p /w; echo {body} > /w/index.html; exec httpd -f -p 80 -h /w");
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["busybox", "sh", "-c", &script]);
    b.ok(&args).trim().to_string()
}

/// A free TCP port on the host.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// busybox wget from a throwaway container: the body, or "unreachable". (This busybox's wget
/// crashes with -T, so the shell's timeout bounds it.)
fn fetch_from(b: &Berth, extra: &[&str], url: &str) -> String {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(extra);
    let script = format!("timeout 3 wget -O- {url} 2>/dev/null || echo unreachable");
    args.extend_from_slice(&["busybox", "sh", "-c", &script]);
    b.ok(&args).trim().to_string()
}

fn ip_of(b: &Berth, name: &str, network: &str) -> String {
    b.inspect(
        name,
        &format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}"),
    )
}

#[test]
fn default_bridge_publishes_ports_to_the_host() {
    let b = Berth::new();
    let port = free_port();
    let local = free_port();
    web(
        &b,
        "web",
        &[
            "-p",
            &format!("{port}:80"),
            "-p",
            &format!("127.0.0.1:{local}:80"),
        ],
        "hello-bridge",
    );
    let ip = ip_of(&b, "web", "bridge");
    assert!(ip.starts_with("172.") || ip.starts_with("192.168."), "{ip}");
    let gw = b.inspect("web", "{{.NetworkSettings.Gateway}}");
    std::thread::sleep(Duration::from_millis(300));
    // From the host: loopback, the bridge's address, and the container directly.
    assert_eq!(
        http_get(&format!("127.0.0.1:{port}")).unwrap(),
        "hello-bridge\n"
    );
    assert_eq!(
        http_get(&format!("127.0.0.1:{local}")).unwrap(),
        "hello-bridge\n"
    );
    assert_eq!(http_get(&format!("{gw}:{port}")).unwrap(), "hello-bridge\n");
    assert_eq!(http_get(&format!("{ip}:80")).unwrap(), "hello-bridge\n");
    // From another container: directly, and through the published port (hairpin).
    assert_eq!(
        fetch_from(&b, &[], &format!("http://{ip}/")),
        "hello-bridge"
    );
    assert_eq!(
        fetch_from(&b, &[], &format!("http://{gw}:{port}/")),
        "hello-bridge"
    );
    assert_eq!(
        b.ok(&["port", "web"]),
        format!("80/tcp -> 0.0.0.0:{port}\n80/tcp -> 127.0.0.1:{local}\n")
    );
    assert_eq!(
        b.ok(&["port", "web", "80"]),
        format!("0.0.0.0:{port}\n127.0.0.1:{local}\n")
    );
    let ps = b.ok(&["ps", "--format", "{{.Ports}} {{.Networks}}"]);
    assert!(
        ps.contains(&format!("0.0.0.0:{port}->80/tcp")) && ps.ends_with("bridge\n"),
        "{ps}"
    );
    // The container sees its own address, route and hosts entry.
    let hosts = b.ok(&["exec", "web", "cat", "/etc/hosts"]);
    assert!(hosts.contains(&format!("{ip}\t")), "{hosts}");
    // A port already taken is refused at start, clearly; -P picks free ones.
    let (code, _, err) = {
        let o = b.run(&[
            "run",
            "-d",
            "-p",
            &format!("{port}:80"),
            "busybox",
            "sleep",
            "10",
        ]);
        (o.code, o.stdout, o.stderr)
    };
    assert_ne!(code, 0);
    assert!(err.contains("port is already allocated"), "{err}");
    // The refused start took nothing away from the container that has the port.
    assert_eq!(
        http_get(&format!("127.0.0.1:{port}")).unwrap(),
        "hello-bridge\n"
    );
    let id = b.ok(&[
        "run",
        "-d",
        "-P",
        "--expose",
        "80",
        "busybox",
        "sh",
        "-c",
        "mkdir /w; echo any > /w/index.html; exec httpd -f -p 80 -h /w",
    ]);
    let p = b.ok(&["port", id.trim(), "80/tcp"]);
    let host_port = p.trim().rsplit(':').next().unwrap().to_string();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        http_get(&format!("127.0.0.1:{host_port}")).unwrap(),
        "any\n"
    );
    // Stopped: the port is free again and the address goes.
    b.ok(&["stop", "-t", "0", "web"]);
    assert!(http_get(&format!("127.0.0.1:{port}")).is_err());
    assert_eq!(b.inspect("web", "{{.NetworkSettings.IPAddress}}"), "");
}

#[test]
fn user_networks_connect_their_own_and_isolate_the_rest() {
    let b = Berth::new();
    b.ok(&[
        "network",
        "create",
        "--subnet",
        "10.231.0.0/24",
        "--label",
        "t=1",
        "front",
    ]);
    b.ok(&["network", "create", "back"]);
    b.ok(&["network", "create", "--internal", "sealed"]);
    let ls = b.ok(&["network", "ls", "--format", "{{.Name}} {{.Driver}}"]);
    for want in [
        "bridge bridge",
        "host host",
        "none null",
        "front bridge",
        "back bridge",
        "sealed bridge",
    ] {
        assert!(ls.contains(want), "{want} in {ls}");
    }
    assert_eq!(
        b.ok(&[
            "network",
            "inspect",
            "-f",
            "{{(index .IPAM.Config 0).Subnet}} {{.Labels.t}} {{.Internal}}",
            "front"
        ]),
        "10.231.0.0/24 1 false\n"
    );
    web(
        &b,
        "f1",
        &["--network", "front", "--ip", "10.231.0.50"],
        "front-one",
    );
    web(&b, "b1", &["--network", "back"], "back-one");
    assert_eq!(ip_of(&b, "f1", "front"), "10.231.0.50");
    let b1 = ip_of(&b, "b1", "back");
    std::thread::sleep(Duration::from_millis(300));
    // Same network: reachable. Another network: not. The default bridge: not either.
    assert_eq!(
        fetch_from(&b, &["--network", "front"], "http://10.231.0.50/"),
        "front-one"
    );
    assert_eq!(
        fetch_from(&b, &["--network", "front"], &format!("http://{b1}/")),
        "unreachable"
    );
    assert_eq!(fetch_from(&b, &[], "http://10.231.0.50/"), "unreachable");
    // Internal: the containers of the network only, no way out.
    let gw = b.inspect(
        "f1",
        "{{(index .NetworkSettings.Networks \"front\").Gateway}}",
    );
    assert_eq!(
        fetch_from(&b, &["--network", "sealed"], &format!("http://{gw}:1/")),
        "unreachable"
    );
    // Not even by DNS: names outside the network are refused, not forwarded.
    let o = b.ok(&[
        "run",
        "--rm",
        "--network",
        "sealed",
        "busybox",
        "sh",
        "-c",
        "nslookup example.com 2>&1; true",
    ]);
    assert!(o.contains("REFUSED"), "{o}");
    let route = b.ok(&[
        "run",
        "--rm",
        "--network",
        "sealed",
        "busybox",
        "ip",
        "route",
    ]);
    assert!(!route.contains("default"), "{route}");
    let inspect = b.ok(&["network", "inspect", "-f", "{{json .Containers}}", "front"]);
    assert!(
        inspect.contains("10.231.0.50/24") && inspect.contains("\"Name\":\"f1\""),
        "{inspect}"
    );
    // Removal: refused while a container runs on it; the predefined ones never.
    let o = b.run(&["network", "rm", "front"]);
    assert!(
        o.code != 0 && o.stderr.contains("has active endpoints"),
        "{o:?}"
    );
    for bad in ["berth0", "a/../x", "waytoolongforaninterface"] {
        let o = b.run(&[
            "network",
            "create",
            "-o",
            &format!("com.docker.network.bridge.name={bad}"),
            "badbridge",
        ]);
        assert!(o.code != 0, "bridge name {bad} accepted");
    }
    let o = b.run(&["network", "rm", "bridge"]);
    assert!(
        o.stderr
            .contains("pre-defined network and cannot be removed"),
        "{o:?}"
    );
    let o = b.run(&["run", "--rm", "--network", "nope", "busybox", "true"]);
    assert!(
        o.code == 125 && o.stderr.contains("network nope not found"),
        "{o:?}"
    );
    // IPv6 is refused in words, and nothing is made.
    for args in [
        &["network", "create", "--ipv6", "six"][..],
        &["network", "create", "--subnet", "fd00:1::/64", "six"][..],
    ] {
        let o = b.run(args);
        assert!(o.code == 1 && o.stderr.contains("IPv6"), "{o:?}");
    }
    assert!(b.run(&["network", "inspect", "six"]).code != 0);
    b.ok(&["rm", "-f", "f1", "b1"]);
    assert_eq!(
        b.ok(&["network", "rm", "front", "back", "sealed"]),
        "front\nback\nsealed\n"
    );
}

#[test]
fn none_host_and_container_modes() {
    let b = Berth::new();
    assert_eq!(
        b.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "busybox",
            "ls",
            "/sys/class/net"
        ]),
        "lo\n"
    );
    let host_ifaces: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let inside = b.ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "busybox",
        "ls",
        "/sys/class/net",
    ]);
    for i in &host_ifaces {
        if !i.starts_with("veth") {
            assert!(inside.contains(i.as_str()), "{i} in {inside}");
        }
    }
    web(&b, "owner", &[], "shared-stack");
    std::thread::sleep(Duration::from_millis(300));
    // container: shares the owner's stack, so its loopback reaches the owner's server.
    let got = b.ok(&[
        "run",
        "--rm",
        "--network",
        "container:owner",
        "busybox",
        "sh",
        "-c",
        "wget -O- http://127.0.0.1/ 2>/dev/null",
    ]);
    assert_eq!(got, "shared-stack\n");
    let o = b.run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-p",
        "8080:80",
        "busybox",
        "true",
    ]);
    assert!(
        o.code == 125 && o.stderr.contains("conflicting options"),
        "{o:?}"
    );
}

#[test]
fn nothing_is_left_behind() {
    let b = Berth::new();
    let port = free_port();
    let net = b.ok(&["network", "create", "leaky"]).trim().to_string();
    for net in ["bridge", "leaky"] {
        b.ok(&[
            "run",
            "--rm",
            "--network",
            net,
            "-p",
            &format!("{port}:80"),
            "busybox",
            "true",
        ]);
        let id = b.ok(&["run", "-d", "--network", net, "busybox", "sleep", "100"]);
        b.ok(&["rm", "-f", id.trim()]);
    }
    b.ok(&["network", "rm", "leaky"]);
    // Other tests run alongside: look only for what this root's containers and network made.
    let ids = b.ok(&[
        "events",
        "--since",
        "5m",
        "--until",
        "0s",
        "--filter",
        "event=create",
        "--filter",
        "type=container",
        "--format",
        "{{.Actor.ID}}",
    ]);
    assert_eq!(ids.lines().count(), 4, "{ids}");
    // The kernel frees a stopped container's namespace, and its veth with it, in the
    // background: give it a moment.
    let gone = |id: &str| !links().contains(&format!("veth{}", &id[..8]));
    b.wait_for(5, "veths freed", || ids.lines().all(gone));
    let links = links();
    for id in ids.lines() {
        assert!(
            !links.contains(&format!("veth{}", &id[..8])),
            "veth of {id} left"
        );
        assert!(
            !std::path::Path::new("/run/berth/netns").join(id).exists(),
            "netns of {id} left"
        );
    }
    assert!(
        !links.contains(&format!("br-{}", &net[..12])),
        "bridge left"
    );
    let table = std::process::Command::new("nft")
        .args(["list", "table", "ip", "berth"])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        !table.contains(&format!("{port} :")),
        "published port left: {table}"
    );
    assert!(
        !table.contains(&format!("br-{}", &net[..12])),
        "firewall entries left: {table}"
    );
}

fn links() -> Vec<String> {
    std::fs::read_dir("/sys/class/net")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn embedded_dns_answers_names_aliases_and_ids_on_user_networks() {
    let b = Berth::new();
    b.ok(&["network", "create", "named"]);
    b.ok(&["network", "create", "other"]);
    let id = web(
        &b,
        "server",
        &[
            "--network",
            "named",
            "--network-alias",
            "db",
            "--hostname",
            "srv",
        ],
        "by-name",
    );
    web(&b, "elsewhere", &["--network", "other"], "other-net");
    let ip = ip_of(&b, "server", "named");
    std::thread::sleep(Duration::from_millis(300));
    let look = |name: &str| {
        b.ok(&[
            "run",
            "--rm",
            "--network",
            "named",
            "busybox",
            "sh",
            "-c",
            &format!("nslookup {name} 2>&1 | grep -A1 '^Name' | tail -1 || true"),
        ])
    };
    for name in ["server", "db", "srv", &id[..12]] {
        assert_eq!(look(name), format!("Address: {ip}\n"), "{name}");
    }
    // Names of another network are not answered; the resolver is the embedded one.
    let o = b.ok(&[
        "run",
        "--rm",
        "--network",
        "named",
        "busybox",
        "sh",
        "-c",
        "nslookup elsewhere >/dev/null 2>&1 && echo found || echo not-found; cat /etc/resolv.conf",
    ]);
    assert!(o.starts_with("not-found\nnameserver 127.0.0.11\n"), "{o}");
    // By name, at once from the first process of a new container (the server is bound before it starts).
    assert_eq!(
        fetch_from(&b, &["--network", "named"], "http://db/"),
        "by-name"
    );
    // The default bridge keeps the host's resolvers, as Docker's.
    let resolv = b.ok(&["run", "--rm", "busybox", "cat", "/etc/resolv.conf"]);
    assert!(!resolv.contains("127.0.0.11"), "{resolv}");
}

#[test]
fn dns_flags_write_resolv_conf() {
    let b = Berth::new();
    let r = b.ok(&[
        "run",
        "--rm",
        "--dns",
        "10.1.2.3",
        "--dns-search",
        "example.org",
        "--dns-option",
        "ndots:2",
        "busybox",
        "cat",
        "/etc/resolv.conf",
    ]);
    assert_eq!(
        r,
        "nameserver 10.1.2.3\nsearch example.org\noptions ndots:2\n"
    );
    b.ok(&["network", "create", "withdns"]);
    let r = b.ok(&[
        "run",
        "--rm",
        "--network",
        "withdns",
        "--dns",
        "10.1.2.3",
        "busybox",
        "cat",
        "/etc/resolv.conf",
    ]);
    assert!(
        r.starts_with("nameserver 127.0.0.11\n") && r.contains("ndots:0"),
        "{r}"
    );
    let o = b.run(&["run", "--rm", "--dns", "nope", "busybox", "true"]);
    assert!(
        o.code == 125 && o.stderr.contains("is not an ip address"),
        "{o:?}"
    );
}

#[test]
fn connect_and_disconnect_stopped_and_running_containers() {
    let b = Berth::new();
    b.ok(&["network", "create", "--subnet", "10.232.0.0/24", "moved"]);
    b.ok(&["network", "create", "--subnet", "10.234.0.0/24", "live"]);
    // Stopped: the network is joined at the next start, as eth1 beside the bridge's eth0.
    b.ok(&["create", "--name", "mover", "busybox", "sleep", "100"]);
    b.ok(&[
        "network",
        "connect",
        "--alias",
        "mv",
        "--ip",
        "10.232.0.9",
        "moved",
        "mover",
    ]);
    b.ok(&["start", "mover"]);
    assert_eq!(ip_of(&b, "mover", "moved"), "10.232.0.9");
    assert_eq!(
        b.ok(&["exec", "mover", "ls", "/sys/class/net"]),
        "eth0\neth1\nlo\n"
    );
    let found = b.ok(&[
        "run",
        "--rm",
        "--network",
        "moved",
        "busybox",
        "sh",
        "-c",
        "nslookup mv 2>&1 | grep -A1 '^Name' | tail -1",
    ]);
    assert_eq!(found, "Address: 10.232.0.9\n");
    // Running: a third interface at once, reachable there by name; disconnect takes it away.
    web(&b, "peer", &["--network", "live"], "peer");
    b.ok(&["network", "connect", "live", "mover"]);
    assert_eq!(
        b.ok(&["exec", "mover", "ls", "/sys/class/net"]),
        "eth0\neth1\neth2\nlo\n"
    );
    let peer_ip = ip_of(&b, "peer", "live");
    let got = b.ok(&[
        "exec",
        "mover",
        "sh",
        "-c",
        &format!("wget -O- http://{peer_ip}/ 2>/dev/null"),
    ]);
    assert_eq!(got, "peer\n");
    let found = b.ok(&[
        "exec",
        "peer",
        "sh",
        "-c",
        "nslookup mover 2>&1 | grep -A1 '^Name' | tail -1",
    ]);
    assert!(found.starts_with("Address: 10.234.0."), "{found}");
    let nets = b.ok(&["ps", "--filter", "name=mover", "--format", "{{.Networks}}"]);
    assert_eq!(nets, "bridge,moved,live\n");
    let o = b.run(&["network", "rm", "live"]);
    assert!(o.stderr.contains("active endpoints"), "{o:?}");
    b.ok(&["network", "disconnect", "live", "mover"]);
    assert_eq!(
        b.ok(&["exec", "mover", "ls", "/sys/class/net"]),
        "eth0\neth1\nlo\n"
    );
    // Connected already: refused, as Docker's ("endpoint … already exists").
    let o = b.run(&["network", "connect", "moved", "mover"]);
    assert!(o.code != 0 && o.stderr.contains("already exists"), "{o:?}");
    // Running: leaving the network mode's network takes eth0 away at once; the next network
    // becomes the network mode, and eth0 at the next start.
    b.ok(&["network", "disconnect", "bridge", "mover"]);
    assert_eq!(
        b.ok(&["exec", "mover", "ls", "/sys/class/net"]),
        "eth1\nlo\n"
    );
    let o = b.run(&["network", "disconnect", "bridge", "mover"]);
    assert!(o.code != 0 && o.stderr.contains("not connected"), "{o:?}");
    b.ok(&["stop", "-t", "0", "mover"]);
    b.ok(&["start", "mover"]);
    assert_eq!(
        b.ok(&["exec", "mover", "ls", "/sys/class/net"]),
        "eth0\nlo\n"
    );
    assert_eq!(b.inspect("mover", "{{.HostConfig.NetworkMode}}"), "moved");
    let o = b.run(&["network", "connect", "--ip", "x", "live", "mover"]);
    assert!(o.code != 0);
    let o = b.run(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "isolated",
        "busybox",
        "sleep",
        "10",
    ]);
    assert_eq!(o.code, 0);
    // none is a network mode of its own, running or not (Docker's refusal).
    let o = b.run(&["network", "connect", "moved", "isolated"]);
    assert!(
        o.code != 0 && o.stderr.contains("private (none) mode"),
        "{o:?}"
    );
    b.ok(&["stop", "-t", "0", "isolated"]);
    let o = b.run(&["network", "connect", "moved", "isolated"]);
    assert!(
        o.code != 0 && o.stderr.contains("private (none) mode"),
        "{o:?}"
    );
    let o = b.run(&["network", "connect", "host", "mover"]);
    assert!(o.code != 0 && o.stderr.contains("host"), "{o:?}");
    // Leaving the last network: disconnected, not `none` — the mode stays, loopback only,
    // and the next connect gives it a network again (compose's disconnect-and-connect).
    b.ok(&["stop", "-t", "0", "mover"]);
    b.ok(&["network", "disconnect", "moved", "mover"]);
    assert_eq!(b.inspect("mover", "{{.HostConfig.NetworkMode}}"), "moved");
    assert_eq!(b.inspect("mover", "{{len .NetworkSettings.Networks}}"), "0");
    b.ok(&["start", "mover"]);
    assert_eq!(b.ok(&["exec", "mover", "ls", "/sys/class/net"]), "lo\n");
    let nets = b.ok(&[
        "ps",
        "--filter",
        "name=mover",
        "--format",
        "[{{.Networks}}]",
    ]);
    assert_eq!(nets, "[]\n");
    b.ok(&["stop", "-t", "0", "mover"]);
    b.ok(&["network", "connect", "--alias", "back", "live", "mover"]);
    b.ok(&["start", "mover"]);
    assert!(ip_of(&b, "mover", "live").starts_with("10.234.0."));
    assert_eq!(b.inspect("mover", "{{.HostConfig.NetworkMode}}"), "live");
}

#[test]
fn legacy_links_name_and_describe_the_linked_container() {
    let b = Berth::new();
    web(
        &b,
        "db",
        &["--expose", "80", "-e", "FLAVOUR=busy"],
        "linked",
    );
    // Default bridge: a hosts line (alias, hostname, name) and Docker's variables.
    let out = b.ok(&[
        "run",
        "--rm",
        "--link",
        "db:store",
        "busybox",
        "sh",
        "-c",
        "wget -O- http://store/ 2>/dev/null; env | grep ^STORE_ | sort",
    ]);
    let ip = ip_of(&b, "db", "bridge");
    // The linking container's name is generated: STORE_NAME is /<that name>/store.
    let want = format!(
        "linked\nSTORE_ENV_FLAVOUR=busy\nSTORE_NAME=/*/store\nSTORE_PORT=tcp://{ip}:80\nSTORE_PORT_80_TCP=tcp://{ip}:80\nSTORE_PORT_80_TCP_ADDR={ip}\nSTORE_PORT_80_TCP_PORT=80\nSTORE_PORT_80_TCP_PROTO=tcp\n"
    );
    let got: String = out
        .lines()
        .map(|l| match l.strip_prefix("STORE_NAME=/") {
            Some(rest) if rest.ends_with("/store") => "STORE_NAME=/*/store\n".to_string(),
            _ => format!("{l}\n"),
        })
        .collect();
    assert_eq!(got, want);
    b.ok(&[
        "create",
        "--name",
        "pinned",
        "--link",
        "db",
        "busybox",
        "cat",
        "/etc/hosts",
    ]);
    assert_eq!(
        b.inspect("pinned", "{{.HostConfig.Links}}"),
        "[/db:/pinned/db]"
    );
    b.ok(&["start", "-a", "pinned"]);
    let hosts = b.ok(&["logs", "pinned"]);
    let id12 = &b.inspect("db", "{{.Id}}")[..12];
    assert!(hosts.contains(&format!("{ip}\tdb {id12}\n")), "{hosts}");
    let o = b.run(&["run", "--rm", "--link", "nope:x", "busybox", "true"]);
    assert!(
        o.code == 125 && o.stderr.contains("could not get container for nope"),
        "{o:?}"
    );
    let o = b.run(&[
        "run",
        "--rm",
        "--network",
        "host",
        "--link",
        "db",
        "busybox",
        "true",
    ]);
    assert!(
        o.code == 125 && o.stderr.contains("can't be used with links"),
        "{o:?}"
    );
    b.ok(&["stop", "-t", "0", "db"]);
    let o = b.run(&["start", "pinned"]);
    assert!(
        o.code != 0
            && o.stderr
                .contains("Cannot link to a non running container: /db AS /pinned/db"),
        "{o:?}"
    );
    // Renames follow, on both ends.
    b.ok(&["rename", "db", "dbx"]);
    b.ok(&["rename", "pinned", "pin2"]);
    assert_eq!(
        b.inspect("pin2", "{{.HostConfig.Links}}"),
        "[/dbx:/pin2/db]"
    );
    b.ok(&["start", "dbx"]);
    b.ok(&["start", "pin2"]);
    // A user network: the alias is a DNS name for the linking container only.
    b.ok(&["network", "create", "--subnet", "10.236.0.0/24", "linknet"]);
    web(&b, "db2", &["--network", "linknet"], "linked2");
    let got = b.ok(&[
        "run",
        "--rm",
        "--network",
        "linknet",
        "--link",
        "db2:cache",
        "busybox",
        "sh",
        "-c",
        "wget -O- http://cache/ 2>/dev/null",
    ]);
    assert_eq!(got, "linked2\n");
    let o = b.run(&[
        "run",
        "--rm",
        "--network",
        "linknet",
        "busybox",
        "sh",
        "-c",
        "wget -O- http://cache/ 2>&1",
    ]);
    assert!(o.code != 0, "{o:?}");
}

#[test]
fn mac_address_is_the_interfaces() {
    let b = Berth::new();
    let mac = b.ok(&[
        "run",
        "--rm",
        "--mac-address",
        "92:D0:C6:0A:29:33",
        "busybox",
        "cat",
        "/sys/class/net/eth0/address",
    ]);
    assert_eq!(mac, "92:d0:c6:0a:29:33\n");
    for bad in ["92:d0:c6:0a:29", "01:00:5e:00:00:01", "zz:d0:c6:0a:29:33"] {
        let o = b.run(&["run", "--rm", "--mac-address", bad, "busybox", "true"]);
        assert!(
            o.code == 125 && o.stderr.contains("invalid MAC address"),
            "{o:?}"
        );
    }
}

#[test]
fn a_container_that_left_every_network_leaves_no_namespace_behind() {
    let b = Berth::new();
    let id = b
        .ok(&["run", "-d", "busybox", "sleep", "100"])
        .trim()
        .to_string();
    b.ok(&["network", "disconnect", "bridge", &id]);
    let ns = std::path::Path::new("/run/berth/netns").join(&id);
    assert!(ns.exists(), "the running container keeps its namespace");
    assert_eq!(b.ok(&["exec", &id, "ls", "/sys/class/net"]), "lo\n");
    b.ok(&["stop", "-t", "0", &id]);
    assert!(!ns.exists(), "{} is left mounted", ns.display());
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    assert!(!mounts.contains(&id), "a mount of the container is left");
}

#[test]
fn a_runtime_root_of_its_own_holds_the_namespaces_and_the_host_keeps_reservations() {
    let b = Berth::new();
    let run_root = b.path().join("exec-root");
    let with_root = |args: &[&str]| {
        let o = b
            .cmd(args)
            .env("BERTH_EXEC_ROOT", &run_root)
            .output()
            .unwrap();
        assert!(o.status.success(), "{args:?}: {o:?}");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    // A network of its own; its subnet is reserved host-wide, where every berth looks.
    with_root(&[
        "network",
        "create",
        "--subnet",
        "10.251.77.0/24",
        "own-root",
    ]);
    let id = with_root(&[
        "run",
        "-d",
        "--network",
        "own-root",
        "busybox",
        "sleep",
        "100",
    ])
    .trim()
    .to_string();
    let ns = run_root.join("netns").join(&id);
    let reserved = std::fs::read_dir("/run/berth/subnets")
        .map(|d| {
            d.flatten().any(|e| {
                std::fs::read_to_string(e.path()).is_ok_and(|c| c.trim() == "10.251.77.0/24")
            })
        })
        .unwrap_or(false);
    let ok = ns.exists()
        && !std::path::Path::new("/run/berth/netns").join(&id).exists()
        && !run_root.join("subnets").exists()
        && reserved;
    let ip = with_root(&["exec", &id, "ip", "-4", "-o", "addr", "show", "eth0"]);
    with_root(&["rm", "-f", &id]);
    with_root(&["network", "rm", "own-root"]);
    assert!(
        ok,
        "the namespace is kept under {}, the subnet host-wide",
        run_root.display()
    );
    assert!(ip.contains("10.251.77."), "{ip}");
    assert!(!ns.exists(), "{} is left after rm", ns.display());
}

#[test]
fn a_runtime_root_others_could_write_is_refused() {
    let b = Berth::new();
    let open = b.path().join("open-root");
    std::fs::create_dir_all(&open).unwrap();
    std::fs::set_permissions(&open, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    for (root, why) in [
        (open.to_str().unwrap(), "writable by no other user"),
        ("relative/root", "absolute path"),
    ] {
        let o = b
            .cmd(&["ps"])
            .env("BERTH_EXEC_ROOT", root)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(why), "{root}: {err}");
    }
}
