//! Permits (`try_acquire`): admission without a future; dropping one gives its half-open trial
//! back, a panic while holding one is a failure.

mod common;

use std::sync::Arc;

use common::*;
use protego_breaker::{Breaker, CircuitBreaker, ManualClock, State};

#[test]
fn a_dropped_permit_is_ignored_and_gives_its_half_open_trial_back() {
    let (clock, breaker) = manual(cfg(1, secs(10), 1));
    breaker.try_acquire().unwrap().failure();
    clock.advance(secs(10));
    let trial = breaker.try_acquire().expect("the trial");
    assert!(breaker.try_acquire().is_err(), "the only trial is taken");
    drop(trial);
    assert_eq!(breaker.state(), State::HalfOpen, "no verdict");
    breaker.try_acquire().expect("the trial is back").success();
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn a_permit_dropped_by_a_panic_is_a_failure() {
    let breaker = Arc::new(Breaker::with_clock(cfg(1, secs(10), 1), ManualClock::new()));
    let shared = Arc::clone(&breaker);
    let result = std::thread::spawn(move || {
        let _permit = shared.try_acquire().unwrap();
        panic!("inner future panicked");
    })
    .join();
    assert!(result.is_err());
    assert_eq!(breaker.state(), State::Open);
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
