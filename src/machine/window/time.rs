//! The time window: the outcomes of the last `length` of time, counted in `buckets` slices.
//!
//! Time is cut into slices of `width = length / buckets` ns, numbered from the clock's zero
//! (`now / width`, kept to 40 bits), and slice `s` is counted in bucket `s % buckets`: each
//! slice takes its bucket over from the slice a whole window before it (`bucket.rs` owns that
//! takeover and keeps each outcome in its own slice). The window that ends with slice `newest`
//! is what the buckets hold of slices `newest - buckets + 1 ..= newest` in the current
//! generation. A bucket left over from before a quiet spell holds an older slice and is not
//! counted, so the window ages out with no sweep, however far time jumps.
//!
//! Recording adds to one bucket but answers with the sums of the whole window. The first call
//! of a slice walks the buckets and leaves the sums of the other ones in `Recent` (`recent.rs`);
//! the later calls of that slice add their bucket's sums to those, without a walk.
//!
//! Keeps: the sums a recorder gets include its own outcome, unless its slice is over (its
//! bucket has moved on: the outcome is dropped) or full. Relies on: one clock for every `now`
//! it is given; an outcome may come late (with a clock reading from before the current slice)
//! and is counted in its own slice while its bucket still holds it.

use std::time::Duration;

use super::bucket::{Bucket, GEN_MASK, SLICE_MASK};
use super::recent::Recent;
use super::{Mark, Sums};

/// The last `length` of time, in buckets (see the module docs).
pub(super) struct TimeWindow {
    width: u64,
    buckets: Box<[Bucket]>,
    recent: Recent,
}

impl TimeWindow {
    pub(super) fn new(length: Duration, buckets: u32) -> Self {
        let buckets = buckets.max(1);
        let nanos = u64::try_from(length.as_nanos()).unwrap_or(u64::MAX);
        TimeWindow {
            width: (nanos / u64::from(buckets)).max(1),
            buckets: (0..buckets).map(|_| Bucket::new()).collect(),
            recent: Recent::new(),
        }
    }

    /// Records an outcome and returns the window's sums with it.
    #[inline]
    pub(super) fn record_and_sum(&self, gen: u32, now: u64, mark: Mark) -> Sums {
        let tag = u64::from(gen) & GEN_MASK;
        if let Some((slice, past)) = self.recent.read(now, self.width, tag) {
            if let Some(current) = self.record_in(gen, slice, mark) {
                return past + current;
            }
            return self.sums_at(gen, slice);
        }
        let slice = self.slice(now);
        self.record_in(gen, slice, mark);
        let (past, current) = self.sums_split(gen, slice);
        self.recent.write(now - now % self.width, slice, tag, past);
        past + current
    }

    /// Slice numbers keep 40 bits: with slices of at least 1 ms (as `Config` requires) they
    /// wrap after 34 years.
    #[inline]
    fn slice(&self, now: u64) -> u64 {
        (now / self.width) & SLICE_MASK
    }

    #[inline]
    fn bucket(&self, slice: u64) -> &Bucket {
        // The index fits: it is below the bucket count.
        #[allow(clippy::cast_possible_truncation)]
        let i = (slice % self.buckets.len() as u64) as usize;
        &self.buckets[i]
    }

    #[cfg(test)]
    #[inline]
    fn record(&self, gen: u32, now: u64, mark: Mark) {
        self.record_in(gen, self.slice(now), mark);
    }

    /// Adds an outcome to the bucket of `slice`; returns the bucket's sums (with the outcome,
    /// unless the slice is full), or `None` if the bucket has moved past `slice`.
    #[inline]
    fn record_in(&self, gen: u32, slice: u64, mark: Mark) -> Option<Sums> {
        self.bucket(slice)
            .record(slice, u64::from(gen) & GEN_MASK, mark)
    }

    pub(super) fn slow_failed(&self, gen: u32, now: u64) -> u64 {
        let newest = self.slice(now);
        let oldest = newest.saturating_sub(self.buckets.len() as u64 - 1);
        let gen = u64::from(gen) & GEN_MASK;
        self.buckets
            .iter()
            .filter_map(|bucket| bucket.slow_failed(gen))
            .filter(|(slice, _)| (oldest..=newest).contains(slice))
            .map(|(_, n)| n)
            .sum()
    }

    pub(super) fn sums(&self, gen: u32, now: u64) -> Sums {
        self.sums_at(gen, self.slice(now))
    }

    /// The sums of the buckets within the window that ends with slice `newest`.
    fn sums_at(&self, gen: u32, newest: u64) -> Sums {
        let (past, current) = self.sums_split(gen, newest);
        past + current
    }

