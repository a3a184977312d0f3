//! Failure-rate windows: count and time windows, `failure_rate_threshold` and `minimum_calls`,
//! emptied by transitions, replaced when their rules change.

mod common;

use std::time::Duration;

use common::*;
use protego_breaker::{
    observe::Reason, Breaker, CircuitBreaker, Config, ManualClock, State, Window,
};

#[test]
fn a_count_window_opens_at_the_failure_rate_once_it_has_minimum_calls() {
    let (_clock, breaker) = manual(windowed(Window::Count(10), 50, 4));
    let log = log_transitions(&breaker);
    start(&breaker).unwrap().fail();
    start(&breaker).unwrap().fail();
    start(&breaker).unwrap().fail();
    assert_eq!(
        breaker.state(),
        State::Closed,
        "3 calls: below minimum_calls"
    );
    start(&breaker).unwrap().succeed();
    assert_eq!(breaker.state(), State::Open, "3 of 4 failed: 75 % >= 50 %");
    assert_eq!(log.lock().unwrap()[0].2, Reason::FailureRate);
}

#[test]
fn consecutive_failures_do_not_open_a_windowed_breaker_below_the_rate() {
    let (_clock, breaker) = manual(windowed(Window::Count(10), 60, 1));
    for _ in 0..5 {
        start(&breaker).unwrap().succeed();
        start(&breaker).unwrap().succeed();
        start(&breaker).unwrap().fail();
    }
    assert_eq!(breaker.state(), State::Closed, "a third failed, under 60 %");
    assert_eq!(
        breaker.metrics().failure_rate,
        Some(40.0),
        "the last 10: 4 failures"
    );
}

#[test]
fn ignored_outcomes_stay_out_of_the_window() {
    let (_clock, breaker) = manual(windowed(Window::Count(4), 50, 2));
    start(&breaker).unwrap().fail();
    for _ in 0..10 {
        start(&breaker).unwrap().ignore();
    }
    assert_eq!(breaker.metrics().failure_rate, Some(100.0));
    start(&breaker).unwrap().fail();
    assert_eq!(breaker.state(), State::Open);
}

#[test]
fn a_transition_empties_the_window() {
    let (clock, breaker) = manual(windowed(Window::Count(10), 50, 2));
    start(&breaker).unwrap().fail();
    start(&breaker).unwrap().fail();
    assert_eq!(breaker.state(), State::Open);
    clock.advance(secs(10));
    start(&breaker).unwrap().succeed(); // the trial closes
    assert_eq!(
        breaker.metrics().failure_rate,
        None,
        "empty after the transition"
    );
    start(&breaker).unwrap().fail();
    assert_eq!(
        breaker.state(),
        State::Closed,
        "one outcome: below minimum_calls"
    );
}

#[test]
fn a_time_window_forgets_buckets_that_aged_out_even_after_a_jump() {
    let window = Window::Time {
        length: secs(10),
        buckets: 10,
    };
    let (clock, breaker) = manual(windowed(window, 50, 3));
    start(&breaker).unwrap().fail();
    start(&breaker).unwrap().fail();
    clock.advance(secs(10)); // the failures' bucket is 10 s old: out of the window
    start(&breaker).unwrap().fail();
    assert_eq!(
        breaker.state(),
        State::Closed,
        "only one failure is in the window"
    );
    assert_eq!(breaker.metrics().failure_rate, Some(100.0));
    clock.advance(secs(3600 * 5));
    assert_eq!(
        breaker.metrics().failure_rate,
        None,
        "five hours later, nothing is current"
    );
    start(&breaker).unwrap().succeed();
    start(&breaker).unwrap().succeed();
    start(&breaker).unwrap().fail();
    assert_eq!(
        breaker.state(),
        State::Closed,
        "1 of 3: the old failures never count"
    );
}

