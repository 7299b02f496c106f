//! Reading the rings through `mmap`: the daemon's fast path.
//!
//! Each CPU's ring area (producer page, consumer page, data) is mapped
//! read-only, then its consumer page is mapped read-write over it with
//! `MAP_FIXED` (the module refuses any other writable mapping). The
//! collector then drives the same [`witness_abi::ring::Ring`] code as the
//! module: records are decoded straight out of the shared data area, and
//! the consumer position is committed when the caller says the batch is
//! safe ([`MappedRings::commit`], after the sinks took it). No
//! system call per batch, no copy into a read buffer; `poll(2)` on the
//! device wakes the reader when a ring passes the watermark.
//!
//! One consumer per ring: `read(2)` on another open file of the device
//! drains the same rings and must not run at the same time. When the module
//! is being unloaded, `poll` reports `POLLHUP`; the caller then drops the
//! mapping (which lets the unload finish) and reopens the device later.

use std::cell::Cell;
use std::ffi::c_void;
use std::os::fd::BorrowedFd;
use std::ptr::NonNull;

use rustix::mm::{MapFlags, ProtFlags};
use thiserror::Error;
use witness_abi::ring::{ring_area_len, ReadCursor, Ring, RING_CONSUMER_OFFSET, RING_PAGE_SIZE};

use crate::source::decode::{decode_one, DecodeError, Event};
use crate::source::device::Device;

/// Why the rings could not be mapped or read.
#[derive(Debug, Error)]
pub enum MapError {
    /// mmap refused (older module, no write access, no address space).
    #[error("{path}: cannot map ring {cpu}: {source}")]
    Map {
        /// The device.
        path: String,
        /// The ring.
        cpu: usize,
        /// Why.
        source: std::io::Error,
    },
    /// The module reported sizes the ring code does not accept.
    #[error("{path}: the module reports a ring data size of {data_size} bytes, which is not a valid ring")]
    Layout {
        /// The device.
        path: String,
        /// What it said.
        data_size: usize,
    },
}

/// A record a ring held that could not be used, and what was done.
#[derive(Debug, Error)]
pub enum RingFault {
    /// The ring's framing is broken (a consumer position that is not a record
    /// boundary): everything unread in that ring was skipped.
    #[error("ring {cpu}: {detail}; skipped {skipped} unread bytes")]
    Framing {
        /// The ring.
        cpu: usize,
        /// The ring code's description.
        detail: String,
        /// Bytes given up.
        skipped: u64,
    },
    /// One record did not decode; it was skipped (its sequence number shows
    /// as a gap, so the loss is counted).
    #[error("ring {cpu}: {source}")]
    Record {
        /// The ring.
        cpu: usize,
        /// Why.
        source: DecodeError,
    },
}

/// One mapped ring area; unmapped on drop.
struct Area {
    base: NonNull<c_void>,
    len: usize,
}

impl Drop for Area {
    fn drop(&mut self) {
        // SAFETY: `base` and `len` are exactly one mapping made in `map` and
        // not yet unmapped; no `Ring` over it outlives `MappedRings`, which
        // drops its rings before its areas (field order).
        let _ = unsafe { rustix::mm::munmap(self.base.as_ptr(), self.len) };
    }
}

/// Every CPU's ring, mapped.
pub struct MappedRings {
    // Field order matters: rings go before the areas they point into, which
    // are only held to be unmapped on drop.
    rings: Vec<Ring>,
    /// Per ring, how far [`MappedRings::drain`] has read past the
    /// committed position.
    held: Vec<Cell<Option<ReadCursor>>>,
    _areas: Vec<Area>,
}

// SAFETY: the areas are plain shared memory owned by this value; `Ring` is
// Send, and the raw pointers in `Area` are only used to unmap.
unsafe impl Send for MappedRings {}

impl MappedRings {
    /// Maps every ring of `device` (opened with
    /// [`Device::open_for_mapping`]).
    pub fn map(device: &Device) -> Result<Self, MapError> {
        let info = device.info();
        // CAST: u32 to usize is lossless on Linux targets.
        Self::map_fd(
            device.fd(),
            &device.path().display().to_string(),
            info.nr_rings as usize,
            info.ring_data_size as usize,
        )
    }