    /// The sums of the window that ends with slice `newest`: of its older buckets, and of
    /// the bucket of `newest`.
    fn sums_split(&self, gen: u32, newest: u64) -> (Sums, Sums) {
        let oldest = newest.saturating_sub(self.buckets.len() as u64 - 1);
        let gen = u64::from(gen) & GEN_MASK;
        let mut past = Sums::default();
        let mut current = Sums::default();
        for bucket in &*self.buckets {
            match bucket.sums(gen) {
                Some((slice, sums)) if slice == newest => current = current + sums,
                Some((slice, sums)) if (oldest..=newest).contains(&slice) => past = past + sums,
                _ => {}
            }
        }
        (past, current)
    }
}

#[cfg(all(test, not(protego_loom)))]
mod tests {
    use super::super::bucket::COUNT_MAX;
    use super::*;

    use super::super::marks::{FAIL, OK, SLOW_FAIL};

    #[test]
    fn slow_failures_age_out_of_a_time_window_with_their_slice() {
        let w = TimeWindow::new(Duration::from_nanos(100), 10);
        w.record(1, 5, SLOW_FAIL);
        w.record(1, 15, SLOW_FAIL);
        w.record(1, 15, FAIL);
        assert_eq!(w.slow_failed(1, 20), 2);
        assert_eq!(w.slow_failed(1, 100), 1, "the slice of t=5 aged out");
        assert_eq!(w.slow_failed(2, 20), 0);
    }

    #[test]
    fn time_buckets_age_out_even_after_a_jump() {
        let w = TimeWindow::new(Duration::from_nanos(100), 10); // 10 ns slices, for the test
        w.record(1, 5, FAIL);
        w.record(1, 15, FAIL);
        assert_eq!(w.sums(1, 20).failures, 2);
        assert_eq!(w.sums(1, 100).failures, 1, "the slice of t=5 aged out");
        assert_eq!(w.sums(1, 110).failures, 0);
        // Hours later (within 2^40 slices), the same bucket positions hold nothing current.
        let later = 3_600_000_000_000 + 5;
        assert_eq!(w.sums(1, later), Sums::default());
        w.record(1, later, OK);
        assert_eq!(
            w.sums(1, later),
            Sums {
                calls: 1,
                failures: 0,
                slow: 0
            }
        );
    }

    #[test]
    fn a_full_slice_stops_counting_without_spilling_into_the_next_field() {
        let w = TimeWindow::new(Duration::from_nanos(100), 1);
        for _ in 0..COUNT_MAX + 10 {
            w.record(1, 5, OK);
        }
        w.record(1, 5, FAIL);
        assert_eq!(
            w.sums(1, 5),
            Sums {
                calls: COUNT_MAX,
                failures: 0,
                slow: 0
            }
        );
    }

    #[test]
    fn a_stale_generation_never_takes_a_bucket_from_a_newer_one() {
        let w = TimeWindow::new(Duration::from_nanos(100), 10);
        w.record(2, 5, FAIL); // the new generation's first outcome
        w.record(1, 6, OK); // a late outcome of the generation before, same slice
        assert_eq!(
            w.sums(2, 7),
            Sums {
                calls: 1,
                failures: 1,
                slow: 0
            }
        );
        assert_eq!(w.sums(1, 7), Sums::default());
    }

    #[test]
    fn consecutive_slices_sharing_a_bucket_never_mix() {
        // One bucket: every slice takes it over from the one before (the property tests found
        // a tag collision here in an earlier design).
        let w = TimeWindow::new(Duration::from_nanos(10), 1);
        for slice in 0..5_000u64 {
            w.record(1, slice * 10, OK);
            w.record(1, slice * 10 + 5, FAIL);
            assert_eq!(
                w.sums(1, slice * 10 + 9),
                Sums {
                    calls: 2,
                    failures: 1,
                    slow: 0
                }
            );
        }
    }

    #[test]
    fn a_time_window_outcome_older_than_its_bucket_is_dropped() {
        let w = TimeWindow::new(Duration::from_nanos(100), 10);
        w.record(1, 105, OK); // takes bucket 0 for slice 10
        w.record(1, 5, FAIL); // slice 0, same bucket, aged out
        assert_eq!(
            w.sums(1, 105),
            Sums {
                calls: 1,
                failures: 0,
                slow: 0
            }
        );
    }

    #[test]
    fn the_second_call_in_a_slice_finds_it_worked_out() {
        let w = TimeWindow::new(Duration::from_secs(10), 10);
        let now = 123_456_789_000;
        let ok = Mark {
            failed: false,
            slow: false,
        };
        assert!(w.recent.read(now, w.width, 5).is_none());
        assert_eq!(w.record_and_sum(5, now, ok).calls, 1);
        assert!(w.recent.read(now, w.width, 5).is_some());
        assert_eq!(w.record_and_sum(5, now + 1, ok).calls, 2);
    }
}
