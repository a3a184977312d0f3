//! [`OutlierDetection`]: the ejection rules of a pool, named and defaulted as gRFC A50 and
//! Envoy's outlier detection name them, checked when built.

use std::time::Duration;

use crate::error::ConfigError;

mod builder;
pub use builder::OutlierDetectionBuilder;

/// When an ejected endpoint comes back (takes its half-open trial): the `return_at` knob of
/// [`OutlierDetection`].
///
/// ```
/// use protego_breaker::integrations::balance::{OutlierDetection, ReturnAt};
///
/// assert_eq!(OutlierDetection::default().return_at(), ReturnAt::Sweep);
/// let at_deadline = OutlierDetection::builder().return_at(ReturnAt::Deadline).build()?;
/// assert_eq!(at_deadline.return_at(), ReturnAt::Deadline);
/// # Ok::<(), protego_breaker::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ReturnAt {
    /// At the first sweep (the interval's analysis) due at or after the end of its ejection
    /// time, as gRFC A50 and Envoy un-eject: an endpoint ejected between sweeps stays out up to
    /// one `interval` longer than its ejection time, and every return lines up with an analysis.
    /// The default.
    #[default]
    Sweep,
    /// As soon as its ejection time is over (the pool's own timer, on the balancer's polls or
    /// [`drive`](super::OutlierDetector::drive)).
    Deadline,
}

/// A50's `success_rate_ejection`: eject an endpoint whose success rate in the interval is below
/// `mean - stdev * (stdev_factor / 1000)` of the rates of the endpoints that qualify (at least
/// `request_volume` calls in the interval), when at least `minimum_hosts` qualify.
///
/// ```
/// use protego_breaker::integrations::balance::SuccessRateEjection;
///
/// let rule = SuccessRateEjection::default();
/// assert_eq!((rule.stdev_factor, rule.enforcement_percentage), (1900, 100));
/// assert_eq!((rule.minimum_hosts, rule.request_volume), (5, 100));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct SuccessRateEjection {
    /// Thousandths of a standard deviation below the mean (A50: 1900, i.e. 1.9); must not be
    /// negative.
    pub stdev_factor: i64,
    /// Percent chance that an outlier found is ejected (100: always); at most 100.
    pub enforcement_percentage: u32,
    /// Endpoints with enough volume needed before the rule runs (5).
    pub minimum_hosts: u32,
    /// Calls in the interval for an endpoint to count (100).
    pub request_volume: u32,
}

impl Default for SuccessRateEjection {
    fn default() -> Self {
        SuccessRateEjection {
            stdev_factor: 1900,
            enforcement_percentage: 100,
            minimum_hosts: 5,
            request_volume: 100,
        }
    }
}

impl SuccessRateEjection {
    /// Sets [`stdev_factor`](Self::stdev_factor), in thousandths.
    ///
    /// ```
    /// let rule = protego_breaker::integrations::balance::SuccessRateEjection::default().stdev_factor(1000);
    /// assert_eq!(rule.stdev_factor, 1000);
    /// ```
    #[must_use]
    pub fn stdev_factor(mut self, thousandths: i64) -> Self {
        self.stdev_factor = thousandths;
        self
    }

    /// The success rate under which an endpoint is an outlier, given the rates (0.0 to 1.0) of
    /// the endpoints that qualify: `mean - stdev * stdev_factor / 1000`, with the population
    /// standard deviation, as A50 computes it. `None` for no rates.
    ///
    /// ```
    /// use protego_breaker::integrations::balance::SuccessRateEjection;
    ///
    /// // Nine endpoints at 100 %, one at 50 %: mean 0.95, stdev 0.15, 0.95 - 1.9 * 0.15 = 0.665.
    /// let mut rates = vec![1.0; 9];
    /// rates.push(0.5);
    /// let threshold = SuccessRateEjection::default().threshold(&rates).unwrap();
    /// assert!((threshold - 0.665).abs() < 1e-9);
    /// ```
    pub fn threshold(&self, rates: &[f64]) -> Option<f64> {
        if rates.is_empty() {
            return None;
        }
        #[allow(clippy::cast_precision_loss)] // a count of endpoints
        let n = rates.len() as f64;
        let mean = rates.iter().sum::<f64>() / n;
        let variance = rates.iter().map(|r| (r - mean) * (r - mean)).sum::<f64>() / n;
        #[allow(clippy::cast_precision_loss)] // checked: at most u32::MAX thousandths
        let factor = self.stdev_factor as f64 / 1000.0;
        Some(mean - variance.sqrt() * factor)
    }
}

