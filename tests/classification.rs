//! Classification: which results count as success, failure or neither (`.classify(k)`), and
//! what is never the classifier's call (panics, cancellations).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use protego_breaker::{call::Outcome, Breaker, CircuitBreaker, ManualClock, State};

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
fn an_ignored_trial_is_given_back_with_no_verdict() {
    let (clock, breaker) = manual(cfg(1, secs(10), 1));
    fail_n(&breaker, 1);
    clock.advance(secs(10));
    let trial = start(&breaker).unwrap();
    assert!(start(&breaker).is_err(), "the only trial is taken");
    trial.ignore();
    assert_eq!(breaker.state(), State::HalfOpen, "no verdict");
    start(&breaker).expect("trial given back").succeed();
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
