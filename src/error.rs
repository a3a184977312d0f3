//! The errors the crate returns: [`Error`] from a protected call, [`Rejected`] when the breaker
//! refused to run it, [`ConfigError`] for an invalid knob.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use crate::machine::state::State;
use crate::name::Name;

/// What a protected call returns instead of its own `Ok`: either the breaker refused to run it,
/// or it ran and failed.
///
/// The two variants are the whole story of a protected call, so the enum is deliberately
/// exhaustive: match it without a wildcard.
///
/// ```
/// use protego_breaker::{Breaker, CircuitBreaker, Config, Error};
///
/// let breaker = Breaker::new(Config::default());
/// let out = futures::executor::block_on(breaker.call(async { Err::<(), _>("boom") }));
/// match out {
///     Ok(()) => unreachable!(),
///     Err(Error::Rejected(r)) => println!("not run, retry after {:?}", r.retry_after()),
///     Err(Error::Inner(e)) => assert_eq!(e, "boom"),
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error<E> {
    /// The breaker did not run the call: the inner future was dropped without being polled.
    #[error(transparent)]
    Rejected(Rejected),
    /// The call ran and returned this error.
    #[error(transparent)]
    Inner(E),
}

impl<E> Error<E> {
    /// Whether the breaker refused to run the call.
    ///
    /// ```
    /// let err: protego_breaker::Error<std::io::Error> =
    ///     protego_breaker::Error::Inner(std::io::ErrorKind::TimedOut.into());
    /// assert!(!err.is_rejected());
    /// ```
    pub fn is_rejected(&self) -> bool {
        matches!(self, Error::Rejected(_))
    }

    /// The rejection, if the breaker refused to run the call.
    ///
    /// ```
    /// let err: protego_breaker::Error<&str> = protego_breaker::Error::Inner("boom");
    /// assert!(err.rejected().is_none());
    /// ```
    pub fn rejected(&self) -> Option<&Rejected> {
        match self {
            Error::Rejected(r) => Some(r),
            Error::Inner(_) => None,
        }
    }

    /// The call's own error, if it ran and failed.
    ///
    /// ```
    /// let err: protego_breaker::Error<&str> = protego_breaker::Error::Inner("boom");
    /// assert_eq!(err.into_inner(), Some("boom"));
    /// ```
    pub fn into_inner(self) -> Option<E> {
        match self {
            Error::Inner(e) => Some(e),
            Error::Rejected(_) => None,
        }
    }

    /// Maps the call's own error, keeping a rejection as it is.
    ///
    /// ```
    /// let err: protego_breaker::Error<&str> = protego_breaker::Error::Inner("boom");
    /// assert_eq!(err.map_inner(str::len), protego_breaker::Error::Inner(4));
    /// ```
    pub fn map_inner<E2>(self, f: impl FnOnce(E) -> E2) -> Error<E2> {
        match self {
            Error::Inner(e) => Error::Inner(f(e)),
            Error::Rejected(r) => Error::Rejected(r),
        }
    }
}

/// The breaker refused to run a call: the circuit is open, or half-open with every trial
/// taken, or its adaptive [`Throttle`](crate::throttle::Throttle) shed the call.
///
/// It can only be made by the crate. In a web service, answer it with `503 Service Unavailable`
/// and, when [`retry_after`](Rejected::retry_after) is known, a `Retry-After` header in whole
/// seconds rounded up.
///
/// ```
/// use std::time::Duration;
/// use protego_breaker::{Breaker, CircuitBreaker, Config, Error, ManualClock, State};
///
/// let clock = ManualClock::new();
/// let cfg = Config::builder().failure_threshold(1).build()?;
/// let breaker = Breaker::with_clock(cfg, clock.clone());
/// futures::executor::block_on(async {
///     let _ = breaker.call(async { Err::<(), _>("down") }).await;
///     clock.advance(Duration::from_millis(20_500));
///     let Err(Error::Rejected(r)) = breaker.call(async { Ok::<(), &str>(()) }).await else {
///         unreachable!()
///     };
///     assert_eq!(r.state(), State::Open);
///     assert_eq!(r.retry_after(), Some(Duration::from_millis(39_500)));
///     let retry_after_header = r.retry_after().map(|d| d.as_secs() + u64::from(d.subsec_nanos() > 0));
///     assert_eq!(retry_after_header, Some(40));
/// });
/// # Ok::<(), protego_breaker::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    name: Name,
    state: State,
    /// Nanoseconds; `u64::MAX` for "unknown". Half the size of an `Option<Duration>`.
    retry_after: u64,
}

