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
//! slot not used since the hand last passed. 16 bytes per entry.
//!
//! The table starts small and doubles, up to the configured size, once it
//! has evicted answers for an eighth of its sets (at a quarter full, sets
//! overflow that often only by chance): a node whose workloads ask
//! few distinct questions keeps a table that stays in the CPU's cache (a
//! hit on a 4 MiB table was a cache miss, 8 % of the warm pipeline), and
//! one that asks many gets the room. The set is taken from the stored
//! tag's low bits, so doubling moves each entry to one of two sets without
//! evaluating anything again.
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
/// Sets a new table starts with (4,096 entries, 64 KiB).
const INITIAL_SETS: usize = 1 << 10;

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
    /// The most sets the table grows to.
    max_sets: usize,
    /// Evictions since the table last grew (counted only while it can).
    evictions: usize,
    answers: Vec<Answer>,
    numbers: HashMap<Answer, u32>,
}

impl DecisionCache {
    /// A cache of at least `entries` answers (rounded up to a power of two
    /// and to at least one set), allocated as it fills.
    pub fn new(entries: usize) -> Self {
        let max_sets = entries.div_ceil(WAYS).max(1).next_power_of_two();
        let sets = max_sets.min(INITIAL_SETS);
        Self {
            sets: vec![Set::default(); sets],
            hands: vec![0; sets],
            set_mask: sets - 1,
            max_sets,
            evictions: 0,
            answers: Vec::new(),
            numbers: HashMap::new(),
        }
    }

    /// How many answers it can hold once grown.
    pub fn capacity(&self) -> usize {
        self.max_sets * WAYS
    }

    /// How many answers it holds room for now.
    pub fn allocated(&self) -> usize {
        self.sets.len() * WAYS
    }

    /// (set, high tag, low tag) of a fingerprint: the tag is its 96 high
    /// bits, the set the low bits of the tag (bits 32 and up of a
    /// uniformly random fingerprint).
    fn place(&self, fingerprint: u128) -> (usize, u64, u32) {
        // CAST: truncations pick bit ranges of the fingerprint.
        let lo = (fingerprint >> 32) as u32;
        (lo as usize & self.set_mask, (fingerprint >> 64) as u64, lo)
    }

    /// Doubles the table: the entries of set s go to s or s + old size,
    /// by the next bit of their tag, so each new set gets at most the
    /// ways of one old set.
    fn grow(&mut self) {
        let sets = self.sets.len() * 2;
        let mask = sets - 1;
        let mut grown = vec![Set::default(); sets];
        for set in &self.sets {
            for slot in set.0.iter().filter(|s| s.word & VALID != 0) {
                // CAST: u32 to usize widens.
                let to = &mut grown[slot.lo as usize & mask].0;
                if let Some(free) = to.iter_mut().find(|s| s.word & VALID == 0) {
                    *free = *slot;
                }
            }
        }
        self.sets = grown;
        self.hands = vec![0; sets];
        self.set_mask = mask;
        self.evictions = 0;
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
        let (mut set, hi, lo) = self.place(fingerprint);
        let usable = |s: &Slot| s.word & VALID == 0 || (s.hi == hi && s.lo == lo);
        if !self.sets[set].0.iter().any(usable) && self.sets.len() < self.max_sets {
            self.evictions += 1;
            if self.evictions > self.sets.len() / 8 {
                self.grow();
                set = self.place(fingerprint).0;
            }
        }
        let ways = &mut self.sets[set].0;
        let way = match ways.iter().position(usable) {
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

    /// A fingerprint whose tag's low bits are `set`.
    fn in_set(set: u128, tag: u128) -> u128 {
        (set << 32) | (tag << 100)
    }

    #[test]
    fn sets_are_chosen_by_the_tags_low_bits() {
        let mut c = DecisionCache::new(64);
        for fp in 0..64u128 {
            c.put(in_set(fp, fp), answer(Outcome::Allow));
        }
        // 16 sets of 4: 64 distinct low bits fill every slot without loss.
        assert!((0..64u128).all(|fp| c.get(in_set(fp, fp)).is_some()));
        // Same set, different tag: a miss.
        assert!(c.get(in_set(1, 0)).is_none());
        assert!(c.get(in_set(1, 2)).is_none());
        // The 32 bits below the tag are not part of it.
        assert!(c.get(in_set(1, 1) | 0xdead_beef).is_some());
    }

    /// splitmix64: fingerprints as uniform as the keyed hash's.
    fn fingerprint(i: u64) -> u128 {
        let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (u128::from(z) << 64) | (u128::from(z.rotate_left(29)) << 32)
    }

    #[test]
    fn the_table_grows_to_its_size_and_keeps_its_entries() {
        let mut c = DecisionCache::new(1 << 14);
        assert_eq!((c.allocated(), c.capacity()), (INITIAL_SETS * WAYS, 1 << 14));
        // Few distinct questions: the table stays small.
        for round in 0..3 {
            for i in 0..1000 {
                c.put(fingerprint(i), answer(Outcome::Allow));
                assert!(c.get(fingerprint(i)).is_some(), "round {round}: {i}");
            }
        }
        assert_eq!(c.allocated(), INITIAL_SETS * WAYS);
        // Many: it doubles up to its size, and what it held before a
        // doubling is still there after it.
        for i in 0..12_000 {
            c.put(fingerprint(i), answer(Outcome::Allow));
        }
        assert_eq!(c.allocated(), 1 << 14);
        let kept = (0..12_000).filter(|&i| c.get(fingerprint(i)).is_some()).count();
        // Lost: an eighth of the sets' worth at each smaller size, and the
        // overflow of 4-way sets at 73 % full (about 1,200).
        assert!(kept > 10_000, "{kept} of 12,000 kept in 16,384 entries");
        let mut small = DecisionCache::new(1 << 20);
        for i in 0..2000 {
            small.put(fingerprint(i), answer(Outcome::Deny));
        }
        let before: Vec<bool> = (0..2000).map(|i| small.get(fingerprint(i)).is_some()).collect();
        small.grow();
        assert_eq!(small.allocated(), 2 * INITIAL_SETS * WAYS);
        assert_eq!((0..2000).map(|i| small.get(fingerprint(i)).is_some()).collect::<Vec<_>>(), before);
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