#[test]
fn a_count_window_loses_no_outcome_under_threads() {
    const THREADS: usize = 4;
    const CALLS: usize = 250;
    let cfg = windowed(Window::Count(1_000), 100, 1_000);
    let breaker = Breaker::with_clock(cfg, ManualClock::new());
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for i in 0..CALLS {
                    let fut = breaker.call(async move {
                        if i % 10 == 0 {
                            Err(BOOM)
                        } else {
                            Ok(())
                        }
                    });
                    let _ = futures::executor::block_on(fut);
                }
            });
        }
    });
    // 1,000 outcomes fill the window exactly; 1 in 10 failed.
    assert_eq!(breaker.metrics().failure_rate, Some(10.0));
}

#[test]
fn changing_the_window_rules_starts_an_empty_window_and_other_updates_keep_it() {
    let (_clock, breaker) = manual(windowed(Window::Count(10), 90, 10));
    start(&breaker).unwrap().fail();
    start(&breaker).unwrap().succeed();
    let keep = breaker
        .config()
        .to_builder()
        .half_open_retries(3)
        .build()
        .unwrap();
    breaker.reconfigure(keep);
    assert_eq!(breaker.metrics().failure_rate, Some(50.0), "kept");
    breaker.reconfigure(windowed(Window::Count(20), 90, 10));
    assert_eq!(
        breaker.metrics().failure_rate,
        None,
        "new rules, new window"
    );
}

#[test]
fn bad_window_knobs_are_refused_by_name() {
    let bad = [
        (Config::builder().window(Window::Count(0)).build(), "window"),
        (
            Config::builder().window(Window::Count(70_000)).build(),
            "window",
        ),
        (
            Config::builder()
                .window(Window::Time {
                    length: secs(1),
                    buckets: 0,
                })
                .build(),
            "window",
        ),
        (
            Config::builder()
                .window(Window::Time {
                    length: Duration::from_nanos(500),
                    buckets: 1,
                })
                .build(),
            "window",
        ),
        (
            Config::builder().failure_rate_threshold(101).build(),
            "failure_rate_threshold",
        ),
        (
            Config::builder().slow_call_rate_threshold(0).build(),
            "slow_call_rate_threshold",
        ),
        (Config::builder().minimum_calls(0).build(), "minimum_calls"),
        (
            Config::builder()
                .window(Window::Count(5))
                .minimum_calls(6)
                .build(),
            "minimum_calls",
        ),
        (
            Config::builder().slow_call_duration(secs(1)).build(),
            "slow_call_duration",
        ),
        (
            Config::builder()
                .window(Window::Count(5))
                .minimum_calls(5)
                .slow_call_duration(Duration::ZERO)
                .build(),
            "slow_call_duration",
        ),
    ];
    for (result, knob) in bad {
        assert_eq!(result.unwrap_err().knob(), knob);
    }
}
#[test]
fn every_window_rule_change_counts_in_its_own_fresh_window() {
    let (_clock, breaker) = manual(cfg(3, secs(60), 1));
    // No window, then a first one, then two replacements, then none, then one again.
    let rules = [
        Some(windowed(Window::Count(10), 90, 10)),
        Some(windowed(Window::Count(20), 90, 10)),
        Some(windowed(Window::Count(30), 90, 10)),
        None,
        Some(windowed(Window::Count(40), 90, 10)),
    ];
    for (round, config) in rules.into_iter().enumerate() {
        let has_window = config.is_some();
        breaker.reconfigure(config.unwrap_or_else(|| cfg(3, secs(60), 1)));
        assert_eq!(breaker.metrics().failure_rate, None, "round {round}: fresh");
        start(&breaker).unwrap().fail();
        start(&breaker).unwrap().succeed();
        start(&breaker).unwrap().succeed();
        start(&breaker).unwrap().succeed();
        let expected = has_window.then_some(25.0);
        assert_eq!(breaker.metrics().failure_rate, expected, "round {round}");
        assert_eq!(breaker.state(), State::Closed);
    }
}
