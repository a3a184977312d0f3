//! [`RetryExt`]: `.retry(&retrier, breaker)` on any closure that makes a fallible future.

use std::future::Future;

use crate::call::circuit_breaker::CircuitBreaker;
use crate::call::classify::ErrorsAsFailures;
use crate::retry::future::Retry;
use crate::retry::retrier::Retrier;

/// Retries a call through a breaker. A retry needs a fresh future per attempt, so this is
/// implemented for every closure `FnMut() -> impl Future<Output = Result<T, E>>`, beside
/// [`ProtectExt::protect`](crate::ProtectExt::protect) for a single future.
///
/// ```
/// use std::sync::Arc;
/// use protego_breaker::retry::{Retrier, RetryExt, RetryPolicy, TpsBudget};
/// use protego_breaker::{Registry, sleep::Sleep};
///
/// let registry = Registry::new();
/// let sleeper = |_: std::time::Duration| -> Sleep { Box::pin(std::future::ready(())) };
/// let retrier = Retrier::new(RetryPolicy::default(), Arc::new(TpsBudget::default()), Arc::new(sleeper));
/// let fetch = || async { Ok::<_, std::io::Error>(42) };
/// let out = futures::executor::block_on(fetch.retry(&retrier, registry.handle("quotes")));
/// assert_eq!(out.unwrap(), 42);
/// ```
pub trait RetryExt<Fut>: FnMut() -> Fut + Sized {
    /// Runs fresh futures from this closure through `breaker` (a `&Breaker`, an
    /// `Arc<Breaker>` or a registry's [`BreakerHandle`](crate::registry::BreakerHandle)) until
    /// one succeeds or the policy, the budget or the breaker says stop. See [`Retrier`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// use protego_breaker::retry::{Retrier, RetryExt, RetryPolicy, TpsBudget};
    /// use protego_breaker::{Breaker, Config, Error, sleep::Sleep};
    ///
    /// let sleeper = |_: std::time::Duration| -> Sleep { Box::pin(std::future::ready(())) };
    /// let retrier = Retrier::new(RetryPolicy::default(), Arc::new(TpsBudget::default()), Arc::new(sleeper));
    /// let breaker = Arc::new(Breaker::new(Config::default()));
    /// let down = || async { Err::<(), _>("down") };
    /// let out = futures::executor::block_on(down.retry(&retrier, Arc::clone(&breaker)));
    /// assert_eq!(out, Err(Error::Inner("down"))); // three attempts, all failed
    /// ```
    fn retry<B, T, E>(self, retrier: &Retrier, breaker: B) -> Retry<Self, Fut, B, ErrorsAsFailures>
    where
        Fut: Future<Output = Result<T, E>>,
        B: CircuitBreaker + Clone,
    {
        Retry::new(self, breaker, retrier.clone(), ErrorsAsFailures)
    }
}

impl<F, Fut> RetryExt<Fut> for F where F: FnMut() -> Fut {}

/// Makes a fresh future for each attempt of a retried call: every `FnMut() -> impl Future`
/// is one. Implement it for a type that cannot be a closure (the tower layer's attempt at its
/// service is one).
///
/// ```
/// use protego_breaker::retry::MakeAttempt;
///
/// let mut n = 0;
/// let mut make = || { n += 1; std::future::ready(Ok::<u32, ()>(n)) };
/// assert_eq!(futures::executor::block_on(make.make_attempt()), Ok(1));
/// ```
pub trait MakeAttempt {
    /// One attempt's future.
    type Future: Future;

    /// The next attempt.
    fn make_attempt(&mut self) -> Self::Future;
}

impl<F, Fut> MakeAttempt for F
where
    F: FnMut() -> Fut,
    Fut: Future,
{
    type Future = Fut;

    #[inline]
    fn make_attempt(&mut self) -> Fut {
        self()
    }
}
