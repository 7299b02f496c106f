//! The decision cache: a fixed-size, 4-way set-associative table of
//! answers keyed by request fingerprint, with second-chance (CLOCK)
//! replacement inside each set.
//!
//! An LRU list was the first design and the profile of `make bench`
//! showed its cost: every hit unlinks and relinks a heap node, touching
//! the node and both neighbours, three cache misses on a table far larger
//! than the CPU cache. Here a hit reads one set (four slots side by side)
//! and sets a bit; a miss that must evict clears "referenced" bits from a
//! rotating hand until it finds a slot not used since the hand last
//! passed. The memory is allocated once, at the configured size.

use super::Answer;

/// Slots per set.
const WAYS: usize = 4;

#[derive(Clone, Debug, Default)]
struct Slot {
    fingerprint: u128,
    answer: Option<Answer>,
    referenced: bool,
}

/// A bounded cache of answers.
#[derive(Debug)]
pub struct DecisionCache {
    slots: Vec<Slot>,
    hands: Vec<u8>,
    ways: usize,
    set_mask: usize,
}

impl DecisionCache {
    /// A cache of at least `entries` answers (rounded up to a power of
    /// two; at least one).
    pub fn new(entries: usize) -> Self {
        let entries = entries.max(1).next_power_of_two();
        let ways = WAYS.min(entries);
        let sets = entries / ways;
        Self { slots: vec![Slot::default(); entries], hands: vec![0; sets], ways, set_mask: sets - 1 }
    }

    /// How many answers it can hold.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    fn set(&self, fingerprint: u128) -> usize {
        // CAST: the low bits of a uniformly random fingerprint pick the set.
        (fingerprint as usize) & self.set_mask
    }

    /// The cached answer, marking it recently used.
    pub fn get(&mut self, fingerprint: u128) -> Option<&Answer> {
        let base = self.set(fingerprint) * self.ways;
        let slot = self.slots[base..base + self.ways]
            .iter_mut()
            .find(|s| s.answer.is_some() && s.fingerprint == fingerprint)?;
        slot.referenced = true;
        slot.answer.as_ref()
    }

    /// Stores an answer, evicting one not recently used from its set.
    pub fn put(&mut self, fingerprint: u128, answer: Answer) {
        let set = self.set(fingerprint);
        let base = set * self.ways;
        let ways = &mut self.slots[base..base + self.ways];
        let way = match ways.iter().position(|s| s.answer.is_none() || s.fingerprint == fingerprint) {
            Some(free) => free,
            None => {
                let mut hand = usize::from(self.hands[set]) % self.ways;
                while ways[hand].referenced {
                    ways[hand].referenced = false;
                    hand = (hand + 1) % self.ways;
                }
                // CAST: hand < WAYS.
                self.hands[set] = ((hand + 1) % self.ways) as u8;
                hand
            }
        };
        ways[way] = Slot { fingerprint, answer: Some(answer), referenced: false };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Outcome;

    fn answer(outcome: Outcome) -> Answer {
        Answer { outcome, policies: std::sync::Arc::from([]), errors: 0 }
    }

    #[test]
    fn holds_what_fits_and_evicts_the_unused() {
        let mut c = DecisionCache::new(3);
        assert_eq!(c.capacity(), 4);
        // One set of four ways.
        for fp in 0..4u128 {
            c.put(fp << 64, answer(Outcome::Allow));
        }
        for fp in 0..4u128 {
            assert!(c.get(fp << 64).is_some(), "{fp}");
        }
        // All four were used: the hand clears them and takes the first.
        c.put(4 << 64, answer(Outcome::Deny));
        assert!(c.get(0).is_none());
        // 1 has lost its bit; using it again saves it from the next eviction.
        assert!(c.get(1 << 64).is_some());
        c.put(5 << 64, answer(Outcome::Deny));
        assert!(c.get(1 << 64).is_some(), "recently used survives");
        assert!(c.get(2 << 64).is_none(), "the unused one went");
        assert_eq!(c.get(4 << 64).map(|a| a.outcome), Some(Outcome::Deny));
        // Putting a cached fingerprint again replaces it in place.
        c.put(4 << 64, answer(Outcome::Review));
        assert_eq!(c.get(4 << 64).map(|a| a.outcome), Some(Outcome::Review));
        assert_eq!(c.slots.iter().filter(|s| s.answer.is_some()).count(), 4);
    }

    #[test]
    fn sets_are_chosen_by_the_low_bits() {
        let mut c = DecisionCache::new(64);
        for fp in 0..64u128 {
            c.put(fp, answer(Outcome::Allow));
        }
        // 16 sets of 4: 64 distinct low bits fill every slot without loss.
        assert!((0..64u128).all(|fp| c.get(fp).is_some()));
        assert!(c.get(64).is_none());
    }
}
