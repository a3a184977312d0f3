//! What resilience4j's and gobreaker's users can say, said here: metrics-only, a timed manual
//! open, a manual half-open, an initial state, half-open decided by rate with its own time
//! limit, a custom trip rule, and the window's own numbers. One test per rule, on a manual
//! clock.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use protego_breaker::{
    observe::Counts, observe::Rate, observe::Reason, Breaker, Clock, Config, ManualClock, Registry,
    State, Window,
};

fn log_transitions<C: Clock>(breaker: &Breaker<C>) -> Arc<Mutex<Vec<(State, State, Reason)>>> {
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&log);
    breaker.on_transition(move |t| sink.lock().unwrap().push((t.from(), t.to(), t.reason())));
    log
}

// ---- metrics only ----

#[test]
fn metrics_only_admits_every_call_and_never_opens() {
    let (_clock, breaker) = manual(cfg(1, secs(60), 1));
    assert!(breaker.metrics_only());
    assert!(!breaker.metrics_only(), "already metrics-only");
    for _ in 0..10 {
        start(&breaker).expect("never rejected").fail();
    }
    assert_eq!(breaker.state(), State::MetricsOnly);
}

#[test]
fn a_would_be_trip_shows_as_metrics_only_to_metrics_only_and_counts_start_over() {
    let (_clock, breaker) = manual(cfg(3, secs(60), 1));
    breaker.metrics_only();
    let log = log_transitions(&breaker);
    fail_n(&breaker, 2);
    assert_eq!(breaker.consecutive_failures(), 2, "counted as in closed");
    assert!(log.lock().unwrap().is_empty());
    start(&breaker).unwrap().fail(); // the third: a closed breaker would open here
    assert_eq!(
        *log.lock().unwrap(),
        [(
            State::MetricsOnly,
            State::MetricsOnly,
            Reason::FailureThreshold
        )]
    );
    assert_eq!(breaker.consecutive_failures(), 0, "counts start over");
}

#[test]
fn a_late_outcome_from_before_a_would_be_trip_counts_for_nothing() {
    let (_clock, breaker) = manual(cfg(2, secs(60), 1));
    breaker.metrics_only();
    let late = start(&breaker).unwrap();
    fail_n(&breaker, 2); // would trip: a fresh generation
    late.fail();
    assert_eq!(breaker.consecutive_failures(), 0);
}

#[test]
fn metrics_only_with_a_window_reports_the_rate_it_would_open_at() {
    let cfg = Config::builder()
        .window(Window::Count(4))
        .minimum_calls(4)
        .failure_rate_threshold(50)
        .build()
        .unwrap();
    let (_clock, breaker) = manual(cfg);
    breaker.metrics_only();
    let log = log_transitions(&breaker);
    for how in [Finish::Succeed, Finish::Fail, Finish::Succeed] {
        run(&breaker, how).unwrap();
    }
    assert_eq!(breaker.metrics().failure_rate, Some(100.0 / 3.0));
    run(&breaker, Finish::Fail).unwrap();
    assert_eq!(
        *log.lock().unwrap(),
        [(State::MetricsOnly, State::MetricsOnly, Reason::FailureRate)]
    );
    assert_eq!(
        breaker.metrics().failure_rate,
        None,
        "the window starts over"
    );
}

#[test]
fn reset_arms_a_metrics_only_breaker() {
    let (_clock, breaker) = manual(cfg(1, secs(60), 1));
    breaker.metrics_only();
    assert!(breaker.reset());
    start(&breaker).unwrap().fail();
    assert_eq!(breaker.state(), State::Open);
}

// ---- timed manual open, manual half-open ----

#[test]
fn open_for_rejects_with_the_exact_time_left_then_goes_half_open() {
    let (clock, breaker) = manual(cfg(3, secs(60), 1));
    let log = log_transitions(&breaker);
    breaker.open_for(secs(5));
    clock.advance(secs(2));
    assert_eq!(start(&breaker).err().unwrap().retry_after(), Some(secs(3)));
    clock.advance(secs(3));
    assert_eq!(breaker.state(), State::HalfOpen);
    start(&breaker).unwrap().succeed();
    assert_eq!(
        *log.lock().unwrap(),
        [
            (State::Closed, State::Open, Reason::OpenedByHand),
            (State::Open, State::HalfOpen, Reason::OpenPeriodEnded),
            (State::HalfOpen, State::Closed, Reason::TrialsSucceeded),
        ]
    );
}

