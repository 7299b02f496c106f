//! The per-CPU ring: memory layout and the lockless protocol, both sides.
//!
//! Each possible CPU owns one ring. Its memory is one contiguous area:
//!
//! ```text
//! offset 0                 ProducerPage  head, sequence and drop counters
//!                                        (kernel-written; read-only to user)
//! offset RING_PAGE_SIZE    ConsumerPage  tail, the only word the consumer
//!                                        writes
//! offset RING_DATA_OFFSET  data          `data_size` bytes, a power of two
//! ```
//!
//! `head` and `tail` are free-running byte counters; a position's offset in
//! the data area is `pos & (data_size - 1)`. The producer owns
//! `[head, tail + data_size)`, the consumer owns `[tail, head)`. The producer
//! publishes a record by storing `head` with release ordering after writing
//! it; the consumer loads `head` with acquire ordering, reads, and hands the
//! bytes back by storing `tail` with release ordering. A record never wraps:
//! when it does not fit before the end of the data area the producer first
//! fills the rest with a [`RecordKind::Pad`] record.
//!
//! **One producer per ring at a time.** The producer is the ring's CPU with
//! preemption disabled. Handlers can nest on that CPU (an interrupt fires a
//! hook while a task-context hook is writing), so a writer claims the ring
//! with an atomic compare-and-swap on `busy`; one that loses does not write:
//! it counts the record in `dropped_nested`, and the writer holding the ring
//! folds that count into the sequence before it publishes anything else. The
//! claim is atomic rather than a same-CPU flag, so even two writers on
//! different CPUs (a caller that broke the preemption rule, a migrated task)
//! cannot both write: one record is dropped and counted, none is torn.
//! Because every attempt takes a sequence number, a consumer that sees a gap
//! of `n` in a ring's sequence knows exactly `n` records were lost there, and
//! the sum of gaps equals `dropped_full + dropped_nested`.
//!
//! The producer never blocks and never overwrites unread bytes: when a record
//! does not fit it is dropped and counted in `dropped_full`.
//!
//! **One consumer per ring**, serialised by the caller (the module's `read`
//! holds a lock; an `mmap` consumer is a single thread). The consumer side
//! validates everything it reads, because `tail` may have been written by a
//! hostile or buggy process: a bad position or length is an error, never an
//! out-of-bounds access.

use core::fmt;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::record::{RecordHeader, RecordKind, RecordPrefix, RECORD_ALIGN, RECORD_HEADER_LEN, RECORD_MAX_LEN};

/// Page size the ring layout assumes (the control pages are mapped
/// separately, so they must each fill one page).
pub const RING_PAGE_SIZE: usize = 4096;
/// Offset of the [`ProducerPage`] in a ring's area.
pub const RING_PRODUCER_OFFSET: usize = 0;
/// Offset of the [`ConsumerPage`] in a ring's area.
pub const RING_CONSUMER_OFFSET: usize = RING_PAGE_SIZE;
/// Offset of the data area in a ring's area.
pub const RING_DATA_OFFSET: usize = 2 * RING_PAGE_SIZE;
/// Smallest data area: room for many records of the largest size.
pub const RING_DATA_MIN: usize = 16 * RING_PAGE_SIZE;
/// Largest data area (positions and lengths stay far from `u32` limits).
pub const RING_DATA_MAX: usize = 1 << 30;

/// Bytes in the whole area of a ring with `data_size` bytes of data.
pub const fn ring_area_len(data_size: usize) -> usize {
    RING_DATA_OFFSET + data_size
}

/// Whether `data_size` is a valid data-area size.
pub const fn data_size_is_valid(data_size: usize) -> bool {
    data_size.is_power_of_two() && data_size >= RING_DATA_MIN && data_size <= RING_DATA_MAX
}

