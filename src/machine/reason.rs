//! [`Reason`]: why the machine made a transition. Defined here, beside
//! [`State`](super::state::State), because only the machine decides it; listeners, the tap and
//! the fleet read it (re-exported as `protego_breaker::observe::Reason`).

use std::fmt;

/// Why a circuit changed state.
///
/// ```
/// use protego_breaker::observe::Reason;
///
/// assert_eq!(Reason::FailureThreshold.to_string(), "failure threshold reached");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// `Closed` -> `Open`: `failure_threshold` consecutive failures.
    FailureThreshold,
    /// `Open` -> `HalfOpen`: the open period ended.
    OpenPeriodEnded,
    /// `Closed` -> `Open`: the failure rate in the window reached `failure_rate_threshold`.
    /// Also `HalfOpen` -> `Open` when [`half_open_by_rate`](crate::Config::half_open_by_rate)
    /// is on and the round's trials failed at that rate.
    FailureRate,
    /// `Closed` -> `Open`: the slow-call rate in the window reached
    /// `slow_call_rate_threshold` (or a half-open round's, with `half_open_by_rate`).
    SlowCallRate,
    /// `Closed` -> `Open`: the [trip rule](crate::Breaker::set_trip_rule) said so.
    TripRule,
    /// `HalfOpen` -> `Closed`: enough trials succeeded.
    TrialsSucceeded,
    /// `HalfOpen` -> `Open`: a trial failed.
    TrialFailed,
    /// [`Breaker::force_open`](crate::Breaker::force_open).
    ForcedOpen,
    /// [`Breaker::open_for`](crate::Breaker::open_for) or
    /// [`Breaker::open_until`](crate::Breaker::open_until): opened by hand for a time.
    OpenedByHand,
    /// [`Breaker::half_open`](crate::Breaker::half_open): a trial round started by hand.
    HalfOpenedByHand,
    /// [`Breaker::metrics_only`](crate::Breaker::metrics_only).
    MetricsOnly,
    /// [`Breaker::disable`](crate::Breaker::disable).
    Disabled,
    /// [`Breaker::reset`](crate::Breaker::reset).
    Reset,
    /// Adopted from the fleet's shared state (another replica tripped, closed, or changed the
    /// state by hand; see the `fleet` feature). Every other reason is this replica's own.
    Fleet,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reason::FailureThreshold => "failure threshold reached",
            Reason::FailureRate => "failure rate threshold reached",
            Reason::SlowCallRate => "slow call rate threshold reached",
            Reason::TripRule => "trip rule",
            Reason::OpenPeriodEnded => "open period ended",
            Reason::TrialsSucceeded => "trial calls succeeded",
            Reason::TrialFailed => "a trial call failed",
            Reason::ForcedOpen => "forced open",
            Reason::OpenedByHand => "opened by hand",
            Reason::HalfOpenedByHand => "half-opened by hand",
            Reason::MetricsOnly => "metrics only",
            Reason::Disabled => "disabled",
            Reason::Reset => "reset",
            Reason::Fleet => "adopted from the fleet",
        })
    }
}
