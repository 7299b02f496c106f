//! The set of per-CPU rings: allocation, lookup by CPU, and release.
//!
//! The protocol itself lives in the shared ABI (`ring`); this module
//! only owns the memory. Each possible CPU gets one area of
//! `ring_area_len(data_size)` bytes from `vmalloc_user` (zeroed, page-aligned,
//! mappable into user space).

use core::ffi::c_void;
use kernel::prelude::*;

use crate::hooks::NoPreempt;
use crate::ring::{ring_area_len, Ring};
use crate::shim;

/// One CPU's ring and the memory behind it.
struct Slot {
    area: *mut c_void,
    ring: Ring,
}

impl Slot {
    fn new(data_size: usize) -> Result<Self> {
        // SAFETY: plain allocation; a null result is handled below.
        let area = unsafe { shim::witness_shim_ring_alloc(ring_area_len(data_size)) };
        if area.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: `area` is a zeroed, page-aligned allocation of
        // ring_area_len(data_size) bytes that lives until the Slot is dropped.
        match unsafe { Ring::from_raw(area.cast(), data_size) } {
            Ok(ring) => Ok(Self { area, ring }),
            Err(_) => {
                // SAFETY: allocated just above and not shared.
                unsafe { shim::witness_shim_ring_free(area) };
                Err(EINVAL)
            }
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        // SAFETY: allocated in Slot::new. The module detaches every producer
        // and waits for every reader to go before it drops the rings.
        unsafe { shim::witness_shim_ring_free(self.area) };
    }
}

/// Rings indexed by CPU id; `None` for ids that are not possible CPUs.
pub(crate) struct RingSet {
    slots: KVec<Option<Slot>>,
    data_size: usize,
}

// SAFETY: the raw `area` pointers are only dereferenced through `Ring`, which
// is Sync under its single-producer/single-consumer contract; the set itself
// is immutable after construction until it is dropped.
unsafe impl Sync for RingSet {}
// SAFETY: as above; the set is created on one CPU and dropped on another.
unsafe impl Send for RingSet {}

impl RingSet {
    /// Allocates one ring of `data_size` data bytes per possible CPU.
    pub(crate) fn new(data_size: usize) -> Result<Self> {
        // SAFETY: reads a kernel global that is fixed after boot.
        let nr = unsafe { shim::witness_shim_nr_cpu_ids() };
        // CAST: nr_cpu_ids is a small positive number.
        let mut slots = KVec::with_capacity(nr as usize, GFP_KERNEL)?;
        for cpu in 0..nr {
            // SAFETY: any cpu number is accepted; the shim bounds-checks it.
            let possible = unsafe { shim::witness_shim_cpu_possible(cpu) };
            let slot = if possible { Some(Slot::new(data_size)?) } else { None };
            // On error, the slots pushed so far are dropped, freeing them.
            slots.push(slot, GFP_KERNEL)?;
        }
        Ok(Self { slots, data_size })
    }

    /// The ring a producer writes: the one of the CPU that `on_cpu` keeps
    /// it on, borrowed no longer than preemption stays disabled.
    #[inline]
    pub(crate) fn local<'a>(&'a self, on_cpu: &'a NoPreempt) -> Option<&'a Ring> {
        self.get(on_cpu.cpu())
    }

    /// The ring of `cpu`, if it is a possible CPU (for its consumer).
    #[inline]
    pub(crate) fn get(&self, cpu: u32) -> Option<&Ring> {
        // CAST: u32 to usize is lossless on the 64-bit targets we build for.
        self.slots.get(cpu as usize)?.as_ref().map(|s| &s.ring)
    }

    /// The memory area of `cpu`'s ring.
    pub(crate) fn area(&self, cpu: u32) -> Option<*mut c_void> {
        // CAST: u32 to usize is lossless on 64-bit.
        self.slots.get(cpu as usize)?.as_ref().map(|s| s.area)
    }

    /// Number of ring slots (`nr_cpu_ids`).
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Bytes in each ring's data area.
    pub(crate) fn data_size(&self) -> usize {
        self.data_size
    }

    /// Rings with their CPU ids.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &Ring)> {
        self.slots.iter().enumerate().filter_map(|(cpu, s)| {
            // CAST: at most nr_cpu_ids entries.
            s.as_ref().map(|s| (cpu as u32, &s.ring))
        })
    }
}
