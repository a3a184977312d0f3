//! A sliding window of request and accept counts in ten atomic slots, one per tenth of the
//! window. Each slot is one word: the bucket it counts (the low 20 bits of its index) above
//! two 22-bit counts, requests and accepts, so a decision reads ten words and a slot of an
//! expired bucket is recognised and restarted by the next add, with no lock and no timer.
//! Counts saturate at 4 194 303 per bucket (42 million requests a second at the default
//! 100 ms bucket); the tag wraps after 2^20 buckets (29 hours at 100 ms), and only a slot left
//! untouched for exactly a multiple of that could be misread as live.

use crate::sync::{AtomicU64, Ordering};

pub(super) const SLOTS: usize = 10;
const COUNT_BITS: u32 = 22;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;
const TAG_SHIFT: u32 = 2 * COUNT_BITS;
const TAG_MASK: u64 = (1 << (64 - TAG_SHIFT)) - 1;
/// Where each count sits in a slot.
pub(super) const REQUESTS: u32 = COUNT_BITS;
pub(super) const ACCEPTS: u32 = 0;

/// Turns a clock reading into a bucket index, dividing only when a new bucket starts (a 64-bit
/// division costs more than the rest of a decision): the last index is cached.
pub(super) struct Buckets {
    width: u64,
    last: AtomicU64,
}

impl Buckets {
    pub(super) fn new(width: u64) -> Self {
        Buckets {
            width: width.max(1),
            last: AtomicU64::new(0),
        }
    }

    pub(super) fn width(&self) -> u64 {
        self.width
    }

    #[inline]
    pub(super) fn index(&self, now: u64) -> u64 {
        let g = self.last.load(Ordering::Relaxed);
        if now.wrapping_sub(g.wrapping_mul(self.width)) < self.width {
            return g;
        }
        let g = now / self.width;
        self.last.store(g, Ordering::Relaxed);
        g
    }
}

/// Requests and accepts per bucket over the last [`SLOTS`] buckets.
pub(super) struct Counts {
    slots: [AtomicU64; SLOTS],
}

impl Counts {
    pub(super) fn new() -> Self {
        Counts {
            slots: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// Requests and accepts over the buckets `g - 9 ..= g`.
    #[inline]
    pub(super) fn sums(&self, g: u64) -> (u64, u64) {
        // One read of every slot, then plain arithmetic. A slot is live if its bucket is one
        // of the last `SLOTS` (slot `i` only ever holds buckets equal to `i` modulo `SLOTS`, so
        // that is the latest one landing on it; a later bucket is not counted).
        let raws: [u64; SLOTS] = std::array::from_fn(|i| self.slots[i].load(Ordering::Relaxed));
        let (mut requests, mut accepts) = (0, 0);
        for raw in raws {
            let live = g.wrapping_sub(raw >> TAG_SHIFT) & TAG_MASK < SLOTS as u64;
            // A mask, not a branch or a multiply.
            let raw = raw & 0u64.wrapping_sub(u64::from(live));
            requests += (raw >> REQUESTS) & COUNT_MASK;
            accepts += (raw >> ACCEPTS) & COUNT_MASK;
        }
        (requests, accepts)
    }

    /// Adds one to the count at `which` (`REQUESTS` or `ACCEPTS`) of bucket `g`.
    #[inline]
    pub(super) fn add(&self, g: u64, which: u32) {
        let slot = &self.slots[slot_of(g)];
        let tag = (g & TAG_MASK) << TAG_SHIFT;
        let mut raw = slot.load(Ordering::Relaxed);
        loop {
            let counts = if raw & !((1 << TAG_SHIFT) - 1) == tag {
                raw & ((1 << TAG_SHIFT) - 1)
            } else {
                0
            };
            let count = (counts >> which) & COUNT_MASK;
            let bumped = if count == COUNT_MASK {
                counts
            } else {
                counts + (1 << which)
            };
            match slot.compare_exchange_weak(
                raw,
                tag | bumped,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
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
