//! [`OutlierDetectionBuilder`]: every knob of an [`OutlierDetection`] set and checked. A child
//! of `config.rs`, whose private fields it fills.

#[allow(clippy::wildcard_imports)]
use super::*;

/// Builds an [`OutlierDetection`], checking every knob in [`build`](Self::build).
///
/// ```
/// use std::time::Duration;
/// use protego_breaker::integrations::balance::OutlierDetection;
///
/// let err = OutlierDetection::builder().max_ejection_percent(150).build().unwrap_err();
/// assert_eq!(err.to_string(), "max_ejection_percent must be at most 100, got 150");
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct OutlierDetectionBuilder(pub(super) OutlierDetection);

impl OutlierDetectionBuilder {
    /// Sets `interval`; must be greater than zero.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use protego_breaker::integrations::balance::OutlierDetection;
    /// let err = OutlierDetection::builder().interval(Duration::ZERO).build().unwrap_err();
    /// assert_eq!(err.knob(), "interval");
    /// ```
    pub fn interval(mut self, interval: Duration) -> Self {
        self.0.interval = interval;
        self
    }

    /// Sets `base_ejection_time`; must be greater than zero, and at most `max_ejection_time`
    /// when that is set.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use protego_breaker::integrations::balance::OutlierDetection;
    /// let d = OutlierDetection::builder().base_ejection_time(Duration::from_secs(1)).build()?;
    /// assert_eq!(d.ejection_time(2), Duration::from_secs(2));
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn base_ejection_time(mut self, time: Duration) -> Self {
        self.0.base_ejection_time = time;
        self
    }

