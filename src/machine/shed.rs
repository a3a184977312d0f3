//! Overload shedding: while calls end as [`Outcome::Overload`], a closed circuit lets through
//! only as many calls at once as the downstream is completing, refuses the rest at once, and
//! grows that number back as completions come back; once overload is gone it stops. A slope,
//! where opening the circuit is a step.
//!
//! Owns the controller ([`Shed`]): a concurrency limit, additive increase and multiplicative
//! decrease, with TCP's slow start (Netflix's `AIMDLimit`, started the moment an overload is
//! heard rather than always on):
//!
//! ```text
//! admit while in flight < limit
//! overload:  limit = max(1, min(limit, in flight) * shed_backoff)    (0.9 by default)
//! success:   limit += 1          until the first cut   (slow start: doubles per round trip)
//!            limit += 1 / limit  after it              (one more per round trip)
//!            unless it took more than 4x the fastest success of the episode (it queued)
//! ```
//!
//! A concurrency limit bounds the downstream's queue, and so the calls' latency, where a rate
//! would let a queue build: on the storm simulation it is what keeps completions inside the
//! callers' timeouts (see `tests/storm.rs`). Shedding on an overload starts with a limit of one
//! call (on the latency sensor's word, see below: four, plus what completes) and grows
//! it by slow start, one call per success while the limit is in use: the calls already in
//! flight when it began complete too, so it lets through the calls the downstream completes and
//! reaches the concurrency it sustains within a few round trips, where a high start would let
//! more calls join a queue of work nobody waits for (on the storm simulation, starting at 1024
//! cost 2 to 7 points of goodput at 35 and 20 %). The first cut waits a tenth of [`shed_window`](crate::Config::shed_window), so that the calls in
//! flight it cuts to have been counted (those let in before shedding began are not), and later
//! cuts come at most once per tenth (as TCP cuts once per round trip: a burst of timeouts from
//! one queue is one signal). The limit grows only while it is in use (half of it in flight, as
//! TCP's window validation). Shedding stops once a whole `shed_window` went by with no
//! overload and no call refused, at a moment when none of the calls it let in is in flight.
//!
//! The limit grows only on a success that did not wait in the downstream's queue, as TCP
//! Vegas and Netflix's Gradient limits read latency: one that took more than four times the
//! fastest success of the episode (`QUEUED`) says more calls at once would only queue, and
//! leaves the limit as it is. So the limit settles a little above the concurrency the
//! downstream serves without queueing, rather than climbing until calls time out and falling
//! back (on the storm simulation: 97-99 % of the capacity left over a 60 s overload, from
//! 89-97 %). Free: a call let in while shedding already carries its start time, and the
//! latency is read only while shedding; a call admitted before shedding began is not counted
//! (a call the sensor timed hands its start to the sensor only).
//!
//! Shedding also starts before any overload is heard, when the latency sensor (`sense.rs`)
//! hears four successes in a row take more than `shed_latency_factor` (3) times their mean:
//! a queue building in front of a dependency whose capacity fell is heard a few completions
//! into it, where the first timeout comes one timeout later, and the queue built meanwhile is
//! work nobody waits for (on the storm simulation, 85 % of the capacity left at 20 % over 10 s
//! when shedding starts at the first timeout, 98-100 % when it starts on the sensor's word).
//! But the word may be false: a busy, healthy queue has bursts as slow as that (the storm
//! simulation's dependency, 77 % busy, starts about six episodes in 43 s), and with one attempt
//! per call every refusal is a failed call. So such an episode costs nothing until confirmed:
//! its limit starts at four calls (`SENSED_START`), not one, and every call that was in flight
//! at the word (not counted in) and ends within half the sensor's threshold after it hands its
//! place over to a new call (`handoff_until`): the limit takes the calls the dependency
//! completes in that time, a Little's-law estimate of the concurrency it serves (its rate
//! times 1.5 times its mean latency) measured rather than guessed. A dependency whose capacity
//! fell completes few calls in that time, so the limit stays near four and the queue drains;
//! a healthy one completes a burst's worth, and none of its calls is refused (none in 64,500
//! calls on the storm simulation's healthy runs without retries, from 0.02-0.17 % with a start
//! at one call). The first overload confirms the episode: no place is handed over after it,
//! and the cuts take over as in an episode an overload started. Its fastest success is seeded
//! with the sensor's threshold, so that successes queued behind the calls already in flight do
//! not count as unqueued. A dependency that only became slower is heard too; the limit then
//! grows by slow start to what it sustains and shedding stops once a `shed_window` passes with
//! no refusal.
//!
//! Made by the first overload or the sensor's first word and kept in the companion
//! (`Companion::shed`), so a breaker that never sees either carries nothing for it. Relies on the machine for the word's out-of-line bit: it is set (under the transition lock,
//! through `refresh_paths`) only while [`Shed::active`] is true, so a healthy closed call never
//! comes here and the inlined fast path is unchanged; and on the ticket's start time, which
//! `admit` stamps on the calls it counts, so that a call admitted before shedding began is
//! never taken out of the count. Keeps: it refuses only calls admitted in Closed (the machine
//! asks it for those only); the limit stays within `1..=MAX`; an overload counts towards
//! opening the circuit only once no call has completed for `shed_outage_after` (an outage that
//! answers with timeouts still opens it).

