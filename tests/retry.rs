//! Retries coupled to the breaker, on a manual clock: backoff, budgets, `retry_after` to the
//! nanosecond, and never a retry into an open circuit or a full half-open round.
#![allow(clippy::float_cmp, clippy::unchecked_time_subtraction)] // exact values by construction

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use protego_breaker::call::Outcome;
use protego_breaker::random::SplitMix;
use protego_breaker::retry::{Budget, Retrier, RetryExt, RetryPolicy, TokenBudget, TpsBudget};
use protego_breaker::sleep::Sleep;
use protego_breaker::{CircuitBreaker, Clock, Error, ManualClock, State};

/// A sleeper that moves the manual clock by each wait and records the waits.
fn sleeper(clock: &ManualClock) -> (Arc<Mutex<Vec<Duration>>>, impl Fn(Duration) -> Sleep) {
    let waits = Arc::new(Mutex::new(Vec::new()));
    let (log, time) = (Arc::clone(&waits), clock.clone());
    let sleep = move |d: Duration| -> Sleep {
        log.lock().unwrap().push(d);
        time.advance(d);
        Box::pin(std::future::ready(()))
    };
    (waits, sleep)
}

fn policy(attempts: u32, initial_ms: u64) -> RetryPolicy {
    RetryPolicy::builder()
        .max_attempts(attempts)
        .initial_backoff(Duration::from_millis(initial_ms))
        .max_backoff(Duration::from_secs(1))
        .jitter(0.0)
        .build()
        .unwrap()
}

fn retrier(
    clock: &ManualClock,
    policy: RetryPolicy,
    budget: Arc<dyn Budget>,
) -> (Arc<Mutex<Vec<Duration>>>, Retrier) {
    let (waits, sleep) = sleeper(clock);
    let retrier =
        Retrier::new(policy, budget, Arc::new(sleep)).with_random(Arc::new(SplitMix::new(1)));
    (waits, retrier)
}

/// A dependency that answers from a script, and records when each attempt started.
struct Script {
    answers: Mutex<Vec<Result<u32, &'static str>>>,
    started: Mutex<Vec<Duration>>,
    clock: ManualClock,
}

impl Script {
    fn new(clock: &ManualClock, answers: &[Result<u32, &'static str>]) -> Arc<Self> {
        let mut answers = answers.to_vec();
        answers.reverse();
        Arc::new(Script {
            answers: Mutex::new(answers),
            started: Mutex::new(Vec::new()),
            clock: clock.clone(),
        })
    }

    fn call(self: &Arc<Self>) -> impl std::future::Future<Output = Result<u32, &'static str>> {
        self.started.lock().unwrap().push(self.clock.now());
        let answer = self
            .answers
            .lock()
            .unwrap()
            .pop()
            .unwrap_or(Err("script ran out"));
        async move { answer }
    }

    fn starts(&self) -> Vec<Duration> {
        self.started.lock().unwrap().clone()
    }
}

#[test]
fn a_failure_is_retried_after_the_backoff_until_it_succeeds() {
    let (clock, breaker) = manual(cfg(5, secs(60), 1));
    let (waits, retrier) = retrier(&clock, policy(4, 10), Arc::new(TpsBudget::default()));
    let script = Script::new(&clock, &[Err(BOOM), Err(BOOM), Ok(7)]);
    let out = futures::executor::block_on((|| script.call()).retry(&retrier, &breaker));
    assert_eq!(out, Ok(7));
    assert_eq!(
        *waits.lock().unwrap(),
        [Duration::from_millis(10), Duration::from_millis(20)]
    );
    assert_eq!(
        script.starts(),
        [
            Duration::ZERO,
            Duration::from_millis(10),
            Duration::from_millis(30)
        ]
    );
    assert_eq!(breaker.consecutive_failures(), 0);
}

#[test]
fn attempts_stop_at_max_attempts_with_the_last_error() {
    let (clock, breaker) = manual(cfg(10, secs(60), 1));
    let (_, retrier) = retrier(&clock, policy(3, 1), Arc::new(TpsBudget::default()));
    let script = Script::new(&clock, &[Err("a"), Err("b"), Err("c"), Ok(1)]);
    let out = futures::executor::block_on((|| script.call()).retry(&retrier, &breaker));
    assert_eq!(out, Err(Error::Inner("c")));
    assert_eq!(script.starts().len(), 3);
    assert_eq!(breaker.consecutive_failures(), 3);
}

