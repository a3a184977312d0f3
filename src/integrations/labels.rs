//! The states as metrics labels and the admin snapshot spell them: `snake_case`, resilience4j's
//! names.

use crate::machine::state::State;

/// `half_open` for [`State::HalfOpen`], and so on.
pub(crate) fn snake_name(state: State) -> &'static str {
    match state {
        State::Closed => "closed",
        State::Open => "open",
        State::HalfOpen => "half_open",
        State::ForcedOpen => "forced_open",
        State::Disabled => "disabled",
        State::MetricsOnly => "metrics_only",
    }
}