/// A50's `failure_percentage_ejection`: eject an endpoint whose share of failed calls in the
/// interval is above `threshold` percent, counting only endpoints with at least
/// `request_volume` calls, when at least `minimum_hosts` have that many.
///
/// ```
/// use protego_breaker::integrations::balance::FailurePercentageEjection;
///
/// let rule = FailurePercentageEjection::default();
/// assert_eq!((rule.threshold, rule.enforcement_percentage), (85, 100));
/// assert_eq!((rule.minimum_hosts, rule.request_volume), (5, 50));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct FailurePercentageEjection {
    /// Failure percentage above which an endpoint is ejected (85); at most 100.
    pub threshold: u32,
    /// Percent chance that an outlier found is ejected (100); at most 100.
    pub enforcement_percentage: u32,
    /// Endpoints with enough volume needed before the rule runs (5).
    pub minimum_hosts: u32,
    /// Calls in the interval for an endpoint to count (50).
    pub request_volume: u32,
}

impl Default for FailurePercentageEjection {
    fn default() -> Self {
        FailurePercentageEjection {
            threshold: 85,
            enforcement_percentage: 100,
            minimum_hosts: 5,
            request_volume: 50,
        }
    }
}

impl FailurePercentageEjection {
    /// Sets [`threshold`](Self::threshold).
    ///
    /// ```
    /// let rule = protego_breaker::integrations::balance::FailurePercentageEjection::default().threshold(50);
    /// assert_eq!(rule.threshold, 50);
    /// ```
    #[must_use]
    pub fn threshold(mut self, percent: u32) -> Self {
        self.threshold = percent;
        self
    }
}

/// The setters both statistical rules share, written once: `enforcement_percentage`,
/// `minimum_hosts` and `request_volume`. `$path` is the rule's public path, for the examples.
macro_rules! shared_setters {
    ($rule:ident, $path:literal) => {
        impl $rule {
            /// Sets [`enforcement_percentage`](Self::enforcement_percentage).
            ///
            /// ```
            #[doc = concat!("let rule = ", $path, "::default().enforcement_percentage(50);")]
            /// assert_eq!(rule.enforcement_percentage, 50);
            /// ```
            #[must_use]
            pub fn enforcement_percentage(mut self, percent: u32) -> Self {
                self.enforcement_percentage = percent;
                self
            }

            /// Sets [`minimum_hosts`](Self::minimum_hosts).
            ///
            /// ```
            #[doc = concat!("let rule = ", $path, "::default().minimum_hosts(3);")]
            /// assert_eq!(rule.minimum_hosts, 3);
            /// ```
            #[must_use]
            pub fn minimum_hosts(mut self, hosts: u32) -> Self {
                self.minimum_hosts = hosts;
                self
            }

            /// Sets [`request_volume`](Self::request_volume).
            ///
            /// ```
            #[doc = concat!("let rule = ", $path, "::default().request_volume(20);")]
            /// assert_eq!(rule.request_volume, 20);
            /// ```
            #[must_use]
            pub fn request_volume(mut self, calls: u32) -> Self {
                self.request_volume = calls;
                self
            }
        }
    };
}

shared_setters!(
    SuccessRateEjection,
    "protego_breaker::integrations::balance::SuccessRateEjection"
);
shared_setters!(
    FailurePercentageEjection,
    "protego_breaker::integrations::balance::FailurePercentageEjection"
);

