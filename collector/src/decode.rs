//! Decoding of record bytes into typed events.
//!
//! Input is hostile until checked: bytes from the device or a capture file
//! are validated against the shared ABI (lengths, alignment, variable-tail
//! bounds) and every failure names the byte offset where it happened. Record
//! kinds this collector does not know are returned as [`Event::Unknown`], not
//! dropped, so that a newer module never silently loses data.

use thiserror::Error;
use witness_abi::record::{
    ExecRecord, RecordHeader, RecordKind, RecordPrefix, EXEC_PATH_FROM_ARGUMENT, EXEC_PATH_MAX, EXEC_PATH_TRUNCATED,
    EXEC_RECORD_LEN, RECORD_ALIGN, RECORD_HEADER_LEN, RECORD_MAX_LEN,
};
use zerocopy::FromBytes;

/// Why a buffer of records could not be decoded.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes remain than the record header or body needs.
    #[error("record at byte {offset}: truncated, needs {need} bytes but {have} remain")]
    Truncated {
        /// Offset of the record in the buffer.
        offset: usize,
        /// Bytes the record needs.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// The length field is not a multiple of the record alignment, is smaller
    /// than a header, or exceeds the ABI maximum.
    #[error("record at byte {offset}: invalid length {len} (must be a multiple of {RECORD_ALIGN} between {RECORD_HEADER_LEN} and {RECORD_MAX_LEN})")]
    BadLength {
        /// Offset of the record in the buffer.
        offset: usize,
        /// The length field.
        len: u32,
    },
    /// The record is too short for its kind's fixed body.
    #[error("record at byte {offset}: {kind} record of {len} bytes is shorter than its {need}-byte minimum")]
    ShortBody {
        /// Offset of the record in the buffer.
        offset: usize,
        /// Kind name.
        kind: &'static str,
        /// The length field.
        len: u32,
        /// The minimum length for this kind.
        need: usize,
    },
    /// A variable-length field claims more bytes than the record holds or the
    /// ABI allows.
    #[error("record at byte {offset}: {field} length {len} exceeds the {room} bytes available")]
    BadFieldLength {
        /// Offset of the record in the buffer.
        offset: usize,
        /// Field name.
        field: &'static str,
        /// The claimed length.
        len: u32,
        /// The bytes the record (or the ABI) allows.
        room: usize,
    },
}

/// The common part of every record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    /// CPU whose ring carried the record.
    pub cpu: u32,
    /// Per-CPU sequence number.
    pub seq: u64,
    /// `CLOCK_BOOTTIME` nanoseconds.
    pub ts_ns: u64,
}

/// A program execution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exec {
    /// Common fields.
    pub meta: Meta,
    /// The fixed body as the kernel wrote it (ids, credentials, cgroup, comm).
    pub task: ExecRecord,
    /// Executable path as the kernel saw it (not necessarily UTF-8).
    pub path: Vec<u8>,
}

impl Exec {
    /// Task name after exec: the bytes of `comm` up to the first NUL.
    pub fn comm(&self) -> &[u8] {
        nul_terminated(&self.task.comm)
    }

    /// The path was cut at [`EXEC_PATH_MAX`] bytes.
    pub fn path_truncated(&self) -> bool {
        self.task.flags & EXEC_PATH_TRUNCATED != 0
    }

    /// The path is the `execve` argument, not the resolved file path.
    pub fn path_from_argument(&self) -> bool {
        self.task.flags & EXEC_PATH_FROM_ARGUMENT != 0
    }
}

fn nul_terminated(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    &bytes[..end]
}

/// A decoded record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// `sched_process_exec`.
    Exec(Exec),
    /// A kind this collector does not know (from a newer module).
    Unknown {
        /// Common fields.
        meta: Meta,
        /// The wire kind.
        kind: u16,
    },
}

impl Event {
    /// The common fields.
    pub fn meta(&self) -> &Meta {
        match self {
            Event::Exec(e) => &e.meta,
            Event::Unknown { meta, .. } => meta,
        }
    }

    /// A stable kind name.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Event::Exec(_) => RecordKind::Exec.name(),
            Event::Unknown { .. } => "unknown",
        }
    }
}

