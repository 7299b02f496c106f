//! Presentation of events: JSON lines (one object per record, stable field
//! names) and a readable table.
//!
//! Byte strings from the kernel (paths, comm) need not be UTF-8 and may hold
//! control characters; [`escape_bytes`] shows them unambiguously.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use serde::Serialize;
use serde_json::{json, Map, Value};
use witness_abi::record::{
    CredRecord, ExecRecord, FileRecord, KeyRecord, NetAddr, NsRecord, RecordKind, SockRecord, TaskContext,
    TcpStateRecord, EXEC_ARGV_TRUNCATED, EXEC_ARGV_UNREADABLE, EXEC_PATH_FROM_ARGUMENT, EXEC_PATH_SCRIPT,
    EXEC_PATH_TRUNCATED, EXIT_GROUP_DEAD, FILE_PATH_SECRET, FILE_PATH_TRUNCATED, FILE_PATH_UNRESOLVED,
    KEY_DESC_TRUNCATED, KEY_OP_ADD, KEY_OP_REQUEST, KEY_TYPE_TRUNCATED, KEY_UNREADABLE, NS_NAMES,
};

use crate::source::decode::{nul_terminated, Body, Event};

/// Output formats of `witness events`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON object per line.
    Json,
    /// Aligned columns for people.
    Table,
}

/// Converts `CLOCK_BOOTTIME` stamps to Unix time.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    /// `CLOCK_REALTIME - CLOCK_BOOTTIME`, in nanoseconds.
    boot_to_unix_ns: i128,
}

impl Clock {
    /// Measures the offset now.
    pub fn now() -> Self {
        use rustix::time::{clock_gettime, ClockId};
        let ns = |t: rustix::time::Timespec| i128::from(t.tv_sec) * 1_000_000_000 + i128::from(t.tv_nsec);
        let real = ns(clock_gettime(ClockId::Realtime));
        let boot = ns(clock_gettime(ClockId::Boottime));
        Self { boot_to_unix_ns: real - boot }
    }

    /// Unix time now, nanoseconds (for records of the collector's own,
    /// which have no boot-time stamp).
    pub fn now_unix_ns() -> i128 {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::Realtime);
        i128::from(t.tv_sec) * 1_000_000_000 + i128::from(t.tv_nsec)
    }

    /// A clock whose Unix time equals boot time (for tests).
    pub fn identity() -> Self {
        Self { boot_to_unix_ns: 0 }
    }

    /// A clock with a known offset (a capture's).
    pub fn with_offset(boot_to_unix_ns: i64) -> Self {
        Self { boot_to_unix_ns: i128::from(boot_to_unix_ns) }
    }

    /// Unix nanoseconds for a boot-time stamp.
    pub fn unix_ns(&self, boot_ns: u64) -> i128 {
        i128::from(boot_ns) + self.boot_to_unix_ns
    }
}

/// Shows bytes as text: valid UTF-8 as is, except that control characters
/// are escaped (`\x1b` for ESC, `\u{0085}` for C1 controls) so that a
/// hostile path cannot drive the terminal; other bytes as `\xNN`; and a
/// backslash as `\\` so that the escaping is unambiguous.
///
/// Most strings need none of this: those come back borrowed.
pub fn escape_bytes(bytes: &[u8]) -> Cow<'_, str> {
    if let Ok(text) = std::str::from_utf8(bytes) {
        if !text.chars().any(|c| c == '\\' || c.is_control()) {
            return Cow::Borrowed(text);
        }
    }
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                c if c.is_ascii_control() => {
                    let _ = write!(out, "\\x{:02x}", u32::from(c));
                }
                c if c.is_control() => {
                    let _ = write!(out, "\\u{{{:04x}}}", u32::from(c));
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    Cow::Owned(out)
}

/// A list of byte strings (argv) serialized as escaped strings, without
/// building a `Value` per element.
pub struct EscapedList<'a>(pub &'a [Vec<u8>]);

impl Serialize for EscapedList<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|a| escape_bytes(a)))
    }
}

/// Writes events in one format.
#[derive(Debug)]
pub struct Printer<W: Write> {
    out: W,
    format: Format,
    clock: Clock,
    header_done: bool,
}

impl<W: Write> Printer<W> {
    /// A printer writing to `out`.
    pub fn new(out: W, format: Format, clock: Clock) -> Self {
        Self { out, format, clock, header_done: false }
    }

    /// Converts later events with `clock` (a fresh offset after a clock
    /// step).
    pub fn set_clock(&mut self, clock: Clock) {
        self.clock = clock;
    }

