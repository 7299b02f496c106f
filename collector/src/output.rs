//! Presentation of events: JSON lines (one object per record, stable field
//! names) and a readable table.
//!
//! Byte strings from the kernel (paths, comm) need not be UTF-8 and may hold
//! control characters; [`escape_bytes`] shows them unambiguously.

use std::fmt::Write as _;
use std::io::{self, Write};

use serde::Serialize;

use crate::decode::{Event, Exec};

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

    /// A clock whose Unix time equals boot time (for tests and replays).
    pub fn identity() -> Self {
        Self { boot_to_unix_ns: 0 }
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

#[derive(Serialize)]
struct ExecJson<'a> {
    kind: &'static str,
    cpu: u32,
    seq: u64,
    ts_boot_ns: u64,
    time_unix_ns: i128,
    pid: u32,
    tgid: u32,
    ppid: u32,
    uid: u32,
    euid: u32,
    gid: u32,
    egid: u32,
    cgroup_id: u64,
    comm: &'a str,
    path: &'a str,
    path_truncated: bool,
    path_from_argument: bool,
}

#[derive(Serialize)]
struct UnknownJson {
    kind: &'static str,
    wire_kind: u16,
    cpu: u32,
    seq: u64,
    ts_boot_ns: u64,
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
            Format::Json => self.print_json(event),
            Format::Table => self.print_row(event),
        }
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn print_json(&mut self, event: &Event) -> io::Result<()> {
        match event {
            Event::Exec(e) => {
                let comm = escape_bytes(e.comm());
                let path = escape_bytes(&e.path);
                let json = self.exec_json(e, &comm, &path);
                serde_json::to_writer(&mut self.out, &json)?;
            }
            Event::Unknown { meta, kind } => {
                let j = UnknownJson {
                    kind: "unknown",
                    wire_kind: *kind,
                    cpu: meta.cpu,
                    seq: meta.seq,
                    ts_boot_ns: meta.ts_ns,
                };
                serde_json::to_writer(&mut self.out, &j)?;
            }
        }
        self.out.write_all(b"\n")
    }

    fn exec_json<'a>(&self, e: &Exec, comm: &'a str, path: &'a str) -> ExecJson<'a> {
        let t = &e.task;
        ExecJson {
            kind: "exec",
            cpu: e.meta.cpu,
            seq: e.meta.seq,
            ts_boot_ns: e.meta.ts_ns,
            time_unix_ns: self.clock.unix_ns(e.meta.ts_ns),
            pid: t.pid,
            tgid: t.tgid,
            ppid: t.ppid,
            uid: t.uid,
            euid: t.euid,
            gid: t.gid,
            egid: t.egid,
            cgroup_id: t.cgroup_id,
            comm,
            path,
            path_truncated: e.path_truncated(),
            path_from_argument: e.path_from_argument(),
        }
    }

    fn print_row(&mut self, event: &Event) -> io::Result<()> {
        if !self.header_done {
            writeln!(
                self.out,
                "{:>14} {:>3} {:>8} {:<6} {:>7} {:>7} {:>6} {:>8} {:<16} PATH",
                "BOOT_S", "CPU", "SEQ", "KIND", "PID", "PPID", "UID", "CGROUP", "COMM"
            )?;
            self.header_done = true;
        }
        let m = event.meta();
        // CAST: display only; boot seconds fit an f64 exactly enough.
        #[allow(clippy::cast_precision_loss)]
        let secs = m.ts_ns as f64 / 1e9;
        write!(self.out, "{secs:>14.6} {:>3} {:>8} {:<6}", m.cpu, m.seq, event.kind_name())?;
        match event {
            Event::Exec(e) => {
                let mut path = escape_bytes(&e.path);
                if e.path_truncated() {
                    path.push_str(" [truncated]");
                }
                if e.path_from_argument() {
                    path.push_str(" [as passed to execve]");
                }
                let t = &e.task;
                writeln!(
                    self.out,
                    " {:>7} {:>7} {:>6} {:>8} {:<16} {}",
                    t.tgid,
                    t.ppid,
                    t.uid,
                    t.cgroup_id,
                    escape_bytes(e.comm()),
                    path
                )
            }
            Event::Unknown { kind, .. } => writeln!(self.out, " (kind {kind} is newer than this collector)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Meta;
    use witness_abi::record::ExecRecord;

    #[test]
    fn escaping_is_unambiguous() {
        assert_eq!(escape_bytes(b"/bin/true"), "/bin/true");
        assert_eq!(escape_bytes(b"a\xffb"), "a\\xffb");
        assert_eq!(escape_bytes(b"a\\xffb"), "a\\\\xffb");
        assert_eq!(escape_bytes("é".as_bytes()), "é");
    }

    fn exec() -> Event {
        let mut comm = [0u8; 16];
        comm[..4].copy_from_slice(b"true");
        Event::Exec(Exec {
            meta: Meta { cpu: 1, seq: 9, ts_ns: 5_000_000_000 },
            task: ExecRecord {
                pid: 42,
                tgid: 42,
                ppid: 1,
                uid: 1000,
                euid: 1000,
                gid: 100,
                egid: 100,
                cgroup_id: 7,
                comm,
                ..Default::default()
            },
            path: b"/bin/\x01true\xfe".to_vec(),
        })
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
