//! [`Backoff`]: how soon a fleet that lost its store asks again, independent of the sync
//! interval.
//!
//! After a store-wide failure the next attempt (subscribe, then read every breaker) comes after
//! a short delay that doubles from [`FIRST_RETRY`] up to [`MAX_RETRY`], each drawn in the upper
//! half of its step (`[step / 2, step]`, "equal jitter") so replicas that lost the store
//! together do not come back in step. The schedule: 5-10 ms, 10-20 ms, 20-40 ms, then 25-50 ms
//! for as long as the store stays away, so a fleet is back within 50 ms (plus one attempt's
//! round trips) of the store's return whatever its sync interval, and asks at most
//! 40 times a second (after the first three attempts). An attempt stops at its first failure,
//! and its reads start at the breaker whose read failed last: while the store (or the part of
//! a cluster that holds that breaker) stays away, an attempt makes at most two store
//! operations (the subscription, that read), so at most 80 store operations per second per
//! fleet, however many breakers it shares. (An attempt that finds another part of the store
//! failing than the last one may read, once, every breaker before it.) The schedule starts
//! again from the first step once the fleet is back.

use std::time::Duration;

use crate::random::{Random, SplitMix};

/// The first retry's step: drawn in 5-10 ms.
pub(crate) const FIRST_RETRY: Duration = Duration::from_millis(10);
/// The largest step: retries come 25-50 ms apart while the store stays away.
pub(crate) const MAX_RETRY: Duration = Duration::from_millis(50);

/// The retry schedule of one sync future.
pub(crate) struct Backoff {
    /// Failed attempts since the fleet was last online.
    attempt: u32,
    random: SplitMix,
}

impl Backoff {
    pub(crate) fn new(random: SplitMix) -> Self {
        Backoff { attempt: 0, random }
    }

    /// The delay before the next attempt; each call is one more failed attempt.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let step = FIRST_RETRY
            .saturating_mul(1 << self.attempt.min(16))
            .min(MAX_RETRY);
        self.attempt = self.attempt.saturating_add(1);
        let half = u64::try_from((step / 2).as_nanos()).unwrap_or(u64::MAX);
        // A draw in [0, half]: the upper half of the step, so never less than half of it.
        let jitter = (u128::from(half) * u128::from(self.random.next_u32())) >> 32;
        step.saturating_sub(Duration::from_nanos(u64::try_from(jitter).unwrap_or(half)))
    }

    /// The store answered: the next outage starts from the first step.
    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_double_from_ten_ms_to_fifty_and_stay_in_their_upper_half() {
        let mut b = Backoff::new(SplitMix::new(0));
        let steps = [10, 20, 40, 50, 50, 50, 50, 50, 50, 50];
        for (attempt, step) in steps.iter().enumerate() {
            let step = Duration::from_millis(*step);
            let d = b.next_delay();
            assert!(
                d >= step / 2 && d <= step,
                "attempt {attempt}: {d:?} not in [{:?}, {step:?}]",
                step / 2
            );
        }
        // Thousands of attempts later: still 25-50 ms, never overflowing.
        for _ in 0..10_000 {
            let d = b.next_delay();
            assert!(d >= MAX_RETRY / 2 && d <= MAX_RETRY, "{d:?}");
        }
        b.reset();
        let d = b.next_delay();
        assert!(
            d >= FIRST_RETRY / 2 && d <= FIRST_RETRY,
            "after reset: {d:?}"
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_schedule_and_draws_spread_over_the_half_step() {
        let schedule = |seed| {
            let mut b = Backoff::new(SplitMix::new(seed));
            (0..64).map(|_| b.next_delay()).collect::<Vec<_>>()
        };
        assert_eq!(schedule(7), schedule(7));
        assert_ne!(schedule(7), schedule(8));
        // Jitter, not a constant: the steady-state delays spread over most of [25, 50] ms.
        let steady = &schedule(7)[3..];
        let (lo, hi) = (
            steady.iter().min().copied().unwrap(),
            steady.iter().max().copied().unwrap(),
        );
        assert!(
            lo < Duration::from_millis(30) && hi > Duration::from_millis(45),
            "{lo:?}..{hi:?}"
        );
    }

    #[test]
    fn at_most_forty_attempts_a_second_once_past_the_first_three() {
        let mut b = Backoff::new(SplitMix::new(1));
        let first_three: Duration = (0..3).map(|_| b.next_delay()).sum();
        assert!(first_three >= Duration::from_millis(35), "{first_three:?}");
        let second: Duration = (0..40).map(|_| b.next_delay()).sum();
        assert!(
            second >= Duration::from_secs(1),
            "40 attempts in {second:?}"
        );
    }
}
