//! Decoding of record bytes into typed events.
//!
//! Input is hostile until checked: bytes from the device or a capture file
//! are validated against the shared ABI (lengths, alignment, every
//! variable-length field against the bytes present and the ABI maxima) and
//! every failure names the byte offset of the record and the field. Record
//! kinds this collector does not know are returned as [`Body::Unknown`], not
//! dropped, so that a newer module never silently loses data.
//!
//! Fixed bodies are kept as the ABI structs the kernel wrote; only the
//! variable tails (paths, arguments, key strings, drop counts) are copied out.

use thiserror::Error;
use witness_abi::record::{
    BpfRecord, BprmCheckRecord, CapRecord, CredRecord, DropCount, ExecRecord, ExitRecord, FileRecord, ForkRecord,
    KeyRecord, ModuleRecord, NsRecord, PacketDropsRecord, PtraceRecord, RecordHeader, RecordKind, RecordPrefix,
    SockRecord, TaskContext, TcpStateRecord, EXEC_ARGV_MAX, EXEC_PATH_MAX, FILE_PATH_MAX, KEY_STRING_MAX,
    PACKET_DROPS_MAX_ENTRIES, RECORD_ALIGN, RECORD_HEADER_LEN, RECORD_MAX_LEN,
};
use zerocopy::FromBytes;

/// Why a buffer of records could not be decoded.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes remain than the record needs.
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

/// A decoded record: its header fields, kind and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Common fields.
    pub meta: Meta,
    /// The wire kind (also for kinds this collector does not know).
    pub wire_kind: u16,
    /// The kind-specific contents.
    pub body: Body,
}

/// Kind-specific contents of a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// [`RecordKind::Exec`].
    Exec {
        /// Fixed body.
        rec: ExecRecord,
        /// Executable path.
        path: Vec<u8>,
        /// Arguments (the last may be cut, see `EXEC_ARGV_TRUNCATED`).
        argv: Vec<Vec<u8>>,
    },
    /// [`RecordKind::Fork`].
    Fork(ForkRecord),
    /// [`RecordKind::Exit`].
    Exit(ExitRecord),
    /// [`RecordKind::BprmCheck`].
    BprmCheck {
        /// Fixed body.
        rec: BprmCheckRecord,
        /// Program path.
        path: Vec<u8>,
    },
    /// The file kinds (open, create, unlink, rename).
    File {
        /// Fixed body.
        rec: FileRecord,
        /// The path.
        path: Vec<u8>,
        /// Rename: the new path; otherwise empty.
        path2: Vec<u8>,
    },
    /// The socket kinds (connect, bind, listen, accept).
    Sock(SockRecord),
    /// [`RecordKind::TcpState`].
    TcpState(TcpStateRecord),
    /// [`RecordKind::CredChange`].
    Cred(CredRecord),
    /// [`RecordKind::CapDenied`].
    Cap(CapRecord),
    /// [`RecordKind::NsChange`].
    Ns(NsRecord),
    /// [`RecordKind::ModuleLoad`].
    Module(ModuleRecord),
    /// [`RecordKind::BpfProgLoad`].
    Bpf(BpfRecord),
    /// [`RecordKind::PtraceAttach`].
    Ptrace(PtraceRecord),
    /// [`RecordKind::KeyAccess`].
    Key {
        /// Fixed body.
        rec: KeyRecord,
        /// Key type.
        key_type: Vec<u8>,
        /// Key description.
        description: Vec<u8>,
    },
    /// [`RecordKind::PacketDrops`].
    PacketDrops {
        /// Fixed body.
        rec: PacketDropsRecord,
        /// Counts per drop reason.
        entries: Vec<DropCount>,
    },
    /// A kind this collector does not know (from a newer module).
    Unknown,
}

impl Event {
    /// The common fields.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// The kind, if this collector knows it.
    pub fn kind(&self) -> Option<RecordKind> {
        RecordKind::from_wire(self.wire_kind).filter(|_| self.body != Body::Unknown)
    }

