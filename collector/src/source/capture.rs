//! Capture files: what `witness record` writes and `witness replay` reads.
//!
//! A capture is a fixed header followed by records exactly as `read(2)` on
//! the device returns them (whole records back to back, framed by their own
//! lengths), so tests and benchmarks can run the collector on what the real
//! module produced.
//!
//! ```text
//! offset 0   magic "WITNESS-CAPTURE\0" (16 bytes)
//!        16  format version (u32, little-endian)
//!        20  ABI version of the records (u32, little-endian)
//!        24  byte-order mark 0x01020304 in the records' (native) order
//!        28  reserved, zero (u32)
//!        32  CLOCK_REALTIME - CLOCK_BOOTTIME at capture time, ns (i64, little-endian)
//!        40  kernel release, NUL-padded (64 bytes)
//!        104 host name, NUL-padded (64 bytes)
//!        168 records...
//! ```
//!
//! Reading is hostile-input safe: a wrong magic, version, byte order or a
//! truncated header is an error naming the file and what is wrong; records
//! are decoded by [`crate::source::decode`], whose errors name their offset, and a
//! record cut by the end of the file is reported, not silently dropped.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;
use witness_abi::ioctl::ABI_VERSION;
use witness_abi::record::{RecordPrefix, RECORD_MAX_LEN};
use zerocopy::FromBytes;

use crate::source::decode::{self, DecodeError, Event};

/// The first 16 bytes of every capture.
pub const MAGIC: &[u8; 16] = b"WITNESS-CAPTURE\0";
/// The capture format this collector writes and reads.
pub const FORMAT_VERSION: u32 = 1;
const BYTE_ORDER_MARK: u32 = 0x0102_0304;
/// Bytes in the header.
pub const HEADER_LEN: usize = 168;

/// Why a capture cannot be read or written.
#[derive(Debug, Error)]
pub enum CaptureError {
    /// An I/O error.
    #[error("{path}: {source}")]
    Io {
        /// The capture file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The file is not a capture, or a damaged one.
    #[error("{path}: not a witness capture: {what}")]
    BadHeader {
        /// The capture file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// A record is malformed.
    #[error("{path}: {source} (file offset {file_offset})")]
    Record {
        /// The capture file.
        path: PathBuf,
        /// Offset of the chunk in the file the error is relative to.
        file_offset: u64,
        /// The decoding error.
        source: DecodeError,
    },
}

/// What the header says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureInfo {
    /// ABI version of the records.
    pub abi_version: u32,
    /// `CLOCK_REALTIME - CLOCK_BOOTTIME` when the capture was made, in ns.
    pub boot_to_unix_ns: i64,
    /// Kernel release of the captured host.
    pub kernel: String,
    /// Host name of the captured host.
    pub host: String,
}

fn padded(s: &str) -> [u8; 64] {
    let mut out = [0u8; 64];
    let n = s.len().min(63);
    out[..n].copy_from_slice(&s.as_bytes()[..n]);
    out
}

fn unpadded(b: &[u8]) -> String {
    String::from_utf8_lossy(decode::nul_terminated(b)).into_owned()
}

/// Writes a capture.
#[derive(Debug)]
pub struct CaptureWriter {
    out: BufWriter<File>,
    path: PathBuf,
}

impl CaptureWriter {
    /// Creates `path` and writes the header.
    pub fn create(path: &Path, info: &CaptureInfo) -> Result<Self, CaptureError> {
        let io_err = |source| CaptureError::Io { path: path.into(), source };
        // Readable by its owner only, as the evidence log: a capture holds
        // workloads' paths and arguments. An existing file is truncated and
        // made so too.
        let file = {
            use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
            let f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path);
            let f = f.map_err(io_err)?;
            f.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(io_err)?;
            f
        };
        let mut out = BufWriter::new(file);
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        header.extend_from_slice(&info.abi_version.to_le_bytes());
        header.extend_from_slice(&BYTE_ORDER_MARK.to_ne_bytes());
        header.extend_from_slice(&0u32.to_le_bytes());
        header.extend_from_slice(&info.boot_to_unix_ns.to_le_bytes());
        header.extend_from_slice(&padded(&info.kernel));
        header.extend_from_slice(&padded(&info.host));
        debug_assert_eq!(header.len(), HEADER_LEN);
        out.write_all(&header).map_err(io_err)?;
        Ok(Self { out, path: path.into() })
    }

    /// Appends a batch of whole records (as read from the device) and
    /// flushes it, so that a killed recorder loses nothing it had read.
    pub fn write_batch(&mut self, records: &[u8]) -> Result<(), CaptureError> {
        let io_err = |source| CaptureError::Io { path: self.path.clone(), source };
        self.out.write_all(records).map_err(io_err)?;
        self.out.flush().map_err(io_err)
    }

