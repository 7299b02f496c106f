//! Hook framework: attaching every hook point, and the path from a handler
//! to a record.
//!
//! A hook is one kernel attach point (tracepoint, kprobe or kretprobe) that
//! produces one record kind. The table in [`POINTS`] lists them; each family
//! module (`process`, `file`, `net`, `creds`, `ns`, `integrity`, `keys`)
//! holds the handlers. A handler does not rely on its context to keep it on
//! one CPU: kprobe handlers run with preemption disabled, but from Linux 7.x
//! tracepoint probes run preemptible (under SRCU), so every path to a ring or
//! a CPU's counters goes through [`NoPreempt`], which disables preemption
//! itself and names the CPU that stays the handler's until it is dropped.
//!
//! Every handler goes through [`Hit`]: it counts the hit, applies the kind
//! mask and filters (counting what they discard), writes the record into this
//! CPU's ring (counting drops), wakes readers at the watermark, and adds the
//! time spent to the hook's cost.
//!
//! The kernel enters a handler through a typed trampoline of probes.c, which
//! has the exact prototype of its attach point (so kCFI kernels accept the
//! call), reads the hooked function's arguments as the types it declares
//! (asserted against the target kernel's headers at build time), and calls
//! the family's `witness_rs_*` handler directly with them.
//!
//! A hook point this kernel lacks (a symbol that is not there, or not
//! probeable) is reported as not attached in the stats and does not stop the
//! module from loading.

use core::ffi::{c_char, c_void, CStr};
use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::prelude::*;

use crate::device::State;
use crate::ioctl::Hook;
use crate::record::{RecordKind, TaskContext};
use crate::ring::Produced;
use crate::shim;
use crate::stats::{inc, HookCounters};

/// A [`HookPoint`] on a tracepoint whose typed trampoline (probes.c) gets
/// the State as data.
macro_rules! tracepoint {
    ($hook:ident, $name:literal, $probe:ident) => {
        $crate::hooks::HookPoint {
            hook: $crate::ioctl::Hook::$hook,
            point: $crate::hooks::Point::Tracepoint {
                name: $name,
                probe: $crate::hooks::trampolines::$probe as *const core::ffi::c_void,
            },
        }
    };
}

/// A [`HookPoint`] on a kprobe with a typed pre-handler trampoline.
macro_rules! kprobe {
    ($hook:ident, $symbol:literal, $pre:ident) => {
        $crate::hooks::HookPoint {
            hook: $crate::ioctl::Hook::$hook,
            point: $crate::hooks::Point::Kprobe {
                symbol: $symbol,
                pre: $crate::hooks::trampolines::$pre as *const core::ffi::c_void,
            },
        }
    };
}

/// A [`HookPoint`] on a kretprobe: typed entry and return trampolines, and
/// the `$data` the entry handler passes to the return handler; with
/// `direct`, an ftrace direct call first (only `security_file_open` has one).
macro_rules! kretprobe {
    ($hook:ident, $symbol:literal, $entry:ident, $ret:ident, $data:ty) => {
        kretprobe!(@ $hook, $symbol, $entry, $ret, $data, false)
    };
    ($hook:ident, $symbol:literal, $entry:ident, $ret:ident, $data:ty, direct) => {
        kretprobe!(@ $hook, $symbol, $entry, $ret, $data, true)
    };
    (@ $hook:ident, $symbol:literal, $entry:ident, $ret:ident, $data:ty, $direct:literal) => {
        $crate::hooks::HookPoint {
            hook: $crate::ioctl::Hook::$hook,
            point: $crate::hooks::Point::Kretprobe {
                symbol: $symbol,
                entry: $crate::hooks::trampolines::$entry as *const core::ffi::c_void,
                ret: $crate::hooks::trampolines::$ret as *const core::ffi::c_void,
                data_size: core::mem::size_of::<$data>(),
                direct: $direct,
            },
        }
    };
    ($hook:ident, $symbol:literal, $ret:ident) => {
        $crate::hooks::HookPoint {
            hook: $crate::ioctl::Hook::$hook,
            point: $crate::hooks::Point::Kretprobe {
                symbol: $symbol,
                entry: core::ptr::null(),
                ret: $crate::hooks::trampolines::$ret as *const core::ffi::c_void,
                data_size: 0,
                direct: false,
            },
        }
    };
}

