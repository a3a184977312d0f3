//! [`CircuitBreaker`]: anything that hands out a [`Breaker`] can protect a call.

use std::future::Future;
use std::sync::Arc;

use crate::breaker::Breaker;
use crate::call::classify::ErrorsAsFailures;
use crate::call::permit::Permit;
use crate::call::protected::Protected;
use crate::clock::Clock;
use crate::error::Rejected;

/// A handle to a [`Breaker`] that can run calls through it.
///
/// Implemented for [`Breaker`], `&Breaker`, `Arc<Breaker>` and the registry's
/// [`BreakerHandle`](crate::registry::BreakerHandle). Every method comes in two forms, as tokio's
/// `acquire` / `acquire_owned` do:
///
/// - [`call`](CircuitBreaker::call) and [`try_acquire`](CircuitBreaker::try_acquire) *borrow*
///   the handle: call them as often as you like on the same value, with no reference-count
///   write per call. The future borrows the breaker.
/// - [`call_owned`](CircuitBreaker::call_owned) and
///   [`try_acquire_owned`](CircuitBreaker::try_acquire_owned) *take* the handle (clone an `Arc`
///   or a handle first): the future owns it, so it is `'static` whenever the inner future is,
///   and can be spawned.
///
/// Implement the trait for your own handle types by saying how to reach the breaker.
///
/// ```
/// use std::sync::Arc;
/// use protego_breaker::{Breaker, CircuitBreaker, Config};
///
/// # futures::executor::block_on(async {
/// let shared = Arc::new(Breaker::new(Config::default()));
/// assert_eq!(shared.call(async { Ok::<_, ()>(1) }).await, Ok(1)); // borrows
/// assert_eq!(shared.call(async { Ok::<_, ()>(2) }).await, Ok(2)); // and again
///
/// let fut = Arc::clone(&shared).call_owned(async { Ok::<_, ()>(3) }); // owns: 'static
/// assert_eq!(fut.await, Ok(3));
/// # });
/// ```
pub trait CircuitBreaker {
    /// The clock of the breaker behind this handle.
    type Clock: Clock;

    /// The breaker behind this handle.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use protego_breaker::{Breaker, CircuitBreaker, Config, State};
    ///
    /// let shared = Arc::new(Breaker::new(Config::default()));
    /// assert_eq!(shared.breaker().state(), State::Closed);
    /// ```
    fn breaker(&self) -> &Breaker<Self::Clock>;

    /// Protects `fut`, borrowing the breaker: the returned future asks the breaker for admission
    /// when first polled, then either runs `fut` and records its outcome, or drops it unpolled
    /// and returns [`Error::Rejected`](crate::Error::Rejected).
    ///
    /// Dropping the returned future before it completes records nothing and, in half-open,
    /// gives its trial back. A panic inside `fut` counts as a failure and keeps unwinding.
    /// Which results count as failures is [`Protected::classify`]'s to change.
    ///
    /// ```
    /// use protego_breaker::{Breaker, CircuitBreaker, Config, Error};
    ///
    /// let breaker = Breaker::new(Config::default());
    /// let out = futures::executor::block_on(breaker.call(async { Err::<(), _>("refused") }));
    /// assert_eq!(out, Err(Error::Inner("refused")));
    /// assert_eq!(breaker.consecutive_failures(), 1);
    /// ```
    #[inline]
    fn call<F, T, E>(&self, fut: F) -> Protected<F, &Breaker<Self::Clock>>
    where
        F: Future<Output = Result<T, E>>,
    {
        Protected::new(self.breaker(), fut, ErrorsAsFailures)
    }

    /// Protects `fut` like [`call`](CircuitBreaker::call), taking this handle into the future:
    /// with an `Arc` or a [`BreakerHandle`](crate::registry::BreakerHandle), the future is `'static`
    /// whenever `fut` is, so it can be spawned.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use protego_breaker::{Breaker, CircuitBreaker, Config};
    ///
    /// fn assert_static<T: 'static>(_: &T) {}
    ///
    /// let breaker = Arc::new(Breaker::new(Config::default()));
    /// let fut = Arc::clone(&breaker).call_owned(async { Ok::<_, ()>(5) });
    /// assert_static(&fut);
    /// assert_eq!(futures::executor::block_on(fut), Ok(5));
    /// ```
    #[inline]
    fn call_owned<F, T, E>(self, fut: F) -> Protected<F, Self>
    where
        Self: Sized,
        F: Future<Output = Result<T, E>>,
    {
        Protected::new(self, fut, ErrorsAsFailures)
    }

    /// Asks for admission now, without a future, borrowing the breaker: a [`Permit`] to report
    /// the outcome with, or the [`Rejected`] error. For code that must know before it starts
    /// the call.
    ///
    /// ```
    /// use protego_breaker::{Breaker, CircuitBreaker, Config};
    ///
    /// let breaker = Breaker::new(Config::default());
    /// match breaker.try_acquire() {
    ///     Ok(permit) => permit.success(), // ran the call; it worked
    ///     Err(rejected) => println!("retry after {:?}", rejected.retry_after()),
    /// };
    /// ```
    ///
    /// # Errors
    /// [`Rejected`] when the circuit refuses the call, as [`call`](CircuitBreaker::call)'s
    /// future would.
    #[inline]
    fn try_acquire(&self) -> Result<Permit<&Breaker<Self::Clock>>, Rejected> {
        self.breaker().try_acquire_owned()
    }

    /// Like [`try_acquire`](CircuitBreaker::try_acquire), taking this handle into the permit, so
    /// that the permit can be moved anywhere (a spawned task, another thread).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use protego_breaker::{Breaker, CircuitBreaker, Config};
    ///
    /// let breaker = Arc::new(Breaker::new(Config::default()));
    /// let permit = Arc::clone(&breaker).try_acquire_owned().unwrap();
    /// std::thread::spawn(move || permit.success()).join().unwrap();
    /// ```
    ///
    /// # Errors
    /// [`Rejected`] when the circuit refuses the call.
    #[inline]
    fn try_acquire_owned(self) -> Result<Permit<Self>, Rejected>
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

impl<C: Clock> CircuitBreaker for Breaker<C> {
    type Clock = C;

    #[inline]
    fn breaker(&self) -> &Breaker<C> {
        self
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
