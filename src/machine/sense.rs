//! Hearing overload before the first timeout: a sampled latency of healthy calls.
//!
//! Owns the per-thread countdown ([`due`], [`rearm`]) that picks which closed calls are timed,
//! and the [`Sensor`] that hears their latencies and says when shedding should start.
//!
//! A closed call on the inlined fast path reads no clock and writes nothing shared: the only
//! thing it adds is one decrement of a counter in a `const`-initialised thread local. When the
//! counter runs out, the call is admitted out of line (`Machine::sampled`): the clock is read,
//! its ticket carries that start and a mark (`SAMPLED`, the count bit, which no other ticket
//! carries) that makes its recording miss the closed fast path, and the countdown is re-armed
//! from the rate of calls this thread saw since its last sample: every call is timed below one
//! call per `PERIOD` (20 µs), about one per `PERIOD` above, so at millions of calls a second a
//! sample costs a fraction of a nanosecond per call. The countdown is the thread's, not the
//! breaker's: a thread that calls several breakers times one call per period among all of them.
//!
//! The sensor keeps a baseline, the mean latency of successes (an exponentially weighted
//! moving average over about 64 samples, `ALPHA_SHIFT`), and counts successive samples that took
//! more than `shed_latency_factor` times it (or times `FLOOR`, 10 ms, if that is more): after
//! `STREAK` (four) of them in a row, overload shedding starts as if an overload had been heard
//! (`Shed::sense`), with its limit at four calls plus one per call found in flight that ends
//! within half the threshold (what the dependency completes: a false word refuses nothing),
//! grown by slow start, and the episode's fastest success seeded with the threshold (see
//! `shed.rs`). A queue
//! that builds in front of a dependency whose capacity fell makes every call slower than the
//! last, which is heard within a few completions, where the first timeout comes one timeout
//! after the fall. A dependency that is merely slower (a rise in latency at the same capacity)
//! is heard too: then shedding lets through as many calls as complete without queueing, its
//! limit grows by slow start to the concurrency the dependency sustains, and it stops once a
//! `shed_window` went by with no call refused; the baseline keeps learning from the calls let
//! through meanwhile (they are timed anyway), so the new latency is the baseline by then. The
//! known limit: an episode that began just before such a rise keeps the old latency as its
//! fastest, counts every slower success as queued, and its limit may stay below what the
//! slower dependency needs until the episode ends (with no retries, 95 % of calls succeeded
//! on one seed of the storm simulation's tenfold rise; benches/README.md).
//!
//! The sensor is made by a breaker's first timed success, in the companion (one allocation,
//! once in the breaker's life). What a fleet shares of it: nothing. Each replica's breaker
//! hears its own calls.
//!
//! Keeps: the thread local is plain `Cell`s, initialised by a constant and with no destructor,
//! so reading it never registers anything; every figure is an integer and every decision
//! depends only on the clock's readings, so runs on a manual clock are deterministic; the
//! sensor's atomics may race (two samples at once), which can lose an update of the average or
//! of the streak but never make it fire without `STREAK` slow samples having been heard.

use std::cell::Cell;

use crate::config::Config;
use crate::machine::shed::fixed;
use crate::sync::{AtomicU32, AtomicU64, Ordering};

/// The interval between two timed calls a thread aims at when it calls often (ns).
const PERIOD: u64 = 20_000;
/// The most calls between two timed calls.
const MAX_COUNTDOWN: u32 = 1 << 16;
/// The baseline's weight of each new sample: 1/64.
const ALPHA_SHIFT: u32 = 6;
/// Samples heard before the baseline is trusted.
const WARM: u32 = 16;
/// Successive slow samples that start shedding.
pub(crate) const STREAK: u32 = 4;
/// The least baseline a latency is compared with (ns): 10 ms. Below it a rise cannot be told
/// from the caller's own executor queueing (a busy process delays every call by a few ms).
const FLOOR: u64 = 10_000_000;

/// This thread's countdown to its next timed call, and how it was armed.
struct Countdown {
    /// Calls left until the next timed one (0 only from a timed call's admission to its
    /// re-arming, in the same function).
    left: Cell<u32>,
    /// What `left` was armed with.
    armed: Cell<u32>,
    /// When the last timed call was admitted (ns, on its breaker's clock).
    last: Cell<u64>,
}

#[cfg(not(protego_loom))]
thread_local! {
    static COUNTDOWN: Countdown = const {
        Countdown {
            left: Cell::new(1),
            armed: Cell::new(1),
            last: Cell::new(0),
        }
    };
}

