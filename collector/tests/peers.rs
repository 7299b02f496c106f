//! A declared SPIFFE peer is the workload listening where the connection
//! goes, whatever address reaches it: loopback, or this host's (a node or
//! pod address) for a wildcard listener; an address no listener here
//! serves is no SPIFFE peer.

use std::net::IpAddr;
use std::path::Path;

use witness::identity::inventory::Inventory;
use witness::pipeline::{Config, Options, Pipeline};
use witness::policy::Divergence;
use witness::sinks::output::Clock;
use witness::sinks::Sinks;
use witness::source::decode::{Body, Event, Meta};
use witness_abi::record::{NetAddr, RecordKind, SockRecord, TaskContext};
use zerocopy::FromZeros;

const DB_UID: u32 = 1001;
const API_UID: u32 = 1002;
const PORT: u16 = 5432;

fn addr(ip: IpAddr, port: u16) -> NetAddr {
    let mut a = NetAddr::new_zeroed();
    match ip {
        IpAddr::V4(v4) => a.addr[..4].copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => a.addr.copy_from_slice(&v6.octets()),
    }
    a.port = port;
    a
}

/// A socket event by `uid`, of this very process for a listener and of
/// its parent for a client (real processes: their namespace, this one, is
/// read; distinct ones: identities are cached per process).
fn sock(kind: RecordKind, uid: u32, ip: &str, port: u16) -> Event {
    let ip: IpAddr = ip.parse().unwrap();
    let mut r = SockRecord::new_zeroed();
    r.task = TaskContext::new_zeroed();
    let tgid = if kind == RecordKind::SockConnect { std::os::unix::process::parent_id() } else { std::process::id() };
    (r.task.pid, r.task.tgid, r.task.uid, r.task.gid) = (tgid, tgid, uid, uid);
    r.family = if ip.is_ipv4() { 2 } else { 10 };
    r.sock_type = 1;
    if kind == RecordKind::SockConnect {
        r.remote = addr(ip, port);
    } else {
        r.local = addr(ip, port);
    }
    Event { meta: Meta { cpu: 0, seq: 0, ts_ns: 1 }, wire_kind: kind as u16, body: Body::Sock(r) }
}

#[test]
fn a_declared_peer_is_reached_by_any_address_of_its_listener() {
    let inventory = Inventory::parse(
        &format!(
            "[[workload]]\nspiffe_id = \"spiffe://t.test/db\"\nowner = \"d\"\nselectors = [\"unix:uid:{DB_UID}\"]\n\n\
             [[workload]]\nspiffe_id = \"spiffe://t.test/api\"\nowner = \"a\"\nselectors = [\"unix:uid:{API_UID}\"]\n\
             peers = [\"spiffe://t.test/db\"]\n"
        ),
        Path::new("inventory.toml"),
    )
    .unwrap();
    let mut pipeline = Pipeline::new(Config::new(inventory, None, 16), Options::default(), Clock::identity());
    let mut sinks = Sinks::new(None, None);
    let mut divergence = |e: Event| sinks.handle(&mut pipeline, &e).expect("judged").divergence;

    // db listens on every address of this host's namespace.
    assert_eq!(divergence(sock(RecordKind::SockListen, DB_UID, "0.0.0.0", PORT)), Divergence::None);
    let here = witness::enrich::peers::local_addrs(Path::new("/proc/self/net"));
    let node =
        here.iter().find(|a| a.is_ipv4() && !a.is_loopback()).expect("this host has an address besides loopback");
    for (to, port, want) in [
        ("127.0.0.1".to_string(), PORT, Divergence::None),
        (node.to_string(), PORT, Divergence::None),
        // No listener here serves these.
        ("198.51.100.1".to_string(), PORT, Divergence::UndeclaredPeer),
        (node.to_string(), PORT + 1, Divergence::UndeclaredPeer),
    ] {
        assert_eq!(divergence(sock(RecordKind::SockConnect, API_UID, &to, port)), want, "connect to {to}:{port}");
    }
}
