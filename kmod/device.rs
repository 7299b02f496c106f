//! The data and control paths of `/dev/witness`: `read`, readiness for
//! `poll`, and `ioctl`. The C shim owns the file plumbing (open, release,
//! sleeping, unload) and calls these through the `witness_rs_*` entry points.

use core::ffi::{c_long, c_uint, c_ulong, c_void};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use kernel::prelude::*;
use kernel::uaccess::{UserSlice, UserSliceWriter};

use crate::ioctl::{DeviceInfo, ABI_VERSION, WITNESS_IOC_INFO};
use crate::record::RECORD_MAX_LEN;
use crate::ring::Ring;
use crate::rings::RingSet;
use crate::shim;

/// Everything the device and the hooks share. Created before the device and
/// the hooks are registered and freed after both are gone.
pub(crate) struct State {
    pub(crate) rings: RingSet,
    /// Ring a `read` starts with, rotated so that no CPU starves the others.
    next_ring: AtomicU32,
    /// Times a reader found a ring's consumer position corrupt and skipped
    /// its unread bytes.
    corrupt_resets: AtomicU64,
}

impl State {
    pub(crate) fn new(rings: RingSet) -> Self {
        Self { rings, next_ring: AtomicU32::new(0), corrupt_resets: AtomicU64::new(0) }
    }

    /// Whether any ring holds unread records.
    fn readable(&self) -> bool {
        self.rings.iter().any(|(_, ring)| !ring.read_begin().is_done())
    }

    /// Copies whole records, from every ring, into the user buffer. Never
    /// blocks (the shim sleeps and retries on `EAGAIN`).
    fn read(&self, buf: usize, len: usize) -> Result<usize> {
        let _lock = ReadLock::acquire()?;
        let mut out = RecordCopy { writer: UserSlice::new(buf, len).writer(), copied: 0, too_small: false };
        // CAST: at most nr_cpu_ids slots.
        let n = self.rings.len() as u32;
        let first = self.next_ring.fetch_add(1, Ordering::Relaxed) % n.max(1);
        for i in 0..n {
            let Some(ring) = self.rings.get((first + i) % n) else { continue };
            if !self.drain_into(ring, &mut out)? {
                break;
            }
        }
        if out.copied > 0 {
            Ok(out.copied)
        } else if out.too_small {
            // The next record does not fit: a buffer of RECORD_MAX_LEN always does.
            Err(EINVAL)
        } else {
            Err(EAGAIN)
        }
    }

    /// Copies one ring's records until it is empty (returns true) or the
    /// user buffer is full (returns false).
    fn drain_into(&self, ring: &Ring, out: &mut RecordCopy) -> Result<bool> {
        let mut cursor = ring.read_begin();
        let more = loop {
            let rec = match ring.read_next(&cursor) {
                Ok(Some(rec)) => rec,
                Ok(None) => break true,
                Err(_) => {
                    // Only a consumer that scribbled on its page gets here.
                    ring.read_commit(&cursor);
                    ring.read_skip_all();
                    self.corrupt_resets.fetch_add(1, Ordering::Relaxed);
                    return Ok(true);
                }
            };
            if rec.bytes.len() > out.writer.len() {
                out.too_small = out.copied == 0;
                break false;
            }
            if let Err(e) = out.writer.write_slice(rec.bytes) {
                // The record stays in the ring; what was copied before stands.
                ring.read_commit(&cursor);
                return if out.copied > 0 { Ok(false) } else { Err(e) };
            }
            out.copied += rec.bytes.len();
            ring.read_advance(&mut cursor, &rec);
        };
        ring.read_commit(&cursor);
        Ok(more)
    }

    fn ioctl(&self, cmd: c_uint, arg: c_ulong) -> Result<c_long> {
        match cmd {
            WITNESS_IOC_INFO => {
                let info = DeviceInfo {
                    abi_version: ABI_VERSION,
                    // CAST: nr_cpu_ids and the sizes below are far below 2^32
                    // (data size <= RING_DATA_MAX = 2^30).
                    nr_rings: self.rings.len() as u32,
                    ring_data_size: self.rings.data_size() as u32,
                    record_max_len: RECORD_MAX_LEN as u32,
                };
                // CAST: a user address is an unsigned long.
                let mut w = UserSlice::new(arg as usize, core::mem::size_of::<DeviceInfo>()).writer();
                w.write_slice(as_bytes(&info))?;
                Ok(0)
            }
            _ => Err(ENOTTY),
        }
    }
}

struct RecordCopy {
    writer: UserSliceWriter,
    copied: usize,
    too_small: bool,
}

/// The bytes of a `DeviceInfo` (repr(C), no padding: asserted in the ABI).
fn as_bytes(info: &DeviceInfo) -> &[u8] {
    // SAFETY: DeviceInfo is repr(C) with four u32 fields and no padding, so
    // every one of its size_of bytes is initialised.
    unsafe { core::slice::from_raw_parts((info as *const DeviceInfo).cast::<u8>(), core::mem::size_of::<DeviceInfo>()) }
}

/// The shim's read mutex, held for the guard's lifetime.
struct ReadLock;

impl ReadLock {
    fn acquire() -> Result<Self> {
        // SAFETY: process context (a read syscall); may sleep.
        if unsafe { shim::witness_shim_read_lock() } != 0 {
            return Err(ERESTARTSYS);
        }
        Ok(Self)
    }
}

impl Drop for ReadLock {
    fn drop(&mut self) {
        // SAFETY: this guard holds the mutex.
        unsafe { shim::witness_shim_read_unlock() };
    }
}

/// # Safety
/// `ctx` is the `State` pointer the module gave `witness_shim_device_register`,
/// which stays valid until the device is unregistered.
unsafe fn state<'a>(ctx: *mut c_void) -> &'a State {
    // SAFETY: the caller's contract.
    unsafe { &*ctx.cast::<State>() }
}

fn to_long(r: Result<usize>) -> c_long {
    match r {
        // CAST: at most the read length, which the VFS caps at MAX_RW_COUNT.
        Ok(n) => n as c_long,
        Err(e) => c_long::from(e.to_errno()),
    }
}

/// `read(2)` without sleeping: bytes copied, or a negative errno
/// (`-EAGAIN` when there is nothing to read).
#[no_mangle]
unsafe extern "C" fn witness_rs_read(ctx: *mut c_void, buf: *mut u8, len: usize) -> c_long {
    // SAFETY: the shim passes the registered context.
    let state = unsafe { state(ctx) };
    // CAST: a user pointer is carried as an address.
    to_long(state.read(buf as usize, len))
}

/// Whether a `read` would return records now.
#[no_mangle]
unsafe extern "C" fn witness_rs_readable(ctx: *mut c_void) -> bool {
    // SAFETY: the shim passes the registered context.
    unsafe { state(ctx) }.readable()
}

/// `ioctl(2)`: 0 or a negative errno.
#[no_mangle]
unsafe extern "C" fn witness_rs_ioctl(ctx: *mut c_void, cmd: c_uint, arg: c_ulong) -> c_long {
    // SAFETY: the shim passes the registered context.
    match unsafe { state(ctx) }.ioctl(cmd, arg) {
        Ok(v) => v,
        Err(e) => c_long::from(e.to_errno()),
    }
}
