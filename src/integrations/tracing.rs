//! `tracing` events (feature `tracing`): the crate's built-in [`Tap`] when the feature is on.
//!
//! Every breaker emits, with target `protego_breaker` and the breaker's name in the `breaker`
//! field:
//! - at `INFO`, "circuit state changed", with `from`, `to` and `reason`, on each transition;
//! - at `DEBUG`, "call rejected", with `state` and `retry_after_ms`, on each rejection.

use crate::machine::reason::Reason;
use crate::machine::state::State;
use crate::name::Name;
use crate::observe::tap::Tap;

/// The tap that turns transitions and rejections into `tracing` events.
pub(crate) struct TracingTap;

impl Tap for TracingTap {
    fn transition(name: &Name, from: State, to: State, reason: Reason) {
        tracing::info!(
            target: "protego_breaker",
            breaker = name.as_str().unwrap_or(""),
            %from,
            %to,
            %reason,
            "circuit state changed"
        );
    }

    fn rejection(name: &Name, state: State, retry_after: Option<u64>) {
        tracing::debug!(
            target: "protego_breaker",
            breaker = name.as_str().unwrap_or(""),
            state = %state,
            retry_after_ms = retry_after.map(|ns| ns / 1_000_000),
            "call rejected"
        );
    }
}
