//! [`Outcome`] and [`Classify`]: which results count against the downstream.

pub use crate::machine::outcome::Outcome;

/// Decides the [`Outcome`] of a call from its result.
///
/// By default ([`ErrorsAsFailures`]) `Ok` is a success and `Err` a failure. Implemented for every
/// `Fn(&Result<T, E>) -> Outcome`, so a closure is a classifier; pass it with
/// [`Protected::classify`](crate::call::Protected::classify) (`breaker.call(fut).classify(k)`,
/// `fut.protect(&registry, name).classify(k)`), or the same builder on a layer. The caller still
/// gets the result as it was: an `Ok` classified as a failure is returned as `Ok`.
///
/// A panic is always a failure and a cancellation always ignored; the classifier sees neither.
///
/// ```
/// use protego_breaker::{Breaker, CircuitBreaker, Config, call::Outcome};
///
/// #[derive(Debug)]
/// enum ApiError { NotFound, Unavailable }
///
/// // A 404 is the caller's business, not a sign that the downstream is failing.
/// let classify = |result: &Result<u16, ApiError>| match result {
///     Ok(status) if *status >= 500 => Outcome::Failure, // a 5xx response
///     Ok(_) => Outcome::Success,
///     Err(ApiError::NotFound) => Outcome::Ignored,
///     Err(ApiError::Unavailable) => Outcome::Failure,
/// };
///
/// let breaker = Breaker::new(Config::builder().failure_threshold(1).build()?);
/// # futures::executor::block_on(async {
/// let r = breaker.call(async { Err(ApiError::NotFound) }).classify(classify).await;
/// assert!(r.is_err());
/// assert_eq!(breaker.state(), protego_breaker::State::Closed); // ignored
/// let r = breaker.call(async { Ok(503) }).classify(classify).await;
/// assert_eq!(r.unwrap(), 503); // the caller still gets its Ok...
/// assert_eq!(breaker.state(), protego_breaker::State::Open); // ...but the breaker saw a failure
/// # });
/// # Ok::<(), protego_breaker::ConfigError>(())
/// ```
pub trait Classify<T, E> {
    /// The outcome of a call that returned `result`.
    fn classify(&self, result: &Result<T, E>) -> Outcome;
}

impl<T, E, F> Classify<T, E> for F
where
    F: Fn(&Result<T, E>) -> Outcome,
{
    #[inline]
    fn classify(&self, result: &Result<T, E>) -> Outcome {
        self(result)
    }
}

/// The default classifier: `Ok` is a success, `Err` a failure. A zero-sized type, so calls
/// that do not classify pay nothing for the feature.
///
/// ```
/// use protego_breaker::{call::Classify, call::Outcome, call::ErrorsAsFailures};
///
/// assert_eq!(ErrorsAsFailures.classify(&Ok::<(), ()>(())), Outcome::Success);
/// assert_eq!(ErrorsAsFailures.classify(&Err::<(), ()>(())), Outcome::Failure);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ErrorsAsFailures;

impl<T, E> Classify<T, E> for ErrorsAsFailures {
    #[inline]
    fn classify(&self, result: &Result<T, E>) -> Outcome {
        if result.is_ok() {
            Outcome::Success
        } else {
            Outcome::Failure
        }
    }
}

/// A classifier for calls whose errors tell overload from failure: `Ok` is a success, an
/// error for which the predicate holds (a timeout, a "too many requests") an
/// [`Overload`](Outcome::Overload), any other error a failure. Made by [`overload_if`].
///
/// ```
/// use protego_breaker::call::{overload_if, Classify, Outcome};
///
/// let classify = overload_if(|e: &&str| *e == "timeout");
/// assert_eq!(classify.classify(&Ok::<(), &str>(())), Outcome::Success);
/// assert_eq!(classify.classify(&Err::<(), _>("timeout")), Outcome::Overload);
/// assert_eq!(classify.classify(&Err::<(), _>("refused")), Outcome::Failure);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct OverloadIf<P>(P);

/// Classifies an error for which `is_overload` holds as an [`Overload`](Outcome::Overload),
/// any other error as a failure, `Ok` as a success: the one line that makes a breaker shed
/// overload rather than open on it.
///
/// ```
/// use std::time::Duration;
/// use protego_breaker::call::overload_if;
/// use protego_breaker::{Breaker, CircuitBreaker, Config, State};
///
/// let breaker = Breaker::new(Config::default());
/// # futures::executor::block_on(async {
/// for _ in 0..10 {
///     let timed_out = async { Err::<(), _>("timeout") };
///     let _ = breaker.call(timed_out).classify(overload_if(|e: &&str| *e == "timeout")).await;
/// }
/// # });
/// assert_eq!(breaker.state(), State::Closed); // shed, not opened
/// ```
pub fn overload_if<E, P: Fn(&E) -> bool>(is_overload: P) -> OverloadIf<P> {
    OverloadIf(is_overload)
}

impl<T, E, P: Fn(&E) -> bool> Classify<T, E> for OverloadIf<P> {
    #[inline]
    fn classify(&self, result: &Result<T, E>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(e) if (self.0)(e) => Outcome::Overload,
            Err(_) => Outcome::Failure,
        }
    }
}

/// Whether `error`, or an error among its sources, is a timeout: an [`std::io::Error`] of kind
/// [`TimedOut`](std::io::ErrorKind::TimedOut) (also one wrapped in an `io::Error` of another
/// kind), and with feature `tower-timeout`, tower's `tower::timeout::error::Elapsed` (what
/// `ServiceBuilder::timeout` returns). A timeout is [overload](Outcome::Overload): the
/// dependency did not keep up. The crate's tower layers count an error their classifier calls a
/// failure as an overload when this holds; for a classifier of your own, pass it to
/// [`overload_if`].
///
/// ```
/// use std::io::{Error, ErrorKind};
/// use protego_breaker::call::{is_timeout, overload_if, Classify, Outcome};
///
/// assert!(is_timeout(&Error::from(ErrorKind::TimedOut)));
/// assert!(is_timeout(&Error::other(Error::from(ErrorKind::TimedOut))));
/// assert!(!is_timeout(&Error::from(ErrorKind::ConnectionRefused)));
///
/// // Boxed errors, as a tower stack returns them.
/// type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// let classify = overload_if(|e: &BoxError| is_timeout(&**e));
/// let timed_out: BoxError = Error::from(ErrorKind::TimedOut).into();
/// assert_eq!(classify.classify(&Err::<(), _>(timed_out)), Outcome::Overload);
/// let refused: BoxError = "connection refused".into();
/// assert_eq!(classify.classify(&Err::<(), _>(refused)), Outcome::Failure);
/// ```
pub fn is_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    // Bounded: a source chain that loops must not hang a call's completion.
    let mut next = Some(error);
    for _ in 0..32 {
        let Some(e) = next else {
            return false;
        };
        #[cfg(feature = "tower-timeout")]
        if e.is::<tower::timeout::error::Elapsed>() {
            return true;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::TimedOut {
                return true;
            }
            // `io::Error::source` skips the error it wraps: look at that one too.
            if let Some(inner) = io.get_ref() {
                if is_timeout(inner) {
                    return true;
                }
            }
        }
        next = e.source();
    }
    false
}
