//! The data and control paths of `/dev/witness`: `read`, readiness for
//! `poll`, and `ioctl`. The C shim owns the file plumbing (open, release,
//! sleeping, unload) and calls these through the `witness_rs_*` entry points.

use core::ffi::{c_long, c_uint, c_ulong, c_void};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use kernel::prelude::*;
use kernel::uaccess::{UserPtr, UserSlice, UserSliceWriter};

use crate::filters::{Filters, FILTERS};
use crate::ioctl::{
    Config, CpuStats, DeviceInfo, FilterOp, Hook, StatsRequest, ABI_VERSION, WITNESS_IOC_FILTER,
    WITNESS_IOC_GET_CONFIG, WITNESS_IOC_INFO, WITNESS_IOC_RESET_COUNTERS, WITNESS_IOC_SET_CONFIG, WITNESS_IOC_STATS,
};
use crate::record::{RecordKind, RECORD_MAX_LEN};
use crate::ring::{ring_area_len, Ring, RING_CONSUMER_OFFSET, RING_PAGE_SIZE};
use crate::rings::RingSet;
use crate::scratch::Scratch;
use crate::shim;
use crate::stats::{Stats, NR_HOOKS};

/// Kinds recorded by default: all of them.
const ALL_KINDS: u64 = {
    let mut mask = 0u64;
    let mut i = 0;
    while i < RecordKind::ALL.len() {
        mask |= RecordKind::ALL[i].mask_bit();
        i += 1;
    }
    mask & !RecordKind::Pad.mask_bit()
};

/// Everything the device and the hooks share. Created before the device and
/// the hooks are registered and freed after both are gone.
pub(crate) struct State {
    pub(crate) rings: RingSet,
    pub(crate) stats: Stats,
    /// Where handlers resolve what the filters judge (file paths).
    pub(crate) scratch: Scratch,
    pub(crate) filters: &'static Filters,
    kind_mask: AtomicU64,
    watermark: AtomicU32,
    attached: [AtomicBool; NR_HOOKS],
    /// Attached hooks whose probe is armed (its kind is recorded).
    armed: [AtomicBool; NR_HOOKS],
    /// kretprobe misses already counted when the counters were last reset.
    missed_base: [AtomicU64; NR_HOOKS],
    /// Ring a `read` starts with, rotated so that no CPU starves the others.
    next_ring: AtomicU32,
    /// Times a reader found a ring's consumer position corrupt and skipped
    /// its unread bytes.
    corrupt_resets: AtomicU64,
}

/// The watermark a module starts with: a sixteenth of a ring (256 KiB of
/// the default 4 MiB). Waking a sleeping reader costs the producer a
/// self-interrupt and a remote wakeup; at a watermark of one byte it paid
/// that for most records of a slow stream (`make bench`: about 280
/// instructions per recorded open, a sixth of its cost). Readers poll with
/// a timeout (the collector's is 200 ms) and a blocking read waits at most
/// as long, so records below the watermark are still read promptly.
fn default_watermark(data_size: usize) -> u32 {
    // CAST: data sizes are at most 2^30.
    ((data_size / 16) as u32).max(1)
}

impl State {
    pub(crate) fn new(rings: RingSet) -> Result<Self> {
        let watermark = default_watermark(rings.data_size());
        let stats = Stats::new(rings.len())?;
        let scratch = Scratch::new(rings.len())?;
        Ok(Self {
            rings,
            stats,
            scratch,
            filters: &FILTERS,
            kind_mask: AtomicU64::new(ALL_KINDS),
            watermark: AtomicU32::new(watermark),
            attached: [const { AtomicBool::new(false) }; NR_HOOKS],
            armed: [const { AtomicBool::new(false) }; NR_HOOKS],
            missed_base: [const { AtomicU64::new(0) }; NR_HOOKS],
            next_ring: AtomicU32::new(0),
            corrupt_resets: AtomicU64::new(0),
        })
    }

    /// Whether records of `kind` are written.
    #[inline]
    pub(crate) fn kind_enabled(&self, kind: RecordKind) -> bool {
        self.kind_mask.load(Ordering::Relaxed) & kind.mask_bit() != 0
    }

    /// Whether `ring` holds at least a watermark of unread bytes.
    #[inline]
    pub(crate) fn above_watermark(&self, ring: &Ring) -> bool {
        let c = ring.read_begin();
        ring.unread(&c) >= u64::from(self.watermark.load(Ordering::Relaxed))
    }

    pub(crate) fn set_attached(&self, hook: Hook, attached: bool) {
        self.attached[hook as usize].store(attached, Ordering::Relaxed);
    }

    pub(crate) fn is_attached(&self, hook: Hook) -> bool {
        self.attached[hook as usize].load(Ordering::Relaxed)
    }

