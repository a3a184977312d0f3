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
    /// The downstream is overloaded, not down: a timeout, a slow answer, a 429, a 503, a gRPC
    /// `RESOURCE_EXHAUSTED` or a pushback header. In Closed it never counts towards opening the
    /// circuit: it feeds the breaker's overload shedding (see
    /// [`Config::shed_overload`](crate::Config::shed_overload)), which lets through about the
    /// calls the downstream is completing and refuses the rest at once. Only when the
    /// downstream completes nothing at all for
    /// [`shed_outage_after`](crate::Config::shed_outage_after) does an overload count as a
    /// failure (an outage that answers with timeouts opens the circuit). In half-open it is a
    /// failed trial. Not retried (a refusal while shedding is waited out instead); a failure
    /// for the retry budgets and the call totals.
    ///
    /// ```
    /// use protego_breaker::{Breaker, CircuitBreaker, Config, State, call::Outcome};
    ///
    /// let breaker = Breaker::new(Config::default()); // opens after 3 consecutive failures
    /// for _ in 0..10 {
    ///     breaker.try_acquire().map(|p| p.record(Outcome::Overload)).ok();
    /// }
    /// assert_eq!(breaker.state(), State::Closed); // overload is shed, not an outage
    /// assert_eq!(breaker.consecutive_failures(), 0);
    /// ```
    Overload,
}

impl Outcome {
    /// The outcome as the circuit's own rules count it outside overload shedding: an overload
    /// is a failure.
    #[inline]
    pub(crate) fn as_failure(self) -> Outcome {
        if self == Outcome::Overload {
            Outcome::Failure
        } else {
            self
        }
    }
}
