//! `CoarseClock`: time moves only on ticks, never backwards, shared by clones; and what its
//! coarseness does to `retry_after`, slow-call timing and the open period. Driven by hand over
//! a `ManualClock` source: the tests tick, nothing sleeps.

use std::future::ready;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::executor::block_on;
use protego_breaker::{
    clock::CoarseClock, Breaker, CircuitBreaker, Clock, Config, Error, ManualClock, ProtectExt,
    Registry, State, Window,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn coarse() -> (ManualClock, CoarseClock<ManualClock>) {
    let source = ManualClock::new();
    (source.clone(), CoarseClock::with_source(source))
}

fn trip<C: Clock>(breaker: &Breaker<C>) {
    let _ = block_on(breaker.call(ready(Err::<(), _>("down"))));
    assert_eq!(breaker.state(), State::Open);
}

fn retry_after<C: Clock>(breaker: &Breaker<C>) -> Option<Duration> {
    match block_on(breaker.call(ready(Ok::<(), &str>(())))) {
        Err(Error::Rejected(r)) => r.retry_after(),
        other => panic!("not rejected: {other:?}"),
    }
}

#[test]
fn time_stands_still_between_ticks() {
    let (source, clock) = coarse();
    let cfg = Config::builder()
        .failure_threshold(1)
        .reset_timeout(ms(10_000))
        .build()
        .unwrap();
    let breaker = Breaker::with_clock(cfg, clock.clone());
    trip(&breaker);
    source.advance(ms(10_000));
    assert_eq!(
        breaker.state(),
        State::Open,
        "not ticked: the open period goes on"
    );
    assert_eq!(retry_after(&breaker), Some(ms(10_000)));
    clock.tick();
    assert_eq!(
        breaker.state(),
        State::HalfOpen,
        "the first tick past the deadline ends it"
    );
}

#[test]
fn retry_after_is_long_by_at_most_one_tick_period() {
    let (source, clock) = coarse();
    let cfg = Config::builder()
        .failure_threshold(1)
        .reset_timeout(ms(10_000))
        .build()
        .unwrap();
    let breaker = Breaker::with_clock(cfg, clock.clone());
    trip(&breaker);
    // Ticks every 1 ms; the real time is 0.7 ms past the last one.
    source.advance(ms(4_000));
    clock.tick();
    source.advance(Duration::from_micros(700));
    let exact = Duration::from_micros(5_999_300);
    let coarse = retry_after(&breaker).unwrap();
    assert_eq!(coarse, ms(6_000));
    assert!(coarse.checked_sub(exact).is_some_and(|over| over < ms(1)));
}

#[test]
fn slow_call_timing_is_off_by_at_most_one_tick_period() {
    let (source, clock) = coarse();
    let cfg = Config::builder()
        .window(Window::Count(10))
        .minimum_calls(10)
        .slow_call_duration(ms(10))
        .build()
        .unwrap();
    let breaker = Breaker::with_clock(cfg, clock.clone());
    // Last tick at 0; the call starts 0.9 ms later (reads 0), runs 9.5 ms of real time and
    // ends right at a tick (reads 10.4 ms): measured 10.4 ms long, so counted slow.
    source.advance(Duration::from_micros(900));
    let call = breaker.call(async {
        source.advance(Duration::from_micros(9_500));
        clock.tick();
        Ok::<(), ()>(())
    });
    assert!(block_on(call).is_ok());
    assert_eq!(breaker.metrics().slow_call_rate, Some(100.0));
    // A call that ends between ticks reads no time at all.
    let quick = breaker.call(async {
        source.advance(Duration::from_micros(900));
        Ok::<(), ()>(())
    });
    assert!(block_on(quick).is_ok());
    assert_eq!(breaker.metrics().slow_call_rate, Some(50.0));
}

#[test]
fn a_tick_never_moves_the_time_back() {
    /// A source that can be set anywhere, backwards included.
    #[derive(Clone, Default)]
    struct Settable(Arc<AtomicU64>);
    impl Clock for Settable {
        fn now(&self) -> Duration {
            Duration::from_nanos(self.0.load(Ordering::SeqCst))
        }
    }
    let source = Settable::default();
    let clock = CoarseClock::with_source(source.clone());
    let other = clock.clone();
    source.0.store(5_000, Ordering::SeqCst); // ns
    clock.tick();
    assert_eq!(
        other.now(),
        Duration::from_micros(5),
        "clones share one time"
    );
    source.0.store(3_000, Ordering::SeqCst);
    other.tick();
    assert_eq!(clock.now(), Duration::from_micros(5), "monotonic");
}

#[test]
fn the_ticker_future_ticks_until_the_clock_has_no_other_user() {
    let (source, clock) = coarse();
    let mut user = Some(clock.clone());
    let mut seen = Vec::new();
    block_on(clock.ticker(ms(1), |period| {
        seen.push(user.as_ref().map(Clock::now));
        source.advance(period);
        if seen.len() == 3 {
            user = None; // the last other user goes: the ticker returns after this sleep
        }
        ready(())
    }));
    assert_eq!(seen, [Some(ms(0)), Some(ms(1)), Some(ms(2))]);
}

#[test]
fn a_registry_on_a_coarse_clock_finds_its_breakers() {
    let (source, clock) = coarse();
    let cfg = Config::builder()
        .failure_threshold(1)
        .reset_timeout(ms(50))
        .half_open_retries(1)
        .build()
        .unwrap();
    let registry = Registry::with_clock(clock.clone()).with_default_config(cfg);
    let _ = block_on(ready(Err::<(), _>("down")).protect(&registry, "db"));
    let again = block_on(ready(Ok::<(), &str>(())).protect(&registry, "db"));
    assert!(again.unwrap_err().is_rejected());
    source.advance(ms(50));
    clock.tick();
    assert!(block_on(ready(Ok::<(), &str>(())).protect(&registry, "db")).is_ok());
    assert_eq!(registry.get("db").unwrap().state(), State::Closed);
}