    /// Prints one event.
    pub fn print(&mut self, event: &Event) -> io::Result<()> {
        match self.format {
            Format::Json => {
                serde_json::to_writer(&mut self.out, &Value::Object(json(event, &self.clock)))?;
                self.out.write_all(b"\n")
            }
            Format::Table => self.print_row(event),
        }
    }

    /// The underlying writer.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn print_row(&mut self, event: &Event) -> io::Result<()> {
        if !self.header_done {
            writeln!(
                self.out,
                "{:>14} {:>3} {:>8} {:<13} {:>7} {:>7} {:>6} {:>8} {:<16} DETAIL",
                "BOOT_S", "CPU", "SEQ", "KIND", "PID", "PPID", "UID", "CGROUP", "COMM"
            )?;
            self.header_done = true;
        }
        let m = event.meta();
        // CAST: display only.
        #[allow(clippy::cast_precision_loss)]
        let secs = m.ts_ns as f64 / 1e9;
        write!(self.out, "{secs:>14.6} {:>3} {:>8} {:<13}", m.cpu, m.seq, event.kind_name())?;
        match event.task() {
            Some(t) => write!(
                self.out,
                " {:>7} {:>7} {:>6} {:>8} {:<16}",
                t.tgid,
                t.ppid,
                t.uid,
                t.cgroup_id,
                escape_bytes(nul_terminated(&t.comm))
            )?,
            None => write!(self.out, " {:>7} {:>7} {:>6} {:>8} {:<16}", "-", "-", "-", "-", "-")?,
        }
        writeln!(self.out, " {}", summary(event))
    }
}

/// A short, readable description of the kind-specific part.
fn summary(event: &Event) -> String {
    match &event.body {
        Body::Exec { rec, path, argv } => exec_summary(rec, path, argv),
        Body::Fork(r) => format!("child {} (thread {})", r.child_tgid, r.child_pid),
        Body::Exit(r) => format!("status {}{}", r.exit_code, flag(r.flags & EXIT_GROUP_DEAD != 0, "process gone")),
        Body::BprmCheck { rec, path } => format!("{} {}", escape_bytes(path), verdict(rec.verdict)),
        Body::File { rec, path, path2 } => file_summary(event, rec, path, path2),
        Body::Sock(r) => format!(
            "{} local {} remote {} {}",
            family_name(r.family),
            addr_or_dash(r.family, &r.local),
            addr_or_dash(r.family, &r.remote),
            verdict(r.verdict)
        ),
        Body::TcpState(r) => format!(
            "{} -> {} {} -> {} (socket {})",
            addr_or_dash(r.family, &r.local),
            addr_or_dash(r.family, &r.remote),
            tcp_state(r.old_state),
            tcp_state(r.new_state),
            sock_id(r.sock_id)
        ),
        Body::Cred(r) => format!(
            "uid {} -> {}, euid {} -> {}, gid {} -> {}, caps {:#x} -> {:#x}",
            r.task.uid,
            r.new_uid,
            r.task.euid,
            r.new_euid,
            r.task.gid,
            r.new_gid,
            r.old_cap_effective,
            r.new_cap_effective
        ),
        Body::Cap(r) => format!("capability {} {}", r.cap, verdict(r.verdict)),
        Body::Ns(r) => format!("changed {}", changed_namespaces(r.changed).join(",")),
        Body::Module(r) if r.verdict != 0 => {
            format!("module load {} FAILED ({})", escape_bytes(nul_terminated(&r.name)), r.verdict)
        }
        Body::Module(r) => format!("module {} taints {:#x}", escape_bytes(nul_terminated(&r.name)), r.taints),
        Body::Bpf(r) => format!(
            "prog {} type {} ({} insns) {}",
            escape_bytes(nul_terminated(&r.name)),
            r.prog_type,
            r.insn_cnt,
            verdict(r.verdict)
        ),
        Body::Ptrace(r) => format!("target {} (uid {}) {}", r.target_tgid, r.target_uid, verdict(r.verdict)),
        Body::Key { rec, key_type, description } => format!(
            "{} {} {} {}",
            key_op(rec.op),
            escape_bytes(key_type),
            escape_bytes(description),
            verdict(rec.verdict)
        ),
        Body::PacketDrops { rec, entries } => {
            let parts: Vec<String> = entries.iter().map(|e| format!("reason {}: {}", e.reason, e.count)).collect();
            format!("{} dropped ({})", rec.total, parts.join(", "))
        }
        Body::Unknown => format!("(kind {} is newer than this collector)", event.wire_kind),
    }
}

