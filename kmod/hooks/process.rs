//! Process lifecycle: exec, fork and exit tracepoints, and the exec decision
//! (`security_bprm_check` and its return value).

use core::ffi::{c_int, c_void};
use core::mem::size_of;

use super::{current_context, stash, stashed, task_context, Body, Hit, HookPoint};
use crate::device::State;
use crate::ioctl::Hook;
use crate::record::{
    BprmCheckRecord, ExecRecord, ExitRecord, ForkRecord, RecordKind, EXEC_ARGV_MAX, EXEC_PATH_MAX, EXIT_GROUP_DEAD,
};
use crate::shim::{self, Kptr};

pub(super) static POINTS: &[HookPoint] = &[
    tracepoint!(SchedProcessExec, c"sched_process_exec", witness_tp_sched_process_exec),
    tracepoint!(SchedProcessFork, c"sched_process_fork", witness_tp_sched_process_fork),
    tracepoint!(SchedProcessExit, c"sched_process_exit", witness_tp_sched_process_exit),
    kretprobe!(
        SecurityBprmCheck,
        c"security_bprm_check",
        witness_kr_security_bprm_check_entry,
        witness_kr_security_bprm_check_return,
        usize
    ),
];

/// # Safety
/// `data` is the State the tracepoint was attached with.
unsafe fn tp_state<'a>(data: *mut c_void) -> &'a State {
    // SAFETY: the caller's contract; the State outlives the attachment.
    unsafe { &*data.cast::<State>() }
}

/// `sched_process_exec(struct task_struct *p, pid_t old_pid, struct
/// linux_binprm *bprm)`: after a successful execve, in the task.
#[no_mangle]
unsafe extern "C" fn witness_rs_sched_process_exec(data: *mut c_void, task: Kptr, bprm: Kptr) {
    // SAFETY: attached with the State as data.
    let state = unsafe { tp_state(data) };
    let Some(hit) = Hit::begin(state, Hook::SchedProcessExec, RecordKind::Exec) else { return };
    let ctx = task_context(task);
    if !hit.task_passes(&ctx) {
        return hit.filtered();
    }
    let mut rec = ExecRecord { task: ctx, flags: 0, path_len: 0, argv_len: 0, argc: 0, dev: 0, ino: 0, mtime_sec: 0 };
    // SAFETY: `bprm` is the live binprm of this exec.
    unsafe { shim::witness_shim_exec_inode(bprm, &mut rec.dev, &mut rec.ino, &mut rec.mtime_sec) };
    hit.emit(RecordKind::Exec, size_of::<ExecRecord>() + EXEC_PATH_MAX + EXEC_ARGV_MAX, |buf| {
        let mut body = Body::new(buf);
        body.put(&rec);
        let mut path_flags = 0u32;
        let path_len = body.tail(EXEC_PATH_MAX, |room| {
            // SAFETY: `room` is writable for its length; `bprm` is live.
            unsafe { shim::witness_shim_exec_path(bprm, true, room.as_mut_ptr(), room.len(), &mut path_flags) }
        });
        let mut argv_flags = 0u32;
        let argv_len = body.tail(EXEC_ARGV_MAX, |room| {
            // SAFETY: `room` is writable for its length; we are the task.
            unsafe { shim::witness_shim_exec_argv(room.as_mut_ptr(), room.len(), &mut argv_flags) }
        });
        rec.flags = path_flags | argv_flags;
        // CAST: bounded by EXEC_PATH_MAX and EXEC_ARGV_MAX (< 2^16).
        rec.path_len = path_len as u16;
        rec.argv_len = argv_len as u16;
        // SAFETY: `bprm` is live.
        rec.argc = unsafe { shim::witness_shim_exec_argc(bprm) };
        body.put_at(0, &rec);
        Some(body.len())
    });
}

