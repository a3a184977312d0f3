//! A breaker's knobs: [`Config`] and its validating [`ConfigBuilder`].

use std::time::Duration;

use crate::error::ConfigError;
use crate::machine::window::{Rules, Window};

/// The knobs of one breaker. Every `Config` that exists is valid: the only ways to get one are
/// [`Config::default`] and [`ConfigBuilder::build`], which checks each value.
///
/// | knob | default | meaning |
/// | --- | --- | --- |
/// | [`failure_threshold`](Config::failure_threshold) | 3 | consecutive failures in Closed that open the circuit |
/// | [`reset_timeout`](Config::reset_timeout) | 60 s | how long the circuit stays Open before it lets trial calls through |
/// | [`half_open_retries`](Config::half_open_retries) | 2 | trial calls admitted per half-open round; that many successes close the circuit |
/// | [`backoff_multiplier`](Config::backoff_multiplier) | 1.0 (off) | each reopen from half-open multiplies the open period by this |
/// | [`max_reset_timeout`](Config::max_reset_timeout) | none | the longest open period backoff may reach |
/// | [`jitter`](Config::jitter) | 0.0 (off) | each open period is shortened by a random part of it, up to this fraction |
/// | [`jitter_seed`](Config::jitter_seed) | random | seeds the jitter, for reproducible tests |
/// | [`window`](Config::window) | none | count failures in a window of calls or of time, and open on a failure *rate* instead of consecutive failures |
/// | [`failure_rate_threshold`](Config::failure_rate_threshold) | 50 % | with a window: the failure rate that opens the circuit |
/// | [`minimum_calls`](Config::minimum_calls) | 10 | with a window: outcomes needed in it before a rate counts |
/// | [`slow_call_duration`](Config::slow_call_duration) | none | with a window: an admitted call that takes this long counts as slow |
/// | [`slow_call_rate_threshold`](Config::slow_call_rate_threshold) | 100 % | with slow calls: the slow-call rate that opens the circuit |
/// | [`totals`](Config::totals) | off | count every call by fate, for [`Breaker::metrics`](crate::Breaker::metrics) |
///
/// ```
/// use std::time::Duration;
/// use protego_breaker::Config;
///
/// let defaults = Config::default();
/// assert_eq!(defaults.failure_threshold(), 3);
/// assert_eq!(defaults.reset_timeout(), Duration::from_secs(60));
/// assert_eq!(defaults.half_open_retries(), 2);
///
/// let cfg = Config::builder().failure_threshold(5).build()?;
/// assert_eq!(cfg.failure_threshold(), 5);
/// assert_eq!(cfg.half_open_retries(), 2); // unset knobs keep their defaults
/// # Ok::<(), protego_breaker::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Config {
    failure_threshold: u32,
    reset_timeout: Duration,
    half_open_retries: u32,
    /// Thousandths, so that `Config` stays `Eq` and `Hash`.
    backoff_milli: u32,
    max_reset_timeout: Option<Duration>,
    jitter_milli: u32,
    jitter_seed: Option<u64>,
    window: Option<Window>,
    failure_rate_threshold: u8,
    minimum_calls: u32,
    slow_call_duration: Option<Duration>,
    slow_call_rate_threshold: u8,
    totals: bool,
}

impl Config {
    /// The largest accepted [`half_open_retries`](Config::half_open_retries): 65,535.
    ///
    /// A half-open round keeps its in-flight and succeeded trial counts in one atomic word, 16
    /// bits each; no real service needs more trial calls than this per round.
    ///
    /// ```
    /// use protego_breaker::Config;
    ///
    /// let most = Config::builder()
    ///     .half_open_retries(Config::MAX_HALF_OPEN_RETRIES)
    ///     .build()?;
    /// assert_eq!(most.half_open_retries(), 65_535);
    /// assert!(Config::builder().half_open_retries(65_536).build().is_err());
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub const MAX_HALF_OPEN_RETRIES: u32 = u16::MAX as u32;

