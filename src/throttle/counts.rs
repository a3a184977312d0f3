//! A sliding window of counts in ten atomic slots: each slot holds the bucket it counts (24 bits
//! of its index) above a 40-bit count, so a slot of an expired bucket is recognised and
//! restarted by the next add, with no lock and no timer.

use crate::sync::{AtomicU64, Ordering};

pub(super) const SLOTS: usize = 10;
const COUNT_BITS: u32 = 40;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;
const TAG_MASK: u64 = (1 << (64 - COUNT_BITS)) - 1;

/// Counts per bucket over the last [`SLOTS`] buckets.
pub(super) struct Counts {
    slots: [AtomicU64; SLOTS],
}

impl Counts {
    pub(super) fn new() -> Self {
        Counts {
            slots: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// The sum over the buckets `g - 9 ..= g`.
    #[inline]
    pub(super) fn sum(&self, g: u64) -> u64 {
        let here = slot_of(g);
        let mut sum = 0;
        for (i, slot) in self.slots.iter().enumerate() {
            let raw = slot.load(Ordering::Relaxed);
            let back = (here + SLOTS - i) % SLOTS;
            if raw >> COUNT_BITS == g.wrapping_sub(back as u64) & TAG_MASK {
                sum += raw & COUNT_MASK;
            }
        }
        sum
    }

    /// Adds one to bucket `g`.
    #[inline]
    pub(super) fn add(&self, g: u64) {
        let slot = &self.slots[slot_of(g)];
        let tag = (g & TAG_MASK) << COUNT_BITS;
        let mut raw = slot.load(Ordering::Relaxed);
        loop {
            let count = if raw & !COUNT_MASK == tag {
                (raw & COUNT_MASK).saturating_add(1).min(COUNT_MASK)
            } else {
                1
            };
            match slot.compare_exchange_weak(raw, tag | count, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(actual) => raw = actual,
            }
        }
    }
}

#[inline]
fn slot_of(g: u64) -> usize {
    // Below `SLOTS`: no truncation.
    #[allow(clippy::cast_possible_truncation)]
    let slot = (g % SLOTS as u64) as usize;
    slot
}