#[test]
fn no_retry_goes_into_an_open_breaker() {
    // The first failure trips the breaker for 60 s, longer than the policy's max_backoff.
    let (clock, breaker) = manual(cfg(1, secs(60), 1));
    let (waits, retrier) = retrier(&clock, policy(5, 10), Arc::new(TpsBudget::default()));
    let script = Script::new(&clock, &[Err(BOOM), Ok(1)]);
    let out = futures::executor::block_on((|| script.call()).retry(&retrier, &breaker));
    let rejected = out
        .unwrap_err()
        .rejected()
        .cloned()
        .expect("ends with the rejection");
    assert_eq!(rejected.state(), State::Open);
    assert_eq!(
        rejected.retry_after(),
        Some(secs(60) - Duration::from_millis(10))
    );
    assert_eq!(
        script.starts().len(),
        1,
        "the dependency saw one attempt only"
    );
    assert_eq!(*waits.lock().unwrap(), [Duration::from_millis(10)]);
}

#[test]
fn retry_after_is_honoured_to_the_nanosecond() {
    let reset = Duration::from_nanos(500_000_001);
    let (clock, breaker) = manual(cfg(1, reset, 1));
    let (waits, retrier) = retrier(&clock, policy(3, 10), Arc::new(TpsBudget::default()));
    let script = Script::new(&clock, &[Err(BOOM), Ok(9)]);
    let out = futures::executor::block_on((|| script.call()).retry(&retrier, &breaker));
    assert_eq!(out, Ok(9));
    // Backoff 10 ms, then the rejection's retry_after exactly: the trial starts the very
    // nanosecond the open period ends, not one before.
    assert_eq!(
        *waits.lock().unwrap(),
        [Duration::from_millis(10), reset - Duration::from_millis(10)]
    );
    assert_eq!(script.starts(), [Duration::ZERO, reset]);
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn a_call_that_finds_the_breaker_open_waits_out_retry_after_and_never_less() {
    let (clock, breaker) = manual(cfg(1, Duration::from_millis(300), 1));
    let _ = futures::executor::block_on(breaker.call(async { Err::<(), _>(BOOM) }));
    clock.advance(Duration::from_nanos(123));
    let (waits, retrier) = retrier(&clock, policy(2, 10), Arc::new(TpsBudget::default()));
    let script = Script::new(&clock, &[Ok(1)]);
    let out = futures::executor::block_on((|| script.call()).retry(&retrier, &breaker));
    assert_eq!(out, Ok(1));
    assert_eq!(
        *waits.lock().unwrap(),
        [Duration::from_millis(300) - Duration::from_nanos(123)]
    );
    assert_eq!(script.starts(), [Duration::from_millis(300)]);
}

#[test]
fn a_full_half_open_round_is_not_retried_into() {
    let (clock, breaker) = manual(cfg(1, secs(1), 1));
    let _ = futures::executor::block_on(breaker.call(async { Err::<(), _>(BOOM) }));
    clock.advance(secs(1));
    let trial = breaker.try_acquire().expect("the round's one trial");
    let (waits, retrier) = retrier(&clock, policy(5, 10), Arc::new(TpsBudget::default()));
    let script = Script::new(&clock, &[Ok(1)]);
    let out = futures::executor::block_on((|| script.call()).retry(&retrier, &breaker));
    let rejected = out.unwrap_err().rejected().cloned().expect("rejected");
    assert_eq!(
        (rejected.state(), rejected.retry_after()),
        (State::HalfOpen, None)
    );
    assert!(script.starts().is_empty());
    assert!(waits.lock().unwrap().is_empty(), "gave up at once, no wait");
    trial.success();
}

#[test]
fn a_rejection_is_not_a_failure_for_the_token_budget() {
    let (clock, breaker) = manual(cfg(1, secs(60), 1));
    let budget = Arc::new(TokenBudget::default());
    let (_, retrier) = retrier(&clock, policy(1, 10), budget.clone());
    let script = Script::new(&clock, &[Err(BOOM), Ok(1)]);
    let out = futures::executor::block_on((|| script.call()).retry(&retrier, &breaker));
    assert_eq!(out, Err(Error::Inner(BOOM)));
    assert_eq!(budget.tokens(), 9.0, "a failure costs one token");
    let out = futures::executor::block_on((|| script.call()).retry(&retrier, &breaker));
    assert!(out.unwrap_err().is_rejected());
    assert_eq!(budget.tokens(), 9.0, "a rejection costs nothing");
}

#[test]
fn an_empty_budget_stops_retries() {
    let (clock, breaker) = manual(cfg(10, secs(60), 1));
    let none = TpsBudget::builder()
        .min_per_sec(0)
        .retry_percent(0.0)
        .build()
        .unwrap();
    let (waits, retrier) = retrier(&clock, policy(5, 10), Arc::new(none));
    let script = Script::new(&clock, &[Err(BOOM), Ok(1)]);
    let out = futures::executor::block_on((|| script.call()).retry(&retrier, &breaker));
    assert_eq!(out, Err(Error::Inner(BOOM)));
    assert_eq!(script.starts().len(), 1);
    assert!(waits.lock().unwrap().is_empty());
}

#[test]
fn the_token_budget_stops_retries_once_half_its_tokens_are_gone() {
    let (clock, breaker) = manual(cfg(100, secs(60), 1));
    let budget = Arc::new(TokenBudget::new(4.0, 0.1).unwrap());
    let (_, retrier) = retrier(&clock, policy(10, 1), budget.clone());
    let calls = AtomicU32::new(0);
    let down = || {
        calls.fetch_add(1, Ordering::Relaxed);
        async { Err::<(), _>(BOOM) }
    };
    let _ = futures::executor::block_on(down.retry(&retrier, &breaker));
    // 4 tokens: the first failure leaves 3 (> 2: retry), the second 2 (not > 2: stop).
    assert_eq!(calls.load(Ordering::Relaxed), 2);
    assert_eq!(budget.tokens(), 2.0);
}

#[test]
fn ignored_outcomes_are_neither_retried_nor_failures() {
    let (clock, breaker) = manual(cfg(1, secs(60), 1));
    let (_, retrier) = retrier(&clock, policy(5, 10), Arc::new(TpsBudget::default()));
    let script = Script::new(&clock, &[Err(IGNORE), Ok(1)]);
    let fut =
        (|| script.call())
            .retry(&retrier, &breaker)
            .classify(|r: &Result<u32, &str>| match r {
                Err(e) if *e == IGNORE => Outcome::Ignored,
                Err(_) => Outcome::Failure,
                Ok(_) => Outcome::Success,
            });
    assert_eq!(futures::executor::block_on(fut), Err(Error::Inner(IGNORE)));
    assert_eq!(script.starts().len(), 1);
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn a_retry_dropped_mid_attempt_gives_its_trial_back() {
    let (clock, breaker) = manual(cfg(1, secs(1), 1));
    let _ = futures::executor::block_on(breaker.call(async { Err::<(), _>(BOOM) }));
    clock.advance(secs(1));
    let (_, retrier) = retrier(&clock, policy(3, 10), Arc::new(TpsBudget::default()));
    let mut fut =
        Box::pin((|| std::future::pending::<Result<(), &str>>()).retry(&retrier, &breaker));
    assert!(poll_once(fut.as_mut()).is_pending());
    assert!(breaker.try_acquire().is_err(), "the trial is taken");
    drop(fut);
    breaker
        .try_acquire()
        .expect("the trial came back")
        .success();
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn jitter_comes_from_the_injected_source() {
    let run = |seed| {
        let clock = ManualClock::new();
        let breaker = protego_breaker::Breaker::with_clock(cfg(10, secs(60), 1), clock.clone());
        let (waits, sleep) = sleeper(&clock);
        let policy = RetryPolicy::builder()
            .max_attempts(4)
            .jitter(1.0)
            .build()
            .unwrap();
        let retrier = Retrier::new(policy, Arc::new(TpsBudget::default()), Arc::new(sleep))
            .with_random(Arc::new(SplitMix::new(seed)));
        let _ = futures::executor::block_on(
            (|| async { Err::<(), _>(BOOM) }).retry(&retrier, &breaker),
        );
        let waits = waits.lock().unwrap().clone();
        waits
    };
    assert_eq!(run(3), run(3));
    assert_ne!(run(3), run(4));
}

#[test]
fn bad_budget_and_policy_knobs_are_config_errors() {
    let tps = |b: protego_breaker::retry::TpsBudgetBuilder| b.build().unwrap_err().knob();
    assert_eq!(
        tps(TpsBudget::builder().retry_percent(100.5)),
        "retry_percent"
    );
    assert_eq!(
        tps(TpsBudget::builder().retry_percent(f64::NAN)),
        "retry_percent"
    );
    assert_eq!(tps(TpsBudget::builder().ttl(Duration::ZERO)), "ttl");
    assert_eq!(
        TokenBudget::new(10.0, -0.5).unwrap_err().knob(),
        "token_ratio"
    );
    assert_eq!(
        TokenBudget::new(f64::NAN, 0.5).unwrap_err().knob(),
        "max_tokens"
    );
    assert_eq!(
        RetryPolicy::builder()
            .jitter(-0.1)
            .build()
            .unwrap_err()
            .knob(),
        "jitter"
    );
    assert_eq!(
        RetryPolicy::builder()
            .backoff_multiplier(f64::INFINITY)
            .build()
            .unwrap_err()
            .knob(),
        "backoff_multiplier"
    );
}
