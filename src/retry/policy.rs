//! [`RetryPolicy`]: how many attempts, and how long to wait between them.

use std::time::Duration;

use crate::config::saturating_nanos;
use crate::error::ConfigError;
use crate::machine::open_period::Period;

/// How often to try and how long to wait: at most `max_attempts` attempts (the first included),
/// waiting `initial_backoff` before the first retry, `backoff_multiplier` times longer before
/// each next one, never more than `max_backoff`, each wait shortened by a random part of up to
/// `jitter` of itself. Defaults: 3 attempts, 50 ms, x2, 1 s, jitter 0.5.
///
/// The waits are the breaker's own backoff (the one its open periods use with
/// [`Config::backoff_multiplier`](crate::Config::backoff_multiplier)), so they never overflow.
/// A breaker rejection whose `retry_after` is at most `max_backoff` is waited out, never
/// less; see [`Retrier`](crate::retry::Retrier).
///
/// ```
/// use std::time::Duration;
/// use protego_breaker::retry::RetryPolicy;
///
/// let policy = RetryPolicy::builder()
///     .max_attempts(4)
///     .initial_backoff(Duration::from_millis(10))
///     .jitter(0.0)
///     .build()?;
/// assert_eq!(policy.backoff(1, 0), Duration::from_millis(10));
/// assert_eq!(policy.backoff(3, 0), Duration::from_millis(40));
/// # Ok::<(), protego_breaker::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial: u64,
    multiplier_milli: u32,
    max: u64,
    jitter_milli: u32,
}

/// Builds a [`RetryPolicy`]; [`build`](RetryPolicyBuilder::build) checks every knob.
///
/// ```
/// use protego_breaker::retry::RetryPolicy;
///
/// let err = RetryPolicy::builder().max_attempts(0).build().unwrap_err();
/// assert_eq!(err.to_string(), "max_attempts must be at least 1, got 0");
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[must_use]
pub struct RetryPolicyBuilder {
    max_attempts: u32,
    initial_backoff: Duration,
    backoff_multiplier: f64,
    max_backoff: Duration,
    jitter: f64,
}

impl Default for RetryPolicyBuilder {
    fn default() -> Self {
        RetryPolicyBuilder {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(50),
            backoff_multiplier: 2.0,
            max_backoff: Duration::from_secs(1),
            jitter: 0.5,
        }
    }
}

