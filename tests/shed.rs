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
fn overload_sheds_to_the_calls_completed_and_stops_once_calm() {
    let (breaker, clock) = breaker(Config::default());
    // 50 calls in flight before shedding begins; the first ends as an overload.
    let mut early = (0..50)
        .map(|_| breaker.try_acquire().unwrap())
        .collect::<Vec<_>>()
        .into_iter();
    early.next().unwrap().overload();
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(
        breaker.consecutive_failures(),
        0,
        "overload never counts as a failure"
    );
    assert_eq!(
        breaker.shed_limit(),
        Some(1),
        "shedding starts from one call"
    );
    let a1 = breaker.try_acquire().unwrap();
    let refused = breaker.try_acquire().unwrap_err();
    assert_eq!(refused.state(), State::Closed);
    assert_eq!(refused.retry_after(), None);

    // Slow start: each completion grows the limit by one while it is in use.
    early.next().unwrap().success();
    let a2 = breaker.try_acquire().unwrap();
    early.next().unwrap().success();
    let a3 = breaker.try_acquire().unwrap();
    assert!(breaker.try_acquire().is_err());
    assert_eq!(breaker.shed_limit(), Some(3));

    // A tenth of the window later, another overload: cut to 0.9 x the 3 calls in flight (2.7).
    clock.advance(Duration::from_millis(150));
    early.next().unwrap().overload();
    assert_eq!(breaker.shed_limit(), Some(2));
    assert!(
        breaker.try_acquire().is_err(),
        "3 in flight over a limit of 2.7"
    );
    // After a cut, each success adds 1 / limit: 2.7 + 0.37.
    a1.success();
    assert_eq!(breaker.shed_limit(), Some(3));
    let a4 = breaker.try_acquire().unwrap();

    // A window with no overload and no refusal, and none of its calls in flight: it stops.
    clock.advance(Duration::from_millis(1_100));
    a2.success();
    a3.success();
    assert!(breaker.shed_limit().is_some(), "a4 still in flight");
    a4.success();
    assert_eq!(breaker.shed_limit(), None);
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn a_success_that_waited_in_a_queue_does_not_grow_the_limit() {
    let (breaker, clock) = breaker(Config::default());
    breaker.try_acquire().unwrap().overload();
    // One call back in 10 ms: the episode's fastest; slow start makes the limit 2.
    let first = breaker.try_acquire().unwrap();
    clock.advance(Duration::from_millis(10));
    first.success();
    assert_eq!(breaker.shed_limit(), Some(2));
    // Two back in 100 ms, ten times the fastest: they waited in the downstream's queue, and
    // a longer queue would not complete more; the limit stays.
    let (one, two) = (
        breaker.try_acquire().unwrap(),
        breaker.try_acquire().unwrap(),
    );
    clock.advance(Duration::from_millis(100));
    one.success();
    two.success();
    assert_eq!(breaker.shed_limit(), Some(2));
    // Back within four times the fastest (40 ms): the limit grows again.
    let (three, four) = (
        breaker.try_acquire().unwrap(),
        breaker.try_acquire().unwrap(),
    );
    clock.advance(Duration::from_millis(40));
    three.success();
    assert_eq!(breaker.shed_limit(), Some(3));
    four.success();
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
    for bad in [1.0, -1.0, 101.0, f64::NAN, f64::INFINITY] {
        assert_eq!(
            knob(Config::builder().shed_latency_factor(bad)),
            "shed_latency_factor",
            "{bad}"
        );
    }
    for good in [0.0, 1.5, 2.5, 100.0] {
        let config = Config::builder().shed_latency_factor(good).build().unwrap();
        assert!((config.shed_latency_factor() - good).abs() < 1e-9);
    }
}

/// `n` successes that each take `latency`, each after a second of quiet (so that the
/// thread's countdown times every one of them).
fn successes(breaker: &Breaker<ManualClock>, clock: &ManualClock, n: u32, latency: Duration) {
    for _ in 0..n {
        clock.advance(Duration::from_secs(1));
        let permit = breaker.try_acquire().unwrap();
        clock.advance(latency);
        permit.success();
    }
}

#[test]
fn successes_that_slow_down_start_shedding_before_any_overload() {
    let (breaker, clock) = breaker(Config::default());
    successes(&breaker, &clock, 20, Duration::from_millis(10));
    assert_eq!(breaker.shed_limit(), None, "a stable latency");
    // Four times slower (more than 3x the mean), three in a row: not yet.
    successes(&breaker, &clock, 3, Duration::from_millis(40));
    assert_eq!(breaker.shed_limit(), None);
    // One fast success breaks the streak.
    successes(&breaker, &clock, 1, Duration::from_millis(10));
    successes(&breaker, &clock, 3, Duration::from_millis(40));
    assert_eq!(breaker.shed_limit(), None);
    // The fourth in a row starts shedding, from four calls, with the circuit closed.
    successes(&breaker, &clock, 1, Duration::from_millis(40));
    assert_eq!(breaker.shed_limit(), Some(4));
    assert_eq!(breaker.state(), State::Closed);
    let held: Vec<_> = (0..4).map(|_| breaker.try_acquire().unwrap()).collect();
    assert!(
        breaker.try_acquire().is_err(),
        "the four calls let in are in flight"
    );
    drop(held);
}

#[test]
fn a_sensed_episode_hands_the_places_of_the_calls_it_found_over_until_confirmed() {
    let (breaker, clock) = breaker(Config::default());
    successes(&breaker, &clock, 20, Duration::from_millis(10));
    successes(&breaker, &clock, 3, Duration::from_millis(40));
    // Three calls in flight when the fourth slow success is heard (the threshold: 30 ms).
    clock.advance(Duration::from_secs(1));
    let fourth = breaker.try_acquire().unwrap();
    let mut found: Vec<_> = (0..3).map(|_| breaker.try_acquire().unwrap()).collect();
    clock.advance(Duration::from_millis(40));
    fourth.success();
    assert_eq!(breaker.shed_limit(), Some(4));
    // One that ends within half the threshold of the word hands its place over.
    clock.advance(Duration::from_millis(5));
    found.pop().unwrap().success();
    assert_eq!(breaker.shed_limit(), Some(5));
    // An overload of a call let in since confirms the episode: no more places handed over,
    // and none taken back before the first cut (a tenth of `shed_window` after the word).
    breaker.try_acquire().unwrap().overload();
    found.pop().unwrap().success();
    assert_eq!(
        breaker.shed_limit(),
        Some(5),
        "confirmed: nothing handed over"
    );
    // Past half the threshold, nothing is handed over either.
    let (breaker, clock) = self::breaker(Config::default());
    successes(&breaker, &clock, 20, Duration::from_millis(10));
    successes(&breaker, &clock, 3, Duration::from_millis(40));
    clock.advance(Duration::from_secs(1));
    let fourth = breaker.try_acquire().unwrap();
    let late = breaker.try_acquire().unwrap();
    clock.advance(Duration::from_millis(40));
    fourth.success();
    clock.advance(Duration::from_millis(20));
    late.success();
    assert_eq!(breaker.shed_limit(), Some(4), "ended 20 ms after the word");
    // An episode an overload starts begins at one call.
    let (breaker, _) = self::breaker(Config::default());
    let _found: Vec<_> = (0..3).map(|_| breaker.try_acquire().unwrap()).collect();
    breaker.try_acquire().unwrap().overload();
    assert_eq!(breaker.shed_limit(), Some(1));
}

#[test]
fn a_slowdown_starts_nothing_with_the_sensor_off_or_under_the_floor() {
    let off = Config::builder().shed_latency_factor(0.0).build().unwrap();
    let (breaker, clock) = breaker(off);
    successes(&breaker, &clock, 20, Duration::from_millis(10));
    successes(&breaker, &clock, 20, Duration::from_millis(500));
    assert_eq!(breaker.shed_limit(), None, "off");
    // From 10 µs to 9 ms: nine hundred times slower, but under 3x the 10 ms floor (a busy
    // executor delays every call by a few ms: the soak test's 64 clients on loopback).
    let (breaker, clock) = breaker_default();
    successes(&breaker, &clock, 20, Duration::from_micros(10));
    successes(&breaker, &clock, 20, Duration::from_millis(9));
    assert_eq!(breaker.shed_limit(), None, "under the floor");
}

fn breaker_default() -> (Breaker<ManualClock>, ManualClock) {
    breaker(Config::default())
}

#[test]
fn totals_count_an_overload_as_failed_and_a_shed_call_as_rejected() {
    let (breaker, clock) = breaker(Config::builder().totals(true).build().unwrap());
    breaker.try_acquire().unwrap().overload(); // shedding, a limit of 1
    let first = breaker.try_acquire().unwrap();
    assert!(breaker.try_acquire().is_err());
    first.success(); // slow start: 2
    let (second, third) = (
        breaker.try_acquire().unwrap(),
        breaker.try_acquire().unwrap(),
    );
    clock.advance(Duration::from_millis(150));
    second.overload(); // cut to 0.9 x the 1 left in flight: 1
    assert!(breaker.try_acquire().is_err());
    let m = breaker.metrics();
    assert_eq!(m.shed_limit, Some(1));
    let t = m.totals.unwrap();
    assert_eq!(
        (t.admitted, t.rejected, t.succeeded, t.failed, t.ignored),
        (4, 2, 1, 2, 0)
    );
    third.success();
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
    breaker.try_acquire().unwrap().overload(); // shedding, a limit of 1
    let held = breaker.try_acquire().unwrap();
    assert!(breaker.try_acquire().is_err());
    assert_eq!(heard.load(Ordering::Relaxed), 1);
    held.success();
    clock.advance(Duration::from_millis(1));
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
    assert_eq!(json["shed_limit"], 1);
}