/// The typed trampolines of probes.c, which the kernel calls and which call
/// the `witness_rs_*` handlers of the family modules. Declared without
/// parameters: Rust only takes their addresses to register them, and never
/// calls them (their prototypes are in probes.h).
mod trampolines {
    extern "C" {
        pub(crate) fn witness_tp_sched_process_exec();
        pub(crate) fn witness_tp_sched_process_fork();
        pub(crate) fn witness_tp_sched_process_exit();
        pub(crate) fn witness_tp_inet_sock_set_state();
        pub(crate) fn witness_tp_kfree_skb();
        pub(crate) fn witness_tp_module_load();
        pub(crate) fn witness_kp_commit_creds();
        pub(crate) fn witness_kp_switch_task_namespaces();
        pub(crate) fn witness_kp_inet_accept();
        pub(crate) fn witness_kr_security_bprm_check_entry();
        pub(crate) fn witness_kr_security_bprm_check_return();
        pub(crate) fn witness_kr_security_file_open_entry();
        pub(crate) fn witness_kr_security_path_mknod_entry();
        pub(crate) fn witness_kr_security_path_unlink_entry();
        pub(crate) fn witness_kr_security_path_rename_entry();
        pub(crate) fn witness_kr_file_return();
        pub(crate) fn witness_kr_security_socket_connect_entry();
        pub(crate) fn witness_kr_security_socket_bind_entry();
        pub(crate) fn witness_kr_security_socket_listen_entry();
        pub(crate) fn witness_kr_sock_return();
        pub(crate) fn witness_kr_security_capable_entry();
        pub(crate) fn witness_kr_security_capable_return();
        pub(crate) fn witness_kr_bpf_entry();
        pub(crate) fn witness_kr_bpf_return();
        pub(crate) fn witness_kr_init_module_return();
        pub(crate) fn witness_kr_finit_module_return();
        pub(crate) fn witness_kr_security_ptrace_access_check_entry();
        pub(crate) fn witness_kr_security_ptrace_access_check_return();
        pub(crate) fn witness_kr_key_create_or_update_entry();
        pub(crate) fn witness_kr_request_key_and_link_entry();
        pub(crate) fn witness_kr_key_return();
    }
}

mod creds;
mod file;
mod integrity;
mod keys;
mod net;
mod ns;
mod process;

/// The state kprobe handlers reach (they get no private pointer). Set before
/// any kprobe is attached, cleared after all are detached.
static STATE: AtomicPtr<State> = AtomicPtr::new(core::ptr::null_mut());

/// The module state, for handlers without a data pointer.
#[inline]
fn state() -> Option<&'static State> {
    let p = STATE.load(Ordering::Acquire);
    // SAFETY: non-null only between `attach_all` and the end of
    // `detach_all`, during which the pinned State is alive and no longer
    // than which any handler runs (detach waits for in-flight handlers).
    unsafe { p.as_ref() }
}

