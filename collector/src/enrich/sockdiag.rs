//! Sockets that existed before the collector started, from the kernel's
//! sock_diag netlink interface: listening TCP sockets (IPv4 and IPv6) are
//! tied to the process holding them (by socket inode, through
//! `/proc/PID/fd`), so that a connection to a long-lived local service
//! resolves to that service's SPIFFE ID even though its `listen` happened
//! before witness was watching.

use std::collections::HashMap;
use std::path::Path;

use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST};
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP};
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_sys::{protocols::NETLINK_SOCK_DIAG, Socket, SocketAddr};

/// A socket from the dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listener {
    /// Local address.
    pub addr: std::net::IpAddr,
    /// Local port.
    pub port: u16,
    /// Socket inode.
    pub inode: u32,
}

/// Listening TCP sockets of one family.
fn dump(family: u8) -> std::io::Result<Vec<Listener>> {
    let mut socket = Socket::new(NETLINK_SOCK_DIAG)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let socket_id = if family == AF_INET { SocketId::new_v4() } else { SocketId::new_v6() };
    let mut packet = NetlinkMessage::new(
        header,
        SockDiagMessage::InetRequest(InetRequest {
            family,
            protocol: IPPROTO_TCP,
            extensions: ExtensionFlags::empty(),
            states: StateFlags::LISTEN,
            socket_id,
        })
        .into(),
    );
    packet.finalize();
    let mut buf = vec![0; packet.buffer_len()];
    packet.serialize(&mut buf[..]);
    socket.send(&buf[..], 0)?;
    let mut out = Vec::new();
    let mut rx = vec![0u8; 1 << 16];
    loop {
        let size = socket.recv(&mut &mut rx[..], 0)?;
        let mut offset = 0;
        while offset < size {
            let msg = <NetlinkMessage<SockDiagMessage>>::deserialize(&rx[offset..size])
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("sock_diag: {e}")))?;
            match msg.payload {
                NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(r)) => {
                    out.push(Listener {
                        addr: r.header.socket_id.source_address,
                        port: r.header.socket_id.source_port,
                        inode: r.header.inode,
                    });
                }
                NetlinkPayload::Done(_) => return Ok(out),
                NetlinkPayload::Error(e) => {
                    return Err(std::io::Error::other(format!("sock_diag: {e:?}")));
                }
                _ => {}
            }
            let len = msg.header.length as usize;
            if len == 0 {
                break;
            }
            offset += len;
        }
        if size == 0 {
            return Ok(out);
        }
    }
}

/// Socket inode to owning process, from `/proc/*/fd`.
fn socket_owners(proc_root: &Path) -> HashMap<u32, u32> {
    let mut owners = HashMap::new();
    let Ok(dir) = std::fs::read_dir(proc_root) else { return owners };
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else { continue };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else { continue };
            let t = target.to_string_lossy();
            if let Some(inode) = t.strip_prefix("socket:[").and_then(|r| r.strip_suffix(']')) {
                if let Ok(inode) = inode.parse() {
                    owners.entry(inode).or_insert(pid);
                }
            }
        }
    }
    owners
}

/// Listening TCP sockets (both families) with the owning process.
pub fn listeners() -> std::io::Result<Vec<(Listener, Option<u32>)>> {
    let mut all = dump(AF_INET)?;
    // A kernel without IPv6 refuses the second dump; IPv4 still counts.
    all.extend(dump(AF_INET6).unwrap_or_default());
    let owners = socket_owners(Path::new("/proc"));
    Ok(all.into_iter().map(|l| (l, owners.get(&l.inode).copied())).collect())
}

/// The listening TCP sockets whose owning process is known, as listener
/// addresses and their processes (none, and a warning, when sock_diag
/// cannot be read).
pub fn owned_listeners() -> Vec<(crate::enrich::peers::Bound, u32)> {
    match listeners() {
        // SOCK_STREAM: the dump is of TCP listeners.
        Ok(list) => list
            .into_iter()
            .filter_map(|(l, owner)| {
                Some((crate::enrich::peers::Bound { sock_type: 1, addr: l.addr, port: l.port }, owner?))
            })
            .collect(),
        Err(e) => {
            tracing::warn!("cannot list existing sockets through sock_diag: {e}");
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_our_own_listener_and_its_owner() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let list = listeners().unwrap();
        let me = std::process::id();
        let found = list.iter().find(|(x, _)| x.port == port).expect("our listener is in the dump");
        assert_eq!(found.1, Some(me));
    }
}