fn exec_summary(rec: &ExecRecord, path: &[u8], argv: &[Vec<u8>]) -> String {
    let mut s = escape_bytes(path).into_owned();
    for arg in argv.iter().skip(1) {
        s.push(' ');
        s.push_str(&escape_bytes(arg));
    }
    s.push_str(&flag(rec.flags & EXEC_PATH_TRUNCATED != 0, "path truncated"));
    s.push_str(&flag(rec.flags & EXEC_PATH_FROM_ARGUMENT != 0, "path as passed to execve"));
    s.push_str(&flag(rec.flags & EXEC_ARGV_TRUNCATED != 0, "arguments truncated"));
    s.push_str(&flag(rec.flags & EXEC_ARGV_UNREADABLE != 0, "arguments unreadable"));
    s.push_str(&flag(rec.flags & EXEC_PATH_SCRIPT != 0, "script"));
    s
}

fn file_summary(event: &Event, rec: &FileRecord, path: &[u8], path2: &[u8]) -> String {
    let mut s = escape_bytes(path).into_owned();
    if event.kind() == Some(RecordKind::FileRename) {
        s.push_str(" -> ");
        s.push_str(&escape_bytes(path2));
    }
    s.push(' ');
    s.push_str(&verdict(rec.verdict));
    s.push_str(&flag((rec.path_flags | rec.path2_flags) & FILE_PATH_SECRET != 0, "secret"));
    s
}

/// " [what]" when `set`, else nothing.
fn flag(set: bool, what: &str) -> String {
    if set {
        format!(" [{what}]")
    } else {
        String::new()
    }
}

fn verdict(v: i32) -> String {
    if v == 0 {
        "allowed".to_string()
    } else {
        format!("DENIED ({v})")
    }
}

/// The name of a `KEY_OP_*`.
fn key_op(op: u32) -> String {
    match op {
        KEY_OP_ADD => "add".to_string(),
        KEY_OP_REQUEST => "request".to_string(),
        _ => format!("unknown ({op})"),
    }
}

/// A socket id as fixed-width hex: an opaque 64-bit hash, printed as a
/// string so that JSON readers with 53-bit numbers keep it exact.
fn sock_id(id: u64) -> String {
    format!("{id:016x}")
}

/// Names of the namespaces whose bit is set in `NsRecord::changed`.
fn changed_namespaces(changed: u32) -> Vec<&'static str> {
    NS_NAMES.iter().enumerate().filter(|(i, _)| changed & (1 << i) != 0).map(|(_, n)| *n).collect()
}

/// TCP state names (`include/net/tcp_states.h`).
fn tcp_state(s: u8) -> &'static str {
    match s {
        1 => "ESTABLISHED",
        2 => "SYN_SENT",
        3 => "SYN_RECV",
        4 => "FIN_WAIT1",
        5 => "FIN_WAIT2",
        6 => "TIME_WAIT",
        7 => "CLOSE",
        8 => "CLOSE_WAIT",
        9 => "LAST_ACK",
        10 => "LISTEN",
        11 => "CLOSING",
        12 => "NEW_SYN_RECV",
        _ => "UNKNOWN",
    }
}

const AF_UNIX: u16 = 1;
const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

/// A short name of an address family.
fn family_name(family: u16) -> String {
    match family {
        AF_UNIX => "unix".to_string(),
        AF_INET => "inet".to_string(),
        AF_INET6 => "inet6".to_string(),
        f => format!("family {f}"),
    }
}

/// An address as `ip:port` (`[ip]:port` for IPv6), for families that have one.
fn addr(family: u16, a: &NetAddr) -> Option<String> {
    match family {
        AF_INET => {
            Some(SocketAddr::from((Ipv4Addr::new(a.addr[0], a.addr[1], a.addr[2], a.addr[3]), a.port)).to_string())
        }
        AF_INET6 => Some(SocketAddr::from((Ipv6Addr::from(a.addr), a.port)).to_string()),
        _ => None,
    }
}

fn addr_or_dash(family: u16, a: &NetAddr) -> String {
    addr(family, a).unwrap_or_else(|| "-".to_string())
}

/// The JSON object of one event: header fields, then the task, then the
/// kind-specific fields.
pub fn json(event: &Event, clock: &Clock) -> Map<String, Value> {
    let mut o = Map::new();
    fields(&mut o, event, clock);
    o
}

/// Writes the fields of [`json`] to `o`, in the same order.
pub fn fields(o: &mut impl Fields, event: &Event, clock: &Clock) {
    let m = event.meta();
    put(o, "kind", event.kind_name());
    put(o, "cpu", m.cpu);
    put(o, "seq", m.seq);
    put(o, "ts_boot_ns", m.ts_ns);
    put(o, "time_unix_ns", json!(clock.unix_ns(m.ts_ns)));
    event_fields(o, event);
}