/// How a hook attaches. The handlers are trampolines of probes.c.
pub(crate) enum Point {
    /// A tracepoint; the probe gets the State as its data pointer.
    Tracepoint { name: &'static CStr, probe: *const c_void },
    /// A kprobe with a pre-handler.
    Kprobe { symbol: &'static CStr, pre: *const c_void },
    /// A kretprobe: optional entry handler, return handler, and bytes of
    /// per-call data passed from one to the other.
    /// With `direct`, an ftrace direct call (direct.c) is tried first.
    Kretprobe { symbol: &'static CStr, entry: *const c_void, ret: *const c_void, data_size: usize, direct: bool },
}

/// A hook point and its hook id.
pub(crate) struct HookPoint {
    pub(crate) hook: Hook,
    pub(crate) point: Point,
}

// SAFETY: the raw pointers are addresses of functions (the trampolines),
// immutable and valid for the module's lifetime.
unsafe impl Sync for HookPoint {}

/// Every hook the module has, by family.
static POINTS: &[&[HookPoint]] =
    &[process::POINTS, file::POINTS, net::POINTS, creds::POINTS, ns::POINTS, integrity::POINTS, keys::POINTS];

fn all_points() -> impl Iterator<Item = &'static HookPoint> {
    POINTS.iter().flat_map(|family| family.iter())
}

/// Attaches every hook this kernel has. Fails only if none attaches.
pub(crate) fn attach_all(state: &State) -> Result {
    // SAFETY: no preconditions.
    unsafe { shim::witness_shim_init_keys() };
    STATE.store((state as *const State).cast_mut(), Ordering::Release);
    let mut attached = 0;
    for hp in all_points() {
        match attach(hp, state) {
            Ok(()) => {
                state.set_attached(hp.hook, true);
                state.set_armed(hp.hook, true);
                attached += 1;
            }
            Err(e) => {
                pr_warn!("hook {} not attached ({:?}); its events will be missing\n", hp.hook.name(), e);
            }
        }
    }
    if attached == 0 {
        STATE.store(core::ptr::null_mut(), Ordering::Release);
        return Err(ENOENT);
    }
    net::start_drop_reports();
    Ok(())
}

/// The record kind `hook`'s events become.
const fn kind_of(hook: Hook) -> RecordKind {
    match hook {
        Hook::SchedProcessExec => RecordKind::Exec,
        Hook::SchedProcessFork => RecordKind::Fork,
        Hook::SchedProcessExit => RecordKind::Exit,
        Hook::SecurityBprmCheck => RecordKind::BprmCheck,
        Hook::SecurityFileOpen => RecordKind::FileOpen,
        Hook::SecurityPathMknod => RecordKind::FileCreate,
        Hook::SecurityPathUnlink => RecordKind::FileUnlink,
        Hook::SecurityPathRename => RecordKind::FileRename,
        Hook::SecuritySocketConnect => RecordKind::SockConnect,
        Hook::SecuritySocketBind => RecordKind::SockBind,
        Hook::SecuritySocketListen => RecordKind::SockListen,
        Hook::InetAccept => RecordKind::SockAccept,
        Hook::InetSockSetState => RecordKind::TcpState,
        Hook::CommitCreds => RecordKind::CredChange,
        Hook::SecurityCapable => RecordKind::CapDenied,
        Hook::SwitchTaskNamespaces => RecordKind::NsChange,
        Hook::ModuleLoad | Hook::InitModule | Hook::FinitModule => RecordKind::ModuleLoad,
        Hook::BpfProgLoad => RecordKind::BpfProgLoad,
        Hook::SecurityPtraceAccessCheck => RecordKind::PtraceAttach,
        Hook::KfreeSkb => RecordKind::PacketDrops,
        Hook::AddKey | Hook::RequestKey => RecordKind::KeyAccess,
    }
}

/// Arms the attached hooks whose kind `mask` records and disarms the others,
/// so that a kind that is off costs nothing: a disarmed kprobe or kretprobe
/// has its site restored (on ftrace, the function's NOP), a disarmed
/// tracepoint has no probe (with none left, its static branch is off).
/// Handlers still check the kind, for calls that were in flight. Called with
/// the control lock held (or before the device exists).
pub(crate) fn arm(state: &State, mask: u64) {
    let data = (state as *const State).cast_mut().cast::<c_void>();
    for hp in all_points() {
        let on = mask & kind_of(hp.hook).mask_bit() != 0;
        if !state.is_attached(hp.hook) || state.is_armed(hp.hook) == on {
            continue;
        }
        // SAFETY: the point is attached (registered by `attach` with these
        // arguments); a tracepoint probe is registered again exactly when it
        // was unregistered here.
        let ret = unsafe {
            match hp.point {
                Point::Tracepoint { name, probe } if on => shim::witness_shim_tracepoint_attach(name.as_ptr(), probe, data),
                Point::Tracepoint { name, probe } => shim::witness_shim_tracepoint_detach(name.as_ptr(), probe, data),
                Point::Kprobe { .. } => shim::witness_shim_kprobe_arm(slot(hp.hook), on),
                Point::Kretprobe { .. } => shim::witness_shim_kretprobe_arm(slot(hp.hook), on),
            }
        };
        if ret == 0 {
            state.set_armed(hp.hook, on);
        } else {
            pr_warn!("hook {}: {} failed (error {})\n", hp.hook.name(), if on { "arming" } else { "disarming" }, ret);
        }
    }
}

/// Detaches every hook and waits until none of their handlers is running.
pub(crate) fn detach_all(state: &State) {
    net::stop_drop_reports();
    for hp in all_points() {
        if state.is_attached(hp.hook) {
            detach(hp, state);
            state.set_attached(hp.hook, false);
            state.set_armed(hp.hook, false);
        }
    }
    // SAFETY: process context (module exit); waits for in-flight tracepoint
    // probes. (Unregistering a kprobe already waits for its handlers, and
    // direct.c for the calls its trampoline follows.)
    unsafe { shim::witness_shim_tracepoint_sync() };
    STATE.store(core::ptr::null_mut(), Ordering::Release);
}

fn slot(hook: Hook) -> u32 {
    hook as u32
}

fn attach(hp: &HookPoint, state: &State) -> Result {
    let data = (state as *const State).cast_mut().cast::<c_void>();
    // SAFETY: each probe is a trampoline of probes.c with the prototype its
    // attach point calls it with (checked at build time there); `state`
    // outlives the attachment (see STATE).
    let ret = unsafe {
        match hp.point {
            Point::Tracepoint { name, probe } => shim::witness_shim_tracepoint_attach(name.as_ptr(), probe, data),
            Point::Kprobe { symbol, pre } => shim::witness_shim_kprobe_attach(slot(hp.hook), symbol.as_ptr(), pre),
            Point::Kretprobe { symbol, entry, ret, data_size, direct } => {
                shim::witness_shim_kretprobe_attach(slot(hp.hook), symbol.as_ptr(), entry, ret, data_size, direct)
            }
        }
    };
    if ret == 0 {
        Ok(())
    } else {
        Err(Error::from_errno(ret))
    }
}

fn detach(hp: &HookPoint, state: &State) {
    let data = (state as *const State).cast_mut().cast::<c_void>();
    // SAFETY: detaches what `attach` attached, with the same arguments (a
    // disarmed tracepoint has no probe left to detach; a disarmed kprobe is
    // still registered).
    unsafe {
        match hp.point {
            Point::Tracepoint { name, probe } => {
                if state.is_armed(hp.hook) {
                    shim::witness_shim_tracepoint_detach(name.as_ptr(), probe, data);
                }
            }
            Point::Kprobe { .. } => shim::witness_shim_kprobe_detach(slot(hp.hook)),
            Point::Kretprobe { .. } => shim::witness_shim_kretprobe_detach(slot(hp.hook)),
        }
    }
}

/// Hits of `hook` its kprobe or kretprobe missed: the kernel skipped the
/// handler (another kprobe handler was running on that CPU) or had no free
/// kretprobe instance. These never reached a handler, so they are counted
/// as the hook's drops, not as sequence gaps. Tracepoints and direct calls
/// miss nothing.
pub(crate) fn missed(hook: Hook) -> u64 {
    let probe = all_points().any(|hp| hp.hook == hook && !matches!(hp.point, Point::Tracepoint { .. }));
    if !probe {
        return 0;
    }
    // SAFETY: reads counters of a static slot.
    u64::from(unsafe { shim::witness_shim_probe_missed(slot(hook)) })
}

/// For kretprobe entry handlers: false when `kind` is switched off, and the
/// entry handler then returns nonzero so that the kernel skips the return
/// handler and its trampoline, the costly half of a kretprobe (`make bench`
/// measured open(2) with every hook attached and recording off at 1.39x
/// unloaded before this). With `count`, the skipped event is counted as a
/// filtered hit, as the return handler would have.
#[inline]
pub(crate) fn entry_wanted(hook: Hook, kind: RecordKind, count: bool) -> bool {
    let Some(state) = state() else { return false };
    if state.kind_enabled(kind) {
        return true;
    }
    if count {
        let preempt = NoPreempt::new();
        if let Some(counters) = state.stats.get(preempt.cpu(), hook) {
            inc(&counters.hits);
            inc(&counters.filtered);
        }
    }
    false
}

/// Preemption disabled while this lives: the task stays on [`NoPreempt::cpu`],
/// and nothing else in task context on that CPU runs until it is dropped
/// (interrupts can, which the ring's atomic writer claim handles). So a ring has one
/// producer at a time, and a record is never torn by a migration.
pub(crate) struct NoPreempt {
    cpu: u32,
}

impl NoPreempt {
    #[inline]
    pub(crate) fn new() -> Self {
        // SAFETY: paired with the enable in Drop; callable in any context.
        unsafe { shim::witness_shim_preempt_disable() };
        // SAFETY: preemption is disabled (the shim uses the checked
        // smp_processor_id, which debug kernels verify).
        let cpu = unsafe { shim::witness_shim_this_cpu() };
        Self { cpu }
    }

    /// The CPU this handler runs on, until the guard is dropped.
    #[inline]
    pub(crate) fn cpu(&self) -> u32 {
        self.cpu
    }
}

impl Drop for NoPreempt {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: disabled in new().
        unsafe { shim::witness_shim_preempt_enable() };
    }
}

/// One handler invocation: counts it and, unless the event is filtered,
/// writes its record. The time from `begin` to drop is the hook's cost.
pub(crate) struct Hit<'a> {
    state: &'a State,
    counters: &'a HookCounters,
    /// When this event is one of those timed (see `stats`), its start.
    start_ns: Option<u64>,
    // Last: dropped after Hit's own drop has added the cost.
    preempt: NoPreempt,
}

