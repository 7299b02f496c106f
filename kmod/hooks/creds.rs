//! Credentials: changes of uid, gid and capabilities (`commit_creds`), and
//! failed capability checks (`security_capable`).

use core::ffi::c_int;
use core::mem::size_of;

use super::{current_context, kri_data, verdict, Body, Hit, HookPoint};
use crate::ioctl::Hook;
use crate::record::{CapRecord, CredRecord, RecordKind};
use crate::shim::{self, CredChange, Kptr};

pub(super) static POINTS: &[HookPoint] = &[
    kprobe!(CommitCreds, c"commit_creds", creds_pre),
    kretprobe!(SecurityCapable, c"security_capable", capable_entry, capable_return, [u32; 2]),
];

/// `int commit_creds(struct cred *new)`: runs before the switch, so the
/// current credentials are the old ones.
unsafe extern "C" fn creds_pre(_kp: Kptr, regs: Kptr) -> c_int {
    let Some(hit) = Hit::begin_global(Hook::CommitCreds, RecordKind::CredChange) else { return 0 };
    let mut change = CredChange::default();
    // SAFETY: `new` is the cred being committed, alive across the call.
    let changed = unsafe { shim::witness_shim_cred_change(super::arg(regs, 0) as Kptr, &mut change) };
    let task = current_context();
    if !changed || !hit.task_passes(&task) {
        hit.filtered();
        return 0;
    }
    let rec = CredRecord {
        task,
        new_uid: change.new_uid,
        new_euid: change.new_euid,
        new_gid: change.new_gid,
        new_egid: change.new_egid,
        old_cap_effective: change.old_cap_effective,
        new_cap_effective: change.new_cap_effective,
        old_cap_permitted: change.old_cap_permitted,
        new_cap_permitted: change.new_cap_permitted,
    };
    hit.emit(RecordKind::CredChange, size_of::<CredRecord>(), |buf| {
        let mut body = Body::new(buf);
        body.put(&rec);
        Some(body.len())
    });
    0
}

/// `int security_capable(const struct cred *cred, struct user_namespace *ns,
/// int cap, unsigned int opts)`.
unsafe extern "C" fn capable_entry(ri: Kptr, regs: Kptr) -> c_int {
    // Hits of this hook are denials, unknown here: a skip is not counted.
    if !super::entry_wanted(Hook::SecurityCapable, RecordKind::CapDenied, false) {
        return 1;
    }
    // CAST: cap is an int, opts an unsigned int.
    let stash = [super::arg(regs, 2) as u32, super::arg(regs, 3) as u32];
    // SAFETY: registered with data_size = size_of::<[u32; 2]>().
    unsafe { kri_data::<[u32; 2]>(ri).write_unaligned(stash) };
    0
}

/// Records only denials: capability checks that pass are the common case
/// and carry no evidence.
unsafe extern "C" fn capable_return(ri: Kptr, regs: Kptr) -> c_int {
    let verdict = verdict(regs);
    if verdict == 0 {
        return 0;
    }
    let Some(hit) = Hit::begin_global(Hook::SecurityCapable, RecordKind::CapDenied) else { return 0 };
    // SAFETY: written by capable_entry.
    let [cap, opts] = unsafe { kri_data::<[u32; 2]>(ri).read_unaligned() };
    let task = current_context();
    if !hit.task_passes(&task) {
        hit.filtered();
        return 0;
    }
    let rec = CapRecord { task, cap, verdict, opts, reserved: 0 };
    hit.emit(RecordKind::CapDenied, size_of::<CapRecord>(), |buf| {
        let mut body = Body::new(buf);
        body.put(&rec);
        Some(body.len())
    });
    0
}
