//! Which workload serves an address: the listening sockets seen on this
//! host, so that a connect to a declared SPIFFE peer resolves to the
//! workload listening there.
//!
//! A listener is its port and protocol, the address it was bound to and,
//! for a wildcard bind (`0.0.0.0`, `::`), the addresses of its network
//! namespace, read from `/proc/PID/net` when it is seen (a pod's IP lives
//! in the pod's namespace). A connect to `ip:port` then resolves to the
//! listener bound to `ip`, or bound to the wildcard in the namespace that
//! owns `ip`; to a loopback address, to the listener in the client's own
//! namespace. Two namespaces serving one port therefore do not collide,
//! and an address served by no listener seen here (another node) resolves
//! to nothing. Without `/proc` (a replay) namespaces are unknown and only
//! loopback and exact binds resolve, as when the capture was made.
//!
//! Resolution is unambiguous or nothing: when several workloads could be
//! the peer, none is.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most listeners remembered (a bound on memory; beyond it the table
/// starts again).
const MAX_LISTENERS: usize = 65_536;
/// How long a namespace's addresses are reused before being read again.
const ADDRS_MAX_AGE: Duration = Duration::from_secs(10);

/// A network namespace, by the inode of `/proc/PID/ns/net` (0: unknown).
pub type Netns = u64;

#[derive(Clone, Debug)]
struct Listening {
    sock_type: u16,
    bound: IpAddr,
    netns: Netns,
    /// The namespace's own addresses (for a wildcard bind; empty: unknown).
    local: Arc<[IpAddr]>,
    identity: u32,
}

/// The listeners seen, by port.
#[derive(Debug, Default)]
pub struct Listeners {
    by_port: HashMap<u16, Vec<Listening>>,
    len: usize,
    /// Addresses of each namespace seen, with when they were read.
    addrs: HashMap<Netns, (Instant, Arc<[IpAddr]>)>,
}

/// Where a listener was seen.
#[derive(Clone, Copy, Debug)]
pub struct Bound {
    /// `SOCK_STREAM`, `SOCK_DGRAM`, ...
    pub sock_type: u16,
    /// The address it is bound to.
    pub addr: IpAddr,
    /// The port.
    pub port: u16,
}

impl Listeners {
    /// Records a listener of `identity`, seen by process `tgid` (its
    /// namespace and addresses are read under `proc_root`, None: not at
    /// all).
    pub fn insert(&mut self, at: Bound, identity: u32, tgid: u32, proc_root: Option<&Path>) {
        let bound = canonical(at.addr);
        let netns = proc_root.map_or(0, |root| netns_of(root, tgid));
        let local = match proc_root {
            Some(root) if bound.is_unspecified() && netns != 0 => self.addrs_of(root, tgid, netns),
            _ => Arc::from([]),
        };
        if self.len >= MAX_LISTENERS {
            self.by_port.clear();
            self.len = 0;
        }
        let entries = self.by_port.entry(at.port).or_default();
        let new = Listening { sock_type: at.sock_type, bound, netns, local, identity };
        match entries.iter_mut().find(|l| l.sock_type == at.sock_type && l.bound == bound && l.netns == netns) {
            Some(l) => *l = new,
            None => {
                entries.push(new);
                self.len += 1;
            }
        }
    }

    /// The workload serving `ip:port` for a client in `client_netns`
    /// (asked only when loopback listeners in several namespaces could be
    /// meant), if exactly one can be.
    pub fn resolve(&self, sock_type: u16, ip: IpAddr, port: u16, client_netns: impl FnOnce() -> Netns) -> Option<u32> {
        let ip = canonical(ip);
        let entries = self.by_port.get(&port)?;
        let serves = |l: &&Listening| {
            l.sock_type == sock_type
                && (l.bound == ip
                    || (l.bound.is_unspecified()
                        && family_accepts(l.bound, ip)
                        && (ip.is_loopback() || l.local.contains(&ip)))
                    || (ip.is_unspecified() && (l.bound.is_loopback() || l.bound.is_unspecified())))
        };
        let mut candidates: Vec<&Listening> = entries.iter().filter(serves).collect();
        let loopback = ip.is_loopback() || ip.is_unspecified();
        if loopback && candidates.iter().any(|l| l.netns != candidates[0].netns) {
            // Loopback is per namespace: the client's own.
            let mine = client_netns();
            candidates.retain(|l| l.netns == mine);
        }
        let first = candidates.first()?.identity;
        candidates.iter().all(|l| l.identity == first).then_some(first)
    }

    /// Keeps listeners whose identity `remap` maps (to its new index).
    pub fn remap(&mut self, remap: impl Fn(u32) -> Option<u32>) {
        for entries in self.by_port.values_mut() {
            entries.retain_mut(|l| remap(l.identity).map(|new| l.identity = new).is_some());
        }
        self.len = self.by_port.values().map(Vec::len).sum();
    }

    fn addrs_of(&mut self, proc_root: &Path, tgid: u32, netns: Netns) -> Arc<[IpAddr]> {
        if let Some((at, addrs)) = self.addrs.get(&netns) {
            if at.elapsed() < ADDRS_MAX_AGE {
                return addrs.clone();
            }
        }
        let addrs: Arc<[IpAddr]> = local_addrs(&proc_root.join(tgid.to_string()).join("net")).into();
        if self.addrs.len() >= MAX_LISTENERS {
            self.addrs.clear();
        }
        self.addrs.insert(netns, (Instant::now(), addrs.clone()));
        addrs
    }
}