use crate::config::{saturating_nanos, Config};
use crate::machine::outcome::Outcome;
use crate::machine::word::NOT_TIMED;
use crate::sync::{AtomicBool, AtomicU64, Ordering};

/// The limit is kept in 1/1024ths of a call.
const ONE: u64 = 1024;
/// The limit shedding starts with on an overload: one call in flight (slow start grows it).
const START: u64 = ONE;
/// The limit shedding starts with on the sensor's word, before the calls handed over: a few
/// calls, so that a burst in a healthy queue refuses none.
const SENSED_START: u64 = 4 * ONE;
/// A success that took more than this many times the episode's fastest waited in a queue.
const QUEUED: u64 = 4;
/// The largest limit.
pub(crate) const MAX: u64 = 1 << 20;

/// The controller. See the module docs.
pub(crate) struct Shed {
    /// Calls in flight admitted while shedding (since `since`).
    in_flight: AtomicU64,
    /// The limit, in 1/1024ths.
    limit: AtomicU64,
    /// `shed_backoff` in 1/1024ths.
    backoff: AtomicU64,
    /// `shed_window` (ns).
    window: AtomicU64,
    /// `shed_outage_after` (ns).
    outage_after: AtomicU64,
    /// Whether the controller sheds (the word's out-of-line bit follows it).
    active: AtomicBool,
    /// When shedding began (ns).
    since: AtomicU64,
    /// The last success while shedding, or when shedding began (ns).
    last_success: AtomicU64,
    /// The last overload (ns).
    last_overload: AtomicU64,
    /// The last call refused (ns).
    last_refusal: AtomicU64,
    /// When the limit was last cut (ns); at most one cut per tenth of `shed_window`.
    last_cut: AtomicU64,
    /// Whether the limit was cut since shedding began (until then, slow start).
    cut: AtomicBool,
    /// The shortest latency of a success let in while shedding, this episode (ns).
    fastest: AtomicU64,
    /// Until when (ns) a call admitted before the episode began that ends hands its place to a
    /// new one: half the sensor's threshold after its word, 0 once an overload was heard.
    handoff_until: AtomicU64,
    /// Whether shedding is on in the config.
    enabled: AtomicBool,
}

/// What recording an outcome did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Recorded {
    /// The outcome the circuit's own rules count.
    pub(crate) outcome: Outcome,
    /// Whether shedding started or stopped (the path bits must follow).
    pub(crate) toggled: bool,
}

impl Shed {
    pub(crate) fn new(config: &Config) -> Self {
        let shed = Shed {
            in_flight: AtomicU64::new(0),
            limit: AtomicU64::new(START),
            backoff: AtomicU64::new(ONE),
            window: AtomicU64::new(1),
            outage_after: AtomicU64::new(0),
            active: AtomicBool::new(false),
            since: AtomicU64::new(0),
            last_success: AtomicU64::new(0),
            last_overload: AtomicU64::new(0),
            last_refusal: AtomicU64::new(0),
            last_cut: AtomicU64::new(0),
            cut: AtomicBool::new(false),
            fastest: AtomicU64::new(u64::MAX),
            handoff_until: AtomicU64::new(0),
            enabled: AtomicBool::new(false),
        };
        shed.configure(config);
        shed
    }

    /// Takes the shedding knobs of `config`. Turned off, it stops shedding (the caller
    /// refreshes the path bits).
    pub(crate) fn configure(&self, config: &Config) {
        self.backoff
            .store(fixed(config.shed_backoff()), Ordering::Relaxed);
        self.window.store(
            saturating_nanos(config.shed_window()).max(1),
            Ordering::Relaxed,
        );
        self.outage_after.store(
            saturating_nanos(config.shed_outage_after()),
            Ordering::Relaxed,
        );
        self.enabled
            .store(config.shed_overload(), Ordering::Relaxed);
        if !config.shed_overload() {
            self.active.store(false, Ordering::Release);
        }
    }

