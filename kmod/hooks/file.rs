//! Files: `security_file_open` with its verdict, and creation, unlink and
//! rename (`security_path_*`), each with the kernel's verdict.
//!
//! The `security_path_*` hooks carry the directory's mount, so their paths
//! are absolute like an open's; the `security_inode_*` hooks that follow
//! them do not (a dentry alone names a path only within its filesystem).
//! The verdict is therefore that of the path-based LSMs (AppArmor, TOMOYO,
//! Landlock); a later denial by an inode-based one (SELinux, Smack) is not
//! seen. The path hooks are also only reached from system calls, so a
//! filesystem's own creates (overlayfs copy-up, whiteouts) are not events,
//! as overlayfs's backing-file opens are not.
//!
//! Paths are resolved into a per-CPU scratch area first, and the path
//! filters judge them there, so a filtered event takes no ring space and no
//! sequence number. Events on secret paths (opens, creates, unlinks, and
//! renames into or out of them) are flagged and always kept.

use core::ffi::{c_int, c_void};
use core::mem::size_of;

use super::{current_context, kind_of, stash, stashed, Body, Hit, HookPoint, NoPreempt};
use crate::filters::Filters;
use crate::ioctl::Hook;
use crate::record::{FileRecord, FILE_PATH_MAX, FILE_PATH_SECRET};
use crate::shim::{self, Kptr};

/// What an entry handler keeps for the return handler.
#[repr(C)]
#[derive(Clone, Copy)]
struct Stash {
    /// Open: the `struct file *`. The others: the directory's `struct path *`.
    obj: usize,
    /// The `struct dentry *` in that directory (not for open).
    dentry: usize,
    /// Rename: the target directory's `struct path *` and dentry.
    obj2: usize,
    dentry2: usize,
    /// Create: the requested mode. Rename: the flags.
    arg: u32,
    /// Create: the requested device number.
    arg2: u32,
}

impl Stash {
    fn new(obj: Kptr, dentry: Kptr) -> Self {
        Self { obj: obj as usize, dentry: dentry as usize, obj2: 0, dentry2: 0, arg: 0, arg2: 0 }
    }
}

