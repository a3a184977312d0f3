//! One bucket of the time window: the counts of one slice of time of one generation, and the
//! protocol by which a later slice (or a newer generation) takes the bucket over.
//!
//! A bucket is three words:
//! - `key`, `slice << 24 | gen << 10 | version`: which slice (40 bits) of which generation
//!   (its low 14 bits) the bucket holds, and the version of that holding (10 bits);
//! - `counts`, `version << 54 | calls << 36 | failures << 18 | slow`, 18 bits each (a full
//!   slice stops counting: it keeps the rate of its first 262,143 calls);
//! - `slow_failed`, `version << 54 | n`: the outcomes both slow and failed.
//!
//! Keeps: **an outcome lands in its own slice or nowhere.** A recorder loads `key`, then
//! `counts`. If their versions differ, the bucket is being taken over, and it spins until the
//! new key is out. If the key is of its own slice and generation, it adds its outcome to
//! `counts` by compare-and-swap. If the key is of an earlier slice, or of its slice and an
//! older generation (`newer`), it takes the bucket over: one compare-and-swap sets `counts` to
//! the next version and its outcome alone, and only then is the new key published. Because the
//! version is bumped in `counts` before the new key is published, a recorder that read the old
//! key either sees the versions disagree or fails its compare-and-swap (`counts` changed under
//! it): an outcome of the old slice is never added to the new one. A key of a later slice, or
//! of its slice and a newer generation, means the outcome's slice is over: it is dropped.
//!
//! `slow_failed` is tagged with the version it was counted under: a new version starts it over
//! from zero, and a count under an old version is never read. Readers take a bucket only while
//! its key and its words carry one version, so they see a slice's counts whole or not at all.
//!
//! Relies on: a bucket not being taken over 1,024 times (the version's 10 bits wrap) while a
//! recorder is between its load of `counts` and its compare-and-swap; slices of at least 1 ms
//! (as `Config` requires), so that 40-bit slice numbers wrap only after 34 years.

use super::{newer, Mark, Sums};
use crate::sync::{spin_loop, AtomicU64, Ordering};

/// Bucket counts: `version << 54 | calls << 36 | failures << 18 | slow`, 18 bits each.
const COUNT_BITS: u32 = 18;
pub(super) const COUNT_MAX: u64 = (1 << COUNT_BITS) - 1;
const VERSION_SHIFT: u32 = 3 * COUNT_BITS;
const VERSION_MASK: u64 = 0x3FF;
/// Bucket keys: `slice << 24 | gen << 10 | version`.
const SLICE_BITS: u32 = 40;
pub(super) const SLICE_MASK: u64 = (1 << SLICE_BITS) - 1;
pub(super) const GEN_MASK: u64 = 0x3FFF;

pub(super) struct Bucket {
    key: AtomicU64,
    counts: AtomicU64,
    /// `version << 54 | n`: outcomes both failed and slow, of the slice whose counts carry
    /// the same version (written only by such outcomes).
    slow_failed: AtomicU64,
}

#[inline]
fn split_key(key: u64) -> (u64, u64, u64) {
    (key >> 24, (key >> 10) & GEN_MASK, key & VERSION_MASK)
}

/// The sums a bucket's counts hold.
#[inline]
fn unpack(counts: u64) -> Sums {
    Sums {
        calls: (counts >> (2 * COUNT_BITS)) & COUNT_MAX,
        failures: (counts >> COUNT_BITS) & COUNT_MAX,
        slow: counts & COUNT_MAX,
    }
}

impl Bucket {
    pub(super) fn new() -> Bucket {
        Bucket {
            key: AtomicU64::new(0),
            counts: AtomicU64::new(0),
            slow_failed: AtomicU64::new(0),
        }
    }

    /// Adds an outcome of generation tag `gen` (14 bits) to `slice`; returns the bucket's sums
    /// (with the outcome, unless the slice is full), or `None` if the bucket has moved past
    /// `slice`.
    #[inline]
    pub(super) fn record(&self, slice: u64, gen: u64, mark: Mark) -> Option<Sums> {
        let ours =
            (1 << (2 * COUNT_BITS)) | (u64::from(mark.failed) << COUNT_BITS) | u64::from(mark.slow);
        loop {
            let key = self.key.load(Ordering::Acquire);
            let counts = self.counts.load(Ordering::Acquire);
            let (held_slice, held_gen, version) = split_key(key);
            if counts >> VERSION_SHIFT != version {
                // Taken over, the new key not published yet: it will be in a moment.
                spin_loop();
                continue;
            }
            let next = if held_slice == slice && held_gen == gen {
                if (counts >> (2 * COUNT_BITS)) & COUNT_MAX == COUNT_MAX {
                    // The slice is full: it keeps the rate of its first 262,143 calls.
                    return Some(unpack(counts));
                }
                counts + ours
            } else if slice > held_slice || (slice == held_slice && newer(gen, held_gen, GEN_MASK))
            {
                (((version + 1) & VERSION_MASK) << VERSION_SHIFT) | ours
            } else {
                return None; // the bucket holds a later slice or generation: ours is over
            };
            if self
                .counts
                .compare_exchange(counts, next, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                if next >> VERSION_SHIFT != version {
                    let new_key = (slice << 24) | (gen << 10) | (next >> VERSION_SHIFT);
                    self.key.store(new_key, Ordering::Release);
                }
                if mark.failed && mark.slow {
                    self.count_slow_failed(next >> VERSION_SHIFT);
                }
                return Some(unpack(next));
            }
        }
    }

    /// Adds one to the slow-failed count of the slice `version` names, unless the bucket
    /// has moved on to another slice.
    fn count_slow_failed(&self, version: u64) {
        let mut current = self.slow_failed.load(Ordering::Acquire);
        loop {
            if self.counts.load(Ordering::Acquire) >> VERSION_SHIFT != version {
                return;
            }
            let n = if current >> VERSION_SHIFT == version {
                current & COUNT_MAX
            } else {
                0
            };
            let next = (version << VERSION_SHIFT) | (n + 1).min(COUNT_MAX);
            match self.slow_failed.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }

    /// The slice this bucket holds for generation tag `gen` and its sums; `None` if it holds
    /// another generation or is being taken over.
    #[inline]
    pub(super) fn sums(&self, gen: u64) -> Option<(u64, Sums)> {
        let key = self.key.load(Ordering::Acquire);
        let counts = self.counts.load(Ordering::Acquire);
        let (slice, held_gen, version) = split_key(key);
        (held_gen == gen && counts >> VERSION_SHIFT == version).then(|| (slice, unpack(counts)))
    }

    /// The slice this bucket holds for generation tag `gen` and how many of its outcomes were
    /// both slow and failed; `None` if it holds another generation or is being taken over.
    pub(super) fn slow_failed(&self, gen: u64) -> Option<(u64, u64)> {
        let key = self.key.load(Ordering::Acquire);
        let counts = self.counts.load(Ordering::Acquire);
        let slow_failed = self.slow_failed.load(Ordering::Acquire);
        let (slice, held_gen, version) = split_key(key);
        (held_gen == gen
            && counts >> VERSION_SHIFT == version
            && slow_failed >> VERSION_SHIFT == version)
            .then_some((slice, slow_failed & COUNT_MAX))
    }
}
