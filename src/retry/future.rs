//! [`Retry`]: the future of a retried call.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project::pin_project;

use crate::call::circuit_breaker::CircuitBreaker;
use crate::call::classify::{Classify, Outcome};
use crate::call::permit::Permit;
use crate::clock::Clock;
use crate::error::{Error, Rejected};
use crate::machine::state::State;
use crate::retry::ext::MakeAttempt;
use crate::retry::retrier::Retrier;
use crate::sleep::Sleep;

/// A retried call: made by [`RetryExt::retry`](crate::retry::RetryExt::retry) or
/// [`Retrier::call`]. Resolves to the last attempt's result, as
/// [`Protected`](crate::call::Protected) would: `Ok`, [`Error::Inner`] or
/// [`Error::Rejected`]. See [`Retrier`] for the rules.
///
/// Dropped mid-attempt, it drops the attempt's future and gives the breaker its permit back
/// unjudged (a half-open trial returns to the round), as a dropped `Protected` does.
///
/// ```
/// # use std::sync::Arc;
/// # use protego_breaker::retry::{Retrier, RetryExt, RetryPolicy, TpsBudget};
/// use protego_breaker::{Breaker, Config, call::Outcome};
/// # let sleeper = |_: std::time::Duration| -> protego_breaker::sleep::Sleep { Box::pin(std::future::ready(())) };
/// let retrier = Retrier::new(RetryPolicy::default(), Arc::new(TpsBudget::default()), Arc::new(sleeper));
/// let breaker = Breaker::new(Config::default());
/// // "not found" is the caller's business: not retried, not a failure.
/// let lookup = || async { Err::<u32, _>("not found") };
/// let fut = lookup.retry(&retrier, &breaker).classify(|_: &Result<u32, &str>| Outcome::Ignored);
/// assert!(futures::executor::block_on(fut).is_err());
/// assert_eq!(breaker.consecutive_failures(), 0);
/// ```
#[pin_project(project = RetryProj)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Retry<F, Fut, B: CircuitBreaker, K> {
    /// The running attempt's permit. Declared before the attempt, so a dropped retry gives the
    /// permit back before it drops the attempt's future, as `Protected` does.
    permit: Option<Permit<B>>,
    #[pin]
    attempt: Option<Fut>,
    sleep: Option<Sleep>,
    make: F,
    handle: B,
    retrier: Retrier,
    classify: K,
    /// Attempts started (admitted or rejected).
    attempts: u32,
    /// A retry the budget granted that no admitted attempt has used yet.
    granted: bool,
}

impl<F, Fut, B, K> Retry<F, Fut, B, K>
where
    B: CircuitBreaker,
{
    pub(crate) fn new(make: F, handle: B, retrier: Retrier, classify: K) -> Self {
        Retry {
            permit: None,
            attempt: None,
            sleep: None,
            make,
            handle,
            retrier,
            classify,
            attempts: 0,
            granted: false,
        }
    }

    /// Classifies each attempt's result with `classify` instead: only a
    /// [`Failure`](Outcome::Failure) is retried (not an [`Overload`](Outcome::Overload)), and
    /// the breaker and the budget see the same outcome.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use protego_breaker::retry::{Retrier, RetryExt, RetryPolicy, TpsBudget};
    /// use protego_breaker::{Breaker, Config, call::Outcome};
    /// # let sleeper = |_: std::time::Duration| -> protego_breaker::sleep::Sleep { Box::pin(std::future::ready(())) };
    /// # let retrier = Retrier::new(RetryPolicy::default(), Arc::new(TpsBudget::default()), Arc::new(sleeper));
    /// let breaker = Breaker::new(Config::default());
    /// // A 503 in an `Ok` is a failure: retried.
    /// let status = || async { Ok::<u16, ()>(503) };
    /// let fut = status.retry(&retrier, &breaker).classify(|r: &Result<u16, ()>| match r {
    ///     Ok(s) if *s >= 500 => Outcome::Failure,
    ///     Ok(_) => Outcome::Success,
    ///     Err(()) => Outcome::Failure,
    /// });
    /// assert_eq!(futures::executor::block_on(fut), Ok(503)); // the last attempt's result
    /// assert_eq!(breaker.state(), protego_breaker::State::Open); // three failures
    /// ```
    pub fn classify<K2>(self, classify: K2) -> Retry<F, Fut, B, K2> {
        Retry {
            permit: self.permit,
            attempt: self.attempt,
            sleep: self.sleep,
            make: self.make,
            handle: self.handle,
            retrier: self.retrier,
            classify,
            attempts: self.attempts,
            granted: self.granted,
        }
    }
}

impl<F, Fut, B, K, T, E> Future for Retry<F, Fut, B, K>
where
    F: MakeAttempt<Future = Fut>,
    Fut: Future<Output = Result<T, E>>,
    B: CircuitBreaker + Clone,
    K: Classify<T, E>,
{
    type Output = Result<T, Error<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if *this.attempts == 0 {
            // The first poll: deposit, ask the breaker, and poll the attempt with its permit
            // held here, so that an attempt ready at once (most calls) settles without the
            // loop's sleep and rejection arms or a round trip of the permit through `self`.
            let now = this.handle.breaker().clock().now();
            this.retrier.budget().deposit(now);
            *this.attempts = 1;
            // `try_acquire_owned`, spelled out: the retry path below calls it too, and two
            // calls of it in one function are not inlined.
            match this.handle.breaker().admit() {
                Ok(ticket) => {
                    let permit = Permit::new(this.handle.clone(), ticket);
                    this.attempt.set(Some(this.make.make_attempt()));
                    if let Some(attempt) = this.attempt.as_mut().as_pin_mut() {
                        let Poll::Ready(result) = attempt.poll(cx) else {
                            *this.permit = Some(permit);
                            return Poll::Pending;
                        };
                        this.attempt.set(None);
                        if let Some(done) = settle(&mut this, result, Some(permit)) {
                            return Poll::Ready(done);
                        }
                    }
                }
                Err(refusal) => {
                    let rejected = this.handle.breaker().rejected(refusal);
                    if let Some(done) = refused(&mut this, rejected) {
                        return Poll::Ready(done);
                    }
                }
            }
        }
        poll_on(&mut this, cx)
    }
}