    pub(crate) fn set_armed(&self, hook: Hook, armed: bool) {
        self.armed[hook as usize].store(armed, Ordering::Relaxed);
    }

    pub(crate) fn is_armed(&self, hook: Hook) -> bool {
        self.armed[hook as usize].load(Ordering::Relaxed)
    }

    /// Whether any ring holds a watermark of unread bytes.
    fn readable(&self) -> bool {
        self.rings.iter().any(|(_, ring)| self.above_watermark(ring))
    }

    /// Copies whole records, from every ring, into the user buffer. Never
    /// blocks (the shim sleeps and retries on `EAGAIN`).
    fn read(&self, buf: usize, len: usize) -> Result<usize> {
        let _lock = ReadLock::acquire()?;
        let mut out = RecordCopy { writer: user_slice(buf, len).writer(), copied: 0, too_small: false };
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
        // CAST: a user address is an unsigned long.
        let arg = arg as usize;
        match cmd {
            WITNESS_IOC_INFO => self.ioctl_info(arg),
            WITNESS_IOC_STATS => self.ioctl_stats(arg),
            WITNESS_IOC_GET_CONFIG => {
                let config = Config {
                    kind_mask: self.kind_mask.load(Ordering::Relaxed),
                    watermark: self.watermark.load(Ordering::Relaxed),
                    reserved: 0,
                };
                write_user(arg, &config)
            }
            WITNESS_IOC_SET_CONFIG => {
                let _control = Control::acquire()?;
                let config: Config = read_user(arg)?;
                self.set_config(&config)
            }
            WITNESS_IOC_FILTER => {
                let _control = Control::acquire()?;
                let op: FilterOp = read_user(arg)?;
                self.filters.apply(&op).map(|()| 0)
            }
            WITNESS_IOC_RESET_COUNTERS => {
                let _control = Control::acquire()?;
                self.reset_counters();
                Ok(0)
            }
            _ => Err(ENOTTY),
        }
    }

    fn ioctl_info(&self, arg: usize) -> Result<c_long> {
        let info = DeviceInfo {
            abi_version: ABI_VERSION,
            // CAST: nr_cpu_ids and the sizes below are far below 2^32
            // (data size <= RING_DATA_MAX = 2^30).
            nr_rings: self.rings.len() as u32,
            ring_data_size: self.rings.data_size() as u32,
            record_max_len: RECORD_MAX_LEN as u32,
        };
        write_user(arg, &info)
    }

    fn ioctl_stats(&self, arg: usize) -> Result<c_long> {
        let mut req: StatsRequest = read_user(arg)?;
        // CAST: u32 capacities to usize are lossless on 64-bit.
        let mut cpus = user_slice(req.cpus as usize, req.cpus_cap as usize * size_of::<CpuStats>()).writer();
        let mut written = 0u32;
        for (cpu, ring) in self.rings.iter() {
            if written >= req.cpus_cap {
                break;
            }
            let c = ring.counters();
            let stats = CpuStats {
                cpu,
                reserved: 0,
                produced: c.produced,
                dropped_full: c.dropped_full,
                dropped_nested: c.dropped_nested,
                bytes: c.head,
                unread: c.head.wrapping_sub(c.tail),
                // CAST: data size <= 2^30.
                data_size: ring.data_size() as u64,
            };
            cpus.write_slice(as_bytes(&stats))?;
            written += 1;
        }
        let mut hooks =
            user_slice(req.hooks as usize, req.hooks_cap as usize * size_of::<crate::ioctl::HookStats>()).writer();
        for hook in Hook::ALL.iter().take(req.hooks_cap as usize) {
            let missed =
                crate::hooks::missed(*hook).saturating_sub(self.missed_base[*hook as usize].load(Ordering::Relaxed));
            hooks.write_slice(as_bytes(&self.stats.sum(*hook, self.is_attached(*hook), missed)))?;
        }
        // CAST: counts far below 2^32.
        req.cpus_len = self.rings.iter().count() as u32;
        req.hooks_len = Hook::ALL.len() as u32;
        write_user(arg, &req)
    }

    fn set_config(&self, config: &Config) -> Result<c_long> {
        // CAST: data size <= 2^30.
        let max_watermark = (self.rings.data_size() / 2) as u32;
        if config.kind_mask & !ALL_KINDS != 0
            || config.watermark == 0
            || config.watermark > max_watermark
            || config.reserved != 0
        {
            return Err(EINVAL);
        }
        self.kind_mask.store(config.kind_mask, Ordering::Relaxed);
        self.watermark.store(config.watermark, Ordering::Relaxed);
        crate::hooks::arm(self, config.kind_mask);
        Ok(0)
    }

