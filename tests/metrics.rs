//! Metrics: the `metrics()` snapshot of a breaker and of a registry, and the exact call totals
//! kept per core when `totals` is on.

mod common;

use common::*;
use protego_breaker::{Breaker, CircuitBreaker, ManualClock, Registry, State};

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

/// `calls` calls on `breaker`, every `nth` of them (the first included) failing.
fn calls_failing_every(breaker: &Breaker<ManualClock>, calls: u64, nth: u64) {
    for i in 0..calls {
        let fut = breaker.call(async move {
            if i % nth == 0 {
                Err(BOOM)
            } else {
                Ok(())
            }
        });
        let _ = futures::executor::block_on(fut);
    }
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
            s.spawn(|| calls_failing_every(&breaker, CALLS, 5));
        }
    });
    let t = breaker.metrics().totals.unwrap();
    assert_eq!(t.admitted, THREADS * CALLS);
    assert_eq!(t.failed, THREADS * CALLS / 5);
    assert_eq!(t.succeeded, THREADS * CALLS * 4 / 5);
}

#[test]
fn totals_lose_no_increment_with_more_threads_than_stripes_coming_and_going() {
    // Four waves of threads, each wave four times the cores: in every wave some threads own a
    // stripe (plain stores) and the others share one (read-modify-writes) with its owner
    // running; a stripe whose owner exited passes to a thread of a later wave, which must
    // carry on from the count its last owner left.
    const WAVES: u64 = 4;
    const CALLS: u64 = 20_000;
    let threads = 4 * std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let config = cfg(u32::MAX, secs(30), 1)
        .to_builder()
        .totals(true)
        .build()
        .unwrap();
    let breaker = Breaker::with_clock(config, ManualClock::new());
    for _ in 0..WAVES {
        let start = std::sync::Barrier::new(threads);
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    start.wait();
                    calls_failing_every(&breaker, CALLS, 4);
                });
            }
        });
    }
    let t = breaker.metrics().totals.unwrap();
    let calls = WAVES * threads as u64 * CALLS;
    assert_eq!(t.admitted, calls);
    assert_eq!((t.succeeded, t.failed), (calls * 3 / 4, calls / 4));
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
