//! The machine's side of a failure-rate window: recording a closed outcome into it, asking it
//! (or the trip rule) whether to open, and reading its rates. The window itself is `window/`.
//!
//! Relies on: a window counts per generation, so a transition empties it without a write; the
//! word's out-of-line bit is set whenever there is a window, so every outcome comes here.
//! Keeps: the word's closed count is still kept (for `consecutive_failures`) but decides nothing
//! while a window does.

use crate::machine::outcome::Outcome;
use crate::machine::reason::Reason;
use crate::machine::window::{Mark, Sums, Trip, WindowStore};
use crate::machine::word::{counts_toward_trip, Ticket, Word, NOT_TIMED};
use crate::machine::{Machine, Now};
use crate::observe::metrics::WindowCounts;
use crate::sync::Ordering;

impl Machine {
    /// `f` of the current window, if there is one.
    #[inline]
    pub(super) fn with_window<R>(&self, f: impl FnOnce(&WindowStore) -> R) -> Option<R> {
        if !self.windowed.load(Ordering::Relaxed) {
            return None;
        }
        if self.swapped.load(Ordering::Acquire) {
            return self.window.load().as_deref().map(f);
        }
        self.first.as_deref().map(f)
    }

    /// [`record_counted`](Machine::record_counted)'s part with a window.
    pub(super) fn record_counted_in<F: FnMut() -> u64>(
        &self,
        w: Word,
        window: &WindowStore,
        ticket: Ticket,
        outcome: Outcome,
        now: &mut Now<F>,
    ) -> Option<bool> {
        let rules = window.rules;
        let slow = rules.slow_nanos > 0
            && ticket.started != NOT_TIMED
            && now.get().saturating_sub(ticket.started) >= rules.slow_nanos;
        if slow {
            self.counters.slow();
        }
        if !counts_toward_trip(w.kind()) || outcome == Outcome::Ignored {
            return Some(slow);
        }
        self.record_in_window(w, window, ticket, outcome, slow, now);
        None
    }

    /// Closed with a failure-rate window: the outcome goes into the window, which may call for
    /// opening. The word's consecutive-failure count is kept too, for
    /// [`consecutive_failures`](Machine::consecutive_failures), but decides nothing.
    pub(super) fn record_in_window<F: FnMut() -> u64>(
        &self,
        mut w: Word,
        window: &WindowStore,
        ticket: Ticket,
        outcome: Outcome,
        slow: bool,
        now: &mut Now<F>,
    ) {
        let failed = outcome == Outcome::Failure;
        loop {
            if w.epoch() != ticket.epoch {
                return;
            }
            let failures = if failed {
                w.payload().saturating_add(1)
            } else {
                0
            };
            if failures == w.payload() {
                break;
            }
            match self.try_swap(w, w.with_payload(failures)) {
                Ok(()) => break,
                Err(actual) => w = actual,
            }
        }
        let t = if window.needs_time() { now.get() } else { 0 };
        let gen = w.generation();
        let Some(sums) = window.record(gen, t, Mark { failed, slow }) else {
            return; // this generation's window is gone
        };
        let reason = if self.has_rule() {
            // The rule decides, and only on a failed or slow outcome.
            let counts = WindowCounts::new(
                sums.calls,
                sums.failures,
                sums.slow,
                window.slow_failed(gen, t),
                window.rules.minimum_calls,
            );
            let trips = (failed || slow) && self.ask_rule(gen, Some(counts)) == Some(true);
            trips.then_some(Reason::TripRule)
        } else {
            sums.verdict(&window.rules).map(|trip| match trip {
                Trip::FailureRate => Reason::FailureRate,
                Trip::SlowCallRate => Reason::SlowCallRate,
            })
        };
        if let Some(reason) = reason {
            self.transition(w, Self::trip_to(w.kind()), now, reason, |_| true);
        }
    }

    /// The failure and slow-call rates (percent) of the current window, if there is a window
    /// and it holds any outcome.
    pub(crate) fn window_rates<F: FnMut() -> u64>(&self, now: &mut Now<F>) -> Option<(f64, f64)> {
        let w = self.load();
        let sums = self.with_window(|window| {
            let t = if window.needs_time() { now.get() } else { 0 };
            if counts_toward_trip(w.kind()) {
                window.sums(w.generation(), t)
            } else {
                Sums::default()
            }
        })?;
        if sums.calls == 0 {
            return None;
        }
        // Counts of at most a few million: exact in f64.
        #[allow(clippy::cast_precision_loss)]
        let rate = |n: u64| n as f64 * 100.0 / sums.calls as f64;
        Some((rate(sums.failures), rate(sums.slow)))
    }

    /// The window's own numbers, if there is a window.
    pub(crate) fn window_counts<F: FnMut() -> u64>(
        &self,
        now: &mut Now<F>,
    ) -> Option<WindowCounts> {
        let w = self.load();
        self.with_window(|window| {
            let minimum = window.rules.minimum_calls;
            if !counts_toward_trip(w.kind()) {
                return WindowCounts::new(0, 0, 0, 0, minimum);
            }
            let t = if window.needs_time() { now.get() } else { 0 };
            let sums = window.sums(w.generation(), t);
            let slow_failed = window.slow_failed(w.generation(), t);
            WindowCounts::new(sums.calls, sums.failures, sums.slow, slow_failed, minimum)
        })
    }
}
