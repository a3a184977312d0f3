//! A breaker's knobs: [`Config`] and its validating [`ConfigBuilder`].

use std::time::Duration;

use crate::error::ConfigError;

/// The knobs of one breaker. Every `Config` that exists is valid: the only ways to get one are
/// [`Config::default`] and [`ConfigBuilder::build`], which checks each value.
///
/// | knob | default | meaning |
/// | --- | --- | --- |
/// | [`failure_threshold`](Config::failure_threshold) | 3 | consecutive failures in Closed that open the circuit |
/// | [`reset_timeout`](Config::reset_timeout) | 60 s | how long the circuit stays Open before it lets trial calls through |
/// | [`half_open_retries`](Config::half_open_retries) | 2 | trial calls admitted per half-open round; that many successes close the circuit |
///
/// ```
/// use std::time::Duration;
/// use protego::Config;
///
/// let defaults = Config::default();
/// assert_eq!(defaults.failure_threshold(), 3);
/// assert_eq!(defaults.reset_timeout(), Duration::from_secs(60));
/// assert_eq!(defaults.half_open_retries(), 2);
///
/// let cfg = Config::builder().failure_threshold(5).build()?;
/// assert_eq!(cfg.failure_threshold(), 5);
/// assert_eq!(cfg.half_open_retries(), 2); // unset knobs keep their defaults
/// # Ok::<(), protego::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Config {
    failure_threshold: u32,
    reset_timeout: Duration,
    half_open_retries: u32,
}

impl Config {
    /// The largest accepted [`half_open_retries`](Config::half_open_retries): 65,535.
    ///
    /// A half-open round keeps its in-flight and succeeded trial counts in one atomic word, 16
    /// bits each; no real service needs more trial calls than this per round.
    ///
    /// ```
    /// use protego::Config;
    ///
    /// let most = Config::builder()
    ///     .half_open_retries(Config::MAX_HALF_OPEN_RETRIES)
    ///     .build()?;
    /// assert_eq!(most.half_open_retries(), 65_535);
    /// assert!(Config::builder().half_open_retries(65_536).build().is_err());
    /// # Ok::<(), protego::ConfigError>(())
    /// ```
    pub const MAX_HALF_OPEN_RETRIES: u32 = u16::MAX as u32;

    /// A builder starting from the defaults (3, 60 s, 2).
    ///
    /// ```
    /// use std::time::Duration;
    /// use protego::Config;
    ///
    /// let cfg = Config::builder()
    ///     .failure_threshold(5)
    ///     .reset_timeout(Duration::from_secs(30))
    ///     .half_open_retries(1)
    ///     .build()?;
    /// assert_eq!(cfg.reset_timeout(), Duration::from_secs(30));
    /// # Ok::<(), protego::ConfigError>(())
    /// ```
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder {
            config: Config::default(),
        }
    }

    /// Consecutive failures in the Closed state that open the circuit (at least 1).
    ///
    /// ```
    /// assert_eq!(protego::Config::default().failure_threshold(), 3);
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
    /// assert_eq!(protego::Config::default().reset_timeout(), Duration::from_secs(60));
    /// ```
    pub fn reset_timeout(&self) -> Duration {
        self.reset_timeout
    }

    /// Trial calls admitted per half-open round; that many successes close the circuit (1 to
    /// [`MAX_HALF_OPEN_RETRIES`](Config::MAX_HALF_OPEN_RETRIES)).
    ///
    /// ```
    /// assert_eq!(protego::Config::default().half_open_retries(), 2);
    /// ```
    pub fn half_open_retries(&self) -> u32 {
        self.half_open_retries
    }

    /// A builder starting from this config's values, to derive a changed copy.
    ///
    /// ```
    /// use protego::Config;
    ///
    /// let base = Config::builder().failure_threshold(10).build()?;
    /// let derived = base.to_builder().half_open_retries(4).build()?;
    /// assert_eq!(derived.failure_threshold(), 10);
    /// assert_eq!(derived.half_open_retries(), 4);
    /// # Ok::<(), protego::ConfigError>(())
    /// ```
    pub fn to_builder(&self) -> ConfigBuilder {
        ConfigBuilder {
            config: self.clone(),
        }
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
/// use protego::{Config, ConfigError};
///
/// let err = Config::builder().reset_timeout(Duration::ZERO).build().unwrap_err();
/// assert_eq!(err, ConfigError::ResetTimeout { value: Duration::ZERO });
/// assert_eq!(err.to_string(), "reset_timeout must be greater than zero, got 0ns");
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct ConfigBuilder {
    config: Config,
}

impl ConfigBuilder {
    /// Sets [`Config::failure_threshold`]; must be at least 1.
    ///
    /// ```
    /// let cfg = protego::Config::builder().failure_threshold(1).build()?;
    /// assert_eq!(cfg.failure_threshold(), 1);
    /// # Ok::<(), protego::ConfigError>(())
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
    /// let cfg = protego::Config::builder().reset_timeout(Duration::from_millis(250)).build()?;
    /// assert_eq!(cfg.reset_timeout(), Duration::from_millis(250));
    /// # Ok::<(), protego::ConfigError>(())
    /// ```
    pub fn reset_timeout(mut self, timeout: Duration) -> Self {
        self.config.reset_timeout = timeout;
        self
    }

    /// Sets [`Config::half_open_retries`]; must be from 1 to
    /// [`Config::MAX_HALF_OPEN_RETRIES`].
    ///
    /// ```
    /// let cfg = protego::Config::builder().half_open_retries(5).build()?;
    /// assert_eq!(cfg.half_open_retries(), 5);
    /// # Ok::<(), protego::ConfigError>(())
    /// ```
    pub fn half_open_retries(mut self, trials: u32) -> Self {
        self.config.half_open_retries = trials;
        self
    }

    /// Checks every knob and returns the config, or the first invalid knob.
    ///
    /// # Errors
    /// [`ConfigError::FailureThreshold`] for a zero threshold, [`ConfigError::ResetTimeout`] for
    /// a zero timeout, [`ConfigError::HalfOpenRetries`] for zero trials or more than
    /// [`Config::MAX_HALF_OPEN_RETRIES`].
    ///
    /// ```
    /// use protego::{Config, ConfigError};
    ///
    /// let err = Config::builder().failure_threshold(0).build().unwrap_err();
    /// assert_eq!(err.to_string(), "failure_threshold must be at least 1, got 0");
    /// assert!(matches!(err, ConfigError::FailureThreshold { value: 0 }));
    /// ```
    pub fn build(self) -> Result<Config, ConfigError> {
        let c = self.config;
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
pub(crate) fn saturating_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