impl Rejected {
    #[inline]
    pub(crate) fn new(name: Name, state: State, retry_after: Option<u64>) -> Self {
        Rejected {
            name,
            state,
            retry_after: retry_after.map_or(u64::MAX, |ns| ns.min(u64::MAX - 1)),
        }
    }

    /// The name of the breaker that refused, if it has one (every registry breaker does).
    ///
    /// ```
    /// # use protego_breaker::{Breaker, CircuitBreaker, Config, Error};
    /// let breaker = Breaker::new(Config::builder().failure_threshold(1).build()?).named("quotes");
    /// futures::executor::block_on(async {
    ///     let _ = breaker.call(async { Err::<(), _>(()) }).await;
    ///     let err = breaker.call(async { Ok::<(), ()>(()) }).await.unwrap_err();
    ///     assert_eq!(err.rejected().unwrap().name(), Some("quotes"));
    /// });
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.name.as_str()
    }

    /// The state the circuit was in when it refused: [`State::Open`] or [`State::HalfOpen`]
    /// ([`State::ForcedOpen`] by hand), or [`State::Closed`] when the breaker's adaptive
    /// [`Throttle`](crate::throttle::Throttle) refused it.
    ///
    /// ```
    /// # use protego_breaker::{Breaker, CircuitBreaker, Config, State};
    /// let breaker = Breaker::new(Config::builder().failure_threshold(1).build()?);
    /// futures::executor::block_on(async {
    ///     let _ = breaker.call(async { Err::<(), _>(()) }).await;
    ///     let err = breaker.call(async { Ok::<(), ()>(()) }).await.unwrap_err();
    ///     assert_eq!(err.rejected().unwrap().state(), State::Open);
    /// });
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn state(&self) -> State {
        self.state
    }

    /// How long until the circuit lets trial calls through: `Some` when it is open, `None` when
    /// it is half-open and every trial of the round is taken (retry soon), or when a throttle
    /// refused the call.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use protego_breaker::{Breaker, CircuitBreaker, Config, ManualClock};
    /// let clock = ManualClock::new();
    /// let breaker = Breaker::with_clock(Config::builder().failure_threshold(1).build()?, clock.clone());
    /// futures::executor::block_on(async {
    ///     let _ = breaker.call(async { Err::<(), _>(()) }).await;
    ///     clock.advance(Duration::from_secs(45));
    ///     let err = breaker.call(async { Ok::<(), ()>(()) }).await.unwrap_err();
    ///     assert_eq!(err.rejected().unwrap().retry_after(), Some(Duration::from_secs(15)));
    /// });
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn retry_after(&self) -> Option<Duration> {
        (self.retry_after != u64::MAX).then(|| Duration::from_nanos(self.retry_after))
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name.as_str() {
            Some(name) => write!(f, "circuit `{name}` is {}", self.state)?,
            None => write!(f, "circuit is {}", self.state)?,
        }
        match (self.retry_after(), self.state) {
            (Some(after), _) => write!(f, ", retry after {after:?}"),
            (None, State::Closed) => f.write_str(", shed by its adaptive throttle"),
            (None, _) => f.write_str(", every trial call of the round is taken"),
        }
    }
}

impl std::error::Error for Rejected {}

/// An invalid knob, refused when a [`Config`](crate::Config) is built. The message names the
/// knob, what it must be, and the value given.
///
/// ```
/// use protego_breaker::Config;
///
/// let err = Config::builder().half_open_retries(0).build().unwrap_err();
/// assert_eq!(err.knob(), "half_open_retries");
/// assert_eq!(err.expected(), "be from 1 to 65535");
/// assert_eq!(err.value(), "0");
/// assert_eq!(err.to_string(), "half_open_retries must be from 1 to 65535, got 0");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{knob} must {expected}, got {value}")]
pub struct ConfigError {
    knob: &'static str,
    expected: Cow<'static, str>,
    value: String,
}