/// The outlier detection of a pool: gRFC A50's knobs and defaults, plus Envoy's
/// `consecutive_5xx`. Build it with [`OutlierDetection::builder`]; [`Default`] is A50's
/// defaults with every rule on.
///
/// | knob | default | meaning |
/// | --- | --- | --- |
/// | `interval` | 10 s | how often the statistical rules run and the ejection multipliers decay |
/// | `base_ejection_time` | 30 s | an ejection lasts `base_ejection_time` x the endpoint's ejection multiplier |
/// | `max_ejection_time` | max(`base_ejection_time`, 300 s) | the cap on one ejection |
/// | `max_ejection_percent` | 10 | no ejection while this share of the endpoints (or more) is ejected |
/// | `consecutive_5xx` | 5 | consecutive failures that eject at once (Envoy's name: any failure counts); `None` turns it off |
/// | `success_rate_ejection` | on ([`SuccessRateEjection::default`]) | `None` turns it off |
/// | `failure_percentage_ejection` | on ([`FailurePercentageEjection::default`]) | `None` turns it off |
/// | `return_trials` | 1 | trial calls that must all succeed, one after another, before an ejected endpoint is back (this crate's: A50 has no trials) |
/// | `probation` | on | a returned endpoint is judged against the pool's own failure rate for its first interval back, and ejected again at once if it fails more (this crate's) |
/// | `return_at` | [`ReturnAt::Sweep`] | when an ejected endpoint comes back: at the first sweep after its ejection time (A50), or at once ([`ReturnAt::Deadline`]) |
///
/// ```
/// use std::time::Duration;
/// use protego_breaker::integrations::balance::OutlierDetection;
///
/// let detection = OutlierDetection::default();
/// assert_eq!(detection.interval(), Duration::from_secs(10));
/// assert_eq!(detection.max_ejection_time(), Duration::from_secs(300));
/// assert_eq!(detection.consecutive_5xx(), Some(5));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OutlierDetection {
    interval: Duration,
    base_ejection_time: Duration,
    max_ejection_time: Option<Duration>,
    max_ejection_percent: u32,
    consecutive_5xx: Option<u32>,
    success_rate_ejection: Option<SuccessRateEjection>,
    failure_percentage_ejection: Option<FailurePercentageEjection>,
    return_at: ReturnAt,
    return_trials: u32,
    probation: bool,
}

impl Default for OutlierDetection {
    fn default() -> Self {
        OutlierDetection {
            interval: Duration::from_secs(10),
            base_ejection_time: Duration::from_secs(30),
            max_ejection_time: None,
            max_ejection_percent: 10,
            consecutive_5xx: Some(5),
            success_rate_ejection: Some(SuccessRateEjection::default()),
            failure_percentage_ejection: Some(FailurePercentageEjection::default()),
            return_at: ReturnAt::Sweep,
            return_trials: DEFAULT_RETURN_TRIALS,
            probation: true,
        }
    }
}

/// Trial calls that must all succeed before an ejected endpoint is back. One, as before:
/// in the gray-endpoint simulation (`tests/balance_gray.rs`, benches/README.md) probation keeps
/// every seed above 99.9 % with one trial, and more trials would hold back a recovered
/// endpoint that fails as often as the rest of the pool (20 trials at 1 % fail one return in
/// five).
const DEFAULT_RETURN_TRIALS: u32 = 1;

/// A50's default cap on one ejection, when `base_ejection_time` is below it.
const DEFAULT_MAX_EJECTION_TIME: Duration = Duration::from_secs(300);

impl OutlierDetection {
    /// A builder starting from the defaults.
    ///
    /// ```
    /// use std::time::Duration;
    /// use protego_breaker::integrations::balance::OutlierDetection;
    ///
    /// let detection = OutlierDetection::builder()
    ///     .interval(Duration::from_secs(1))
    ///     .base_ejection_time(Duration::from_secs(5))
    ///     .failure_percentage_ejection(None)
    ///     .build()?;
    /// assert_eq!(detection.max_ejection_time(), Duration::from_secs(300));
    /// assert!(detection.failure_percentage_ejection().is_none());
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn builder() -> OutlierDetectionBuilder {
        OutlierDetectionBuilder(OutlierDetection::default())
    }

    /// How often the statistical rules run.
    ///
    /// ```
    /// # use protego_breaker::integrations::balance::OutlierDetection;
    /// assert_eq!(OutlierDetection::default().interval().as_secs(), 10);
    /// ```
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// The ejection time of a first ejection.
    ///
    /// ```
    /// # use protego_breaker::integrations::balance::OutlierDetection;
    /// assert_eq!(OutlierDetection::default().base_ejection_time().as_secs(), 30);
    /// ```
    pub fn base_ejection_time(&self) -> Duration {
        self.base_ejection_time
    }

    /// The cap on one ejection: the value set, else max(`base_ejection_time`, 300 s).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use protego_breaker::integrations::balance::OutlierDetection;
    /// let long = OutlierDetection::builder().base_ejection_time(Duration::from_secs(600)).build()?;
    /// assert_eq!(long.max_ejection_time(), Duration::from_secs(600));
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn max_ejection_time(&self) -> Duration {
        self.max_ejection_time
            .unwrap_or(DEFAULT_MAX_EJECTION_TIME)
            .max(self.base_ejection_time)
    }

    /// The share of endpoints (percent) at or above which nothing more is ejected.
    ///
    /// ```
    /// # use protego_breaker::integrations::balance::OutlierDetection;
    /// assert_eq!(OutlierDetection::default().max_ejection_percent(), 10);
    /// ```
    pub fn max_ejection_percent(&self) -> u32 {
        self.max_ejection_percent
    }