    /// Maps `nr_rings` ring areas of `data_size` from `fd`, laid out as the
    /// device lays them out.
    fn map_fd(fd: BorrowedFd<'_>, path: &str, nr_rings: usize, data_size: usize) -> Result<Self, MapError> {
        let path = path.to_string();
        let area_len = ring_area_len(data_size);
        let mut rings = Vec::new();
        let mut areas = Vec::new();
        for cpu in 0..nr_rings {
            let map_err = |source: rustix::io::Errno| MapError::Map { path: path.clone(), cpu, source: source.into() };
            let offset = (cpu * area_len) as u64;
            // SAFETY: a new mapping at an address the kernel picks; nothing
            // else refers to that range.
            let base = unsafe {
                rustix::mm::mmap(std::ptr::null_mut(), area_len, ProtFlags::READ, MapFlags::SHARED, fd, offset)
            }
            .map_err(map_err)?;
            let Some(base) = NonNull::new(base) else {
                return Err(map_err(rustix::io::Errno::NOMEM));
            };
            areas.push(Area { base, len: area_len });
            // SAFETY: replaces one page inside the mapping just made (and
            // owned by `areas`) with the writable consumer page.
            unsafe {
                rustix::mm::mmap(
                    base.as_ptr().cast::<u8>().add(RING_CONSUMER_OFFSET).cast(),
                    RING_PAGE_SIZE,
                    ProtFlags::READ | ProtFlags::WRITE,
                    MapFlags::SHARED | MapFlags::FIXED,
                    fd,
                    offset + RING_CONSUMER_OFFSET as u64,
                )
            }
            .map_err(map_err)?;
            // SAFETY: the area is page-aligned, `area_len` long, zeroed by the
            // module before use, and this is its only consumer (the daemon
            // does not also read(2) the device). It lives in `areas` for as
            // long as the ring is in `rings`.
            let ring = unsafe { Ring::from_raw(base.as_ptr().cast(), data_size) }
                .map_err(|_| MapError::Layout { path: path.clone(), data_size })?;
            rings.push(ring);
        }
        let held = rings.iter().map(|_| Cell::new(None)).collect();
        Ok(Self { rings, held, _areas: areas })
    }

    /// Rings mapped.
    pub fn len(&self) -> usize {
        self.rings.len()
    }

    /// Whether no ring is mapped (a module with no CPUs).
    pub fn is_empty(&self) -> bool {
        self.rings.is_empty()
    }

    /// Unread bytes over all rings.
    pub fn unread(&self) -> u64 {
        self.rings.iter().map(|r| r.unread(&r.read_begin())).sum()
    }

