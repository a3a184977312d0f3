//! Loom models of the real state machine, run with
//! `RUSTFLAGS="--cfg protego_loom" LOOM_MAX_PREEMPTIONS=4 cargo test --release --test loom`.
#![cfg(protego_loom)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use loom::thread;
use protego_breaker::{
    call::Protected, Breaker, CircuitBreaker, Config, Error, ManualClock, State,
};

const PENDING: u8 = 0;
const OK: u8 = 1;
const ERR: u8 = 2;

/// An inner future that stays pending until its gate is set.
struct Gate(Arc<AtomicU8>);

impl Future for Gate {
    type Output = Result<(), ()>;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        match self.0.load(Ordering::SeqCst) {
            PENDING => Poll::Pending,
            OK => Poll::Ready(Ok(())),
            _ => Poll::Ready(Err(())),
        }
    }
}

type Shared = Arc<Breaker<ManualClock>>;
type Call = Pin<Box<Protected<Gate, Shared>>>;

fn poll<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(futures::task::noop_waker_ref()))
}

fn breaker(threshold: u32, trials: u32) -> (ManualClock, Shared) {
    let cfg = Config::builder()
        .failure_threshold(threshold)
        .reset_timeout(Duration::from_secs(10))
        .half_open_retries(trials)
        .build()
        .unwrap();
    shared(cfg)
}

/// A breaker with `cfg` on a fresh manual clock, shareable across loom threads.
fn shared(cfg: Config) -> (ManualClock, Shared) {
    let clock = ManualClock::new();
    (clock.clone(), Arc::new(Breaker::with_clock(cfg, clock)))
}

/// Starts a call and polls it once: `Some` (in flight, with its gate) if admitted.
fn start(b: &Shared) -> Option<(Arc<AtomicU8>, Call)> {
    let gate = Arc::new(AtomicU8::new(PENDING));
    let mut call = Box::pin(Arc::clone(b).call_owned(Gate(Arc::clone(&gate))));
    match poll(call.as_mut()) {
        Poll::Pending => Some((gate, call)),
        Poll::Ready(Err(Error::Rejected(_))) => None,
        Poll::Ready(_) => unreachable!("the gate is closed"),
    }
}

fn finish((gate, mut call): (Arc<AtomicU8>, Call), how: u8) {
    gate.store(how, Ordering::SeqCst);
    assert!(poll(call.as_mut()).is_ready());
}

fn run(b: &Shared, how: u8) -> bool {
    start(b).map(|c| finish(c, how)).is_some()
}

fn half_open(threshold: u32, trials: u32) -> (ManualClock, Shared) {
    let (clock, b) = breaker(threshold, trials);
    for _ in 0..threshold {
        assert!(run(&b, ERR));
    }
    clock.advance(Duration::from_secs(10));
    (clock, b)
}

#[test]
fn racing_callers_never_exceed_the_half_open_trials() {
    loom::model(|| {
        let (_clock, b) = half_open(1, 2);
        let gen_half_open = b.generation(); // Open, not yet half-open: decided by the callers
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let b = Arc::clone(&b);
                thread::spawn(move || start(&b))
            })
            .collect();
        let admitted: Vec<_> = handles
            .into_iter()
            .filter_map(|h| h.join().unwrap())
            .collect();
        assert_eq!(admitted.len(), 2, "exactly the round's trials are admitted");
        assert_eq!(
            b.generation(),
            gen_half_open + 1,
            "one Open -> HalfOpen transition"
        );
        assert_eq!(b.state(), State::HalfOpen);
        for call in admitted {
            finish(call, OK);
        }
        assert_eq!(b.state(), State::Closed);
        assert_eq!(b.generation(), gen_half_open + 2);
    });
}

#[test]
fn failures_racing_at_the_threshold_trip_once() {
    loom::model(|| {
        let (clock, b) = breaker(2, 1);
        let calls: Vec<_> = (0..3).map(|_| start(&b).unwrap()).collect();
        let handles: Vec<_> = calls
            .into_iter()
            .map(|call| thread::spawn(move || finish(call, ERR)))
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(b.generation(), 1, "exactly one Closed -> Open transition");
        assert_eq!(b.state(), State::Open);
        clock.advance(Duration::from_secs(10));
        assert_eq!(
            b.state(),
            State::HalfOpen,
            "opened_at is the one stamped at time 0"
        );
    });
}

