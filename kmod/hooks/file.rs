//! Files: `security_file_open` with its verdict, and creation, unlink and
//! rename (`security_inode_*`), each with the kernel's verdict.
//!
//! Paths are written straight into the ring record; the path filters, which
//! need the path, then either keep the record or cancel it. Opens of secret
//! paths are flagged and always kept.

use core::ffi::{c_int, c_void};
use core::mem::size_of;

use super::{current_context, stash, stashed, Body, Hit, HookPoint};
use crate::filters::Filters;
use crate::ioctl::Hook;
use crate::record::{FileRecord, RecordKind, FILE_PATH_MAX, FILE_PATH_SECRET};
use crate::shim::{self, Kptr};

/// What an entry handler keeps for the return handler.
#[repr(C)]
#[derive(Clone, Copy)]
struct Stash {
    /// `struct file *` (open) or `struct dentry *` (the others).
    obj: usize,
    /// The rename target's `struct dentry *`.
    obj2: usize,
    /// Create: the requested mode. Rename: the flags.
    arg: u32,
}

pub(super) static POINTS: &[HookPoint] = &[
    kretprobe!(
        SecurityFileOpen,
        c"security_file_open",
        witness_kr_security_file_open_entry,
        witness_kr_file_return,
        Tagged
    ),
    kretprobe!(
        SecurityInodeCreate,
        c"security_inode_create",
        witness_kr_security_inode_create_entry,
        witness_kr_file_return,
        Tagged
    ),
    kretprobe!(
        SecurityInodeUnlink,
        c"security_inode_unlink",
        witness_kr_security_inode_unlink_entry,
        witness_kr_file_return,
        Tagged
    ),
    kretprobe!(
        SecurityInodeRename,
        c"security_inode_rename",
        witness_kr_security_inode_rename_entry,
        witness_kr_file_return,
        Tagged
    ),
];

/// The four hooks share one return handler; the stash says which it is.
#[repr(C)]
#[derive(Clone, Copy)]
struct Tagged {
    hook: u32,
    reserved: u32,
    stash: Stash,
}

/// # Safety
/// `data` is the instance data of one of this family's kretprobes.
unsafe fn enter(data: *mut c_void, hook: Hook, s: Stash) -> c_int {
    if !super::entry_wanted(hook, kind_of(hook), true) {
        return 1;
    }
    // SAFETY: registered with data_size = size_of::<Tagged>().
    unsafe { stash(data, Tagged { hook: hook as u32, reserved: 0, stash: s }) };
    0
}

/// `int security_file_open(struct file *file)`.
#[no_mangle]
unsafe extern "C" fn witness_rs_file_open_entry(data: *mut c_void, file: Kptr) -> c_int {
    // SAFETY: called by its kretprobe's entry trampoline.
    unsafe { enter(data, Hook::SecurityFileOpen, Stash { obj: file as usize, obj2: 0, arg: 0 }) }
}

/// `int security_inode_create(struct inode *dir, struct dentry *dentry, umode_t mode)`.
#[no_mangle]
unsafe extern "C" fn witness_rs_inode_create_entry(data: *mut c_void, dentry: Kptr, mode: u32) -> c_int {
    // SAFETY: called by its kretprobe's entry trampoline.
    unsafe { enter(data, Hook::SecurityInodeCreate, Stash { obj: dentry as usize, obj2: 0, arg: mode }) }
}

/// `int security_inode_unlink(struct inode *dir, struct dentry *dentry)`.
#[no_mangle]
unsafe extern "C" fn witness_rs_inode_unlink_entry(data: *mut c_void, dentry: Kptr) -> c_int {
    // SAFETY: called by its kretprobe's entry trampoline.
    unsafe { enter(data, Hook::SecurityInodeUnlink, Stash { obj: dentry as usize, obj2: 0, arg: 0 }) }
}

/// `int security_inode_rename(struct inode *old_dir, struct dentry *old_dentry,
/// struct inode *new_dir, struct dentry *new_dentry, unsigned int flags)`.
#[no_mangle]
unsafe extern "C" fn witness_rs_inode_rename_entry(
    data: *mut c_void,
    old_dentry: Kptr,
    new_dentry: Kptr,
    flags: u32,
) -> c_int {
    let s = Stash { obj: old_dentry as usize, obj2: new_dentry as usize, arg: flags };
    // SAFETY: called by its kretprobe's entry trampoline.
    unsafe { enter(data, Hook::SecurityInodeRename, s) }
}

fn kind_of(hook: Hook) -> RecordKind {
    match hook {
        Hook::SecurityFileOpen => RecordKind::FileOpen,
        Hook::SecurityInodeCreate => RecordKind::FileCreate,
        Hook::SecurityInodeUnlink => RecordKind::FileUnlink,
        _ => RecordKind::FileRename,
    }
}

