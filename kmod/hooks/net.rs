//! Network: connect, bind and listen decisions (`security_socket_*` with
//! their verdicts), accepted connections (`__inet_accept`), TCP handshake
//! transitions (`inet_sock_set_state`), and packet drops (`kfree_skb`),
//! counted per reason in the kernel and reported once a second as one
//! aggregate record rather than one record per packet.

use core::ffi::{c_int, c_void};
use core::mem::size_of;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::{current_context, stash, stashed, Body, Hit, HookPoint};
use crate::device::State;
use crate::ioctl::Hook;
use crate::record::{
    DropCount, NetAddr, PacketDropsRecord, RecordKind, SockRecord, TcpStateRecord, PACKET_DROPS_MAX_ENTRIES,
};
use crate::shim::{self, Kptr};
use crate::stats::inc;

/// What a socket entry handler keeps for the return handler.
#[repr(C)]
#[derive(Clone, Copy)]
struct Stash {
    hook: u32,
    /// Listen: the backlog.
    arg: u32,
    /// `struct socket *`.
    sock: usize,
    /// Connect and bind: the address argument, decoded.
    addr: NetAddr,
    /// Its family (0 for listen).
    family: u16,
    reserved: u16,
}

pub(super) static POINTS: &[HookPoint] = &[
    kretprobe!(
        SecuritySocketConnect,
        c"security_socket_connect",
        witness_kr_security_socket_connect_entry,
        witness_kr_sock_return,
        Stash
    ),
    kretprobe!(
        SecuritySocketBind,
        c"security_socket_bind",
        witness_kr_security_socket_bind_entry,
        witness_kr_sock_return,
        Stash
    ),
    kretprobe!(
        SecuritySocketListen,
        c"security_socket_listen",
        witness_kr_security_socket_listen_entry,
        witness_kr_sock_return,
        Stash
    ),
    kprobe!(InetAccept, c"__inet_accept", witness_kp_inet_accept),
    tracepoint!(InetSockSetState, c"inet_sock_set_state", witness_tp_inet_sock_set_state),
    tracepoint!(KfreeSkb, c"kfree_skb", witness_tp_kfree_skb),
];

/// The record kind of a socket hook.
fn sock_kind(hook: Hook) -> RecordKind {
    match hook {
        Hook::SecuritySocketConnect => RecordKind::SockConnect,
        Hook::SecuritySocketBind => RecordKind::SockBind,
        _ => RecordKind::SockListen,
    }
}

/// # Safety
/// `data` is the instance data of a connect or bind kretprobe; `address` is
/// the kernel's copy of the caller's sockaddr, `len` bytes long.
unsafe fn enter_with_address(data: *mut c_void, hook: Hook, sock: Kptr, address: Kptr, len: c_int) -> c_int {
    if !super::entry_wanted(hook, sock_kind(hook), true) {
        return 1;
    }
    let mut addr = NetAddr { addr: [0; 16], port: 0, reserved: 0 };
    // SAFETY: the caller's contract; the shim checks the length per family.
    let family = unsafe { shim::witness_shim_sockaddr(address, len, &mut addr) };
    let s = Stash { hook: hook as u32, arg: 0, sock: sock as usize, addr, family, reserved: 0 };
    // SAFETY: registered with data_size = size_of::<Stash>().
    unsafe { stash(data, s) };
    0
}

/// `int security_socket_connect(struct socket *sock, struct sockaddr *address, int addrlen)`.
#[no_mangle]
unsafe extern "C" fn witness_rs_connect_entry(data: *mut c_void, sock: Kptr, address: Kptr, len: c_int) -> c_int {
    // SAFETY: called by its kretprobe's entry trampoline with the hook's arguments.
    unsafe { enter_with_address(data, Hook::SecuritySocketConnect, sock, address, len) }
}

/// `int security_socket_bind(struct socket *sock, struct sockaddr *address, int addrlen)`.
#[no_mangle]
unsafe extern "C" fn witness_rs_bind_entry(data: *mut c_void, sock: Kptr, address: Kptr, len: c_int) -> c_int {
    // SAFETY: called by its kretprobe's entry trampoline with the hook's arguments.
    unsafe { enter_with_address(data, Hook::SecuritySocketBind, sock, address, len) }
}

/// `int security_socket_listen(struct socket *sock, int backlog)`.
#[no_mangle]
unsafe extern "C" fn witness_rs_listen_entry(data: *mut c_void, sock: Kptr, backlog: c_int) -> c_int {
    if !super::entry_wanted(Hook::SecuritySocketListen, RecordKind::SockListen, true) {
        return 1;
    }
    let addr = NetAddr { addr: [0; 16], port: 0, reserved: 0 };
    let s = Stash {
        hook: Hook::SecuritySocketListen as u32,
        // CAST: a backlog is a small int; negative ones come out large, as given.
        arg: backlog as u32,
        sock: sock as usize,
        addr,
        family: 0,
        reserved: 0,
    };
    // SAFETY: registered with data_size = size_of::<Stash>().
    unsafe { stash(data, s) };
    0
}

