//! The tap: an observer chosen when the crate is compiled, which sees every transition and
//! every rejection of every breaker with no registration and, when it does nothing, no cost.
//! `lib.rs` picks it: `tracing` events with the `tracing` feature, nothing without. A listener
//! ([`Breaker::on_transition`](crate::Breaker::on_transition)) is the run-time way to observe
//! one breaker; the tap is for what every breaker of a build reports.

use crate::machine::reason::Reason;
use crate::machine::state::State;
use crate::name::Name;

/// What the built-in observer is told. Called outside every lock of the breaker.
pub(crate) trait Tap {
    /// A committed transition that listeners see too (a change of state, or a metrics-only
    /// breaker's would-be trip).
    fn transition(name: &Name, from: State, to: State, reason: Reason);

    /// A refused call; `retry_after` in nanoseconds.
    fn rejection(name: &Name, state: State, retry_after: Option<u64>);
}