// Under loom, whose threads share one OS thread: loom's own thread locals, one per model
// thread and fresh in each execution, so that which calls are timed is the same in every
// execution of a model (the first call of each thread is).
#[cfg(protego_loom)]
loom::thread_local! {
    static COUNTDOWN: Countdown = Countdown {
        left: Cell::new(1),
        armed: Cell::new(1),
        last: Cell::new(0),
    };
}

/// Counts one closed admission down; whether this call is to be timed. Inlined into every
/// closed call: one decrement of a thread-local counter.
#[inline]
pub(crate) fn due() -> bool {
    COUNTDOWN.with(|c| {
        // One decrement of memory and a test of its flags: `rearm` never leaves it at 0, and
        // a count that ran out is re-armed before the next call.
        let left = c.left.get().wrapping_sub(1);
        c.left.set(left);
        left == 0
    })
}

/// Sets this thread's countdown so that its next `calls` closed calls are not timed (tests of
/// the untimed path).
#[cfg(test)]
pub(crate) fn skip(calls: u32) {
    COUNTDOWN.with(|c| c.left.set(calls.saturating_add(1)));
}

/// Re-arms this thread's countdown after a timed call admitted at `now`: to the calls it made
/// per `PERIOD` since its last timed call (at most twice the last arming, at least one).
pub(crate) fn rearm(now: u64) {
    COUNTDOWN.with(|c| {
        let (armed, last) = (c.armed.get(), c.last.get());
        let next = next_countdown(armed, now.checked_sub(last));
        c.armed.set(next);
        c.left.set(next);
        c.last.set(now);
    });
}

/// The countdown after `armed` calls took `elapsed` (`None`: the clock went back, or this is
/// another breaker's clock): one call per `PERIOD`, growing at most twofold.
pub(crate) fn next_countdown(armed: u32, elapsed: Option<u64>) -> u32 {
    let most = armed.saturating_mul(2).min(MAX_COUNTDOWN);
    match elapsed {
        None => 1,
        Some(0) => most,
        Some(elapsed) => {
            let per_period = u64::from(armed).saturating_mul(PERIOD) / elapsed;
            u32::try_from(per_period).unwrap_or(u32::MAX).clamp(1, most)
        }
    }
}

/// The latency sensor of one breaker. See the module docs.
pub(crate) struct Sensor {
    /// `shed_latency_factor` in 1/1024ths; 0: off.
    factor: AtomicU64,
    /// The mean latency of successes (ns), exponentially weighted; 0 before the first.
    baseline: AtomicU64,
    /// Samples heard (up to `WARM`).
    heard: AtomicU32,
    /// Successive samples above the threshold.
    streak: AtomicU32,
}

impl Sensor {
    pub(crate) fn new(config: &Config) -> Self {
        let sensor = Sensor {
            factor: AtomicU64::new(0),
            baseline: AtomicU64::new(0),
            heard: AtomicU32::new(0),
            streak: AtomicU32::new(0),
        };
        sensor.configure(config);
        sensor
    }

    /// Takes `shed_latency_factor` (off with `shed_overload` off).
    pub(crate) fn configure(&self, config: &Config) {
        let factor = if config.shed_overload() {
            fixed(config.shed_latency_factor())
        } else {
            0
        };
        self.factor.store(factor, Ordering::Relaxed);
    }

    /// Hears that a success took `latency` (ns); `armed`: whether it may say "start shedding"
    /// (not while shedding: then it only learns). Whether shedding should start.
    pub(crate) fn hear(&self, latency: u64, armed: bool) -> bool {
        let factor = self.factor.load(Ordering::Relaxed);
        if factor == 0 {
            return false;
        }
        let baseline = self.baseline.load(Ordering::Relaxed);
        let heard = self.heard.load(Ordering::Relaxed);
        let slow = heard >= WARM
            && u128::from(latency) * 1024 > u128::from(baseline.max(FLOOR)) * u128::from(factor);
        let fire = if slow && armed {
            let streak = self.streak.fetch_add(1, Ordering::Relaxed) + 1;
            if streak >= STREAK {
                self.streak.store(0, Ordering::Relaxed);
                true
            } else {
                false
            }
        } else {
            if !slow {
                self.streak.store(0, Ordering::Relaxed);
            }
            false
        };
        if heard < WARM {
            self.heard.store(heard + 1, Ordering::Relaxed);
        }
        // The average: the first sample, then 1/64 of each new one; but not of a slow one
        // while it may fire, so that a rise just above the factor is not absorbed before the
        // streak is heard (while shedding it learns from every success).
        if slow && armed {
            return fire;
        }
        let next = if heard == 0 {
            latency
        } else {
            ewma(baseline, latency)
        };
        self.baseline.store(next, Ordering::Relaxed);
        fire
    }

