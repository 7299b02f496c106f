//! ioctl numbers and argument layouts of `/dev/witness`.
//!
//! Numbers use Linux's generic `_IOC` encoding (x86, arm64, riscv): direction
//! in bits 30-31, argument size in bits 16-29, type in bits 8-15, number in
//! bits 0-7.

/// Version of the whole ABI (records, ring, ioctls). The module reports it
/// through [`WITNESS_IOC_INFO`]; the collector refuses to talk to a module
/// whose version differs. Bump it on any incompatible change.
pub const ABI_VERSION: u32 = 1;

/// The ioctl type byte of `/dev/witness`.
pub const WITNESS_IOC_TYPE: u32 = b'W' as u32;

const IOC_NONE: u32 = 0;
const IOC_WRITE: u32 = 1;
const IOC_READ: u32 = 2;

/// `_IOC(dir, WITNESS_IOC_TYPE, nr, size)`.
const fn ioc(dir: u32, nr: u32, size: usize) -> u32 {
    assert!(size < (1 << 14));
    // CAST: the assertion above bounds size to 14 bits.
    (dir << 30) | ((size as u32) << 16) | (WITNESS_IOC_TYPE << 8) | nr
}

const fn ior(nr: u32, size: usize) -> u32 {
    ioc(IOC_READ, nr, size)
}

const fn iow(nr: u32, size: usize) -> u32 {
    ioc(IOC_WRITE, nr, size)
}

const fn iowr(nr: u32, size: usize) -> u32 {
    ioc(IOC_READ | IOC_WRITE, nr, size)
}

/// What the device reports about itself. Read it first: the collector checks
/// `abi_version` before it trusts any other byte from the device.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "user",
    derive(zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable, zerocopy::KnownLayout)
)]
pub struct DeviceInfo {
    /// The module's [`ABI_VERSION`].
    pub abi_version: u32,
    /// Number of rings: one per possible CPU id (`nr_cpu_ids`).
    pub nr_rings: u32,
    /// Bytes in each ring's data area (a power of two).
    pub ring_data_size: u32,
    /// Largest record the module writes, in bytes.
    pub record_max_len: u32,
}

/// Read a [`DeviceInfo`]. Any opener may call it.
pub const WITNESS_IOC_INFO: u32 = ior(1, core::mem::size_of::<DeviceInfo>());