/// Iterates over the records in `buf`: whole records back to back, as
/// `read(2)` on the device returns them. Pad records are skipped. After the
/// first error the iterator ends (the rest of the buffer cannot be framed).
pub fn records(buf: &[u8]) -> Records<'_> {
    Records { buf, offset: 0, failed: false }
}

/// Iterator returned by [`records`].
#[derive(Debug)]
pub struct Records<'a> {
    buf: &'a [u8],
    offset: usize,
    failed: bool,
}

impl Iterator for Records<'_> {
    type Item = Result<Event, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.failed && self.offset < self.buf.len() {
            let result = frame(self.buf, self.offset);
            match result {
                Ok((len, event)) => {
                    self.offset += len;
                    if let Some(event) = event {
                        return Some(Ok(event));
                    }
                }
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
        None
    }
}

/// Frames and decodes the record at `offset`: its length and the event (None
/// for pad).
fn frame(buf: &[u8], offset: usize) -> Result<(usize, Option<Event>), DecodeError> {
    let rest = &buf[offset..];
    let (prefix, _) = RecordPrefix::read_from_prefix(rest).map_err(|_| DecodeError::Truncated {
        offset,
        need: size_of::<RecordPrefix>(),
        have: rest.len(),
    })?;
    let len = prefix.len;
    let ulen = usize::try_from(len).unwrap_or(usize::MAX);
    if ulen % RECORD_ALIGN != 0 || ulen < size_of::<RecordPrefix>() || ulen > RECORD_MAX_LEN {
        return Err(DecodeError::BadLength { offset, len });
    }
    if ulen > rest.len() {
        return Err(DecodeError::Truncated { offset, need: ulen, have: rest.len() });
    }
    let record = &rest[..ulen];
    if prefix.kind == RecordKind::Pad as u16 {
        return Ok((ulen, None));
    }
    if ulen < RECORD_HEADER_LEN {
        return Err(DecodeError::BadLength { offset, len });
    }
    decode_one(record, offset).map(|event| (ulen, Some(event)))
}

/// Decodes one framed record (`record.len()` is its length field).
pub fn decode_one(record: &[u8], offset: usize) -> Result<Event, DecodeError> {
    let (header, body) = RecordHeader::read_from_prefix(record).map_err(|_| DecodeError::Truncated {
        offset,
        need: RECORD_HEADER_LEN,
        have: record.len(),
    })?;
    let meta = Meta { cpu: header.cpu, seq: header.seq, ts_ns: header.ts_ns };
    match RecordKind::from_wire(header.kind) {
        Some(RecordKind::Exec) => decode_exec(meta, header.len, body, offset).map(Event::Exec),
        Some(RecordKind::Pad) | None => Ok(Event::Unknown { meta, kind: header.kind }),
    }
}

