//! The knobs beyond Protego's three: classification, manual control, backoff and jitter,
//! listeners and metrics. One test per rule, driven by a manual clock.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use protego_breaker::{
    Breaker, CircuitBreaker, Config, ConfigError, ManualClock, Outcome, Reason, Registry, State,
    Window,
};

fn log_transitions<C: protego_breaker::Clock>(
    breaker: &Breaker<C>,
) -> Arc<Mutex<Vec<(State, State, Reason)>>> {
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&log);
    breaker.on_transition(move |t| sink.lock().unwrap().push((t.from(), t.to(), t.reason())));
    log
}

fn backoff(timeout: u64, multiplier: f64, max: u64) -> Config {
    cfg(1, secs(timeout), 1)
        .to_builder()
        .backoff_multiplier(multiplier)
        .max_reset_timeout(secs(max))
        .build()
        .unwrap()
}

/// Fails the half-open trial that the clock allows now; returns the next open period.
fn reopen(clock: &ManualClock, breaker: &Breaker<ManualClock>) -> Option<Duration> {
    let retry = start(breaker).err().unwrap().retry_after().unwrap();
    clock.advance(retry);
    start(breaker).expect("trial admitted").fail();
    start(breaker).err().unwrap().retry_after()
}

// ---- classification ----

#[test]
fn ignored_outcomes_leave_the_closed_count_alone() {
    let (_clock, breaker) = manual(cfg(2, secs(60), 1));
    start(&breaker).unwrap().fail();
    start(&breaker).unwrap().ignore();
    assert_eq!(
        breaker.consecutive_failures(),
        1,
        "not reset by an ignored outcome"
    );
    start(&breaker).unwrap().fail();
    assert_eq!(breaker.state(), State::Open);
}

#[test]
fn an_ignored_trial_gives_its_slot_back_with_no_verdict() {
    let (clock, breaker) = manual(cfg(1, secs(10), 1));
    fail_n(&breaker, 1);
    clock.advance(secs(10));
    let trial = start(&breaker).unwrap();
    assert!(start(&breaker).is_err(), "the only slot is taken");
    trial.ignore();
    assert_eq!(breaker.state(), State::HalfOpen, "no verdict");
    start(&breaker).expect("slot given back").succeed();
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn an_ok_classified_as_failure_counts_but_returns_ok() {
    let breaker = Breaker::with_clock(cfg(1, secs(60), 1), ManualClock::new());
    let status_5xx = |r: &Result<u16, ()>| match r {
        Ok(s) if *s >= 500 => Outcome::Failure,
        Ok(_) => Outcome::Success,
        Err(()) => Outcome::Failure,
    };
    let out = futures::executor::block_on(breaker.call(async { Ok(503) }).classify(status_5xx));
    assert_eq!(out.unwrap(), 503);
    assert_eq!(breaker.state(), State::Open);
}

#[test]
fn an_err_classified_as_success_resets_the_count() {
    let (_clock, breaker) = manual(cfg(3, secs(60), 1));
    fail_n(&breaker, 2);
    let benign = |_: &Result<(), &str>| Outcome::Success;
    let out = futures::executor::block_on(breaker.call(async { Err("404") }).classify(benign));
    assert!(out.is_err(), "the caller still sees the error");
    assert_eq!(breaker.consecutive_failures(), 0);
}

#[test]
fn a_panic_is_a_failure_whatever_the_classifier_says() {
    let (_clock, breaker) = manual(cfg(1, secs(60), 1));
    let never_fails = |_: &Result<(), ()>| Outcome::Ignored;
    let fut = breaker
        .call(async { panic!("inner future panicked") })
        .classify(never_fails);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        futures::executor::block_on(fut)
    }));
    assert!(caught.is_err());
    assert_eq!(breaker.state(), State::Open);
}

#[test]
fn a_cancelled_call_is_not_classified() {
    let (_clock, breaker) = manual(cfg(1, secs(60), 1));
    let calls = AtomicUsize::new(0);
    let counting = |_: &Result<(), &str>| {
        calls.fetch_add(1, Ordering::SeqCst);
        Outcome::Failure
    };
    let (_probe, inner) = controlled();
    let mut fut = Box::pin(breaker.call(inner).classify(counting));
    assert!(poll_once(fut.as_mut()).is_pending());
    drop(fut);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(breaker.state(), State::Closed);
}

// ---- manual control ----

