//! Namespaces: `switch_task_namespaces`, which both setns(2) and unshare(2)
//! go through, compared namespace by namespace.

use core::ffi::c_int;
use core::mem::size_of;

use super::{task_context, Body, Hit, HookPoint};
use crate::ioctl::Hook;
use crate::record::{NsRecord, RecordKind};
use crate::shim::{self, Kptr};

pub(super) static POINTS: &[HookPoint] = &[kprobe!(SwitchTaskNamespaces, c"switch_task_namespaces", ns_pre)];

/// `void switch_task_namespaces(struct task_struct *p, struct nsproxy *new)`.
/// `new` is NULL when the task exits: not a change worth a record.
unsafe extern "C" fn ns_pre(_kp: Kptr, regs: Kptr) -> c_int {
    let task = super::arg(regs, 0) as Kptr;
    let new = super::arg(regs, 1) as Kptr;
    let Some(hit) = Hit::begin_global(Hook::SwitchTaskNamespaces, RecordKind::NsChange) else { return 0 };
    if new.is_null() {
        hit.filtered();
        return 0;
    }
    let mut rec = NsRecord { task: task_context(task), changed: 0, reserved: 0, old_ns: [0; 8], new_ns: [0; 8] };
    // SAFETY: `task` is the live task whose namespaces change and `new` the
    // nsproxy it switches to, both alive across the call.
    rec.changed = unsafe { shim::witness_shim_ns_change(task, new, rec.old_ns.as_mut_ptr(), rec.new_ns.as_mut_ptr()) };
    if rec.changed == 0 || !hit.task_passes(&rec.task) {
        hit.filtered();
        return 0;
    }
    hit.emit(RecordKind::NsChange, size_of::<NsRecord>(), |buf| {
        let mut body = Body::new(buf);
        body.put(&rec);
        Some(body.len())
    });
    0
}