impl ConfigError {
    pub(crate) fn new(
        knob: &'static str,
        expected: impl Into<Cow<'static, str>>,
        value: impl fmt::Display,
    ) -> Self {
        ConfigError {
            knob,
            expected: expected.into(),
            value: value.to_string(),
        }
    }

    /// The knob's name, as the builder method and the config file spell it.
    ///
    /// ```
    /// let err = protego_breaker::Config::builder().failure_threshold(0).build().unwrap_err();
    /// assert_eq!(err.knob(), "failure_threshold");
    /// ```
    pub fn knob(&self) -> &'static str {
        self.knob
    }

    /// What the knob must do, in words: the message reads "`knob` must `expected`, got `value`".
    ///
    /// ```
    /// let err = protego_breaker::Config::builder().failure_threshold(0).build().unwrap_err();
    /// assert_eq!(err.expected(), "be at least 1");
    /// ```
    pub fn expected(&self) -> &str {
        &self.expected
    }

    /// The value given, as text.
    ///
    /// ```
    /// let err = protego_breaker::Config::builder().jitter(2.0).build().unwrap_err();
    /// assert_eq!(err.value(), "2");
    /// ```
    pub fn value(&self) -> &str {
        &self.value
    }
}

/// A boxed error, as tower's middleware returns (`tower::BoxError`).
type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<E> Error<E> {
    /// The error as tower's middleware returns its errors: a rejection becomes a boxed
    /// [`Rejected`] (find it again with [`Rejected::find`]), the call's own error is boxed as
    /// it is (an error that is already a box stays that box).
    ///
    /// ```
    /// use protego_breaker::{Breaker, CircuitBreaker, Config, Error, Rejected};
    ///
    /// let breaker = Breaker::new(Config::builder().failure_threshold(1).build()?);
    /// futures::executor::block_on(async {
    ///     let _ = breaker.call(async { Err::<(), _>("down") }).await;
    ///     let err = breaker.call(async { Ok::<(), &str>(()) }).await.unwrap_err();
    ///     let boxed = err.into_box_error();
    ///     assert!(boxed.downcast_ref::<Rejected>().is_some());
    ///     let inner: Error<&str> = Error::Inner("down");
    ///     assert_eq!(inner.into_box_error().to_string(), "down");
    /// });
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn into_box_error(self) -> BoxError
    where
        E: Into<BoxError>,
    {
        match self {
            Error::Rejected(rejected) => Box::new(rejected),
            Error::Inner(e) => e.into(),
        }
    }
}

impl Rejected {
    /// The rejection `error` is, or carries among its sources: how to recognise a breaker's
    /// rejection once a tower stack has boxed it (`tower::BoxError`), as tower's own `Elapsed`
    /// and `Overloaded` are recognised, by downcasting. The crate's tower layers box the
    /// [`Rejected`] itself, so `error.downcast_ref::<Rejected>()` finds it too; this also looks
    /// through errors that wrap it as their [`source`](std::error::Error::source).
    ///
    /// ```
    /// use protego_breaker::{Breaker, CircuitBreaker, Config, Rejected};
    ///
    /// let breaker = Breaker::new(Config::builder().failure_threshold(1).build()?).named("db");
    /// futures::executor::block_on(async {
    ///     let _ = breaker.call(async { Err::<(), _>("down") }).await;
    ///     let err = breaker.call(async { Ok::<(), &str>(()) }).await.unwrap_err();
    ///     let boxed: Box<dyn std::error::Error + Send + Sync> = err.into_box_error();
    ///     assert_eq!(Rejected::find(&*boxed).and_then(Rejected::name), Some("db"));
    ///     let other: Box<dyn std::error::Error + Send + Sync> = "refused".into();
    ///     assert!(Rejected::find(&*other).is_none());
    /// });
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn find<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a Rejected> {
        let mut next = Some(error);
        while let Some(error) = next {
            if let Some(rejected) = error.downcast_ref::<Rejected>() {
                return Some(rejected);
            }
            next = error.source();
        }
        None
    }
}
