//! Docker's rules for the files a container gets in /etc and its start environment: hosts,
//! resolv.conf and the variables berth adds. Pure: the inputs are read by the caller.

/// The loopback and IPv6 names every container's /etc/hosts starts with (Docker's).
const HOSTS_HEAD: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::\tip6-localnet\nff00::\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

/// What /etc/hosts is made from, off the host's network.
pub struct HostsInputs<'a> {
    /// The container's own address on its first network and its hostname.
    pub own: Option<(String, &'a str)>,
    /// Lines the legacy links add.
    pub link_lines: &'a [String],
    /// `--add-host name:ip` entries.
    pub extra_hosts: &'a [String],
    /// What `host-gateway` stands for: the host as the container reaches it.
    pub host_gateway: &'a str,
}

/// The container's /etc/hosts off the host's network.
pub fn hosts_file(i: &HostsInputs) -> String {
    let mut h = HOSTS_HEAD.to_string();
    if let Some((ip, name)) = &i.own {
        h.push_str(&format!("{ip}\t{name}\n"));
    }
    for l in i.link_lines {
        h.push_str(l);
    }
    for extra in i.extra_hosts {
        if let Some((name, ip)) = extra.split_once(':') {
            let ip = if ip == "host-gateway" {
                i.host_gateway
            } else {
                ip
            };
            h.push_str(&format!("{ip}\t{name}\n"));
        }
    }
    h
}

/// The host's resolv.conf minus loopback name servers (unreachable from a container's own
/// network namespace); Docker falls back to public resolvers when none are left.
pub fn without_loopback_servers(host: &str) -> String {
    let mut out = String::new();
    let mut servers = 0;
    for line in host.lines() {
        if let Some(ns) = line.trim().strip_prefix("nameserver") {
            let ns = ns.trim();
            if ns.starts_with("127.") || ns == "::1" {
                continue;
            }
            servers += 1;
        }
        out.push_str(line);
        out.push('\n');
    }
    if servers == 0 {
        out.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    out
}

/// What resolv.conf is made from.
pub struct ResolvInputs<'a> {
    /// The host's /etc/resolv.conf.
    pub host: &'a str,
    /// On the host's network: the host's file as it is.
    pub host_network: bool,
    /// On a user network: the embedded DNS server at this address answers.
    pub embedded: Option<&'a str>,
    /// `--dns`, `--dns-search`, `--dns-option`.
    pub dns: &'a [String],
    /// `--dns-search`.
    pub search: &'a [String],
    /// `--dns-option`.
    pub options: &'a [String],
}

/// The container's resolv.conf, by Docker's rules: `--dns`, `--dns-search` and
/// `--dns-option` replace the host's lines of their kind; on a user network the name server
/// is the embedded one (which forwards to `--dns`), with `ndots:0` unless one is given.
pub fn resolv_file(i: &ResolvInputs) -> String {
    let user_dns = !i.dns.is_empty() || !i.search.is_empty() || !i.options.is_empty();
    if !user_dns && i.embedded.is_none() {
        return if i.host_network {
            i.host.to_string()
        } else {
            without_loopback_servers(i.host)
        };
    }
    let mut out = String::new();
    if let Some(addr) = i.embedded {
        out.push_str(&format!("nameserver {addr}\n"));
    } else if !i.dns.is_empty() {
        for n in i.dns {
            out.push_str(&format!("nameserver {n}\n"));
        }
    } else {
        out.extend(
            without_loopback_servers(i.host)
                .lines()
                .filter(|l| l.starts_with("nameserver"))
                .map(|l| format!("{l}\n")),
        );
    }
    if i.search.is_empty() {
        out.extend(
            i.host
                .lines()
                .filter(|l| l.trim_start().starts_with("search"))
                .map(|l| format!("{l}\n")),
        );
    } else {
        out.push_str(&format!("search {}\n", i.search.join(" ")));
    }
    let mut opts = i.options.to_vec();
    if i.embedded.is_some() && !opts.iter().any(|o| o.starts_with("ndots")) {
        opts.push("ndots:0".into());
    }
    if !opts.is_empty() {
        out.push_str(&format!("options {}\n", opts.join(" ")));
    }
    out
}

/// The variable's name in `KEY=value`.
fn key(e: &str) -> &str {
    e.split_once('=').map_or(e, |x| x.0)
}

