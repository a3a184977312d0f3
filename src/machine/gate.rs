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
//!
//! Overload shedding (`shed.rs`) is asked and told here too, by the same rules: the first
//! `Outcome::Overload` makes it (in the companion), and it sets the out-of-line bit only while
//! it sheds. An overload of a call admitted in Closed is shedding's to judge; in any other
//! state it is a failure.

use std::sync::Arc;

use crate::machine::outcome::Outcome;
use crate::machine::sense::Sensor;
use crate::machine::shed::Shed;
use crate::machine::word::{Ticket, Word, CLOSED, NOT_TIMED, OUT_OF_LINE};
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

    /// Asks overload shedding and the gate, if there is one and `ticket` was admitted in
    /// Closed, whether the call goes ahead.
    pub(super) fn gate_admits<F: FnMut() -> u64>(
        &self,
        ticket: &mut Ticket,
        now: &mut Now<F>,
    ) -> bool {
        if Word(u64::from(ticket.epoch)).kind() != CLOSED {
            return true;
        }
        if let Some(shed) = self.shed() {
            if shed.active() && !shed.admit(now.get(), &mut ticket.started) {
                self.counters.shed();
                return false;
            }
        }
        match self.gate_for(*ticket) {
            Some(gate) => gate.admit(now.get()),
            None => true,
        }
    }

    /// Tells overload shedding and the gate how a call admitted with `ticket` ended, and
    /// returns the outcome as the circuit's own rules count it: an overload of a call admitted
    /// in Closed is shedding's to judge (see `shed.rs`), in any other state a failure. With
    /// neither the out-of-line bit nor an overload, one test of a register.
    #[inline]
    pub(super) fn gate_records<F: FnMut() -> u64>(
        &self,
        w: Word,
        ticket: Ticket,
        outcome: Outcome,
        now: &mut Now<F>,
    ) -> Outcome {
        if w.low() & OUT_OF_LINE == 0 && outcome != Outcome::Overload {
            return outcome;
        }
        if Word(u64::from(ticket.epoch)).kind() != CLOSED {
            return outcome.as_failure();
        }
        if let Some(gate) = self.gate_for(ticket) {
            gate.record(now.get(), outcome.as_failure());
        }
        let shed = if outcome == Outcome::Overload {
            self.shed_made()
        } else {
            match self.shed() {
                Some(shed) if shed.active() => shed,
                _ => return outcome,
            }
        };
        let recorded = shed.record(now.get(), ticket.started, outcome);
        // A success let in while shedding was timed: the sensor learns its latency.
        if outcome == Outcome::Success && ticket.started != NOT_TIMED {
            let latency = now.get().saturating_sub(ticket.started);
            if let Some(sensor) = self.sensor() {
                sensor.hear(latency, false);
            }
        }
        if recorded.toggled {
            let config = lock(&self.transition_lock);
            self.refresh_paths(&config);
        }
        recorded.outcome
    }

    /// Hears that a timed closed call succeeded after `latency` (ns): if the sensor says so
    /// and shedding is not on yet, it starts (see `sense.rs`).
    pub(super) fn heard<F: FnMut() -> u64>(&self, latency: u64, now: &mut Now<F>) {
        let shedding = self.shed().is_some_and(Shed::active);
        let sensor = self.sensor_made();
        if !sensor.hear(latency, !shedding) {
            return;
        }
        if self.shed_made().sense(now.get(), sensor.threshold()) {
            let config = lock(&self.transition_lock);
            self.refresh_paths(&config);
        }
    }

    /// While overload shedding is on: its limit on calls in flight.
    pub(crate) fn shed_limit(&self) -> Option<u64> {
        self.shed()?.limit()
    }

    /// Overload shedding, if an overload ever made it.
    #[inline]
    pub(super) fn shed(&self) -> Option<&Shed> {
        self.companion_if_any()?.shed.get()
    }

    /// The latency sensor, if a timed success ever made it.
    #[inline]
    pub(super) fn sensor(&self) -> Option<&Sensor> {
        self.companion_if_any()?.sensor.get()
    }

    /// The latency sensor, made by the first timed success from the config of the moment (as
    /// `shed_made`).
    fn sensor_made(&self) -> &Sensor {
        self.companion()
            .sensor
            .get_or_init(|| Sensor::new(&lock(&self.transition_lock)))
    }

    /// Overload shedding, made on the first overload from the config of the moment (under the
    /// transition lock, so that a concurrent `reconfigure` is not missed).
    fn shed_made(&self) -> &Shed {
        self.companion()
            .shed
            .get_or_init(|| Shed::new(&lock(&self.transition_lock)))
    }

    #[inline]
    fn gate_for(&self, ticket: Ticket) -> Option<&dyn Gate> {
        if Word(u64::from(ticket.epoch)).kind() != CLOSED {
            return None;
        }
        self.companion_if_any()?.gate.get().map(|gate| &**gate)
    }
}