    /// Whether it sheds now.
    #[inline]
    pub(crate) fn active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// The limit on calls in flight while shedding (whole calls), `None` when not shedding.
    pub(crate) fn limit(&self) -> Option<u64> {
        self.active()
            .then(|| self.limit.load(Ordering::Relaxed) / ONE)
    }

    /// Decides one call admitted in Closed at `now`: lets it through (stamping `started`, so
    /// that its end is counted) or refuses it.
    #[inline]
    pub(crate) fn admit(&self, now: u64, started: &mut u64) -> bool {
        if !self.active() {
            return true;
        }
        let limit = self.limit.load(Ordering::Relaxed) / ONE;
        let before = self.in_flight.fetch_add(1, Ordering::AcqRel);
        if before >= limit.max(1) {
            self.leave();
            self.last_refusal.store(now, Ordering::Relaxed);
            return false;
        }
        *started = now;
        true
    }

    /// Takes one call out of the count (never below zero).
    fn leave(&self) {
        let _ = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    /// Hears how a call admitted in Closed at `started` ended at `now`, and says how the
    /// circuit's rules count it: an overload is ignored by them while the downstream still
    /// completes calls, and a failure once it completed nothing for `shed_outage_after`.
    pub(crate) fn record(&self, now: u64, started: u64, outcome: Outcome) -> Recorded {
        if !self.enabled.load(Ordering::Relaxed) {
            return Recorded {
                outcome: outcome.as_failure(),
                toggled: false,
            };
        }
        let counted =
            self.active() && started != NOT_TIMED && started >= self.since.load(Ordering::Acquire);
        if counted {
            self.leave();
        } else if self.active() && now < self.handoff_until.load(Ordering::Acquire) {
            // A call admitted before the sensor's word ended soon after it: its place goes to
            // a new call.
            let _ = self
                .limit
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |limit| {
                    Some((limit + ONE).min(MAX * ONE))
                });
        }
        match outcome {
            Outcome::Overload => {
                let toggled = self.start(now, START);
                // Confirmed: no more places handed over.
                self.handoff_until.store(0, Ordering::Release);
                self.last_overload.fetch_max(now, Ordering::AcqRel);
                self.cut(now);
                let quiet = now.saturating_sub(self.last_success.load(Ordering::Acquire));
                let outcome = if quiet >= self.outage_after.load(Ordering::Relaxed) {
                    Outcome::Failure
                } else {
                    Outcome::Ignored
                };
                Recorded { outcome, toggled }
            }
            Outcome::Success if self.active() => {
                // A store, not a maximum: racing successes differ by less than the time a
                // call takes, far below `shed_outage_after`.
                self.last_success.store(now, Ordering::Release);
                let window = self.window.load(Ordering::Relaxed);
                let quiet = now.saturating_sub(self.last_overload.load(Ordering::Acquire));
                let slow_start = !self.cut.load(Ordering::Acquire);
                // In flight with this call, which just left.
                let in_flight = (self.in_flight.load(Ordering::Acquire) + 1) * ONE;
                let queued = counted && self.queued(now.saturating_sub(started));
                let _ = self
                    .limit
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |limit| {
                        // Grows only while in use (as TCP's window validation).
                        if queued || in_flight * 2 < limit {
                            return None;
                        }
                        let step = if slow_start {
                            ONE
                        } else {
                            ONE * ONE / limit.max(1)
                        };
                        Some((limit + step).min(MAX * ONE))
                    });
                // Stops once a window went by with no overload and no call refused, and no call
                // it let in is still in flight (one could otherwise end in the next episode,
                // stamped at its very start on a coarse clock, and be counted out of it).
                let unrefused =
                    now.saturating_sub(self.last_refusal.load(Ordering::Relaxed)) >= window;
                let toggled = quiet >= window && unrefused && in_flight == ONE && self.stop();
                Recorded { outcome, toggled }
            }
            _ => Recorded {
                outcome,
                toggled: false,
            },
        }
    }

    /// Cuts the limit to `shed_backoff` times the calls in flight (or the limit, if less): at
    /// most once per tenth of `shed_window`, as TCP cuts once per round trip.
    fn cut(&self, now: u64) {
        let gap = self.window.load(Ordering::Relaxed) / 10;
        // The first cut waits a tenth of the window after shedding began: until then the calls
        // in flight are not counted yet (those admitted before are not).
        let last = self.last_cut.load(Ordering::Acquire);
        let first = !self.cut.load(Ordering::Acquire);
        let since = if first {
            self.since.load(Ordering::Acquire)
        } else {
            last
        };
        if now.saturating_sub(since) < gap {
            return;
        }
        if self
            .last_cut
            .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return;
        }
        self.cut.store(true, Ordering::Release);
        let backoff = self.backoff.load(Ordering::Relaxed);
        let in_flight = self.in_flight.load(Ordering::Acquire).max(1) * ONE;
        let _ = self
            .limit
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |limit| {
                Some((limit.min(in_flight) * backoff / ONE).max(ONE))
            });
    }

    /// Whether a success that took `latency` waited in a queue: it took more than
    /// `QUEUED` times the fastest success of this episode.
    fn queued(&self, latency: u64) -> bool {
        // A load first: a new fastest is rare once the episode has its first successes.
        let mut fastest = self.fastest.load(Ordering::Acquire);
        if latency < fastest {
            fastest = self
                .fastest
                .fetch_min(latency, Ordering::AcqRel)
                .min(latency);
        }
        latency > fastest.saturating_mul(QUEUED)
    }

    /// Starts shedding at `now` because the sensor heard calls slow down (`sense.rs`), as if an
    /// overload had been heard; whether it was not shedding already.
    pub(crate) fn sense(&self, now: u64, usual: u64) -> bool {
        if !self.enabled.load(Ordering::Relaxed) || !self.start(now, SENSED_START) {
            return false;
        }
        self.fastest.fetch_min(usual.max(1), Ordering::AcqRel);
        self.handoff_until
            .store(now.saturating_add(usual / 2), Ordering::Release);
        true
    }

    /// Starts shedding at `now` with a limit of `start`; whether it was not shedding already.
    fn start(&self, now: u64, start: u64) -> bool {
        if self.active() {
            return false;
        }
        self.handoff_until.store(0, Ordering::Release);
        self.since.store(now, Ordering::Release);
        self.last_refusal.store(now, Ordering::Relaxed);
        self.in_flight.store(0, Ordering::Release);
        self.limit.store(start, Ordering::Release);
        self.cut.store(false, Ordering::Release);
        self.fastest.store(u64::MAX, Ordering::Release);
        self.last_success.fetch_max(now, Ordering::AcqRel);
        !self.active.swap(true, Ordering::AcqRel)
    }

    fn stop(&self) -> bool {
        self.active.swap(false, Ordering::AcqRel)
    }
}

