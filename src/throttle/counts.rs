//! A sliding window of request and accept counts in ten atomic slots, one per tenth of the
//! window. Each slot is one word: the bucket it counts (the low 20 bits of its index) above
//! two 22-bit counts, requests and accepts, so a decision reads ten words and a slot of an
//! expired bucket is recognised and restarted by the next add, with no lock and no timer.
//! Counts saturate at 4 194 303 per bucket (42 million requests a second at the default
//! 100 ms bucket); the tag wraps after 2^20 buckets (29 hours at 100 ms), and only a slot left
//! untouched for exactly a multiple of that could be misread as live. The nine buckets before
//! the current one are summed once per bucket and cached in one word (`older`: 16 bits of the
//! bucket they precede, then 24-bit sums), so a decision reads two words, not ten, and counts
//! itself in the current slot with one compare-and-swap, which also reads that slot.

use crate::sync::{AtomicU64, Ordering};

pub(super) const SLOTS: usize = 10;
const COUNT_BITS: u32 = 22;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;
const TAG_SHIFT: u32 = 2 * COUNT_BITS;
const TAG_MASK: u64 = (1 << (64 - TAG_SHIFT)) - 1;
/// Where each count sits in a slot.
pub(super) const REQUESTS: u32 = COUNT_BITS;
pub(super) const ACCEPTS: u32 = 0;

/// Requests and accepts per bucket over the last [`SLOTS`] buckets.
pub(super) struct Counts {
    slots: [AtomicU64; SLOTS],
    /// The width of a bucket (ns).
    width: u64,
    /// The bucket index last worked out, so that a decision divides only when a new bucket
    /// starts (a 64-bit division costs more than the rest of a decision).
    last: AtomicU64,
    /// The sums of the nine buckets before `last`, tagged (see the module docs).
    older: AtomicU64,
}

const OLDER_BITS: u32 = 24;
const OLDER_MASK: u64 = (1 << OLDER_BITS) - 1;
const OLDER_TAG_MASK: u64 = (1 << (64 - 2 * OLDER_BITS)) - 1;

impl Counts {
    pub(super) fn new(width: u64) -> Self {
        Counts {
            slots: std::array::from_fn(|_| AtomicU64::new(0)),
            width: width.max(1),
            last: AtomicU64::new(0),
            older: AtomicU64::new(0),
        }
    }

    pub(super) fn width(&self) -> u64 {
        self.width
    }

    /// The bucket of `now` (ns), and the requests and accepts of the nine before it.
    #[inline]
    pub(super) fn bucket(&self, now: u64) -> (u64, u64, u64) {
        let g = self.last.load(Ordering::Acquire);
        if now.wrapping_sub(g.wrapping_mul(self.width)) < self.width {
            let older = self.older.load(Ordering::Acquire);
            if older >> (2 * OLDER_BITS) == g & OLDER_TAG_MASK {
                return (g, (older >> OLDER_BITS) & OLDER_MASK, older & OLDER_MASK);
            }
        }
        self.new_bucket(now / self.width)
    }

    /// Sums the nine buckets before `g` and caches them: once per bucket.
    #[inline(never)]
    fn new_bucket(&self, g: u64) -> (u64, u64, u64) {
        let (mut requests, mut accepts) = (0u64, 0u64);
        for slot in &self.slots {
            let raw = slot.load(Ordering::Relaxed);
            if (1..SLOTS as u64).contains(&(g.wrapping_sub(raw >> TAG_SHIFT) & TAG_MASK)) {
                requests += (raw >> REQUESTS) & COUNT_MASK;
                accepts += (raw >> ACCEPTS) & COUNT_MASK;
            }
        }
        let (requests, accepts) = (requests.min(OLDER_MASK), accepts.min(OLDER_MASK));
        let older = ((g & OLDER_TAG_MASK) << (2 * OLDER_BITS)) | (requests << OLDER_BITS) | accepts;
        self.older.store(older, Ordering::Release);
        self.last.store(g, Ordering::Release);
        (g, requests, accepts)
    }

    /// Requests and accepts of bucket `g` alone.
    #[inline]
    pub(super) fn current(&self, g: u64) -> (u64, u64) {
        let raw = self.slots[slot_of(g)].load(Ordering::Relaxed);
        if g.wrapping_sub(raw >> TAG_SHIFT) & TAG_MASK == 0 {
            (
                (raw >> REQUESTS) & COUNT_MASK,
                (raw >> ACCEPTS) & COUNT_MASK,
            )
        } else {
            (0, 0)
        }
    }

    /// Adds one to the count at `which` (`REQUESTS` or `ACCEPTS`) of bucket `g`, and returns
    /// the requests and accepts of bucket `g` just before: the slot is read once, by the
    /// compare-and-swap that counts.
    #[inline]
    pub(super) fn add(&self, g: u64, which: u32) -> (u64, u64) {
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
                Ok(_) => return ((counts >> REQUESTS) & COUNT_MASK, counts & COUNT_MASK),
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
