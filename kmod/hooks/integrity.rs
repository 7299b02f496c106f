//! Kernel integrity: module loads (`module_load`), BPF program loads
//! (`security_bpf_prog_load`) and ptrace attaches
//! (`security_ptrace_access_check`), with the kernel's verdict where the
//! hook has one.

use core::ffi::{c_int, c_void};
use core::mem::size_of;

use super::{current_context, kri_data, verdict, Body, Hit, HookPoint};
use crate::device::State;
use crate::ioctl::Hook;
use crate::record::{BpfRecord, ModuleRecord, PtraceRecord, RecordKind};
use crate::shim::{self, Kptr};

pub(super) static POINTS: &[HookPoint] = &[
    tracepoint!(ModuleLoad, c"module_load", module_probe),
    kretprobe!(SecurityBpfProgLoad, c"security_bpf_prog_load", bpf_entry, bpf_return, BpfStash),
    kretprobe!(SecurityPtraceAccessCheck, c"security_ptrace_access_check", ptrace_entry, ptrace_return, [u32; 3]),
];

/// `module_load(struct module *mod)`: after a module is loaded, in the
/// loading task.
unsafe extern "C" fn module_probe(data: *mut c_void, module: Kptr) {
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
/// struct bpf_token *token)`.
unsafe extern "C" fn bpf_entry(ri: Kptr, regs: Kptr) -> c_int {
    let mut s = BpfStash { prog_type: 0, insn_cnt: 0, name: [0; 16] };
    // SAFETY: `prog` is the program being loaded; `name` has 16 bytes.
    unsafe {
        shim::witness_shim_bpf_prog_info(
            super::arg(regs, 0) as Kptr,
            &mut s.prog_type,
            &mut s.insn_cnt,
            s.name.as_mut_ptr(),
        )
    };
    // SAFETY: registered with data_size = size_of::<BpfStash>().
    unsafe { kri_data::<BpfStash>(ri).write_unaligned(s) };
    0
}

unsafe extern "C" fn bpf_return(ri: Kptr, regs: Kptr) -> c_int {
    let Some(hit) = Hit::begin_global(Hook::SecurityBpfProgLoad, RecordKind::BpfProgLoad) else { return 0 };
    // SAFETY: written by bpf_entry.
    let s = unsafe { kri_data::<BpfStash>(ri).read_unaligned() };
    let task = current_context();
    if !hit.task_passes(&task) {
        hit.filtered();
        return 0;
    }
    let rec = BpfRecord {
        task,
        verdict: verdict(regs),
        prog_type: s.prog_type,
        insn_cnt: s.insn_cnt,
        reserved: 0,
        name: s.name,
    };
    hit.emit(RecordKind::BpfProgLoad, size_of::<BpfRecord>(), |buf| {
        let mut body = Body::new(buf);
        body.put(&rec);
        Some(body.len())
    });
    0
}

/// `PTRACE_MODE_ATTACH`: the checks that guard attaching, as opposed to the
/// far more frequent read checks (/proc access).
const PTRACE_MODE_ATTACH: u32 = 0x02;

/// `int security_ptrace_access_check(struct task_struct *child, unsigned int mode)`.
unsafe extern "C" fn ptrace_entry(ri: Kptr, regs: Kptr) -> c_int {
    // CAST: mode is an unsigned int.
    let mode = super::arg(regs, 1) as u32;
    if mode & PTRACE_MODE_ATTACH == 0 {
        // Skips the return handler.
        return 1;
    }
    let (mut tgid, mut uid) = (0u32, 0u32);
    // SAFETY: `child` is the live target task.
    unsafe { shim::witness_shim_task_tgid_uid(super::arg(regs, 0) as Kptr, &mut tgid, &mut uid) };
    // SAFETY: registered with data_size = size_of::<[u32; 3]>().
    unsafe { kri_data::<[u32; 3]>(ri).write_unaligned([mode, tgid, uid]) };
    0
}

unsafe extern "C" fn ptrace_return(ri: Kptr, regs: Kptr) -> c_int {
    let Some(hit) = Hit::begin_global(Hook::SecurityPtraceAccessCheck, RecordKind::PtraceAttach) else { return 0 };
    // SAFETY: written by ptrace_entry.
    let [mode, target_tgid, target_uid] = unsafe { kri_data::<[u32; 3]>(ri).read_unaligned() };
    let task = current_context();
    if !hit.task_passes(&task) {
        hit.filtered();
        return 0;
    }
    let rec = PtraceRecord { task, verdict: verdict(regs), mode, target_tgid, target_uid };
    hit.emit(RecordKind::PtraceAttach, size_of::<PtraceRecord>(), |buf| {
        let mut body = Body::new(buf);
        body.put(&rec);
        Some(body.len())
    });
    0
}
