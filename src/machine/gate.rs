//! The admission gate: the one named hook through which a rule of admission beyond the state
//! machine's own (the adaptive throttle of `crate::throttle`) refuses calls that a closed
//! circuit would admit, and hears how the calls it let through ended.
//!
//! Costs nothing without one: a breaker with no gate never looks. Attaching one sets the word's
//! out-of-line bit (see `refresh_paths`), so the inlined fast paths send every call to
//! `admit_out_of_line` and `record_out_of_line`, which ask the gate. Keeps: only a call admitted
//! in Closed is put to the gate (not metrics-only, which only observes), so a refusal never holds a half-open trial
//! and the machine's own rules are untouched; a refusal is a rejection like any other
//! (counted, heard by rejection listeners) with state Closed and no `retry_after`. The gate is
//! set once and never removed; it runs under no lock.

use std::sync::Arc;

use crate::machine::outcome::Outcome;
use crate::machine::word::{Ticket, Word, CLOSED};
use crate::machine::{Machine, Now};
use crate::sync::lock;

/// A rule of admission consulted after the machine admitted a call in Closed.
pub(crate) trait Gate: Send + Sync {
    /// Whether the call admitted at `now` (ns on the breaker's clock) goes ahead.
    fn admit(&self, now: u64) -> bool;
    /// How a call the gate let through ended, at `now`.
    fn record(&self, now: u64, outcome: Outcome);
}

impl Machine {
    /// Attaches `gate`; `false` if the breaker already has one (the first stays).
    pub(crate) fn set_gate(&self, gate: Arc<dyn Gate>) -> bool {
        let config = lock(&self.transition_lock);
        if self.companion().gate.set(gate).is_err() {
            return false;
        }
        self.refresh_paths(&config);
        true
    }

    /// Whether a gate is attached.
    #[inline]
    pub(super) fn has_gate(&self) -> bool {
        self.companion_if_any()
            .is_some_and(|x| x.gate.get().is_some())
    }

    /// Asks the gate, if there is one and `ticket` was admitted in Closed, whether the call
    /// goes ahead.
    pub(super) fn gate_admits<F: FnMut() -> u64>(&self, ticket: Ticket, now: &mut Now<F>) -> bool {
        match self.gate_for(ticket) {
            Some(gate) => gate.admit(now.get()),
            None => true,
        }
    }

    /// Tells the gate, if there is one and `ticket` was admitted in Closed, how the call ended.
    pub(super) fn gate_records<F: FnMut() -> u64>(
        &self,
        ticket: Ticket,
        outcome: Outcome,
        now: &mut Now<F>,
    ) {
        if let Some(gate) = self.gate_for(ticket) {
            gate.record(now.get(), outcome);
        }
    }

    #[inline]
    fn gate_for(&self, ticket: Ticket) -> Option<&dyn Gate> {
        if Word(u64::from(ticket.epoch)).kind() != CLOSED {
            return None;
        }
        self.companion_if_any()?.gate.get().map(|gate| &**gate)
    }
}