/// The task's fields (if the record has a task), then the kind-specific
/// fields: what [`fields`] writes after the header.
pub fn event_fields(o: &mut impl Fields, event: &Event) {
    if let Some(t) = event.task() {
        task_json(o, t);
    }
    body_json(o, event);
}

/// Where the fields of a JSON object go: a [`Map`] (to be inspected or
/// handed on), or a serializer's map (the evidence line, written out as
/// the fields come, without the map's per-key allocations and hashing).
/// Each key is given once.
pub trait Fields {
    /// Adds `key: value`.
    fn field<V: Serialize>(&mut self, key: &str, value: V);
}

impl Fields for Map<String, Value> {
    fn field<V: Serialize>(&mut self, key: &str, value: V) {
        // Serializing plain data to a Value cannot fail.
        self.insert(key.into(), serde_json::to_value(value).unwrap_or(Value::Null));
    }
}

/// Inserts `key: value`.
fn put(o: &mut impl Fields, key: &str, value: impl Serialize) {
    o.field(key, value);
}

fn task_json(o: &mut impl Fields, t: &TaskContext) {
    for (k, v) in [
        ("pid", t.pid),
        ("tgid", t.tgid),
        ("ppid", t.ppid),
        ("uid", t.uid),
        ("euid", t.euid),
        ("gid", t.gid),
        ("egid", t.egid),
    ] {
        put(o, k, v);
    }
    put(o, "cgroup_id", t.cgroup_id);
    put(o, "comm", escape_bytes(nul_terminated(&t.comm)));
}

fn body_json(o: &mut impl Fields, event: &Event) {
    match &event.body {
        Body::Exec { rec, path, argv } => exec_json(o, rec, path, argv),
        Body::Fork(r) => {
            put(o, "child_pid", r.child_pid);
            put(o, "child_tgid", r.child_tgid);
        }
        Body::Exit(r) => {
            put(o, "exit_code", r.exit_code);
            put(o, "group_dead", r.flags & EXIT_GROUP_DEAD != 0);
        }
        Body::BprmCheck { rec, path } => {
            put(o, "verdict", rec.verdict);
            put(o, "path", escape_bytes(path));
            let flags = u32::from(rec.path_flags);
            put(o, "path_truncated", flags & EXEC_PATH_TRUNCATED != 0);
            put(o, "path_from_argument", flags & EXEC_PATH_FROM_ARGUMENT != 0);
        }
        Body::File { rec, path, path2 } => file_json(o, event.kind() == Some(RecordKind::FileRename), rec, path, path2),
        Body::Sock(r) => sock_json(o, event.kind() == Some(RecordKind::SockListen), r),
        Body::TcpState(r) => tcp_state_json(o, r),
        Body::Cred(r) => cred_json(o, r),
        Body::Cap(r) => {
            put(o, "cap", r.cap);
            put(o, "verdict", r.verdict);
            put(o, "opts", r.opts);
        }
        Body::Ns(r) => ns_json(o, r),
        Body::Module(r) => {
            put(o, "verdict", r.verdict);
            put(o, "name", escape_bytes(nul_terminated(&r.name)));
            put(o, "taints", r.taints);
        }
        Body::Bpf(r) => {
            put(o, "verdict", r.verdict);
            put(o, "prog_type", r.prog_type);
            put(o, "insn_cnt", r.insn_cnt);
            put(o, "prog_name", escape_bytes(nul_terminated(&r.name)));
        }
        Body::Ptrace(r) => {
            // verdict, mode, target_tgid in this order: VM scenarios match it.
            put(o, "verdict", r.verdict);
            put(o, "mode", r.mode);
            put(o, "target_tgid", r.target_tgid);
            put(o, "target_uid", r.target_uid);
        }
        Body::Key { rec, key_type, description } => key_json(o, rec, key_type, description),
        Body::PacketDrops { rec, entries } => {
            put(o, "interval_ns", rec.interval_ns);
            put(o, "total", rec.total);
            let reasons: Vec<Value> = entries.iter().map(|e| json!({"reason": e.reason, "count": e.count})).collect();
            put(o, "reasons", reasons);
        }
        Body::Unknown => put(o, "wire_kind", event.wire_kind),
    }
}

