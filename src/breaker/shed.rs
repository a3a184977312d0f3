//! What a breaker says of its overload shedding (see [`Outcome::Overload`](crate::call::Outcome)).

use super::Breaker;
use crate::clock::Clock;

impl<C: Clock> Breaker<C> {
    /// While the breaker sheds overload: its limit on calls in flight (calls admitted in
    /// Closed beyond it are refused at once, with state Closed and no `retry_after`); `None`
    /// when it does not shed. Local to this breaker, on this replica: a fleet shares none of it.
    ///
    /// ```
    /// use protego_breaker::{Breaker, CircuitBreaker, Config, call::Outcome};
    ///
    /// let breaker = Breaker::new(Config::default());
    /// assert_eq!(breaker.shed_limit(), None);
    /// breaker.try_acquire().unwrap().record(Outcome::Overload);
    /// assert!(breaker.shed_limit().is_some());
    /// ```
    pub fn shed_limit(&self) -> Option<u64> {
        self.machine.shed_limit()
    }
}