impl<'a> Hit<'a> {
    /// Starts handling an event of `hook` that would become a `kind` record.
    /// None (counted as filtered) when that kind is switched off.
    #[inline]
    pub(crate) fn begin(state: &'a State, hook: Hook, kind: RecordKind) -> Option<Self> {
        let preempt = NoPreempt::new();
        let cpu = preempt.cpu();
        let counters = state.stats.get(cpu, hook)?;
        inc(&counters.hits);
        if !state.kind_enabled(kind) {
            inc(&counters.filtered);
            return None;
        }
        let start_ns = start_clock(counters);
        Some(Self { state, counters, start_ns, preempt })
    }

    /// Like [`Hit::begin`] without counting a hit: for records that report
    /// on hits counted elsewhere (periodic aggregates).
    pub(crate) fn begin_report(hook: Hook, kind: RecordKind) -> Option<Hit<'static>> {
        let state = state()?;
        if !state.kind_enabled(kind) {
            return None;
        }
        let preempt = NoPreempt::new();
        let cpu = preempt.cpu();
        let counters = state.stats.get(cpu, hook)?;
        let start_ns = start_clock(counters);
        Some(Hit { state, counters, start_ns, preempt })
    }

    /// Like [`Hit::begin`], for kprobe handlers (which reach the state
    /// through the module global).
    #[inline]
    pub(crate) fn begin_global(hook: Hook, kind: RecordKind) -> Option<Hit<'static>> {
        Hit::begin(state()?, hook, kind)
    }

    /// The module state.
    pub(crate) fn state(&self) -> &'a State {
        self.state
    }

    /// The event is discarded by a filter.
    pub(crate) fn filtered(self) {
        inc(&self.counters.filtered);
    }

    /// The event is lost before it reached the ring (counted in the hook's
    /// `dropped`; it took no sequence number).
    pub(crate) fn dropped(self) {
        inc(&self.counters.dropped);
    }

    /// Whether the task's cgroup and uid pass the filters; counts a filtered
    /// event when not.
    #[inline]
    pub(crate) fn task_passes(&self, task: &TaskContext) -> bool {
        self.state.filters.task_passes(task.cgroup_id, task.uid)
    }

    /// Writes a `kind` record whose body `fill` writes (at most `max_body`
    /// bytes; it returns how many it wrote, or None when a filter that
    /// needed the record's contents discards it).
    #[inline]
    pub(crate) fn emit(self, kind: RecordKind, max_body: usize, fill: impl FnOnce(&mut [u8]) -> Option<usize>) {
        let Some(ring) = self.state.rings.local(&self.preempt) else { return };
        // SAFETY: no preconditions.
        let ts_ns = unsafe { shim::witness_shim_boot_ns() };
        match ring.produce(kind, max_body, self.preempt.cpu(), ts_ns, fill) {
            Produced::Written(_) => {
                inc(&self.counters.written);
                if self.state.above_watermark(ring) {
                    // SAFETY: callable from any context.
                    unsafe { shim::witness_shim_wake_readers() };
                }
            }
            Produced::Dropped(_) => inc(&self.counters.dropped),
            Produced::Cancelled => inc(&self.counters.filtered),
        }
    }
}