fn exec_json(o: &mut impl Fields, rec: &ExecRecord, path: &[u8], argv: &[Vec<u8>]) {
    put(o, "path", escape_bytes(path));
    put(o, "argv", EscapedList(argv));
    put(o, "argc", rec.argc);
    put(o, "path_truncated", rec.flags & EXEC_PATH_TRUNCATED != 0);
    put(o, "path_from_argument", rec.flags & EXEC_PATH_FROM_ARGUMENT != 0);
    put(o, "argv_truncated", rec.flags & EXEC_ARGV_TRUNCATED != 0);
    put(o, "argv_unreadable", rec.flags & EXEC_ARGV_UNREADABLE != 0);
    put(o, "script", rec.flags & EXEC_PATH_SCRIPT != 0);
    put(o, "dev", rec.dev);
    put(o, "ino", rec.ino);
    put(o, "mtime_sec", rec.mtime_sec);
}

/// The `FILE_PATH_*` flags of the path called `name`, as booleans (the
/// secret flag is named separately).
fn path_flags_json(o: &mut impl Fields, keys: [&str; 2], flags: u16) {
    put(o, keys[0], flags & FILE_PATH_TRUNCATED != 0);
    put(o, keys[1], flags & FILE_PATH_UNRESOLVED != 0);
}

/// The flag keys of `path` and of a rename's `new_path`.
const PATH_FLAGS: [&str; 2] = ["path_truncated", "path_unresolved"];
const NEW_PATH_FLAGS: [&str; 2] = ["new_path_truncated", "new_path_unresolved"];

fn file_json(o: &mut impl Fields, rename: bool, rec: &FileRecord, path: &[u8], path2: &[u8]) {
    put(o, "verdict", rec.verdict);
    put(o, "path", escape_bytes(path));
    path_flags_json(o, PATH_FLAGS, rec.path_flags);
    put(o, "secret", rec.path_flags & FILE_PATH_SECRET != 0);
    if rename {
        put(o, "new_path", escape_bytes(path2));
        path_flags_json(o, NEW_PATH_FLAGS, rec.path2_flags);
        put(o, "new_path_secret", rec.path2_flags & FILE_PATH_SECRET != 0);
    }
    put(o, "flags", rec.flags);
    put(o, "mode", rec.mode);
    put(o, "dev", rec.dev);
    put(o, "ino", rec.ino);
}

fn sock_json(o: &mut impl Fields, listen: bool, r: &SockRecord) {
    put(o, "verdict", r.verdict);
    put(o, "family", r.family);
    put(o, "sock_type", r.sock_type);
    put(o, "protocol", r.protocol);
    put(o, "local", addr(r.family, &r.local));
    put(o, "remote", addr(r.family, &r.remote));
    if listen {
        put(o, "backlog", r.arg);
    }
}

fn tcp_state_json(o: &mut impl Fields, r: &TcpStateRecord) {
    put(o, "sock_id", sock_id(r.sock_id));
    put(o, "old_state", r.old_state);
    put(o, "new_state", r.new_state);
    put(o, "old_state_name", tcp_state(r.old_state));
    put(o, "new_state_name", tcp_state(r.new_state));
    put(o, "family", r.family);
    put(o, "local", addr(r.family, &r.local));
    put(o, "remote", addr(r.family, &r.remote));
}

fn cred_json(o: &mut impl Fields, r: &CredRecord) {
    put(o, "new_uid", r.new_uid);
    put(o, "new_euid", r.new_euid);
    put(o, "new_gid", r.new_gid);
    put(o, "new_egid", r.new_egid);
    put(o, "old_cap_effective", r.old_cap_effective);
    put(o, "new_cap_effective", r.new_cap_effective);
    put(o, "old_cap_permitted", r.old_cap_permitted);
    put(o, "new_cap_permitted", r.new_cap_permitted);
}

fn ns_json(o: &mut impl Fields, r: &NsRecord) {
    let by_name = |ns: &[u32; 8]| -> Map<String, Value> {
        NS_NAMES.iter().zip(ns.iter()).map(|(n, v)| ((*n).to_string(), Value::from(*v))).collect()
    };
    put(o, "changed", changed_namespaces(r.changed));
    put(o, "old_ns", by_name(&r.old_ns));
    put(o, "new_ns", by_name(&r.new_ns));
}

