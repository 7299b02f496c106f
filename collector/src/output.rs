//! Presentation of events: JSON lines (one object per record, stable field
//! names) and a readable table.
//!
//! Byte strings from the kernel (paths, comm) need not be UTF-8 and may hold
//! control characters; [`escape_bytes`] shows them unambiguously.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use serde_json::{json, Map, Value};
use witness_abi::record::{
    NetAddr, RecordKind, TaskContext, EXEC_ARGV_TRUNCATED, EXEC_ARGV_UNREADABLE, EXEC_PATH_FROM_ARGUMENT,
    EXEC_PATH_TRUNCATED, EXIT_GROUP_DEAD, FILE_PATH_IN_FS, FILE_PATH_SECRET, FILE_PATH_TRUNCATED, KEY_DESC_TRUNCATED,
    KEY_OP_ADD, KEY_TYPE_TRUNCATED, NS_NAMES,
};

use crate::decode::{nul_terminated, Body, Event};

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

/// Shows bytes as text: valid UTF-8 as is, other bytes as `\xNN`, and a
/// backslash as `\\` so that the escaping is unambiguous.
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' {
                out.push_str("\\\\");
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
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
        Body::Exec { rec, path, argv } => {
            let args: Vec<String> = argv.iter().skip(1).map(|a| escape_bytes(a)).collect();
            let mut s = format!("{} {}", escape_bytes(path), args.join(" "));
            if rec.flags & EXEC_PATH_TRUNCATED != 0 {
                s.push_str(" [path truncated]");
            }
            if rec.flags & EXEC_PATH_FROM_ARGUMENT != 0 {
                s.push_str(" [path as passed to execve]");
            }
            s
        }
        Body::Fork(r) => format!("child {}", r.child_tgid),
        Body::Exit(r) => format!("status {}", r.exit_code),
        Body::BprmCheck { rec, path } => format!("{} {}", escape_bytes(path), verdict(rec.verdict)),
        Body::File { rec, path, path2 } => {
            let mut s = format!("{} {}", escape_bytes(path), verdict(rec.verdict));
            if !path2.is_empty() {
                s = format!("{} -> {} {}", escape_bytes(path), escape_bytes(path2), verdict(rec.verdict));
            }
            if rec.path_flags & FILE_PATH_SECRET != 0 {
                s.push_str(" [secret]");
            }
            s
        }
        Body::Sock(r) => {
            format!("local {} remote {} {}", addr(r.family, &r.local), addr(r.family, &r.remote), verdict(r.verdict))
        }
        Body::TcpState(r) => format!(
            "{} -> {}: {} {} -> {}",
            addr(r.family, &r.local),
            addr(r.family, &r.remote),
            r.sock_id,
            tcp_state(r.old_state),
            tcp_state(r.new_state)
        ),
        Body::Cred(r) => format!("uid {} -> {}, euid {} -> {}", r.task.uid, r.new_uid, r.task.euid, r.new_euid),
        Body::Cap(r) => format!("capability {} {}", r.cap, verdict(r.verdict)),
        Body::Ns(r) => {
            let names: Vec<&str> =
                NS_NAMES.iter().enumerate().filter(|(i, _)| r.changed & (1 << i) != 0).map(|(_, n)| *n).collect();
            format!("changed {}", names.join(","))
        }
        Body::Module(r) => format!("module {}", escape_bytes(nul_terminated(&r.name))),
        Body::Bpf(r) => format!("prog type {} ({} insns) {}", r.prog_type, r.insn_cnt, verdict(r.verdict)),
        Body::Ptrace(r) => format!("target {} {}", r.target_tgid, verdict(r.verdict)),
        Body::Key { rec, key_type, description } => format!(
            "{} {} {} {}",
            if rec.op == KEY_OP_ADD { "add" } else { "request" },
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

fn verdict(v: i32) -> String {
    if v == 0 {
        "allowed".to_string()
    } else {
        format!("DENIED ({v})")
    }
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

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

/// An address as `ip:port` (`[ip]:port` for IPv6), or "-" for families
/// without one.
fn addr(family: u16, a: &NetAddr) -> String {
    match family {
        AF_INET => SocketAddr::from((Ipv4Addr::new(a.addr[0], a.addr[1], a.addr[2], a.addr[3]), a.port)).to_string(),
        AF_INET6 => SocketAddr::from((Ipv6Addr::from(a.addr), a.port)).to_string(),
        _ => "-".to_string(),
    }
}

/// The JSON object of one event: header fields, then the task, then the
/// kind-specific fields.
pub fn json(event: &Event, clock: &Clock) -> Map<String, Value> {
    let m = event.meta();
    let mut o = Map::new();
    o.insert("kind".into(), event.kind_name().into());
    o.insert("cpu".into(), m.cpu.into());
    o.insert("seq".into(), m.seq.into());
    o.insert("ts_boot_ns".into(), m.ts_ns.into());
    o.insert("time_unix_ns".into(), json!(clock.unix_ns(m.ts_ns)));
    if let Some(t) = event.task() {
        task_json(&mut o, t);
    }
    body_json(&mut o, event);
    o
}

fn task_json(o: &mut Map<String, Value>, t: &TaskContext) {
    for (k, v) in [
        ("pid", t.pid),
        ("tgid", t.tgid),
        ("ppid", t.ppid),
        ("uid", t.uid),
        ("euid", t.euid),
        ("gid", t.gid),
        ("egid", t.egid),
    ] {
        o.insert(k.into(), v.into());
    }
    o.insert("cgroup_id".into(), t.cgroup_id.into());
    o.insert("comm".into(), escape_bytes(nul_terminated(&t.comm)).into());
}

fn body_json(o: &mut Map<String, Value>, event: &Event) {
    let mut put = |k: &str, v: Value| {
        o.insert(k.into(), v);
    };
    match &event.body {
        Body::Exec { rec, path, argv } => {
            put("path", escape_bytes(path).into());
            put("argv", argv.iter().map(|a| Value::from(escape_bytes(a))).collect());
            put("argc", rec.argc.into());
            put("path_truncated", (rec.flags & EXEC_PATH_TRUNCATED != 0).into());
            put("path_from_argument", (rec.flags & EXEC_PATH_FROM_ARGUMENT != 0).into());
            put("argv_truncated", (rec.flags & EXEC_ARGV_TRUNCATED != 0).into());
            put("argv_unreadable", (rec.flags & EXEC_ARGV_UNREADABLE != 0).into());
            put("dev", rec.dev.into());
            put("ino", rec.ino.into());
            put("mtime_sec", rec.mtime_sec.into());
        }
        Body::Fork(r) => {
            put("child_pid", r.child_pid.into());
            put("child_tgid", r.child_tgid.into());
        }
        Body::Exit(r) => {
            put("exit_code", r.exit_code.into());
            put("group_dead", (r.flags & EXIT_GROUP_DEAD != 0).into());
        }
        Body::BprmCheck { rec, path } => {
            put("verdict", rec.verdict.into());
            put("path", escape_bytes(path).into());
            put("path_truncated", (rec.path_flags & FILE_PATH_TRUNCATED != 0).into());
        }
        Body::File { rec, path, path2 } => {
            put("verdict", rec.verdict.into());
            put("path", escape_bytes(path).into());
            put("path_truncated", (rec.path_flags & FILE_PATH_TRUNCATED != 0).into());
            put("path_in_filesystem", (rec.path_flags & FILE_PATH_IN_FS != 0).into());
            put("secret", (rec.path_flags & FILE_PATH_SECRET != 0).into());
            if event.kind() == Some(RecordKind::FileRename) {
                put("new_path", escape_bytes(path2).into());
                put("new_path_truncated", (rec.path2_flags & FILE_PATH_TRUNCATED != 0).into());
            }
            put("flags", rec.flags.into());
            put("mode", rec.mode.into());
            put("dev", rec.dev.into());
            put("ino", rec.ino.into());
        }
        Body::Sock(r) => {
            put("verdict", r.verdict.into());
            put("family", r.family.into());
            put("sock_type", r.sock_type.into());
            put("protocol", r.protocol.into());
            put("local", addr(r.family, &r.local).into());
            put("remote", addr(r.family, &r.remote).into());
            if event.kind() == Some(RecordKind::SockListen) {
                put("backlog", r.arg.into());
            }
        }
        Body::TcpState(r) => {
            put("sock_id", r.sock_id.into());
            put("old_state", r.old_state.into());
            put("new_state", r.new_state.into());
            put("old_state_name", tcp_state(r.old_state).into());
            put("new_state_name", tcp_state(r.new_state).into());
            put("family", r.family.into());
            put("local", addr(r.family, &r.local).into());
            put("remote", addr(r.family, &r.remote).into());
        }
        Body::Cred(r) => {
            put("new_uid", r.new_uid.into());
            put("new_euid", r.new_euid.into());
            put("new_gid", r.new_gid.into());
            put("new_egid", r.new_egid.into());
            put("old_cap_effective", r.old_cap_effective.into());
            put("new_cap_effective", r.new_cap_effective.into());
            put("old_cap_permitted", r.old_cap_permitted.into());
            put("new_cap_permitted", r.new_cap_permitted.into());
        }
        Body::Cap(r) => {
            put("cap", r.cap.into());
            put("verdict", r.verdict.into());
            put("opts", r.opts.into());
        }
        Body::Ns(r) => {
            let names = |ns: &[u32; 8]| -> Value {
                NS_NAMES
                    .iter()
                    .zip(ns.iter())
                    .map(|(n, v)| ((*n).to_string(), Value::from(*v)))
                    .collect::<Map<_, _>>()
                    .into()
            };
            let changed: Vec<Value> = NS_NAMES
                .iter()
                .enumerate()
                .filter(|(i, _)| r.changed & (1 << i) != 0)
                .map(|(_, n)| Value::from(*n))
                .collect();
            put("changed", changed.into());
            put("old_ns", names(&r.old_ns));
            put("new_ns", names(&r.new_ns));
        }
        Body::Module(r) => {
            put("name", escape_bytes(nul_terminated(&r.name)).into());
            put("taints", r.taints.into());
        }
        Body::Bpf(r) => {
            put("verdict", r.verdict.into());
            put("prog_type", r.prog_type.into());
            put("insn_cnt", r.insn_cnt.into());
            put("prog_name", escape_bytes(nul_terminated(&r.name)).into());
        }
        Body::Ptrace(r) => {
            put("verdict", r.verdict.into());
            put("mode", r.mode.into());
            put("target_tgid", r.target_tgid.into());
            put("target_uid", r.target_uid.into());
        }
        Body::Key { rec, key_type, description } => {
            put("op", if rec.op == KEY_OP_ADD { "add" } else { "request" }.into());
            put("verdict", rec.verdict.into());
            put("key_type", escape_bytes(key_type).into());
            put("description", escape_bytes(description).into());
            put("truncated", (rec.flags & (KEY_TYPE_TRUNCATED | KEY_DESC_TRUNCATED) != 0).into());
        }
        Body::PacketDrops { rec, entries } => {
            put("interval_ns", rec.interval_ns.into());
            put("total", rec.total.into());
            put("reasons", entries.iter().map(|e| json!({"reason": e.reason, "count": e.count})).collect());
        }
        Body::Unknown => put("wire_kind", event.wire_kind.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Meta;
    use witness_abi::record::{ExecRecord, RecordKind, SockRecord, TaskContext};
    use zerocopy::FromZeros;

    #[test]
    fn escaping_is_unambiguous() {
        assert_eq!(escape_bytes(b"/bin/true"), "/bin/true");
        assert_eq!(escape_bytes(b"a\xffb"), "a\\xffb");
        assert_eq!(escape_bytes(b"a\\xffb"), "a\\\\xffb");
        assert_eq!(escape_bytes("é".as_bytes()), "é");
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

    #[test]
    fn json_lines_have_stable_fields() {
        let mut buf = Vec::new();
        let mut p = Printer::new(&mut buf, Format::Json, Clock::identity());
        p.print(&exec()).unwrap();
        let line = String::from_utf8(buf).unwrap();
        assert!(line.ends_with('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["kind"], "exec");
        assert_eq!(v["pid"], 42);
        assert_eq!(v["cgroup_id"], 7);
        assert_eq!(v["path"], "/bin/\u{1}true\\xfe");
        assert_eq!(v["time_unix_ns"], 5_000_000_000u64);
        assert_eq!(v["argv"], serde_json::json!(["true"]));
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
    }

    #[test]
    fn table_has_a_header_and_a_row() {
        let mut buf = Vec::new();
        let mut p = Printer::new(&mut buf, Format::Table, Clock::identity());
        p.print(&exec()).unwrap();
        let text = String::from_utf8(buf).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(text.lines().nth(1).unwrap().contains("/bin/"));
    }
}