/// Counts a handled event; the clock when it is one to time.
#[inline]
fn start_clock(counters: &HookCounters) -> Option<u64> {
    // SAFETY: no preconditions.
    counters.handle().then(|| unsafe { shim::witness_shim_clock_ns() })
}

impl Drop for Hit<'_> {
    #[inline]
    fn drop(&mut self) {
        if let Some(start) = self.start_ns {
            // SAFETY: no preconditions.
            let now = unsafe { shim::witness_shim_clock_ns() };
            self.counters.cost_ns.fetch_add(now.wrapping_sub(start), Ordering::Relaxed);
            inc(&self.counters.timed);
        }
    }
}

/// Types whose every byte is initialised: `repr(C)` ABI structs without
/// padding (record.rs asserts their sizes equal the sums of their fields).
///
/// # Safety
///
/// Implement only for such types.
pub(crate) unsafe trait Plain: Copy {}

macro_rules! plain {
    ($($t:ty),*) => { $(
        // SAFETY: an ABI struct without padding (see record.rs assertions).
        unsafe impl Plain for $t {}
    )* };
}

plain!(
    crate::record::ExecRecord,
    crate::record::ForkRecord,
    crate::record::ExitRecord,
    crate::record::BprmCheckRecord,
    crate::record::FileRecord,
    crate::record::SockRecord,
    crate::record::TcpStateRecord,
    crate::record::CredRecord,
    crate::record::CapRecord,
    crate::record::NsRecord,
    crate::record::ModuleRecord,
    crate::record::BpfRecord,
    crate::record::PtraceRecord,
    crate::record::KeyRecord,
    crate::record::PacketDropsRecord,
    crate::record::DropCount,
    crate::ioctl::DeviceInfo,
    crate::ioctl::CpuStats,
    crate::ioctl::HookStats,
    crate::ioctl::StatsRequest,
    crate::ioctl::Config,
    crate::ioctl::FilterOp
);