/// The producer's control page. Only the producer writes it.
#[repr(C)]
pub struct ProducerPage {
    /// Bytes ever published (records and pad). Stored with release ordering.
    pub head: AtomicU64,
    /// Sequence number the next record attempt takes.
    pub next_seq: AtomicU64,
    /// Records published.
    pub produced: AtomicU64,
    /// Records dropped because the ring had no room.
    pub dropped_full: AtomicU64,
    /// Records dropped because a producer was already writing on this CPU.
    /// Incremented atomically by the nested producer.
    pub dropped_nested: AtomicU64,
    /// The part of `dropped_nested` already folded into `next_seq`. Written
    /// only by the outermost producer.
    pub nested_folded: AtomicU64,
    /// Nonzero while a writer holds the ring: claimed by compare-and-swap
    /// from 0 to 1 (acquire), given back by storing 0 (release).
    pub busy: AtomicU32,
    /// Reserved, zero.
    pub reserved: u32,
}

/// The consumer's control page: the only memory a consumer writes.
#[repr(C)]
pub struct ConsumerPage {
    /// Bytes ever consumed. Stored by the consumer with release ordering.
    pub tail: AtomicU64,
}

const _: () = {
    assert!(core::mem::size_of::<ProducerPage>() == 56);
    assert!(core::mem::size_of::<ProducerPage>() <= RING_PAGE_SIZE);
    assert!(core::mem::size_of::<ConsumerPage>() <= RING_PAGE_SIZE);
    assert!(RING_DATA_MIN >= 4 * RECORD_MAX_LEN);
};

/// Why the producer dropped a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// Not enough free bytes (or the consumer position was invalid).
    Full,
    /// Another producer was writing on this CPU.
    Nested,
    /// The record was larger than [`RECORD_MAX_LEN`] (a module bug; counted as
    /// full so the loss is still visible).
    TooLarge,
}

/// What [`Ring::produce`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Produced {
    /// Published with this sequence number.
    Written(u64),
    /// Dropped and counted.
    Dropped(DropReason),
    /// The fill function decided not to publish (a filter that needed the
    /// record's contents): nothing was published and no sequence number used.
    Cancelled,
}

/// A consistent-enough snapshot of a ring's counters (each word is read
/// atomically; the set is not one atomic snapshot).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingCounters {
    /// Bytes ever published.
    pub head: u64,
    /// Bytes ever consumed.
    pub tail: u64,
    /// Sequence number the next record attempt takes.
    pub next_seq: u64,
    /// Records published.
    pub produced: u64,
    /// Records dropped for lack of room.
    pub dropped_full: u64,
    /// Records dropped because a producer was already writing on this CPU.
    pub dropped_nested: u64,
}

/// A consumer found bytes that break the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingError {
    /// Ring position (free-running byte counter) of the bad record.
    pub pos: u64,
    /// The length field found there (or the distance to `head`).
    pub len: u64,
    /// What is wrong.
    pub reason: &'static str,
}

impl fmt::Display for RingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ring corrupt at position {}: {} (length {})", self.pos, self.reason, self.len)
    }
}

/// Why a memory area cannot hold a ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingLayoutError {
    /// The rejected data size.
    pub data_size: usize,
}

impl fmt::Display for RingLayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ring data size {} is not a power of two between {} and {}",
            self.data_size, RING_DATA_MIN, RING_DATA_MAX
        )
    }
}

/// A handle on one ring's area. It does not own the memory.
pub struct Ring {
    base: *mut u8,
    data_size: usize,
}

// SAFETY: `Ring` is a pointer to memory shared under the protocol above: all
// control words are atomics, and data bytes are only written by the single
// producer in `[head, tail + size)` and only read by the single consumer in
// `[tail, head)`, with release/acquire on `head` and `tail` ordering the two.
// Callers uphold "one producer, one consumer" (documented on the methods).
unsafe impl Send for Ring {}
// SAFETY: as for `Send`.
unsafe impl Sync for Ring {}

/// The consumer's position while it reads a batch: from the committed `tail`
/// up to the `head` seen when the batch began.
#[derive(Clone, Copy, Debug)]
pub struct ReadCursor {
    pos: u64,
    head: u64,
}