    /// A builder starting from the defaults (3, 60 s, 2).
    ///
    /// ```
    /// use std::time::Duration;
    /// use protego_breaker::Config;
    ///
    /// let cfg = Config::builder()
    ///     .failure_threshold(5)
    ///     .reset_timeout(Duration::from_secs(30))
    ///     .half_open_retries(1)
    ///     .build()?;
    /// assert_eq!(cfg.reset_timeout(), Duration::from_secs(30));
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder {
            config: Config::default(),
            backoff: None,
            jitter: None,
        }
    }

    /// Consecutive failures in the Closed state that open the circuit (at least 1).
    ///
    /// ```
    /// assert_eq!(protego_breaker::Config::default().failure_threshold(), 3);
    /// ```
    pub fn failure_threshold(&self) -> u32 {
        self.failure_threshold
    }

    /// How long the circuit stays Open before it lets trial calls through (more than zero). Also
    /// how long a half-open round may go undecided before it is replaced by a fresh one.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// assert_eq!(protego_breaker::Config::default().reset_timeout(), Duration::from_secs(60));
    /// ```
    pub fn reset_timeout(&self) -> Duration {
        self.reset_timeout
    }

    /// Trial calls admitted per half-open round; that many successes close the circuit (1 to
    /// [`MAX_HALF_OPEN_RETRIES`](Config::MAX_HALF_OPEN_RETRIES)).
    ///
    /// ```
    /// assert_eq!(protego_breaker::Config::default().half_open_retries(), 2);
    /// ```
    pub fn half_open_retries(&self) -> u32 {
        self.half_open_retries
    }

    /// A builder starting from this config's values, to derive a changed copy.
    ///
    /// ```
    /// use protego_breaker::Config;
    ///
    /// let base = Config::builder().failure_threshold(10).build()?;
    /// let derived = base.to_builder().half_open_retries(4).build()?;
    /// assert_eq!(derived.failure_threshold(), 10);
    /// assert_eq!(derived.half_open_retries(), 4);
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn to_builder(&self) -> ConfigBuilder {
        ConfigBuilder {
            config: self.clone(),
            backoff: None,
            jitter: None,
        }
    }

    /// How much longer each consecutive open period gets when a half-open trial fails and the
    /// circuit reopens: the `n`-th reopen since the circuit last closed stays open for
    /// `reset_timeout * backoff_multiplier^n`, capped at
    /// [`max_reset_timeout`](Config::max_reset_timeout). 1.0 (the default) keeps every open
    /// period at `reset_timeout`. Kept to three decimals.
    ///
    /// ```
    /// use std::time::Duration;
    /// use protego_breaker::{Breaker, CircuitBreaker, Config, ManualClock, State};
    ///
    /// let cfg = Config::builder()
    ///     .failure_threshold(1)
    ///     .reset_timeout(Duration::from_secs(10))
    ///     .half_open_retries(1)
    ///     .backoff_multiplier(2.0)
    ///     .max_reset_timeout(Duration::from_secs(30))
    ///     .build()?;
    /// assert_eq!(cfg.backoff_multiplier(), 2.0);
    ///
    /// let clock = ManualClock::new();
    /// let breaker = Breaker::with_clock(cfg, clock.clone());
    /// # futures::executor::block_on(async {
    /// let fail = || async { Err::<(), _>("down") };
    /// let _ = breaker.call(fail()).await; // opens for 10 s
    /// for expected in [20, 30, 30] {
    ///     clock.advance(Duration::from_secs(10));
    ///     while breaker.state() == State::Open {
    ///         clock.advance(Duration::from_secs(10));
    ///     }
    ///     let _ = breaker.call(fail()).await; // the trial fails: reopens, for longer
    ///     let rejected = breaker.call(fail()).await.unwrap_err();
    ///     assert_eq!(rejected.rejected().unwrap().retry_after(), Some(Duration::from_secs(expected)));
    /// }
    /// # });
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn backoff_multiplier(&self) -> f64 {
        f64::from(self.backoff_milli) / 1000.0
    }

    /// The cap on an open period grown by backoff; `Duration::MAX` (the default) for none.
    ///
    /// ```
    /// use std::time::Duration;
    /// use protego_breaker::Config;
    ///
    /// assert_eq!(Config::default().max_reset_timeout(), Duration::MAX);
    /// let capped = Config::builder().max_reset_timeout(Duration::from_secs(300)).build()?;
    /// assert_eq!(capped.max_reset_timeout(), Duration::from_secs(300));
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn max_reset_timeout(&self) -> Duration {
        self.max_reset_timeout.unwrap_or(Duration::MAX)
    }

    /// Up to which fraction of an open period is cut off at random, so that clients that
    /// opened together do not all retry together. 0.0 (the default) for none; the period is
    /// only ever shortened, so `max_reset_timeout` stays an upper bound. Kept to three
    /// decimals.
    ///
    /// ```
    /// use std::time::Duration;
    /// use protego_breaker::{Breaker, CircuitBreaker, Config, ManualClock};
    ///
    /// let cfg = Config::builder()
    ///     .failure_threshold(1)
    ///     .reset_timeout(Duration::from_secs(100))
    ///     .jitter(0.2)
    ///     .jitter_seed(7)
    ///     .build()?;
    /// let breaker = Breaker::with_clock(cfg, ManualClock::new());
    /// # futures::executor::block_on(async {
    /// let _ = breaker.call(async { Err::<(), _>("down") }).await;
    /// let err = breaker.call(async { Ok::<(), &str>(()) }).await.unwrap_err();
    /// let wait = err.rejected().unwrap().retry_after().unwrap();
    /// assert!(wait > Duration::from_secs(80) && wait <= Duration::from_secs(100));
    /// # });
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn jitter(&self) -> f64 {
        f64::from(self.jitter_milli) / 1000.0
    }

    /// The seed of the jitter's random draws, if one was set: the same seed and the same
    /// calls give the same open periods. Without one, each breaker seeds itself at random.
    ///
    /// ```
    /// let cfg = protego_breaker::Config::builder().jitter(0.5).jitter_seed(42).build()?;
    /// assert_eq!(cfg.jitter_seed(), Some(42));
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn jitter_seed(&self) -> Option<u64> {
        self.jitter_seed
    }

    /// Whether the breaker counts every call (admitted, rejected, succeeded, failed, ignored)
    /// for [`Breaker::metrics`](crate::Breaker::metrics). Off by default: counting is a write
    /// per call on top of a closed success path that otherwise writes nothing. The counters
    /// are per core (no cache line is written by two cores), allocated on first use.
    ///
    /// ```
    /// use protego_breaker::{Breaker, Config};
    ///
    /// assert!(!Config::default().totals());
    /// let breaker = Breaker::new(Config::builder().totals(true).build()?);
    /// assert_eq!(breaker.metrics().totals.unwrap().admitted, 0);
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn totals(&self) -> bool {
        self.totals
    }

    /// The failure-rate window, if the circuit opens on a failure rate; `None` (the default)
    /// for Protego's rule, `failure_threshold` consecutive failures. With a window,
    /// `failure_threshold` is not used: after every outcome in the closed state the circuit
    /// opens when the window holds at least [`minimum_calls`](Config::minimum_calls) outcomes
    /// and failures make up at least
    /// [`failure_rate_threshold`](Config::failure_rate_threshold) percent of them (or slow calls
    /// [`slow_call_rate_threshold`](Config::slow_call_rate_threshold) percent). Ignored outcomes
    /// do not enter the window. Every transition empties it. Half-open works as without one.
    ///
    /// A count window costs a few shared atomic writes per call; a time window also reads the
    /// clock and sums its buckets. Neither takes a lock.
    ///
    /// ```
    /// use protego_breaker::{Breaker, CircuitBreaker, Config, ManualClock, State, Window};
    ///
    /// let cfg = Config::builder()
    ///     .window(Window::Count(10))
    ///     .failure_rate_threshold(50)
    ///     .minimum_calls(4)
    ///     .build()?;
    /// let breaker = Breaker::with_clock(cfg, ManualClock::new());
    /// # futures::executor::block_on(async {
    /// for ok in [true, false, true, false] {
    ///     let _ = breaker.call(async move { if ok { Ok(()) } else { Err("down") } }).await;
    /// }
    /// # });
    /// assert_eq!(breaker.state(), State::Open); // 2 of 4 failed: 50 %
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn window(&self) -> Option<Window> {
        self.window
    }

    /// With a window: the failure rate, in percent (1 to 100), that opens the circuit.
    ///
    /// ```
    /// assert_eq!(protego_breaker::Config::default().failure_rate_threshold(), 50);
    /// ```
    pub fn failure_rate_threshold(&self) -> u8 {
        self.failure_rate_threshold
    }

    /// With a window: how many outcomes it must hold before a rate can open the circuit
    /// (at least 1, and for a count window at most its size).
    ///
    /// ```
    /// assert_eq!(protego_breaker::Config::default().minimum_calls(), 10);
    /// ```
    pub fn minimum_calls(&self) -> u32 {
        self.minimum_calls
    }

    /// With a window: how long an admitted call may take before it counts as slow, by the
    /// breaker's clock; `None` (the default) for no slow-call tracking. The clock is read at
    /// admission and completion only when this is set. A slow call still counts as a success
    /// or failure as well.
    ///
    /// ```
    /// use std::time::Duration;
    /// use protego_breaker::{Breaker, Config, ManualClock, State, Window};
    ///
    /// let cfg = Config::builder()
    ///     .window(Window::Count(10))
    ///     .minimum_calls(2)
    ///     .slow_call_duration(Duration::from_secs(2))
    ///     .slow_call_rate_threshold(100)
    ///     .build()?;
    /// let clock = ManualClock::new();
    /// let breaker = Breaker::with_clock(cfg, clock.clone());
    /// # use protego_breaker::CircuitBreaker;
    /// # futures::executor::block_on(async {
    /// for _ in 0..2 {
    ///     let slow = async { clock.advance(Duration::from_secs(3)); Ok::<_, ()>(()) };
    ///     breaker.call(slow).await.unwrap();
    /// }
    /// # });
    /// assert_eq!(breaker.state(), State::Open); // every call was slow
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn slow_call_duration(&self) -> Option<Duration> {
        self.slow_call_duration
    }

    /// With slow calls: the slow-call rate, in percent (1 to 100), that opens the circuit.
    ///
    /// ```
    /// assert_eq!(protego_breaker::Config::default().slow_call_rate_threshold(), 100);
    /// ```
    pub fn slow_call_rate_threshold(&self) -> u8 {
        self.slow_call_rate_threshold
    }

    /// The window rules, if there is a window.
    pub(crate) fn rules(&self) -> Option<Rules> {
        self.window.map(|window| Rules {
            window,
            failure_rate: self.failure_rate_threshold,
            minimum_calls: self.minimum_calls,
            slow_nanos: self
                .slow_call_duration
                .map_or(0, |d| saturating_nanos(d).max(1)),
            slow_rate: self.slow_call_rate_threshold,
        })
    }

    pub(crate) fn backoff_milli(&self) -> u32 {
        self.backoff_milli
    }

    pub(crate) fn jitter_milli(&self) -> u32 {
        self.jitter_milli
    }

    pub(crate) fn max_reset_timeout_nanos(&self) -> u64 {
        self.max_reset_timeout.map_or(u64::MAX, saturating_nanos)
    }

    pub(crate) fn reset_timeout_nanos(&self) -> u64 {
        saturating_nanos(self.reset_timeout)
    }
}

