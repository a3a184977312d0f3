//! Calls refused by overload shedding are counted apart in the totals (`Totals::shed`, a part
//! of `rejected`), and the admin snapshot shows them.

use std::time::Duration;

use protego_breaker::{Breaker, CircuitBreaker, Config, ManualClock, State};

/// A breaker counting its calls, shedding at a limit of one call, with one running: two
/// refused by shedding, then (the running call failing at once: an outage) one by the open
/// circuit.
fn shed_twice_then_open() -> Breaker<ManualClock> {
    let config = Config::builder()
        .failure_threshold(1)
        .reset_timeout(Duration::from_secs(10))
        .totals(true)
        .build()
        .unwrap();
    let breaker = Breaker::with_clock(config, ManualClock::new()).named("quotes");
    breaker.try_acquire().unwrap().overload();
    assert_eq!(breaker.shed_limit(), Some(1));
    let running = breaker.try_acquire().unwrap();
    for _ in 0..2 {
        let refused = breaker.try_acquire().unwrap_err();
        assert_eq!(refused.state(), State::Closed, "shedding's refusal");
        assert_eq!(refused.retry_after(), None);
    }
    running.failure();
    let rejected = breaker.try_acquire().unwrap_err();
    assert_eq!(rejected.state(), State::Open, "the circuit's rejection");
    breaker
}

#[test]
fn the_totals_count_shedding_refusals_among_the_rejections() {
    let totals = shed_twice_then_open().metrics().totals.unwrap();
    assert_eq!(totals.rejected, 3);
    assert_eq!(totals.shed, 2);
    assert_eq!(totals.admitted, 2);
}

#[cfg(feature = "serde")]
#[test]
fn the_snapshot_shows_the_shed_calls() {
    use protego_breaker::integrations::serde::BreakerSnapshot;
    let json = serde_json::to_value(BreakerSnapshot::of(&shed_twice_then_open())).unwrap();
    assert_eq!(json["totals"]["rejected"], 3);
    assert_eq!(json["totals"]["shed"], 2);
}
