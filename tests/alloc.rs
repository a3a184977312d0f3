//! Zero heap allocations per call on every path, counted exactly by a global allocator.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::{ready, Future};
use std::pin::pin;
use std::task::Context;

use common::*;
use protego_breaker::{
    clock::CoarseClock, Breaker, CircuitBreaker, Config, ManualClock, ProtectExt, Registry, State,
};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards every call to the system allocator unchanged; only counts on the side.
#[allow(unsafe_code)] // a global allocator cannot be written without it
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made on this thread by `f`.
fn allocations(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

fn poll<F: Future>(fut: F) {
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    let _ = pin!(fut).poll(&mut cx);
}

fn ok() -> std::future::Ready<Result<u32, ()>> {
    ready(Ok(1))
}

fn err() -> std::future::Ready<Result<u32, ()>> {
    ready(Err(()))
}

#[test]
fn no_path_allocates() {
    // The counter sees allocations on this thread.
    assert_eq!(allocations(|| drop(std::hint::black_box(Box::new(1)))), 1);
    let clock = ManualClock::new();
    let registry =
        Registry::with_clock(clock.clone()).with_default_config(cfg(1_000_000, secs(10), 2));
    let named = registry.get_or_create("key");
    let breaker: Breaker<ManualClock> =
        Breaker::with_clock(cfg(3, secs(10), 2), clock.clone()).named("solo");
    // A breaker's first timed success makes its latency sensor (one allocation, once in its
    // life): a call after a second of quiet is timed.
    for warm in [&breaker, &*named] {
        clock.advance(secs(1));
        assert!(allocations(|| poll(warm.call(ok()))) <= 1);
    }

    assert_eq!(
        allocations(|| poll(breaker.call(ok()))),
        0,
        "closed success"
    );
    assert_eq!(
        allocations(|| poll(breaker.call(err()))),
        0,
        "closed failure below threshold"
    );
    assert_eq!(
        allocations(|| poll(breaker.call(ok()))),
        0,
        "closed success resetting the count"
    );
    // A thread's first `.protect` of a name makes its stripe's handle: an allocation for the
    // handle (and the stripe's map may grow); every later call makes none.
    assert!(allocations(|| poll(ok().protect(&registry, "key"))) >= 1);
    assert_eq!(
        allocations(|| poll(ok().protect(&registry, "key"))),
        0,
        "registry, existing name"
    );
    assert_eq!(
        allocations(|| poll(err().protect(&registry, "key"))),
        0,
        "registry failure"
    );
    assert_eq!(
        allocations(|| poll(named.as_ref().call(ok()))),
        0,
        "resolved registry breaker"
    );
    assert_eq!(
        allocations(|| drop(registry.get("key"))),
        0,
        "registry lookup"
    );

    for _ in 0..3 {
        poll(breaker.call(err()));
    }
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(
        allocations(|| poll(breaker.call(ok()))),
        0,
        "open rejection, with a name"
    );

    clock.advance(secs(10));
    assert_eq!(
        allocations(|| poll(breaker.call(ok()))),
        0,
        "open -> half-open, trial success"
    );
    let trial = breaker.call(std::future::pending::<Result<u32, ()>>());
    let mut trial = Box::pin(trial);
    assert_eq!(
        allocations(|| {
            let _ = trial
                .as_mut()
                .poll(&mut Context::from_waker(futures::task::noop_waker_ref()));
        }),
        0,
        "half-open admission"
    );
    assert_eq!(
        allocations(|| poll(breaker.call(ok()))),
        0,
        "half-open rejection"
    );
    assert_eq!(allocations(|| drop(trial)), 0, "cancelled trial");
    assert_eq!(
        allocations(|| poll(breaker.call(err()))),
        0,
        "trial failure: half-open -> open"
    );
    assert_eq!(
        allocations(|| poll(breaker.call(ok()))),
        0,
        "open rejection after a re-open"
    );
}

#[test]
fn the_floor_paths_allocate_nothing_on_the_real_clocks() {
    // The rows of `benches/call.rs`'s `floor/` group: rejections on the system and the coarse
    // clock (a short name copied, a long one shared), and with call totals on (counted out of
    // line); the closed call with totals.
    fn open<C: protego_breaker::Clock>(b: Breaker<C>) -> Breaker<C> {
        poll(b.call(err()));
        assert_eq!(b.state(), State::Open);
        b
    }
    let once = Config::builder().failure_threshold(1).build().unwrap();
    let counted = once.to_builder().totals(true).build().unwrap();
    let system = open(Breaker::new(once.clone()).named("payments"));
    let long = open(Breaker::new(once.clone()).named("a-name-longer-than-fifteen-bytes"));
    let totals = open(Breaker::new(counted.clone()).named("payments"));
    let coarse = CoarseClock::new();
    let on_coarse = open(Breaker::with_clock(once, coarse.clone()).named("payments"));
    let closed_counted = Breaker::new(counted);
    for (name, breaker) in [
        ("system clock", &system),
        ("long name", &long),
        ("totals", &totals),
    ] {
        assert_eq!(
            allocations(|| poll(breaker.call(ok()))),
            0,
            "rejection, {name}"
        );
    }
    assert_eq!(
        allocations(|| poll(on_coarse.call(ok()))),
        0,
        "rejection, coarse clock"
    );
    assert_eq!(allocations(|| coarse.tick()), 0, "a tick");
    poll(closed_counted.call(ok())); // the thread's first counted call claims its stripe
    assert_eq!(
        allocations(|| poll(closed_counted.call(ok()))),
        0,
        "closed, totals on"
    );
    assert_eq!(totals.metrics().totals.unwrap().rejected, 1);
}

#[test]
fn budget_and_throttle_decisions_allocate_nothing() {
    use std::sync::Arc;
    use std::time::Duration;

    use protego_breaker::call::Outcome;
    use protego_breaker::retry::{Budget, Retrier, RetryExt, RetryPolicy, TokenBudget, TpsBudget};
    use protego_breaker::throttle::Throttle;

    let now = Duration::from_secs(3);
    let tps = TpsBudget::default();
    let tokens = TokenBudget::default();
    assert_eq!(allocations(|| tps.deposit(now)), 0, "tps deposit");
    assert_eq!(
        allocations(|| {
            std::hint::black_box(tps.withdraw(now));
        }),
        0,
        "tps withdraw"
    );
    assert_eq!(
        allocations(|| tokens.record(Outcome::Failure)),
        0,
        "token record"
    );
    assert_eq!(
        allocations(|| {
            std::hint::black_box(tokens.withdraw(now));
        }),
        0,
        "token withdraw"
    );

    let throttle = Throttle::builder().seed(1).build().unwrap();
    assert_eq!(
        allocations(|| {
            for _ in 0..100 {
                if throttle.admit(now) {
                    throttle.record(now, Outcome::Failure);
                }
            }
        }),
        0,
        "throttle decisions, shedding included"
    );

    let breaker = Breaker::with_clock(protego_breaker::Config::default(), ManualClock::new());
    let attached = Arc::new(Throttle::builder().seed(1).build().unwrap());
    attached.attach(&breaker);
    assert_eq!(
        allocations(|| poll(breaker.call(ok()))),
        0,
        "a throttled breaker's call"
    );

    let sleeper = |_: Duration| -> protego_breaker::sleep::Sleep { Box::pin(ready(())) };
    let retrier = Retrier::new(
        RetryPolicy::default(),
        Arc::new(TpsBudget::default()),
        Arc::new(sleeper),
    );
    assert_eq!(
        allocations(|| poll(ok.retry(&retrier, &breaker))),
        0,
        "a retried call that succeeds"
    );
}

#[cfg(feature = "balance")]
#[test]
fn the_pools_ejected_count_allocates_nothing() {
    use futures::StreamExt;
    use protego_breaker::integrations::balance::{OutlierDetection, OutlierDetector};
    use tower::Service;

    let registry = std::sync::Arc::new(Registry::with_clock(ManualClock::new()));
    let detection = OutlierDetection::builder()
        .consecutive_5xx(Some(1))
        .max_ejection_percent(100)
        .build()
        .unwrap();
    let detector = OutlierDetector::new(registry, "pool", detection);
    let endpoints = (0..3).map(|i: u32| {
        let svc = tower::service_fn(|()| ready(Err::<(), _>("down")));
        Ok::<_, ()>(tower::discover::Change::Insert(i, svc))
    });
    let mut discover = detector.layer().discover(futures::stream::iter(endpoints));
    let Some(Ok(tower::discover::Change::Insert(_, mut first))) =
        futures::executor::block_on(discover.next())
    else {
        panic!("the first endpoint")
    };
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    assert!(first.poll_ready(&mut cx).is_ready());
    poll(first.call(()));
    assert_eq!(detector.ejected(), ["0"]);
    let mut count = 0;
    assert_eq!(allocations(|| count = detector.ejected_count()), 0);
    assert_eq!(count, 1);
}

#[test]
fn shedding_allocates_nothing_once_the_first_overload_made_it() {
    use std::time::Duration;

    let clock = ManualClock::new();
    let breaker = Breaker::with_clock(protego_breaker::Config::default(), clock.clone());
    // The first overload makes the controller (once per breaker, in its companion).
    assert!(allocations(|| breaker.try_acquire().unwrap().overload()) >= 1);
    clock.advance(Duration::from_millis(150));
    assert_eq!(
        allocations(|| {
            for _ in 0..100 {
                let held = breaker.try_acquire();
                if let Ok(p) = breaker.try_acquire() {
                    p.overload();
                }
                if let Ok(p) = held {
                    p.success();
                }
                clock.advance(Duration::from_millis(20));
            }
        }),
        0,
        "overloads, admissions, refusals and successes while shedding"
    );
    assert!(breaker.shed_limit().is_some());
}
