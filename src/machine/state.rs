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
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half-open",
            State::ForcedOpen => "forced-open",
            State::Disabled => "disabled",
        })
    }
}

impl State {
    /// The state in `snake_case` (`half_open`), as metrics labels and the admin snapshot spell
    /// it: resilience4j's names.
    #[cfg(any(feature = "metrics", feature = "serde"))]
    pub(crate) fn snake_name(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
            State::ForcedOpen => "forced_open",
            State::Disabled => "disabled",
        }
    }
}