    /// A stable kind name ("unknown" for kinds from a newer module).
    pub fn kind_name(&self) -> &'static str {
        self.kind().map_or("unknown", RecordKind::name)
    }

    /// The task the record is about, for kinds that name one.
    pub fn task(&self) -> Option<&TaskContext> {
        Some(match &self.body {
            Body::Exec { rec, .. } => &rec.task,
            Body::Fork(r) => &r.task,
            Body::Exit(r) => &r.task,
            Body::BprmCheck { rec, .. } => &rec.task,
            Body::File { rec, .. } => &rec.task,
            Body::Sock(r) => &r.task,
            Body::Cred(r) => &r.task,
            Body::Cap(r) => &r.task,
            Body::Ns(r) => &r.task,
            Body::Module(r) => &r.task,
            Body::Bpf(r) => &r.task,
            Body::Ptrace(r) => &r.task,
            Body::Key { rec, .. } => &rec.task,
            Body::TcpState(_) | Body::PacketDrops { .. } | Body::Unknown => return None,
        })
    }
}

/// The bytes of a NUL-padded field up to the first NUL.
pub fn nul_terminated(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    &bytes[..end]
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
            match frame(self.buf, self.offset) {
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
    if prefix.kind == RecordKind::Pad as u16 {
        return Ok((ulen, None));
    }
    if ulen < RECORD_HEADER_LEN {
        return Err(DecodeError::BadLength { offset, len });
    }
    decode_one(&rest[..ulen], offset).map(|event| (ulen, Some(event)))
}

/// Reads the fixed body and then the tails of one record.
struct Reader<'a> {
    rest: &'a [u8],
    offset: usize,
    kind: &'static str,
    len: u32,
}

impl<'a> Reader<'a> {
    /// The fixed body `T`.
    fn fixed<T: FromBytes + zerocopy::KnownLayout + zerocopy::Immutable>(&mut self) -> Result<T, DecodeError> {
        let (value, rest) = T::read_from_prefix(self.rest).map_err(|_| DecodeError::ShortBody {
            offset: self.offset,
            kind: self.kind,
            len: self.len,
            need: RECORD_HEADER_LEN + size_of::<T>(),
        })?;
        self.rest = rest;
        Ok(value)
    }