#[no_mangle]
unsafe extern "C" fn witness_rs_file_return(data: *mut c_void, verdict: c_int) {
    // SAFETY: every entry handler of these kretprobes wrote a Tagged.
    let tagged = unsafe { stashed::<Tagged>(data) };
    let Some(hook) = Hook::from_id(tagged.hook) else { return };
    let kind = kind_of(hook);
    let Some(hit) = Hit::begin_global(hook, kind) else { return };
    let task = current_context();
    if !hit.task_passes(&task) {
        return hit.filtered();
    }
    let filters = &hit.state().filters;
    let s = tagged.stash;
    let two_paths = hook == Hook::SecurityInodeRename;
    let max = size_of::<FileRecord>() + FILE_PATH_MAX * if two_paths { 2 } else { 1 };
    hit.emit(kind, max, |buf| {
        let mut rec = FileRecord {
            task,
            verdict,
            flags: s.arg,
            mode: 0,
            path_len: 0,
            path2_len: 0,
            ino: 0,
            path_flags: 0,
            path2_flags: 0,
            dev: 0,
        };
        let mut body = Body::new(buf);
        body.put(&rec);
        let start = body.len();
        let (len, flags) = path_tail(&mut body, hook, s.obj);
        // CAST: len <= FILE_PATH_MAX < 2^16.
        rec.path_len = len as u16;
        rec.path_flags = flags;
        if !keep(filters, &body_bytes(&mut body, start, len), &mut rec.path_flags) {
            return None;
        }
        if two_paths {
            let (len2, flags2) = path_tail(&mut body, hook, s.obj2);
            // CAST: len2 <= FILE_PATH_MAX.
            rec.path2_len = len2 as u16;
            rec.path2_flags = flags2;
        }
        fill_inode(hook, &s, &mut rec);
        body.put_at(0, &rec);
        Some(body.len())
    });
}

/// Writes the path of a file (open) or dentry (the others) as a tail.
fn path_tail(body: &mut Body<'_>, hook: Hook, obj: usize) -> (usize, u16) {
    let mut flags = 0u16;
    let obj = obj as Kptr;
    let len = body.tail(FILE_PATH_MAX, |room| {
        // SAFETY: `obj` is the file or dentry the hooked function was called
        // with, alive until it returns, which is after this handler; `room`
        // is writable for its length.
        unsafe {
            if hook == Hook::SecurityFileOpen {
                shim::witness_shim_file_path(obj, room.as_mut_ptr(), room.len(), &mut flags)
            } else {
                shim::witness_shim_dentry_path(obj, room.as_mut_ptr(), room.len(), &mut flags)
            }
        }
    });
    (len, flags)
}

/// A copy of the path just written (bounded; the filters only need its
/// prefix).
fn body_bytes(body: &mut Body<'_>, start: usize, len: usize) -> PathPrefix {
    let mut prefix = PathPrefix { bytes: [0; PREFIX_CHECK], len: 0 };
    let n = len.min(PREFIX_CHECK);
    body.read(start, &mut prefix.bytes[..n]);
    prefix.len = n;
    prefix
}

/// How much of a path the filters compare: filter paths are at most this
/// long (FILTER_PATH_MAX).
const PREFIX_CHECK: usize = crate::ioctl::FILTER_PATH_MAX;

struct PathPrefix {
    bytes: [u8; PREFIX_CHECK],
    len: usize,
}

/// Whether the path filters keep this path; flags secret paths.
fn keep(filters: &Filters, path: &PathPrefix, flags: &mut u16) -> bool {
    let path = &path.bytes[..path.len];
    if filters.is_secret(path) {
        *flags |= FILE_PATH_SECRET;
        return true;
    }
    filters.path_passes(path)
}

fn fill_inode(hook: Hook, s: &Stash, rec: &mut FileRecord) {
    let obj = s.obj as Kptr;
    // SAFETY: as in `path_tail`.
    unsafe {
        if hook == Hook::SecurityFileOpen {
            shim::witness_shim_file_info(obj, &mut rec.flags, &mut rec.mode, &mut rec.ino, &mut rec.dev);
        } else {
            let mut mode = 0;
            shim::witness_shim_dentry_info(obj, &mut mode, &mut rec.ino, &mut rec.dev);
            // Create has no inode yet: keep the requested mode.
            if hook != Hook::SecurityInodeCreate {
                rec.mode = mode;
            } else {
                rec.mode = s.arg;
                rec.flags = 0;
            }
        }
    }
}