/// A record body being written: a fixed struct, then variable tails.
pub(crate) struct Body<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl<'b> Body<'b> {
    pub(crate) fn new(buf: &'b mut [u8]) -> Self {
        Self { buf, len: 0 }
    }

    /// Appends a value; ignored if it does not fit (callers size bodies so
    /// that it always does).
    pub(crate) fn put<T: Plain>(&mut self, value: &T) {
        let size = core::mem::size_of::<T>();
        if let Some(dst) = self.buf.get_mut(self.len..self.len + size) {
            // SAFETY: `dst` is `size` writable bytes; T is Plain, so every
            // byte written is initialised; write_unaligned needs no alignment.
            unsafe { dst.as_mut_ptr().cast::<T>().write_unaligned(*value) };
            self.len += size;
        }
    }

    /// Overwrites a value put earlier at `offset` (to fill in lengths learnt
    /// after writing the tails).
    pub(crate) fn put_at<T: Plain>(&mut self, offset: usize, value: &T) {
        let size = core::mem::size_of::<T>();
        if let Some(dst) = self.buf.get_mut(offset..offset + size) {
            // SAFETY: as in `put`.
            unsafe { dst.as_mut_ptr().cast::<T>().write_unaligned(*value) };
        }
    }

    /// Appends up to `max` bytes that `write` produces into the space it is
    /// given; returns how many it wrote.
    pub(crate) fn tail(&mut self, max: usize, write: impl FnOnce(&mut [u8]) -> usize) -> usize {
        let end = (self.len + max).min(self.buf.len());
        let room = &mut self.buf[self.len..end];
        let n = write(room).min(room.len());
        self.len += n;
        n
    }

