//! Per-CPU, per-hook counters: hits, filtered, dropped, written, cost.
//!
//! Each CPU has its own row, so the counters are only contended by handlers
//! nesting on that CPU; relaxed atomic adds keep those exact. Readers sum the
//! rows (`WITNESS_IOC_STATS`).
//!
//! The cost is sampled: one handled event in [`COST_SAMPLE`] is timed (two
//! clock reads, which `make bench` counted at about a twentieth of a
//! recorded open's cost), and the total is estimated from the samples.

use core::sync::atomic::{AtomicU64, Ordering};
use kernel::prelude::*;

use crate::ioctl::{Hook, HookStats};

/// Number of hook slots (`Hook` ids are dense from 0).
pub(crate) const NR_HOOKS: usize = 24;
const _: () = assert!(Hook::ALL.len() == NR_HOOKS);

/// One handled event in this many is timed.
pub(crate) const COST_SAMPLE: u64 = 64;

/// One hook's counters on one CPU.
pub(crate) struct HookCounters {
    pub(crate) hits: AtomicU64,
    pub(crate) filtered: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) written: AtomicU64,
    /// Events handled past the kind check (each a `Hit`).
    pub(crate) handled: AtomicU64,
    /// Time spent in the timed ones, and how many were timed.
    pub(crate) cost_ns: AtomicU64,
    pub(crate) timed: AtomicU64,
}

impl HookCounters {
    const fn new() -> Self {
        Self {
            hits: AtomicU64::new(0),
            filtered: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            written: AtomicU64::new(0),
            handled: AtomicU64::new(0),
            cost_ns: AtomicU64::new(0),
            timed: AtomicU64::new(0),
        }
    }

    /// Counts a handled event; true when it is one to time.
    #[inline]
    pub(crate) fn handle(&self) -> bool {
        self.handled.fetch_add(1, Ordering::Relaxed) % COST_SAMPLE == 0
    }

    fn reset(&self) {
        for c in [&self.hits, &self.filtered, &self.dropped, &self.written, &self.handled, &self.cost_ns, &self.timed] {
            c.store(0, Ordering::Relaxed);
        }
    }
}

/// Adds one to a counter.
#[inline]
pub(crate) fn inc(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The counters of every hook on every CPU.
pub(crate) struct Stats {
    rows: KVec<[HookCounters; NR_HOOKS]>,
}

impl Stats {
    pub(crate) fn new(nr_cpus: usize) -> Result<Self> {
        let mut rows = KVec::with_capacity(nr_cpus, GFP_KERNEL)?;
        for _ in 0..nr_cpus {
            rows.push([const { HookCounters::new() }; NR_HOOKS], GFP_KERNEL)?;
        }
        Ok(Self { rows })
    }

    /// The counters of `hook` on `cpu` (None for a CPU id out of range).
    #[inline]
    pub(crate) fn get(&self, cpu: u32, hook: Hook) -> Option<&HookCounters> {
        // CAST: CPU ids and hook ids are small.
        self.rows.get(cpu as usize).map(|row| &row[hook as usize])
    }

    /// `hook`'s counters summed over CPUs.
    pub(crate) fn sum(&self, hook: Hook, attached: bool, missed: u64) -> HookStats {
        let mut out = HookStats { hook: hook as u32, attached: u32::from(attached), ..Default::default() };
        let (mut handled, mut timed, mut cost) = (0u64, 0u64, 0u64);
        for row in self.rows.iter() {
            let c = &row[hook as usize];
            out.hits += c.hits.load(Ordering::Relaxed);
            out.filtered += c.filtered.load(Ordering::Relaxed);
            out.dropped += c.dropped.load(Ordering::Relaxed);
            out.written += c.written.load(Ordering::Relaxed);
            handled += c.handled.load(Ordering::Relaxed);
            timed += c.timed.load(Ordering::Relaxed);
            cost += c.cost_ns.load(Ordering::Relaxed);
        }
        // The timed events' mean over every handled event.
        // (In u64: the kernel has no 128-bit division.)
        if timed > 0 {
            out.cost_ns =
                (cost / timed).saturating_mul(handled).saturating_add((cost % timed).saturating_mul(handled) / timed);
        }
        // Hits the kprobe machinery missed never reached a handler: they are
        // losses of this hook too (not sequence gaps: no number was taken).
        out.dropped += missed;
        out
    }

    pub(crate) fn reset(&self) {
        for row in self.rows.iter() {
            row.iter().for_each(HookCounters::reset);
        }
    }
}
