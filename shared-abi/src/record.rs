//! Record kinds and layouts.
//!
//! A record is a [`RecordHeader`], a kind-specific fixed body, and for some
//! kinds a variable tail whose length the body states. Records are padded with
//! zero bytes to [`RECORD_ALIGN`]; `RecordHeader::len` includes header, body,
//! tail and padding. All integers are native-endian: records never leave the
//! host except inside a capture file, which states the byte order.

/// Records start at, and are padded to, multiples of this many bytes. Eight
/// keeps every `u64` field naturally aligned inside the ring.
pub const RECORD_ALIGN: usize = 8;

/// The largest record the module writes, header included. Bounds the reader's
/// buffer and lets the ring guarantee that any record fits.
pub const RECORD_MAX_LEN: usize = 4096;

/// Kinds of record. Discriminants are ABI: never renumber or reuse one.
#[repr(u16)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// Filler the producer writes when a record does not fit before the end of
    /// the ring. Only its `len` and `kind` are meaningful; it has no sequence
    /// number and readers skip it. It can be as short as 8 bytes.
    Pad = 0,
    /// A task executed a new program (`sched_process_exec`): [`ExecRecord`].
    Exec = 1,
}

impl RecordKind {
    /// The kind with this wire value, if it is one this ABI knows.
    pub const fn from_wire(value: u16) -> Option<Self> {
        match value {
            0 => Some(Self::Pad),
            1 => Some(Self::Exec),
            _ => None,
        }
    }

    /// A short, stable, lower-case name (used in output and metric labels).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Pad => "pad",
            Self::Exec => "exec",
        }
    }
}

/// The first 8 bytes of every record, pad records included.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "user",
    derive(zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable, zerocopy::KnownLayout)
)]
pub struct RecordPrefix {
    /// Total record length in bytes, a multiple of [`RECORD_ALIGN`].
    pub len: u32,
    /// A [`RecordKind`] wire value.
    pub kind: u16,
    /// Reserved, zero.
    pub flags: u16,
}

/// The header of every record except [`RecordKind::Pad`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "user",
    derive(zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable, zerocopy::KnownLayout)
)]
pub struct RecordHeader {
    /// Total record length in bytes, a multiple of [`RECORD_ALIGN`].
    pub len: u32,
    /// A [`RecordKind`] wire value.
    pub kind: u16,
    /// Reserved, zero.
    pub flags: u16,
    /// The CPU whose ring carried the record.
    pub cpu: u32,
    /// Reserved, zero. (Keeps `seq` 8-byte aligned without implicit padding.)
    pub reserved: u32,
    /// Per-CPU sequence number. Every record the CPU attempts takes the next
    /// number, including the ones it drops, so a gap in a CPU's sequence is
    /// exactly the number of records that CPU lost.
    pub seq: u64,
    /// When the event happened: `CLOCK_BOOTTIME` nanoseconds.
    pub ts_ns: u64,
}

/// Bytes in [`RecordHeader`].
pub const RECORD_HEADER_LEN: usize = core::mem::size_of::<RecordHeader>();

/// Length of a record with `body_len` bytes after the header, padded to
/// [`RECORD_ALIGN`].
pub const fn record_len(body_len: usize) -> usize {
    (RECORD_HEADER_LEN + body_len + RECORD_ALIGN - 1) & !(RECORD_ALIGN - 1)
}

/// `ExecRecord::flags`: the path was longer than [`EXEC_PATH_MAX`] and was cut.
pub const EXEC_PATH_TRUNCATED: u32 = 1 << 0;
/// `ExecRecord::flags`: the kernel could not resolve the executable's path
/// from its file, so the path is the name passed to `execve` (possibly
/// relative).
pub const EXEC_PATH_FROM_ARGUMENT: u32 = 1 << 1;

/// The longest executable path an exec record carries, in bytes.
pub const EXEC_PATH_MAX: usize = 1024;

/// Body of a [`RecordKind::Exec`] record, followed by `path_len` bytes of the
/// executable's path (no terminating NUL) and zero padding.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "user",
    derive(zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable, zerocopy::KnownLayout)
)]
pub struct ExecRecord {
    /// Thread id (the kernel's `pid`) of the task that executed.
    pub pid: u32,
    /// Process id (the kernel's `tgid`).
    pub tgid: u32,
    /// Process id of the real parent.
    pub ppid: u32,
    /// Real user id, in the initial user namespace.
    pub uid: u32,
    /// Effective user id, in the initial user namespace.
    pub euid: u32,
    /// Real group id, in the initial user namespace.
    pub gid: u32,
    /// Effective group id, in the initial user namespace.
    pub egid: u32,
    /// `EXEC_*` flags.
    pub flags: u32,
    /// Id of the task's cgroup v2 cgroup (the inode number of its directory in
    /// cgroupfs), 0 when the kernel has no cgroup v2 hierarchy.
    pub cgroup_id: u64,
    /// The task's `comm` after exec, NUL-padded.
    pub comm: [u8; 16],
    /// Bytes of path after this body, at most [`EXEC_PATH_MAX`].
    pub path_len: u32,
    /// Reserved, zero.
    pub reserved: u32,
}

/// Bytes in [`ExecRecord`].
pub const EXEC_RECORD_LEN: usize = core::mem::size_of::<ExecRecord>();

// Layout assertions: the ABI is these numbers, on every target.
const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(size_of::<RecordPrefix>() == 8);
    assert!(size_of::<RecordHeader>() == 32);
    assert!(align_of::<RecordHeader>() == 8);
    assert!(offset_of!(RecordHeader, cpu) == 8);
    assert!(offset_of!(RecordHeader, seq) == 16);
    assert!(offset_of!(RecordHeader, ts_ns) == 24);
    assert!(size_of::<ExecRecord>() == 64);
    assert!(offset_of!(ExecRecord, flags) == 28);
    assert!(offset_of!(ExecRecord, cgroup_id) == 32);
    assert!(offset_of!(ExecRecord, comm) == 40);
    assert!(offset_of!(ExecRecord, path_len) == 56);
    assert!(record_len(EXEC_RECORD_LEN + EXEC_PATH_MAX) <= RECORD_MAX_LEN);
    assert!(RECORD_MAX_LEN % RECORD_ALIGN == 0);
};
