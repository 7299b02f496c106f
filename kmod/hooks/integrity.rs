//! Kernel integrity: module loads (`module_load`) and the loads that failed
//! or were refused (the init_module(2) and finit_module(2) syscalls' errors),
//! BPF program loads with their final result (bpf(2) `BPF_PROG_LOAD`), and
//! ptrace attaches (`security_ptrace_access_check`), each with the kernel's
//! verdict.

use core::ffi::{c_char, c_int, c_void};
use core::mem::size_of;

use super::{copy_cstr, current_context, stash, stashed, Body, Hit, HookPoint};
use crate::device::State;
use crate::ioctl::Hook;
use crate::record::{BpfRecord, ModuleRecord, PtraceRecord, RecordKind};
use crate::shim::{self, Kptr};

pub(super) static POINTS: &[HookPoint] = &[
    tracepoint!(ModuleLoad, c"module_load", witness_tp_module_load),
    kretprobe!(BpfProgLoad, c"__x64_sys_bpf", witness_kr_bpf_entry, witness_kr_bpf_return, ()),
    kretprobe!(InitModule, c"__x64_sys_init_module", witness_kr_init_module_return),
    kretprobe!(FinitModule, c"__x64_sys_finit_module", witness_kr_finit_module_return),
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
    let mut rec = ModuleRecord { task: current_context(), taints: 0, verdict: 0, name: [0; 56] };
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

/// Whether bpf(2)'s return is worth following for a `BPF_PROG_LOAD` (the
/// kind is on); the skipped loads count as filtered.
#[no_mangle]
unsafe extern "C" fn witness_rs_bpf_prog_load_wanted() -> c_int {
    if super::entry_wanted(Hook::BpfProgLoad, RecordKind::BpfProgLoad, true) {
        0
    } else {
        1
    }
}

/// bpf(`BPF_PROG_LOAD`, ...) returned: `verdict` is 0 or its errno; the
/// program's type, size and name are read back from the caller's attribute.
#[no_mangle]
unsafe extern "C" fn witness_rs_bpf_prog_load_return(
    verdict: c_int,
    prog_type: u32,
    insn_cnt: u32,
    name: *const c_char,
) {
    let Some(hit) = Hit::begin_global(Hook::BpfProgLoad, RecordKind::BpfProgLoad) else { return };
    let task = current_context();
    if !hit.task_passes(&task) {
        return hit.filtered();
    }
    let mut rec = BpfRecord { task, verdict, prog_type, insn_cnt, reserved: 0, name: [0; 16] };
    let keep_nul = rec.name.len() - 1;
    // SAFETY: the trampoline passes a NUL-terminated name of at most 16 bytes.
    unsafe { copy_cstr(name, &mut rec.name[..keep_nul]) };
    hit.emit(RecordKind::BpfProgLoad, size_of::<BpfRecord>(), |buf| {
        let mut body = Body::new(buf);
        body.put(&rec);
        Some(body.len())
    });
}

/// init_module(2) or finit_module(2) failed with `verdict`: the load was
/// refused or the module's init failed. `name` is NUL-terminated.
#[no_mangle]
unsafe extern "C" fn witness_rs_module_load_failed(finit: bool, verdict: c_int, name: *const c_char) {
    let hook = if finit { Hook::FinitModule } else { Hook::InitModule };
    let Some(hit) = Hit::begin_global(hook, RecordKind::ModuleLoad) else { return };
    let mut rec = ModuleRecord { task: current_context(), taints: 0, verdict, name: [0; 56] };
    if !hit.task_passes(&rec.task) {
        return hit.filtered();
    }
    let keep_nul = rec.name.len() - 1;
    // SAFETY: the trampoline's contract.
    unsafe { copy_cstr(name, &mut rec.name[..keep_nul]) };
    hit.emit(RecordKind::ModuleLoad, size_of::<ModuleRecord>(), |buf| {
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