fn key_json(o: &mut impl Fields, rec: &KeyRecord, key_type: &[u8], description: &[u8]) {
    put(o, "op", key_op(rec.op));
    put(o, "verdict", rec.verdict);
    put(o, "key_type", escape_bytes(key_type));
    put(o, "description", escape_bytes(description));
    put(o, "key_type_truncated", rec.flags & KEY_TYPE_TRUNCATED != 0);
    put(o, "description_truncated", rec.flags & KEY_DESC_TRUNCATED != 0);
    put(o, "unreadable", rec.flags & KEY_UNREADABLE != 0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::decode::tests::{record, samples};
    use crate::source::decode::{decode_one, Meta};
    use serde_json::json;
    use witness_abi::record::{ExecRecord, RecordKind, SockRecord, TaskContext};
    use zerocopy::FromZeros;

    #[test]
    fn escaping_is_unambiguous() {
        assert_eq!(escape_bytes(b"/bin/true"), "/bin/true");
        assert_eq!(escape_bytes(b"a\xffb"), "a\\xffb");
        assert_eq!(escape_bytes(b"a\\xffb"), "a\\\\xffb");
        assert_eq!(escape_bytes("é".as_bytes()), "é");
        assert_eq!(escape_bytes(b"\x1b[2Jx\x7f\ty"), "\\x1b[2Jx\\x7f\\x09y");
        assert_eq!(escape_bytes("a\u{85}b".as_bytes()), "a\\u{0085}b");
    }

    fn exec() -> Event {
        let mut t = TaskContext::new_zeroed();
        t.pid = 42;
        t.tgid = 42;
        t.ppid = 1;
        t.uid = 1000;
        t.cgroup_id = 7;
        t.comm[..4].copy_from_slice(b"true");
        let mut rec = ExecRecord::new_zeroed();
        rec.task = t;
        rec.argc = 1;
        Event {
            meta: Meta { cpu: 1, seq: 9, ts_ns: 5_000_000_000 },
            wire_kind: RecordKind::Exec as u16,
            body: Body::Exec { rec, path: b"/bin/\x01true\xfe".to_vec(), argv: vec![b"true".to_vec()] },
        }
    }

    /// Every sample record, decoded from its bytes.
    fn sample_events() -> Vec<Event> {
        samples().into_iter().map(|(kind, body, _)| decode_one(&record(kind, 3, &body), 0).unwrap()).collect()
    }

    #[test]
    fn json_lines_have_stable_fields() {
        let mut buf = Vec::new();
        let mut p = Printer::new(&mut buf, Format::Json, Clock::with_offset(1_000));
        p.print(&exec()).unwrap();
        let line = String::from_utf8(buf).unwrap();
        assert!(line.ends_with('\n'));
        let v: Value = serde_json::from_str(&line).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys[..14],
            [
                "kind",
                "cpu",
                "seq",
                "ts_boot_ns",
                "time_unix_ns",
                "pid",
                "tgid",
                "ppid",
                "uid",
                "euid",
                "gid",
                "egid",
                "cgroup_id",
                "comm"
            ]
        );
        assert_eq!(v["kind"], "exec");
        assert_eq!(v["pid"], 42);
        assert_eq!(v["cgroup_id"], 7);
        assert_eq!(v["comm"], "true");
        assert_eq!(v["path"], "/bin/\\x01true\\xfe");
        assert_eq!(v["ts_boot_ns"], 5_000_000_000u64);
        assert_eq!(v["time_unix_ns"], 5_000_001_000u64);
        assert_eq!(v["argv"], json!(["true"]));
    }

    /// For each kind: fields its JSON must have (with values), and a piece
    /// of its table summary.
    fn expectations() -> Vec<(&'static str, Value, &'static str)> {
        vec![
            (
                "exec",
                json!({"path": "/usr/bin/env", "argv": ["env", "-i", "cu"], "argc": 3, "path_truncated": false,
                       "path_from_argument": false, "argv_truncated": true, "argv_unreadable": false,
                       "dev": 0x801, "ino": 4242, "mtime_sec": 1_700_000_000}),
                "/usr/bin/env -i cu [arguments truncated]",
            ),
            ("fork", json!({"child_pid": 11, "child_tgid": 11}), "child 11"),
            ("exit", json!({"exit_code": 1792, "group_dead": true}), "status 1792 [process gone]"),
            (
                "bprm_check",
                json!({"verdict": -13, "path": "/bin/sh", "path_truncated": false, "path_from_argument": false}),
                "/bin/sh DENIED (-13)",
            ),
            (
                "file_open",
                json!({"verdict": -1, "path": "/old", "secret": true, "path_truncated": false,
                       "flags": 2, "mode": 0o100_600, "dev": 0x802, "ino": 99}),
                "/old DENIED (-1) [secret]",
            ),
            ("file_create", json!({"path": "/old"}), "/old DENIED (-1)"),
            ("file_unlink", json!({"path": "/old"}), "/old DENIED (-1)"),
            (
                "file_rename",
                json!({"path": "/old", "new_path": "/new", "new_path_truncated": true, "new_path_secret": false}),
                "/old -> /new DENIED (-1)",
            ),
            (
                "sock_connect",
                json!({"verdict": -13, "family": 2, "sock_type": 1, "protocol": 6,
                       "local": "10.0.0.1:8080", "remote": "10.0.0.2:80"}),
                "inet local 10.0.0.1:8080 remote 10.0.0.2:80 DENIED (-13)",
            ),
            ("sock_bind", json!({"verdict": 0, "local": "10.0.0.1:8080"}), "allowed"),
            ("sock_listen", json!({"backlog": 128}), "local 10.0.0.1:8080"),
            ("sock_accept", json!({"remote": "10.0.0.2:80"}), "remote 10.0.0.2:80"),
            (
                "tcp_state",
                json!({"sock_id": "deadbeef00000001", "old_state": 2, "new_state": 1, "old_state_name": "SYN_SENT",
                       "new_state_name": "ESTABLISHED", "family": 10, "local": "[::]:5000", "remote": "[::1]:443"}),
                "[::]:5000 -> [::1]:443 SYN_SENT -> ESTABLISHED",
            ),
            (
                "cred_change",
                json!({"uid": 1000, "new_uid": 0, "new_euid": 0, "new_gid": 5, "new_egid": 6,
                       "old_cap_effective": 0, "new_cap_effective": 1 << 21, "new_cap_permitted": (1 << 21) | 1}),
                "uid 1000 -> 0",
            ),
            ("cap_denied", json!({"cap": 21, "verdict": -1, "opts": 2}), "capability 21 DENIED (-1)"),
            (
                "ns_change",
                json!({"changed": ["uts", "mnt"],
                       "old_ns": {"uts": 1, "ipc": 2, "mnt": 3, "pid_for_children": 4, "net": 5, "time": 6, "cgroup": 7},
                       "new_ns": {"uts": 11, "ipc": 2, "mnt": 13, "pid_for_children": 4, "net": 5, "time": 6, "cgroup": 7}}),
                "changed uts,mnt",
            ),
            ("module_load", json!({"name": "testmod", "taints": 4096}), "module testmod"),
            (
                "bpf_prog_load",
                json!({"verdict": 0, "prog_type": 1, "insn_cnt": 2, "prog_name": "probe"}),
                "prog probe type 1 (2 insns) allowed",
            ),
            (
                "ptrace_attach",
                json!({"verdict": -1, "mode": 0x12, "target_tgid": 555, "target_uid": 1000}),
                "target 555 (uid 1000) DENIED (-1)",
            ),
            (
                "packet_drops",
                json!({"interval_ns": 1_000_000_000u64, "total": 5,
                       "reasons": [{"reason": 2, "count": 4}, {"reason": 7, "count": 1}]}),
                "5 dropped (reason 2: 4, reason 7: 1)",
            ),
            (
                "key_access",
                json!({"op": "add", "verdict": 0, "key_type": "user", "description": "api-key1",
                       "key_type_truncated": false, "description_truncated": false, "unreadable": false}),
                "add user api-key1 allowed",
            ),
        ]
    }

    #[test]
    fn every_kind_has_json_fields_and_a_summary() {
        let events = sample_events();
        let expected = expectations();
        assert_eq!(events.len(), expected.len());
        for (event, (kind, fields, summary_part)) in events.iter().zip(expected) {
            let o = json(event, &Clock::identity());
            assert_eq!(o["kind"], kind);
            assert_eq!(o["seq"], 3);
            for (k, v) in fields.as_object().unwrap() {
                assert_eq!(o.get(k), Some(v), "{kind}.{k}");
            }
            // Network-context records name no task.
            assert_eq!(o.contains_key("pid"), !matches!(kind, "tcp_state" | "packet_drops"), "{kind}");
            let text = summary(event);
            assert!(text.contains(summary_part), "{kind}: {text}");
        }
    }

    /// A script's exec names the script and says so.
    #[test]
    fn script_execs_are_flagged() {
        let mut e = exec();
        if let Body::Exec { rec, .. } = &mut e.body {
            rec.flags = EXEC_PATH_SCRIPT | EXEC_PATH_FROM_ARGUMENT;
        }
        let o = json(&e, &Clock::identity());
        assert_eq!(o["script"], true);
        assert_eq!(o["path_from_argument"], true);
        assert!(summary(&e).contains("[script]"), "{}", summary(&e));
        assert_eq!(json(&exec(), &Clock::identity())["script"], false);
    }

    /// bprm_check paths carry exec path flags: "from the argument" is not
    /// "relative to its filesystem".
    #[test]
    fn bprm_check_path_flags_are_exec_path_flags() {
        let mut rec = witness_abi::record::BprmCheckRecord::new_zeroed();
        rec.path_flags = (EXEC_PATH_FROM_ARGUMENT | EXEC_PATH_TRUNCATED) as u16;
        let e = Event {
            meta: Meta { cpu: 0, seq: 0, ts_ns: 0 },
            wire_kind: RecordKind::BprmCheck as u16,
            body: Body::BprmCheck { rec, path: b"./run".to_vec() },
        };
        let o = json(&e, &Clock::identity());
        assert_eq!(o["path_from_argument"], true);
        assert_eq!(o["path_truncated"], true);
        assert!(!o.contains_key("path_unresolved"), "{o:?}");
    }

    /// A refused module load carries the kernel's verdict and says so.
    #[test]
    fn failed_module_loads_show_their_verdict() {
        let mut rec = witness_abi::record::ModuleRecord::new_zeroed();
        rec.verdict = -129;
        rec.name[..7].copy_from_slice(b"evil.ko");
        let e = Event {
            meta: Meta { cpu: 0, seq: 0, ts_ns: 0 },
            wire_kind: RecordKind::ModuleLoad as u16,
            body: Body::Module(rec),
        };
        let o = json(&e, &Clock::identity());
        assert_eq!(o["verdict"], -129);
        assert_eq!(o["name"], "evil.ko");
        assert!(summary(&e).contains("module load evil.ko FAILED (-129)"), "{}", summary(&e));
    }

    #[test]
    fn fields_only_where_they_mean_something() {
        let events = sample_events();
        let by_kind = |k: RecordKind| json(events.iter().find(|e| e.kind() == Some(k)).unwrap(), &Clock::identity());
        assert!(!by_kind(RecordKind::FileOpen).contains_key("new_path"));
        assert!(!by_kind(RecordKind::SockConnect).contains_key("backlog"));
        // VM scenarios match the ptrace fields in this order.
        let line = Value::Object(by_kind(RecordKind::PtraceAttach)).to_string();
        assert!(line.contains(r#""verdict":-1,"mode":18,"target_tgid":555,"#), "{line}");
    }

    #[test]
    fn addresses_print_as_socket_addresses() {
        let mut rec = SockRecord::new_zeroed();
        rec.family = 10;
        rec.remote.addr[15] = 1;
        rec.remote.port = 443;
        rec.local.addr[..4].copy_from_slice(&[10, 0, 0, 1]);
        let e = Event {
            meta: Meta { cpu: 0, seq: 0, ts_ns: 0 },
            wire_kind: RecordKind::SockConnect as u16,
            body: Body::Sock(rec),
        };
        let o = json(&e, &Clock::identity());
        assert_eq!(o["remote"], "[::1]:443");
        rec.family = 2;
        let e = Event { body: Body::Sock(rec), ..e };
        assert_eq!(json(&e, &Clock::identity())["local"], "10.0.0.1:0");
        // A Unix socket has no IP address: null in JSON, "-" in the table.
        rec.family = 1;
        let e = Event { body: Body::Sock(rec), ..e };
        assert_eq!(json(&e, &Clock::identity())["remote"], Value::Null);
        assert!(summary(&e).starts_with("unix local - remote -"), "{}", summary(&e));
    }

    #[test]
    fn odd_values_are_named_not_guessed() {
        let mut events = sample_events();
        let key = events.iter_mut().find(|e| e.kind() == Some(RecordKind::KeyAccess)).unwrap();
        let Body::Key { rec, .. } = &mut key.body else { panic!() };
        rec.op = 9;
        assert_eq!(json(key, &Clock::identity())["op"], "unknown (9)");
        let unknown = Event { meta: key.meta, wire_kind: 0xee, body: Body::Unknown };
        let o = json(&unknown, &Clock::identity());
        assert_eq!((o["kind"].as_str(), o["wire_kind"].as_u64()), (Some("unknown"), Some(0xee)));
        assert!(!o.contains_key("pid"));
        assert_eq!(summary(&unknown), "(kind 238 is newer than this collector)");
        assert_eq!(tcp_state(99), "UNKNOWN");
    }

    #[test]
    fn table_has_a_header_and_a_row_per_event() {
        let mut buf = Vec::new();
        let mut p = Printer::new(&mut buf, Format::Table, Clock::identity());
        p.print(&exec()).unwrap();
        for event in sample_events() {
            p.print(&event).unwrap();
        }
        let text = String::from_utf8(buf).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2 + RecordKind::ALL.len() - 1);
        assert!(lines[0].starts_with("        BOOT_S CPU"));
        assert!(lines[1].contains("/bin/"));
        let tcp = lines.iter().find(|l| l.contains("tcp_state")).unwrap();
        assert!(tcp.contains(" - "), "no task columns for network records: {tcp}");
    }
}