/// `sched_process_fork(struct task_struct *parent, struct task_struct *child)`.
#[no_mangle]
unsafe extern "C" fn witness_rs_sched_process_fork(data: *mut c_void, parent: Kptr, child: Kptr) {
    // SAFETY: attached with the State as data.
    let state = unsafe { tp_state(data) };
    let Some(hit) = Hit::begin(state, Hook::SchedProcessFork, RecordKind::Fork) else { return };
    let ctx = task_context(parent);
    if !hit.task_passes(&ctx) {
        return hit.filtered();
    }
    let (mut child_tgid, mut child_uid) = (0u32, 0u32);
    // SAFETY: `child` is the new, live task.
    unsafe { shim::witness_shim_task_tgid_uid(child, &mut child_tgid, &mut child_uid) };
    let child_ctx = task_context(child);
    let rec = ForkRecord { task: ctx, child_pid: child_ctx.pid, child_tgid };
    hit.emit(RecordKind::Fork, size_of::<ForkRecord>(), |buf| {
        let mut body = Body::new(buf);
        body.put(&rec);
        Some(body.len())
    });
}

/// `sched_process_exit(struct task_struct *p, bool group_dead)`: in the
/// exiting task; `group_dead` when it is the last thread of its process.
#[no_mangle]
unsafe extern "C" fn witness_rs_sched_process_exit(data: *mut c_void, task: Kptr, group_dead: bool) {
    // SAFETY: attached with the State as data.
    let state = unsafe { tp_state(data) };
    let Some(hit) = Hit::begin(state, Hook::SchedProcessExit, RecordKind::Exit) else { return };
    let ctx = task_context(task);
    if !hit.task_passes(&ctx) {
        return hit.filtered();
    }
    // SAFETY: `task` is the exiting, live task.
    let exit_code = unsafe { shim::witness_shim_exit_code(task) };
    let rec = ExitRecord { task: ctx, exit_code, flags: if group_dead { EXIT_GROUP_DEAD } else { 0 } };
    hit.emit(RecordKind::Exit, size_of::<ExitRecord>(), |buf| {
        let mut body = Body::new(buf);
        body.put(&rec);
        Some(body.len())
    });
}

/// Entry of `int security_bprm_check(struct linux_binprm *bprm)`: keeps
/// `bprm` for the return handler.
#[no_mangle]
unsafe extern "C" fn witness_rs_bprm_check_entry(data: *mut c_void, bprm: Kptr) -> c_int {
    if !super::entry_wanted(Hook::SecurityBprmCheck, RecordKind::BprmCheck, true) {
        return 1;
    }
    // SAFETY: registered with data_size = size_of::<usize>().
    unsafe { stash(data, bprm as usize) };
    0
}

#[no_mangle]
unsafe extern "C" fn witness_rs_bprm_check_return(data: *mut c_void, verdict: c_int) {
    let Some(hit) = Hit::begin_global(Hook::SecurityBprmCheck, RecordKind::BprmCheck) else { return };
    let ctx = current_context();
    if !hit.task_passes(&ctx) {
        return hit.filtered();
    }
    // SAFETY: written by the entry handler.
    let bprm = unsafe { stashed::<usize>(data) } as Kptr;
    let mut rec = BprmCheckRecord { task: ctx, verdict, path_len: 0, path_flags: 0 };
    hit.emit(RecordKind::BprmCheck, size_of::<BprmCheckRecord>() + EXEC_PATH_MAX, |buf| {
        let mut body = Body::new(buf);
        body.put(&rec);
        let mut flags = 0u32;
        let n = body.tail(EXEC_PATH_MAX, |room| {
            // SAFETY: `bprm` is live until security_bprm_check's caller
            // returns, which is after this handler.
            unsafe { shim::witness_shim_exec_path(bprm, false, room.as_mut_ptr(), room.len(), &mut flags) }
        });
        // CAST: n <= EXEC_PATH_MAX; the exec path flags fit the low bits.
        rec.path_len = n as u16;
        rec.path_flags = flags as u16;
        body.put_at(0, &rec);
        Some(body.len())
    });
}
