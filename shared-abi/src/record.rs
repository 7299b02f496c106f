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

/// Declares [`RecordKind`] with its wire values and names in one list.
macro_rules! record_kinds {
    ($($(#[$doc:meta])* $variant:ident = $value:literal, $name:literal;)*) => {
        /// Kinds of record. Discriminants are ABI: never renumber or reuse one.
        #[repr(u16)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum RecordKind {
            $($(#[$doc])* $variant = $value,)*
        }

        impl RecordKind {
            /// Every kind, in wire order.
            pub const ALL: &'static [RecordKind] = &[$(RecordKind::$variant),*];

            /// The kind with this wire value, if it is one this ABI knows.
            pub const fn from_wire(value: u16) -> Option<Self> {
                match value {
                    $($value => Some(Self::$variant),)*
                    _ => None,
                }
            }

            /// A short, stable, lower-case name (used in output, kind masks
            /// and metric labels).
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }

            /// The kind's bit in a kind mask.
            pub const fn mask_bit(self) -> u64 {
                1u64 << (self as u16)
            }
        }
    };
}

record_kinds! {
    /// Filler the producer writes when a record does not fit before the end
    /// of the ring. Only its `len` and `kind` are meaningful; it has no
    /// sequence number and readers skip it. It can be as short as 8 bytes.
    Pad = 0, "pad";
    /// A task executed a new program (`sched_process_exec`): [`ExecRecord`].
    Exec = 1, "exec";
    /// A task created another (`sched_process_fork`): [`ForkRecord`].
    Fork = 2, "fork";
    /// A task exited (`sched_process_exit`): [`ExitRecord`].
    Exit = 3, "exit";
    /// The kernel decided whether to run a program (`security_bprm_check`):
    /// [`BprmCheckRecord`].
    BprmCheck = 4, "bprm_check";
    /// A file was opened (`security_file_open`): [`FileRecord`].
    FileOpen = 5, "file_open";
    /// A file is being created (`security_path_mknod`): [`FileRecord`].
    FileCreate = 6, "file_create";
    /// A file is being unlinked (`security_path_unlink`): [`FileRecord`].
    FileUnlink = 7, "file_unlink";
    /// A file is being renamed (`security_path_rename`): [`FileRecord`]
    /// with the new path as second path.
    FileRename = 8, "file_rename";
    /// A socket connects (`security_socket_connect`): [`SockRecord`].
    SockConnect = 9, "sock_connect";
    /// A socket binds (`security_socket_bind`): [`SockRecord`].
    SockBind = 10, "sock_bind";
    /// A socket listens (`security_socket_listen`): [`SockRecord`].
    SockListen = 11, "sock_listen";
    /// A TCP connection was accepted (`__inet_accept`): [`SockRecord`]
    /// with the peer as remote address.
    SockAccept = 12, "sock_accept";
    /// A TCP socket changed state during a handshake or its failure
    /// (`inet_sock_set_state`): [`TcpStateRecord`].
    TcpState = 13, "tcp_state";
    /// A task's credentials changed (`commit_creds`): [`CredRecord`].
    CredChange = 14, "cred_change";
    /// A capability check failed (`security_capable`): [`CapRecord`].
    CapDenied = 15, "cap_denied";
    /// A task switched namespaces (setns, unshare): [`NsRecord`].
    NsChange = 16, "ns_change";
    /// A kernel module was loaded (`module_load`): [`ModuleRecord`].
    ModuleLoad = 17, "module_load";
    /// A BPF program is being loaded (a kretprobe on `bpf(2)`,
    /// `BPF_PROG_LOAD`): [`BpfRecord`].
    BpfProgLoad = 18, "bpf_prog_load";
    /// A ptrace attach was checked (`security_ptrace_access_check`):
    /// [`PtraceRecord`].
    PtraceAttach = 19, "ptrace_attach";
    /// Packets the kernel dropped since the previous such record, counted per
    /// drop reason (`kfree_skb`): [`PacketDropsRecord`].
    PacketDrops = 20, "packet_drops";
    /// A key was added or requested (add_key, request_key): [`KeyRecord`].
    KeyAccess = 21, "key_access";
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

/// Derives what every ABI struct needs: a fixed C layout, and zerocopy's
/// safe-decoding traits in user space.
macro_rules! abi_struct {
    ($(#[$doc:meta])* pub struct $name:ident { $($(#[$fdoc:meta])* pub $field:ident : $ty:ty,)* }) => {
        $(#[$doc])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[cfg_attr(
            feature = "user",
            derive(zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable, zerocopy::KnownLayout)
        )]
        pub struct $name {
            $($(#[$fdoc])* pub $field: $ty,)*
        }
    };
}

abi_struct! {
    /// Who did it: the task in whose context a hook ran. Leads most records.
    pub struct TaskContext {
        /// Thread id (the kernel's `pid`).
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
        /// Reserved, zero.
        pub reserved: u32,
        /// Id of the task's cgroup v2 cgroup (the inode number of its directory
        /// in cgroupfs), 0 when the kernel has no cgroup v2 hierarchy.
        pub cgroup_id: u64,
        /// The task's `comm`, NUL-padded.
        pub comm: [u8; 16],
    }
}

/// Bytes in [`TaskContext`].
pub const TASK_CONTEXT_LEN: usize = core::mem::size_of::<TaskContext>();

/// `ExecRecord::flags`: the path was longer than [`EXEC_PATH_MAX`] and was cut.
pub const EXEC_PATH_TRUNCATED: u32 = 1 << 0;
/// `ExecRecord::flags`: the path is the name passed to `execve` (possibly
/// relative), not resolved from the file: the kernel could not resolve it,
/// or the program is a script ([`EXEC_PATH_SCRIPT`]).
pub const EXEC_PATH_FROM_ARGUMENT: u32 = 1 << 1;
/// `ExecRecord::flags`: the arguments were longer than [`EXEC_ARGV_MAX`].
pub const EXEC_ARGV_TRUNCATED: u32 = 1 << 2;
/// `ExecRecord::flags`: the arguments could not be read (not resident).
pub const EXEC_ARGV_UNREADABLE: u32 = 1 << 3;
/// `ExecRecord::flags`: the program executed is a script that an
/// interpreter runs (`#!`, binfmt_misc). The path names the script, as
/// execve(2) was given it; the interpreter is the first argument, and
/// `dev`, `ino` and `mtime_sec` are the interpreter's file.
pub const EXEC_PATH_SCRIPT: u32 = 1 << 4;

/// The longest executable path an exec record carries, in bytes.
pub const EXEC_PATH_MAX: usize = 1024;
/// The most argument bytes an exec record carries.
pub const EXEC_ARGV_MAX: usize = 512;

abi_struct! {
    /// Body of a [`RecordKind::Exec`] record, followed by `path_len` bytes of
    /// the executable's path (no NUL), then `argv_len` bytes of arguments
    /// (each followed by a NUL; the last may be cut), then zero padding.
    pub struct ExecRecord {
        /// The task after exec, with the credentials it now runs under.
        pub task: TaskContext,
        /// `EXEC_*` flags.
        pub flags: u32,
        /// Bytes of path in the tail, at most [`EXEC_PATH_MAX`].
        pub path_len: u16,
        /// Bytes of arguments in the tail, at most [`EXEC_ARGV_MAX`].
        pub argv_len: u16,
        /// Number of arguments the program received (all, not only those
        /// that fit).
        pub argc: u32,
        /// Device of the executable (`new_encode_dev`), for digest caching.
        pub dev: u32,
        /// Inode number of the executable.
        pub ino: u64,
        /// Modification time of the executable, seconds since the epoch.
        pub mtime_sec: i64,
    }
}

abi_struct! {
    /// Body of a [`RecordKind::Fork`] record.
    pub struct ForkRecord {
        /// The parent.
        pub task: TaskContext,
        /// Thread id of the child.
        pub child_pid: u32,
        /// Process id of the child (equal to the parent's for a new thread).
        pub child_tgid: u32,
    }
}

/// `ExitRecord::flags`: the whole process is gone (last thread exited).
pub const EXIT_GROUP_DEAD: u32 = 1 << 0;

abi_struct! {
    /// Body of a [`RecordKind::Exit`] record.
    pub struct ExitRecord {
        /// The exiting task.
        pub task: TaskContext,
        /// The exit status as `wait(2)` reports it (`exit_code`).
        pub exit_code: i32,
        /// `EXIT_*` flags.
        pub flags: u32,
    }
}

abi_struct! {
    /// Body of a [`RecordKind::BprmCheck`] record, followed by `path_len`
    /// bytes of the program's path.
    pub struct BprmCheckRecord {
        /// The task calling execve (credentials before the exec).
        pub task: TaskContext,
        /// The kernel's verdict: 0 allowed, or the negative errno it returned.
        pub verdict: i32,
        /// Bytes of path in the tail, at most [`EXEC_PATH_MAX`].
        pub path_len: u16,
        /// [`EXEC_PATH_TRUNCATED`] and [`EXEC_PATH_FROM_ARGUMENT`], as in
        /// `ExecRecord::flags` (not the `FILE_PATH_*` flags).
        pub path_flags: u16,
    }
}

/// File path flag: the path was cut at [`FILE_PATH_MAX`] bytes.
pub const FILE_PATH_TRUNCATED: u16 = 1 << 0;
// Bit 1 is unused: every path is absolute (from the process's root).
/// File path flag: the path matched a registered secret path.
pub const FILE_PATH_SECRET: u16 = 1 << 2;
/// File path flag: the path could not be resolved (empty).
pub const FILE_PATH_UNRESOLVED: u16 = 1 << 3;

/// The longest path a file record carries, per path, in bytes.
pub const FILE_PATH_MAX: usize = 1024;

abi_struct! {
    /// Body of the file records ([`RecordKind::FileOpen`], `FileCreate`,
    /// `FileUnlink`, `FileRename`), followed by `path_len` bytes of path and,
    /// for a rename, `path2_len` bytes of the new path. Paths are absolute,
    /// as `d_path` gives them: from the root of the process that acted (a
    /// container's root for a process in one).
    pub struct FileRecord {
        /// Who.
        pub task: TaskContext,
        /// The kernel's verdict: 0 allowed, or the negative errno. Create,
        /// unlink and rename: the verdict of the path-based checks
        /// (`security_path_*`: AppArmor, TOMOYO, Landlock).
        pub verdict: i32,
        /// Open: the file's `f_flags` (`O_*`). Create: the device number
        /// asked for (mknod(2) of a device node), else 0. Rename: the
        /// `RENAME_*` flags.
        pub flags: u32,
        /// Inode mode (type and permission bits); for create, the requested
        /// mode.
        pub mode: u32,
        /// Bytes of path in the tail, at most [`FILE_PATH_MAX`].
        pub path_len: u16,
        /// Bytes of second path (rename target), at most [`FILE_PATH_MAX`].
        pub path2_len: u16,
        /// Inode number (0 when there is no inode yet, as for create).
        pub ino: u64,
        /// `FILE_PATH_*` flags of the path.
        pub path_flags: u16,
        /// `FILE_PATH_*` flags of the second path.
        pub path2_flags: u16,
        /// Device (`new_encode_dev`) of the filesystem.
        pub dev: u32,
    }
}

abi_struct! {
    /// A socket address: IPv4 addresses use the first 4 bytes of `addr`.
    pub struct NetAddr {
        /// Address bytes in network order.
        pub addr: [u8; 16],
        /// Port in host order.
        pub port: u16,
        /// Reserved, zero.
        pub reserved: u16,
    }
}

abi_struct! {
    /// Body of the socket records ([`RecordKind::SockConnect`], `SockBind`,
    /// `SockListen`, `SockAccept`).
    pub struct SockRecord {
        /// Who.
        pub task: TaskContext,
        /// The kernel's verdict: 0 allowed, or the negative errno.
        pub verdict: i32,
        /// Listen: the backlog. Otherwise 0.
        pub arg: u32,
        /// Address family (`AF_INET` 2, `AF_INET6` 10, `AF_UNIX` 1, ...).
        pub family: u16,
        /// Socket type (`SOCK_STREAM` 1, `SOCK_DGRAM` 2, ...).
        pub sock_type: u16,
        /// Protocol (`IPPROTO_TCP` 6, `IPPROTO_UDP` 17, ...).
        pub protocol: u16,
        /// Reserved, zero.
        pub reserved: u16,
        /// Local address (bind: the requested one).
        pub local: NetAddr,
        /// Remote address (connect: the requested one; accept: the peer).
        pub remote: NetAddr,
    }
}

abi_struct! {
    /// Body of a [`RecordKind::TcpState`] record. Emitted from network
    /// context, so it names no task.
    pub struct TcpStateRecord {
        /// A per-boot opaque id of the socket (a keyed hash, never a pointer),
        /// to pair the transitions of one connection.
        pub sock_id: u64,
        /// Previous TCP state (`TCP_*`: 1 ESTABLISHED, 2 SYN_SENT, 7 CLOSE, ...).
        pub old_state: u8,
        /// New TCP state.
        pub new_state: u8,
        /// Address family.
        pub family: u16,
        /// Reserved, zero.
        pub reserved: u32,
        /// Local address.
        pub local: NetAddr,
        /// Remote address.
        pub remote: NetAddr,
    }
}

abi_struct! {
    /// Body of a [`RecordKind::CredChange`] record: `task` holds the old
    /// credentials, the `new_*` fields the new ones.
    pub struct CredRecord {
        /// Who, with the credentials before the change.
        pub task: TaskContext,
        /// New real uid.
        pub new_uid: u32,
        /// New effective uid.
        pub new_euid: u32,
        /// New real gid.
        pub new_gid: u32,
        /// New effective gid.
        pub new_egid: u32,
        /// Effective capabilities before (bit n = capability n).
        pub old_cap_effective: u64,
        /// Effective capabilities after.
        pub new_cap_effective: u64,
        /// Permitted capabilities before.
        pub old_cap_permitted: u64,
        /// Permitted capabilities after.
        pub new_cap_permitted: u64,
    }
}

abi_struct! {
    /// Body of a [`RecordKind::CapDenied`] record.
    pub struct CapRecord {
        /// Who.
        pub task: TaskContext,
        /// The capability (`CAP_*` number).
        pub cap: u32,
        /// The kernel's verdict (negative errno; only denials are recorded).
        pub verdict: i32,
        /// `CAP_OPT_*` options of the check.
        pub opts: u32,
        /// Reserved, zero.
        pub reserved: u32,
    }
}

/// Namespaces an [`NsRecord`] compares, in the order of its arrays.
pub const NS_NAMES: [&str; 7] = ["uts", "ipc", "mnt", "pid_for_children", "net", "time", "cgroup"];

abi_struct! {
    /// Body of a [`RecordKind::NsChange`] record.
    pub struct NsRecord {
        /// Who.
        pub task: TaskContext,
        /// Bit n set when namespace `NS_NAMES[n]` changed.
        pub changed: u32,
        /// Reserved, zero.
        pub reserved: u32,
        /// Old namespace inode numbers, in [`NS_NAMES`] order (0: none).
        pub old_ns: [u32; 8],
        /// New namespace inode numbers (0: the task is exiting).
        pub new_ns: [u32; 8],
    }
}

abi_struct! {
    /// Body of a [`RecordKind::ModuleLoad`] record: a module was loaded, or
    /// a load was attempted and failed or was refused (bad image, bad or
    /// missing signature, lockdown, an LSM, no privilege, already loaded).
    pub struct ModuleRecord {
        /// Who loaded it, or tried to.
        pub task: TaskContext,
        /// The module's taint flags (0 for a failed load).
        pub taints: u32,
        /// The kernel's verdict: 0 loaded, or the negative errno of the
        /// failed init_module(2) or finit_module(2).
        pub verdict: i32,
        /// Module name, NUL-padded. For a failed load the kernel never
        /// learnt it: the last component of the file's path for
        /// finit_module(2), empty for init_module(2).
        pub name: [u8; 56],
    }
}

abi_struct! {
    /// Body of a [`RecordKind::BpfProgLoad`] record.
    pub struct BpfRecord {
        /// Who.
        pub task: TaskContext,
        /// The kernel's verdict: 0 allowed, or the negative errno.
        pub verdict: i32,
        /// `BPF_PROG_TYPE_*`.
        pub prog_type: u32,
        /// Instructions in the program.
        pub insn_cnt: u32,
        /// Reserved, zero.
        pub reserved: u32,
        /// Program name, NUL-padded.
        pub name: [u8; 16],
    }
}

abi_struct! {
    /// Body of a [`RecordKind::PtraceAttach`] record.
    pub struct PtraceRecord {
        /// The tracer.
        pub task: TaskContext,
        /// The kernel's verdict: 0 allowed, or the negative errno.
        pub verdict: i32,
        /// `PTRACE_MODE_*` flags of the check.
        pub mode: u32,
        /// Process id of the target.
        pub target_tgid: u32,
        /// Real uid of the target.
        pub target_uid: u32,
    }
}

/// `KeyRecord::op`: add_key(2).
pub const KEY_OP_ADD: u32 = 1;
/// `KeyRecord::op`: request_key(2).
pub const KEY_OP_REQUEST: u32 = 2;
/// Bytes of key type or description a key record carries, each.
pub const KEY_STRING_MAX: usize = 128;
/// `KeyRecord::flags`: the type was cut.
pub const KEY_TYPE_TRUNCATED: u32 = 1 << 0;
/// `KeyRecord::flags`: the description was cut.
pub const KEY_DESC_TRUNCATED: u32 = 1 << 1;
/// `KeyRecord::flags`: the strings could not be read from user memory.
pub const KEY_UNREADABLE: u32 = 1 << 2;

abi_struct! {
    /// Body of a [`RecordKind::KeyAccess`] record, followed by `type_len`
    /// bytes of key type and `desc_len` bytes of description (copied from
    /// the caller's memory, bounded).
    pub struct KeyRecord {
        /// Who.
        pub task: TaskContext,
        /// `KEY_OP_*`.
        pub op: u32,
        /// `KEY_*` flags.
        pub flags: u32,
        /// Bytes of type in the tail.
        pub type_len: u16,
        /// Bytes of description in the tail.
        pub desc_len: u16,
        /// The kernel's verdict: 0 success, or the negative errno (for
        /// request_key, `-ENOKEY` when no such key exists).
        pub verdict: i32,
    }
}

abi_struct! {
    /// One entry of a [`PacketDropsRecord`].
    pub struct DropCount {
        /// `SKB_DROP_REASON_*` value.
        pub reason: u32,
        /// Packets dropped for that reason in the interval.
        pub count: u32,
    }
}

/// Most entries in one [`PacketDropsRecord`].
pub const PACKET_DROPS_MAX_ENTRIES: usize = 128;

abi_struct! {
    /// Body of a [`RecordKind::PacketDrops`] record, followed by `nr_entries`
    /// [`DropCount`]s. Emitted periodically while packets are dropped.
    pub struct PacketDropsRecord {
        /// Length of the interval the counts cover, in nanoseconds.
        pub interval_ns: u64,
        /// Packets dropped in the interval, all reasons.
        pub total: u64,
        /// Entries that follow.
        pub nr_entries: u32,
        /// Reserved, zero.
        pub reserved: u32,
    }
}

// Layout assertions: the ABI is these numbers, on every target.
const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(size_of::<RecordPrefix>() == 8);
    assert!(size_of::<RecordHeader>() == 32);
    assert!(align_of::<RecordHeader>() == 8);
    assert!(offset_of!(RecordHeader, cpu) == 8);
    assert!(offset_of!(RecordHeader, seq) == 16);
    assert!(offset_of!(RecordHeader, ts_ns) == 24);
    assert!(size_of::<TaskContext>() == 56);
    assert!(offset_of!(TaskContext, cgroup_id) == 32);
    assert!(offset_of!(TaskContext, comm) == 40);
    assert!(size_of::<ExecRecord>() == 88);
    assert!(offset_of!(ExecRecord, ino) == 72);
    assert!(size_of::<ForkRecord>() == 64);
    assert!(size_of::<ExitRecord>() == 64);
    assert!(size_of::<BprmCheckRecord>() == 64);
    assert!(size_of::<FileRecord>() == 88);
    assert!(offset_of!(FileRecord, ino) == 72);
    assert!(size_of::<NetAddr>() == 20);
    assert!(size_of::<SockRecord>() == 112);
    assert!(size_of::<TcpStateRecord>() == 56);
    assert!(size_of::<CredRecord>() == 104);
    assert!(size_of::<CapRecord>() == 72);
    assert!(size_of::<NsRecord>() == 128);
    assert!(size_of::<ModuleRecord>() == 120);
    assert!(size_of::<BpfRecord>() == 88);
    assert!(size_of::<PtraceRecord>() == 72);
    assert!(size_of::<KeyRecord>() == 72);
    assert!(size_of::<DropCount>() == 8);
    assert!(size_of::<PacketDropsRecord>() == 24);
    assert!(record_len(size_of::<ExecRecord>() + EXEC_PATH_MAX + EXEC_ARGV_MAX) <= RECORD_MAX_LEN);
    assert!(record_len(size_of::<FileRecord>() + 2 * FILE_PATH_MAX) <= RECORD_MAX_LEN);
    assert!(record_len(size_of::<KeyRecord>() + 2 * KEY_STRING_MAX) <= RECORD_MAX_LEN);
    assert!(
        record_len(size_of::<PacketDropsRecord>() + PACKET_DROPS_MAX_ENTRIES * size_of::<DropCount>())
            <= RECORD_MAX_LEN
    );
    // `%`, not is_multiple_of: the module is built by the kernel's rustc (1.85 on Debian 13).
    assert!(RECORD_MAX_LEN % RECORD_ALIGN == 0);
    // Every kind has a bit in a 64-bit kind mask.
    assert!(RecordKind::ALL.len() <= 64);
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_names_are_unique() {
        for (i, kind) in RecordKind::ALL.iter().enumerate() {
            assert_eq!(RecordKind::from_wire(*kind as u16), Some(*kind));
            assert_eq!(*kind as usize, i, "wire values are dense");
            for other in &RecordKind::ALL[..i] {
                assert_ne!(kind.name(), other.name());
            }
        }
        assert_eq!(RecordKind::from_wire(RecordKind::ALL.len() as u16), None);
        assert_eq!(RecordKind::from_wire(u16::MAX), None);
    }

    #[test]
    fn record_len_pads_to_alignment() {
        assert_eq!(record_len(0), RECORD_HEADER_LEN);
        assert_eq!(record_len(1), RECORD_HEADER_LEN + 8);
        assert_eq!(record_len(8), RECORD_HEADER_LEN + 8);
        assert_eq!(record_len(9), RECORD_HEADER_LEN + 16);
    }
}
