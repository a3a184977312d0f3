//! Recording: what a finished call's outcome does to the word.
//!
//! Owns `record` (inlined: a clean closed success is one load and one compare, no write) and
//! `record_out_of_line` for every other case: the closed failure count, half-open trial successes and
//! failures, and the hand-off to a window or a trip rule when the word's out-of-line bit is set.
//!
//! Relies on: an outcome counts only while the word still carries the ticket's epoch (late
//! outcomes change nothing). Keeps: the closed count changes by a lock-free compare-and-swap of
//! the payload, never of the epoch; reaching `failure_threshold` goes through `transition`, so
//! exactly one caller makes each trip. Tells the fleet link of a changed closed count and of a
//! trial's end, outside every lock.

use crate::machine::outcome::Outcome;
use crate::machine::reason::Reason;
use crate::machine::word::{
    Ticket, Word, CLOSED, COUNT, DISABLED, HALF_OPEN, METRICS_ONLY, NOT_TIMED, OPEN, OUT_OF_LINE,
    PATHS, SAMPLED,
};
use crate::machine::{Machine, Now};
use crate::sync::Ordering;

impl Machine {
    /// Records the outcome of a call admitted with `ticket`, reading the clock through `read`
    /// only off the closed paths (taken by value, as in `admit`). An outcome from an epoch that
    /// is no longer current changes nothing.
    // Always: as `admit`.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    pub(crate) fn record<F: FnMut() -> u64 + Copy>(
        &self,
        ticket: Ticket,
        outcome: Outcome,
        read: F,
    ) {
        // The closed success path with nothing to reset, inlined into the caller: one load, no
        // write. (A ticket's epoch with a zero payload and no out-of-line or count bit is exactly
        // this closed stretch, clean.)
        let w = self.load();
        if outcome == Outcome::Success && w.kind() == CLOSED {
            if w.0 == u64::from(ticket.epoch) {
                return;
            }
            // The same with totals (and no window or rule): counted inline.
            if w.0 == u64::from(ticket.epoch | COUNT) {
                self.counters.finished(Outcome::Success);
                return;
            }
        }
        self.record_slow(w, ticket, outcome, read);
    }

    /// Makes the [`Now`] of every outcome off the closed paths, out of line.
    #[inline(never)]
    fn record_slow<F: FnMut() -> u64>(&self, w: Word, ticket: Ticket, outcome: Outcome, read: F) {
        self.record_out_of_line(w, ticket, outcome, &mut Now::new(read));
    }

    #[inline]
    pub(super) fn record_out_of_line<F: FnMut() -> u64>(
        &self,
        mut w: Word,
        ticket: Ticket,
        outcome: Outcome,
        now: &mut Now<F>,
    ) {
        // A timed closed call: heard by the sensor (`sense.rs`), then recorded as any other.
        let ticket = self.heard_if_timed(ticket, outcome, now);
        // The admission gate and overload shedding (see `gate.rs`, `shed.rs`).
        let given = outcome;
        let outcome = self.gate_records(w, ticket, outcome, now);
        // Totals or a window: with both off (the default) this is one test of a register.
        let mut slow = false;
        if w.low() & PATHS != 0 {
            match self.record_counted(w, ticket, given, outcome, now) {
                Some(is_slow) => slow = is_slow,
                None => return,
            }
        }
        let mut told_fleet = false;
        let mut counted_in_round = false;
        loop {
            if w.epoch() != ticket.epoch {
                return;
            }
            if w.kind() == HALF_OPEN {
                if self.hung(w, now.get()) {
                    // Nobody called since the round hung: replace it now, so this late outcome
                    // (of a trial of the old round) counts for nothing.
                    w = self.transition(w, HALF_OPEN, now, Reason::OpenPeriodEnded, |_| true);
                    continue;
                }
                if !told_fleet {
                    told_fleet = true;
                    if let Some(link) = self.link() {
                        link.trial_finished(outcome);
                    }
                }
            }
            let next = match (w.kind(), outcome) {
                (CLOSED | METRICS_ONLY, Outcome::Success) => {
                    if w.payload() == 0 {
                        return;
                    }
                    w.with_payload(0)
                }
                (CLOSED | METRICS_ONLY, Outcome::Failure) => {
                    let failures = w.payload().saturating_add(1);
                    // A trip rule sets the out-of-line bit: without it this is one test of a
                    // register.
                    if w.low() & OUT_OF_LINE != 0 && self.has_rule() {
                        match self.failure_by_rule(w, failures, now) {
                            Ok(()) => return,
                            Err(actual) => {
                                w = actual;
                                continue;
                            }
                        }
                    }
                    let threshold = self.knobs.failure_threshold.load(Ordering::Relaxed);
                    if failures >= threshold {
                        let to = Self::trip_to(w.kind());
                        w = self.transition(w, to, now, Reason::FailureThreshold, |c| {
                            c.payload().saturating_add(1) >= threshold
                        });
                        continue;
                    }
                    w.with_payload(failures)
                }
                (HALF_OPEN, Outcome::Success | Outcome::Failure) if self.rounds_by_rate() => {
                    if !counted_in_round {
                        counted_in_round = true;
                        self.count_in_round(w, outcome, slow);
                    }
                    let finished = w.successes() + 1;
                    let slots = self.knobs.half_open().trials();
                    if finished >= slots {
                        let (to, reason) = self.round_verdict(w.generation(), finished);
                        w = self.transition(w, to, now, reason, |c| c.successes() + 1 >= slots);
                        continue;
                    }
                    w.with_trials(w.in_flight().saturating_sub(1), finished)
                }
                (HALF_OPEN, Outcome::Success) => {
                    let successes = w.successes() + 1;
                    let slots = self.knobs.half_open().trials();
                    // Shared: the fleet closes the round when enough trials succeeded anywhere.
                    if successes >= slots && self.shared_budget().is_none() {
                        let (to, reason) = self.round_verdict(w.generation(), successes);
                        w = self.transition(w, to, now, reason, |c| c.successes() + 1 >= slots);
                        continue;
                    }
                    w.with_trials(w.in_flight().saturating_sub(1), successes)
                }
                (HALF_OPEN, Outcome::Failure) => {
                    w = self.transition(w, OPEN, now, Reason::TrialFailed, |_| true);
                    continue;
                }
                (HALF_OPEN, Outcome::Ignored) => {
                    w.with_trials(w.in_flight().saturating_sub(1), w.successes())
                }
                // Closed ignores cancellations; no ticket is ever issued while Open or forced
                // open; Disabled records nothing.
                _ => return,
            };
            match self.try_swap(w, next) {
                Ok(()) => {
                    if w.kind() == CLOSED {
                        self.failures_changed();
                    }
                    return;
                }
                Err(actual) => w = actual,
            }
        }
    }

    /// A call's ticket as recording counts it: a timed one (marked `SAMPLED`) is first heard
    /// by the sensor, out of line.
    #[inline]
    fn heard_if_timed<F: FnMut() -> u64>(
        &self,
        ticket: Ticket,
        outcome: Outcome,
        now: &mut Now<F>,
    ) -> Ticket {
        if ticket.epoch & SAMPLED == 0 {
            return ticket;
        }
        self.sampled_ended(ticket, outcome, now)
    }

    /// A timed closed call ended: the sensor hears its latency if it succeeded, and shedding
    /// starts if the sensor says so. Returns the ticket as any other call's (unmarked, untimed:
    /// it was not counted in by shedding).
    #[inline(never)]
    fn sampled_ended<F: FnMut() -> u64>(
        &self,
        ticket: Ticket,
        outcome: Outcome,
        now: &mut Now<F>,
    ) -> Ticket {
        if outcome == Outcome::Success && Word(u64::from(ticket.epoch)).kind() == CLOSED {
            let latency = now.get().saturating_sub(ticket.started);
            self.heard(latency, now);
        }
        Ticket {
            epoch: ticket.epoch & !SAMPLED,
            started: NOT_TIMED,
        }
    }

    /// The closed state's consecutive-failure count changed (a failure below the threshold,
    /// or the success that reset a non-zero count): tells the fleet, if the breaker has one.
    /// Off the clean closed path; without a fleet, one load of the companion pointer (and of
    /// its link slot when there is a companion).
    #[inline]
    pub(super) fn failures_changed(&self) {
        if let Some(link) = self.link() {
            link.failures_changed();
        }
    }

    /// The out-of-line bit's part of recording: counts the outcome (a slow one too, whatever the
    /// state, the classification or the epoch: every admitted call that took at least
    /// `slow_call_duration` is slow), and records it in the window if there is one and the
    /// circuit is closed (or metrics-only). Returns `None` if the window took it, otherwise
    /// whether the call was slow. Out of line, so that the default failure path stays small.
    /// The totals count the outcome as `given` (an overload as a failure), the rest as the
    /// circuit's rules count it.
    #[inline(never)]
    pub(super) fn record_counted<F: FnMut() -> u64>(
        &self,
        w: Word,
        ticket: Ticket,
        given: Outcome,
        outcome: Outcome,
        now: &mut Now<F>,
    ) -> Option<bool> {
        self.counters.finished(given);
        let admitted_in = Word(u64::from(ticket.epoch));
        if let Some(extras) = self.counting() {
            if admitted_in.kind() != DISABLED {
                extras.finished(admitted_in.generation(), outcome);
            }
        }
        self.with_window(|window| self.record_counted_in(w, window, ticket, outcome, now))
            .unwrap_or(Some(false))
    }
}
