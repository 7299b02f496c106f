//! Credential material in keyrings: keys added (`key_create_or_update`, the
//! add_key(2) path) and requested (`request_key_and_link`, the
//! request_key(2) path), with the type and description (kernel copies,
//! bounded) and the result.

use core::ffi::{c_char, c_int};
use core::mem::size_of;

use super::{current_context, kri_data, retval, Body, Hit, HookPoint};
use crate::ioctl::Hook;
use crate::record::{
    KeyRecord, RecordKind, KEY_DESC_TRUNCATED, KEY_OP_ADD, KEY_OP_REQUEST, KEY_STRING_MAX, KEY_TYPE_TRUNCATED,
};
use crate::shim::{self, Kptr};

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
    kretprobe!(AddKey, c"key_create_or_update", add_entry, key_return, Stash),
    kretprobe!(RequestKey, c"request_key_and_link", request_entry, key_return, Stash),
];

/// Copies a NUL-terminated kernel string, bounded; returns (length, cut).
///
/// # Safety
/// `s` is NULL or a NUL-terminated kernel string.
unsafe fn copy_cstr(s: *const c_char, out: &mut [u8; KEY_STRING_MAX]) -> (u16, bool) {
    if s.is_null() {
        return (0, false);
    }
    for (i, slot) in out.iter_mut().enumerate() {
        // SAFETY: reads stop at the NUL, which the caller guarantees.
        let b = unsafe { *s.add(i) } as u8;
        if b == 0 {
            // CAST: i < KEY_STRING_MAX.
            return (i as u16, false);
        }
        *slot = b;
    }
    // CAST: KEY_STRING_MAX < 2^16.
    (KEY_STRING_MAX as u16, true)
}

fn stash(ri: Kptr, op: u32, key_type: *const c_char, desc: *const c_char) -> c_int {
    let mut s =
        Stash { op, flags: 0, type_len: 0, desc_len: 0, key_type: [0; KEY_STRING_MAX], desc: [0; KEY_STRING_MAX] };
    // SAFETY: both are NULL or kernel strings handed to the hooked function.
    let ((tl, tcut), (dl, dcut)) = unsafe { (copy_cstr(key_type, &mut s.key_type), copy_cstr(desc, &mut s.desc)) };
    s.type_len = tl;
    s.desc_len = dl;
    s.flags = if tcut { KEY_TYPE_TRUNCATED } else { 0 } | if dcut { KEY_DESC_TRUNCATED } else { 0 };
    // SAFETY: registered with data_size = size_of::<Stash>().
    unsafe { kri_data::<Stash>(ri).write_unaligned(s) };
    0
}

/// `key_ref_t key_create_or_update(key_ref_t keyring, const char *type,
/// const char *description, ...)`.
unsafe extern "C" fn add_entry(ri: Kptr, regs: Kptr) -> c_int {
    stash(ri, KEY_OP_ADD, super::arg(regs, 1) as *const c_char, super::arg(regs, 2) as *const c_char)
}

/// `struct key *request_key_and_link(struct key_type *type, const char
/// *description, ...)`.
unsafe extern "C" fn request_entry(ri: Kptr, regs: Kptr) -> c_int {
    // SAFETY: `type` is the key type the caller looked up.
    let name = unsafe { shim::witness_shim_key_type_name(super::arg(regs, 0) as Kptr) };
    stash(ri, KEY_OP_REQUEST, name, super::arg(regs, 1) as *const c_char)
}

/// Both return a pointer or an `ERR_PTR`.
unsafe extern "C" fn key_return(ri: Kptr, regs: Kptr) -> c_int {
    // SAFETY: written by add_entry or request_entry.
    let s = unsafe { kri_data::<Stash>(ri).read_unaligned() };
    let hook = if s.op == KEY_OP_ADD { Hook::AddKey } else { Hook::RequestKey };
    let Some(hit) = Hit::begin_global(hook, RecordKind::KeyAccess) else { return 0 };
    let task = current_context();
    if !hit.task_passes(&task) {
        hit.filtered();
        return 0;
    }
    let ret = retval(regs);
    // CAST: an ERR_PTR is a small negative errno.
    let verdict = if (-4095..0).contains(&ret) { ret as i32 } else { 0 };
    let rec = KeyRecord { task, op: s.op, flags: s.flags, type_len: s.type_len, desc_len: s.desc_len, verdict };
    hit.emit(RecordKind::KeyAccess, size_of::<KeyRecord>() + 2 * KEY_STRING_MAX, |buf| {
        let mut body = Body::new(buf);
        body.put(&rec);
        body.bytes(&s.key_type[..usize::from(s.type_len)], KEY_STRING_MAX);
        body.bytes(&s.desc[..usize::from(s.desc_len)], KEY_STRING_MAX);
        Some(body.len())
    });
    0
}