impl ReadCursor {
    /// The position of the next unread byte.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Whether the batch is exhausted.
    pub fn is_done(&self) -> bool {
        self.pos == self.head
    }
}

/// One record found by [`Ring::read_next`].
#[derive(Clone, Copy, Debug)]
pub struct RecordRef<'a> {
    /// The whole record, header first.
    pub bytes: &'a [u8],
    /// The position just after it (where the cursor goes once it is used).
    pub end: u64,
}

impl Ring {
    /// Wraps a ring area.
    ///
    /// # Safety
    ///
    /// `base` must be aligned to [`RING_PAGE_SIZE`] and valid for reads (and,
    /// for a producer, writes) of [`ring_area_len`]`(data_size)` bytes for as
    /// long as the `Ring` is used. The area must have been zeroed before its
    /// first producer or consumer used it.
    pub unsafe fn from_raw(base: *mut u8, data_size: usize) -> Result<Self, RingLayoutError> {
        if !data_size_is_valid(data_size) {
            return Err(RingLayoutError { data_size });
        }
        Ok(Self { base, data_size })
    }

    /// Bytes in the data area.
    pub fn data_size(&self) -> usize {
        self.data_size
    }

    fn producer(&self) -> &ProducerPage {
        // SAFETY: `from_raw`'s contract: the area is valid and page-aligned,
        // and a ProducerPage (atomics only) fits in its first page.
        unsafe { &*self.base.add(RING_PRODUCER_OFFSET).cast::<ProducerPage>() }
    }

    fn consumer(&self) -> &ConsumerPage {
        // SAFETY: as in `producer`, for the second page.
        unsafe { &*self.base.add(RING_CONSUMER_OFFSET).cast::<ConsumerPage>() }
    }

    fn data(&self) -> *mut u8 {
        // SAFETY: the data area starts RING_DATA_OFFSET bytes into the area.
        unsafe { self.base.add(RING_DATA_OFFSET) }
    }

    fn mask(&self) -> u64 {
        // CAST: data_size <= RING_DATA_MAX (2^30) fits in u64.
        self.data_size as u64 - 1
    }

    /// Snapshot of the ring's counters.
    pub fn counters(&self) -> RingCounters {
        let p = self.producer();
        RingCounters {
            head: p.head.load(Ordering::Acquire),
            tail: self.consumer().tail.load(Ordering::Acquire),
            next_seq: p.next_seq.load(Ordering::Relaxed),
            produced: p.produced.load(Ordering::Relaxed),
            dropped_full: p.dropped_full.load(Ordering::Relaxed),
            dropped_nested: p.dropped_nested.load(Ordering::Relaxed),
        }
    }

    /// Writes one record: a header (filled in here) and a body that `fill`
    /// writes into the `max_body_len`-byte slice it is given, returning how
    /// many leading bytes it wrote (at most `max_body_len`; all of them must be
    /// written), or None to cancel. Room is reserved for `max_body_len`, the
    /// record is published with the returned length, and the padding after it
    /// is zeroed here.
    ///
    /// Never blocks: when the ring is busy or full the record is dropped,
    /// counted, and its sequence number becomes a gap.
    ///
    /// Meant for the ring's producer: on the ring's CPU with preemption
    /// disabled (in user space, from one thread). Nested calls on that CPU
    /// are dropped and counted; so are calls that race from another CPU.
    #[inline]
    pub fn produce(
        &self,
        kind: RecordKind,
        max_body_len: usize,
        cpu: u32,
        ts_ns: u64,
        fill: impl FnOnce(&mut [u8]) -> Option<usize>,
    ) -> Produced {
        let p = self.producer();
        // Acquire: this writer sees everything the previous holder wrote.
        if p.busy.compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed).is_err() {
            p.dropped_nested.fetch_add(1, Ordering::Relaxed);
            return Produced::Dropped(DropReason::Nested);
        }

