//! [`OutlierEvent`]: an endpoint ejected, spared by `max_ejection_percent`, or back in
//! rotation, as listeners and `tracing` see it.

use std::sync::Arc;
use std::time::Duration;

/// Which rule found an outlier.
///
/// ```
/// use protego_breaker::integrations::balance::Rule;
///
/// assert_eq!(Rule::SuccessRate.as_str(), "success_rate");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rule {
    /// `consecutive_5xx` failures in a row (the endpoint's breaker tripped).
    ConsecutiveFailures,
    /// Success rate below the pool's `mean - stdev * factor`.
    SuccessRate,
    /// Failure percentage above the threshold.
    FailurePercentage,
    /// A half-open trial after an ejection failed (this crate's; A50 has no trials).
    FailedTrial,
    /// Back from an ejection, it failed more than the pool in its first interval (this
    /// crate's: see [`OutlierDetection::probation`](super::OutlierDetection::probation)).
    Probation,
}

impl Rule {
    /// The rule's name in `snake_case`, as events and tracing spell it.
    ///
    /// ```
    /// assert_eq!(protego_breaker::integrations::balance::Rule::ConsecutiveFailures.as_str(), "consecutive_failures");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::ConsecutiveFailures => "consecutive_failures",
            Rule::SuccessRate => "success_rate",
            Rule::FailurePercentage => "failure_percentage",
            Rule::FailedTrial => "failed_trial",
            Rule::Probation => "probation",
        }
    }
}

/// What happened to an endpoint.
///
/// ```
/// use std::time::Duration;
/// use protego_breaker::integrations::balance::{OutlierEventKind, Rule};
///
/// let kind = OutlierEventKind::Ejected { rule: Rule::SuccessRate, ejection_time: Duration::from_secs(30), multiplier: 1 };
/// assert!(matches!(kind, OutlierEventKind::Ejected { multiplier: 1, .. }));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OutlierEventKind {
    /// Taken out of rotation for `ejection_time`: its breaker is open until then.
    Ejected {
        /// The rule that found it.
        rule: Rule,
        /// How long: `base_ejection_time * multiplier`, capped.
        ejection_time: Duration,
        /// The endpoint's ejection multiplier, this ejection included.
        multiplier: u32,
    },
    /// Found by `rule` but left in rotation: `max_ejection_percent` of the pool is ejected.
    /// (A breaker that tripped on consecutive failures is closed again.)
    ///
    /// At most one per endpoint per `interval`: the first outlier spared in an interval is told
    /// at once (`times` 1); those after it in the same interval are counted, and told in one
    /// event at the next sweep (which then stands for the new interval).
    Spared {
        /// The rule that found it (the last one's, when `times` counts more than one).
        rule: Rule,
        /// How many times it was found and spared since the last `Spared` event of this
        /// endpoint: each a trip of its breaker (`consecutive_5xx` failures in a row, or one
        /// failed trial).
        times: u32,
    },
    /// Back in rotation: its half-open trials succeeded.
    Returned,
}

/// An ejection, a spared outlier, or a return, given to
/// [`OutlierDetector::on_event`](super::OutlierDetector::on_event) listeners (and, with the
/// `tracing` feature, logged).
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use protego_breaker::integrations::balance::{OutlierDetection, OutlierDetector};
/// use protego_breaker::Registry;
///
/// let detector = OutlierDetector::new(Arc::new(Registry::new()), "backend", OutlierDetection::default());
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = Arc::clone(&seen);
/// detector.on_event(move |e| log.lock().unwrap().push(format!("{} {:?}", e.endpoint(), e.kind())));
/// assert!(seen.lock().unwrap().is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutlierEvent {
    pub(crate) pool: Arc<str>,
    pub(crate) endpoint: Arc<str>,
    pub(crate) kind: OutlierEventKind,
}

impl OutlierEvent {
    /// The pool's name (the detector's).
    ///
    /// ```
    /// # use protego_breaker::integrations::balance::OutlierEvent;
    /// fn pool(e: &OutlierEvent) -> &str { e.pool() }
    /// ```
    pub fn pool(&self) -> &str {
        &self.pool
    }

    /// The endpoint, as its discover key displays.
    ///
    /// ```
    /// # use protego_breaker::integrations::balance::OutlierEvent;
    /// fn endpoint(e: &OutlierEvent) -> &str { e.endpoint() }
    /// ```
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// What happened.
    ///
    /// ```
    /// # use protego_breaker::integrations::balance::{OutlierEvent, OutlierEventKind};
    /// fn ejected(e: &OutlierEvent) -> bool { matches!(e.kind(), OutlierEventKind::Ejected { .. }) }
    /// ```
    pub fn kind(&self) -> OutlierEventKind {
        self.kind
    }

    #[cfg(feature = "tracing")]
    pub(crate) fn trace(&self) {
        match self.kind {
            OutlierEventKind::Ejected {
                rule,
                ejection_time,
                multiplier,
            } => ::tracing::warn!(
                pool = %self.pool,
                endpoint = %self.endpoint,
                rule = rule.as_str(),
                ejection_time_ms = u64::try_from(ejection_time.as_millis()).unwrap_or(u64::MAX),
                multiplier,
                "endpoint ejected"
            ),
            OutlierEventKind::Spared { rule, times } => ::tracing::info!(
                pool = %self.pool,
                endpoint = %self.endpoint,
                rule = rule.as_str(),
                times,
                "outlier not ejected: max_ejection_percent reached"
            ),
            OutlierEventKind::Returned => ::tracing::info!(
                pool = %self.pool,
                endpoint = %self.endpoint,
                "endpoint back in rotation"
            ),
        }
    }
}