pub(super) static POINTS: &[HookPoint] = &[
    kretprobe!(
        SecurityFileOpen,
        c"security_file_open",
        witness_kr_security_file_open_entry,
        witness_kr_file_return,
        Tagged,
        direct
    ),
    kretprobe!(
        SecurityPathMknod,
        c"security_path_mknod",
        witness_kr_security_path_mknod_entry,
        witness_kr_file_return,
        Tagged
    ),
    kretprobe!(
        SecurityPathUnlink,
        c"security_path_unlink",
        witness_kr_security_path_unlink_entry,
        witness_kr_file_return,
        Tagged
    ),
    kretprobe!(
        SecurityPathRename,
        c"security_path_rename",
        witness_kr_security_path_rename_entry,
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

/// `int security_file_open(struct file *file)` (backing files are skipped
/// by the trampoline).
#[no_mangle]
unsafe extern "C" fn witness_rs_file_open_entry(data: *mut c_void, file: Kptr) -> c_int {
    // SAFETY: called by its kretprobe's entry trampoline.
    unsafe { enter(data, Hook::SecurityFileOpen, Stash::new(file, core::ptr::null_mut())) }
}

/// `int security_path_mknod(const struct path *dir, struct dentry *dentry,
/// umode_t mode, unsigned int dev)`.
#[no_mangle]
unsafe extern "C" fn witness_rs_path_mknod_entry(
    data: *mut c_void,
    dir: Kptr,
    dentry: Kptr,
    mode: u32,
    dev: u32,
) -> c_int {
    let s = Stash { arg: mode, arg2: dev, ..Stash::new(dir, dentry) };
    // SAFETY: called by its kretprobe's entry trampoline.
    unsafe { enter(data, Hook::SecurityPathMknod, s) }
}

/// `int security_path_unlink(const struct path *dir, struct dentry *dentry)`.
#[no_mangle]
unsafe extern "C" fn witness_rs_path_unlink_entry(data: *mut c_void, dir: Kptr, dentry: Kptr) -> c_int {
    // SAFETY: called by its kretprobe's entry trampoline.
    unsafe { enter(data, Hook::SecurityPathUnlink, Stash::new(dir, dentry)) }
}

/// `int security_path_rename(const struct path *old_dir, struct dentry
/// *old_dentry, const struct path *new_dir, struct dentry *new_dentry,
/// unsigned int flags)`.
#[no_mangle]
unsafe extern "C" fn witness_rs_path_rename_entry(
    data: *mut c_void,
    old_dir: Kptr,
    old_dentry: Kptr,
    new_dir: Kptr,
    new_dentry: Kptr,
    flags: u32,
) -> c_int {
    let s =
        Stash { obj2: new_dir as usize, dentry2: new_dentry as usize, arg: flags, ..Stash::new(old_dir, old_dentry) };
    // SAFETY: called by its kretprobe's entry trampoline.
    unsafe { enter(data, Hook::SecurityPathRename, s) }
}

#[no_mangle]
unsafe extern "C" fn witness_rs_file_return(data: *mut c_void, verdict: c_int) {
    // SAFETY: every entry handler of these kretprobes wrote a Tagged.
    let tagged = unsafe { stashed::<Tagged>(data) };
    let Some(hook) = Hook::from_id(tagged.hook) else { return };
    record(hook, tagged.stash, verdict);
}

/// The direct call's entry (direct.c): whether to follow this open.
#[no_mangle]
extern "C" fn witness_rs_file_open_wanted() -> c_int {
    c_int::from(super::entry_wanted(Hook::SecurityFileOpen, kind_of(Hook::SecurityFileOpen), true))
}

/// The direct call's return (direct.c).
///
/// # Safety
/// `file` is the one the followed `security_file_open` was called with.
#[no_mangle]
unsafe extern "C" fn witness_rs_file_open_return(file: Kptr, verdict: c_int) {
    record(Hook::SecurityFileOpen, Stash::new(file, core::ptr::null_mut()), verdict);
}

/// Records one call of a file hook that returned `verdict`.
fn record(hook: Hook, s: Stash, verdict: c_int) {
    let kind = kind_of(hook);
    let Some(hit) = Hit::begin_global(hook, kind) else { return };
    let task = current_context();
    if !hit.task_passes(&task) {
        return hit.filtered();
    }
    let two_paths = hook == Hook::SecurityPathRename;
    // The paths go to this CPU's scratch area first, so that the filters
    // judge them before the event takes ring space or a sequence number.
    let on_cpu = NoPreempt::new();
    let Some(mut scratch) = hit.state().scratch.claim(&on_cpu) else { return hit.dropped() };
    let (first, second) = scratch.bytes().split_at_mut(FILE_PATH_MAX);
    let (len, mut flags) = path_into(first, hook, s.obj, s.dentry);
    let (len2, mut flags2) = if two_paths { path_into(second, hook, s.obj2, s.dentry2) } else { (0, 0) };
    let (path, path2) = (&first[..len], &second[..len2]);
    let filters = &hit.state().filters;
    let mut kept = keep(filters, path, &mut flags);
    if two_paths {
        // A rename into (or out of) a secret path is flagged and kept.
        kept |= keep(filters, path2, &mut flags2);
    }
    if !kept {
        return hit.filtered();
    }
    let mut rec = FileRecord {
        task,
        verdict,
        flags: s.arg,
        mode: 0,
        // CAST: both lengths are at most FILE_PATH_MAX < 2^16.
        path_len: len as u16,
        path2_len: len2 as u16,
        ino: 0,
        path_flags: flags,
        path2_flags: flags2,
        dev: 0,
    };
    fill_inode(hook, &s, &mut rec);
    hit.emit(kind, size_of::<FileRecord>() + len + len2, |buf| {
        let mut body = Body::new(buf);
        body.put(&rec);
        body.bytes(path, len);
        body.bytes(path2, len2);
        Some(body.len())
    });
}

/// Writes the path of a file (open) or of a directory's entry (the others)
/// into `buf`; returns its length and `FILE_PATH_*` flags.
fn path_into(buf: &mut [u8], hook: Hook, obj: usize, dentry: usize) -> (usize, u16) {
    let mut flags = 0u16;
    let (obj, dentry) = (obj as Kptr, dentry as Kptr);
    // SAFETY: `obj` (and `dentry`) are what the hooked function was called
    // with, alive until it returns, which is after this handler; `buf` is
    // writable for its length.
    let len = unsafe {
        if hook == Hook::SecurityFileOpen {
            shim::witness_shim_file_path(obj, buf.as_mut_ptr(), buf.len(), &mut flags)
        } else {
            shim::witness_shim_dir_entry_path(obj, dentry, buf.as_mut_ptr(), buf.len(), &mut flags)
        }
    };
    (len.min(buf.len()), flags)
}

/// Whether the path filters keep this path; flags secret paths. A path
/// longer than a filter can be is judged by its first bytes.
fn keep(filters: &Filters, path: &[u8], flags: &mut u16) -> bool {
    let path = &path[..path.len().min(crate::ioctl::FILTER_PATH_MAX + 1)];
    if filters.is_secret(path) {
        *flags |= FILE_PATH_SECRET;
        return true;
    }
    filters.path_passes(path)
}

fn fill_inode(hook: Hook, s: &Stash, rec: &mut FileRecord) {
    // SAFETY: as in `path_into`.
    unsafe {
        match hook {
            Hook::SecurityFileOpen => {
                shim::witness_shim_file_info(s.obj as Kptr, &mut rec.flags, &mut rec.mode, &mut rec.ino, &mut rec.dev)
            }
            // Create has no inode yet: the requested mode and device.
            Hook::SecurityPathMknod => {
                let mut mode = 0;
                shim::witness_shim_dentry_info(s.dentry as Kptr, &mut mode, &mut rec.ino, &mut rec.dev);
                (rec.mode, rec.flags) = (s.arg, s.arg2);
            }
            _ => shim::witness_shim_dentry_info(s.dentry as Kptr, &mut rec.mode, &mut rec.ino, &mut rec.dev),
        }
    }
}