fn empty_sock_record(verdict: i32, arg: u32) -> SockRecord {
    let none = NetAddr { addr: [0; 16], port: 0, reserved: 0 };
    SockRecord {
        task: current_context(),
        verdict,
        arg,
        family: 0,
        sock_type: 0,
        protocol: 0,
        reserved: 0,
        local: none,
        remote: none,
    }
}

/// Family, type, protocol and addresses of a `struct sock`.
struct SockInfo {
    family: u16,
    sock_type: u16,
    protocol: u16,
    local: NetAddr,
    remote: NetAddr,
}

fn sock_info(sk: Kptr) -> SockInfo {
    let none = NetAddr { addr: [0; 16], port: 0, reserved: 0 };
    let mut i = SockInfo { family: 0, sock_type: 0, protocol: 0, local: none, remote: none };
    if !sk.is_null() {
        // SAFETY: `sk` belongs to a socket the hooked function is operating
        // on (or the tracepoint passed), alive until it returns.
        unsafe {
            shim::witness_shim_sock_info(
                sk,
                &mut i.family,
                &mut i.sock_type,
                &mut i.protocol,
                &mut i.local,
                &mut i.remote,
            )
        };
    }
    i
}

/// Fills family, type, protocol and addresses from a `struct sock`.
fn fill_from_sock(rec: &mut SockRecord, sk: Kptr) {
    let i = sock_info(sk);
    rec.family = i.family;
    rec.sock_type = i.sock_type;
    rec.protocol = i.protocol;
    rec.local = i.local;
    rec.remote = i.remote;
}

#[no_mangle]
unsafe extern "C" fn witness_rs_sock_return(data: *mut c_void, verdict: c_int) {
    // SAFETY: every entry handler of these kretprobes wrote a Stash.
    let s = unsafe { stashed::<Stash>(data) };
    let Some(hook) = Hook::from_id(s.hook) else { return };
    let kind = sock_kind(hook);
    let Some(hit) = Hit::begin_global(hook, kind) else { return };
    let mut rec = empty_sock_record(verdict, s.arg);
    if !hit.task_passes(&rec.task) {
        return hit.filtered();
    }
    // SAFETY: `sock` is the socket argument, alive until the hooked
    // function's caller is done with it.
    let sk = unsafe { shim::witness_shim_socket_sock(s.sock as Kptr) };
    fill_from_sock(&mut rec, sk);
    match hook {
        Hook::SecuritySocketConnect => rec.remote = s.addr,
        Hook::SecuritySocketBind => rec.local = s.addr,
        _ => {}
    }
    if s.family != 0 {
        rec.family = s.family;
    }
    emit_sock(hit, kind, &rec);
}

fn emit_sock(hit: Hit<'_>, kind: RecordKind, rec: &SockRecord) {
    hit.emit(kind, size_of::<SockRecord>(), |buf| {
        let mut body = Body::new(buf);
        body.put(rec);
        Some(body.len())
    });
}

/// `void __inet_accept(struct socket *sock, struct socket *newsock, struct
/// sock *newsk)`: an inet socket's accept found connection `newsk`, and
/// grafts it onto `newsock`. A kprobe here holds nothing across accept's
/// wait, which a kretprobe on `inet_csk_accept` did (one instance per
/// blocked acceptor, so that a busy server exhausted them and lost accepts).
#[no_mangle]
unsafe extern "C" fn witness_rs_inet_accept(sk: Kptr) {
    let Some(hit) = Hit::begin_global(Hook::InetAccept, RecordKind::SockAccept) else { return };
    if sk.is_null() {
        return hit.filtered();
    }
    let mut rec = empty_sock_record(0, 0);
    if !hit.task_passes(&rec.task) {
        return hit.filtered();
    }
    fill_from_sock(&mut rec, sk);
    emit_sock(hit, RecordKind::SockAccept, &rec);
}

const TCP_SYN_SENT: c_int = 2;
const TCP_SYN_RECV: c_int = 3;
const IPPROTO_TCP: u16 = 6;

