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
    /// A variable-length field claims more bytes than remain in the record.
    #[error("record at byte {offset}: {kind} {field} needs {len} bytes but only {room} remain in the record")]
    FieldBeyondRecord {
        /// Offset of the record in the buffer.
        offset: usize,
        /// Kind name.
        kind: &'static str,
        /// The body field that states the length (`path_len`, `nr_entries`, ...).
        field: &'static str,
        /// The bytes the field claims.
        len: usize,
        /// The bytes left in the record.
        room: usize,
    },
    /// A variable-length field is larger than the ABI allows.
    #[error("record at byte {offset}: {kind} {field} is {value}, above the ABI maximum of {max}")]
    FieldAboveMax {
        /// Offset of the record in the buffer.
        offset: usize,
        /// Kind name.
        kind: &'static str,
        /// The body field.
        field: &'static str,
        /// Its value (bytes, or entries for `nr_entries`).
        value: usize,
        /// The ABI maximum, in the same unit.
        max: usize,
    },
    /// A field that must be zero for this kind is not (a second path outside
    /// a rename).
    #[error("record at byte {offset}: {kind} {field} must be 0 for this kind but is {value}")]
    FieldNotZero {
        /// Offset of the record in the buffer.
        offset: usize,
        /// Kind name.
        kind: &'static str,
        /// The body field.
        field: &'static str,
        /// Its value.
        value: usize,
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
        RecordKind::from_wire(self.wire_kind).filter(|_| !matches!(self.body, Body::Unknown))
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

/// The events of a batch in time order (stable: ties keep arrival order),
/// as references. Sorting the 176-byte events themselves moved each one
/// several times, which showed in the profile; most batches are already in
/// order and cost one pass.
pub fn by_time(events: &[Event]) -> Vec<&Event> {
    let mut order: Vec<&Event> = events.iter().collect();
    if !order.is_sorted_by_key(|e| e.meta.ts_ns) {
        order.sort_by_key(|e| e.meta.ts_ns);
    }
    order
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

    /// The next `len` bytes of tail, stated by the body's `field`, which
    /// the ABI bounds by `max`.
    fn tail(&mut self, field: &'static str, len: usize, max: usize) -> Result<&'a [u8], DecodeError> {
        self.at_most(field, len, max)?;
        if len > self.rest.len() {
            return Err(DecodeError::FieldBeyondRecord {
                offset: self.offset,
                kind: self.kind,
                field,
                len,
                room: self.rest.len(),
            });
        }
        let (bytes, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(bytes)
    }

    /// Checks a field against its ABI maximum.
    fn at_most(&self, field: &'static str, value: usize, max: usize) -> Result<(), DecodeError> {
        if value > max {
            return Err(DecodeError::FieldAboveMax { offset: self.offset, kind: self.kind, field, value, max });
        }
        Ok(())
    }

    /// Checks that a field this kind does not use is zero.
    fn zero(&self, field: &'static str, value: usize) -> Result<(), DecodeError> {
        if value != 0 {
            return Err(DecodeError::FieldNotZero { offset: self.offset, kind: self.kind, field, value });
        }
        Ok(())
    }
}

/// Decodes one framed record (`record.len()` is its length field).
pub fn decode_one(record: &[u8], offset: usize) -> Result<Event, DecodeError> {
    decode_with_rest(record, offset).map(|(event, _)| event)
}

/// Decodes one framed record and also returns the bytes after its body and
/// tails: alignment padding, which the module must zero (a test checks it
/// on records the real module wrote; nothing in a record may be left
/// uninitialised).
pub fn decode_with_rest(record: &[u8], offset: usize) -> Result<(Event, &[u8]), DecodeError> {
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
    Ok((Event { meta, wire_kind: header.kind, body }, r.rest))
}

fn decode_body(kind: RecordKind, r: &mut Reader<'_>) -> Result<Body, DecodeError> {
    use RecordKind as K;
    Ok(match kind {
        K::Exec => decode_exec(r)?,
        K::Fork => Body::Fork(r.fixed()?),
        K::Exit => Body::Exit(r.fixed()?),
        K::BprmCheck => {
            let rec: BprmCheckRecord = r.fixed()?;
            let path = r.tail("path_len", usize::from(rec.path_len), EXEC_PATH_MAX)?.to_vec();
            Body::BprmCheck { rec, path }
        }
        K::FileOpen | K::FileCreate | K::FileUnlink | K::FileRename => decode_file(kind, r)?,
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
            let key_type = r.tail("type_len", usize::from(rec.type_len), KEY_STRING_MAX)?.to_vec();
            let description = r.tail("desc_len", usize::from(rec.desc_len), KEY_STRING_MAX)?.to_vec();
            Body::Key { rec, key_type, description }
        }
        K::PacketDrops => decode_packet_drops(r)?,
        // `frame` skips pad records; one passed to `decode_one` has no body.
        K::Pad => Body::Unknown,
    })
}

fn decode_exec(r: &mut Reader<'_>) -> Result<Body, DecodeError> {
    let rec: ExecRecord = r.fixed()?;
    let path = r.tail("path_len", usize::from(rec.path_len), EXEC_PATH_MAX)?.to_vec();
    let argv = r.tail("argv_len", usize::from(rec.argv_len), EXEC_ARGV_MAX)?;
    Ok(Body::Exec { rec, path, argv: split_argv(argv) })
}

fn decode_file(kind: RecordKind, r: &mut Reader<'_>) -> Result<Body, DecodeError> {
    let rec: FileRecord = r.fixed()?;
    let path = r.tail("path_len", usize::from(rec.path_len), FILE_PATH_MAX)?.to_vec();
    // Only a rename has a second path; elsewhere a nonzero length is damage.
    if kind != RecordKind::FileRename {
        r.zero("path2_len", usize::from(rec.path2_len))?;
    }
    let path2 = r.tail("path2_len", usize::from(rec.path2_len), FILE_PATH_MAX)?.to_vec();
    Ok(Body::File { rec, path, path2 })
}

fn decode_packet_drops(r: &mut Reader<'_>) -> Result<Body, DecodeError> {
    const ENTRY: usize = size_of::<DropCount>();
    let rec: PacketDropsRecord = r.fixed()?;
    let n = usize::try_from(rec.nr_entries).unwrap_or(usize::MAX);
    // Checked in entries first, so the byte count below cannot overflow.
    r.at_most("nr_entries", n, PACKET_DROPS_MAX_ENTRIES)?;
    let bytes = r.tail("nr_entries", n * ENTRY, PACKET_DROPS_MAX_ENTRIES * ENTRY)?;
    let entries = bytes.chunks_exact(ENTRY).filter_map(|c| DropCount::read_from_bytes(c).ok()).collect();
    Ok(Body::PacketDrops { rec, entries })
}

/// Splits arguments, each followed by a NUL; a last argument without its NUL
/// (cut) is kept, and so is an empty argument.
fn split_argv(bytes: &[u8]) -> Vec<Vec<u8>> {
    if bytes.is_empty() {
        return Vec::new();
    }
    let bytes = bytes.strip_suffix(&[0]).unwrap_or(bytes);
    bytes.split(|&b| b == 0).map(<[u8]>::to_vec).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(unreachable_pub)]
    use super::*;
    use core::mem::offset_of;
    use witness_abi::record::{
        record_len, NetAddr, EXEC_ARGV_TRUNCATED, EXEC_PATH_TRUNCATED, EXIT_GROUP_DEAD, FILE_PATH_SECRET,
        FILE_PATH_TRUNCATED, KEY_OP_ADD,
    };
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
        t.euid = 1001;
        t.gid = 100;
        t.egid = 101;
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

    /// An address: IPv4 in the first four bytes.
    pub(crate) fn net_addr(addr: &[u8], port: u16) -> NetAddr {
        let mut a = NetAddr::new_zeroed();
        a.addr[..addr.len()].copy_from_slice(addr);
        a.port = port;
        a
    }

    /// The fixed body as bytes, followed by `tail`.
    fn body_with_tail(fixed: &(impl IntoBytes + zerocopy::Immutable), tail: &[&[u8]]) -> Vec<u8> {
        let mut body = fixed.as_bytes().to_vec();
        for t in tail {
            body.extend_from_slice(t);
        }
        body
    }

    /// One record of every kind, with non-zero fields: the record's bytes
    /// (kind, body bytes) and the body it must decode to.
    pub(crate) fn samples() -> Vec<(RecordKind, Vec<u8>, Body)> {
        use RecordKind as K;
        let mut out = Vec::new();

        let mut exec = ExecRecord::new_zeroed();
        exec.task = task();
        exec.flags = EXEC_ARGV_TRUNCATED;
        exec.path_len = 12;
        exec.argv_len = 10;
        exec.argc = 3;
        exec.dev = 0x801;
        exec.ino = 4242;
        exec.mtime_sec = 1_700_000_000;
        let argv = vec![b"env".to_vec(), b"-i".to_vec(), b"cu".to_vec()];
        out.push((
            K::Exec,
            body_with_tail(&exec, &[b"/usr/bin/env", b"env\0-i\0cu"]),
            Body::Exec { rec: exec, path: b"/usr/bin/env".to_vec(), argv },
        ));

        let mut fork = ForkRecord::new_zeroed();
        fork.task = task();
        fork.child_pid = 11;
        fork.child_tgid = 11;
        out.push((K::Fork, fork.as_bytes().to_vec(), Body::Fork(fork)));

        let mut exit = ExitRecord::new_zeroed();
        exit.task = task();
        exit.exit_code = 7 << 8;
        exit.flags = EXIT_GROUP_DEAD;
        out.push((K::Exit, exit.as_bytes().to_vec(), Body::Exit(exit)));

        let mut bprm = BprmCheckRecord::new_zeroed();
        bprm.task = task();
        bprm.verdict = -13;
        bprm.path_len = 7;
        out.push((
            K::BprmCheck,
            body_with_tail(&bprm, &[b"/bin/sh"]),
            Body::BprmCheck { rec: bprm, path: b"/bin/sh".to_vec() },
        ));

        for kind in [K::FileOpen, K::FileCreate, K::FileUnlink, K::FileRename] {
            let mut file = FileRecord::new_zeroed();
            file.task = task();
            file.verdict = -1;
            file.flags = 0o2;
            file.mode = 0o100_600;
            file.path_len = 4;
            file.ino = 99;
            file.path_flags = FILE_PATH_SECRET;
            file.dev = 0x802;
            let path2: &[u8] = if kind == K::FileRename { b"/new" } else { b"" };
            file.path2_len = path2.len() as u16;
            file.path2_flags = if kind == K::FileRename { FILE_PATH_TRUNCATED } else { 0 };
            let body = body_with_tail(&file, &[b"/old", path2]);
            out.push((kind, body, Body::File { rec: file, path: b"/old".to_vec(), path2: path2.to_vec() }));
        }

        for kind in [K::SockConnect, K::SockBind, K::SockListen, K::SockAccept] {
            let mut sock = SockRecord::new_zeroed();
            sock.task = task();
            sock.verdict = if kind == K::SockConnect { -13 } else { 0 };
            sock.arg = if kind == K::SockListen { 128 } else { 0 };
            sock.family = 2;
            sock.sock_type = 1;
            sock.protocol = 6;
            sock.local = net_addr(&[10, 0, 0, 1], 8080);
            sock.remote = net_addr(&[10, 0, 0, 2], 80);
            out.push((kind, sock.as_bytes().to_vec(), Body::Sock(sock)));
        }

        let mut tcp = TcpStateRecord::new_zeroed();
        tcp.sock_id = 0xdead_beef_0000_0001;
        tcp.old_state = 2;
        tcp.new_state = 1;
        tcp.family = 10;
        tcp.local = net_addr(&[0; 16], 5000);
        tcp.remote = net_addr(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 443);
        out.push((K::TcpState, tcp.as_bytes().to_vec(), Body::TcpState(tcp)));

        let mut cred = CredRecord::new_zeroed();
        cred.task = task();
        cred.new_uid = 0;
        cred.new_euid = 0;
        cred.new_gid = 5;
        cred.new_egid = 6;
        cred.old_cap_effective = 0;
        cred.new_cap_effective = 1 << 21;
        cred.old_cap_permitted = 1;
        cred.new_cap_permitted = (1 << 21) | 1;
        out.push((K::CredChange, cred.as_bytes().to_vec(), Body::Cred(cred)));

        let mut cap = CapRecord::new_zeroed();
        cap.task = task();
        cap.cap = 21;
        cap.verdict = -1;
        cap.opts = 2;
        out.push((K::CapDenied, cap.as_bytes().to_vec(), Body::Cap(cap)));

        let mut ns = NsRecord::new_zeroed();
        ns.task = task();
        ns.changed = 0b101;
        ns.old_ns = [1, 2, 3, 4, 5, 6, 7, 0];
        ns.new_ns = [11, 2, 13, 4, 5, 6, 7, 0];
        out.push((K::NsChange, ns.as_bytes().to_vec(), Body::Ns(ns)));

        let mut module = ModuleRecord::new_zeroed();
        module.task = task();
        module.taints = 1 << 12;
        module.name[..7].copy_from_slice(b"testmod");
        out.push((K::ModuleLoad, module.as_bytes().to_vec(), Body::Module(module)));

        let mut bpf = BpfRecord::new_zeroed();
        bpf.task = task();
        bpf.prog_type = 1;
        bpf.insn_cnt = 2;
        bpf.name[..5].copy_from_slice(b"probe");
        out.push((K::BpfProgLoad, bpf.as_bytes().to_vec(), Body::Bpf(bpf)));

        let mut ptrace = PtraceRecord::new_zeroed();
        ptrace.task = task();
        ptrace.verdict = -1;
        ptrace.mode = 0x12;
        ptrace.target_tgid = 555;
        ptrace.target_uid = 1000;
        out.push((K::PtraceAttach, ptrace.as_bytes().to_vec(), Body::Ptrace(ptrace)));

        let mut drops = PacketDropsRecord::new_zeroed();
        drops.interval_ns = 1_000_000_000;
        drops.total = 5;
        drops.nr_entries = 2;
        let entries = vec![DropCount { reason: 2, count: 4 }, DropCount { reason: 7, count: 1 }];
        let body = body_with_tail(&drops, &[entries[0].as_bytes(), entries[1].as_bytes()]);
        out.push((K::PacketDrops, body, Body::PacketDrops { rec: drops, entries }));

        let mut key = KeyRecord::new_zeroed();
        key.task = task();
        key.op = KEY_OP_ADD;
        key.type_len = 4;
        key.desc_len = 8;
        let body = body_with_tail(&key, &[b"user", b"api-key1"]);
        out.push((
            K::KeyAccess,
            body,
            Body::Key { rec: key, key_type: b"user".to_vec(), description: b"api-key1".to_vec() },
        ));
        out
    }

    #[test]
    fn samples_cover_every_kind() {
        let kinds: Vec<RecordKind> = samples().iter().map(|(k, _, _)| *k).collect();
        let expected: Vec<RecordKind> = RecordKind::ALL.iter().copied().filter(|k| *k != RecordKind::Pad).collect();
        assert_eq!(kinds, expected);
    }

    #[test]
    fn every_kind_round_trips() {
        for (i, (kind, body, expected)) in samples().into_iter().enumerate() {
            let bytes = record(kind, i as u64, &body);
            let event = decode_one(&bytes, 0).unwrap_or_else(|e| panic!("{kind:?}: {e}"));
            assert_eq!(event.body, expected, "{kind:?}");
            assert_eq!(event.kind(), Some(kind));
            assert_eq!(event.kind_name(), kind.name());
            assert_eq!(event.meta, Meta { cpu: 1, seq: i as u64, ts_ns: 42 });
            let has_task = !matches!(kind, RecordKind::TcpState | RecordKind::PacketDrops);
            assert_eq!(event.task() == Some(&task()), has_task, "{kind:?}");
        }
    }

    #[test]
    fn every_kind_rejects_a_short_body() {
        for (kind, body, _) in samples() {
            let fixed = fixed_len(kind);
            // Eight bytes short of the fixed body, framed validly.
            let err = decode_one(&record(kind, 1, &body[..fixed - 8]), 0).unwrap_err();
            assert_eq!(
                err,
                DecodeError::ShortBody {
                    offset: 0,
                    kind: kind.name(),
                    len: record_len(fixed - 8) as u32,
                    need: RECORD_HEADER_LEN + fixed
                },
                "{kind:?}"
            );
        }
    }

    fn fixed_len(kind: RecordKind) -> usize {
        use RecordKind as K;
        match kind {
            K::Exec => size_of::<ExecRecord>(),
            K::Fork => size_of::<ForkRecord>(),
            K::Exit => size_of::<ExitRecord>(),
            K::BprmCheck => size_of::<BprmCheckRecord>(),
            K::FileOpen | K::FileCreate | K::FileUnlink | K::FileRename => size_of::<FileRecord>(),
            K::SockConnect | K::SockBind | K::SockListen | K::SockAccept => size_of::<SockRecord>(),
            K::TcpState => size_of::<TcpStateRecord>(),
            K::CredChange => size_of::<CredRecord>(),
            K::CapDenied => size_of::<CapRecord>(),
            K::NsChange => size_of::<NsRecord>(),
            K::ModuleLoad => size_of::<ModuleRecord>(),
            K::BpfProgLoad => size_of::<BpfRecord>(),
            K::PtraceAttach => size_of::<PtraceRecord>(),
            K::KeyAccess => size_of::<KeyRecord>(),
            K::PacketDrops => size_of::<PacketDropsRecord>(),
            K::Pad => 0,
        }
    }

    /// A variable-length field: its kind, name, byte offset in the body,
    /// and ABI maximum.
    const LENGTH_FIELDS: &[(RecordKind, &str, usize, usize)] = &[
        (RecordKind::Exec, "path_len", offset_of!(ExecRecord, path_len), EXEC_PATH_MAX),
        (RecordKind::Exec, "argv_len", offset_of!(ExecRecord, argv_len), EXEC_ARGV_MAX),
        (RecordKind::BprmCheck, "path_len", offset_of!(BprmCheckRecord, path_len), EXEC_PATH_MAX),
        (RecordKind::FileOpen, "path_len", offset_of!(FileRecord, path_len), FILE_PATH_MAX),
        (RecordKind::FileRename, "path_len", offset_of!(FileRecord, path_len), FILE_PATH_MAX),
        (RecordKind::FileRename, "path2_len", offset_of!(FileRecord, path2_len), FILE_PATH_MAX),
        (RecordKind::KeyAccess, "type_len", offset_of!(KeyRecord, type_len), KEY_STRING_MAX),
        (RecordKind::KeyAccess, "desc_len", offset_of!(KeyRecord, desc_len), KEY_STRING_MAX),
        (RecordKind::PacketDrops, "nr_entries", offset_of!(PacketDropsRecord, nr_entries), PACKET_DROPS_MAX_ENTRIES),
    ];

    /// The sample of `kind`, preceded by a good record, with the field at
    /// `at` set to `value` (as wide as the field: u32 for nr_entries).
    fn sample_with(kind: RecordKind, field: &str, at: usize, value: usize) -> (usize, Vec<u8>) {
        let (_, mut body, _) = samples().into_iter().find(|(k, _, _)| *k == kind).unwrap();
        if field == "nr_entries" {
            body[at..at + 4].copy_from_slice(&(value as u32).to_ne_bytes());
        } else {
            body[at..at + 2].copy_from_slice(&(value as u16).to_ne_bytes());
        }
        let mut buf = exec_bytes(1, b"/bin/sh", b"sh\0");
        let offset = buf.len();
        buf.extend(record(kind, 2, &body));
        (offset, buf)
    }

    #[test]
    fn lengths_above_the_abi_maximum_are_rejected() {
        for &(kind, field, at, max) in LENGTH_FIELDS {
            let (offset, buf) = sample_with(kind, field, at, max + 1);
            let results: Vec<_> = records(&buf).collect();
            assert!(results[0].is_ok());
            let err = results.into_iter().nth(1).unwrap().unwrap_err();
            assert_eq!(
                err,
                DecodeError::FieldAboveMax { offset, kind: kind.name(), field, value: max + 1, max },
                "{kind:?} {field}"
            );
            let text = err.to_string();
            assert!(text.starts_with(&format!("record at byte {offset}: {} {field}", kind.name())), "{text}");
        }
    }

    #[test]
    fn lengths_beyond_the_record_are_rejected() {
        for &(kind, field, at, max) in LENGTH_FIELDS {
            // Within the ABI maximum, but more than the sample's record holds.
            let (offset, buf) = sample_with(kind, field, at, max);
            let err = records(&buf).nth(1).unwrap().unwrap_err();
            assert!(
                matches!(err, DecodeError::FieldBeyondRecord { offset: o, kind: k, field: f, .. }
                    if o == offset && k == kind.name() && f == field),
                "{kind:?} {field}: {err}"
            );
        }
    }

    #[test]
    fn a_second_path_outside_a_rename_is_rejected() {
        let at = offset_of!(FileRecord, path2_len);
        for kind in [RecordKind::FileOpen, RecordKind::FileCreate, RecordKind::FileUnlink] {
            let (offset, buf) = sample_with(kind, "path2_len", at, 4);
            let err = records(&buf).nth(1).unwrap().unwrap_err();
            assert_eq!(err, DecodeError::FieldNotZero { offset, kind: kind.name(), field: "path2_len", value: 4 });
        }
    }

    #[test]
    fn decodes_exec_with_path_and_argv() {
        let mut buf = exec_bytes(5, b"/bin/true", b"true\0--version\0");
        buf.extend_from_slice(RecordPrefix { len: 16, kind: 0, flags: 0 }.as_bytes());
        buf.extend_from_slice(&[0; 8]);
        buf.extend(exec_bytes(6, b"/opt/x", b"x\0cut"));
        buf.extend(exec_bytes(7, b"/opt/y", b"\0"));
        buf.extend(exec_bytes(8, b"/opt/z", b""));
        let events: Vec<_> = records(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(events.len(), 4);
        let Body::Exec { rec, path, argv } = &events[0].body else { panic!() };
        assert_eq!((rec.task.pid, rec.task.ppid, rec.task.uid, rec.task.cgroup_id), (10, 1, 1000, 77));
        assert_eq!(path, b"/bin/true");
        assert_eq!(argv, &[b"true".to_vec(), b"--version".to_vec()]);
        assert_eq!(events[0].meta, Meta { cpu: 1, seq: 5, ts_ns: 42 });
        assert_eq!(events[0].kind_name(), "exec");
        let argvs: Vec<&Vec<Vec<u8>>> =
            events[1..].iter().map(|e| if let Body::Exec { argv, .. } = &e.body { argv } else { panic!() }).collect();
        // A cut last argument, one empty argument, no arguments.
        assert_eq!(argvs, [&vec![b"x".to_vec(), b"cut".to_vec()], &vec![Vec::new()], &Vec::new()]);
    }

    #[test]
    fn unknown_kinds_are_kept() {
        let mut buf = exec_bytes(1, b"/x", b"");
        buf[4] = 0xee; // kind
        let events: Vec<_> = records(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(events[0].body, Body::Unknown);
        assert_eq!(events[0].wire_kind, 0xee);
        assert_eq!(events[0].kind(), None);
        assert_eq!(events[0].kind_name(), "unknown");
        assert_eq!(events[0].task(), None);
    }

    #[test]
    fn malformed_framing_names_the_offset() {
        let good = exec_bytes(1, b"/bin/sh", b"sh\0");
        let at = good.len();

        let mut buf = good.clone();
        buf.extend_from_slice(&exec_bytes(2, b"/bin/sh", b"")[..40]);
        let results: Vec<_> = records(&buf).collect();
        assert!(results[0].is_ok());
        assert!(matches!(results[1], Err(DecodeError::Truncated { offset, .. }) if offset == at));
        assert_eq!(results.len(), 2, "the iterator ends after an error");

        for bad_len in [0u32, 12, 13, 4104, u32::MAX] {
            let mut buf = good.clone();
            buf.extend_from_slice(&exec_bytes(2, b"/bin/sh", b""));
            buf[at..at + 4].copy_from_slice(&bad_len.to_ne_bytes());
            let err = records(&buf).nth(1).unwrap().unwrap_err();
            assert!(matches!(err, DecodeError::BadLength { offset, .. } if offset == at), "{bad_len}: {err}");
        }

        // A non-pad record shorter than a header.
        let mut buf = good.clone();
        buf.extend_from_slice(RecordPrefix { len: 16, kind: RecordKind::Fork as u16, flags: 0 }.as_bytes());
        buf.extend_from_slice(&[0; 8]);
        let err = records(&buf).nth(1).unwrap().unwrap_err();
        assert_eq!(err, DecodeError::BadLength { offset: at, len: 16 });
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic sweep over every kind; fuzzing does it properly.
        let mut state = 0x1234_5678_u64;
        let bodies: Vec<Vec<u8>> = samples().into_iter().map(|(kind, body, _)| record(kind, 1, &body)).collect();
        for round in 0..40_000u32 {
            let mut buf = bodies[round as usize % bodies.len()].clone();
            if round % 3 == 0 {
                buf[4] = (round % 24) as u8;
            }
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