impl Default for Config {
    /// Protego's defaults: `failure_threshold` 3, `reset_timeout` 60 s, `half_open_retries` 2.
    fn default() -> Self {
        Config {
            failure_threshold: 3,
            reset_timeout: Duration::from_secs(60),
            half_open_retries: 2,
            backoff_milli: 1000,
            max_reset_timeout: None,
            jitter_milli: 0,
            jitter_seed: None,
            window: None,
            failure_rate_threshold: 50,
            minimum_calls: 10,
            slow_call_duration: None,
            slow_call_rate_threshold: 100,
            totals: false,
        }
    }
}

/// Builds a [`Config`], checking every knob in [`build`](ConfigBuilder::build).
///
/// Setters never fail; `build` reports the first invalid knob as a [`ConfigError`] that names it
/// and the value given.
///
/// ```
/// use std::time::Duration;
/// use protego_breaker::{Config, ConfigError};
///
/// let err = Config::builder().reset_timeout(Duration::ZERO).build().unwrap_err();
/// assert_eq!(err, ConfigError::ResetTimeout { value: Duration::ZERO });
/// assert_eq!(err.to_string(), "reset_timeout must be greater than zero, got 0ns");
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct ConfigBuilder {
    config: Config,
    /// Given values, kept as given until `build` checks them.
    backoff: Option<f64>,
    jitter: Option<f64>,
}

