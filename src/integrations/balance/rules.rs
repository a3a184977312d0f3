//! The statistical rules of one interval, as A50 runs them: plain arithmetic over the
//! endpoints' counts, no clock and no breaker, so tests can check it by hand.

use super::config::OutlierDetection;
use super::events::Rule;

/// One endpoint's calls in the interval just ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Sample {
    pub(crate) successes: u64,
    pub(crate) failures: u64,
    /// Ejected when the interval ended.
    pub(crate) ejected: bool,
}

impl Sample {
    fn volume(&self) -> u64 {
        self.successes + self.failures
    }

    #[allow(clippy::cast_precision_loss)] // counts of calls, far below 2^52
    fn success_rate(&self) -> f64 {
        self.successes as f64 / self.volume() as f64
    }

    /// Failures over calls; 0 without calls.
    #[allow(clippy::cast_precision_loss)] // counts of calls, far below 2^52
    pub(crate) fn failure_rate(&self) -> f64 {
        if self.volume() == 0 {
            return 0.0;
        }
        self.failures as f64 / self.volume() as f64
    }
}

/// Runs the success-rate rule, then the failure-percentage rule (A50's order) over `samples`,
/// and returns the endpoints to eject, in order, each with the rule that found it. Neither rule
/// ejects once `max_ejection_percent` of the endpoints are ejected (those ejected before and
/// those found here). `chance` draws a number below 100 for `enforcement_percentage`.
pub(crate) fn analyse(
    detection: &OutlierDetection,
    samples: &[Sample],
    chance: &mut impl FnMut() -> u32,
) -> Vec<(usize, Rule)> {
    let mut ejected: Vec<bool> = samples.iter().map(|s| s.ejected).collect();
    let mut found = Vec::new();
    if let Some(rule) = detection.success_rate_ejection() {
        let qualify = qualifying(samples, rule.request_volume, rule.minimum_hosts);
        let rates: Vec<f64> = qualify.iter().map(|&i| samples[i].success_rate()).collect();
        if let Some(threshold) = rule.threshold(&rates) {
            for &i in &qualify {
                if !room(detection, &ejected) {
                    break;
                }
                if !ejected[i]
                    && samples[i].success_rate() < threshold
                    && chance() < rule.enforcement_percentage
                {
                    ejected[i] = true;
                    found.push((i, Rule::SuccessRate));
                }
            }
        }
    }
    if let Some(rule) = detection.failure_percentage_ejection() {
        for i in qualifying(samples, rule.request_volume, rule.minimum_hosts) {
            if !room(detection, &ejected) {
                break;
            }
            let s = &samples[i];
            if !ejected[i]
                && u128::from(s.failures) * 100
                    > u128::from(rule.threshold) * u128::from(s.volume())
                && chance() < rule.enforcement_percentage
            {
                ejected[i] = true;
                found.push((i, Rule::FailurePercentage));
            }
        }
    }
    found
}

/// The fewest calls a returned endpoint makes before its probation judges it.
pub(crate) const PROBATION_VOLUME: u64 = 10;

/// Whether a returned endpoint on probation, with `successes` and `failures` since it came
/// back, fails more than the pool (whose failure rate over its last interval was `baseline`)
/// explains: more failures than the pool's rate predicts for that many calls, by three
/// standard deviations of a binomial count and one call besides. Never before
/// [`PROBATION_VOLUME`] calls. With a pool that never fails, two failures in ten calls or more
/// are too many; with 1 % failing, five in a hundred.
#[allow(clippy::cast_precision_loss)] // counts of calls, far below 2^52
pub(crate) fn fails_probation(successes: u64, failures: u64, baseline: f64) -> bool {
    let volume = successes + failures;
    if volume < PROBATION_VOLUME {
        return false;
    }
    let p = baseline.clamp(0.0, 1.0);
    let expected = volume as f64 * p;
    failures as f64 > expected + 3.0 * (expected * (1.0 - p)).sqrt() + 1.0
}