#[test]
fn open_for_replaces_a_forced_open_and_an_open_period() {
    let (clock, breaker) = manual(cfg(1, secs(60), 1));
    breaker.force_open();
    breaker.open_for(secs(10));
    assert_eq!(breaker.state(), State::Open, "no longer held until told");
    start(&breaker).err().unwrap();
    breaker.open_for(secs(1)); // shortens the period
    clock.advance(secs(1));
    assert_eq!(breaker.state(), State::HalfOpen);
}

#[test]
fn open_until_an_instant_already_past_half_opens_at_the_next_check() {
    let (clock, breaker) = manual(cfg(1, secs(60), 1));
    clock.advance(secs(100));
    breaker.open_until(secs(40));
    assert_eq!(breaker.state(), State::HalfOpen);
}

#[test]
fn open_for_the_longest_duration_saturates_instead_of_overflowing() {
    let (clock, breaker) = manual(cfg(1, secs(60), 1));
    clock.advance(secs(1));
    breaker.open_for(Duration::MAX);
    let left = start(&breaker).err().unwrap().retry_after().unwrap();
    assert!(left > Duration::from_secs(500 * 365 * 86_400), "{left:?}");
}

#[test]
fn outcomes_admitted_before_open_for_count_for_nothing() {
    let (clock, breaker) = manual(cfg(1, secs(60), 1));
    let before = start(&breaker).unwrap();
    breaker.open_for(secs(5));
    before.fail();
    clock.advance(secs(5));
    assert_eq!(
        breaker.state(),
        State::HalfOpen,
        "the late failure did not reopen"
    );
}

#[test]
fn half_open_by_hand_skips_the_open_period() {
    let (_clock, breaker) = manual(cfg(1, secs(60), 2));
    let log = log_transitions(&breaker);
    start(&breaker).unwrap().fail();
    assert!(breaker.half_open());
    assert!(!breaker.half_open(), "a round is already running");
    start(&breaker).unwrap().succeed();
    start(&breaker).unwrap().succeed();
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(
        log.lock().unwrap()[1],
        (State::Open, State::HalfOpen, Reason::HalfOpenedByHand)
    );
}

// ---- initial state ----

#[test]
fn an_initial_open_period_starts_when_the_breaker_is_made() {
    let clock = ManualClock::new();
    clock.advance(secs(1000));
    let cfg = cfg(1, secs(60), 1)
        .to_builder()
        .initial_state(State::Open)
        .build()
        .unwrap();
    let breaker = Breaker::with_clock(cfg, clock.clone());
    assert_eq!(start(&breaker).err().unwrap().retry_after(), Some(secs(60)));
    clock.advance(secs(60));
    assert_eq!(breaker.state(), State::HalfOpen);
}

#[test]
fn every_initial_state_but_half_open_is_accepted() {
    for state in [
        State::Closed,
        State::Open,
        State::ForcedOpen,
        State::Disabled,
        State::MetricsOnly,
    ] {
        let cfg = Config::builder().initial_state(state).build().unwrap();
        let (_clock, breaker) = manual(cfg);
        assert_eq!(breaker.state(), state);
    }
    let err = Config::builder()
        .initial_state(State::HalfOpen)
        .build()
        .unwrap_err();
    assert_eq!(err.knob(), "initial_state");
    assert_eq!(
        err.to_string(),
        "initial_state must be closed, open, forced-open, disabled or metrics-only, got half-open"
    );
}

#[test]
fn the_initial_state_applies_at_creation_only() {
    let (_clock, breaker) = manual(Config::default());
    let log = log_transitions(&breaker);
    breaker.reconfigure(
        Config::builder()
            .initial_state(State::ForcedOpen)
            .build()
            .unwrap(),
    );
    assert_eq!(breaker.state(), State::Closed);
    assert!(log.lock().unwrap().is_empty());
}