/// `value` (from 0 to 100: `shed_backoff` and `shed_latency_factor`, checked by `build`) in
/// 1/1024ths, rounded.
pub(crate) fn fixed(value: f64) -> u64 {
    // At most 100 * 1024: no truncation or sign loss.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let fixed = (value * 1024.0).round() as u64;
    fixed
}

#[cfg(all(test, not(protego_loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: u64 = 1_000_000;

    proptest! {
        /// An episode the sensor started (threshold 30 ms) has a limit of four calls plus one
        /// for each call found in flight that ended within 15 ms of the word and before the
        /// first overload, whatever the order and outcome of the ends; nothing else moves it
        /// before the first cut.
        #[test]
        fn a_sensed_episode_takes_only_the_places_of_early_unconfirmed_ends(
            ends in proptest::collection::vec((0u64..40 * MS, any::<bool>()), 0..64),
            overload_at in proptest::option::of(0u64..40 * MS),
        ) {
            let shed = Shed::new(&Config::default());
            let word = 10_000 * MS;
            prop_assert!(shed.sense(word, 30 * MS));
            prop_assert_eq!(shed.limit(), Some(4));
            let mut ends = ends;
            ends.sort_unstable();
            let mut confirmed = false;
            let mut expected = 4;
            for (after, success) in ends {
                if let Some(at) = overload_at {
                    if !confirmed && at <= after {
                        let mut started = NOT_TIMED;
                        prop_assert!(shed.admit(word + at, &mut started));
                        shed.record(word + at, started, Outcome::Overload);
                        confirmed = true;
                    }
                }
                let outcome = if success { Outcome::Success } else { Outcome::Failure };
                shed.record(word + after, NOT_TIMED, outcome);
                if !confirmed && after < 15 * MS {
                    expected += 1;
                }
                prop_assert_eq!(shed.limit(), Some(expected));
            }
        }
    }

    #[test]
    fn an_overload_starts_at_one_call_and_hands_nothing_over() {
        let shed = Shed::new(&Config::default());
        let mut started = NOT_TIMED;
        shed.record(MS, NOT_TIMED, Outcome::Overload);
        assert_eq!(shed.limit(), Some(1));
        shed.record(2 * MS, NOT_TIMED, Outcome::Failure);
        assert_eq!(shed.limit(), Some(1));
        assert!(shed.admit(2 * MS, &mut started));
        assert_eq!(started, 2 * MS);
    }
}