    /// The latency above which a success is slow (ns): the factor times the baseline (at
    /// least `FLOOR`).
    pub(crate) fn threshold(&self) -> u64 {
        let usual = u128::from(self.baseline.load(Ordering::Relaxed).max(FLOOR));
        let factor = u128::from(self.factor.load(Ordering::Relaxed));
        u64::try_from(usual * factor / 1024).unwrap_or(u64::MAX)
    }

    /// The baseline (ns), for tests.
    #[cfg(test)]
    pub(crate) fn baseline(&self) -> u64 {
        self.baseline.load(Ordering::Relaxed)
    }
}

/// `average` moved 1/64 of the way towards `sample`.
fn ewma(average: u64, sample: u64) -> u64 {
    if sample >= average {
        average + ((sample - average) >> ALPHA_SHIFT)
    } else {
        average - ((average - sample) >> ALPHA_SHIFT)
    }
}

#[cfg(all(test, not(protego_loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sensor(factor: f64) -> Sensor {
        Sensor::new(
            &Config::builder()
                .shed_latency_factor(factor)
                .build()
                .unwrap(),
        )
    }

    #[test]
    fn off_it_never_fires_and_learns_nothing() {
        let s = sensor(0.0);
        for latency in [1_000_000, 100_000_000, 1_000_000_000] {
            assert!(!s.hear(latency, true));
        }
        assert_eq!(s.baseline(), 0);
        let off = Sensor::new(&Config::builder().shed_overload(false).build().unwrap());
        for _ in 0..100 {
            assert!(!off.hear(1_000_000_000, true));
        }
    }

    #[test]
    fn not_armed_it_learns_but_never_fires() {
        let s = sensor(2.5);
        for _ in 0..WARM {
            s.hear(10_000_000, true);
        }
        for _ in 0..1000 {
            assert!(!s.hear(100_000_000, false));
        }
        assert!(s.baseline() > 90_000_000, "{}", s.baseline());
    }

    #[test]
    fn the_countdown_aims_at_one_call_per_period() {
        // 4,000 calls in 1 ms: 80 per 20 µs, but at most twice the last arming.
        assert_eq!(next_countdown(4_000, Some(1_000_000)), 80);
        assert_eq!(next_countdown(10, Some(1_000)), 20);
        // Slow: every call.
        assert_eq!(next_countdown(1, Some(1_000_000)), 1);
        // The clock went back, or another breaker's clock: every call, from scratch.
        assert_eq!(next_countdown(1_000, None), 1);
        assert_eq!(next_countdown(MAX_COUNTDOWN, Some(0)), MAX_COUNTDOWN);
    }

    proptest! {
        /// A stable latency, however jittery below the factor, never starts shedding.
        #[test]
        fn a_stable_latency_never_fires(
            usual in 1_000_000u64..1_000_000_000,
            jitter in proptest::collection::vec(0u64..1_000, 64..400),
            factor in 2.0f64..10.0,
        ) {
            let s = sensor(factor);
            // Latencies from the usual one to 1.9x it: below any factor from 2 on, whatever
            // the mean they make.
            for j in jitter {
                let latency = usual + usual * 9 / 10 * j / 1_000;
                prop_assert!(!s.hear(latency, true));
            }
        }

        /// A sustained rise of more than the factor over a usual latency at or above `FLOOR`
        /// starts shedding within `STREAK` samples of it, once the sensor has heard `WARM`
        /// samples.
        #[test]
        fn a_sustained_rise_fires_within_the_streak(
            usual in FLOOR..1_000_000_000,
            warm in WARM..200,
            factor in 1.5f64..10.0,
            over in 1.05f64..10.0,
        ) {
            let s = sensor(factor);
            for _ in 0..warm {
                prop_assert!(!s.hear(usual, true));
            }
            // Small positive figures: no truncation, sign or precision to lose.
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            let slow = (usual as f64 * factor * over) as u64;
            let fired = (0..STREAK).position(|_| s.hear(slow, true));
            prop_assert_eq!(fired, Some(STREAK as usize - 1));
        }

        /// The countdown stays within 1 and the most, and grows at most twofold.
        #[test]
        fn the_countdown_stays_in_bounds(
            armed in 1u32..=MAX_COUNTDOWN,
            elapsed in proptest::option::of(0u64..10_000_000_000),
        ) {
            let next = next_countdown(armed, elapsed);
            prop_assert!((1..=MAX_COUNTDOWN).contains(&next));
            prop_assert!(next <= armed.saturating_mul(2));
        }
    }
}