#[test]
fn registry_breakers_start_in_their_configs_initial_state() {
    let registry = Registry::with_clock(ManualClock::new());
    let cfg = Config::builder()
        .initial_state(State::ForcedOpen)
        .build()
        .unwrap();
    let breaker = registry.breaker("replica", cfg.clone());
    assert_eq!(breaker.state(), State::ForcedOpen);
}

// ---- half-open decided by rate, and its own time limit ----

fn by_rate(trials: u32, rate: u8) -> Config {
    cfg(1, secs(10), trials)
        .to_builder()
        .half_open_by_rate(true)
        .failure_rate_threshold(rate)
        .build()
        .unwrap()
}

/// Trips the breaker and waits out the open period.
fn to_half_open(clock: &ManualClock, breaker: &Breaker<ManualClock>) {
    start(breaker).unwrap().fail();
    clock.advance(secs(10));
    assert_eq!(breaker.state(), State::HalfOpen);
}

#[test]
fn by_rate_a_failed_trial_does_not_reopen_until_the_round_is_done() {
    let (clock, breaker) = manual(by_rate(4, 50));
    to_half_open(&clock, &breaker);
    start(&breaker).unwrap().fail();
    assert_eq!(
        breaker.state(),
        State::HalfOpen,
        "one failure of four decides nothing"
    );
    for _ in 0..3 {
        start(&breaker).unwrap().succeed();
    }
    assert_eq!(breaker.state(), State::Closed, "25 % < 50 %");
}

#[test]
fn by_rate_a_round_failing_at_the_threshold_reopens() {
    let (clock, breaker) = manual(by_rate(4, 50));
    to_half_open(&clock, &breaker);
    let log = log_transitions(&breaker);
    let calls: Vec<_> = (0..4).map(|_| start(&breaker).unwrap()).collect();
    assert!(start(&breaker).is_err(), "four trials per round");
    for (i, call) in calls.into_iter().enumerate() {
        if i % 2 == 0 {
            call.fail();
        } else {
            call.succeed();
        }
    }
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(
        *log.lock().unwrap(),
        [(State::HalfOpen, State::Open, Reason::FailureRate)]
    );
}

#[test]
fn by_rate_slow_trials_reopen_at_the_slow_call_rate() {
    let cfg = by_rate(2, 100)
        .to_builder()
        .window(Window::Count(10))
        .slow_call_duration(secs(1))
        .slow_call_rate_threshold(50)
        .build()
        .unwrap();
    let (clock, breaker) = manual(cfg);
    breaker.half_open();
    let slow = start(&breaker).unwrap();
    clock.advance(secs(2));
    slow.succeed();
    start(&breaker).unwrap().succeed();
    let rejected = start(&breaker).err().unwrap();
    assert_eq!(rejected.state(), State::Open, "1 of 2 slow: 50 %");
}

#[test]
fn by_default_the_first_failed_trial_still_reopens() {
    let (clock, breaker) = manual(cfg(1, secs(10), 4));
    to_half_open(&clock, &breaker);
    start(&breaker).unwrap().fail();
    assert_eq!(breaker.state(), State::Open);
}

#[test]
fn a_failure_counted_by_rate_still_reopens_after_the_rule_is_switched_off() {
    let (clock, breaker) = manual(by_rate(2, 100));
    to_half_open(&clock, &breaker);
    start(&breaker).unwrap().fail();
    breaker.reconfigure(cfg(1, secs(10), 2));
    start(&breaker).unwrap().succeed();
    assert_eq!(breaker.state(), State::Open, "not every trial succeeded");
}