impl ConfigBuilder {
    /// Sets [`Config::failure_threshold`]; must be at least 1.
    ///
    /// ```
    /// let cfg = protego_breaker::Config::builder().failure_threshold(1).build()?;
    /// assert_eq!(cfg.failure_threshold(), 1);
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn failure_threshold(mut self, failures: u32) -> Self {
        self.config.failure_threshold = failures;
        self
    }

    /// Sets [`Config::reset_timeout`]; must be more than zero. Any larger value is accepted,
    /// [`Duration::MAX`] included; time is kept in `u64` nanoseconds, so a timeout past about
    /// 584 years behaves as 584 years.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let cfg = protego_breaker::Config::builder().reset_timeout(Duration::from_millis(250)).build()?;
    /// assert_eq!(cfg.reset_timeout(), Duration::from_millis(250));
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn reset_timeout(mut self, timeout: Duration) -> Self {
        self.config.reset_timeout = timeout;
        self
    }

    /// Sets [`Config::half_open_retries`]; must be from 1 to
    /// [`Config::MAX_HALF_OPEN_RETRIES`].
    ///
    /// ```
    /// let cfg = protego_breaker::Config::builder().half_open_retries(5).build()?;
    /// assert_eq!(cfg.half_open_retries(), 5);
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn half_open_retries(mut self, trials: u32) -> Self {
        self.config.half_open_retries = trials;
        self
    }

