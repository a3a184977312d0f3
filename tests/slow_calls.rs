//! Slow calls: `slow_call_duration` and `slow_call_rate_threshold` (with a window), and the
//! clock read only when calls are timed.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use protego_breaker::{observe::Reason, Breaker, CircuitBreaker, ManualClock, State, Window};

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
