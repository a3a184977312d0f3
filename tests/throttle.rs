//! The adaptive throttle as an admission rule of a breaker, on a manual clock: the SRE book's
//! probability, locally rejected requests counted as requests, the window sliding, and the
//! circuit's own states untouched.
#![allow(clippy::float_cmp)] // exact values by construction

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use protego_breaker::call::Outcome;
use protego_breaker::throttle::Throttle;
use protego_breaker::{Breaker, CircuitBreaker, Clock, Config, Error, ManualClock, State};

fn throttled(config: Config) -> (ManualClock, Breaker<ManualClock>, Arc<Throttle>) {
    let (clock, breaker) = manual(config);
    let throttle = Arc::new(
        Throttle::builder()
            .k(2.0)
            .window(secs(10))
            .seed(11)
            .build()
            .unwrap(),
    );
    assert!(throttle.attach(&breaker));
    (clock, breaker, throttle)
}

fn never_trips() -> Config {
    Config::builder()
        .failure_threshold(u32::MAX)
        .totals(true)
        .build()
        .unwrap()
}

/// Runs `n` calls through the breaker, each ending with `outcome` if admitted: how many were
/// throttled.
fn run(breaker: &Breaker<ManualClock>, n: u32, outcome: Outcome) -> u32 {
    let mut shed = 0;
    for _ in 0..n {
        match breaker.try_acquire() {
            Ok(permit) => permit.record(outcome),
            Err(r) => {
                assert_eq!((r.state(), r.retry_after()), (State::Closed, None));
                shed += 1;
            }
        }
    }
    shed
}

fn run_open(breaker: &Breaker<ManualClock>, n: u32) -> u32 {
    (0..n)
        .map(|_| u32::from(breaker.try_acquire().unwrap_err().state() == State::Open))
        .sum()
}

#[test]
fn healthy_traffic_is_never_throttled() {
    let (_, breaker, throttle) = throttled(never_trips());
    assert_eq!(run(&breaker, 10_000, Outcome::Success), 0);
    assert_eq!(throttle.rejection_probability(Duration::ZERO), 0.0);
}

#[test]
fn the_probability_is_the_books_and_local_rejections_count_as_requests() {
    let (clock, breaker, throttle) = throttled(never_trips());
    // 10 accepted, then failures: probability max(0, (requests - 2 * 10) / (requests + 1)).
    assert_eq!(run(&breaker, 10, Outcome::Success), 0);
    assert_eq!(
        run(&breaker, 10, Outcome::Failure),
        0,
        "20 requests, 2 x 10 accepts: p = 0"
    );
    let shed = run(&breaker, 1_000, Outcome::Failure);
    let requests = 1_020.0;
    let p = throttle.rejection_probability(clock.now());
    assert!(
        (p - (requests - 20.0) / (requests + 1.0)).abs() < 1e-12,
        "every request counted, shed or not: {p}"
    );
    assert!(shed > 800, "most of the excess shed: {shed}");
    let totals = breaker.metrics().totals.unwrap();
    assert_eq!(
        totals.rejected,
        u64::from(shed),
        "throttled calls are rejections in the totals"
    );
}

#[test]
fn the_throttle_lets_go_once_the_window_has_slid_past_the_storm() {
    let (clock, breaker, throttle) = throttled(never_trips());
    run(&breaker, 500, Outcome::Failure);
    assert!(throttle.rejection_probability(clock.now()) > 0.9);
    clock.advance(secs(9));
    assert!(
        throttle.rejection_probability(clock.now()) > 0.9,
        "still inside the window"
    );
    clock.advance(secs(1));
    assert_eq!(
        throttle.rejection_probability(clock.now()),
        0.0,
        "the window slid past it"
    );
    assert_eq!(run(&breaker, 100, Outcome::Success), 0);
}

#[test]
fn the_breaker_classification_decides_what_is_an_accept() {
    let (_, breaker, throttle) = throttled(never_trips());
    for _ in 0..200 {
        let out = futures::executor::block_on(
            breaker
                .call(async { Err::<(), _>(IGNORE) })
                .classify(classify),
        );
        assert_eq!(
            out,
            Err(Error::Inner(IGNORE)),
            "ignored outcomes are accepts: never shed"
        );
    }
    assert_eq!(throttle.rejection_probability(Duration::ZERO), 0.0);
}