    /// Flushes and syncs the file.
    pub fn finish(mut self) -> Result<(), CaptureError> {
        let path = self.path.clone();
        let io_err = |source| CaptureError::Io { path: path.clone(), source };
        self.out.flush().map_err(io_err)?;
        self.out.get_ref().sync_all().map_err(io_err)
    }
}

/// Reads a capture: the header, then events in file order. `R` is the
/// source: a file ([`CaptureReader::open`]) or any reader
/// ([`CaptureReader::from_reader`], used by the fuzz target).
#[derive(Debug)]
pub struct CaptureReader<R = File> {
    input: BufReader<R>,
    path: PathBuf,
    info: CaptureInfo,
    /// The read buffer, kept between batches: `buf[..filled]` is read but
    /// not yet decoded (at most one partial record between batches), and
    /// reads go straight in after it.
    buf: Vec<u8>,
    filled: usize,
    /// File offset of `buf[0]`.
    offset: u64,
}

/// Bytes read per batch.
const CHUNK: usize = 1 << 16;

impl CaptureReader<File> {
    /// Opens `path` and checks its header.
    pub fn open(path: &Path) -> Result<Self, CaptureError> {
        let file = File::open(path).map_err(|source| CaptureError::Io { path: path.into(), source })?;
        Self::from_reader(file, path)
    }
}

impl<R: Read> CaptureReader<R> {
    /// Reads a capture from `input` and checks its header; `name` names it
    /// in errors.
    pub fn from_reader(input: R, name: &Path) -> Result<Self, CaptureError> {
        let io_err = |source| CaptureError::Io { path: name.into(), source };
        let mut input = BufReader::new(input);
        let mut header = [0u8; HEADER_LEN];
        let mut got = 0;
        while got < HEADER_LEN {
            match input.read(&mut header[got..]).map_err(io_err)? {
                0 => break,
                n => got += n,
            }
        }
        let info = parse_header(&header[..got]).map_err(|what| CaptureError::BadHeader { path: name.into(), what })?;
        Ok(Self { input, path: name.into(), info, buf: Vec::new(), filled: 0, offset: HEADER_LEN as u64 })
    }

    /// What the header says.
    pub fn info(&self) -> &CaptureInfo {
        &self.info
    }

    /// The next batch of events; an empty batch at the end of the file.
    pub fn next_batch(&mut self) -> Result<Vec<Event>, CaptureError> {
        let mut events = Vec::new();
        self.next_batch_into(&mut events)?;
        Ok(events)
    }

    /// Appends the next batch of events to `events` (none at the end of
    /// the file). Reusing one vector and one read buffer across batches
    /// keeps the replay loop free of per-batch allocation and regrowth.
    pub fn next_batch_into(&mut self, events: &mut Vec<Event>) -> Result<(), CaptureError> {
        // A partial record is shorter than RECORD_MAX_LEN (a longer length
        // field is malformed and decoded, below), so a chunk fits; only a
        // caller going on after an error could find less room.
        self.buf.resize(CHUNK + RECORD_MAX_LEN, 0);
        let room = (self.buf.len() - self.filled).min(CHUNK);
        let n = match self.input.read(&mut self.buf[self.filled..self.filled + room]) {
            Ok(n) => n,
            Err(source) => return Err(CaptureError::Io { path: self.path.clone(), source }),
        };
        self.filled += n;
        let pending = &self.buf[..self.filled];
        let complete = complete_prefix(pending);
        if n == 0 && complete < pending.len() {
            // The file ends inside a record: say so (decode reports it).
            let err = decode::records(&pending[complete..]).find_map(Result::err).unwrap_or(DecodeError::Truncated {
                offset: 0,
                need: RECORD_MAX_LEN,
                have: pending.len() - complete,
            });
            return Err(CaptureError::Record {
                path: self.path.clone(),
                file_offset: self.offset + complete as u64,
                source: err,
            });
        }
        // Typical records are 64 bytes or more; shorter ones just grow it.
        events.reserve(complete / 64);
        for event in decode::records(&pending[..complete]) {
            match event {
                Ok(e) => events.push(e),
                Err(source) => {
                    return Err(CaptureError::Record { path: self.path.clone(), file_offset: self.offset, source })
                }
            }
        }
        self.buf.copy_within(complete..self.filled, 0);
        self.filled -= complete;
        self.offset += complete as u64;
        Ok(())
    }

    /// Whether the whole file has been consumed.
    pub fn is_done(&self) -> bool {
        self.filled == 0 && self.input.buffer().is_empty()
    }
}

