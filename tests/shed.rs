//! Overload shedding (issue #28): an overload is shed to the calls the downstream completes,
//! never counted towards opening the circuit while it completes any, and an outage that
//! answers with timeouts still opens it.

use std::time::Duration;

use protego_breaker::call::Outcome;
use protego_breaker::{Breaker, CircuitBreaker, Config, ManualClock, State};

fn breaker(config: Config) -> (Breaker<ManualClock>, ManualClock) {
    let clock = ManualClock::new();
    (Breaker::with_clock(config, clock.clone()), clock)
}

#[test]
fn overload_sheds_to_the_calls_in_flight_and_stops_once_calm() {
    let (breaker, clock) = breaker(Config::default());
    // 50 calls in flight before shedding begins; every one overloads.
    let permits: Vec<_> = (0..50).map(|_| breaker.try_acquire().unwrap()).collect();
    for p in permits {
        p.record(Outcome::Overload);
    }
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(
        breaker.consecutive_failures(),
        0,
        "overload never counts as a failure"
    );
    assert_eq!(
        breaker.shed_limit(),
        Some(1024),
        "shedding began, not yet cut"
    );

    // A tenth of the window later, ten calls in flight, one overloads: the limit is cut to
    // 0.9 x the 9 left in flight.
    clock.advance(Duration::from_millis(150));
    let mut held: Vec<_> = (0..10).map(|_| breaker.try_acquire().unwrap()).collect();
    held.pop().unwrap().record(Outcome::Overload);
    assert_eq!(breaker.shed_limit(), Some(8));
    let refused = breaker.try_acquire().unwrap_err();
    assert_eq!(refused.state(), State::Closed);
    assert_eq!(refused.retry_after(), None);

    // Completions make room at once; a window with no overload and no refusal ends shedding.
    held.pop().unwrap().success();
    assert!(
        breaker.try_acquire().is_err(),
        "9 - 1 = 8 in flight: at the limit"
    );
    held.pop().unwrap().success();
    let in_again = breaker.try_acquire().expect("room made by a completion");
    clock.advance(Duration::from_millis(1_100));
    in_again.success();
    for p in held {
        p.success();
    }
    assert_eq!(breaker.shed_limit(), None);
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn an_outage_that_answers_with_timeouts_opens_after_shed_outage_after() {
    let (breaker, clock) = breaker(Config::default());
    let mut opened_at = None;
    for tick in 0..100u64 {
        match breaker.try_acquire() {
            Ok(p) => p.record(Outcome::Overload),
            Err(r) if r.state() == State::Open => {
                opened_at = Some(tick);
                break;
            }
            Err(_) => {}
        }
        clock.advance(Duration::from_millis(100));
    }
    // 5 s with nothing completed, then the default's 3 consecutive failures.
    let opened_at = opened_at.expect("the outage opens the circuit");
    assert!((50..=60).contains(&opened_at), "opened at tick {opened_at}");
    // An outage keeps the seed's 60 s.
    clock.advance(Duration::from_secs(59));
    assert_eq!(breaker.state(), State::Open);
    clock.advance(Duration::from_secs(1));
    assert_eq!(breaker.state(), State::HalfOpen);
}

#[test]
fn errors_at_once_open_the_circuit_as_before_and_shedding_can_be_turned_off() {
    let (breaker, _) = breaker(Config::default());
    for _ in 0..3 {
        breaker.try_acquire().unwrap().failure();
    }
    assert_eq!(breaker.state(), State::Open);

    let (breaker, _) = breaker_off();
    for _ in 0..3 {
        breaker.try_acquire().unwrap().record(Outcome::Overload);
    }
    assert_eq!(
        breaker.state(),
        State::Open,
        "off: an overload is a failure"
    );
}

fn breaker_off() -> (Breaker<ManualClock>, ManualClock) {
    breaker(Config::builder().shed_overload(false).build().unwrap())
}

#[test]
fn an_overloaded_trial_reopens_the_circuit() {
    let (breaker, clock) = breaker(Config::builder().failure_threshold(1).build().unwrap());
    breaker.try_acquire().unwrap().failure();
    clock.advance(Duration::from_secs(60));
    breaker.try_acquire().unwrap().record(Outcome::Overload);
    assert_eq!(breaker.state(), State::Open);
}

#[test]
fn bad_shedding_knobs_are_named() {
    let knob = |b: protego_breaker::ConfigBuilder| b.build().unwrap_err().knob();
    assert_eq!(knob(Config::builder().shed_backoff(0.0)), "shed_backoff");
    assert_eq!(
        knob(Config::builder().shed_backoff(f64::NAN)),
        "shed_backoff"
    );
    assert_eq!(
        knob(Config::builder().shed_window(Duration::from_millis(1))),
        "shed_window"
    );
    assert_eq!(
        knob(Config::builder().shed_outage_after(Duration::ZERO)),
        "shed_outage_after"
    );
}

#[test]
fn totals_count_an_overload_as_failed_and_a_shed_call_as_rejected() {
    let (breaker, clock) = breaker(Config::builder().totals(true).build().unwrap());
    breaker.try_acquire().unwrap().overload();
    clock.advance(Duration::from_millis(150));
    let held: Vec<_> = (0..3).map(|_| breaker.try_acquire().unwrap()).collect();
    breaker.try_acquire().unwrap().overload(); // cut to 0.9 x 3: 2
    assert!(breaker.try_acquire().is_err());
    let m = breaker.metrics();
    assert_eq!(m.shed_limit, Some(2));
    let t = m.totals.unwrap();
    assert_eq!((t.admitted, t.rejected, t.failed, t.ignored), (5, 1, 2, 0));
    drop(held);
}

#[test]
fn a_shed_call_is_a_rejection_listeners_hear() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let (breaker, clock) = breaker(Config::default());
    let heard = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&heard);
    breaker.on_rejection(move |r| {
        assert_eq!((r.state(), r.retry_after()), (State::Closed, None));
        count.fetch_add(1, Ordering::Relaxed);
    });
    breaker.try_acquire().unwrap().overload();
    clock.advance(Duration::from_millis(150));
    let held = breaker.try_acquire().unwrap();
    breaker.try_acquire().unwrap().overload(); // limit 1, one in flight
    assert!(breaker.try_acquire().is_err());
    assert_eq!(heard.load(Ordering::Relaxed), 1);
    held.success();
}

#[cfg(feature = "serde")]
#[test]
fn the_snapshot_shows_the_limit_only_while_shedding() {
    use protego_breaker::integrations::serde::BreakerSnapshot;
    let (breaker, _) = breaker(Config::default());
    let json = serde_json::to_value(BreakerSnapshot::of(&breaker)).unwrap();
    assert!(json.get("shed_limit").is_none());
    breaker.try_acquire().unwrap().overload();
    let json = serde_json::to_value(BreakerSnapshot::of(&breaker)).unwrap();
    assert_eq!(json["shed_limit"], 1024);
}