    /// Consecutive failures that eject an endpoint at once; `None` when off.
    ///
    /// ```
    /// # use protego_breaker::integrations::balance::OutlierDetection;
    /// assert_eq!(OutlierDetection::default().consecutive_5xx(), Some(5));
    /// ```
    pub fn consecutive_5xx(&self) -> Option<u32> {
        self.consecutive_5xx
    }

    /// The success-rate rule, if on.
    ///
    /// ```
    /// # use protego_breaker::integrations::balance::OutlierDetection;
    /// assert!(OutlierDetection::default().success_rate_ejection().is_some());
    /// ```
    pub fn success_rate_ejection(&self) -> Option<SuccessRateEjection> {
        self.success_rate_ejection
    }

    /// The failure-percentage rule, if on.
    ///
    /// ```
    /// # use protego_breaker::integrations::balance::OutlierDetection;
    /// assert_eq!(OutlierDetection::default().failure_percentage_ejection().unwrap().threshold, 85);
    /// ```
    pub fn failure_percentage_ejection(&self) -> Option<FailurePercentageEjection> {
        self.failure_percentage_ejection
    }

    /// When an ejected endpoint comes back: see [`ReturnAt`].
    ///
    /// ```
    /// # use protego_breaker::integrations::balance::{OutlierDetection, ReturnAt};
    /// assert_eq!(OutlierDetection::default().return_at(), ReturnAt::Sweep);
    /// ```
    pub fn return_at(&self) -> ReturnAt {
        self.return_at
    }

    /// How many trial calls must succeed, one after another, before an ejected endpoint is
    /// back in rotation (the endpoint breaker's `half_open_retries`); the first that fails
    /// ejects it again, for longer ([`Rule::FailedTrial`](super::Rule::FailedTrial)).
    ///
    /// ```
    /// # use protego_breaker::integrations::balance::OutlierDetection;
    /// assert_eq!(OutlierDetection::default().return_trials(), 1);
    /// ```
    pub fn return_trials(&self) -> u32 {
        self.return_trials
    }

    /// Whether an endpoint back from an ejection is on probation for its first interval:
    /// ejected again ([`Rule::Probation`](super::Rule::Probation)) as soon as it fails more
    /// than the pool's own failure rate over the last interval explains (by three standard
    /// deviations, and one failure besides; judged from its tenth call on, on the pool's
    /// ticks). So an endpoint that fails one call in five and passes its trials is out again
    /// within a few dozen calls, not at the next sweep.
    ///
    /// ```
    /// # use protego_breaker::integrations::balance::OutlierDetection;
    /// assert!(OutlierDetection::default().probation());
    /// ```
    pub fn probation(&self) -> bool {
        self.probation
    }

    /// How long the `multiplier`th ejection lasts: `base_ejection_time * multiplier`, capped
    /// at [`max_ejection_time`](Self::max_ejection_time) (A50's rule).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use protego_breaker::integrations::balance::OutlierDetection;
    /// let detection = OutlierDetection::default();
    /// assert_eq!(detection.ejection_time(1), Duration::from_secs(30));
    /// assert_eq!(detection.ejection_time(3), Duration::from_secs(90));
    /// assert_eq!(detection.ejection_time(50), Duration::from_secs(300));
    /// ```
    pub fn ejection_time(&self, multiplier: u32) -> Duration {
        self.base_ejection_time
            .saturating_mul(multiplier.max(1))
            .min(self.max_ejection_time())
    }

    /// Whether one more endpoint may be ejected with `ejected` of `total` ejected now: A50's
    /// "the ejected share is below `max_ejection_percent`".
    pub(crate) fn may_eject(&self, ejected: usize, total: usize) -> bool {
        (ejected as u128) * 100 < u128::from(self.max_ejection_percent) * (total as u128)
    }

    /// When an ejection whose time ends at `end` is over, with the next sweep due at
    /// `next_sweep` and one every `interval` after it (clock nanoseconds).
    pub(crate) fn return_time(&self, end: u64, next_sweep: u64) -> u64 {
        match self.return_at {
            ReturnAt::Deadline => end,
            ReturnAt::Sweep if end <= next_sweep => next_sweep,
            ReturnAt::Sweep => {
                let interval = u64::try_from(self.interval.as_nanos())
                    .unwrap_or(u64::MAX)
                    .max(1);
                let sweeps = (end - next_sweep).div_ceil(interval);
                next_sweep.saturating_add(sweeps.saturating_mul(interval))
            }
        }
    }
}