#[test]
fn forced_open_rejects_everything_without_a_retry_time() {
    let (clock, breaker) = manual(cfg(3, secs(10), 1));
    assert!(breaker.force_open());
    for _ in 0..3 {
        let r = start(&breaker).err().expect("rejected");
        assert_eq!(r.state(), State::ForcedOpen);
        assert_eq!(r.retry_after(), None);
        clock.advance(secs(3600));
    }
    assert_eq!(breaker.state(), State::ForcedOpen, "no timeout ends it");
}

#[test]
fn forcing_the_current_state_again_changes_nothing() {
    let (_clock, breaker) = manual(cfg(3, secs(10), 1));
    let log = log_transitions(&breaker);
    assert!(breaker.force_open());
    assert!(!breaker.force_open());
    assert!(breaker.disable());
    assert!(!breaker.disable());
    assert_eq!(
        *log.lock().unwrap(),
        [
            (State::Closed, State::ForcedOpen, Reason::ForcedOpen),
            (State::ForcedOpen, State::Disabled, Reason::Disabled),
        ]
    );
}

#[test]
fn disabled_admits_everything_and_records_nothing() {
    let (_clock, breaker) = manual(cfg(1, secs(10), 1));
    breaker.disable();
    for _ in 0..10 {
        start(&breaker).expect("admitted").fail();
    }
    assert_eq!(breaker.state(), State::Disabled);
    assert_eq!(breaker.consecutive_failures(), 0);
}

