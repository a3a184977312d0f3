//! Probation: an endpoint back from an ejection is judged, for its first interval, against
//! the failure rate of the endpoints in rotation over the last interval, on the pool's ticks
//! (see `rules::fails_probation` for the test). A child of `detector.rs`.

use super::shared::totals;
#[allow(clippy::wildcard_imports)]
use super::*;
use crate::integrations::balance::rules::fails_probation;

/// How often, in intervals, the pool checks the endpoints on probation: every hundredth of
/// an interval (100 ms with the default 10 s), through the balancer's polls or the driver.
const CHECKS_PER_INTERVAL: u32 = 100;

impl<C: Clock + Clone + Send + Sync + 'static> Shared<C> {
    /// Ejects the endpoints on probation that fail more than the pool explains, ends the
    /// probations whose interval is over, and sets when to check again.
    pub(super) fn judge_probation(&self, pool: &mut Pool<C>, now: u64, after: &mut After<C>) {
        if now < pool.probation_check {
            return;
        }
        let total = pool.endpoints.len();
        let mut ejected = pool
            .endpoints
            .values()
            .filter(|e| e.ejected_until.is_some_and(|until| now < until))
            .count();
        let next_sweep = pool.next_analysis;
        let baseline = pool.baseline;
        let mut on_probation = false;
        for (endpoint, entry) in &mut pool.endpoints {
            let Some((until, (succeeded, failed))) = entry.probation else {
                continue;
            };
            if now >= until {
                entry.probation = None;
                continue;
            }
            let (s, f) = totals(&entry.slot);
            let (successes, failures) = (s.saturating_sub(succeeded), f.saturating_sub(failed));
            if fails_probation(successes, failures, baseline)
                && self.detection.may_eject(ejected, total)
            {
                self.eject(endpoint, entry, Rule::Probation, (now, next_sweep), after);
                ejected += 1;
            } else {
                on_probation = true;
            }
        }
        pool.probation_check = if on_probation {
            let step = nanos(self.detection.interval()) / u64::from(CHECKS_PER_INTERVAL);
            now.saturating_add(step.max(1))
        } else {
            u64::MAX
        };
    }
}
