//! The embedded DNS server of a container on a user network, run by the container's shim:
//! a UDP socket at 127.0.0.11:53 inside the container's namespace answers the names of the
//! containers on the same network (name, hostname, 12-hex id, full id) and forwards every other
//! question to the host's resolvers from the host's namespace (where even a 127.0.0.53 stub
//! resolver is reachable), relaying the answer back.
//!
//! Only what a resolver library asks for is handled: one question, class IN, types A and
//! AAAA answered locally; everything else is forwarded untouched.

use super::Attachment;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The address containers on user networks use as their resolver.
pub const ADDRESS: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);

/// One container's DNS server.
pub struct Dns {
    sock: UdpSocket,
    up: UdpSocket,
    upstream: Vec<SocketAddr>,
    /// (id sent upstream, the client's id, the client, when).
    pending: Vec<(u16, u16, SocketAddr, Instant)>,
    next_id: u16,
    /// False when all the container's user networks are internal: no way out, not even by DNS
    /// (Docker's CVE-2024-29018).
    forward: bool,
    root: PathBuf,
    /// The container's directory: its networks are read at each question, as `network
    /// connect` may add some while it runs.
    dir: PathBuf,
}

/// Where unknown names go: the container's `--dns` servers, else the host's resolvers.
fn upstream(root: &Path, a: &Attachment) -> Vec<SocketAddr> {
    let id = a
        .netns
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    let rec: Option<crate::container::ContainerRecord> = id.and_then(|id| {
        crate::store::read_json(&root.join("containers").join(id).join("container.json")).ok()
    });
    let mine: Vec<SocketAddr> = rec
        .and_then(|r| r.host_config.dns)
        .unwrap_or_default()
        .iter()
        .filter_map(|a| a.parse::<std::net::IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect();
    if mine.is_empty() {
        host_resolvers()
    } else {
        mine
    }
}

/// The host's resolvers, as /etc/resolv.conf names them.
fn host_resolvers() -> Vec<SocketAddr> {
    std::fs::read_to_string("/etc/resolv.conf")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|a| a.trim().parse::<std::net::IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

impl Dns {
    /// Binds 127.0.0.11:53 inside the container's namespace (`a.netns`). The caller must be
    /// single-threaded (the shim): the thread enters the namespace for the bind and comes back.
    pub fn open(root: &Path, dir: &Path, a: &Attachment) -> io::Result<Dns> {
        let host = std::fs::File::open("/proc/self/ns/net")?;
        let ns = std::fs::File::open(&a.netns)?;
        nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(io::Error::from)?;
        let sock = UdpSocket::bind((ADDRESS, 53));
        nix::sched::setns(host.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(io::Error::from)?;
        let sock = sock?;
        sock.set_nonblocking(true)?;
        let up = UdpSocket::bind("0.0.0.0:0")?;
        up.set_nonblocking(true)?;
        Ok(Dns {
            sock,
            up,
            upstream: upstream(root, a),
            pending: Vec::new(),
            next_id: 1,
            forward: super::read_attachments(dir)
                .iter()
                .chain(std::iter::once(a))
                .any(|x| !x.internal),
            root: root.to_path_buf(),
            dir: dir.to_path_buf(),
        })
    }

    /// The descriptors to poll: the container side, then the upstream side.
    pub fn fds(&self) -> [RawFd; 2] {
        [self.sock.as_raw_fd(), self.up.as_raw_fd()]
    }

    /// Answers (or forwards) the questions waiting on the container side.
    pub fn on_query(&mut self) {
        let mut buf = [0u8; 1500];
        while let Ok((n, client)) = self.sock.recv_from(&mut buf) {
            let q = &buf[..n];
            let Some(question) = parse_question(q) else {
                continue;
            };
            let local = if question.class == 1 && matches!(question.qtype, 1 | 28) {
                let nets: Vec<String> = super::read_attachments(&self.dir)
                    .into_iter()
                    .filter(|a| a.network != "bridge")
                    .map(|a| a.network_id)
                    .collect();
                // A legacy link's alias is a name for this container alone (Docker's).
                let rec: Option<crate::container::ContainerRecord> =
                    crate::store::read_json(&self.dir.join("container.json")).ok();
                let asked = question.name.trim_end_matches('.');
                let name = rec
                    .as_ref()
                    .and_then(|r| {
                        r.host_config
                            .all_link_pairs()
                            .into_iter()
                            .find(|(_, alias)| alias.eq_ignore_ascii_case(asked))
                            .map(|(target, _)| target.to_string())
                    })
                    .unwrap_or_else(|| question.name.clone());
                lookup(&self.root, &nets, &name)
            } else {
                None
            };
            if let Some(ips) = local {
                // AAAA of a known name: no IPv6 here, an empty answer rather than a lie.
                let ips = if question.qtype == 1 { ips } else { Vec::new() };
                let _ = self.sock.send_to(&answer(q, question.end, &ips, 0), client);
                continue;
            }
            self.forward(q, client);
        }
    }

    fn forward(&mut self, q: &[u8], client: SocketAddr) {
        let now = Instant::now();
        self.pending
            .retain(|p| now.duration_since(p.3) < Duration::from_secs(5));
        let server = self.upstream.first().copied().filter(|_| self.forward);
        let Some(server) = server else {
            let _ = self
                .sock
                .send_to(&failure(q, if self.forward { 2 } else { 5 }), client);
            return;
        };
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let mut out = q.to_vec();
        out[..2].copy_from_slice(&id.to_be_bytes());
        if self.up.send_to(&out, server).is_ok() {
            self.pending
                .push((id, u16::from_be_bytes([q[0], q[1]]), client, now));
        } else {
            let _ = self.sock.send_to(&failure(q, 2), client);
        }
    }

    /// Relays the upstream answers back to the clients that asked.
    pub fn on_upstream(&mut self) {
        let mut buf = [0u8; 4096];
        while let Ok((n, from)) = self.up.recv_from(&mut buf) {
            if n < 12 || !self.upstream.contains(&from) {
                continue;
            }
            let id = u16::from_be_bytes([buf[0], buf[1]]);
            if let Some(i) = self.pending.iter().position(|p| p.0 == id) {
                let (_, orig, client, _) = self.pending.swap_remove(i);
                buf[..2].copy_from_slice(&orig.to_be_bytes());
                let _ = self.sock.send_to(&buf[..n], client);
            }
        }
    }
}

/// The one question of a query.
#[derive(Debug, PartialEq)]
pub struct Question {
    /// The name asked for, lower case, labels joined with dots.
    pub name: String,
    /// The record type (1 A, 28 AAAA).
    pub qtype: u16,
    /// The class (1 IN).
    pub class: u16,
    /// Where the question section ends.
    pub end: usize,
}

/// Reads the question of a query packet; None for a response, a packet of other than one
/// question, or one that is cut short.
pub fn parse_question(q: &[u8]) -> Option<Question> {
    if q.len() < 12 || q[2] & 0x80 != 0 || u16::from_be_bytes([q[4], q[5]]) != 1 {
        return None;
    }
    let mut i = 12;
    let mut labels = Vec::new();
    loop {
        let len = *q.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None; // compression has no place in a question
        }
        labels.push(String::from_utf8_lossy(q.get(i..i + len)?).to_ascii_lowercase());
        i += len;
    }
    let qtype = u16::from_be_bytes([*q.get(i)?, *q.get(i + 1)?]);
    let class = u16::from_be_bytes([*q.get(i + 2)?, *q.get(i + 3)?]);
    Some(Question {
        name: labels.join("."),
        qtype,
        class,
        end: i + 4,
    })
}

/// A response carrying the question and one A record per address (TTL 600, as Docker's);
/// `end` is the [`Question::end`] that [`parse_question`] found in `q`.
pub fn answer(q: &[u8], end: usize, ips: &[Ipv4Addr], _rcode: u8) -> Vec<u8> {
    let mut r = q[..end].to_vec();
    r[2] = 0x80 | 0x04 | (q[2] & 0x01); // response, authoritative, recursion desired as asked
    r[3] = 0x80; // recursion available, NOERROR
    r[6..8].copy_from_slice(&(ips.len() as u16).to_be_bytes());
    r[8..12].fill(0);
    for ip in ips {
        r.extend_from_slice(&[0xc0, 0x0c]); // the name: a pointer to the question's
        r.extend_from_slice(&1u16.to_be_bytes());
        r.extend_from_slice(&1u16.to_be_bytes());
        r.extend_from_slice(&600u32.to_be_bytes());
        r.extend_from_slice(&4u16.to_be_bytes());
        r.extend_from_slice(&ip.octets());
    }
    r
}

/// A response with no answer and `rcode` (2 SERVFAIL, 3 NXDOMAIN).
pub fn failure(q: &[u8], rcode: u8) -> Vec<u8> {
    let end = parse_question(q).map(|x| x.end).unwrap_or(12.min(q.len()));
    let mut r = q[..end].to_vec();
    if r.len() >= 12 {
        r[2] = 0x80 | (q[2] & 0x01);
        r[3] = 0x80 | rcode;
        r[6..12].fill(0);
    }
    r
}

/// The addresses, on the networks `nets`, of running containers answering to `name`: their
/// name, their aliases there, hostname, or 12-hex id. None when no container does.
fn lookup(root: &Path, nets: &[String], name: &str) -> Option<Vec<Ipv4Addr>> {
    let name = name.trim_end_matches('.');
    if name.is_empty() {
        return None;
    }
    let rd = std::fs::read_dir(root.join("containers")).ok()?;
    let mut out = Vec::new();
    for e in rd.flatten() {
        let dir = e.path();
        let list = super::read_attachments(&dir);
        // Running: its namespace exists (a plan left by a failed start does not count).
        if !list.iter().any(|a| nets.contains(&a.network_id)) || !list[0].netns.exists() {
            continue;
        }
        let id = e.file_name().to_string_lossy().into_owned();
        let rec: Option<crate::container::ContainerRecord> =
            crate::store::read_json(&dir.join("container.json")).ok();
        let Some(rec) = rec else { continue };
        let named = rec.name.eq_ignore_ascii_case(name)
            || rec.config.hostname.eq_ignore_ascii_case(name)
            || (name.len() >= 12 && id.starts_with(name));
        for a in list.iter().filter(|a| nets.contains(&a.network_id)) {
            if named || a.aliases.iter().any(|x| x.eq_ignore_ascii_case(name)) {
                out.push(a.ip);
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for l in name.split('.') {
            q.push(l.len() as u8);
            q.extend_from_slice(l.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&1u16.to_be_bytes());
        q
    }

    #[test]
    fn questions_parse_and_answers_carry_the_addresses() {
        let q = query("Web.local", 1);
        let p = parse_question(&q).unwrap();
        assert_eq!(
            (p.name.as_str(), p.qtype, p.class, p.end),
            ("web.local", 1, 1, q.len())
        );
        let r = answer(&q, p.end, &[Ipv4Addr::new(10, 0, 0, 7)], 0);
        assert_eq!(&r[..2], &[0x12, 0x34]);
        assert_eq!(r[2] & 0x80, 0x80);
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 1);
        assert_eq!(&r[r.len() - 4..], &[10, 0, 0, 7]);
        let f = failure(&q, 3);
        assert_eq!(f[3] & 0x0f, 3);
        assert!(parse_question(&r).is_none(), "a response is not a question");
        assert!(parse_question(&q[..10]).is_none());
    }
}