#[test]
fn outcomes_from_before_a_manual_change_count_for_nothing() {
    let (_clock, breaker) = manual(cfg(1, secs(10), 1));
    let before_reset = start(&breaker).unwrap();
    breaker.reset();
    before_reset.fail();
    assert_eq!(breaker.state(), State::Closed, "late failure ignored");

    breaker.disable();
    let while_disabled = start(&breaker).unwrap();
    breaker.reset();
    while_disabled.fail();
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn reset_returns_every_state_to_a_clean_closed() {
    for setup in [
        "open",
        "half-open",
        "forced",
        "disabled",
        "closed with failures",
    ] {
        let (clock, breaker) = manual(cfg(3, secs(10), 2));
        match setup {
            "open" => fail_n(&breaker, 3),
            "half-open" => {
                fail_n(&breaker, 3);
                clock.advance(secs(10));
                std::mem::forget(start(&breaker).unwrap());
            }
            "forced" => drop(breaker.force_open()),
            "disabled" => drop(breaker.disable()),
            _ => fail_n(&breaker, 2),
        }
        let changed = breaker.reset();
        assert_eq!(changed, setup != "closed with failures", "{setup}");
        assert_eq!(breaker.state(), State::Closed, "{setup}");
        assert_eq!(breaker.consecutive_failures(), 0, "{setup}");
        fail_n(&breaker, 2);
        assert_eq!(breaker.state(), State::Closed, "{setup}: a fresh count");
    }
}

#[test]
fn a_registry_update_keeps_a_forced_state() {
    let registry = Registry::with_clock(ManualClock::new());
    registry.breaker("db", cfg(3, secs(10), 1)).force_open();
    let updated = registry.breaker("db", cfg(5, secs(20), 2));
    assert_eq!(updated.state(), State::ForcedOpen);
    assert_eq!(updated.config().failure_threshold(), 5);
}

// ---- backoff and jitter ----

#[test]
fn each_reopen_multiplies_the_open_period_up_to_the_cap() {
    let (clock, breaker) = manual(backoff(10, 2.0, 70));
    fail_n(&breaker, 1);
    let periods: Vec<_> = (0..5).map(|_| reopen(&clock, &breaker).unwrap()).collect();
    assert_eq!(periods, [secs(20), secs(40), secs(70), secs(70), secs(70)]);
}

#[test]
fn closing_starts_the_backoff_over() {
    let (clock, breaker) = manual(backoff(10, 3.0, 1000));
    fail_n(&breaker, 1);
    assert_eq!(reopen(&clock, &breaker), Some(secs(30)));
    clock.advance(secs(30));
    start(&breaker).unwrap().succeed();
    assert_eq!(breaker.state(), State::Closed);
    fail_n(&breaker, 1);
    assert_eq!(start(&breaker).err().unwrap().retry_after(), Some(secs(10)));
}

#[test]
fn retry_after_is_the_real_remaining_time_under_backoff() {
    let (clock, breaker) = manual(backoff(10, 2.0, 100));
    fail_n(&breaker, 1);
    reopen(&clock, &breaker); // now open for 20 s
    clock.advance(secs(7));
    assert_eq!(start(&breaker).err().unwrap().retry_after(), Some(secs(13)));
    clock.advance(Duration::from_nanos(12_999_999_999));
    assert_eq!(breaker.state(), State::Open);
    clock.advance(Duration::from_nanos(1));
    assert_eq!(breaker.state(), State::HalfOpen);
}

#[test]
fn a_fractional_multiplier_grows_by_that_factor() {
    let (clock, breaker) = manual(backoff(10, 1.5, 1000));
    fail_n(&breaker, 1);
    let periods: Vec<_> = (0..3).map(|_| reopen(&clock, &breaker).unwrap()).collect();
    assert_eq!(
        periods,
        [
            Duration::from_secs(15),
            Duration::from_millis(22_500),
            Duration::from_millis(33_750)
        ]
    );
}

#[test]
fn a_huge_backoff_saturates_instead_of_overflowing() {
    let cfg = cfg(1, secs(10), 1)
        .to_builder()
        .backoff_multiplier(1000.0)
        .build()
        .unwrap();
    let (clock, breaker) = manual(cfg);
    fail_n(&breaker, 1);
    assert_eq!(reopen(&clock, &breaker), Some(secs(10_000)));
    assert_eq!(reopen(&clock, &breaker), Some(secs(10_000_000)));
    assert_eq!(reopen(&clock, &breaker), Some(secs(10_000_000_000)));
    // 10^13 s is past what u64 nanoseconds hold (~584 years): the deadline saturates there.
    let last = reopen(&clock, &breaker).unwrap();
    assert!(last > secs(3600 * 24 * 365 * 250), "{last:?}");
    assert_eq!(breaker.state(), State::Open);
}

fn jittered(seed: u64) -> Vec<Duration> {
    let cfg = backoff(100, 2.0, 100_000)
        .to_builder()
        .jitter(0.5)
        .jitter_seed(seed)
        .build()
        .unwrap();
    let (clock, breaker) = manual(cfg);
    fail_n(&breaker, 1);
    let mut periods = vec![start(&breaker).err().unwrap().retry_after().unwrap()];
    periods.extend((0..5).map(|_| reopen(&clock, &breaker).unwrap()));
    periods
}

#[test]
fn jitter_is_deterministic_under_a_seed_and_only_ever_shortens() {
    let a = jittered(7);
    assert_eq!(a, jittered(7), "same seed, same periods");
    assert_ne!(a, jittered(8), "another seed, other periods");
    for (n, period) in a.iter().enumerate() {
        let full = secs(100 * 2u64.pow(u32::try_from(n).unwrap()));
        assert!(
            *period <= full && *period >= full / 2,
            "{n}: {period:?} of {full:?}"
        );
    }
}

#[test]
fn a_shorter_reset_timeout_shortens_a_backed_off_period_too() {
    let (clock, breaker) = manual(backoff(10, 2.0, 1000));
    fail_n(&breaker, 1);
    assert_eq!(reopen(&clock, &breaker), Some(secs(20)));
    breaker.reconfigure(backoff(5, 2.0, 1000));
    assert_eq!(start(&breaker).err().unwrap().retry_after(), Some(secs(10)));
}

#[test]
fn bad_backoff_knobs_are_refused_by_name() {
    let bad = [
        (
            Config::builder().backoff_multiplier(0.99).build(),
            "backoff_multiplier",
        ),
        (
            Config::builder().backoff_multiplier(f64::INFINITY).build(),
            "backoff_multiplier",
        ),
        (
            Config::builder().backoff_multiplier(-2.0).build(),
            "backoff_multiplier",
        ),
        (Config::builder().jitter(-0.1).build(), "jitter"),
        (Config::builder().jitter(f64::NAN).build(), "jitter"),
        (
            Config::builder()
                .reset_timeout(secs(10))
                .max_reset_timeout(secs(9))
                .build(),
            "max_reset_timeout",
        ),
    ];
    for (result, knob) in bad {
        let err: ConfigError = result.unwrap_err();
        assert_eq!(err.knob(), knob);
        assert!(err.to_string().starts_with(knob), "{err}");
    }
    assert_eq!(
        Config::builder()
            .jitter(1.5)
            .build()
            .unwrap_err()
            .to_string(),
        "jitter must be a fraction from 0 to 1, got 1.5"
    );
}

// ---- listeners ----

#[test]
fn listeners_see_every_transition_in_order_with_its_reason() {
    let (clock, breaker) = manual(cfg(1, secs(10), 1));
    let log = log_transitions(&breaker);
    fail_n(&breaker, 1);
    clock.advance(secs(10));
    start(&breaker).unwrap().fail();
    clock.advance(secs(10));
    start(&breaker).unwrap().succeed();
    breaker.force_open();
    breaker.reset();
    assert_eq!(
        *log.lock().unwrap(),
        [
            (State::Closed, State::Open, Reason::FailureThreshold),
            (State::Open, State::HalfOpen, Reason::OpenPeriodEnded),
            (State::HalfOpen, State::Open, Reason::TrialFailed),
            (State::Open, State::HalfOpen, Reason::OpenPeriodEnded),
            (State::HalfOpen, State::Closed, Reason::TrialsSucceeded),
            (State::Closed, State::ForcedOpen, Reason::ForcedOpen),
            (State::ForcedOpen, State::Closed, Reason::Reset),
        ]
    );
}

#[test]
fn a_replaced_hung_round_fires_nothing() {
    let (clock, breaker) = manual(cfg(1, secs(10), 1));
    fail_n(&breaker, 1);
    clock.advance(secs(10));
    let hung = start(&breaker).unwrap();
    let log = log_transitions(&breaker);
    clock.advance(secs(10));
    start(&breaker)
        .expect("the hung round is replaced")
        .succeed();
    drop(hung);
    assert_eq!(
        *log.lock().unwrap(),
        [(State::HalfOpen, State::Closed, Reason::TrialsSucceeded)]
    );
}

#[test]
fn a_listener_may_read_and_change_its_breaker() {
    let breaker = Arc::new(Breaker::with_clock(cfg(1, secs(10), 1), ManualClock::new()));
    let log = log_transitions(&breaker);
    let me = Arc::downgrade(&breaker);
    breaker.on_transition(move |t| {
        let breaker = me.upgrade().unwrap();
        assert_eq!(
            breaker.state(),
            t.to(),
            "reads the committed state, no deadlock"
        );
        if t.to() == State::Open {
            breaker.force_open(); // a transition from inside a listener
        }
    });
    futures::executor::block_on(Arc::clone(&breaker).call(async { Err::<(), _>(BOOM) })).ok();
    assert_eq!(breaker.state(), State::ForcedOpen);
    assert_eq!(
        *log.lock().unwrap(),
        [
            (State::Closed, State::Open, Reason::FailureThreshold),
            (State::Open, State::ForcedOpen, Reason::ForcedOpen),
        ],
        "the nested transition is delivered after the one that caused it"
    );
}

#[test]
fn rejections_call_back_only_when_asked() {
    let (_clock, breaker) = manual(cfg(1, secs(10), 1));
    let log = log_transitions(&breaker);
    breaker.force_open();
    for _ in 0..3 {
        assert!(start(&breaker).is_err());
    }
    assert_eq!(
        log.lock().unwrap().len(),
        1,
        "a rejection is not a transition"
    );
    let rejections = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&rejections);
    breaker.on_rejection(move |r| sink.lock().unwrap().push(r.state()));
    assert!(start(&breaker).is_err());
    assert_eq!(*rejections.lock().unwrap(), [State::ForcedOpen]);
}

