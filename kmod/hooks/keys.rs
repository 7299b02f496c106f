//! Credential material in keyrings: keys added (`key_create_or_update`, the
//! add_key(2) path) and requested (`request_key_and_link`, the
//! request_key(2) path), with the type and description (kernel copies,
//! bounded) and the result.

use core::ffi::{c_char, c_int, c_void};
use core::mem::size_of;

use super::{copy_cstr, current_context, stash, stashed, Body, Hit, HookPoint};
use crate::ioctl::Hook;
use crate::record::{
    KeyRecord, RecordKind, KEY_DESC_TRUNCATED, KEY_OP_ADD, KEY_OP_REQUEST, KEY_STRING_MAX, KEY_TYPE_TRUNCATED,
};

#[repr(C)]
#[derive(Clone, Copy)]
struct Stash {
    op: u32,
    flags: u32,
    type_len: u16,
    desc_len: u16,
    key_type: [u8; KEY_STRING_MAX],
    desc: [u8; KEY_STRING_MAX],
}

pub(super) static POINTS: &[HookPoint] = &[
    kretprobe!(AddKey, c"key_create_or_update", witness_kr_key_create_or_update_entry, witness_kr_key_return, Stash),
    kretprobe!(
        RequestKey,
        c"request_key_and_link",
        witness_kr_request_key_and_link_entry,
        witness_kr_key_return,
        Stash
    ),
];

/// # Safety
/// `data` is the instance data of one of this family's kretprobes;
/// `key_type` and `desc` are NULL or kernel strings.
unsafe fn enter(data: *mut c_void, op: u32, key_type: *const c_char, desc: *const c_char) -> c_int {
    let mut s =
        Stash { op, flags: 0, type_len: 0, desc_len: 0, key_type: [0; KEY_STRING_MAX], desc: [0; KEY_STRING_MAX] };
    // SAFETY: both are NULL or kernel strings handed to the hooked function.
    let ((tl, tcut), (dl, dcut)) = unsafe { (copy_cstr(key_type, &mut s.key_type), copy_cstr(desc, &mut s.desc)) };
    // CAST: both are at most KEY_STRING_MAX < 2^16.
    (s.type_len, s.desc_len) = (tl as u16, dl as u16);
    s.flags = if tcut { KEY_TYPE_TRUNCATED } else { 0 } | if dcut { KEY_DESC_TRUNCATED } else { 0 };
    // SAFETY: registered with data_size = size_of::<Stash>().
    unsafe { stash(data, s) };
    0
}

/// `key_ref_t key_create_or_update(key_ref_t keyring, const char *type,
/// const char *description, ...)`.
#[no_mangle]
unsafe extern "C" fn witness_rs_add_key_entry(
    data: *mut c_void,
    key_type: *const c_char,
    desc: *const c_char,
) -> c_int {
    // SAFETY: called by its kretprobe's entry trampoline with the
    // function's string arguments.
    unsafe { enter(data, KEY_OP_ADD, key_type, desc) }
}

/// `struct key *request_key_and_link(struct key_type *type, const char
/// *description, ...)`: the trampoline passes the type's name.
#[no_mangle]
unsafe extern "C" fn witness_rs_request_key_entry(
    data: *mut c_void,
    key_type: *const c_char,
    desc: *const c_char,
) -> c_int {
    // SAFETY: as for add_key.
    unsafe { enter(data, KEY_OP_REQUEST, key_type, desc) }
}

/// Both return a pointer or an `ERR_PTR`; the trampoline turns that into 0
/// or the errno.
#[no_mangle]
unsafe extern "C" fn witness_rs_key_return(data: *mut c_void, verdict: c_int) {
    // SAFETY: written by one of the entry handlers.
    let s = unsafe { stashed::<Stash>(data) };
    let hook = if s.op == KEY_OP_ADD { Hook::AddKey } else { Hook::RequestKey };
    let Some(hit) = Hit::begin_global(hook, RecordKind::KeyAccess) else { return };
    let task = current_context();
    if !hit.task_passes(&task) {
        return hit.filtered();
    }
    let rec = KeyRecord { task, op: s.op, flags: s.flags, type_len: s.type_len, desc_len: s.desc_len, verdict };
    hit.emit(RecordKind::KeyAccess, size_of::<KeyRecord>() + 2 * KEY_STRING_MAX, |buf| {
        let mut body = Body::new(buf);
        body.put(&rec);
        body.bytes(&s.key_type[..usize::from(s.type_len)], KEY_STRING_MAX);
        body.bytes(&s.desc[..usize::from(s.desc_len)], KEY_STRING_MAX);
        Some(body.len())
    });
}