/// The endpoints with at least `volume` calls, if at least `hosts` have; else none.
fn qualifying(samples: &[Sample], volume: u32, hosts: u32) -> Vec<usize> {
    let qualify: Vec<usize> = (0..samples.len())
        .filter(|&i| samples[i].volume() >= u64::from(volume.max(1)))
        .collect();
    if qualify.len() < hosts as usize {
        return Vec::new();
    }
    qualify
}

fn room(detection: &OutlierDetection, ejected: &[bool]) -> bool {
    let count = ejected.iter().filter(|e| **e).count();
    detection.may_eject(count, ejected.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::balance::{FailurePercentageEjection, SuccessRateEjection};

    fn sample(successes: u64, failures: u64) -> Sample {
        Sample {
            successes,
            failures,
            ejected: false,
        }
    }

    fn only_success_rate() -> OutlierDetection {
        OutlierDetection::builder()
            .failure_percentage_ejection(None)
            .max_ejection_percent(100)
            .build()
            .unwrap()
    }

    fn always() -> impl FnMut() -> u32 {
        || 0
    }

    #[test]
    fn success_rate_threshold_matches_hand_computed_mean_and_stdev() {
        // Rates 1, 1, 1, 0.8, 0.2: mean 0.8; deviations 0.2, 0.2, 0.2, 0, -0.6;
        // variance (3 * 0.04 + 0.36) / 5 = 0.096; stdev 0.3098387; 0.8 - 1.9 * that = 0.2113065
        let t = SuccessRateEjection::default()
            .threshold(&[1.0, 1.0, 1.0, 0.8, 0.2])
            .unwrap();
        assert!((t - (0.8 - 1.9 * 0.096_f64.sqrt())).abs() < 1e-12, "{t}");
        assert!((t - 0.211_306_5).abs() < 1e-6, "{t}");
        // All equal: stdev 0, the threshold is the mean, and nobody is below it.
        assert_eq!(
            SuccessRateEjection::default().threshold(&[0.5; 7]),
            Some(0.5)
        );
        assert_eq!(SuccessRateEjection::default().threshold(&[]), None);
    }

    #[test]
    fn success_rate_ejects_the_endpoint_below_the_threshold_only() {
        // 0.2 < 0.2113: ejected; 0.8 is not.
        let samples = [
            sample(100, 0),
            sample(100, 0),
            sample(100, 0),
            sample(80, 20),
            sample(20, 80),
        ];
        let found = analyse(&only_success_rate(), &samples, &mut always());
        assert_eq!(found, [(4, Rule::SuccessRate)]);
    }

    #[test]
    fn an_endpoint_failing_every_other_call_is_a_success_rate_outlier() {
        // Never two failures in a row, 50 % success: mean 0.95, stdev 0.15, threshold 0.665.
        let mut samples = vec![sample(200, 0); 9];
        samples.push(sample(100, 100));
        let found = analyse(&only_success_rate(), &samples, &mut always());
        assert_eq!(found, [(9, Rule::SuccessRate)]);
    }

    #[test]
    fn request_volume_gate_leaves_out_endpoints_with_too_few_calls() {
        // The bad one has 99 calls: it does not qualify, so nothing is ejected.
        let mut samples = vec![sample(100, 0); 9];
        samples.push(sample(0, 99));
        assert!(analyse(&only_success_rate(), &samples, &mut always()).is_empty());
        samples[9] = sample(0, 100);
        assert_eq!(
            analyse(&only_success_rate(), &samples, &mut always()),
            [(9, Rule::SuccessRate)]
        );
    }

    #[test]
    fn minimum_hosts_gate_needs_enough_qualifying_endpoints() {
        // Four qualify (one bad), the fifth has too few calls: below minimum_hosts 5.
        let samples = [
            sample(100, 0),
            sample(100, 0),
            sample(100, 0),
            sample(0, 100),
            sample(10, 0),
        ];
        assert!(analyse(&only_success_rate(), &samples, &mut always()).is_empty());
        let four = OutlierDetection::builder()
            .failure_percentage_ejection(None)
            .max_ejection_percent(100)
            .success_rate_ejection(Some(SuccessRateEjection::default().minimum_hosts(4)))
            .build()
            .unwrap();
        // mean 0.75, stdev 0.433, threshold -0.07: a 0 % endpoint is not below it with four hosts.
        assert!(analyse(&four, &samples, &mut always()).is_empty());
        let loose = OutlierDetection::builder()
            .failure_percentage_ejection(None)
            .max_ejection_percent(100)
            .success_rate_ejection(Some(
                SuccessRateEjection::default()
                    .minimum_hosts(4)
                    .stdev_factor(1000),
            ))
            .build()
            .unwrap();
        // 0.75 - 0.433 = 0.317 > 0: ejected with a factor of 1.
        assert_eq!(
            analyse(&loose, &samples, &mut always()),
            [(3, Rule::SuccessRate)]
        );
    }

    #[test]
    fn failure_percentage_ejects_above_the_threshold_with_its_own_gates() {
        let rule = FailurePercentageEjection::default();
        let detection = OutlierDetection::builder()
            .success_rate_ejection(None)
            .max_ejection_percent(100)
            .failure_percentage_ejection(Some(rule))
            .build()
            .unwrap();
        // 85 % exactly is not above 85; 86 % is. 50 calls qualify.
        let mut samples = vec![sample(50, 0); 8];
        samples.push(sample(15, 85));
        samples.push(sample(7, 43));
        assert_eq!(
            analyse(&detection, &samples, &mut always()),
            [(9, Rule::FailurePercentage)]
        );
        // Only four endpoints with 50 calls: below minimum_hosts.
        let few = [
            sample(50, 0),
            sample(50, 0),
            sample(50, 0),
            sample(0, 50),
            sample(0, 49),
        ];
        assert!(analyse(&detection, &few, &mut always()).is_empty());
    }

    #[test]
    fn max_ejection_percent_with_two_bad_of_ten_ejects_one() {
        let detection = OutlierDetection::default(); // 10 %
        let mut samples = vec![sample(200, 0); 8];
        samples.push(sample(0, 200));
        samples.push(sample(0, 200));
        let found = analyse(&detection, &samples, &mut always());
        assert_eq!(found.len(), 1, "{found:?}");
        // With one already ejected, nothing more.
        samples[8].ejected = true;
        assert!(analyse(&detection, &samples, &mut always()).is_empty());
    }

    #[test]
    fn enforcement_percentage_is_a_chance() {
        let detection = OutlierDetection::builder()
            .success_rate_ejection(Some(
                SuccessRateEjection::default().enforcement_percentage(30),
            ))
            .failure_percentage_ejection(None)
            .build()
            .unwrap();
        let mut samples = vec![sample(200, 0); 9];
        samples.push(sample(0, 200));
        assert!(analyse(&detection, &samples, &mut || 30).is_empty());
        assert_eq!(analyse(&detection, &samples, &mut || 29).len(), 1);
    }

    #[test]
    fn probation_judges_against_the_pools_own_failure_rate() {
        // Too few calls: no judgement.
        assert!(!fails_probation(7, 2, 0.0));
        // A pool that never fails: one failure is luck, two in ten are too many.
        assert!(!fails_probation(9, 1, 0.0));
        assert!(fails_probation(8, 2, 0.0));
        // A pool failing 1 %: four in a hundred is within it, five is not.
        assert!(!fails_probation(96, 4, 0.01));
        assert!(fails_probation(95, 5, 0.01));
        // One failing one call in five against a healthy pool, after forty calls.
        assert!(fails_probation(32, 8, 0.001));
    }
}