#[test]
fn concurrent_transitions_reach_listeners_as_a_chain() {
    // Every delivered transition starts where the one before it ended: none is lost,
    // duplicated or reordered, however the threads race.
    let clock = ManualClock::new();
    let breaker = Breaker::with_clock(cfg(1, Duration::from_nanos(1), 1), clock.clone());
    let log = log_transitions(&breaker);
    std::thread::scope(|s| {
        for t in 0..4 {
            let (breaker, clock) = (&breaker, &clock);
            s.spawn(move || {
                for i in 0..2_000 {
                    clock.advance(Duration::from_nanos(1));
                    let fail = (i + t) % 3 == 0;
                    let fut = breaker.call(async move {
                        if fail {
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
    let log = log.lock().unwrap();
    assert!(
        log.len() > 10,
        "the program makes transitions: {}",
        log.len()
    );
    assert_eq!(log[0].0, State::Closed);
    for pair in log.windows(2) {
        assert_eq!(pair[0].1, pair[1].0, "{pair:?}");
    }
    assert_eq!(log.last().unwrap().1, breaker.state());
}

// ---- metrics ----

#[test]
fn metrics_report_state_counts_and_time_until_half_open() {
    let (clock, breaker) = manual(cfg(2, secs(30), 1));
    fail_n(&breaker, 1);
    let m = breaker.metrics();
    assert_eq!(
        (m.state, m.consecutive_failures, m.time_until_half_open),
        (State::Closed, 1, None)
    );
    assert_eq!(m.totals, None, "totals are off by default");
    fail_n(&breaker, 1);
    clock.advance(secs(12));
    let m = breaker.metrics();
    assert_eq!(m.state, State::Open);
    assert_eq!(m.time_until_half_open, Some(secs(18)));
}

#[test]
fn totals_count_every_fate() {
    let config = cfg(2, secs(30), 1)
        .to_builder()
        .totals(true)
        .build()
        .unwrap();
    let (_clock, breaker) = manual(config);
    start(&breaker).unwrap().succeed();
    start(&breaker).unwrap().ignore();
    drop(start(&breaker).unwrap()); // cancelled: ignored
    start(&breaker).unwrap().fail();
    start(&breaker).unwrap().fail(); // opens
    assert!(start(&breaker).is_err());
    let t = breaker.metrics().totals.unwrap();
    assert_eq!(
        (t.admitted, t.rejected, t.succeeded, t.failed, t.ignored),
        (5, 1, 1, 2, 2)
    );
}

#[test]
fn totals_lose_no_increment_under_threads() {
    const THREADS: u64 = 4;
    const CALLS: u64 = 5_000;
    let config = cfg(u32::MAX, secs(30), 1)
        .to_builder()
        .totals(true)
        .build()
        .unwrap();
    let breaker = Breaker::with_clock(config, ManualClock::new());
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for i in 0..CALLS {
                    let fut = breaker.call(async move {
                        if i % 5 == 0 {
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
    let t = breaker.metrics().totals.unwrap();
    assert_eq!(t.admitted, THREADS * CALLS);
    assert_eq!(t.failed, THREADS * CALLS / 5);
    assert_eq!(t.succeeded, THREADS * CALLS * 4 / 5);
}

#[test]
fn the_registry_lists_every_breakers_metrics_by_name() {
    let registry = Registry::with_clock(ManualClock::new());
    registry.breaker("b", cfg(1, secs(10), 1)).force_open();
    registry.breaker("a", cfg(1, secs(10), 1)).disable();
    let all = registry.metrics();
    let names: Vec<_> = all.iter().map(|(n, m)| (n.as_str(), m.state)).collect();
    assert_eq!(names, [("a", State::Disabled), ("b", State::ForcedOpen)]);
}

// ---- failure-rate windows and slow calls ----

fn windowed(window: Window, rate: u8, minimum: u32) -> Config {
    Config::builder()
        .window(window)
        .failure_rate_threshold(rate)
        .minimum_calls(minimum)
        .reset_timeout(secs(10))
        .half_open_retries(1)
        .build()
        .unwrap()
}

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
fn slow_calls_open_the_circuit_at_the_slow_call_rate() {
    let cfg = windowed(Window::Count(10), 100, 4)
        .to_builder()
        .slow_call_duration(secs(2))
        .slow_call_rate_threshold(50)
        .totals(true)
        .build()
        .unwrap();
    let (clock, breaker) = manual(cfg);
    let log = log_transitions(&breaker);
    for slow in [false, true, false, true] {
        let call = start(&breaker).unwrap();
        clock.advance(if slow { secs(2) } else { secs(1) });
        call.succeed();
    }
    assert_eq!(breaker.state(), State::Open, "2 of 4 took >= 2 s");
    assert_eq!(log.lock().unwrap()[0].2, Reason::SlowCallRate);
    assert_eq!(breaker.metrics().totals.unwrap().slow, 2);
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

/// A clock that counts how often it is read.
#[derive(Clone, Default)]
struct CountingClock {
    reads: Arc<AtomicUsize>,
    inner: ManualClock,
}

impl protego_breaker::Clock for CountingClock {
    fn now(&self) -> Duration {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.now()
    }
}

#[test]
fn a_count_window_reads_the_clock_only_to_time_slow_calls() {
    let clock = CountingClock::default();
    let breaker = Breaker::with_clock(windowed(Window::Count(10), 100, 10), clock.clone());
    for ok in [true, false, true] {
        let _ = futures::executor::block_on(breaker.call(async move {
            if ok {
                Ok(())
            } else {
                Err(BOOM)
            }
        }));
    }
    assert_eq!(
        clock.reads.load(Ordering::SeqCst),
        0,
        "a count window needs no time"
    );

    let timed = windowed(Window::Count(10), 100, 10)
        .to_builder()
        .slow_call_duration(secs(1))
        .build()
        .unwrap();
    breaker.reconfigure(timed);
    let _ = futures::executor::block_on(breaker.call(async { Ok::<(), &str>(()) }));
    assert_eq!(
        clock.reads.load(Ordering::SeqCst),
        2,
        "admission and completion"
    );
}

#[test]
fn a_permit_says_which_breaker_it_belongs_to() {
    let breaker = Breaker::with_clock(cfg(3, secs(10), 1), ManualClock::new()).named("db");
    let permit = breaker.try_acquire().unwrap();
    assert_eq!(
        format!("{permit:?}"),
        r#"Permit { breaker: Some("db"), .. }"#
    );
    permit.success();
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