    /// Sets [`backoff_multiplier`](Config::backoff_multiplier): a finite number from 1 to
    /// 1000.
    ///
    /// ```
    /// use protego_breaker::{Config, ConfigError};
    ///
    /// assert_eq!(Config::builder().backoff_multiplier(1.5).build()?.backoff_multiplier(), 1.5);
    /// let err = Config::builder().backoff_multiplier(0.5).build().unwrap_err();
    /// assert_eq!(err.knob(), "backoff_multiplier");
    /// assert!(Config::builder().backoff_multiplier(f64::NAN).build().is_err());
    /// # Ok::<(), ConfigError>(())
    /// ```
    pub fn backoff_multiplier(mut self, multiplier: f64) -> Self {
        self.backoff = Some(multiplier);
        self
    }

    /// Sets [`max_reset_timeout`](Config::max_reset_timeout): at least `reset_timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use protego_breaker::Config;
    ///
    /// let err = Config::builder()
    ///     .reset_timeout(Duration::from_secs(60))
    ///     .max_reset_timeout(Duration::from_secs(30))
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.knob(), "max_reset_timeout");
    /// ```
    pub fn max_reset_timeout(mut self, max: Duration) -> Self {
        self.config.max_reset_timeout = Some(max);
        self
    }

    /// Sets [`jitter`](Config::jitter): a fraction from 0 to 1.
    ///
    /// ```
    /// use protego_breaker::Config;
    ///
    /// assert_eq!(Config::builder().jitter(0.25).build()?.jitter(), 0.25);
    /// assert_eq!(Config::builder().jitter(1.5).build().unwrap_err().knob(), "jitter");
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.jitter = Some(fraction);
        self
    }

    /// Sets [`window`](Config::window).
    ///
    /// ```
    /// use protego_breaker::{Config, Window};
    ///
    /// assert!(Config::builder().window(Window::Count(0)).build().is_err());
    /// assert!(Config::builder().window(Window::Count(50)).minimum_calls(50).build().is_ok());
    /// ```
    pub fn window(mut self, window: Window) -> Self {
        self.config.window = Some(window);
        self
    }

    /// Sets [`failure_rate_threshold`](Config::failure_rate_threshold), in percent.
    ///
    /// ```
    /// assert_eq!(protego_breaker::Config::builder().failure_rate_threshold(0).build().unwrap_err().knob(), "failure_rate_threshold");
    /// ```
    pub fn failure_rate_threshold(mut self, percent: u8) -> Self {
        self.config.failure_rate_threshold = percent;
        self
    }

    /// Sets [`minimum_calls`](Config::minimum_calls).
    ///
    /// ```
    /// use protego_breaker::{Config, Window};
    ///
    /// let err = Config::builder().window(Window::Count(10)).minimum_calls(11).build().unwrap_err();
    /// assert_eq!(err.knob(), "minimum_calls");
    /// ```
    pub fn minimum_calls(mut self, calls: u32) -> Self {
        self.config.minimum_calls = calls;
        self
    }

    /// Sets [`slow_call_duration`](Config::slow_call_duration); it needs a window.
    ///
    /// ```
    /// use std::time::Duration;
    /// use protego_breaker::Config;
    ///
    /// let err = Config::builder().slow_call_duration(Duration::from_secs(1)).build().unwrap_err();
    /// assert_eq!(err.knob(), "slow_call_duration");
    /// ```
    pub fn slow_call_duration(mut self, duration: Duration) -> Self {
        self.config.slow_call_duration = Some(duration);
        self
    }

    /// Sets [`slow_call_rate_threshold`](Config::slow_call_rate_threshold), in percent.
    ///
    /// ```
    /// assert!(protego_breaker::Config::builder().slow_call_rate_threshold(101).build().is_err());
    /// ```
    pub fn slow_call_rate_threshold(mut self, percent: u8) -> Self {
        self.config.slow_call_rate_threshold = percent;
        self
    }

    /// Sets [`totals`](Config::totals).
    ///
    /// ```
    /// assert!(protego_breaker::Config::builder().totals(true).build()?.totals());
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn totals(mut self, on: bool) -> Self {
        self.config.totals = on;
        self
    }

    /// Sets [`jitter_seed`](Config::jitter_seed).
    ///
    /// ```
    /// let cfg = protego_breaker::Config::builder().jitter_seed(1).build()?;
    /// assert_eq!(cfg.jitter_seed(), Some(1));
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn jitter_seed(mut self, seed: u64) -> Self {
        self.config.jitter_seed = Some(seed);
        self
    }

    /// Checks every knob and returns the config, or the first invalid knob.
    ///
    /// # Errors
    /// [`ConfigError::FailureThreshold`] for a zero threshold, [`ConfigError::ResetTimeout`] for
    /// a zero timeout, [`ConfigError::HalfOpenRetries`] for zero trials or more than
    /// [`ConfigError::FailureThreshold`] for a zero threshold, [`ConfigError::ResetTimeout`] for
    ///
    /// ```
    /// use protego_breaker::{Config, ConfigError};
    ///
    /// let err = Config::builder().failure_threshold(0).build().unwrap_err();
    /// assert_eq!(err.to_string(), "failure_threshold must be at least 1, got 0");
    /// assert!(matches!(err, ConfigError::FailureThreshold { value: 0 }));
    /// ```
    pub fn build(self) -> Result<Config, ConfigError> {
        let mut c = self.config;
        if let Some(value) = self.backoff {
            if !(1.0..=1000.0).contains(&value) {
                return Err(ConfigError::BackoffMultiplier { value });
            }
            c.backoff_milli = to_milli(value);
        }
        if let Some(value) = self.jitter {
            if !(0.0..=1.0).contains(&value) {
                return Err(ConfigError::Jitter { value });
            }
            c.jitter_milli = to_milli(value);
        }
        c.check_window()?;
        if let Some(max) = c.max_reset_timeout {
            if max < c.reset_timeout {
                return Err(ConfigError::MaxResetTimeout {
                    value: max,
                    reset_timeout: c.reset_timeout,
                });
            }
        }
        if c.failure_threshold == 0 {
            return Err(ConfigError::FailureThreshold {
                value: c.failure_threshold,
            });
        }
        if c.reset_timeout.is_zero() {
            return Err(ConfigError::ResetTimeout {
                value: c.reset_timeout,
            });
        }
        if c.half_open_retries == 0 || c.half_open_retries > Config::MAX_HALF_OPEN_RETRIES {
            return Err(ConfigError::HalfOpenRetries {
                value: c.half_open_retries,
            });
        }
        Ok(c)
    }
}

