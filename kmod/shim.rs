//! Declarations of the C shim's functions (shim.c, prototypes in shim.h) and
//! of the structs the two sides share. Kernel objects are passed as opaque
//! pointers. Everything here is `unsafe` to call; the callers state why each
//! call is sound.

use core::ffi::{c_char, c_int, c_uint, c_ulong, c_void};

use crate::record::{NetAddr, TaskContext};

/// The "new" half of a `CredRecord`, filled by `witness_shim_cred_change`.
/// Mirrors `struct witness_cred_change` in shim.c (asserted on both sides).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct CredChange {
    pub(crate) new_uid: u32,
    pub(crate) new_euid: u32,
    pub(crate) new_gid: u32,
    pub(crate) new_egid: u32,
    pub(crate) old_cap_effective: u64,
    pub(crate) new_cap_effective: u64,
    pub(crate) old_cap_permitted: u64,
    pub(crate) new_cap_permitted: u64,
}

const _: () = assert!(core::mem::size_of::<CredChange>() == 48);

/// Opaque kernel object pointer.
pub(crate) type Kptr = *mut c_void;

extern "C" {
    pub(crate) fn witness_shim_ring_size_kib() -> c_uint;

    pub(crate) fn witness_shim_device_register(ctx: *mut c_void) -> c_int;
    pub(crate) fn witness_shim_device_unregister();
    pub(crate) fn witness_shim_wake_readers();
    pub(crate) fn witness_shim_read_lock() -> c_int;
    pub(crate) fn witness_shim_read_unlock();
    pub(crate) fn witness_shim_control_lock() -> c_int;
    pub(crate) fn witness_shim_control_unlock();
    pub(crate) fn witness_shim_capable_admin() -> bool;

    pub(crate) fn witness_shim_ring_alloc(size: usize) -> *mut c_void;
    pub(crate) fn witness_shim_ring_free(area: *mut c_void);
    pub(crate) fn witness_shim_mmap_area(vma: Kptr, area: *mut c_void, pgoff: c_ulong, writable: bool) -> c_int;

    pub(crate) fn witness_shim_nr_cpu_ids() -> c_uint;
    pub(crate) fn witness_shim_cpu_possible(cpu: c_uint) -> bool;
    pub(crate) fn witness_shim_this_cpu() -> c_uint;
    pub(crate) fn witness_shim_preempt_disable();
    pub(crate) fn witness_shim_preempt_enable();
    pub(crate) fn witness_shim_boot_ns() -> u64;
    pub(crate) fn witness_shim_clock_ns() -> u64;

    pub(crate) fn witness_shim_tracepoint_attach(name: *const c_char, probe: *const c_void, data: *mut c_void)
        -> c_int;
    pub(crate) fn witness_shim_tracepoint_detach(name: *const c_char, probe: *const c_void, data: *mut c_void)
        -> c_int;
    pub(crate) fn witness_shim_tracepoint_sync();

    pub(crate) fn witness_shim_kretprobe_attach(
        slot: c_uint,
        symbol: *const c_char,
        entry: *const c_void,
        ret: *const c_void,
        data_size: usize,
        direct: bool,
    ) -> c_int;
    pub(crate) fn witness_shim_kretprobe_detach(slot: c_uint);
    pub(crate) fn witness_shim_probe_missed(slot: c_uint) -> c_ulong;
    pub(crate) fn witness_shim_kprobe_attach(slot: c_uint, symbol: *const c_char, pre: *const c_void) -> c_int;
    pub(crate) fn witness_shim_kprobe_detach(slot: c_uint);
    pub(crate) fn witness_shim_kprobe_arm(slot: c_uint, on: bool) -> c_int;
    pub(crate) fn witness_shim_kretprobe_arm(slot: c_uint, on: bool) -> c_int;

    pub(crate) fn witness_shim_task_context(task: Kptr, out: *mut TaskContext);
    pub(crate) fn witness_shim_current_context(out: *mut TaskContext);
    pub(crate) fn witness_shim_exec_path(
        bprm: Kptr,
        name_script: bool,
        buf: *mut u8,
        buflen: usize,
        flags: *mut u32,
    ) -> usize;
    pub(crate) fn witness_shim_exec_inode(bprm: Kptr, dev: *mut u32, ino: *mut u64, mtime_sec: *mut i64);
    pub(crate) fn witness_shim_exec_argv(buf: *mut u8, buflen: usize, flags: *mut u32) -> usize;
    pub(crate) fn witness_shim_exec_argc(bprm: Kptr) -> u32;
    pub(crate) fn witness_shim_exit_code(task: Kptr) -> i32;

    pub(crate) fn witness_shim_file_path(file: Kptr, buf: *mut u8, buflen: usize, flags: *mut u16) -> usize;
    pub(crate) fn witness_shim_dir_entry_path(
        dir: Kptr,
        dentry: Kptr,
        buf: *mut u8,
        buflen: usize,
        flags: *mut u16,
    ) -> usize;
    pub(crate) fn witness_shim_file_info(file: Kptr, f_flags: *mut u32, mode: *mut u32, ino: *mut u64, dev: *mut u32);
    pub(crate) fn witness_shim_dentry_info(dentry: Kptr, mode: *mut u32, ino: *mut u64, dev: *mut u32);

    pub(crate) fn witness_shim_sockaddr(sa: Kptr, len: c_int, out: *mut NetAddr) -> u16;
    pub(crate) fn witness_shim_sock_info(
        sk: Kptr,
        family: *mut u16,
        sock_type: *mut u16,
        protocol: *mut u16,
        local: *mut NetAddr,
        remote: *mut NetAddr,
    );
    pub(crate) fn witness_shim_socket_sock(sock: Kptr) -> Kptr;
    pub(crate) fn witness_shim_sock_id(sk: Kptr) -> u64;
    pub(crate) fn witness_shim_init_keys();

    pub(crate) fn witness_shim_cred_change(new: Kptr, out: *mut CredChange) -> bool;
    pub(crate) fn witness_shim_ns_change(task: Kptr, new: Kptr, old_out: *mut u32, new_out: *mut u32) -> u32;
    pub(crate) fn witness_shim_module_info(module: Kptr, name: *mut u8, taints: *mut u32);
    pub(crate) fn witness_shim_task_tgid_uid(task: Kptr, tgid: *mut u32, uid: *mut u32);

    pub(crate) fn witness_shim_timer_start(period_ms: c_uint);
    pub(crate) fn witness_shim_timer_stop();
}
