//! The decision cache: a fixed-size, 4-way set-associative table of
//! answers keyed by request fingerprint, with second-chance (CLOCK)
//! replacement inside each set.
//!
//! An LRU list was the first design and the profile of `make bench`
//! showed its cost: every hit unlinks and relinks a heap node, touching
//! the node and both neighbours, three cache misses on a table far larger
//! than the CPU cache. Here a set is one 64-byte cache line: four 16-byte
//! slots, each 96 bits of the request's fingerprint and a 32-bit word with
//! the answer's number and two flags. Answers themselves are few (an
//! outcome and a list of deciding policies) and are kept once, numbered,
//! beside the table. A hit reads one line and sets a bit; a miss that must
//! evict clears "referenced" bits from a rotating hand until it finds a
//! slot not used since the hand last passed. Memory is allocated once: 16
//! bytes per entry.
//!
//! 96 bits of a keyed 128-bit fingerprint: two distinct requests collide
//! with probability 2^-96 per pair, and without the key nobody can aim for
//! a collision.

use std::collections::HashMap;

use super::Answer;

/// Slots per set (one cache line).
const WAYS: usize = 4;
/// Slot word: the answer's number in the low bits.
const ANSWER_MASK: u32 = (1 << 30) - 1;
const VALID: u32 = 1 << 30;
const REFERENCED: u32 = 1 << 31;
/// Distinct answers kept before the cache starts afresh (they are far
/// fewer in practice: outcomes times combinations of deciding policies).
const MAX_ANSWERS: usize = 1 << 16;

#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
struct Slot {
    hi: u64,
    lo: u32,
    word: u32,
}

#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(64))]
struct Set([Slot; WAYS]);

/// A bounded cache of answers.
#[derive(Debug)]
pub struct DecisionCache {
    sets: Vec<Set>,
    hands: Vec<u8>,
    set_mask: usize,
    answers: Vec<Answer>,
    numbers: HashMap<Answer, u32>,
}

impl DecisionCache {
    /// A cache of at least `entries` answers (rounded up to a power of two
    /// and to at least one set).
    pub fn new(entries: usize) -> Self {
        let sets = entries.div_ceil(WAYS).max(1).next_power_of_two();
        Self {
            sets: vec![Set::default(); sets],
            hands: vec![0; sets],
            set_mask: sets - 1,
            answers: Vec::new(),
            numbers: HashMap::new(),
        }
    }

    /// How many answers it can hold.
    pub fn capacity(&self) -> usize {
        self.sets.len() * WAYS
    }

    /// (set, high tag, low tag) of a fingerprint: the set from the low
    /// bits, the tag from the 96 bits above them.
    fn place(&self, fingerprint: u128) -> (usize, u64, u32) {
        // CAST: the low bits of a uniformly random fingerprint pick the
        // set; the tag is taken from the other end.
        ((fingerprint as usize) & self.set_mask, (fingerprint >> 64) as u64, (fingerprint >> 32) as u32)
    }

    /// The cached answer, marking it recently used (the tests' view; the
    /// judge uses [`DecisionCache::lookup`], which holds no borrow).
    #[cfg(test)]
    fn get(&mut self, fingerprint: u128) -> Option<&Answer> {
        let n = self.lookup(fingerprint)?;
        self.answers.get(n)
    }

    /// The number of the cached answer (see [`DecisionCache::answer`]),
    /// marking it recently used; holds no borrow.
    pub fn lookup(&mut self, fingerprint: u128) -> Option<usize> {
        let (set, hi, lo) = self.place(fingerprint);
        let slot = self.sets[set].0.iter_mut().find(|s| s.word & VALID != 0 && s.hi == hi && s.lo == lo)?;
        slot.word |= REFERENCED;
        // CAST: u32 to usize widens.
        Some((slot.word & ANSWER_MASK) as usize)
    }

    /// An answer by number, as [`DecisionCache::lookup`] and
    /// [`DecisionCache::put`] give them (valid until the next `put`).
    pub fn answer(&self, number: usize) -> Option<&Answer> {
        self.answers.get(number)
    }

    /// Stores an answer, evicting one not recently used from its set;
    /// returns its number.
    pub fn put(&mut self, fingerprint: u128, answer: Answer) -> usize {
        let number = match self.numbers.get(&answer) {
            Some(&n) => n,
            None => {
                if self.answers.len() >= MAX_ANSWERS {
                    self.clear();
                }
                // CAST: fewer than MAX_ANSWERS < 2^30 answers.
                let n = self.answers.len() as u32;
                self.answers.push(answer.clone());
                self.numbers.insert(answer, n);
                n
            }
        };
        let (set, hi, lo) = self.place(fingerprint);
        let ways = &mut self.sets[set].0;
        let way = match ways.iter().position(|s| s.word & VALID == 0 || (s.hi == hi && s.lo == lo)) {
            Some(free) => free,
            None => {
                let mut hand = usize::from(self.hands[set]) % WAYS;
                while ways[hand].word & REFERENCED != 0 {
                    ways[hand].word &= !REFERENCED;
                    hand = (hand + 1) % WAYS;
                }
                // CAST: hand < WAYS.
                self.hands[set] = ((hand + 1) % WAYS) as u8;
                hand
            }
        };
        ways[way] = Slot { hi, lo, word: VALID | number };
        // CAST: u32 to usize widens.
        number as usize
    }

    /// Forgets every answer.
    fn clear(&mut self) {
        self.sets.fill(Set::default());
        self.answers.clear();
        self.numbers.clear();
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
    fn a_set_is_one_cache_line() {
        assert_eq!(size_of::<Set>(), 64);
        assert_eq!(align_of::<Set>(), 64);
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
        assert_eq!(c.sets[0].0.iter().filter(|s| s.word & VALID != 0).count(), 4);
        // Answers are kept once each.
        assert_eq!(c.answers.len(), 3);
    }

    #[test]
    fn sets_are_chosen_by_the_low_bits_and_tags_by_the_rest() {
        let mut c = DecisionCache::new(64);
        for fp in 0..64u128 {
            c.put(fp | (fp << 100), answer(Outcome::Allow));
        }
        // 16 sets of 4: 64 distinct low bits fill every slot without loss.
        assert!((0..64u128).all(|fp| c.get(fp | (fp << 100)).is_some()));
        // Same set, different tag: a miss.
        assert!(c.get(1).is_none());
        assert!(c.get(1 | (2 << 100)).is_none());
    }

    #[test]
    fn too_many_distinct_answers_start_afresh() {
        let mut c = DecisionCache::new(8);
        for i in 0..=MAX_ANSWERS as u32 {
            c.put(
                u128::from(i) << 64,
                Answer { outcome: Outcome::Allow, policies: std::sync::Arc::from([]), errors: i },
            );
        }
        assert_eq!(c.answers.len(), 1, "the table was cleared before the last answer");
        assert_eq!(c.get(u128::from(MAX_ANSWERS as u32) << 64).map(|a| a.errors), Some(MAX_ANSWERS as u32));
    }
}
