//! Half-open rounds: when a round has hung, how a decided round ends (its verdict), and how
//! many trial slots a replica has while a fleet decides the round.
//!
//! Relies on: a half-open payload is `successes << 16 | in_flight`; a round is one generation,
//! so its tallies (failed and slow trials, kept in the companion) are per generation and a new
//! round starts them at zero. Keeps: a round undecided for `max_half_open_duration` is replaced,
//! so the circuit is never stuck half-open.

use crate::machine::link::Link;
use crate::machine::outcome::Outcome;
use crate::machine::reason::Reason;
use crate::machine::word::{Word, CLOSED, OPEN};
use crate::machine::Machine;
use crate::sync::Ordering;

impl Machine {
    /// Whether the half-open round `w` went undecided for a whole `max_half_open_duration`
    /// (by default `reset_timeout`) by `t`: then it is replaced by a fresh round, and its
    /// trials' outcomes no longer count. (A round that began at `t` is never hung, even when
    /// time saturates.)
    pub(super) fn hung(&self, w: Word, t: u64) -> bool {
        let since = self.since(w);
        t >= since.saturating_add(self.knobs.max_half_open.load(Ordering::Relaxed)) && t > since
    }

    /// How a half-open round of generation `gen` with `finished` trials decided ends: the
    /// state it goes to, and why. Without the rate rule every trial must have succeeded (a
    /// failure counted while the rule was on still reopens).
    pub(super) fn round_verdict(&self, gen: u32, finished: u32) -> (u64, Reason) {
        let extras = self.companion_if_any();
        let failures = extras.map_or(0, |x| x.round_failures.get(gen));
        let rule = self.knobs.half_open();
        if !rule.by_rate() {
            return if failures == 0 {
                (CLOSED, Reason::TrialsSucceeded)
            } else {
                (OPEN, Reason::TrialFailed)
            };
        }
        let n = u64::from(finished.max(1));
        let (failure_rate, slow_rate) = (rule.failure_rate(), rule.slow_rate());
        if failures * 100 >= failure_rate * n {
            return (OPEN, Reason::FailureRate);
        }
        // Without slow-call tracking no trial is ever slow, so this cannot fire.
        if extras.map_or(0, |x| x.round_slow.get(gen)) * 100 >= slow_rate * n {
            return (OPEN, Reason::SlowCallRate);
        }
        (CLOSED, Reason::TrialsSucceeded)
    }

    /// Whether half-open rounds are decided by rate here (a fleet decides by its own rule).
    pub(super) fn rounds_by_rate(&self) -> bool {
        self.knobs.half_open().by_rate() && self.shared_budget().is_none()
    }

    /// By rate, every trial runs to an outcome and the last one decides the round. A trial's
    /// failed and slow marks are counted before the word says it finished, so whoever sees
    /// the round finished sees them.
    #[cold]
    pub(super) fn count_in_round(&self, w: Word, outcome: Outcome, slow: bool) {
        if outcome == Outcome::Failure {
            self.companion().round_failures.bump(w.generation());
        }
        if slow {
            self.companion().round_slow.bump(w.generation());
        }
    }

    /// While shared with a reachable fleet: this replica's trial budget for the round.
    #[inline]
    pub(super) fn shared_budget(&self) -> Option<u32> {
        self.link().and_then(Link::trial_budget)
    }

    /// Tells the fleet that a half-open call found no trial lease. Out of line: rare.
    #[cold]
    #[inline(never)]
    pub(super) fn want_trial(&self) {
        if let Some(link) = self.link() {
            link.trial_wanted();
        }
    }
}
