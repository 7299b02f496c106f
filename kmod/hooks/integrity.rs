//! Kernel integrity: module loads (`module_load`), BPF program loads
//! (`security_bpf_prog_load`) and ptrace attaches
//! (`security_ptrace_access_check`), with the kernel's verdict where the
//! hook has one.

use core::ffi::{c_int, c_void};
use core::mem::size_of;

use super::{current_context, stash, stashed, Body, Hit, HookPoint};
use crate::device::State;
use crate::ioctl::Hook;
use crate::record::{BpfRecord, ModuleRecord, PtraceRecord, RecordKind};
use crate::shim::{self, Kptr};

pub(super) static POINTS: &[HookPoint] = &[
    tracepoint!(ModuleLoad, c"module_load", witness_tp_module_load),
    kretprobe!(
        SecurityBpfProgLoad,
        c"security_bpf_prog_load",
        witness_kr_security_bpf_prog_load_entry,
        witness_kr_security_bpf_prog_load_return,
        BpfStash
    ),
    kretprobe!(
        SecurityPtraceAccessCheck,
        c"security_ptrace_access_check",
        witness_kr_security_ptrace_access_check_entry,
        witness_kr_security_ptrace_access_check_return,
        [u32; 3]
    ),
];

/// `module_load(struct module *mod)`: after a module is loaded, in the
/// loading task.
#[no_mangle]
unsafe extern "C" fn witness_rs_module_load(data: *mut c_void, module: Kptr) {
    // SAFETY: attached with the State as data.
    let state = unsafe { &*data.cast::<State>() };
    let Some(hit) = Hit::begin(state, Hook::ModuleLoad, RecordKind::ModuleLoad) else { return };
    let mut rec = ModuleRecord { task: current_context(), taints: 0, reserved: 0, name: [0; 56] };
    if !hit.task_passes(&rec.task) {
        return hit.filtered();
    }
    // SAFETY: `module` is the module being loaded; `name` has 56 bytes.
    unsafe { shim::witness_shim_module_info(module, rec.name.as_mut_ptr(), &mut rec.taints) };
    hit.emit(RecordKind::ModuleLoad, size_of::<ModuleRecord>(), |buf| {
        let mut body = Body::new(buf);
        body.put(&rec);
        Some(body.len())
    });
}

#[repr(C)]
#[derive(Clone, Copy)]
struct BpfStash {
    prog_type: u32,
    insn_cnt: u32,
    name: [u8; 16],
}

/// `int security_bpf_prog_load(struct bpf_prog *prog, union bpf_attr *attr,
/// struct bpf_token *token, bool kernel)`.
#[no_mangle]
unsafe extern "C" fn witness_rs_bpf_prog_load_entry(data: *mut c_void, prog: Kptr) -> c_int {
    let mut s = BpfStash { prog_type: 0, insn_cnt: 0, name: [0; 16] };
    // SAFETY: `prog` is the program being loaded; `name` has 16 bytes.
    unsafe { shim::witness_shim_bpf_prog_info(prog, &mut s.prog_type, &mut s.insn_cnt, s.name.as_mut_ptr()) };
    // SAFETY: registered with data_size = size_of::<BpfStash>().
    unsafe { stash(data, s) };
    0
}

#[no_mangle]
unsafe extern "C" fn witness_rs_bpf_prog_load_return(data: *mut c_void, verdict: c_int) {
    let Some(hit) = Hit::begin_global(Hook::SecurityBpfProgLoad, RecordKind::BpfProgLoad) else { return };
    // SAFETY: written by the entry handler.
    let s = unsafe { stashed::<BpfStash>(data) };
    let task = current_context();
    if !hit.task_passes(&task) {
        return hit.filtered();
    }
    let rec = BpfRecord { task, verdict, prog_type: s.prog_type, insn_cnt: s.insn_cnt, reserved: 0, name: s.name };
    hit.emit(RecordKind::BpfProgLoad, size_of::<BpfRecord>(), |buf| {
        let mut body = Body::new(buf);
        body.put(&rec);
        Some(body.len())
    });
}

/// `PTRACE_MODE_ATTACH`: the checks that guard attaching, as opposed to the
/// far more frequent read checks (/proc access).
const PTRACE_MODE_ATTACH: u32 = 0x02;

/// `int security_ptrace_access_check(struct task_struct *child, unsigned int mode)`.
#[no_mangle]
unsafe extern "C" fn witness_rs_ptrace_entry(data: *mut c_void, child: Kptr, mode: u32) -> c_int {
    if mode & PTRACE_MODE_ATTACH == 0 {
        // Skips the return handler.
        return 1;
    }
    let (mut tgid, mut uid) = (0u32, 0u32);
    // SAFETY: `child` is the live target task.
    unsafe { shim::witness_shim_task_tgid_uid(child, &mut tgid, &mut uid) };
    // SAFETY: registered with data_size = size_of::<[u32; 3]>().
    unsafe { stash(data, [mode, tgid, uid]) };
    0
}

#[no_mangle]
unsafe extern "C" fn witness_rs_ptrace_return(data: *mut c_void, verdict: c_int) {
    let Some(hit) = Hit::begin_global(Hook::SecurityPtraceAccessCheck, RecordKind::PtraceAttach) else { return };
    // SAFETY: written by the entry handler.
    let [mode, target_tgid, target_uid] = unsafe { stashed::<[u32; 3]>(data) };
    let task = current_context();
    if !hit.task_passes(&task) {
        return hit.filtered();
    }
    let rec = PtraceRecord { task, verdict, mode, target_tgid, target_uid };
    hit.emit(RecordKind::PtraceAttach, size_of::<PtraceRecord>(), |buf| {
        let mut body = Body::new(buf);
        body.put(&rec);
        Some(body.len())
    });
}