/// IPv4-mapped IPv6 addresses as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// Whether a wildcard bind of `bound`'s family takes connections to `ip`
/// (`::` takes IPv4 too, as a dual-stack socket does).
fn family_accepts(bound: IpAddr, ip: IpAddr) -> bool {
    bound.is_ipv6() || ip.is_ipv4()
}

/// The network namespace of process `tgid` (0 when it cannot be read).
pub fn netns_of(proc_root: &Path, tgid: u32) -> Netns {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(proc_root.join(tgid.to_string()).join("ns/net")).map_or(0, |m| m.ino())
}

/// The addresses of a network namespace, from its `/proc/PID/net`: IPv4
/// from `fib_trie` (the `/32 host LOCAL` entries), IPv6 from `if_inet6`.
pub fn local_addrs(net: &Path) -> Vec<IpAddr> {
    let mut out = Vec::new();
    if let Ok(text) = std::fs::read_to_string(net.join("fib_trie")) {
        out.extend(fib_trie_local(&text).into_iter().map(IpAddr::V4));
    }
    if let Ok(text) = std::fs::read_to_string(net.join("if_inet6")) {
        out.extend(if_inet6(&text).into_iter().map(IpAddr::V6));
    }
    out.sort();
    out.dedup();
    out
}

/// The local IPv4 addresses a `fib_trie` lists: an address line
/// (`|-- 10.0.2.15`) followed by its `/32 host LOCAL` route.
fn fib_trie_local(text: &str) -> Vec<Ipv4Addr> {
    let mut out = Vec::new();
    let mut last = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(addr) = line.strip_prefix("|-- ") {
            last = addr.trim().parse::<Ipv4Addr>().ok();
        } else if line.starts_with("/32 host LOCAL") {
            out.extend(last);
        }
    }
    out
}

/// The addresses of `/proc/net/if_inet6` (first column, 32 hex digits).
fn if_inet6(text: &str) -> Vec<Ipv6Addr> {
    text.lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|hex| u128::from_str_radix(hex, 16).ok().filter(|_| hex.len() == 32))
        .map(Ipv6Addr::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIB_TRIE: &str = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 0.0.0.0\n        /0 universe UNICAST\n     \
        +-- 10.0.2.0/24 2 0 2\n        |-- 10.0.2.0\n           /24 link UNICAST\n        |-- 10.0.2.15\n           \
        /32 host LOCAL\n  +-- 127.0.0.0/8 2 0 2\n     |-- 127.0.0.1\n        /32 host LOCAL\n\
        Local:\n  |-- 10.0.2.15\n     /32 host LOCAL\n";

    #[test]
    fn reads_a_namespace_addresses() {
        assert_eq!(
            fib_trie_local(FIB_TRIE),
            ["10.0.2.15", "127.0.0.1", "10.0.2.15"].map(|a| a.parse::<Ipv4Addr>().unwrap())
        );
        let v6 = "00000000000000000000000000000001 01 80 10 80       lo\nfe800000000000000000000000000001 02 40 20 80     eth0\n";
        assert_eq!(if_inet6(v6), ["::1", "fe80::1"].map(|a| a.parse::<Ipv6Addr>().unwrap()));
        // This process's namespace has at least loopback.
        let mine = local_addrs(Path::new("/proc/self/net"));
        assert!(mine.contains(&IpAddr::V4(Ipv4Addr::LOCALHOST)), "{mine:?}");
    }

    fn listening(bound: &str, netns: Netns, local: &[&str], identity: u32) -> Listening {
        Listening {
            sock_type: 1,
            bound: bound.parse().unwrap(),
            netns,
            local: local.iter().map(|a| a.parse().unwrap()).collect(),
            identity,
        }
    }

    fn table(entries: Vec<Listening>) -> Listeners {
        let len = entries.len();
        Listeners { by_port: HashMap::from([(8080, entries)]), len, addrs: HashMap::new() }
    }

    #[test]
    fn resolves_by_address_and_namespace() {
        // Two pods serve 8080 on the wildcard, each in its namespace.
        let t =
            table(vec![listening("0.0.0.0", 1, &["10.1.0.5", "127.0.0.1"], 7), listening("::", 2, &["10.1.0.6"], 8)]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let no_netns = || panic!("the namespace is not needed");
        assert_eq!(t.resolve(1, ip("10.1.0.5"), 8080, no_netns), Some(7));
        assert_eq!(t.resolve(1, ip("10.1.0.6"), 8080, no_netns), Some(8), ":: takes IPv4");
        assert_eq!(t.resolve(1, ip("::ffff:10.1.0.6"), 8080, no_netns), Some(8), "IPv4-mapped");
        assert_eq!(t.resolve(1, ip("10.1.0.7"), 8080, no_netns), None, "another node's address");
        assert_eq!(t.resolve(1, ip("10.1.0.5"), 8081, no_netns), None);
        assert_eq!(t.resolve(2, ip("10.1.0.5"), 8080, no_netns), None, "another protocol");
        // Loopback is the client's own namespace.
        assert_eq!(t.resolve(1, ip("127.0.0.1"), 8080, || 1), Some(7));
        assert_eq!(t.resolve(1, ip("127.0.0.1"), 8080, || 2), Some(8));
        assert_eq!(t.resolve(1, ip("127.0.0.1"), 8080, || 3), None);
        // A replay knows no namespaces: two loopback listeners are ambiguous.
        let t = table(vec![listening("127.0.0.1", 0, &[], 7), listening("0.0.0.0", 0, &[], 8)]);
        assert_eq!(t.resolve(1, ip("127.0.0.1"), 8080, || 0), None);
        let t = table(vec![listening("0.0.0.0", 0, &[], 7)]);
        assert_eq!(t.resolve(1, ip("127.0.0.1"), 8080, || 0), Some(7));
    }
}
