//! The storm simulation's reference models, beside the crate's own types: an AIMD concurrency
//! limit (as Netflix's `AIMDLimit`) and a budget that grants every retry.

use std::time::Duration;

use protego_breaker::retry::Budget;

/// The reference concurrency limit: AIMD (as Netflix's `AIMDLimit`): at most `limit` calls in
/// flight; +1/limit per success, x0.9 per timeout, from 20, at least 1.
pub(super) struct Aimd {
    limit: f64,
    in_flight: u32,
}

impl Aimd {
    pub(super) fn new() -> Self {
        Aimd {
            limit: 20.0,
            in_flight: 0,
        }
    }

    pub(super) fn acquire(&mut self) -> bool {
        if f64::from(self.in_flight) >= self.limit {
            return false;
        }
        self.in_flight += 1;
        true
    }

    pub(super) fn release(&mut self, ok: bool) {
        self.in_flight -= 1;
        self.limit = if ok {
            self.limit + 1.0 / self.limit
        } else {
            (self.limit * 0.9).max(1.0)
        };
    }
}

/// A budget that grants every retry: retries with no budget.
pub(super) struct Free;

impl Budget for Free {
    fn deposit(&self, _: Duration) {}
    fn withdraw(&self, _: Duration) -> bool {
        true
    }
}
