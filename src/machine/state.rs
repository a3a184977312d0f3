//! The [`State`] a circuit is in.

use std::fmt;

/// Where a circuit stands.
///
/// ```
/// use protego_breaker::{Breaker, Config, State};
///
/// let breaker = Breaker::new(Config::default());
/// assert_eq!(breaker.state(), State::Closed);
/// assert_eq!(State::HalfOpen.to_string(), "half-open");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
// The discriminants keep 5 and up free, as they were before `MetricsOnly`: the types that
// carry a `State` (a rejection, a call's output) encode their own variants in those values,
// and the closed-path code that tests them compiles as it did (measured: a sixth variant at 5
// cost the closed success bench ~0.5 ns through register allocation alone).
#[repr(u8)]
pub enum State {
    /// Every call is admitted; consecutive failures are counted.
    Closed,
    /// Every call is rejected at once, until `reset_timeout` has passed since the circuit opened.
    Open,
    /// A round of at most `half_open_retries` trial calls is admitted; the others are rejected.
    HalfOpen,
    /// Set by hand with [`Breaker::force_open`](crate::Breaker::force_open): every call is
    /// rejected, with no `retry_after`, until [`Breaker::reset`](crate::Breaker::reset).
    ForcedOpen,
    /// Set by hand with [`Breaker::disable`](crate::Breaker::disable): every call is admitted
    /// and no outcome is recorded, until [`Breaker::reset`](crate::Breaker::reset).
    Disabled,
    /// Set by hand with [`Breaker::metrics_only`](crate::Breaker::metrics_only), or as the
    /// [`initial_state`](crate::Config::initial_state): every call is admitted and every
    /// outcome is counted as in Closed (consecutive failures, window, totals, trip rule), but
    /// the circuit never opens. Where it would have opened, listeners see a
    /// `metrics-only -> metrics-only` transition with the reason it would have opened for, and
    /// the counts start over as after a real trip.
    MetricsOnly = 255,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half-open",
            State::ForcedOpen => "forced-open",
            State::Disabled => "disabled",
            State::MetricsOnly => "metrics-only",
        })
    }
}
