//! Program execution: the `sched_process_exec` tracepoint, which fires after
//! a successful `execve` has replaced the task's image, so the record
//! describes the new program with the credentials it runs under.

use core::ffi::{c_int, c_void};
use kernel::prelude::*;

use crate::device::State;
use crate::record::{ExecRecord, RecordKind, EXEC_PATH_MAX, EXEC_RECORD_LEN};
use crate::ring::Produced;
use crate::shim::{self, TaskIds};

const TRACEPOINT: &core::ffi::CStr = c"sched_process_exec";

pub(super) fn attach(state: &State) -> Result {
    // SAFETY: `exec_probe` has the tracepoint's probe signature; `state`
    // outlives the attachment (detached in `detach` before it is freed).
    let ret =
        unsafe { shim::witness_shim_tracepoint_attach(TRACEPOINT.as_ptr(), exec_probe as *const c_void, data(state)) };
    if ret != 0 {
        pr_err!("cannot attach to tracepoint sched_process_exec: error {}\n", ret);
        return Err(Error::from_errno(ret));
    }
    Ok(())
}

pub(super) fn detach(state: &State) {
    // SAFETY: same probe and data as in `attach`.
    let ret =
        unsafe { shim::witness_shim_tracepoint_detach(TRACEPOINT.as_ptr(), exec_probe as *const c_void, data(state)) };
    if ret != 0 {
        pr_warn!("detaching from sched_process_exec failed: error {}\n", ret);
    }
}

fn data(state: &State) -> *mut c_void {
    (state as *const State).cast_mut().cast()
}

/// Probe for `sched_process_exec(struct task_struct *p, pid_t old_pid,
/// struct linux_binprm *bprm)`. Runs in the exec'ing task with preemption
/// disabled.
unsafe extern "C" fn exec_probe(data: *mut c_void, task: *mut c_void, _old_pid: c_int, bprm: *const c_void) {
    // SAFETY: `data` is the State registered in `attach`, alive while the
    // probe is attached.
    let state = unsafe { &*data.cast::<State>() };
    // SAFETY: preemption is disabled in tracepoint probes, so the CPU id is
    // stable until we return.
    let cpu = unsafe { shim::witness_shim_this_cpu() };
    let Some(ring) = state.rings.get(cpu) else { return };

    let mut ids = TaskIds::zeroed();
    // SAFETY: `task` is the live task the tracepoint passed us.
    unsafe { shim::witness_shim_task_ids(task, &mut ids) };
    // SAFETY: no preconditions.
    let ts_ns = unsafe { shim::witness_shim_boot_ns() };

    let produced = ring.produce(RecordKind::Exec, EXEC_RECORD_LEN + EXEC_PATH_MAX, cpu, ts_ns, |body| {
        let (fixed, path) = body.split_at_mut(EXEC_RECORD_LEN);
        let mut flags = 0u32;
        // SAFETY: `bprm` is the tracepoint's binprm; `path` is a writable
        // buffer of `path.len()` bytes.
        let path_len = unsafe { shim::witness_shim_exec_path(bprm, path.as_mut_ptr(), path.len(), &mut flags) };
        let path_len = path_len.min(path.len());
        let record = ExecRecord {
            pid: ids.pid,
            tgid: ids.tgid,
            ppid: ids.ppid,
            uid: ids.uid,
            euid: ids.euid,
            gid: ids.gid,
            egid: ids.egid,
            flags,
            cgroup_id: ids.cgroup_id,
            comm: ids.comm,
            // CAST: path_len <= EXEC_PATH_MAX.
            path_len: path_len as u32,
            reserved: 0,
        };
        // SAFETY: `fixed` is EXEC_RECORD_LEN bytes; ExecRecord has no
        // padding, so every byte written is initialised.
        unsafe { fixed.as_mut_ptr().cast::<ExecRecord>().write_unaligned(record) };
        EXEC_RECORD_LEN + path_len
    });
    if let Produced::Written(_) = produced {
        // SAFETY: callable from any context.
        unsafe { shim::witness_shim_wake_readers() };
    }
}
