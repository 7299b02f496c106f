//! Per-CPU sequence tracking.
//!
//! Every record a CPU attempts takes the next sequence number, including the
//! ones the module had to drop, so the gaps in a CPU's sequence are exactly
//! the records lost there. This is how the collector proves completeness, or
//! says precisely what is missing.

use std::collections::HashMap;

/// CPUs tracked in a vector.
const DENSE_CPUS: usize = 4096;

/// Tracks the last sequence number seen per CPU, and its record's time.
#[derive(Debug, Default)]
pub struct SequenceTracker {
    /// Last sequence number and timestamp by CPU: dense for CPU numbers
    /// below [`DENSE_CPUS`] (every event looks one up), a map above (CPU
    /// numbers in a capture file are data, not a bound).
    dense: Vec<Option<(u64, u64)>>,
    last: HashMap<u32, (u64, u64)>,
    lost: u64,
}

/// What one record says about loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Observation {
    /// The record follows the previous one on its CPU, or is the first seen.
    InOrder,
    /// `missing` records were lost on this CPU just before this one.
    Gap {
        /// How many.
        missing: u64,
        /// The boot-time timestamp of the record before them: they were
        /// produced between it and this record's.
        previous_ts_ns: u64,
    },
    /// The sequence went backwards (the module was reloaded, or records were
    /// replayed): tracking restarts for this CPU.
    Restart,
}

impl SequenceTracker {
    /// Records `seq` from `cpu`, timestamped `ts_ns`.
    pub fn observe(&mut self, cpu: u32, seq: u64, ts_ns: u64) -> Observation {
        let previous = match usize::try_from(cpu) {
            Ok(i) if i < DENSE_CPUS => {
                if i >= self.dense.len() {
                    self.dense.resize(i + 1, None);
                }
                self.dense[i].replace((seq, ts_ns))
            }
            _ => self.last.insert(cpu, (seq, ts_ns)),
        };
        match previous {
            None => Observation::InOrder,
            Some((p, _)) if seq == p.wrapping_add(1) => Observation::InOrder,
            Some((p, previous_ts_ns)) if seq > p => {
                let missing = seq - p - 1;
                self.lost += missing;
                Observation::Gap { missing, previous_ts_ns }
            }
            Some(_) => Observation::Restart,
        }
    }

    /// Records lost, summed over CPUs, since tracking began.
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// Forgets every CPU's position (after the module was reloaded).
    pub fn reset(&mut self) {
        self.dense.clear();
        self.last.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_are_counted_per_cpu() {
        let mut t = SequenceTracker::default();
        assert_eq!(t.observe(0, 10, 100), Observation::InOrder);
        assert_eq!(t.observe(1, 0, 101), Observation::InOrder);
        assert_eq!(t.observe(0, 11, 102), Observation::InOrder);
        assert_eq!(t.observe(0, 15, 103), Observation::Gap { missing: 3, previous_ts_ns: 102 });
        assert_eq!(t.observe(1, 2, 104), Observation::Gap { missing: 1, previous_ts_ns: 101 });
        assert_eq!(t.lost(), 4);
        assert_eq!(t.observe(1, 0, 105), Observation::Restart);
        t.reset();
        assert_eq!(t.observe(0, 0, 106), Observation::InOrder);
        assert_eq!(t.lost(), 4);
        // CPU numbers from a capture are data: large ones use the map.
        assert_eq!(t.observe(u32::MAX, 7, 107), Observation::InOrder);
        assert_eq!(t.observe(u32::MAX, 9, 108), Observation::Gap { missing: 1, previous_ts_ns: 107 });
        assert_eq!(t.lost(), 5);
    }
}