/// `inet_sock_set_state(const struct sock *sk, int oldstate, int newstate)`:
/// records the transitions of a handshake (into or out of SYN_SENT and
/// SYN_RECV), which give its latency and outcome. Runs in any context, often
/// softirq, so it names no task and applies no task filter.
#[no_mangle]
unsafe extern "C" fn witness_rs_inet_sock_set_state(data: *mut c_void, sk: Kptr, old: c_int, new: c_int) {
    // SAFETY: attached with the State as data.
    let state = unsafe { &*data.cast::<State>() };
    let Some(hit) = Hit::begin(state, Hook::InetSockSetState, RecordKind::TcpState) else { return };
    if ![old, new].iter().any(|s| *s == TCP_SYN_SENT || *s == TCP_SYN_RECV) {
        return hit.filtered();
    }
    let tmp = sock_info(sk);
    if tmp.protocol != IPPROTO_TCP {
        return hit.filtered();
    }
    let rec = TcpStateRecord {
        // SAFETY: `sk` is the live sock the tracepoint passed.
        sock_id: unsafe { shim::witness_shim_sock_id(sk) },
        // CAST: TCP states are small (1..=12).
        old_state: old as u8,
        new_state: new as u8,
        family: tmp.family,
        reserved: 0,
        local: tmp.local,
        remote: tmp.remote,
    };
    hit.emit(RecordKind::TcpState, size_of::<TcpStateRecord>(), |buf| {
        let mut body = Body::new(buf);
        body.put(&rec);
        Some(body.len())
    });
}

/// Drop reasons counted individually; larger values share the last slot.
const DROP_REASONS: usize = 128;
/// Counter shards: CPU `n` uses shard `n % DROP_SHARDS`.
const DROP_SHARDS: usize = 16;

static DROPS: [[AtomicU32; DROP_REASONS]; DROP_SHARDS] =
    [const { [const { AtomicU32::new(0) }; DROP_REASONS] }; DROP_SHARDS];
/// When the last report was taken (boot ns).
static LAST_REPORT_NS: AtomicU64 = AtomicU64::new(0);

/// `kfree_skb(struct sk_buff *skb, void *location, enum skb_drop_reason
/// reason, const struct sock *rx_sk)`: counts the drop; nothing is written
/// here.
#[no_mangle]
unsafe extern "C" fn witness_rs_kfree_skb(data: *mut c_void, reason: u32) {
    // SAFETY: attached with the State as data.
    let state = unsafe { &*data.cast::<State>() };
    let preempt = super::NoPreempt::new();
    let cpu = preempt.cpu();
    if let Some(c) = state.stats.get(cpu, Hook::KfreeSkb) {
        inc(&c.hits);
    }
    // CAST: u32 to usize is lossless.
    let slot = (reason as usize).min(DROP_REASONS - 1);
    // CAST: u32 to usize is lossless.
    DROPS[cpu as usize % DROP_SHARDS][slot].fetch_add(1, Ordering::Relaxed);
}

/// Timer tick (shim.c calls it directly): turns the counts since the last
/// tick into one record.
#[no_mangle]
unsafe extern "C" fn witness_rs_timer_tick() {
    // SAFETY: no preconditions.
    let now = unsafe { shim::witness_shim_boot_ns() };
    let since = LAST_REPORT_NS.swap(now, Ordering::Relaxed);
    let mut counts = [0u32; DROP_REASONS];
    for shard in DROPS.iter() {
        for (total, c) in counts.iter_mut().zip(shard.iter()) {
            *total = total.saturating_add(c.swap(0, Ordering::Relaxed));
        }
    }
    let total: u64 = counts.iter().map(|c| u64::from(*c)).sum();
    if total == 0 {
        return;
    }
    let Some(hit) = Hit::begin_report(Hook::KfreeSkb, RecordKind::PacketDrops) else { return };
    let entries = counts.iter().filter(|c| **c != 0).count().min(PACKET_DROPS_MAX_ENTRIES);
    let rec = PacketDropsRecord {
        interval_ns: now.saturating_sub(since),
        total,
        // CAST: at most PACKET_DROPS_MAX_ENTRIES.
        nr_entries: entries as u32,
        reserved: 0,
    };
    hit.emit(RecordKind::PacketDrops, size_of::<PacketDropsRecord>() + entries * size_of::<DropCount>(), |buf| {
        let mut body = Body::new(buf);
        body.put(&rec);
        for (reason, count) in counts.iter().enumerate().filter(|(_, c)| **c != 0).take(entries) {
            // CAST: reason < DROP_REASONS.
            body.put(&DropCount { reason: reason as u32, count: *count });
        }
        Some(body.len())
    });
}

/// Starts the once-a-second drop report.
pub(super) fn start_drop_reports() {
    // SAFETY: no preconditions.
    LAST_REPORT_NS.store(unsafe { shim::witness_shim_boot_ns() }, Ordering::Relaxed);
    // SAFETY: the tick runs until `stop_drop_reports`, which module exit
    // calls before the code goes away.
    unsafe { shim::witness_shim_timer_start(1000) };
}

/// Stops the report timer and waits for a running tick.
pub(super) fn stop_drop_reports() {
    // SAFETY: process context.
    unsafe { shim::witness_shim_timer_stop() };
}