    /// Decodes what every ring holds past what was drained before (at most
    /// about `budget` bytes per ring) into `out`, in ring order. The space
    /// goes back to the module only on [`MappedRings::commit`]: call it once
    /// what was drained has reached the sinks, so that a collector killed
    /// in between leaves the records to its successor (at least once, never
    /// lost). Faults are reported through `fault` and never stop the drain.
    pub fn drain(&self, budget: u64, out: &mut Vec<Event>, mut fault: impl FnMut(RingFault)) {
        for ((cpu, ring), held) in self.rings.iter().enumerate().zip(&self.held) {
            let mut cursor = held.get().map_or_else(|| ring.read_begin(), |c| ring.read_continue(&c));
            let start = cursor.position();
            loop {
                match ring.read_next(&cursor) {
                    Ok(Some(record)) => {
                        // CAST: positions are byte offsets in a ring of at
                        // most 2^30 bytes; the low bits are a fine offset.
                        let offset = (record.end - record.bytes.len() as u64) as usize;
                        match decode_one(record.bytes, offset) {
                            Ok(event) => out.push(event),
                            Err(source) => fault(RingFault::Record { cpu, source }),
                        }
                        ring.read_advance(&mut cursor, &record);
                        if cursor.position().wrapping_sub(start) >= budget {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        ring.read_commit(&cursor);
                        let skipped = ring.read_skip_all();
                        fault(RingFault::Framing { cpu, detail: e.to_string(), skipped });
                        cursor = ring.read_begin();
                        break;
                    }
                }
            }
            held.set(Some(cursor));
        }
    }

    /// Gives the space of everything drained so far back to the module.
    pub fn commit(&self) {
        for (ring, held) in self.rings.iter().zip(&self.held) {
            if let Some(cursor) = held.take() {
                ring.read_commit(&cursor);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use witness_abi::record::{ExitRecord, RecordKind};
    use witness_abi::ring::RING_DATA_MIN;
    use zerocopy::{FromZeros, IntoBytes};

    /// Two rings in a memfd, laid out like the device's, with a producer
    /// mapping of its own: what the module does, in user space.
    fn rings(data_size: usize) -> (std::os::fd::OwnedFd, NonNull<c_void>, usize) {
        let fd = rustix::fs::memfd_create("witness-rings", rustix::fs::MemfdFlags::CLOEXEC).unwrap();
        let area = ring_area_len(data_size);
        rustix::fs::ftruncate(&fd, (2 * area) as u64).unwrap();
        // SAFETY: a fresh shared mapping of the memfd.
        let base = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                2 * area,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                &fd,
                0,
            )
        }
        .unwrap();
        (fd, NonNull::new(base).unwrap(), area)
    }

    fn produce(producer: &Ring, cpu: u32, status: i32) {
        let mut body = ExitRecord::new_zeroed();
        body.exit_code = status;
        let bytes = body.as_bytes();
        producer.produce(RecordKind::Exit, bytes.len(), cpu, 1000 + u64::from(cpu), |buf| {
            buf[..bytes.len()].copy_from_slice(bytes);
            Some(bytes.len())
        });
    }

    #[test]
    fn drains_every_ring_and_frees_the_space() {
        let data_size = RING_DATA_MIN;
        let (fd, base, area) = rings(data_size);
        // SAFETY: the producer mapping covers two zeroed areas.
        let producers: Vec<Ring> = (0..2)
            .map(|i| unsafe { Ring::from_raw(base.as_ptr().cast::<u8>().add(i * area), data_size) }.unwrap())
            .collect();
        let mapped = MappedRings::map_fd(fd.as_fd(), "memfd", 2, data_size).unwrap();
        assert_eq!(mapped.len(), 2);
        for i in 0..10 {
            produce(&producers[0], 0, i);
        }
        produce(&producers[1], 1, 99);
        assert!(mapped.unread() > 0);

        let mut out = Vec::new();
        let mut faults = Vec::new();
        mapped.drain(u64::MAX, &mut out, |f| faults.push(f.to_string()));
        assert!(faults.is_empty(), "{faults:?}");
        assert_eq!(out.len(), 11);
        let seqs: Vec<_> = out.iter().filter(|e| e.meta.cpu == 0).map(|e| e.meta.seq).collect();
        assert_eq!(seqs, (0..10).collect::<Vec<u64>>());
        assert!(mapped.unread() > 0, "nothing is given back before commit");
        let mut again = Vec::new();
        mapped.drain(u64::MAX, &mut again, |f| panic!("{f}"));
        assert!(again.is_empty(), "a second drain goes on from the first");
        mapped.commit();
        assert_eq!(mapped.unread(), 0, "the consumer position was committed");
        assert_eq!(producers[0].counters().tail, producers[0].counters().head);

        // A budget splits a ring's batch; nothing is lost across calls.
        for i in 0..10 {
            produce(&producers[0], 0, i);
        }
        out.clear();
        mapped.drain(1, &mut out, |_| {});
        assert_eq!(out.len(), 1);
        mapped.drain(u64::MAX, &mut out, |_| {});
        assert_eq!(out.len(), 10);
        mapped.commit();
        // The space is reusable: wrap the ring several times.
        for round in 0..50 {
            for i in 0..20 {
                produce(&producers[0], 0, round * 100 + i);
            }
            out.clear();
            mapped.drain(u64::MAX, &mut out, |f| panic!("{f}"));
            mapped.commit();
            assert_eq!(out.len(), 20, "round {round}");
        }
        assert_eq!(producers[0].counters().dropped_full, 0);
    }

    #[test]
    fn a_corrupt_position_skips_the_ring_and_says_so() {
        let data_size = RING_DATA_MIN;
        let (fd, base, _) = rings(data_size);
        // SAFETY: as above.
        let producer = unsafe { Ring::from_raw(base.as_ptr().cast(), data_size) }.unwrap();
        let mapped = MappedRings::map_fd(fd.as_fd(), "memfd", 2, data_size).unwrap();
        produce(&producer, 0, 1);
        produce(&producer, 0, 2);
        // Someone wrote a consumer position that is not a record boundary.
        // SAFETY: the consumer page's first word is the tail (u64), and
        // nothing else touches the ring during the test.
        unsafe { base.as_ptr().cast::<u8>().add(RING_CONSUMER_OFFSET).cast::<u64>().write_volatile(4) };
        let mut out = Vec::new();
        let mut faults = Vec::new();
        mapped.drain(u64::MAX, &mut out, |f| faults.push(f.to_string()));
        assert!(out.is_empty());
        assert_eq!(faults.len(), 1, "{faults:?}");
        assert!(faults[0].starts_with("ring 0: ") && faults[0].contains("skipped"), "{faults:?}");
        mapped.commit();
        assert_eq!(mapped.unread(), 0);
        produce(&producer, 0, 3);
        mapped.drain(u64::MAX, &mut out, |f| panic!("{f}"));
        assert_eq!(out.len(), 1, "reading resumes after the fault");
    }
}
