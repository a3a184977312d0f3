//! The errors the crate returns: [`Error`] from a protected call, [`Rejected`] when the breaker
//! refused to run it, [`ConfigError`] for an invalid knob.

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

/// The breaker refused to run a call: the circuit is open, or half-open with every trial slot
/// taken.
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

    /// The state the circuit was in when it refused: [`State::Open`] or [`State::HalfOpen`].
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
    /// it is half-open and every trial slot of the round is taken (retry soon).
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
        match self.retry_after() {
            Some(after) => write!(f, ", retry after {after:?}"),
            None => f.write_str(", every trial call of the round is taken"),
        }
    }
}

impl std::error::Error for Rejected {}

/// An invalid knob, refused when a [`Config`](crate::Config) is built. The message names the
/// knob and the value given.
///
/// ```
/// use protego_breaker::{Config, ConfigError};
///
/// let err = Config::builder().half_open_retries(0).build().unwrap_err();
/// assert_eq!(err, ConfigError::HalfOpenRetries { value: 0 });
/// assert_eq!(err.knob(), "half_open_retries");
/// assert_eq!(err.to_string(), "half_open_retries must be from 1 to 65535, got 0");
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `failure_threshold` was zero.
    #[error("failure_threshold must be at least 1, got {value}")]
    FailureThreshold {
        /// The value given.
        value: u32,
    },
    /// `reset_timeout` was zero.
    #[error("reset_timeout must be greater than zero, got {value:?}")]
    ResetTimeout {
        /// The value given.
        value: Duration,
    },
    /// `half_open_retries` was zero or above [`Config::MAX_HALF_OPEN_RETRIES`](crate::Config::MAX_HALF_OPEN_RETRIES).
    #[error("half_open_retries must be from 1 to 65535, got {value}")]
    HalfOpenRetries {
        /// The value given.
        value: u32,
    },
    /// `backoff_multiplier` was not a number from 1 to 1000.
    #[error("backoff_multiplier must be a number from 1 to 1000, got {value}")]
    BackoffMultiplier {
        /// The value given.
        value: f64,
    },
    /// `max_reset_timeout` was shorter than `reset_timeout`.
    #[error("max_reset_timeout must be at least reset_timeout ({reset_timeout:?}), got {value:?}")]
    MaxResetTimeout {
        /// The value given.
        value: Duration,
        /// The `reset_timeout` it was checked against.
        reset_timeout: Duration,
    },
    /// `window` was out of range: a count window holds 1 to 65,535 calls, a time window has 1
    /// to 1,000 buckets of at least 1 ms each.
    #[error("window must hold 1 to 65535 calls, or have 1 to 1000 buckets of at least 1 ms, got {value:?}")]
    Window {
        /// The value given.
        value: crate::Window,
    },
    /// `failure_rate_threshold` was not a percentage from 1 to 100.
    #[error("failure_rate_threshold must be a percentage from 1 to 100, got {value}")]
    FailureRateThreshold {
        /// The value given.
        value: u8,
    },
    /// `slow_call_rate_threshold` was not a percentage from 1 to 100.
    #[error("slow_call_rate_threshold must be a percentage from 1 to 100, got {value}")]
    SlowCallRateThreshold {
        /// The value given.
        value: u8,
    },
    /// `minimum_calls` was zero, or more than a count window holds.
    #[error("minimum_calls must be at least 1 and at most the window's size, got {value} for {window:?}")]
    MinimumCalls {
        /// The value given.
        value: u32,
        /// The window it was checked against.
        window: Option<crate::Window>,
    },
    /// `slow_call_duration` was zero, or set without a window to count slow calls in.
    #[error("slow_call_duration must be greater than zero and needs a window, got {value:?}")]
    SlowCallDuration {
        /// The value given.
        value: Duration,
    },
    /// `jitter` was not a fraction from 0 to 1.
    #[error("jitter must be a fraction from 0 to 1, got {value}")]
    Jitter {
        /// The value given.
        value: f64,
    },
}

impl ConfigError {
    /// The name of the invalid knob, as spelled in [`Config`](crate::Config).
    ///
    /// ```
    /// let err = protego_breaker::Config::builder().failure_threshold(0).build().unwrap_err();
    /// assert_eq!(err.knob(), "failure_threshold");
    /// ```
    pub fn knob(&self) -> &'static str {
        match self {
            ConfigError::FailureThreshold { .. } => "failure_threshold",
            ConfigError::ResetTimeout { .. } => "reset_timeout",
            ConfigError::HalfOpenRetries { .. } => "half_open_retries",
            ConfigError::BackoffMultiplier { .. } => "backoff_multiplier",
            ConfigError::MaxResetTimeout { .. } => "max_reset_timeout",
            ConfigError::Jitter { .. } => "jitter",
            ConfigError::Window { .. } => "window",
            ConfigError::FailureRateThreshold { .. } => "failure_rate_threshold",
            ConfigError::SlowCallRateThreshold { .. } => "slow_call_rate_threshold",
            ConfigError::MinimumCalls { .. } => "minimum_calls",
            ConfigError::SlowCallDuration { .. } => "slow_call_duration",
        }
    }
}