        self.fold_nested(p);
        let seq = p.next_seq.load(Ordering::Relaxed);
        p.next_seq.store(seq + 1, Ordering::Relaxed);
        let result = self.write(p, kind, max_body_len, cpu, ts_ns, seq, fill);
        if result == Produced::Cancelled {
            // Give the number back: a cancelled record is not a loss.
            p.next_seq.store(seq, Ordering::Relaxed);
        }
        // Drops by producers that interrupted this one are gaps after `seq`.
        self.fold_nested(p);

        // Release: the next holder sees this writer's counters and sequence.
        p.busy.store(0, Ordering::Release);
        result
    }

    /// Moves nested drops into the sequence so that they show as gaps.
    #[inline]
    fn fold_nested(&self, p: &ProducerPage) {
        let folded = p.nested_folded.load(Ordering::Relaxed);
        let nested = p.dropped_nested.load(Ordering::Relaxed);
        if nested != folded {
            let seq = p.next_seq.load(Ordering::Relaxed);
            p.next_seq.store(seq + nested.wrapping_sub(folded), Ordering::Relaxed);
            p.nested_folded.store(nested, Ordering::Relaxed);
        }
    }

    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn write(
        &self,
        p: &ProducerPage,
        kind: RecordKind,
        max_body_len: usize,
        cpu: u32,
        ts_ns: u64,
        seq: u64,
        fill: impl FnOnce(&mut [u8]) -> Option<usize>,
    ) -> Produced {
        let max_len = super::record::record_len(max_body_len);
        if max_len > RECORD_MAX_LEN {
            bump(&p.dropped_full);
            return Produced::Dropped(DropReason::TooLarge);
        }
        // CAST: max_len <= RECORD_MAX_LEN.
        let len64 = max_len as u64;
        // CAST: data_size <= 2^30.
        let size = self.data_size as u64;
        let head = p.head.load(Ordering::Relaxed);
        let tail = self.consumer().tail.load(Ordering::Acquire);
        let used = head.wrapping_sub(tail);
        let offset = head & self.mask();
        let to_end = size - offset;
        let pad = if to_end < len64 { to_end } else { 0 };
        // `used > size` means the consumer wrote a bogus tail: treat as full.
        if used > size || size - used < pad + len64 {
            bump(&p.dropped_full);
            return Produced::Dropped(DropReason::Full);
        }
        let data = self.data();
        if pad != 0 {
            // CAST: offset and pad are < size <= 2^30; pad >= 8 and is a
            // multiple of RECORD_ALIGN because every record length is.
            let prefix = RecordPrefix { len: pad as u32, kind: RecordKind::Pad as u16, flags: 0 };
            // SAFETY: [offset, offset + pad) lies in the data area and in the
            // producer's free space (checked above); offset is 8-aligned.
            unsafe { data.add(offset as usize).cast::<RecordPrefix>().write(prefix) };
        }
        // CAST: the masked position is < size <= 2^30.
        let start = ((head + pad) & self.mask()) as usize;
        // SAFETY: [start, start + max_len) lies inside the data area (no
        // record wraps: `pad` moved `start` to 0 when it would have) and
        // inside the producer's free space, which the consumer does not read
        // until `head` is published below. `start` is 8-aligned.
        let len = unsafe {
            let rec = data.add(start);
            let body = core::slice::from_raw_parts_mut(rec.add(RECORD_HEADER_LEN), max_body_len);
            let Some(body_len) = fill(body) else {
                // The pad record (if any) is not published either: head
                // stays where it was.
                return Produced::Cancelled;
            };
            let body_len = body_len.min(max_body_len);
            let len = super::record::record_len(body_len);
            let header = RecordHeader {
                // CAST: len <= max_len <= RECORD_MAX_LEN.
                len: len as u32,
                kind: kind as u16,
                flags: 0,
                cpu,
                reserved: 0,
                seq,
                ts_ns,
            };
            rec.cast::<RecordHeader>().write(header);
            let used_len = RECORD_HEADER_LEN + body_len;
            core::ptr::write_bytes(rec.add(used_len), 0, len - used_len);
            len
        };
        bump(&p.produced);
        // CAST: len <= RECORD_MAX_LEN.
        p.head.store(head + pad + len as u64, Ordering::Release);
        Produced::Written(seq)
    }

    /// Starts a read batch: from the committed tail to the current head.
    /// Only the ring's single consumer may call the `read_*` methods.
    pub fn read_begin(&self) -> ReadCursor {
        ReadCursor {
            pos: self.consumer().tail.load(Ordering::Relaxed),
            head: self.producer().head.load(Ordering::Acquire),
        }
    }

    /// Continues a batch that was read but not committed: from `cursor`'s
    /// position to the current head, so that records produced since it
    /// began are included.
    pub fn read_continue(&self, cursor: &ReadCursor) -> ReadCursor {
        ReadCursor { pos: cursor.pos, head: self.producer().head.load(Ordering::Acquire) }
    }

    /// The next record of the batch, skipping pad, without moving the cursor:
    /// call [`ReadCursor`]'s owner's `advance` (via [`Ring::read_advance`])
    /// once the record is used. The bytes stay valid until the cursor is
    /// committed past them.
    pub fn read_next(&self, cursor: &ReadCursor) -> Result<Option<RecordRef<'_>>, RingError> {
        // CAST: data_size <= 2^30.
        let size = self.data_size as u64;
        let mut pos = cursor.pos;
        loop {
            let avail = cursor.head.wrapping_sub(pos);
            if avail == 0 {
                return Ok(None);
            }
            // `%`, not is_multiple_of: the module is built by the kernel's rustc (1.85 on Debian 13).
            if avail > size || avail % RECORD_ALIGN as u64 != 0 {
                return Err(RingError { pos, len: avail, reason: "tail is not a record boundary behind head" });
            }
            let offset = pos & self.mask();
            // SAFETY: offset < size and is 8-aligned (positions move in
            // multiples of RECORD_ALIGN), so the 8-byte prefix is in bounds.
            let prefix = unsafe {
                // CAST: offset < size <= 2^30.
                self.data().add(offset as usize).cast::<RecordPrefix>().read_volatile()
            };
            let len = u64::from(prefix.len);
            if len < RECORD_ALIGN as u64 || len % RECORD_ALIGN as u64 != 0 || len > avail || len > size - offset {
                return Err(RingError { pos, len, reason: "record length out of bounds" });
            }
            if prefix.kind == RecordKind::Pad as u16 {
                pos += len;
                continue;
            }
            if len < RECORD_HEADER_LEN as u64 || len > RECORD_MAX_LEN as u64 {
                return Err(RingError { pos, len, reason: "record length out of bounds" });
            }
            // SAFETY: [offset, offset + len) is inside the data area (checked
            // above) and inside [tail, head), which the producer does not
            // touch until the consumer commits past it.
            let bytes = unsafe {
                // CAST: offset and len are < size <= 2^30.
                core::slice::from_raw_parts(self.data().add(offset as usize), len as usize)
            };
            return Ok(Some(RecordRef { bytes, end: pos + len }));
        }
    }

    /// Bytes between the cursor and the head it saw.
    pub fn unread(&self, cursor: &ReadCursor) -> u64 {
        cursor.head.wrapping_sub(cursor.pos)
    }

    /// Moves the cursor past a record returned by [`Ring::read_next`].
    pub fn read_advance(&self, cursor: &mut ReadCursor, record: &RecordRef<'_>) {
        cursor.pos = record.end;
    }

    /// Gives the bytes before the cursor back to the producer.
    pub fn read_commit(&self, cursor: &ReadCursor) {
        self.consumer().tail.store(cursor.pos, Ordering::Release);
    }

    /// Drops everything unread (used to recover from a corrupt consumer
    /// position). Returns the number of bytes skipped.
    pub fn read_skip_all(&self) -> u64 {
        let head = self.producer().head.load(Ordering::Acquire);
        let tail = self.consumer().tail.swap(head, Ordering::AcqRel);
        head.wrapping_sub(tail)
    }
}