#[test]
fn an_open_or_half_open_circuit_decides_as_before() {
    let (clock, breaker, throttle) = throttled(cfg(5, secs(5), 3));
    // 10 accepts cover 20 requests: the fifth failure (request 15) trips the circuit first.
    assert_eq!(run(&breaker, 10, Outcome::Success), 0);
    assert_eq!(run(&breaker, 5, Outcome::Failure), 0);
    assert_eq!(breaker.state(), State::Open);
    // Requests to an open circuit are the circuit's: the throttle does not see them.
    let _ = run_open(&breaker, 1_000);
    assert_eq!(throttle.rejection_probability(clock.now()), 0.0);
    // Make the throttle want to shed, by hand.
    for _ in 0..100 {
        throttle.admit(clock.now());
    }
    let r = breaker.try_acquire().unwrap_err();
    assert_eq!(
        r.state(),
        State::Open,
        "open rejects as open, with its retry_after"
    );
    assert!(r.retry_after().is_some());
    clock.advance(secs(5));
    assert!(throttle.rejection_probability(clock.now()) > 0.5);
    // Half-open: every trial of the round admitted, whatever the throttle thinks.
    let trials: Vec<_> = (0..3)
        .map(|_| breaker.try_acquire().expect("a trial"))
        .collect();
    assert_eq!(breaker.try_acquire().unwrap_err().state(), State::HalfOpen);
    trials
        .into_iter()
        .for_each(protego_breaker::call::Permit::success);
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn throttled_rejections_reach_rejection_listeners() {
    let (_, breaker, _) = throttled(never_trips());
    let heard = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&heard);
    breaker.on_rejection(move |r| {
        assert_eq!(r.state(), State::Closed);
        assert!(r.to_string().contains("adaptive throttle"));
        seen.fetch_add(1, Ordering::Relaxed);
    });
    let shed = run(&breaker, 1_000, Outcome::Failure);
    assert_eq!(heard.load(Ordering::Relaxed), shed);
}

#[test]
fn the_same_seed_makes_the_same_decisions() {
    let decisions = || {
        let (_, breaker, _) = throttled(never_trips());
        (0..500)
            .map(|_| {
                breaker
                    .try_acquire()
                    .map(protego_breaker::call::Permit::failure)
                    .is_ok()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(decisions(), decisions());
}

#[test]
fn a_breaker_keeps_its_first_throttle() {
    let (_, breaker, _) = throttled(never_trips());
    let other = Arc::new(Throttle::builder().build().unwrap());
    assert!(!other.attach(&breaker));
}

#[test]
fn bad_throttle_knobs_are_config_errors() {
    assert_eq!(Throttle::builder().k(0.99).build().unwrap_err().knob(), "k");
    assert_eq!(
        Throttle::builder().k(f64::NAN).build().unwrap_err().knob(),
        "k"
    );
    assert_eq!(
        Throttle::builder()
            .window(Duration::ZERO)
            .build()
            .unwrap_err()
            .knob(),
        "window"
    );
}

/// Always the same draw.
struct Fixed(u32);
impl protego_breaker::random::Random for Fixed {
    fn next_u32(&self) -> u32 {
        self.0
    }
}

/// Whether the 13th request is let through after 12, 4 of them accepted, K = 1.5: the book's
/// probability is (12 - 6) / 13, so a draw `d` rejects exactly when `d / 2^32 < 6 / 13`.
fn thirteenth_admitted(draw: u32) -> bool {
    let throttle = Throttle::builder()
        .k(1.5)
        .min_requests(12)
        .random(Arc::new(Fixed(draw)))
        .build()
        .unwrap();
    let now = Duration::ZERO;
    for i in 0..12 {
        assert!(throttle.admit(now), "fewer than 12 requests: no draw");
        if i < 4 {
            throttle.record(now, Outcome::Success);
        }
    }
    assert!((throttle.rejection_probability(now) - 6.0 / 13.0).abs() < 1e-12);
    throttle.admit(now)
}

#[test]
fn a_decision_is_the_books_probability_to_the_last_draw() {
    // The largest draw that rejects: d * 13 < 6 * 2^32.
    let edge = u32::try_from(((6u64 << 32) - 1) / 13).unwrap();
    assert!(!thirteenth_admitted(0));
    assert!(!thirteenth_admitted(edge));
    assert!(thirteenth_admitted(edge + 1));
    assert!(thirteenth_admitted(u32::MAX));
}