/// The start environment: the container's variables, then HOSTNAME (second, as Docker puts
/// it), TERM on a terminal and HOME where the container sets none, then the links' variables
/// the container does not set itself.
pub fn start_env(
    mut env: Vec<String>,
    hostname: &str,
    tty: bool,
    home: &str,
    link_env: &[String],
) -> Vec<String> {
    let has = |env: &[String], k: &str| env.iter().any(|e| key(e) == k);
    if !has(&env, "HOSTNAME") {
        env.insert(1.min(env.len()), format!("HOSTNAME={hostname}"));
    }
    if tty && !has(&env, "TERM") {
        env.push("TERM=xterm".into());
    }
    if !has(&env, "HOME") {
        env.push(format!("HOME={home}"));
    }
    for e in link_env {
        if !has(&env, key(e)) {
            env.push(e.clone());
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn hosts_name_the_container_its_links_and_extra_hosts() {
        let h = hosts_file(&HostsInputs {
            own: Some(("172.17.0.2".into(), "abc")),
            link_lines: &v(&["172.17.0.3\tdb web\n"]),
            extra_hosts: &v(&["gw:host-gateway", "x:10.0.0.1", "broken"]),
            host_gateway: "172.17.0.1",
        });
        assert!(h.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(h.ends_with("172.17.0.2\tabc\n172.17.0.3\tdb web\n172.17.0.1\tgw\n10.0.0.1\tx\n"));
    }

    #[test]
    fn loopback_servers_are_dropped_and_public_ones_stand_in() {
        assert_eq!(
            without_loopback_servers("search lan\nnameserver 127.0.0.53\nnameserver ::1\n"),
            "search lan\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
        assert_eq!(
            without_loopback_servers("nameserver 10.1.1.1\n"),
            "nameserver 10.1.1.1\n"
        );
    }

    #[test]
    fn resolv_conf_follows_dockers_rules() {
        let host = "nameserver 10.1.1.1\nsearch lan\noptions edns0\n";
        let base = ResolvInputs {
            host,
            host_network: false,
            embedded: None,
            dns: &[],
            search: &[],
            options: &[],
        };
        assert_eq!(resolv_file(&base), host, "the host's, loopback aside");
        let dns = v(&["9.9.9.9"]);
        assert_eq!(
            resolv_file(&ResolvInputs { dns: &dns, ..base }),
            "nameserver 9.9.9.9\nsearch lan\n",
            "--dns replaces the servers and keeps the host's search"
        );
        let search = v(&["corp"]);
        assert_eq!(
            resolv_file(&ResolvInputs {
                search: &search,
                ..base
            }),
            "nameserver 10.1.1.1\nsearch corp\n"
        );
        assert_eq!(
            resolv_file(&ResolvInputs {
                embedded: Some("127.0.0.11"),
                ..base
            }),
            "nameserver 127.0.0.11\nsearch lan\noptions ndots:0\n",
            "a user network asks its embedded server"
        );
        let opts = v(&["ndots:3"]);
        assert_eq!(
            resolv_file(&ResolvInputs {
                embedded: Some("127.0.0.11"),
                options: &opts,
                ..base
            }),
            "nameserver 127.0.0.11\nsearch lan\noptions ndots:3\n"
        );
        let on_host = "nameserver 127.0.0.53\n";
        assert_eq!(
            resolv_file(&ResolvInputs {
                host: on_host,
                host_network: true,
                ..base
            }),
            on_host,
            "the host's network keeps the host's file"
        );
    }

    #[test]
    fn the_start_environment_adds_only_what_the_container_lacks() {
        let env = start_env(
            v(&["PATH=/bin", "HOME=/srv", "DB_PORT=mine"]),
            "abc",
            true,
            "/root",
            &v(&["DB_PORT=tcp://1.2.3.4:5", "DB_NAME=/x/db"]),
        );
        assert_eq!(
            env,
            v(&[
                "PATH=/bin",
                "HOSTNAME=abc",
                "HOME=/srv",
                "DB_PORT=mine",
                "TERM=xterm",
                "DB_NAME=/x/db"
            ])
        );
        assert_eq!(
            start_env(vec![], "h", false, "/", &[]),
            v(&["HOSTNAME=h", "HOME=/"])
        );
    }
}