    fn reset_counters(&self) {
        self.stats.reset();
        for hook in Hook::ALL {
            self.missed_base[*hook as usize].store(crate::hooks::missed(*hook), Ordering::Relaxed);
        }
        self.corrupt_resets.store(0, Ordering::Relaxed);
    }
}

impl State {
    /// `mmap(2)`: the file offset selects a CPU's ring area (areas are
    /// `ring_area_len` bytes, back to back by CPU id) and a range inside it.
    /// Anything may be mapped read-only; only the consumer page may be mapped
    /// writable, and only shared.
    fn mmap(&self, vma: shim::Kptr, pgoff: usize, len: usize, write: bool, shared: bool) -> Result {
        let area_len = ring_area_len(self.rings.data_size());
        let offset = pgoff.checked_mul(RING_PAGE_SIZE).ok_or(EINVAL)?;
        let cpu = u32::try_from(offset / area_len).map_err(|_| EINVAL)?;
        let within = offset % area_len;
        if len == 0 || len % RING_PAGE_SIZE != 0 || within.checked_add(len).is_none_or(|end| end > area_len) {
            return Err(EINVAL);
        }
        if write && !(shared && within == RING_CONSUMER_OFFSET && len == RING_PAGE_SIZE) {
            return Err(EACCES);
        }
        let area = self.rings.area(cpu).ok_or(EINVAL)?;
        // CAST: page counts fit an unsigned long.
        let first_page = (within / RING_PAGE_SIZE) as c_ulong;
        // SAFETY: `area` is the vmalloc_user area of a live ring, which the
        // module frees only after every file (and so every mapping, which
        // holds its file) is gone; the range was checked to lie inside it.
        let ret = unsafe { shim::witness_shim_mmap_area(vma, area, first_page, write) };
        if ret == 0 {
            Ok(())
        } else {
            Err(Error::from_errno(ret))
        }
    }
}

/// `mmap(2)`: 0 or a negative errno.
#[no_mangle]
unsafe extern "C" fn witness_rs_mmap(
    ctx: *mut c_void,
    vma: shim::Kptr,
    pgoff: c_ulong,
    len: c_ulong,
    write: bool,
    shared: bool,
) -> core::ffi::c_int {
    // SAFETY: the shim passes the registered context.
    let state = unsafe { state(ctx) };
    // CAST: unsigned long and usize are the same width on Linux.
    match state.mmap(vma, pgoff as usize, len as usize, write, shared) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// The user memory of `len` bytes at `addr` (an address user space passed).
fn user_slice(addr: usize, len: usize) -> UserSlice {
    UserSlice::new(UserPtr::from_addr(addr), len)
}

/// Reads a `T` from user memory at `addr`.
fn read_user<T: crate::hooks::Plain>(addr: usize) -> Result<T> {
    let mut value = core::mem::MaybeUninit::<T>::uninit();
    // SAFETY: `value` has room for size_of::<T>() bytes.
    let dst = unsafe { core::slice::from_raw_parts_mut(value.as_mut_ptr().cast::<u8>(), size_of::<T>()) };
    user_slice(addr, size_of::<T>()).reader().read_slice(dst)?;
    // SAFETY: every byte was written by read_slice; T is Plain (any bytes
    // are a valid T: integers and byte arrays only).
    Ok(unsafe { value.assume_init() })
}

/// Writes a `T` to user memory at `addr`; returns 0 for the ioctl.
fn write_user<T: crate::hooks::Plain>(addr: usize, value: &T) -> Result<c_long> {
    user_slice(addr, size_of::<T>()).writer().write_slice(as_bytes(value))?;
    Ok(0)
}

/// Control requests change global state: `CAP_SYS_ADMIN`, one at a time.
struct Control;

impl Control {
    fn acquire() -> Result<Self> {
        // SAFETY: process context (an ioctl).
        if !unsafe { shim::witness_shim_capable_admin() } {
            return Err(EPERM);
        }
        // SAFETY: process context; may sleep.
        if unsafe { shim::witness_shim_control_lock() } != 0 {
            return Err(ERESTARTSYS);
        }
        Ok(Self)
    }
}

impl Drop for Control {
    fn drop(&mut self) {
        // SAFETY: this guard holds the lock.
        unsafe { shim::witness_shim_control_unlock() };
    }
}

struct RecordCopy {
    writer: UserSliceWriter,
    copied: usize,
    too_small: bool,
}

/// The bytes of a Plain value.
fn as_bytes<T: crate::hooks::Plain>(value: &T) -> &[u8] {
    // SAFETY: T is Plain: every one of its size_of bytes is initialised.
    unsafe { core::slice::from_raw_parts((value as *const T).cast::<u8>(), size_of::<T>()) }
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