    /// Sets `max_ejection_time`; must not be below `base_ejection_time`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use protego_breaker::integrations::balance::OutlierDetection;
    /// let err = OutlierDetection::builder()
    ///     .base_ejection_time(Duration::from_secs(60))
    ///     .max_ejection_time(Duration::from_secs(30))
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.knob(), "base_ejection_time");
    /// ```
    pub fn max_ejection_time(mut self, time: Duration) -> Self {
        self.0.max_ejection_time = Some(time);
        self
    }

    /// Sets `max_ejection_percent`; at most 100.
    ///
    /// ```
    /// # use protego_breaker::integrations::balance::OutlierDetection;
    /// assert_eq!(OutlierDetection::builder().max_ejection_percent(50).build()?.max_ejection_percent(), 50);
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn max_ejection_percent(mut self, percent: u32) -> Self {
        self.0.max_ejection_percent = percent;
        self
    }

    /// Sets `consecutive_5xx`: `None` turns the rule off; `Some(0)` is refused.
    ///
    /// ```
    /// # use protego_breaker::integrations::balance::OutlierDetection;
    /// assert!(OutlierDetection::builder().consecutive_5xx(Some(0)).build().is_err());
    /// ```
    pub fn consecutive_5xx(mut self, failures: Option<u32>) -> Self {
        self.0.consecutive_5xx = failures;
        self
    }

    /// Sets the success-rate rule; `None` turns it off.
    ///
    /// ```
    /// # use protego_breaker::integrations::balance::{OutlierDetection, SuccessRateEjection};
    /// let err = OutlierDetection::builder()
    ///     .success_rate_ejection(Some(SuccessRateEjection::default().stdev_factor(-1)))
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.knob(), "success_rate_ejection.stdev_factor");
    /// ```
    pub fn success_rate_ejection(mut self, rule: Option<SuccessRateEjection>) -> Self {
        self.0.success_rate_ejection = rule;
        self
    }

    /// Sets the failure-percentage rule; `None` turns it off.
    ///
    /// ```
    /// # use protego_breaker::integrations::balance::{FailurePercentageEjection, OutlierDetection};
    /// let err = OutlierDetection::builder()
    ///     .failure_percentage_ejection(Some(FailurePercentageEjection::default().threshold(101)))
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.to_string(), "failure_percentage_ejection.threshold must be at most 100, got 101");
    /// ```
    pub fn failure_percentage_ejection(mut self, rule: Option<FailurePercentageEjection>) -> Self {
        self.0.failure_percentage_ejection = rule;
        self
    }

    /// Sets `return_at`: when an ejected endpoint comes back (see [`ReturnAt`]).
    ///
    /// ```
    /// # use protego_breaker::integrations::balance::{OutlierDetection, ReturnAt};
    /// let d = OutlierDetection::builder().return_at(ReturnAt::Deadline).build()?;
    /// assert_eq!(d.return_at(), ReturnAt::Deadline);
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn return_at(mut self, at: ReturnAt) -> Self {
        self.0.return_at = at;
        self
    }

    /// Sets `return_trials`: from 1 to 65535.
    ///
    /// ```
    /// # use protego_breaker::integrations::balance::OutlierDetection;
    /// assert_eq!(OutlierDetection::builder().return_trials(5).build()?.return_trials(), 5);
    /// let err = OutlierDetection::builder().return_trials(0).build().unwrap_err();
    /// assert_eq!(err.to_string(), "return_trials must be from 1 to 65535, got 0");
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn return_trials(mut self, trials: u32) -> Self {
        self.0.return_trials = trials;
        self
    }

    /// Sets `probation` (see [`OutlierDetection::probation`]).
    ///
    /// ```
    /// # use protego_breaker::integrations::balance::OutlierDetection;
    /// assert!(!OutlierDetection::builder().probation(false).build()?.probation());
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn probation(mut self, on: bool) -> Self {
        self.0.probation = on;
        self
    }

    /// Checks every knob.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first invalid knob (sub-rule knobs as
    /// `success_rate_ejection.stdev_factor`).
    ///
    /// ```
    /// # use protego_breaker::integrations::balance::OutlierDetection;
    /// assert_eq!(OutlierDetection::builder().build()?, OutlierDetection::default());
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn build(self) -> Result<OutlierDetection, ConfigError> {
        let d = self.0;
        if d.interval.is_zero() {
            return Err(ConfigError::new(
                "interval",
                "be greater than zero",
                format_args!("{:?}", d.interval),
            ));
        }
        if d.base_ejection_time.is_zero() {
            return Err(ConfigError::new(
                "base_ejection_time",
                "be greater than zero",
                format_args!("{:?}", d.base_ejection_time),
            ));
        }
        if let Some(max) = d.max_ejection_time {
            if d.base_ejection_time > max {
                return Err(ConfigError::new(
                    "base_ejection_time",
                    format!("be at most max_ejection_time ({max:?})"),
                    format_args!("{:?}", d.base_ejection_time),
                ));
            }
        }
        percent("max_ejection_percent", d.max_ejection_percent)?;
        if !(1..=65_535).contains(&d.return_trials) {
            return Err(ConfigError::new(
                "return_trials",
                "be from 1 to 65535",
                d.return_trials,
            ));
        }
        if d.consecutive_5xx == Some(0) {
            return Err(ConfigError::new(
                "consecutive_5xx",
                "be at least 1 (None turns the rule off)",
                0,
            ));
        }
        if let Some(rule) = d.success_rate_ejection {
            if !(0..=i64::from(u32::MAX)).contains(&rule.stdev_factor) {
                return Err(ConfigError::new(
                    "success_rate_ejection.stdev_factor",
                    "be from 0 to 4294967295 (thousandths)",
                    rule.stdev_factor,
                ));
            }
            percent(
                "success_rate_ejection.enforcement_percentage",
                rule.enforcement_percentage,
            )?;
        }
        if let Some(rule) = d.failure_percentage_ejection {
            percent("failure_percentage_ejection.threshold", rule.threshold)?;
            percent(
                "failure_percentage_ejection.enforcement_percentage",
                rule.enforcement_percentage,
            )?;
        }
        Ok(d)
    }
}

fn percent(knob: &'static str, value: u32) -> Result<(), ConfigError> {
    if value > 100 {
        return Err(ConfigError::new(knob, "be at most 100", value));
    }
    Ok(())
}
