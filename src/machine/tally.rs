//! [`Tally`]: a count that belongs to one generation of the state word, kept lock-free in one
//! atomic without being reset by transitions.
//!
//! The word holds a 16-bit generation tag and a 48-bit count. A write for a newer generation
//! than the tag starts the count over; one for an older generation changes nothing; a read for
//! any other generation than the tag's sees 0. So a transition empties every tally without
//! touching it, and a late writer of an old generation cannot spoil the new one (unless it is
//! exactly 2^15 transitions late).

use crate::sync::{AtomicU64, Ordering};

const TAG_SHIFT: u32 = 48;
const COUNT_MASK: u64 = (1 << TAG_SHIFT) - 1;

fn tag(gen: u32) -> u64 {
    u64::from(gen & 0xFFFF)
}

/// `a` is newer than `b` when it is less than half the tag space ahead.
fn newer(a: u64, b: u64) -> bool {
    a != b && (a.wrapping_sub(b) & 0xFFFF) < 0x8000
}

pub(crate) struct Tally(AtomicU64);

impl Tally {
    pub(crate) fn new() -> Self {
        Tally(AtomicU64::new(0))
    }

    /// Sets generation `gen`'s count to `f(count)` (0 for a generation not seen yet); nothing
    /// if a newer generation holds the tally.
    fn update(&self, gen: u32, f: impl Fn(u64) -> u64) {
        let mine = tag(gen);
        let mut current = self.0.load(Ordering::Acquire);
        loop {
            let held = current >> TAG_SHIFT;
            let count = if held == mine {
                current & COUNT_MASK
            } else if newer(mine, held) {
                0
            } else {
                return;
            };
            let next = (mine << TAG_SHIFT) | (f(count) & COUNT_MASK);
            if next == current {
                return;
            }
            match self
                .0
                .compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }

    /// Adds one to generation `gen`'s count (saturating at 2^48 - 1).
    pub(crate) fn bump(&self, gen: u32) {
        self.update(gen, |n| (n + 1).min(COUNT_MASK));
    }

    /// Sets generation `gen`'s count to 0.
    pub(crate) fn clear(&self, gen: u32) {
        self.update(gen, |_| 0);
    }

    /// Generation `gen`'s count.
    pub(crate) fn get(&self, gen: u32) -> u64 {
        let word = self.0.load(Ordering::Acquire);
        if word >> TAG_SHIFT == tag(gen) {
            word & COUNT_MASK
        } else {
            0
        }
    }
}

#[cfg(all(test, not(protego_loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_newer_generation_starts_over_and_an_older_one_changes_nothing() {
        let t = Tally::new();
        t.bump(3);
        t.bump(3);
        assert_eq!(t.get(3), 2);
        t.bump(4);
        assert_eq!((t.get(3), t.get(4)), (0, 1));
        t.bump(3);
        assert_eq!(t.get(4), 1, "a late writer of generation 3 is dropped");
    }

    #[test]
    fn tags_wrap_with_the_generation() {
        let t = Tally::new();
        t.bump(0xFFFF);
        t.bump(0x1_0000); // tag 0, one generation later
        assert_eq!(t.get(0x1_0000), 1);
        assert_eq!(t.get(0xFFFF), 0);
    }
}
