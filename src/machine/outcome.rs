//! The [`Outcome`] of a finished call: what the machine records. Defined here, beside
//! [`State`](super::state::State), because the machine decides on it; the call layer's
//! classifiers produce it (re-exported as `protego_breaker::call::Outcome`).

/// What one finished call means for its breaker.
///
/// ```
/// use protego_breaker::call::Outcome;
///
/// assert_ne!(Outcome::Success, Outcome::Ignored);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The downstream did its job: resets the consecutive failure count, and counts as a
    /// successful trial in half-open.
    Success,
    /// The downstream failed: counts towards opening the circuit, and reopens it in half-open.
    Failure,
    /// Neither: the count is left as it is, and a half-open trial is given back to the round
    /// with no verdict. A cancelled call is always ignored.
    Ignored,
}
