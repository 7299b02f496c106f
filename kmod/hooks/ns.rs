//! Namespaces: `switch_task_namespaces`, which both setns(2) and unshare(2)
//! go through, compared namespace by namespace.

use core::mem::size_of;

use super::{task_context, Body, Hit, HookPoint};
use crate::ioctl::Hook;
use crate::record::{NsRecord, RecordKind};
use crate::shim::{self, Kptr};

pub(super) static POINTS: &[HookPoint] =
    &[kprobe!(SwitchTaskNamespaces, c"switch_task_namespaces", witness_kp_switch_task_namespaces)];

/// `void switch_task_namespaces(struct task_struct *p, struct nsproxy *new)`.
/// `new` is NULL when the task exits: not a change worth a record.
#[no_mangle]
unsafe extern "C" fn witness_rs_switch_task_namespaces(task: Kptr, new: Kptr) {
    let Some(hit) = Hit::begin_global(Hook::SwitchTaskNamespaces, RecordKind::NsChange) else { return };
    if new.is_null() {
        return hit.filtered();
    }
    let mut rec = NsRecord { task: task_context(task), changed: 0, reserved: 0, old_ns: [0; 8], new_ns: [0; 8] };
    // SAFETY: `task` is the live task whose namespaces change and `new` the
    // nsproxy it switches to, both alive across the call.
    rec.changed = unsafe { shim::witness_shim_ns_change(task, new, rec.old_ns.as_mut_ptr(), rec.new_ns.as_mut_ptr()) };
    if rec.changed == 0 || !hit.task_passes(&rec.task) {
        return hit.filtered();
    }
    hit.emit(RecordKind::NsChange, size_of::<NsRecord>(), |buf| {
        let mut body = Body::new(buf);
        body.put(&rec);
        Some(body.len())
    });
}