#[test]
fn cancelled_trial_racing_a_success_leaks_no_trial() {
    loom::model(|| {
        let (_clock, b) = half_open(1, 2);
        let a = start(&b).unwrap();
        let c = start(&b).unwrap();
        let dropper = thread::spawn(move || drop(a));
        let winner = thread::spawn(move || finish(c, OK));
        dropper.join().unwrap();
        winner.join().unwrap();
        assert_eq!(b.state(), State::HalfOpen);
        let last = start(&b).expect("the dropped trial is free again");
        assert!(
            start(&b).is_none(),
            "one success + one in flight fill the round"
        );
        finish(last, OK);
        assert_eq!(b.state(), State::Closed);
    });
}

#[test]
fn cancelled_trial_racing_a_failure_reopens_once() {
    loom::model(|| {
        let (_clock, b) = half_open(1, 2);
        let a = start(&b).unwrap();
        let c = start(&b).unwrap();
        let before = b.generation();
        let dropper = thread::spawn(move || drop(a));
        let loser = thread::spawn(move || finish(c, ERR));
        dropper.join().unwrap();
        loser.join().unwrap();
        assert_eq!(b.state(), State::Open);
        assert_eq!(b.generation(), before + 1);
    });
}

#[test]
fn reconfigure_racing_outcomes_is_never_torn() {
    loom::model(|| {
        let (_clock, b) = breaker(2, 1);
        let old = b.config();
        let new = Config::builder()
            .failure_threshold(1)
            .reset_timeout(Duration::from_secs(1))
            .half_open_retries(3)
            .build()
            .unwrap();
        let recorder = {
            let b = Arc::clone(&b);
            thread::spawn(move || run(&b, ERR))
        };
        let reconfigurer = {
            let (b, new) = (Arc::clone(&b), new.clone());
            thread::spawn(move || b.reconfigure(new))
        };
        let seen = b.config();
        assert!(seen == old || seen == new, "torn config: {seen:?}");
        assert!(recorder.join().unwrap());
        reconfigurer.join().unwrap();
        assert_eq!(b.config(), new);
        // One failure: over the new threshold of 1 only if it was counted after the update.
        assert!(matches!(b.state(), State::Open | State::Closed));
        assert!(b.generation() <= 1);
    });
}

#[test]
fn late_outcome_racing_a_transition_changes_nothing() {
    loom::model(|| {
        let (clock, b) = breaker(1, 1);
        let late = start(&b).unwrap();
        assert!(run(&b, ERR));
        clock.advance(Duration::from_secs(10));
        let trial = start(&b).unwrap(); // Open -> HalfOpen
        let gen = b.generation();
        let late_success = thread::spawn(move || finish(late, OK));
        let cancel = thread::spawn(move || drop(trial));
        late_success.join().unwrap();
        cancel.join().unwrap();
        assert_eq!(b.generation(), gen, "the late success closed nothing");
        assert_eq!(b.state(), State::HalfOpen);
        assert!(start(&b).is_some(), "the cancelled trial is free again");
    });
}

#[test]
fn force_open_racing_a_closing_trial_wins() {
    loom::model(|| {
        let (_clock, b) = half_open(1, 1);
        let trial = start(&b).unwrap();
        let forcer = {
            let b = Arc::clone(&b);
            thread::spawn(move || assert!(b.force_open()))
        };
        let closer = thread::spawn(move || finish(trial, OK));
        forcer.join().unwrap();
        closer.join().unwrap();
        // Either the trial closed the circuit first and force_open then opened it, or the
        // trial's success arrived late: the forced state stands in both orders.
        assert_eq!(b.state(), State::ForcedOpen);
        assert!(start(&b).is_none());
    });
}