impl RetryPolicyBuilder {
    /// Attempts per logical call, the first included: at least 1 (1 = never retry). Default 3.
    ///
    /// ```
    /// assert!(protego_breaker::retry::RetryPolicy::builder().max_attempts(1).build().is_ok());
    /// ```
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n;
        self
    }

    /// The wait before the first retry. Default 50 ms.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let p = protego_breaker::retry::RetryPolicy::builder().initial_backoff(Duration::from_millis(5)).build();
    /// assert!(p.is_ok());
    /// ```
    pub fn initial_backoff(mut self, d: Duration) -> Self {
        self.initial_backoff = d;
        self
    }

    /// How much longer each next wait is: from 1 to 1000. Default 2.
    ///
    /// ```
    /// let err = protego_breaker::retry::RetryPolicy::builder().backoff_multiplier(0.5).build().unwrap_err();
    /// assert_eq!(err.knob(), "backoff_multiplier");
    /// ```
    pub fn backoff_multiplier(mut self, m: f64) -> Self {
        self.backoff_multiplier = m;
        self
    }

    /// The longest wait, at least `initial_backoff`; also the longest breaker `retry_after` a
    /// retry waits out. Default 1 s.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let err = protego_breaker::retry::RetryPolicy::builder().max_backoff(Duration::from_millis(1)).build().unwrap_err();
    /// assert_eq!(err.knob(), "max_backoff");
    /// ```
    pub fn max_backoff(mut self, d: Duration) -> Self {
        self.max_backoff = d;
        self
    }

    /// The largest share of a wait cut at random, from 0 (none) to 1 ("full jitter"). Default
    /// 0.5.
    ///
    /// ```
    /// let err = protego_breaker::retry::RetryPolicy::builder().jitter(1.5).build().unwrap_err();
    /// assert_eq!(err.knob(), "jitter");
    /// ```
    pub fn jitter(mut self, j: f64) -> Self {
        self.jitter = j;
        self
    }

    /// The policy, or the first knob out of range.
    ///
    /// # Errors
    /// [`ConfigError`] naming the knob.
    ///
    /// ```
    /// assert!(protego_breaker::retry::RetryPolicy::builder().build().is_ok());
    /// ```
    pub fn build(self) -> Result<RetryPolicy, ConfigError> {
        if self.max_attempts == 0 {
            return Err(ConfigError::new("max_attempts", "be at least 1", 0));
        }
        if !(1.0..=1000.0).contains(&self.backoff_multiplier) {
            return Err(ConfigError::new(
                "backoff_multiplier",
                "be from 1 to 1000",
                self.backoff_multiplier,
            ));
        }
        if self.max_backoff < self.initial_backoff {
            return Err(ConfigError::new(
                "max_backoff",
                format!("be at least initial_backoff ({:?})", self.initial_backoff),
                format_args!("{:?}", self.max_backoff),
            ));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(ConfigError::new("jitter", "be from 0 to 1", self.jitter));
        }
        // In range: checked above.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Ok(RetryPolicy {
            max_attempts: self.max_attempts,
            initial: saturating_nanos(self.initial_backoff),
            multiplier_milli: (self.backoff_multiplier * 1000.0).round() as u32,
            max: saturating_nanos(self.max_backoff),
            jitter_milli: (self.jitter * 1000.0).round() as u32,
        })
    }
}

impl Default for RetryPolicy {
    /// 3 attempts, 50 ms, x2, 1 s, jitter 0.5.
    fn default() -> Self {
        RetryPolicyBuilder::default()
            .build()
            .unwrap_or_else(|_| unreachable!("the defaults are valid"))
    }
}

impl RetryPolicy {
    /// The knobs, at their defaults.
    ///
    /// ```
    /// let p = protego_breaker::retry::RetryPolicy::builder().max_attempts(2).build()?;
    /// assert_eq!(p.max_attempts(), 2);
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn builder() -> RetryPolicyBuilder {
        RetryPolicyBuilder::default()
    }

    /// Attempts per logical call, the first included.
    ///
    /// ```
    /// assert_eq!(protego_breaker::retry::RetryPolicy::default().max_attempts(), 3);
    /// ```
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The longest wait, and the longest `retry_after` a retry waits out.
    ///
    /// ```
    /// # use std::time::Duration;
    /// assert_eq!(protego_breaker::retry::RetryPolicy::default().max_backoff(), Duration::from_secs(1));
    /// ```
    pub fn max_backoff(&self) -> Duration {
        Duration::from_nanos(self.max)
    }

    /// The wait before retry number `retry` (1 for the first), for the random draw `draw`
    /// (uniform over `u32`; 0 cuts nothing).
    ///
    /// ```
    /// use std::time::Duration;
    /// use protego_breaker::retry::RetryPolicy;
    ///
    /// let p = RetryPolicy::default(); // 50 ms, x2, at most 1 s, jitter 0.5
    /// assert_eq!(p.backoff(2, 0), Duration::from_millis(100));
    /// assert_eq!(p.backoff(10, 0), Duration::from_secs(1));
    /// assert!(p.backoff(2, u32::MAX) >= Duration::from_millis(50));
    /// ```
    pub fn backoff(&self, retry: u32, draw: u32) -> Duration {
        if self.initial == 0 {
            return Duration::ZERO;
        }
        let period = Period::new(
            self.initial,
            self.multiplier_milli,
            self.jitter_milli,
            self.max,
        );
        Duration::from_nanos(period.length(retry.saturating_sub(1), draw))
    }
}