/// Bytes at the start of `buf` that form whole records (by their length
/// fields; bad lengths are left for the decoder to report).
fn complete_prefix(buf: &[u8]) -> usize {
    let mut at = 0;
    while let Ok((prefix, _)) = RecordPrefix::read_from_prefix(&buf[at..]) {
        let len = usize::try_from(prefix.len).unwrap_or(usize::MAX);
        if len == 0 || len > RECORD_MAX_LEN {
            // Malformed: hand it to the decoder, which names it.
            return buf.len();
        }
        if at + len > buf.len() {
            break;
        }
        at += len;
    }
    at
}

fn parse_header(h: &[u8]) -> Result<CaptureInfo, String> {
    if h.len() < HEADER_LEN {
        return Err(format!("header is {} bytes, a capture header is {HEADER_LEN}", h.len()));
    }
    if &h[..16] != MAGIC {
        return Err("wrong magic (expected \"WITNESS-CAPTURE\")".into());
    }
    let u32_at = |o: usize| u32::from_le_bytes(h[o..o + 4].try_into().expect("4 bytes"));
    let version = u32_at(16);
    if version != FORMAT_VERSION {
        return Err(format!("format version {version}; this collector reads version {FORMAT_VERSION}"));
    }
    let abi_version = u32_at(20);
    if abi_version != ABI_VERSION {
        return Err(format!("records use ABI version {abi_version}; this collector decodes ABI {ABI_VERSION}"));
    }
    let bom = u32::from_ne_bytes(h[24..28].try_into().expect("4 bytes"));
    if bom != BYTE_ORDER_MARK {
        return Err("recorded on a host of the other byte order".into());
    }
    Ok(CaptureInfo {
        abi_version,
        boot_to_unix_ns: i64::from_le_bytes(h[32..40].try_into().expect("8 bytes")),
        kernel: unpadded(&h[40..104]),
        host: unpadded(&h[104..168]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::decode::tests::exec_bytes;

    fn info() -> CaptureInfo {
        CaptureInfo { abi_version: ABI_VERSION, boot_to_unix_ns: 123, kernel: "6.12.117".into(), host: "vm".into() }
    }

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("witness-capture-test-{}-{name}", std::process::id()))
    }

    fn read_all(path: &Path) -> Result<Vec<Event>, CaptureError> {
        let mut r = CaptureReader::open(path)?;
        let mut all = Vec::new();
        loop {
            let batch = r.next_batch()?;
            if batch.is_empty() && r.is_done() {
                return Ok(all);
            }
            all.extend(batch);
        }
    }

    /// A capture holds what the evidence log holds: owner-only, also when
    /// it replaces a file that was not.
    #[test]
    fn captures_are_readable_by_their_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let path = temp("mode");
        std::fs::write(&path, b"old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        CaptureWriter::create(&path, &info()).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        std::fs::remove_file(&path).unwrap();
        CaptureWriter::create(&path, &info()).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn round_trip_across_chunk_boundaries() {
        let path = temp("round-trip");
        let mut w = CaptureWriter::create(&path, &info()).unwrap();
        let mut expected = Vec::new();
        // Enough records that 64 KiB reads split some of them.
        for seq in 0..2000 {
            let rec = exec_bytes(seq, b"/usr/bin/some-program", b"some-program\0--flag\0");
            w.write_batch(&rec).unwrap();
            expected.push(decode::decode_one(&rec, 0).unwrap());
        }
        w.finish().unwrap();
        let r = CaptureReader::open(&path).unwrap();
        assert_eq!(r.info(), &info());
        assert_eq!(read_all(&path).unwrap(), expected);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn bad_headers_are_named() {
        let path = temp("bad-header");
        for (bytes, want) in [(b"short".to_vec(), "header is 5 bytes"), ([b'X'; HEADER_LEN].to_vec(), "wrong magic")] {
            std::fs::write(&path, &bytes).unwrap();
            let err = CaptureReader::open(&path).unwrap_err().to_string();
            assert!(err.contains(want) && err.contains("not a witness capture"), "{err}");
        }
        let mut w = CaptureWriter::create(&path, &info()).unwrap();
        w.write_batch(&[]).unwrap();
        w.finish().unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[16] = 9;
        std::fs::write(&path, &bytes).unwrap();
        let err = CaptureReader::open(&path).unwrap_err().to_string();
        assert!(err.contains("format version 9"), "{err}");
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_cut_record_is_reported_with_its_file_offset() {
        let path = temp("cut");
        let mut w = CaptureWriter::create(&path, &info()).unwrap();
        let rec = exec_bytes(1, b"/bin/true", b"");
        w.write_batch(&rec).unwrap();
        w.write_batch(&rec[..rec.len() - 8]).unwrap();
        w.finish().unwrap();
        let err = read_all(&path).unwrap_err();
        let CaptureError::Record { file_offset, .. } = &err else { panic!("{err}") };
        assert_eq!(*file_offset, (HEADER_LEN + rec.len()) as u64);
        assert!(err.to_string().contains("truncated"), "{err}");
        std::fs::remove_file(&path).unwrap();
    }
}
