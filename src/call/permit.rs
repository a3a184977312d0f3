//! [`Permit`]: admission without a future, for code that must decide before it starts a call.

use std::fmt;

use crate::breaker::Breaker;
use crate::call::circuit_breaker::CircuitBreaker;
use crate::machine::outcome::Outcome;
use crate::machine::word::Ticket;

/// One admitted call, from [`CircuitBreaker::try_acquire`]: report its outcome with
/// [`record`](Permit::record) (or [`success`](Permit::success) /
/// [`failure`](Permit::failure)).
///
/// For code that is not a single future, or that must know whether a call may run before it
/// builds it (a tower service must not call its inner service for a rejected request). A
/// permit dropped without a verdict is an ignored outcome, like a cancelled call (a half-open
/// trial goes back to the round); one dropped while its thread is panicking is a failure, like a panicking
/// call.
///
/// ```
/// use protego_breaker::{Breaker, CircuitBreaker, Config, State};
///
/// let breaker = Breaker::new(Config::builder().failure_threshold(1).build()?);
/// let permit = breaker.try_acquire().expect("closed: admitted");
/// // ... run the call, by any means ...
/// permit.failure();
/// assert_eq!(breaker.state(), State::Open);
/// let rejected = breaker.try_acquire().unwrap_err();
/// assert_eq!(rejected.state(), State::Open);
/// # Ok::<(), protego_breaker::ConfigError>(())
/// ```
#[must_use = "a permit dropped at once records nothing; report the call's outcome"]
pub struct Permit<B: CircuitBreaker> {
    handle: B,
    ticket: Ticket,
}

impl<B: CircuitBreaker> Permit<B> {
    pub(crate) fn new(handle: B, ticket: Ticket) -> Self {
        Permit { handle, ticket }
    }

    /// Reports the call's outcome.
    ///
    /// ```
    /// use protego_breaker::{Breaker, CircuitBreaker, Config, call::Outcome};
    ///
    /// let breaker = Breaker::new(Config::default());
    /// breaker.try_acquire().unwrap().record(Outcome::Failure);
    /// assert_eq!(breaker.consecutive_failures(), 1);
    /// ```
    pub fn record(mut self, outcome: Outcome) {
        let ticket = std::mem::replace(&mut self.ticket, Ticket::DONE);
        self.handle.breaker().record(ticket, outcome);
    }

    /// Reports a success.
    ///
    /// ```
    /// use protego_breaker::{Breaker, CircuitBreaker, Config};
    ///
    /// let breaker = Breaker::new(Config::default());
    /// breaker.try_acquire().unwrap().failure();
    /// breaker.try_acquire().unwrap().success();
    /// assert_eq!(breaker.consecutive_failures(), 0);
    /// ```
    pub fn success(self) {
        self.record(Outcome::Success);
    }

    /// Reports a failure.
    ///
    /// ```
    /// use protego_breaker::{Breaker, CircuitBreaker, Config};
    ///
    /// let breaker = Breaker::new(Config::default());
    /// breaker.try_acquire().unwrap().failure();
    /// assert_eq!(breaker.consecutive_failures(), 1);
    /// ```
    pub fn failure(self) {
        self.record(Outcome::Failure);
    }

    /// Reports an overload (a timeout, a 429, a 503): shed, not counted as a failure while
    /// the downstream completes calls (see [`Outcome::Overload`]).
    ///
    /// ```
    /// use protego_breaker::{Breaker, CircuitBreaker, Config};
    ///
    /// let breaker = Breaker::new(Config::default());
    /// breaker.try_acquire().unwrap().overload();
    /// assert_eq!(breaker.consecutive_failures(), 0);
    /// assert!(breaker.shed_limit().is_some());
    /// ```
    pub fn overload(self) {
        self.record(Outcome::Overload);
    }

    /// The breaker this permit came from.
    ///
    /// ```
    /// use protego_breaker::{Breaker, CircuitBreaker, Config};
    ///
    /// let breaker = Breaker::new(Config::default()).named("db");
    /// let permit = breaker.try_acquire().unwrap();
    /// assert_eq!(permit.breaker().name(), Some("db"));
    /// permit.success();
    /// ```
    pub fn breaker(&self) -> &Breaker<B::Clock> {
        self.handle.breaker()
    }
}

impl<B: CircuitBreaker> Drop for Permit<B> {
    fn drop(&mut self) {
        let ticket = std::mem::replace(&mut self.ticket, Ticket::DONE);
        if ticket.is_call() {
            let outcome = if std::thread::panicking() {
                Outcome::Failure
            } else {
                Outcome::Ignored
            };
            self.handle.breaker().record(ticket, outcome);
        }
    }
}

impl<B: CircuitBreaker> fmt::Debug for Permit<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("breaker", &self.handle.breaker().name())
            .finish_non_exhaustive()
    }
}
