//! Retries against a breaker that sheds overload (issue #28): a refused attempt waits for
//! admission, paid from the budget, rather than ending; with no budget left it ends at once.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use protego_breaker::call::{Outcome, Permit};
use protego_breaker::random::SplitMix;
use protego_breaker::retry::{Budget, Retrier, RetryExt, RetryPolicy, TpsBudget};
use protego_breaker::sleep::Sleep;
use protego_breaker::{Breaker, CircuitBreaker, Config, Error, ManualClock, State};

type Held = Arc<Mutex<Vec<Permit<Arc<Breaker<ManualClock>>>>>>;

/// A breaker that sheds with its limit reached: one call held in flight, a limit of one.
fn full_breaker(clock: &ManualClock) -> (Arc<Breaker<ManualClock>>, Held) {
    let breaker = Arc::new(Breaker::with_clock(Config::default(), clock.clone()));
    breaker.try_acquire().unwrap().record(Outcome::Overload);
    let held = vec![Arc::clone(&breaker).try_acquire_owned().unwrap()];
    assert_eq!(breaker.shed_limit(), Some(1));
    assert!(breaker.try_acquire().is_err(), "full");
    (breaker, Arc::new(Mutex::new(held)))
}

/// Each wait moves the clock and lets one held call complete.
fn retrier(
    clock: &ManualClock,
    held: &Held,
    budget: Arc<dyn Budget>,
) -> (Retrier, Arc<Mutex<Vec<Duration>>>) {
    let waits = Arc::new(Mutex::new(Vec::new()));
    let (log, time, held) = (Arc::clone(&waits), clock.clone(), Arc::clone(held));
    let sleep = move |d: Duration| -> Sleep {
        log.lock().unwrap().push(d);
        time.advance(d);
        if let Some(p) = held.lock().unwrap().pop() {
            p.success();
        }
        Box::pin(std::future::ready(()))
    };
    let policy = RetryPolicy::builder().jitter(0.0).build().unwrap();
    let retrier =
        Retrier::new(policy, budget, Arc::new(sleep)).with_random(Arc::new(SplitMix::new(1)));
    (retrier, waits)
}

#[test]
fn a_refused_attempt_waits_for_admission_paid_from_the_budget() {
    let clock = ManualClock::new();
    let (breaker, held) = full_breaker(&clock);
    let (retrier, waits) = retrier(&clock, &held, Arc::new(TpsBudget::default()));
    let out = futures::executor::block_on((|| async { Ok::<_, ()>(7) }).retry(&retrier, &*breaker));
    assert_eq!(out, Ok(7));
    assert_eq!(
        *waits.lock().unwrap(),
        [Duration::from_millis(50)],
        "one backoff, then in"
    );
}

/// A budget with nothing to spend.
struct Empty;

impl Budget for Empty {
    fn deposit(&self, _: Duration) {}
    fn withdraw(&self, _: Duration) -> bool {
        false
    }
}

#[test]
fn with_no_budget_left_a_refused_attempt_ends_at_once() {
    let clock = ManualClock::new();
    let (breaker, held) = full_breaker(&clock);
    let (retrier, waits) = retrier(&clock, &held, Arc::new(Empty));
    let out = futures::executor::block_on((|| async { Ok::<_, ()>(7) }).retry(&retrier, &*breaker));
    match out {
        Err(Error::Rejected(r)) => assert_eq!(r.state(), State::Closed),
        other => panic!("{other:?}"),
    }
    assert!(waits.lock().unwrap().is_empty());
}

#[test]
fn an_overload_is_not_retried() {
    let clock = ManualClock::new();
    let breaker = Breaker::with_clock(Config::default(), clock.clone());
    let held = Arc::new(Mutex::new(Vec::new()));
    let (retrier, waits) = retrier(&clock, &held, Arc::new(TpsBudget::default()));
    let tries = std::sync::atomic::AtomicU32::new(0);
    let out = futures::executor::block_on(
        (|| async {
            tries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Err::<(), _>("timeout")
        })
        .retry(&retrier, &breaker)
        .classify(|_: &Result<(), &str>| Outcome::Overload),
    );
    assert!(matches!(out, Err(Error::Inner("timeout"))));
    assert_eq!(tries.into_inner(), 1);
    assert!(waits.lock().unwrap().is_empty());
    assert_eq!(breaker.state(), State::Closed);
}