#[test]
fn a_hung_round_is_replaced_after_max_half_open_duration() {
    let cfg = cfg(1, secs(60), 1)
        .to_builder()
        .max_half_open_duration(secs(5))
        .build()
        .unwrap();
    let (clock, breaker) = manual(cfg);
    breaker.half_open();
    let hung = start(&breaker).unwrap();
    clock.advance(Duration::from_millis(4_999));
    assert!(start(&breaker).is_err(), "the round is still running");
    clock.advance(Duration::from_millis(1));
    let fresh = start(&breaker).expect("a fresh round after 5 s");
    hung.succeed(); // of the old round: counts for nothing
    assert_eq!(breaker.state(), State::HalfOpen);
    fresh.succeed();
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn max_half_open_duration_must_be_more_than_zero() {
    let err = Config::builder()
        .max_half_open_duration(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(err.knob(), "max_half_open_duration");
}

#[test]
fn a_registry_update_never_applies_a_new_initial_state() {
    let registry = Registry::with_clock(ManualClock::new());
    let breaker = registry.breaker("db", Config::default());
    let cfg = Config::builder()
        .initial_state(State::ForcedOpen)
        .build()
        .unwrap();
    let same = registry.breaker("db", cfg.clone());
    assert!(Arc::ptr_eq(&breaker, &same));
    assert_eq!(same.config(), cfg, "updated in place");
    assert_eq!(same.state(), State::Closed);
}

// ---- the window's own numbers, and counts since the last transition ----

#[test]
fn counts_since_the_last_transition_start_over_at_each_transition() {
    let (clock, breaker) = manual(cfg(2, secs(10), 1));
    breaker.set_trip_rule(|counts, _| counts.consecutive_failures >= 2);
    run(&breaker, Finish::Succeed).unwrap();
    run(&breaker, Finish::Succeed).unwrap();
    run(&breaker, Finish::Ignore).unwrap();
    let in_flight = start(&breaker).unwrap();
    run(&breaker, Finish::Fail).unwrap();
    let counts = breaker.metrics().counts.unwrap();
    assert_eq!(
        (counts.requests, counts.successes, counts.failures),
        (5, 2, 1),
        "requests count admissions, ignored and unfinished calls included"
    );
    assert_eq!(
        (counts.consecutive_successes, counts.consecutive_failures),
        (0, 1)
    );
    run(&breaker, Finish::Fail).unwrap(); // opens
    assert_eq!(breaker.metrics().counts, Some(Counts::default()));
    in_flight.succeed(); // late: counts for nothing
    clock.advance(secs(10));
    start(&breaker).unwrap().succeed(); // the trial closes the circuit
    assert_eq!(breaker.metrics().counts, Some(Counts::default()));
}

#[test]
fn counts_are_kept_only_with_a_trip_rule() {
    let totals = Config::builder().totals(true).build().unwrap();
    let (_clock, breaker) = manual(totals);
    run(&breaker, Finish::Fail).unwrap();
    assert_eq!(
        breaker.metrics().counts,
        None,
        "totals alone keep no counts"
    );
    assert_eq!(breaker.metrics().window, None, "no window");
}

fn windowed(n: u32, minimum: u32) -> Config {
    Config::builder()
        .window(Window::Count(n))
        .minimum_calls(minimum)
        .failure_rate_threshold(100)
        .slow_call_duration(secs(1))
        .slow_call_rate_threshold(100)
        .build()
        .unwrap()
}

#[test]
fn the_window_says_not_enough_calls_below_minimum_calls() {
    let (_clock, breaker) = manual(windowed(10, 3));
    run(&breaker, Finish::Fail).unwrap();
    run(&breaker, Finish::Succeed).unwrap();
    let window = breaker.metrics().window.unwrap();
    assert_eq!((window.calls, window.failed), (2, 1));
    assert_eq!(
        window.failure_rate,
        Rate::NotEnoughCalls {
            calls: 2,
            minimum_calls: 3
        }
    );
    run(&breaker, Finish::Succeed).unwrap();
    let window = breaker.metrics().window.unwrap();
    assert_eq!(window.failure_rate, Rate::Percent(100.0 / 3.0));
    assert_eq!(window.slow_call_rate, Rate::Percent(0.0));
}

#[test]
fn the_window_counts_slow_and_slow_failed_calls() {
    let (clock, breaker) = manual(windowed(3, 1));
    breaker.set_trip_rule(|_, _| false); // the window's rates no longer open it
    for how in [Finish::Fail, Finish::Succeed, Finish::Fail] {
        let call = start(&breaker).unwrap();
        clock.advance(secs(if how == Finish::Succeed { 2 } else { 1 }));
        call.finish(how);
    }
    let window = breaker.metrics().window.unwrap();
    assert_eq!(
        (window.calls, window.failed, window.slow, window.slow_failed),
        (3, 2, 3, 2)
    );
    run(&breaker, Finish::Succeed).unwrap(); // a fast success pushes the first slow failure out
    let window = breaker.metrics().window.unwrap();
    assert_eq!((window.slow, window.slow_failed), (2, 1));
}

// ---- a custom trip rule ----

#[test]
fn the_trip_rule_decides_instead_of_failure_threshold() {
    let (_clock, breaker) = manual(cfg(1, secs(60), 1));
    breaker.set_trip_rule(|counts, _| counts.consecutive_failures >= 3);
    let log = log_transitions(&breaker);
    fail_n(&breaker, 2);
    assert_eq!(
        breaker.state(),
        State::Closed,
        "failure_threshold 1 no longer opens"
    );
    fail_n(&breaker, 1);
    assert_eq!(
        *log.lock().unwrap(),
        [(State::Closed, State::Open, Reason::TripRule)]
    );
}

#[test]
fn the_trip_rule_is_never_asked_after_a_plain_success() {
    let (_clock, breaker) = manual(Config::default());
    let asked = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&asked);
    breaker.set_trip_rule(move |counts, _| {
        seen.lock().unwrap().push(*counts);
        false
    });
    for how in [
        Finish::Succeed,
        Finish::Fail,
        Finish::Succeed,
        Finish::Ignore,
    ] {
        run(&breaker, how).unwrap();
    }
    let asked = asked.lock().unwrap();
    assert_eq!(asked.len(), 1, "only the failure asked");
    assert_eq!(
        (asked[0].requests, asked[0].successes, asked[0].failures),
        (2, 1, 1)
    );
}

#[test]
fn the_trip_rule_sees_the_window_and_is_asked_on_slow_successes() {
    let (clock, breaker) = manual(windowed(10, 1));
    breaker.set_trip_rule(|_, window| window.is_some_and(|w| w.slow >= 2));
    for _ in 0..2 {
        let call = start(&breaker).unwrap();
        clock.advance(secs(1));
        call.succeed();
    }
    assert_eq!(breaker.state(), State::Open);
}

#[test]
fn a_panicking_trip_rule_counts_as_do_not_trip() {
    let (_clock, breaker) = manual(cfg(1, secs(60), 1));
    breaker.set_trip_rule(|counts, _| {
        assert!(counts.failures < 2, "trip rule panicked on purpose");
        counts.failures >= 3
    });
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    fail_n(&breaker, 2); // the rule panics on the second
    std::panic::set_hook(quiet);
    assert_eq!(breaker.state(), State::Closed, "not wedged, not tripped");
    breaker.clear_trip_rule();
    fail_n(&breaker, 1);
    assert_eq!(
        breaker.state(),
        State::Open,
        "failure_threshold decides again"
    );
}

#[test]
fn a_trip_rule_in_metrics_only_is_a_would_be_trip() {
    let (_clock, breaker) = manual(Config::default());
    breaker.metrics_only();
    breaker.set_trip_rule(|counts, _| counts.failures >= 1);
    let log = log_transitions(&breaker);
    fail_n(&breaker, 1);
    assert_eq!(
        *log.lock().unwrap(),
        [(State::MetricsOnly, State::MetricsOnly, Reason::TripRule)]
    );
}

#[test]
fn the_trip_rule_outlives_a_reconfigure() {
    let (_clock, breaker) = manual(Config::default());
    breaker.set_trip_rule(|counts, _| counts.failures >= 1);
    breaker.reconfigure(cfg(5, secs(60), 1));
    fail_n(&breaker, 1);
    assert_eq!(breaker.state(), State::Open);
}