    /// Appends bytes, cut to `max`; returns how many.
    pub(crate) fn bytes(&mut self, bytes: &[u8], max: usize) -> usize {
        self.tail(max, |room| {
            let n = bytes.len().min(room.len());
            room[..n].copy_from_slice(&bytes[..n]);
            n
        })
    }

    /// Bytes written so far.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

/// The calling task's context.
#[inline]
pub(crate) fn current_context() -> TaskContext {
    let mut ctx = TaskContext::zeroed();
    // SAFETY: `ctx` is a valid TaskContext to fill; task context.
    unsafe { shim::witness_shim_current_context(&mut ctx) };
    ctx
}

/// `task`'s context.
#[inline]
pub(crate) fn task_context(task: shim::Kptr) -> TaskContext {
    let mut ctx = TaskContext::zeroed();
    // SAFETY: `task` is a live task handed to us by the hook point.
    unsafe { shim::witness_shim_task_context(task, &mut ctx) };
    ctx
}

impl TaskContext {
    pub(crate) const fn zeroed() -> Self {
        Self { pid: 0, tgid: 0, ppid: 0, uid: 0, euid: 0, gid: 0, egid: 0, reserved: 0, cgroup_id: 0, comm: [0; 16] }
    }
}

/// Writes the per-call data an entry handler passes to its return handler.
///
/// # Safety
///
/// `data` is a kretprobe instance's data, registered with `data_size >=
/// size_of::<T>()`.
#[inline]
pub(crate) unsafe fn stash<T>(data: *mut c_void, value: T) {
    // SAFETY: the caller's contract; no alignment is assumed.
    unsafe { data.cast::<T>().write_unaligned(value) }
}

/// Reads what the entry handler stashed.
///
/// # Safety
///
/// As for [`stash`], and the entry handler wrote a `T` (it did, or the
/// kernel would not call the return handler).
#[inline]
pub(crate) unsafe fn stashed<T>(data: *mut c_void) -> T {
    // SAFETY: the caller's contract.
    unsafe { data.cast::<T>().read_unaligned() }
}

/// Copies a NUL-terminated kernel string into `out`, bounded; returns its
/// length in `out` and whether it was cut.
///
/// # Safety
///
/// `s` is NULL or a NUL-terminated kernel string.
pub(crate) unsafe fn copy_cstr(s: *const c_char, out: &mut [u8]) -> (usize, bool) {
    if s.is_null() {
        return (0, false);
    }
    for (i, slot) in out.iter_mut().enumerate() {
        // SAFETY: reads stop at the NUL, which the caller guarantees.
        let b = unsafe { *s.add(i) } as u8;
        if b == 0 {
            return (i, false);
        }
        *slot = b;
    }
    (out.len(), true)
}