/// `d` in nanoseconds, saturating at `u64::MAX` (about 584 years).
impl Config {
    fn check_window(&self) -> Result<(), ConfigError> {
        if !(1..=100).contains(&self.failure_rate_threshold) {
            return Err(ConfigError::FailureRateThreshold {
                value: self.failure_rate_threshold,
            });
        }
        if !(1..=100).contains(&self.slow_call_rate_threshold) {
            return Err(ConfigError::SlowCallRateThreshold {
                value: self.slow_call_rate_threshold,
            });
        }
        if self.minimum_calls == 0 {
            return Err(ConfigError::MinimumCalls {
                value: 0,
                window: self.window,
            });
        }
        if let Some(duration) = self.slow_call_duration {
            if duration.is_zero() || self.window.is_none() {
                return Err(ConfigError::SlowCallDuration { value: duration });
            }
        }
        let Some(window) = self.window else {
            return Ok(());
        };
        let valid = match window {
            Window::Count(n) => (1..=Window::MAX_COUNT).contains(&n),
            Window::Time { length, buckets } => {
                (1..=Window::MAX_BUCKETS).contains(&buckets)
                    && length / buckets >= Duration::from_millis(1)
            }
        };
        if !valid {
            return Err(ConfigError::Window { value: window });
        }
        if let Window::Count(n) = window {
            if self.minimum_calls > n {
                return Err(ConfigError::MinimumCalls {
                    value: self.minimum_calls,
                    window: Some(window),
                });
            }
        }
        Ok(())
    }
}

/// A checked fraction (`0.0..=1000.0`, so not NaN) in thousandths.
fn to_milli(value: f64) -> u32 {
    // In range by the callers' checks, so the cast neither truncates nor wraps.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let milli = (value * 1000.0).round() as u32;
    milli
}

pub(crate) fn saturating_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
