//! `Recent`: the time window's current slice, worked out once per slice rather than on every
//! call, and published under a seqlock.
//!
//! It holds the slice's first nanosecond, its number and generation tag, and the sums of the
//! window's *other* buckets, which only late outcomes (recorded with a clock reading from
//! before the slice began) still change. A call whose `now` falls in that slice, in that
//! generation, adds its outcome to its bucket and reads the window's sums as `past` plus that
//! bucket: no division, no walk over the buckets.
//!
//! The seqlock: `seq` is even at rest. A writer takes it from even to odd by compare-and-swap
//! (one that finds it odd, or loses the race, skips its refresh: a later call redoes it), then
//! a Release fence, the fields, and `seq + 2` with Release. A reader loads `seq` with Acquire,
//! then the fields, then an Acquire fence and `seq` again, and uses what it read only if `seq`
//! was even and did not move; otherwise the caller walks the buckets. The fields are atomics,
//! so a torn read is discarded, never undefined.
//!
//! Keeps: a reader never acts on fields of two different refreshes. Misses: a late outcome
//! that lands in a past bucket after `past` was taken is missing from these sums until the
//! next slice refreshes them (the exact walk, used by metrics, sees it).

use super::bucket::GEN_MASK;
use super::Sums;
use crate::sync::{fence, AtomicU64, Ordering};

/// The current slice of a time window and the sums of its other buckets (see the module docs).
pub(super) struct Recent {
    seq: AtomicU64,
    /// First nanosecond of the slice; `u64::MAX` before the first refresh.
    start: AtomicU64,
    /// `slice << 14 | gen`.
    slice_gen: AtomicU64,
    past: [AtomicU64; 3],
}

impl Recent {
    pub(super) fn new() -> Self {
        Recent {
            seq: AtomicU64::new(0),
            start: AtomicU64::new(u64::MAX),
            slice_gen: AtomicU64::new(0),
            past: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
        }
    }

    /// The slice and the past sums, if `now` falls in the slice held for generation `gen`.
    #[inline]
    pub(super) fn read(&self, now: u64, width: u64, gen: u64) -> Option<(u64, Sums)> {
        let before = self.seq.load(Ordering::Acquire);
        let start = self.start.load(Ordering::Relaxed);
        let slice_gen = self.slice_gen.load(Ordering::Relaxed);
        let past = Sums {
            calls: self.past[0].load(Ordering::Relaxed),
            failures: self.past[1].load(Ordering::Relaxed),
            slow: self.past[2].load(Ordering::Relaxed),
        };
        fence(Ordering::Acquire);
        let consistent = before & 1 == 0 && self.seq.load(Ordering::Relaxed) == before;
        let held = now >= start && now - start < width && slice_gen & GEN_MASK == gen;
        (consistent && held).then_some((slice_gen >> 14, past))
    }

    /// Publishes a refresh, unless another thread is publishing one.
    #[inline]
    pub(super) fn write(&self, start: u64, slice: u64, gen: u64, past: Sums) {
        let seq = self.seq.load(Ordering::Relaxed);
        if seq & 1 != 0
            || self
                .seq
                .compare_exchange(seq, seq + 1, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        fence(Ordering::Release);
        self.start.store(start, Ordering::Relaxed);
        self.slice_gen.store(slice << 14 | gen, Ordering::Relaxed);
        self.past[0].store(past.calls, Ordering::Relaxed);
        self.past[1].store(past.failures, Ordering::Relaxed);
        self.past[2].store(past.slow, Ordering::Relaxed);
        self.seq.store(seq + 2, Ordering::Release);
    }
}