    /// A tail of `len` bytes, at most `max`.
    fn tail(&mut self, field: &'static str, len: usize, max: usize) -> Result<&'a [u8], DecodeError> {
        let room = self.rest.len().min(max);
        if len > room {
            return Err(DecodeError::BadFieldLength {
                offset: self.offset,
                field,
                len: u32::try_from(len).unwrap_or(u32::MAX),
                room,
            });
        }
        let (bytes, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(bytes)
    }
}

/// Decodes one framed record (`record.len()` is its length field).
pub fn decode_one(record: &[u8], offset: usize) -> Result<Event, DecodeError> {
    let (header, rest) = RecordHeader::read_from_prefix(record).map_err(|_| DecodeError::Truncated {
        offset,
        need: RECORD_HEADER_LEN,
        have: record.len(),
    })?;
    let meta = Meta { cpu: header.cpu, seq: header.seq, ts_ns: header.ts_ns };
    let kind = RecordKind::from_wire(header.kind);
    let mut r = Reader { rest, offset, kind: kind.map_or("unknown", RecordKind::name), len: header.len };
    let body = match kind {
        Some(kind) => decode_body(kind, &mut r)?,
        None => Body::Unknown,
    };
    Ok(Event { meta, wire_kind: header.kind, body })
}

fn decode_body(kind: RecordKind, r: &mut Reader<'_>) -> Result<Body, DecodeError> {
    use RecordKind as K;
    Ok(match kind {
        K::Exec => {
            let rec: ExecRecord = r.fixed()?;
            let path = r.tail("exec path", usize::from(rec.path_len), EXEC_PATH_MAX)?.to_vec();
            let argv = r.tail("exec argv", usize::from(rec.argv_len), EXEC_ARGV_MAX)?;
            Body::Exec { rec, path, argv: split_argv(argv) }
        }
        K::Fork => Body::Fork(r.fixed()?),
        K::Exit => Body::Exit(r.fixed()?),
        K::BprmCheck => {
            let rec: BprmCheckRecord = r.fixed()?;
            let path = r.tail("bprm_check path", usize::from(rec.path_len), EXEC_PATH_MAX)?.to_vec();
            Body::BprmCheck { rec, path }
        }
        K::FileOpen | K::FileCreate | K::FileUnlink | K::FileRename => {
            let rec: FileRecord = r.fixed()?;
            let path = r.tail("file path", usize::from(rec.path_len), FILE_PATH_MAX)?.to_vec();
            let path2 = r.tail("file path2", usize::from(rec.path2_len), FILE_PATH_MAX)?.to_vec();
            Body::File { rec, path, path2 }
        }
        K::SockConnect | K::SockBind | K::SockListen | K::SockAccept => Body::Sock(r.fixed()?),
        K::TcpState => Body::TcpState(r.fixed()?),
        K::CredChange => Body::Cred(r.fixed()?),
        K::CapDenied => Body::Cap(r.fixed()?),
        K::NsChange => Body::Ns(r.fixed()?),
        K::ModuleLoad => Body::Module(r.fixed()?),
        K::BpfProgLoad => Body::Bpf(r.fixed()?),
        K::PtraceAttach => Body::Ptrace(r.fixed()?),
        K::KeyAccess => {
            let rec: KeyRecord = r.fixed()?;
            let key_type = r.tail("key type", usize::from(rec.type_len), KEY_STRING_MAX)?.to_vec();
            let description = r.tail("key description", usize::from(rec.desc_len), KEY_STRING_MAX)?.to_vec();
            Body::Key { rec, key_type, description }
        }
        K::PacketDrops => {
            let rec: PacketDropsRecord = r.fixed()?;
            let n = usize::try_from(rec.nr_entries).unwrap_or(usize::MAX);
            let bytes = r.tail(
                "packet drop entries",
                n.saturating_mul(size_of::<DropCount>()),
                PACKET_DROPS_MAX_ENTRIES * size_of::<DropCount>(),
            )?;
            let entries =
                bytes.chunks_exact(size_of::<DropCount>()).filter_map(|c| DropCount::read_from_bytes(c).ok()).collect();
            Body::PacketDrops { rec, entries }
        }
        K::Pad => Body::Unknown,
    })
}

/// Splits NUL-terminated arguments; a last argument without its NUL (cut)
/// is kept.
fn split_argv(bytes: &[u8]) -> Vec<Vec<u8>> {
    let bytes = bytes.strip_suffix(&[0]).unwrap_or(bytes);
    if bytes.is_empty() {
        return Vec::new();
    }
    bytes.split(|&b| b == 0).map(<[u8]>::to_vec).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(unreachable_pub)]
    use super::*;
    use witness_abi::record::{record_len, NetAddr, EXEC_PATH_TRUNCATED};
    use zerocopy::{FromZeros, IntoBytes};

    /// Frames `body` bytes as a record of `kind`.
    pub(crate) fn record(kind: RecordKind, seq: u64, body: &[u8]) -> Vec<u8> {
        let len = record_len(body.len());
        let header = RecordHeader { len: len as u32, kind: kind as u16, cpu: 1, seq, ts_ns: 42, ..Default::default() };
        let mut out = header.as_bytes().to_vec();
        out.extend_from_slice(body);
        out.resize(len, 0);
        out
    }

    pub(crate) fn task() -> TaskContext {
        let mut t = TaskContext::new_zeroed();
        t.pid = 10;
        t.tgid = 10;
        t.ppid = 1;
        t.uid = 1000;
        t.cgroup_id = 77;
        t.comm[..4].copy_from_slice(b"true");
        t
    }

    pub(crate) fn exec_bytes(seq: u64, path: &[u8], argv: &[u8]) -> Vec<u8> {
        let mut rec = ExecRecord::new_zeroed();
        rec.task = task();
        rec.flags = EXEC_PATH_TRUNCATED;
        rec.path_len = path.len() as u16;
        rec.argv_len = argv.len() as u16;
        rec.argc = 2;
        let mut body = rec.as_bytes().to_vec();
        body.extend_from_slice(path);
        body.extend_from_slice(argv);
        record(RecordKind::Exec, seq, &body)
    }

    #[test]
    fn decodes_exec_with_path_and_argv() {
        let mut buf = exec_bytes(5, b"/bin/true", b"true\0--version\0");
        buf.extend_from_slice(RecordPrefix { len: 16, kind: 0, flags: 0 }.as_bytes());
        buf.extend_from_slice(&[0; 8]);
        buf.extend(exec_bytes(6, b"/opt/x", b"x\0cut"));
        let events: Vec<_> = records(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(events.len(), 2);
        let Body::Exec { rec, path, argv } = &events[0].body else { panic!() };
        assert_eq!((rec.task.pid, rec.task.ppid, rec.task.uid, rec.task.cgroup_id), (10, 1, 1000, 77));
        assert_eq!(path, b"/bin/true");
        assert_eq!(argv, &[b"true".to_vec(), b"--version".to_vec()]);
        assert_eq!(events[0].meta, Meta { cpu: 1, seq: 5, ts_ns: 42 });
        assert_eq!(events[0].kind_name(), "exec");
        let Body::Exec { argv, .. } = &events[1].body else { panic!() };
        assert_eq!(argv, &[b"x".to_vec(), b"cut".to_vec()]);
    }

    #[test]
    fn decodes_every_fixed_kind() {
        let mut sock = SockRecord::new_zeroed();
        sock.task = task();
        sock.family = 2;
        sock.remote = NetAddr { addr: [127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], port: 80, reserved: 0 };
        let cases: Vec<(RecordKind, Vec<u8>)> = vec![
            (RecordKind::Fork, ForkRecord::new_zeroed().as_bytes().to_vec()),
            (RecordKind::Exit, ExitRecord::new_zeroed().as_bytes().to_vec()),
            (RecordKind::SockConnect, sock.as_bytes().to_vec()),
            (RecordKind::TcpState, TcpStateRecord::new_zeroed().as_bytes().to_vec()),
            (RecordKind::CredChange, CredRecord::new_zeroed().as_bytes().to_vec()),
            (RecordKind::CapDenied, CapRecord::new_zeroed().as_bytes().to_vec()),
            (RecordKind::NsChange, NsRecord::new_zeroed().as_bytes().to_vec()),
            (RecordKind::ModuleLoad, ModuleRecord::new_zeroed().as_bytes().to_vec()),
            (RecordKind::BpfProgLoad, BpfRecord::new_zeroed().as_bytes().to_vec()),
            (RecordKind::PtraceAttach, PtraceRecord::new_zeroed().as_bytes().to_vec()),
        ];
        for (kind, body) in cases {
            let bytes = record(kind, 1, &body);
            let event = decode_one(&bytes, 0).unwrap();
            assert_eq!(event.kind(), Some(kind));
            // One byte short of the fixed body is an error naming the kind.
            let short = record(kind, 1, &body[..body.len() - 8]);
            let err = decode_one(&short, 0).unwrap_err();
            assert!(matches!(err, DecodeError::ShortBody { kind: k, .. } if k == kind.name()), "{kind:?}: {err}");
        }
    }

    #[test]
    fn decodes_tails_of_file_key_and_drop_records() {
        let mut file = FileRecord::new_zeroed();
        file.path_len = 4;
        file.path2_len = 4;
        let mut body = file.as_bytes().to_vec();
        body.extend_from_slice(b"/old/new");
        let e = decode_one(&record(RecordKind::FileRename, 1, &body), 0).unwrap();
        assert_eq!(e.body, Body::File { rec: file, path: b"/old".to_vec(), path2: b"/new".to_vec() });

        let mut key = KeyRecord::new_zeroed();
        key.type_len = 4;
        key.desc_len = 2;
        let mut body = key.as_bytes().to_vec();
        body.extend_from_slice(b"userab");
        let e = decode_one(&record(RecordKind::KeyAccess, 1, &body), 0).unwrap();
        assert_eq!(e.body, Body::Key { rec: key, key_type: b"user".to_vec(), description: b"ab".to_vec() });

        let mut drops = PacketDropsRecord::new_zeroed();
        drops.nr_entries = 2;
        drops.total = 5;
        let mut body = drops.as_bytes().to_vec();
        body.extend_from_slice(DropCount { reason: 2, count: 4 }.as_bytes());
        body.extend_from_slice(DropCount { reason: 7, count: 1 }.as_bytes());
        let e = decode_one(&record(RecordKind::PacketDrops, 1, &body), 0).unwrap();
        let Body::PacketDrops { entries, .. } = e.body else { panic!() };
        assert_eq!(entries, [DropCount { reason: 2, count: 4 }, DropCount { reason: 7, count: 1 }]);

        // A count beyond the ABI maximum is rejected, not allocated.
        let mut drops = PacketDropsRecord::new_zeroed();
        drops.nr_entries = u32::MAX;
        let err = decode_one(&record(RecordKind::PacketDrops, 1, drops.as_bytes()), 0).unwrap_err();
        assert!(matches!(err, DecodeError::BadFieldLength { field: "packet drop entries", .. }));
    }

    #[test]
    fn unknown_kinds_are_kept() {
        let mut buf = exec_bytes(1, b"/x", b"");
        buf[4] = 0xee; // kind
        let events: Vec<_> = records(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(events[0].body, Body::Unknown);
        assert_eq!(events[0].wire_kind, 0xee);
        assert_eq!(events[0].kind_name(), "unknown");
    }

    #[test]
    fn malformed_input_names_the_offset() {
        let good = exec_bytes(1, b"/bin/sh", b"sh\0");
        let at = good.len();

        let mut buf = good.clone();
        buf.extend_from_slice(&exec_bytes(2, b"/bin/sh", b"")[..40]);
        let results: Vec<_> = records(&buf).collect();
        assert!(results[0].is_ok());
        assert!(matches!(results[1], Err(DecodeError::Truncated { offset, .. }) if offset == at));

        for bad_len in [0u32, 12, 13, 4104, u32::MAX] {
            let mut buf = good.clone();
            buf.extend_from_slice(&exec_bytes(2, b"/bin/sh", b""));
            buf[at..at + 4].copy_from_slice(&bad_len.to_ne_bytes());
            let err = records(&buf).nth(1).unwrap().unwrap_err();
            assert!(matches!(err, DecodeError::BadLength { offset, .. } if offset == at), "{bad_len}: {err}");
        }

        // A path length beyond the record.
        let mut buf = exec_bytes(1, b"/bin/sh", b"");
        let path_len_at = RECORD_HEADER_LEN + 60;
        buf[path_len_at..path_len_at + 2].copy_from_slice(&500u16.to_ne_bytes());
        let err = records(&buf).next().unwrap().unwrap_err();
        assert!(matches!(err, DecodeError::BadFieldLength { field: "exec path", .. }), "{err}");
        assert!(err.to_string().contains("record at byte 0"));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic sweep over every kind; fuzzing does it properly.
        let mut state = 0x1234_5678_u64;
        for round in 0..40_000u32 {
            let mut buf = exec_bytes(1, b"/usr/bin/env", b"env\0");
            buf[4] = (round % 24) as u8;
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
