//! [`CircuitBreaker`]: anything that hands out a [`Breaker`] can protect a call.

use std::future::Future;
use std::sync::Arc;

use crate::breaker::Breaker;
use crate::call::classify::{Classify, Standard};
use crate::call::permit::Permit;
use crate::call::protected::Protected;
use crate::clock::Clock;
use crate::error::Rejected;

/// A handle to a [`Breaker`] that can run calls through it.
///
/// Implemented for `&Breaker<C>` (so `breaker.call(..)` works on a `Breaker` by auto-reference,
/// and the future borrows the breaker) and for `Arc<Breaker<C>>` (the future owns the `Arc` and
/// is `'static` when the inner future is, so it can be spawned). Implement it for your own
/// handle types by saying how to reach the breaker.
///
/// ```
/// use std::sync::Arc;
/// use protego::{Breaker, CircuitBreaker, Config};
///
/// # futures::executor::block_on(async {
/// let breaker = Breaker::new(Config::default());
/// assert_eq!(breaker.call(async { Ok::<_, ()>(1) }).await, Ok(1)); // borrows
///
/// let shared = Arc::new(Breaker::new(Config::default()));
/// let fut = Arc::clone(&shared).call(async { Ok::<_, ()>(2) }); // owns: 'static
/// assert_eq!(fut.await, Ok(2));
/// # });
/// ```
pub trait CircuitBreaker {
    /// The clock of the breaker behind this handle.
    type Clock: Clock;

    /// The breaker behind this handle.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use protego::{Breaker, CircuitBreaker, Config, State};
    ///
    /// let shared = Arc::new(Breaker::new(Config::default()));
    /// assert_eq!(shared.breaker().state(), State::Closed);
    /// ```
    fn breaker(&self) -> &Breaker<Self::Clock>;

    /// Protects `fut`: the returned future asks the breaker for admission when first polled,
    /// then either runs `fut` and records its outcome, or drops it unpolled and returns
    /// [`Error::Rejected`](crate::Error::Rejected).
    ///
    /// Dropping the returned future before it completes records nothing and, in half-open,
    /// gives the trial slot back. A panic inside `fut` counts as a failure and keeps unwinding.
    ///
    /// ```
    /// use protego::{Breaker, CircuitBreaker, Config, Error};
    ///
    /// let breaker = Breaker::new(Config::default());
    /// let out = futures::executor::block_on(breaker.call(async { Err::<(), _>("refused") }));
    /// assert_eq!(out, Err(Error::Inner("refused")));
    /// assert_eq!(breaker.consecutive_failures(), 1);
    /// ```
    fn call<F, T, E>(self, fut: F) -> Protected<F, Self>
    where
        Self: Sized,
        F: Future<Output = Result<T, E>>,
    {
        Protected::new(self, fut, Standard)
    }

    /// Like [`call`](CircuitBreaker::call), with `classifier` deciding which results count
    /// as successes, failures or neither (see [`Classify`]). The caller gets the result
    /// unchanged.
    ///
    /// ```
    /// use protego::{Breaker, CircuitBreaker, Config, Outcome};
    ///
    /// let breaker = Breaker::new(Config::builder().failure_threshold(1).build()?);
    /// // An HTTP-like status: 5xx is the downstream failing, even though the call "worked".
    /// let by_status = |r: &Result<u16, std::io::Error>| match r {
    ///     Ok(status) if *status >= 500 => Outcome::Failure,
    ///     Ok(_) => Outcome::Success,
    ///     Err(_) => Outcome::Failure,
    /// };
    /// # futures::executor::block_on(async {
    /// let status = breaker.call_classified(async { Ok(502) }, by_status).await.unwrap();
    /// assert_eq!(status, 502);
    /// # });
    /// assert_eq!(breaker.state(), protego::State::Open);
    /// # Ok::<(), protego::ConfigError>(())
    /// ```
    fn call_classified<F, T, E, K>(self, fut: F, classifier: K) -> Protected<F, Self, K>
    where
        Self: Sized,
        F: Future<Output = Result<T, E>>,
        K: Classify<T, E>,
    {
        Protected::new(self, fut, classifier)
    }

    /// Asks for admission now, without a future: a [`Permit`] to report the outcome with, or
    /// the [`Rejected`] error. For code that must know before it starts the call.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use protego::{Breaker, CircuitBreaker, Config};
    ///
    /// let breaker = Arc::new(Breaker::new(Config::default()));
    /// match Arc::clone(&breaker).try_acquire() {
    ///     Ok(permit) => permit.success(), // ran the call; it worked
    ///     Err(rejected) => println!("retry after {:?}", rejected.retry_after()),
    /// }
    /// ```
    ///
    /// # Errors
    /// [`Rejected`] when the circuit refuses the call, as [`call`](CircuitBreaker::call)'s
    /// future would.
    fn try_acquire(self) -> Result<Permit<Self>, Rejected>
    where
        Self: Sized,
    {
        let breaker = self.breaker();
        match breaker.admit() {
            Ok(ticket) => Ok(Permit::new(self, ticket)),
            Err(refusal) => Err(breaker.rejected(refusal)),
        }
    }
}

impl<C: Clock> CircuitBreaker for &Breaker<C> {
    type Clock = C;

    #[inline]
    fn breaker(&self) -> &Breaker<C> {
        self
    }
}

impl<C: Clock> CircuitBreaker for Arc<Breaker<C>> {
    type Clock = C;

    #[inline]
    fn breaker(&self) -> &Breaker<C> {
        self
    }
}