/// Hooks, each with a statistics slot. Discriminants are ABI: never renumber.
macro_rules! hooks {
    ($($(#[$doc:meta])* $variant:ident = $value:literal, $name:literal;)*) => {
        /// The module's hooks.
        #[repr(u32)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Hook {
            $($(#[$doc])* $variant = $value,)*
        }

        impl Hook {
            /// Every hook, in id order.
            pub const ALL: &'static [Hook] = &[$(Hook::$variant),*];

            /// The hook with this id.
            pub const fn from_id(id: u32) -> Option<Self> {
                match id {
                    $($value => Some(Self::$variant),)*
                    _ => None,
                }
            }

            /// The kernel symbol or tracepoint the hook attaches to.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }
        }
    };
}

hooks! {
    /// Tracepoint `sched_process_exec`.
    SchedProcessExec = 0, "sched_process_exec";
    /// Tracepoint `sched_process_fork`.
    SchedProcessFork = 1, "sched_process_fork";
    /// Tracepoint `sched_process_exit`.
    SchedProcessExit = 2, "sched_process_exit";
    /// kretprobe `security_bprm_check`.
    SecurityBprmCheck = 3, "security_bprm_check";
    /// kretprobe `security_file_open`.
    SecurityFileOpen = 4, "security_file_open";
    /// kretprobe `security_path_mknod`: creation of a file (open with
    /// `O_CREAT`, mknod(2), a Unix socket's bind).
    SecurityPathMknod = 5, "security_path_mknod";
    /// kretprobe `security_path_unlink`.
    SecurityPathUnlink = 6, "security_path_unlink";
    /// kretprobe `security_path_rename`.
    SecurityPathRename = 7, "security_path_rename";
    /// kretprobe `security_socket_connect`.
    SecuritySocketConnect = 8, "security_socket_connect";
    /// kretprobe `security_socket_bind`.
    SecuritySocketBind = 9, "security_socket_bind";
    /// kretprobe `security_socket_listen`.
    SecuritySocketListen = 10, "security_socket_listen";
    /// kprobe `__inet_accept`, once a connection is accepted (Linux's
    /// `inet_csk_accept`, which a kretprobe would follow for the whole wait,
    /// is not probed).
    InetAccept = 11, "__inet_accept";
    /// Tracepoint `inet_sock_set_state`.
    InetSockSetState = 12, "inet_sock_set_state";
    /// kprobe `commit_creds`.
    CommitCreds = 13, "commit_creds";
    /// kretprobe `security_capable`.
    SecurityCapable = 14, "security_capable";
    /// kprobe `switch_task_namespaces`.
    SwitchTaskNamespaces = 15, "switch_task_namespaces";
    /// Tracepoint `module_load`.
    ModuleLoad = 16, "module_load";
    /// kretprobe on the bpf(2) syscall, `BPF_PROG_LOAD` only: the load's
    /// final result, refusals by an LSM, by the verifier or for lack of
    /// privilege included.
    BpfProgLoad = 17, "__x64_sys_bpf";
    /// kretprobe `security_ptrace_access_check`.
    SecurityPtraceAccessCheck = 18, "security_ptrace_access_check";
    /// Tracepoint `kfree_skb` (aggregated).
    KfreeSkb = 19, "kfree_skb";
    /// kretprobe on `key_create_or_update` (add_key(2) and in-kernel key
    /// creation).
    AddKey = 20, "add_key";
    /// kretprobe on `request_key_and_link` (request_key(2) and in-kernel
    /// lookups).
    RequestKey = 21, "request_key";
    /// kretprobe on the init_module(2) syscall: loads that fail or are
    /// refused (loaded modules are the `module_load` tracepoint's).
    InitModule = 22, "__x64_sys_init_module";
    /// kretprobe on the finit_module(2) syscall, as `InitModule`.
    FinitModule = 23, "__x64_sys_finit_module";
}

/// Counters of one CPU's ring.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "user",
    derive(zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable, zerocopy::KnownLayout)
)]
pub struct CpuStats {
    /// CPU id (ring index).
    pub cpu: u32,
    /// Reserved, zero.
    pub reserved: u32,
    /// Records published.
    pub produced: u64,
    /// Records dropped: ring full.
    pub dropped_full: u64,
    /// Records dropped: a handler interrupted another on this CPU.
    pub dropped_nested: u64,
    /// Bytes ever published (records and pad).
    pub bytes: u64,
    /// Bytes published and not yet consumed.
    pub unread: u64,
    /// Bytes in the ring's data area.
    pub data_size: u64,
}

/// Counters of one hook, summed over CPUs.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "user",
    derive(zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable, zerocopy::KnownLayout)
)]
pub struct HookStats {
    /// A [`Hook`] id.
    pub hook: u32,
    /// 1 when attached, 0 when this kernel lacks the hook point.
    pub attached: u32,
    /// Times the handler ran.
    pub hits: u64,
    /// Events the kind mask or a filter discarded (counted, not written).
    pub filtered: u64,
    /// Events this hook lost: to a full or busy ring (these are also
    /// sequence gaps) or before reaching one (kprobe misses, no free
    /// kretprobe instance; these are not).
    pub dropped: u64,
    /// Records written.
    pub written: u64,
    /// Time spent in the handler, nanoseconds, summed (estimated from one
    /// handled event in 64, which the module times).
    pub cost_ns: u64,
}

/// Argument of [`WITNESS_IOC_STATS`]: where to put the counters. The module
/// writes at most `cpus_cap` [`CpuStats`] and `hooks_cap` [`HookStats`] and
/// sets `cpus_len` and `hooks_len` to how many exist.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "user",
    derive(zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable, zerocopy::KnownLayout)
)]
pub struct StatsRequest {
    /// User address of a `CpuStats` array.
    pub cpus: u64,
    /// User address of a `HookStats` array.
    pub hooks: u64,
    /// Capacity of `cpus`, in entries.
    pub cpus_cap: u32,
    /// Capacity of `hooks`, in entries.
    pub hooks_cap: u32,
    /// Out: number of rings.
    pub cpus_len: u32,
    /// Out: number of hooks.
    pub hooks_len: u32,
}

/// Read ring and hook counters ([`StatsRequest`]). Any opener may call it.
pub const WITNESS_IOC_STATS: u32 = iowr(2, core::mem::size_of::<StatsRequest>());

/// What the module records and when readers wake.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "user",
    derive(zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable, zerocopy::KnownLayout)
)]
pub struct Config {
    /// Bit `RecordKind::mask_bit()` set: that kind is recorded.
    pub kind_mask: u64,
    /// `poll` reports a ring readable once this many bytes are unread
    /// (1 ..= ring data size / 2; 1 wakes on every record).
    pub watermark: u32,
    /// Reserved, zero.
    pub reserved: u32,
}

/// Read the [`Config`]. Any opener may call it.
pub const WITNESS_IOC_GET_CONFIG: u32 = ior(3, core::mem::size_of::<Config>());
/// Replace the [`Config`]. Needs `CAP_SYS_ADMIN`; `EINVAL` on unknown kind
/// bits, a zero or too large watermark, or nonzero reserved bytes.
pub const WITNESS_IOC_SET_CONFIG: u32 = iow(4, core::mem::size_of::<Config>());

/// [`FilterOp::op`]: add a value.
pub const FILTER_ADD: u32 = 1;
/// [`FilterOp::op`]: remove a value.
pub const FILTER_REMOVE: u32 = 2;
/// [`FilterOp::op`]: remove every value of this filter.
pub const FILTER_CLEAR: u32 = 3;

