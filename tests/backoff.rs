//! Backoff and jitter of the open period: `backoff_multiplier`, `max_reset_timeout`, `jitter`
//! and `jitter_seed`.

mod common;

use std::time::Duration;

use common::*;
use protego_breaker::{Breaker, Config, ConfigError, ManualClock, State};

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
