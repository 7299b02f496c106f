//! Declarations of the C shim's functions (shim.c) and of the one struct the
//! two sides share. Everything here is `unsafe` to call; the wrappers in the
//! other modules state why each call is sound.

use core::ffi::{c_char, c_int, c_uint, c_void};

/// Identity fields of a task, filled by `witness_shim_task_ids`.
/// Mirrors `struct witness_task_ids` in shim.c (asserted on both sides).
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct TaskIds {
    pub(crate) pid: u32,
    pub(crate) tgid: u32,
    pub(crate) ppid: u32,
    pub(crate) uid: u32,
    pub(crate) euid: u32,
    pub(crate) gid: u32,
    pub(crate) egid: u32,
    pub(crate) reserved: u32,
    pub(crate) cgroup_id: u64,
    pub(crate) comm: [u8; 16],
}

const _: () = {
    assert!(core::mem::size_of::<TaskIds>() == 56);
    assert!(core::mem::offset_of!(TaskIds, cgroup_id) == 32);
    assert!(core::mem::offset_of!(TaskIds, comm) == 40);
};

impl TaskIds {
    pub(crate) const fn zeroed() -> Self {
        Self { pid: 0, tgid: 0, ppid: 0, uid: 0, euid: 0, gid: 0, egid: 0, reserved: 0, cgroup_id: 0, comm: [0; 16] }
    }
}

extern "C" {
    pub(crate) fn witness_shim_ring_size_kib() -> c_uint;

    pub(crate) fn witness_shim_device_register(ctx: *mut c_void) -> c_int;
    pub(crate) fn witness_shim_device_unregister();
    pub(crate) fn witness_shim_wake_readers();
    pub(crate) fn witness_shim_read_lock() -> c_int;
    pub(crate) fn witness_shim_read_unlock();

    pub(crate) fn witness_shim_ring_alloc(size: usize) -> *mut c_void;
    pub(crate) fn witness_shim_ring_free(area: *mut c_void);

    pub(crate) fn witness_shim_nr_cpu_ids() -> c_uint;
    pub(crate) fn witness_shim_cpu_possible(cpu: c_uint) -> bool;
    pub(crate) fn witness_shim_this_cpu() -> c_uint;
    pub(crate) fn witness_shim_boot_ns() -> u64;

    pub(crate) fn witness_shim_tracepoint_attach(name: *const c_char, probe: *const c_void, data: *mut c_void)
        -> c_int;
    pub(crate) fn witness_shim_tracepoint_detach(name: *const c_char, probe: *const c_void, data: *mut c_void)
        -> c_int;
    pub(crate) fn witness_shim_tracepoint_sync();

    pub(crate) fn witness_shim_task_ids(task: *mut c_void, out: *mut TaskIds);
    pub(crate) fn witness_shim_exec_path(bprm: *const c_void, buf: *mut u8, buflen: usize, flags: *mut u32) -> usize;
}
