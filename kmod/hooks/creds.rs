//! Credentials: changes of uid, gid and capabilities (`commit_creds`), and
//! failed capability checks (`security_capable`).

use core::ffi::{c_int, c_void};
use core::mem::size_of;

use super::{current_context, stash, stashed, Body, Hit, HookPoint};
use crate::ioctl::Hook;
use crate::record::{CapRecord, CredRecord, RecordKind};
use crate::shim::{self, CredChange, Kptr};

pub(super) static POINTS: &[HookPoint] = &[
    kprobe!(CommitCreds, c"commit_creds", witness_kp_commit_creds),
    kretprobe!(
        SecurityCapable,
        c"security_capable",
        witness_kr_security_capable_entry,
        witness_kr_security_capable_return,
        [u32; 2]
    ),
];

/// `int commit_creds(struct cred *new)`: runs before the switch, so the
/// current credentials are the old ones.
#[no_mangle]
unsafe extern "C" fn witness_rs_commit_creds(new: Kptr) {
    let Some(hit) = Hit::begin_global(Hook::CommitCreds, RecordKind::CredChange) else { return };
    let mut change = CredChange::default();
    // SAFETY: `new` is the cred being committed, alive across the call.
    let changed = unsafe { shim::witness_shim_cred_change(new, &mut change) };
    let task = current_context();
    if !changed || !hit.task_passes(&task) {
        return hit.filtered();
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
}

/// `int security_capable(const struct cred *cred, struct user_namespace *ns,
/// int cap, unsigned int opts)`.
#[no_mangle]
unsafe extern "C" fn witness_rs_capable_entry(data: *mut c_void, cap: c_int, opts: u32) -> c_int {
    // Hits of this hook are denials, unknown here: a skip is not counted.
    if !super::entry_wanted(Hook::SecurityCapable, RecordKind::CapDenied, false) {
        return 1;
    }
    // CAST: capabilities are small non-negative ints.
    // SAFETY: registered with data_size = size_of::<[u32; 2]>().
    unsafe { stash(data, [cap as u32, opts]) };
    0
}

/// Records only denials: capability checks that pass are the common case
/// and carry no evidence.
#[no_mangle]
unsafe extern "C" fn witness_rs_capable_return(data: *mut c_void, verdict: c_int) {
    if verdict == 0 {
        return;
    }
    let Some(hit) = Hit::begin_global(Hook::SecurityCapable, RecordKind::CapDenied) else { return };
    // SAFETY: written by the entry handler.
    let [cap, opts] = unsafe { stashed::<[u32; 2]>(data) };
    let task = current_context();
    if !hit.task_passes(&task) {
        return hit.filtered();
    }
    let rec = CapRecord { task, cap, verdict, opts, reserved: 0 };
    hit.emit(RecordKind::CapDenied, size_of::<CapRecord>(), |buf| {
        let mut body = Body::new(buf);
        body.put(&rec);
        Some(body.len())
    });
}