#[test]
fn listeners_see_racing_transitions_as_one_chain() {
    loom::model(|| {
        let (_clock, b) = half_open(1, 1);
        let trial = start(&b).unwrap(); // Open -> HalfOpen, before the listener
        let log = Arc::new(loom::sync::Mutex::new(Vec::new()));
        {
            let log = Arc::clone(&log);
            b.on_transition(move |t| log.lock().unwrap().push((t.from(), t.to())));
        }
        let forcer = {
            let b = Arc::clone(&b);
            thread::spawn(move || b.force_open())
        };
        let failer = thread::spawn(move || finish(trial, ERR));
        forcer.join().unwrap();
        failer.join().unwrap();
        let log = log.lock().unwrap();
        assert_eq!(log[0].0, State::HalfOpen);
        for pair in log.windows(2) {
            assert_eq!(pair[0].1, pair[1].0, "{log:?}");
        }
        assert_eq!(log.last().unwrap().1, State::ForcedOpen, "{log:?}");
    });
}

#[test]
fn a_rejection_racing_reconfigure_never_mixes_two_configs() {
    loom::model(|| {
        let old = Config::builder()
            .failure_threshold(1)
            .reset_timeout(Duration::from_secs(10))
            .half_open_retries(1)
            .build()
            .unwrap();
        let new = old
            .to_builder()
            .reset_timeout(Duration::from_secs(4))
            .backoff_multiplier(3.0)
            .max_reset_timeout(Duration::from_secs(100))
            .build()
            .unwrap();
        let (clock, b) = shared(old);
        assert!(run(&b, ERR));
        clock.advance(Duration::from_secs(10));
        assert!(run(&b, ERR)); // the trial fails: one reopen
        let reconfigurer = {
            let b = Arc::clone(&b);
            thread::spawn(move || b.reconfigure(new))
        };
        let gate = Arc::new(AtomicU8::new(PENDING));
        let mut call = Box::pin(Arc::clone(&b).call_owned(Gate(gate)));
        let Poll::Ready(Err(Error::Rejected(r))) = poll(call.as_mut()) else {
            panic!("not rejected");
        };
        // Old config: 10 s. New: 4 s * 3 = 12 s. A mix would say 4 s or 30 s.
        let wait = r.retry_after().unwrap().as_secs();
        assert!(wait == 10 || wait == 12, "mixed configs: {wait} s");
        reconfigurer.join().unwrap();
    });
}