fn decode_exec(meta: Meta, len: u32, body: &[u8], offset: usize) -> Result<Exec, DecodeError> {
    let (rec, tail) = ExecRecord::read_from_prefix(body).map_err(|_| DecodeError::ShortBody {
        offset,
        kind: "exec",
        len,
        need: RECORD_HEADER_LEN + EXEC_RECORD_LEN,
    })?;
    let path_len = usize::try_from(rec.path_len).unwrap_or(usize::MAX);
    let room = tail.len().min(EXEC_PATH_MAX);
    if path_len > room {
        return Err(DecodeError::BadFieldLength { offset, field: "exec path", len: rec.path_len, room });
    }
    Ok(Exec { meta, task: rec, path: tail[..path_len].to_vec() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use witness_abi::record::record_len;
    use zerocopy::IntoBytes;

    fn exec_bytes(seq: u64, path: &[u8]) -> Vec<u8> {
        let len = record_len(EXEC_RECORD_LEN + path.len());
        let header = RecordHeader {
            len: len as u32,
            kind: RecordKind::Exec as u16,
            cpu: 1,
            seq,
            ts_ns: 42,
            ..Default::default()
        };
        let mut comm = [0u8; 16];
        comm[..4].copy_from_slice(b"true");
        let body = ExecRecord {
            pid: 10,
            tgid: 10,
            ppid: 1,
            uid: 1000,
            euid: 1000,
            gid: 100,
            egid: 100,
            flags: EXEC_PATH_TRUNCATED,
            cgroup_id: 77,
            comm,
            path_len: path.len() as u32,
            reserved: 0,
        };
        let mut out = Vec::new();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(body.as_bytes());
        out.extend_from_slice(path);
        out.resize(len, 0);
        out
    }

    #[test]
    fn decodes_valid_records_and_skips_pad() {
        let mut buf = exec_bytes(5, b"/bin/true");
        buf.extend_from_slice(RecordPrefix { len: 16, kind: 0, flags: 0 }.as_bytes());
        buf.extend_from_slice(&[0; 8]);
        buf.extend(exec_bytes(6, b"/opt/x"));
        let events: Vec<_> = records(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(events.len(), 2);
        let Event::Exec(e) = &events[0] else { panic!() };
        assert_eq!((e.task.pid, e.task.ppid, e.task.uid, e.task.cgroup_id), (10, 1, 1000, 77));
        assert_eq!(e.path, b"/bin/true");
        assert_eq!(e.comm(), b"true");
        assert!(e.path_truncated() && !e.path_from_argument());
        assert_eq!(e.meta, Meta { cpu: 1, seq: 5, ts_ns: 42 });
        assert_eq!(events[1].meta().seq, 6);
    }

    #[test]
    fn unknown_kinds_are_kept() {
        let mut buf = exec_bytes(1, b"/x");
        buf[4] = 0xee; // kind
        let events: Vec<_> = records(&buf).collect::<Result<_, _>>().unwrap();
        assert!(matches!(events[0], Event::Unknown { kind: 0xee, .. }));
    }

    #[test]
    fn malformed_input_names_the_offset() {
        let good = exec_bytes(1, b"/bin/sh");
        let at = good.len();

        // Truncated in the middle of the second record.
        let mut buf = good.clone();
        buf.extend_from_slice(&exec_bytes(2, b"/bin/sh")[..40]);
        let results: Vec<_> = records(&buf).collect();
        assert!(results[0].is_ok());
        assert!(matches!(results[1], Err(DecodeError::Truncated { offset, .. }) if offset == at));

        // Misaligned, too short and too long lengths.
        for bad_len in [0u32, 12, 13, 4104, u32::MAX] {
            let mut buf = good.clone();
            buf.extend_from_slice(&exec_bytes(2, b"/bin/sh"));
            buf[at..at + 4].copy_from_slice(&bad_len.to_ne_bytes());
            let err = records(&buf).nth(1).unwrap().unwrap_err();
            assert!(matches!(err, DecodeError::BadLength { offset, .. } if offset == at), "{bad_len}: {err}");
        }

        // A path length beyond the record.
        let mut buf = exec_bytes(1, b"/bin/sh");
        let path_len_at = RECORD_HEADER_LEN + 56;
        buf[path_len_at..path_len_at + 4].copy_from_slice(&500u32.to_ne_bytes());
        let err = records(&buf).next().unwrap().unwrap_err();
        assert!(matches!(err, DecodeError::BadFieldLength { field: "exec path", .. }));
        assert!(err.to_string().contains("record at byte 0"));

        // An exec record too short for its body.
        let mut buf = exec_bytes(1, b"");
        buf.truncate(RECORD_HEADER_LEN + 8);
        buf[..4].copy_from_slice(&((RECORD_HEADER_LEN + 8) as u32).to_ne_bytes());
        assert!(matches!(records(&buf).next().unwrap(), Err(DecodeError::ShortBody { .. })));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic sweep; the fuzz target does this properly.
        let mut state = 0x1234_5678_u64;
        for _ in 0..20_000 {
            let mut buf = exec_bytes(1, b"/usr/bin/env");
            for _ in 0..4 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let i = (state as usize) % buf.len();
                buf[i] = (state >> 32) as u8;
            }
            let cut = (state as usize >> 8) % (buf.len() + 1);
            for r in records(&buf[..cut]) {
                let _ = r;
            }
        }
    }
}
