//! Per-CPU scratch space for what a handler must know before it takes ring
//! space: file paths, which the path filters judge. A filtered event then
//! costs no ring space and no sequence number, so only real losses are
//! sequence gaps, and a full ring never counts a filtered event as dropped.
//!
//! A handler claims its CPU's area under [`NoPreempt`] with a
//! compare-and-swap, like the ring writer. One that finds it taken would be
//! a handler nested in another on the CPU, which the file hooks (task
//! context only) never are; it drops its event and counts it in the hook's
//! `dropped`.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};
use kernel::prelude::*;

use crate::hooks::NoPreempt;

/// Bytes of one CPU's area: two file paths (a rename's source and target).
pub(crate) const SCRATCH_LEN: usize = 2 * crate::record::FILE_PATH_MAX;

struct Area {
    busy: AtomicBool,
    bytes: UnsafeCell<[u8; SCRATCH_LEN]>,
}

/// One area per possible CPU id.
pub(crate) struct Scratch {
    areas: KVec<KBox<Area>>,
}

// SAFETY: an area's bytes are only reached through a `Claim`, which the busy
// flag makes exclusive.
unsafe impl Sync for Scratch {}
// SAFETY: as above; created on one CPU and dropped on another.
unsafe impl Send for Scratch {}

impl Scratch {
    pub(crate) fn new(nr_cpus: usize) -> Result<Self> {
        let mut areas = KVec::with_capacity(nr_cpus, GFP_KERNEL)?;
        for _ in 0..nr_cpus {
            let area =
                KBox::new(Area { busy: AtomicBool::new(false), bytes: UnsafeCell::new([0; SCRATCH_LEN]) }, GFP_KERNEL)?;
            areas.push(area, GFP_KERNEL)?;
        }
        Ok(Self { areas })
    }

    /// This CPU's area, for as long as `on_cpu` keeps the handler here;
    /// None when a handler this one interrupted holds it.
    #[inline]
    pub(crate) fn claim<'a>(&'a self, on_cpu: &'a NoPreempt) -> Option<Claim<'a>> {
        // CAST: CPU ids are small.
        let area = self.areas.get(on_cpu.cpu() as usize)?;
        area.busy.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).ok()?;
        Some(Claim { area })
    }
}

/// An area held exclusively until dropped.
pub(crate) struct Claim<'a> {
    area: &'a Area,
}

impl Claim<'_> {
    /// The area's bytes.
    #[inline]
    pub(crate) fn bytes(&mut self) -> &mut [u8; SCRATCH_LEN] {
        // SAFETY: the busy flag, claimed in `Scratch::claim` and cleared on
        // drop, makes this the only reference to the bytes.
        unsafe { &mut *self.area.bytes.get() }
    }
}

impl Drop for Claim<'_> {
    #[inline]
    fn drop(&mut self) {
        self.area.busy.store(false, Ordering::Release);
    }
}