/// Every poll after the first (and the first, once its attempt is not settled at once): the
/// running attempt, the wait before a retry, and starting the retry. Out of line, so that the
/// first poll of a call that succeeds at once is only the straight path above.
#[inline(never)]
fn poll_on<F, Fut, B, K, T, E>(
    this: &mut RetryProj<'_, F, Fut, B, K>,
    cx: &mut Context<'_>,
) -> Poll<Result<T, Error<E>>>
where
    F: MakeAttempt<Future = Fut>,
    Fut: Future<Output = Result<T, E>>,
    B: CircuitBreaker + Clone,
    K: Classify<T, E>,
{
    loop {
        if let Some(attempt) = this.attempt.as_mut().as_pin_mut() {
            let Poll::Ready(result) = attempt.poll(cx) else {
                return Poll::Pending;
            };
            this.attempt.set(None);
            let permit = this.permit.take();
            if let Some(done) = settle(this, result, permit) {
                return Poll::Ready(done);
            }
            continue;
        }
        if let Some(sleep) = this.sleep.as_mut() {
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            *this.sleep = None;
        }
        // Start a retry (the first attempt started above).
        *this.attempts += 1;
        match this.handle.clone().try_acquire_owned() {
            Ok(permit) => {
                *this.granted = false;
                *this.permit = Some(permit);
                this.attempt.set(Some(this.make.make_attempt()));
            }
            Err(rejected) => {
                if let Some(done) = refused(this, rejected) {
                    return Poll::Ready(done);
                }
            }
        }
    }
}

/// An admitted attempt finished with `result`: judged by the breaker (through `permit`) and
/// the budget, then either the call's output or, for a failure that attempts are left for and
/// the budget pays, `None` with the retry's backoff in the sleep slot.
fn settle<F, Fut, B, K, T, E>(
    this: &mut RetryProj<'_, F, Fut, B, K>,
    result: Result<T, E>,
    permit: Option<Permit<B>>,
) -> Option<Result<T, Error<E>>>
where
    B: CircuitBreaker,
    K: Classify<T, E>,
{
    let outcome = this.classify.classify(&result);
    if let Some(permit) = permit {
        permit.record(outcome);
    }
    this.retrier.budget().record(outcome);
    // An overload is not retried: the dependency said it has no room (a refusal by a breaker
    // that sheds is waited out instead).
    if outcome == Outcome::Failure && *this.attempts < this.retrier.policy().max_attempts() {
        let now = this.handle.breaker().clock().now();
        if this.retrier.budget().withdraw(now) {
            *this.granted = true;
            let wait = this
                .retrier
                .policy()
                .backoff(*this.attempts, this.retrier.draw());
            *this.sleep = Some(this.retrier.sleep(wait));
            return None;
        }
    }
    Some(result.map_err(Error::Inner))
}

/// The breaker refused attempt `attempts`: `None` with a wait in the sleep slot if the refusal
/// is waited out (see [`wait_out`]) and a granted retry pays for it, else the rejection.
fn refused<F, Fut, B, K, T, E>(
    this: &mut RetryProj<'_, F, Fut, B, K>,
    rejected: Rejected,
) -> Option<Result<T, Error<E>>>
where
    B: CircuitBreaker,
{
    match wait_out(&rejected, this.retrier, *this.attempts) {
        Some(wait)
            if *this.granted
                || this
                    .retrier
                    .budget()
                    .withdraw(this.handle.breaker().clock().now()) =>
        {
            *this.granted = true;
            *this.sleep = Some(this.retrier.sleep(wait));
            None
        }
        _ => Some(Err(Error::Rejected(rejected))),
    }
}

/// How long to wait before asking a breaker that refused attempt `attempts` again, if
/// attempts are left: an open circuit's `retry_after`, if no longer than `max_backoff`; for a
/// closed circuit that sheds overload (or throttles), the policy's backoff, so that a retry
/// waits for admission rather than ending; a full half-open round, not at all.
fn wait_out(rejected: &Rejected, retrier: &Retrier, attempts: u32) -> Option<std::time::Duration> {
    let policy = retrier.policy();
    if attempts >= policy.max_attempts() {
        return None;
    }
    match rejected.retry_after() {
        Some(wait) => (wait <= policy.max_backoff()).then_some(wait),
        None if rejected.state() == State::Closed => Some(policy.backoff(attempts, retrier.draw())),
        None => None,
    }
}

impl<F, Fut, B: CircuitBreaker, K> fmt::Debug for Retry<F, Fut, B, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("breaker", &self.handle.breaker().name())
            .field("attempts", &self.attempts)
            .field("running", &self.attempt.is_some())
            .field("sleeping", &self.sleep.is_some())
            .finish_non_exhaustive()
    }
}