/// Counter increment by the writer holding the ring (`busy`).
#[inline]
fn bump(counter: &AtomicU64) {
    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::alloc::{alloc_zeroed, dealloc, Layout};
    use std::vec::Vec;

    struct Area {
        ptr: *mut u8,
        layout: Layout,
    }

    impl Area {
        fn new(data_size: usize) -> Self {
            let layout = Layout::from_size_align(ring_area_len(data_size), RING_PAGE_SIZE).unwrap();
            // SAFETY: the layout has a nonzero size.
            let ptr = unsafe { alloc_zeroed(layout) };
            assert!(!ptr.is_null());
            Self { ptr, layout }
        }
        fn ring(&self) -> Ring {
            // SAFETY: the area is zeroed, page-aligned and large enough.
            unsafe { Ring::from_raw(self.ptr, self.layout.size() - RING_DATA_OFFSET) }.unwrap()
        }
    }

    impl Drop for Area {
        fn drop(&mut self) {
            // SAFETY: allocated in `new` with this layout.
            unsafe { dealloc(self.ptr, self.layout) }
        }
    }

    fn drain(ring: &Ring) -> Vec<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        let mut cur = ring.read_begin();
        while let Some(rec) = ring.read_next(&cur).unwrap() {
            let seq = u64::from_ne_bytes(rec.bytes[16..24].try_into().unwrap());
            out.push((seq, rec.bytes[RECORD_HEADER_LEN..].to_vec()));
            ring.read_advance(&mut cur, &rec);
        }
        ring.read_commit(&cur);
        out
    }

    #[test]
    fn rejects_bad_sizes() {
        for size in [0, 4096, RING_DATA_MIN + 8, RING_DATA_MAX * 2] {
            // SAFETY: rejected before the pointer is used.
            assert!(unsafe { Ring::from_raw(core::ptr::null_mut(), size) }.is_err());
        }
    }

    #[test]
    fn round_trip_and_wrap() {
        let area = Area::new(RING_DATA_MIN);
        let ring = area.ring();
        // Records of varying length, far more bytes than the ring holds, so
        // the producer wraps with pad records many times.
        for round in 0..2000u64 {
            let body_len = 8 + (round as usize * 37) % 900;
            let r = ring.produce(RecordKind::Exec, body_len, 3, round, |b| {
                b.fill(round as u8);
                Some(body_len)
            });
            assert_eq!(r, Produced::Written(round));
            let got = drain(&ring);
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].0, round);
            assert!(got[0].1[..body_len].iter().all(|&x| x == round as u8));
            assert!(got[0].1[body_len..].iter().all(|&x| x == 0), "padding zeroed");
        }
    }

    #[test]
    fn shorter_body_than_reserved_is_published_at_its_length() {
        let area = Area::new(RING_DATA_MIN);
        let ring = area.ring();
        let r = ring.produce(RecordKind::Exec, 1000, 0, 0, |b| {
            b.fill(0xaa);
            Some(5)
        });
        assert_eq!(r, Produced::Written(0));
        let got = drain(&ring);
        assert_eq!(got[0].1.len(), 8, "5 body bytes padded to 8");
        assert_eq!(&got[0].1[..], &[0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0, 0, 0]);
        // A fill that claims more than it was given is clamped.
        ring.produce(RecordKind::Exec, 16, 0, 0, |_| Some(usize::MAX));
        assert_eq!(drain(&ring)[0].1.len(), 16);
    }

    #[test]
    fn cancelled_records_leave_no_trace() {
        let area = Area::new(RING_DATA_MIN);
        let ring = area.ring();
        assert_eq!(ring.produce(RecordKind::Exec, 64, 0, 0, |_| None), Produced::Cancelled);
        assert_eq!(ring.produce(RecordKind::Exec, 8, 0, 0, |b| Some(b.len())), Produced::Written(0));
        let got = drain(&ring);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, 0, "the cancelled record used no sequence number");
    }

    #[test]
    fn full_ring_drops_and_counts_gaps() {
        let area = Area::new(RING_DATA_MIN);
        let ring = area.ring();
        let mut written = 0u64;
        let mut dropped = 0u64;
        for _ in 0..1000 {
            match ring.produce(RecordKind::Exec, 200, 0, 0, |b| {
                b.fill(1);
                Some(b.len())
            }) {
                Produced::Written(_) => written += 1,
                Produced::Dropped(DropReason::Full) => dropped += 1,
                other => panic!("{other:?}"),
            }
        }
        assert!(dropped > 0);
        let got = drain(&ring);
        assert_eq!(got.len() as u64, written);
        // After draining, the next record's sequence shows the gap.
        assert_eq!(
            ring.produce(RecordKind::Exec, 8, 0, 0, |b| {
                b.fill(0);
                Some(b.len())
            }),
            Produced::Written(1000)
        );
        let c = ring.counters();
        assert_eq!(c.dropped_full, dropped);
        assert_eq!(c.next_seq, 1001);
    }

    #[test]
    fn nested_producer_is_dropped_and_becomes_a_gap() {
        let area = Area::new(RING_DATA_MIN);
        let ring = area.ring();
        let outer = ring.produce(RecordKind::Exec, 16, 0, 0, |b| {
            b.fill(7);
            // An "interrupt" on the same CPU while the outer write is open.
            assert_eq!(
                ring.produce(RecordKind::Exec, 16, 0, 0, |b| {
                    b.fill(9);
                    Some(b.len())
                }),
                Produced::Dropped(DropReason::Nested)
            );
            Some(b.len())
        });
        assert_eq!(outer, Produced::Written(0));
        assert_eq!(
            ring.produce(RecordKind::Exec, 16, 0, 0, |b| {
                b.fill(8);
                Some(b.len())
            }),
            Produced::Written(2)
        );
        let seqs: Vec<u64> = drain(&ring).into_iter().map(|(s, _)| s).collect();
        assert_eq!(seqs, [0, 2]);
        assert_eq!(ring.counters().dropped_nested, 1);
    }

    #[test]
    fn hostile_tail_is_an_error_not_a_fault() {
        let area = Area::new(RING_DATA_MIN);
        let ring = area.ring();
        ring.produce(RecordKind::Exec, 16, 0, 0, |b| {
            b.fill(1);
            Some(b.len())
        });
        // A consumer writes garbage into its page.
        for bogus in [4u64, 1 << 40, u64::MAX - 7] {
            ring.consumer().tail.store(bogus, Ordering::Relaxed);
            let cur = ring.read_begin();
            assert!(ring.read_next(&cur).is_err(), "tail {bogus}");
            // The producer treats it as full rather than writing anywhere.
            if bogus > 8 {
                let r = ring.produce(RecordKind::Exec, 16, 0, 0, |b| {
                    b.fill(1);
                    Some(b.len())
                });
                assert!(matches!(r, Produced::Dropped(_) | Produced::Written(_)));
            }
        }
        ring.read_skip_all();
        assert!(ring.read_next(&ring.read_begin()).unwrap().is_none());
    }

    #[test]
    fn concurrent_producer_and_consumer() {
        let area = Area::new(RING_DATA_MIN);
        let ring = area.ring();
        const N: u64 = 200_000;
        std::thread::scope(|s| {
            s.spawn(|| {
                for i in 0..N {
                    while ring.produce(RecordKind::Exec, 24, 0, i, |b| {
                        b.copy_from_slice(&[i as u8; 24]);
                        Some(24)
                    }) == Produced::Dropped(DropReason::Full)
                    {
                        std::thread::yield_now();
                    }
                }
            });
            let mut seen = 0u64;
            let mut last_seq = None::<u64>;
            let mut gaps = 0;
            while seen < N {
                let mut cur = ring.read_begin();
                while let Some(rec) = ring.read_next(&cur).unwrap() {
                    let seq = u64::from_ne_bytes(rec.bytes[16..24].try_into().unwrap());
                    let ts = u64::from_ne_bytes(rec.bytes[24..32].try_into().unwrap());
                    assert!(rec.bytes[32..56].iter().all(|&b| b == ts as u8), "torn record");
                    if let Some(l) = last_seq {
                        gaps += seq - l - 1;
                    }
                    last_seq = Some(seq);
                    seen += 1;
                    ring.read_advance(&mut cur, &rec);
                }
                ring.read_commit(&cur);
            }
            // Full drops were retried by the producer but still took numbers.
            assert_eq!(gaps, ring.counters().dropped_full);
        });
    }

    /// Two writers on one ring at once (what a preempted writer that
    /// migrated would be): the claim lets one write and counts the other,
    /// so no record is torn or written twice and every gap is a counted drop.
    #[test]
    fn racing_writers_from_two_cpus_never_tear() {
        let area = Area::new(RING_DATA_MIN);
        let ring = area.ring();
        const PER_WRITER: u64 = 1_000_000;
        let done = std::sync::atomic::AtomicU32::new(0);
        let mut written = Vec::new();
        std::thread::scope(|s| {
            let writers: Vec<_> = (1..=2u8)
                .map(|id| {
                    let (ring, done) = (&ring, &done);
                    s.spawn(move || {
                        let mut mine = Vec::new();
                        for i in 0..PER_WRITER {
                            // Body: the writer's id, then its counter, repeated.
                            let r = ring.produce(RecordKind::Exec, 40, u32::from(id), i, |b| {
                                b[0] = id;
                                for chunk in b[8..].chunks_exact_mut(8) {
                                    chunk.copy_from_slice(&i.to_ne_bytes());
                                }
                                b[1..8].fill(id);
                                Some(40)
                            });
                            if let Produced::Written(seq) = r {
                                mine.push(seq);
                            }
                        }
                        done.fetch_add(1, Ordering::Release);
                        mine
                    })
                })
                .collect();
            let mut seqs = Vec::new();
            loop {
                let finished = done.load(Ordering::Acquire) == 2;
                let mut cur = ring.read_begin();
                while let Some(rec) = ring.read_next(&cur).unwrap() {
                    let b = &rec.bytes[RECORD_HEADER_LEN..];
                    let id = b[0];
                    assert!(id == 1 || id == 2, "torn record: writer id {id}");
                    assert!(b[1..8].iter().all(|&x| x == id), "torn record: {b:?}");
                    let i = &b[8..16];
                    assert!(b[8..].chunks_exact(8).all(|c| c == i), "torn record: {b:?}");
                    seqs.push(u64::from_ne_bytes(rec.bytes[16..24].try_into().unwrap()));
                    ring.read_advance(&mut cur, &rec);
                }
                ring.read_commit(&cur);
                if finished {
                    break;
                }
            }
            for w in writers {
                written.extend(w.join().unwrap());
            }
            assert!(seqs.windows(2).all(|w| w[0] < w[1]), "sequence numbers not increasing");
            written.sort_unstable();
            assert_eq!(written, seqs, "published records and read records differ");
        });
        // A last write folds drops counted after the writers' last folds.
        assert!(matches!(ring.produce(RecordKind::Exec, 8, 0, 0, |_| Some(0)), Produced::Written(_)));
        let last = drain(&ring);
        let c = ring.counters();
        let records = written.len() as u64 + last.len() as u64;
        assert_eq!(c.next_seq - records, c.dropped_full + c.dropped_nested, "gaps are not the counted drops");
        assert!(c.dropped_nested > 0, "the writers never raced: the test proves nothing");
    }
}