/// [`FilterOp::filter`]: record only tasks in these cgroups (ids).
pub const FILTER_CGROUP_INCLUDE: u32 = 1;
/// [`FilterOp::filter`]: never record tasks in these cgroups (ids).
pub const FILTER_CGROUP_EXCLUDE: u32 = 2;
/// [`FilterOp::filter`]: record only these (real) uids.
pub const FILTER_UID_INCLUDE: u32 = 3;
/// [`FilterOp::filter`]: never record these uids.
pub const FILTER_UID_EXCLUDE: u32 = 4;
/// [`FilterOp::filter`]: file events only at or under these paths (opens
/// of secret paths are always recorded). Matched by whole components, as
/// [`path_is_under`] says.
pub const FILTER_PATH_PREFIX: u32 = 5;
/// [`FilterOp::filter`]: paths whose opens are credential material (flagged
/// `FILE_PATH_SECRET`, recorded whatever the other filters say): the path
/// itself and everything under it, by whole components.
pub const FILTER_SECRET_PATH: u32 = 6;

/// Whether `path` is `filter` or lies under it, comparing whole path
/// components: `/srv/app` covers `/srv/app` and `/srv/app/key` but not
/// `/srv/application`; `/srv/app/` covers what is under the directory only.
/// An empty filter covers nothing. The module applies the same rule through
/// [`ends_component`].
pub fn path_is_under(filter: &[u8], path: &[u8]) -> bool {
    !filter.is_empty() && path.starts_with(filter) && ends_component(filter[filter.len() - 1], path, filter.len())
}

/// For a `path` whose first `n` bytes equal a filter ending in byte `last`:
/// whether the match ends at a component boundary (the path ends there, the
/// next byte is `/`, or the filter itself ended with `/`).
#[inline]
pub fn ends_component(last: u8, path: &[u8], n: usize) -> bool {
    last == b'/' || path.len() == n || path.get(n) == Some(&b'/')
}

/// Longest path in a [`FilterOp`].
pub const FILTER_PATH_MAX: usize = 256;
/// Most values per filter.
pub const FILTER_MAX_ENTRIES: usize = 64;

/// Argument of [`WITNESS_IOC_FILTER`].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "user",
    derive(zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable, zerocopy::KnownLayout)
)]
pub struct FilterOp {
    /// `FILTER_ADD`, `FILTER_REMOVE` or `FILTER_CLEAR`.
    pub op: u32,
    /// `FILTER_CGROUP_INCLUDE` ... `FILTER_SECRET_PATH`.
    pub filter: u32,
    /// cgroup id or uid (numeric filters).
    pub value: u64,
    /// Bytes of `path` used (path filters), 1 ..= [`FILTER_PATH_MAX`].
    pub path_len: u32,
    /// Reserved, zero.
    pub reserved: u32,
    /// Path (path filters): absolute, no NUL needed.
    pub path: [u8; FILTER_PATH_MAX],
}

/// Change a filter ([`FilterOp`]). Needs `CAP_SYS_ADMIN`; `EINVAL` on a bad
/// op, filter, length or reserved field, `ENOSPC` when the filter is full,
/// `ENOENT` when removing a value that is not there.
pub const WITNESS_IOC_FILTER: u32 = iow(5, core::mem::size_of::<FilterOp>());

/// Zero every ring and hook counter except sequence numbers (which must stay
/// monotonic for loss accounting). Needs `CAP_SYS_ADMIN`.
pub const WITNESS_IOC_RESET_COUNTERS: u32 = ioc(IOC_NONE, 6, 0);

const _: () = {
    use core::mem::size_of;
    assert!(size_of::<DeviceInfo>() == 16);
    assert!(WITNESS_IOC_INFO == 0x8010_5701);
    assert!(size_of::<CpuStats>() == 56);
    assert!(size_of::<HookStats>() == 48);
    assert!(size_of::<StatsRequest>() == 32);
    assert!(size_of::<Config>() == 16);
    assert!(size_of::<FilterOp>() == 24 + FILTER_PATH_MAX);
};

#[cfg(test)]
mod tests {
    use super::path_is_under;

    #[test]
    fn path_filters_match_whole_components() {
        let under = |f: &str, p: &str| path_is_under(f.as_bytes(), p.as_bytes());
        assert!(under("/srv/app", "/srv/app"));
        assert!(under("/srv/app", "/srv/app/key"));
        assert!(!under("/srv/app", "/srv/application"));
        assert!(!under("/srv/app", "/srv/ap"));
        assert!(under("/srv/app/", "/srv/app/key"));
        assert!(!under("/srv/app/", "/srv/app"));
        assert!(under("/", "/etc/passwd"));
        assert!(!under("", "/etc/passwd"));
        assert!(!under("/etc/shadow", "/etc/shadow-"));
    }
}