#[test]
fn totals_count_racing_calls_exactly() {
    loom::model(|| {
        let cfg = Config::builder()
            .failure_threshold(5)
            .totals(true)
            .build()
            .unwrap();
        let (_clock, b) = shared(cfg);
        let handles: Vec<_> = [OK, ERR]
            .into_iter()
            .map(|how| {
                let b = Arc::clone(&b);
                thread::spawn(move || assert!(run(&b, how)))
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let t = b.metrics().totals.unwrap();
        assert_eq!((t.admitted, t.succeeded, t.failed), (2, 1, 1));
    });
}

#[test]
fn racing_failures_in_a_count_window_trip_once_and_count_exactly() {
    loom::model(|| {
        let cfg = Config::builder()
            .window(protego_breaker::Window::Count(4))
            .failure_rate_threshold(50)
            .minimum_calls(3)
            .build()
            .unwrap();
        let (_clock, b) = shared(cfg);
        assert!(run(&b, OK));
        let before = b.generation();
        let calls: Vec<_> = (0..2).map(|_| start(&b).unwrap()).collect();
        let handles: Vec<_> = calls
            .into_iter()
            .map(|call| thread::spawn(move || finish(call, ERR)))
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        // 2 failures of 3 outcomes: exactly one Closed -> Open, whichever failure came last.
        assert_eq!(b.state(), State::Open);
        assert_eq!(b.generation(), before + 1);
    });
}

#[test]
fn a_success_racing_a_failure_in_a_count_window_loses_neither() {
    loom::model(|| {
        let cfg = Config::builder()
            .window(protego_breaker::Window::Count(2))
            .failure_rate_threshold(100)
            .minimum_calls(2)
            .build()
            .unwrap();
        let (_clock, b) = shared(cfg);
        let calls: Vec<_> = (0..2).map(|_| start(&b).unwrap()).collect();
        let handles: Vec<_> = calls
            .into_iter()
            .zip([OK, ERR])
            .map(|(call, how)| thread::spawn(move || finish(call, how)))
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(b.state(), State::Closed, "1 of 2 failed: under 100 %");
        assert_eq!(
            b.metrics().failure_rate,
            Some(50.0),
            "both outcomes are in the window"
        );
    });
}

#[test]
fn a_late_outcome_racing_a_new_generation_never_blinds_a_count_window() {
    loom::model(|| {
        let cfg = Config::builder()
            .window(protego_breaker::Window::Count(1))
            .failure_rate_threshold(100)
            .minimum_calls(1)
            .build()
            .unwrap();
        let (_clock, b) = shared(cfg);
        let late = start(&b).unwrap(); // admitted in the first closed generation
        let other = {
            let b = Arc::clone(&b);
            thread::spawn(move || {
                b.reset(); // a new closed generation
                assert!(run(&b, OK)); // its first outcome fills the ring (N = 1)
            })
        };
        finish(late, OK); // the late outcome, racing it; it may swap the new mark out
        other.join().unwrap();
        // Whatever the interleaving, the window still counts what it holds: one failure now
        // fills it at 100 % and trips it.
        assert!(run(&b, ERR));
        assert_eq!(b.state(), State::Open);
    });
}

#[test]
fn disable_racing_a_tripping_failure_leaves_it_disabled() {
    loom::model(|| {
        let (_clock, b) = breaker(1, 1);
        let call = start(&b).unwrap();
        let disabler = {
            let b = Arc::clone(&b);
            thread::spawn(move || assert!(b.disable()))
        };
        let failer = thread::spawn(move || finish(call, ERR));
        disabler.join().unwrap();
        failer.join().unwrap();
        // Failure first: Closed -> Open -> Disabled. Disable first: the failure is late.
        assert_eq!(b.state(), State::Disabled);
        assert!(start(&b).is_some(), "disabled admits");
        assert!(run(&b, ERR));
        assert_eq!(b.state(), State::Disabled, "and records nothing");
    });
}

#[test]
fn a_reopen_racing_a_trial_admission_backs_off_exactly_once() {
    loom::model(|| {
        let cfg = Config::builder()
            .failure_threshold(1)
            .reset_timeout(Duration::from_secs(10))
            .half_open_retries(2)
            .backoff_multiplier(2.0)
            .max_reset_timeout(Duration::from_secs(100))
            .build()
            .unwrap();
        let (clock, b) = shared(cfg);
        assert!(run(&b, ERR));
        clock.advance(Duration::from_secs(10));
        let trial = start(&b).unwrap();
        let failer = thread::spawn(move || finish(trial, ERR));
        let admitter = {
            let b = Arc::clone(&b);
            // Moves the half-open payload while the failure reopens the circuit, so the
            // reopening compare-and-swap may have to retry.
            thread::spawn(move || drop(start(&b)))
        };
        failer.join().unwrap();
        admitter.join().unwrap();
        let gate = Arc::new(AtomicU8::new(PENDING));
        let mut call = Box::pin(Arc::clone(&b).call_owned(Gate(gate)));
        let Poll::Ready(Err(Error::Rejected(r))) = poll(call.as_mut()) else {
            panic!("not rejected");
        };
        assert_eq!(
            r.retry_after(),
            Some(Duration::from_secs(20)),
            "one reopen: 10 s * 2"
        );
    });
}

#[test]
fn racing_trials_decided_by_rate_count_every_outcome() {
    loom::model(|| {
        let cfg = Config::builder()
            .failure_threshold(1)
            .reset_timeout(Duration::from_secs(10))
            .half_open_retries(2)
            .half_open_by_rate(true)
            .failure_rate_threshold(50)
            .build()
            .unwrap();
        let (clock, b) = shared(cfg);
        assert!(run(&b, ERR));
        clock.advance(Duration::from_secs(10));
        let trials = [start(&b).unwrap(), start(&b).unwrap()];
        let round = b.generation();
        let handles: Vec<_> = trials
            .into_iter()
            .zip([ERR, OK])
            .map(|(trial, how)| thread::spawn(move || finish(trial, how)))
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        // Whichever finishes last decides, and sees the other's failure: 1 of 2 is 50 %.
        assert_eq!(b.state(), State::Open);
        assert_eq!(b.generation(), round + 1, "one HalfOpen -> Open transition");
    });
}

#[test]
fn racing_failures_under_a_trip_rule_trip_once() {
    loom::model(|| {
        let (_clock, b) = breaker(100, 1);
        b.set_trip_rule(|counts, _| counts.failures >= 2);
        let calls = [start(&b).unwrap(), start(&b).unwrap()];
        let handles: Vec<_> = calls
            .into_iter()
            .map(|call| thread::spawn(move || finish(call, ERR)))
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        // At least the later of the two sees both failures; exactly one opens.
        assert_eq!(b.state(), State::Open);
        assert_eq!(b.generation(), 1);
    });
}

#[test]
fn racing_would_be_trips_in_metrics_only_start_over_once() {
    loom::model(|| {
        let (_clock, b) = breaker(2, 1);
        assert!(b.metrics_only());
        let calls: Vec<_> = (0..3).map(|_| start(&b).unwrap()).collect();
        let handles: Vec<_> = calls
            .into_iter()
            .map(|call| thread::spawn(move || finish(call, ERR)))
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(b.state(), State::MetricsOnly, "never opens");
        assert_eq!(
            b.generation(),
            2,
            "one would-be trip; the third failure is late"
        );
        assert_eq!(b.consecutive_failures(), 0);
    });
}

#[test]
fn manual_half_open_racing_a_tripping_failure_ends_half_open() {
    loom::model(|| {
        let (_clock, b) = breaker(1, 1);
        let call = start(&b).unwrap();
        let opener = {
            let b = Arc::clone(&b);
            thread::spawn(move || b.half_open())
        };
        let failer = thread::spawn(move || finish(call, ERR));
        opener.join().unwrap();
        failer.join().unwrap();
        // Failure first: Closed -> Open -> HalfOpen. Half-open first: the failure is late.
        assert_eq!(b.state(), State::HalfOpen);
        assert!(run(&b, OK), "the round's trial is admitted");
        assert_eq!(b.state(), State::Closed);
    });
}

/// A `TpsBudget` holding exactly `retries` retries (no floor; 100 % of requests).
fn budget_with(retries: u32) -> protego_breaker::retry::TpsBudget {
    use protego_breaker::retry::Budget;
    let budget = protego_breaker::retry::TpsBudget::builder()
        .min_per_sec(0)
        .retry_percent(100.0)
        .build()
        .unwrap();
    for _ in 0..retries {
        budget.deposit(Duration::ZERO);
    }
    budget
}

#[test]
fn racing_withdrawals_never_spend_more_than_the_budget() {
    use protego_breaker::retry::Budget;
    loom::model(|| {
        let budget = Arc::new(budget_with(1));
        let other = Arc::clone(&budget);
        let t = thread::spawn(move || other.withdraw(Duration::ZERO));
        let here = budget.withdraw(Duration::ZERO);
        let there = t.join().unwrap();
        assert!(
            here ^ there,
            "exactly one of two racing retries spends the one retry"
        );
        assert_eq!(budget.balance(Duration::ZERO), 0);
    });
}

#[test]
fn a_deposit_racing_a_withdrawal_from_the_budget_is_never_lost() {
    use protego_breaker::retry::Budget;
    loom::model(|| {
        let budget = Arc::new(budget_with(1));
        let other = Arc::clone(&budget);
        let t = thread::spawn(move || other.deposit(Duration::ZERO));
        assert!(
            budget.withdraw(Duration::ZERO),
            "one retry was there before the race"
        );
        t.join().unwrap();
        assert_eq!(budget.balance(Duration::ZERO), 1, "1 + 1 - 1");
    });
}

#[test]
fn racing_deposits_into_an_expired_slot_count_once_each() {
    use protego_breaker::retry::Budget;
    loom::model(|| {
        // Bucket 0's retry; bucket 10 is the same slot of the ring, a ttl later.
        let budget = Arc::new(budget_with(1));
        let later = Duration::from_millis(10_500);
        let other = Arc::clone(&budget);
        let t = thread::spawn(move || other.deposit(later));
        budget.deposit(later);
        t.join().unwrap();
        assert_eq!(
            budget.balance(later),
            2,
            "both deposits, in the slot started afresh; bucket 0's expired"
        );
    });
}

#[test]
fn a_deposit_racing_a_withdrawal_that_renews_the_slot_is_never_lost() {
    use protego_breaker::retry::Budget;
    loom::model(|| {
        // Two retries deposited in bucket 9; at 10.5 s they count, and bucket 10's slot (the
        // ring's first) still holds bucket 0: both racers start it afresh.
        let budget = Arc::new(budget_with(0));
        budget.deposit(Duration::from_millis(9_500));
        budget.deposit(Duration::from_millis(9_500));
        let now = Duration::from_millis(10_500);
        let other = Arc::clone(&budget);
        let t = thread::spawn(move || other.deposit(now));
        assert!(
            budget.withdraw(now),
            "two retries were there before the race"
        );
        t.join().unwrap();
        assert_eq!(budget.balance(now), 2, "2 + 1 - 1");
    });
}

#[test]
fn racing_outcomes_cost_the_token_budget_exactly() {
    use protego_breaker::{call::Outcome, retry::Budget};
    loom::model(|| {
        let budget = Arc::new(protego_breaker::retry::TokenBudget::new(3.0, 0.5).unwrap());
        let other = Arc::clone(&budget);
        let t = thread::spawn(move || other.record(Outcome::Failure));
        budget.record(Outcome::Failure);
        budget.record(Outcome::Success);
        t.join().unwrap();
        assert!(
            (budget.tokens() - 1.5).abs() < 1e-9,
            "3 - 1 - 1 + 0.5, whatever the order"
        );
        assert!(!budget.withdraw(Duration::ZERO));
    });
}

#[test]
fn racing_throttle_decisions_count_every_request_and_accept() {
    use protego_breaker::{call::Outcome, throttle::Throttle};
    loom::model(|| {
        let throttle = Throttle::builder()
            .k(1.0)
            .min_requests(2)
            .seed(1)
            .build()
            .unwrap();
        // Two requests and no accept: each racing decision below draws.
        assert!(throttle.admit(Duration::ZERO));
        assert!(throttle.admit(Duration::ZERO));
        let throttle = Arc::new(throttle);
        let other = Arc::clone(&throttle);
        let t = thread::spawn(move || other.admit(Duration::ZERO));
        let _ = throttle.admit(Duration::ZERO);
        throttle.record(Duration::ZERO, Outcome::Success);
        let _ = t.join().unwrap();
        assert!(
            (throttle.rejection_probability(Duration::ZERO) - 3.0 / 5.0).abs() < 1e-9,
            "4 requests, 1 accept, K = 1: (4 - 1) / (4 + 1), whatever the order"
        );
    });
}

#[test]
fn racing_admissions_while_shedding_never_exceed_the_limit() {
    use protego_breaker::call::Outcome;
    loom::model(|| {
        let (_clock, b) = shared(Config::default());
        // Shedding, with a limit of one call and none in flight.
        b.try_acquire().unwrap().record(Outcome::Overload);
        assert_eq!(b.shed_limit(), Some(1));
        let other = Arc::clone(&b);
        let t = thread::spawn(move || other.try_acquire_owned().ok());
        let here = Arc::clone(&b).try_acquire_owned().ok();
        let there = t.join().unwrap();
        assert_eq!(
            usize::from(here.is_some()) + usize::from(there.is_some()),
            1,
            "exactly one of two racing calls gets the one slot"
        );
        drop(here.or(there)); // counted out: the slot is free again
        assert!(b.try_acquire().is_ok());
    });
}

#[test]
fn racing_queued_successes_while_shedding_leave_the_limit_as_it_was() {
    use protego_breaker::call::Outcome;
    loom::model(|| {
        let (clock, b) = shared(Config::default());
        b.try_acquire().unwrap().record(Outcome::Overload);
        // One call let in and back 10 ms later: the episode's fastest; slow start makes the
        // limit 2.
        let first = b.try_acquire().unwrap();
        clock.advance(Duration::from_millis(10));
        first.success();
        assert_eq!(b.shed_limit(), Some(2));
        // Two calls back after 100 ms, ten times the fastest: they waited in a queue, and
        // neither grows the limit, whatever the order of their racing records.
        let (one, two) = (
            Arc::clone(&b).try_acquire_owned().unwrap(),
            Arc::clone(&b).try_acquire_owned().unwrap(),
        );
        clock.advance(Duration::from_millis(100));
        let t = thread::spawn(move || one.success());
        two.success();
        t.join().unwrap();
        assert_eq!(b.shed_limit(), Some(2));
        // A call as fast as the fastest grows it again (slow start: by one).
        let fast = b.try_acquire().unwrap();
        let again = b.try_acquire().unwrap();
        clock.advance(Duration::from_millis(10));
        fast.success();
        drop(again);
        assert_eq!(b.shed_limit(), Some(3));
    });
}

#[test]
fn racing_slow_successes_start_shedding_once() {
    loom::model(|| {
        let (clock, b) = shared(Config::default());
        // Twenty timed successes of 10 ms (a call after a millisecond of quiet is timed): the
        // latency sensor's baseline (its threshold: 30 ms, three times its 10 ms floor).
        clock.advance(Duration::from_secs(1));
        for _ in 0..20 {
            let call = start(&b).unwrap();
            clock.advance(Duration::from_millis(10));
            finish(call, OK);
        }
        assert_eq!(b.shed_limit(), None);
        // Four timed calls back 100 ms later, ten times the usual: two heard before the race,
        // and of the two racing, the second to be heard, whichever it is, starts shedding,
        // once.
        for _ in 0..2 {
            let call = start(&b).unwrap();
            clock.advance(Duration::from_millis(100));
            finish(call, OK);
        }
        assert_eq!(b.shed_limit(), None);
        clock.advance(Duration::from_millis(1));
        let one = start(&b).unwrap();
        clock.advance(Duration::from_millis(1));
        let two = start(&b).unwrap();
        clock.advance(Duration::from_millis(100));
        let t = thread::spawn(move || finish(one, OK));
        finish(two, OK);
        t.join().unwrap();
        assert_eq!(
            b.shed_limit(),
            Some(4),
            "shedding from four calls (the first racer's place is not handed over: it ended \
             before the word)"
        );
        assert_eq!(b.state(), State::Closed);
    });
}

#[test]
fn a_call_found_in_flight_racing_the_confirming_overload_hands_over_at_most_its_place() {
    use protego_breaker::call::Outcome;
    loom::model(|| {
        let (clock, b) = shared(Config::default());
        // The sensor's baseline: twenty timed successes of 10 ms (its threshold: 30 ms).
        clock.advance(Duration::from_secs(1));
        for _ in 0..20 {
            let call = b.try_acquire().unwrap();
            clock.advance(Duration::from_millis(10));
            call.record(Outcome::Success);
        }
        for _ in 0..3 {
            let call = b.try_acquire().unwrap();
            clock.advance(Duration::from_millis(100));
            call.record(Outcome::Success);
        }
        // The fourth slow success is the word, with one more call in flight.
        clock.advance(Duration::from_millis(1));
        let fourth = b.try_acquire().unwrap();
        let found = Arc::clone(&b).try_acquire_owned().unwrap();
        clock.advance(Duration::from_millis(100));
        fourth.record(Outcome::Success);
        assert_eq!(b.shed_limit(), Some(4));
        // A call let in since times out (the overload confirms the episode) while the one found
        // in flight ends, within half the threshold of the word: its place is handed over if
        // it ended first, and nothing else moves the limit.
        let counted = Arc::clone(&b).try_acquire_owned().unwrap();
        let t = thread::spawn(move || found.record(Outcome::Success));
        counted.record(Outcome::Overload);
        t.join().unwrap();
        let limit = b.shed_limit().unwrap();
        assert!(limit == 4 || limit == 5, "{limit}");
        assert_eq!(b.state(), State::Closed);
    });
}
