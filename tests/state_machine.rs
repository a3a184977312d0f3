//! The closed / open / half-open machine, one test per rule, driven by a manual clock.
#![allow(clippy::unchecked_time_subtraction)] // test constants, far from zero

mod common;

use std::time::Duration;

use common::*;
use protego_breaker::{CircuitBreaker, Config, State};

const NS: Duration = Duration::from_nanos(1);

fn tripped(
    threshold: u32,
    timeout: Duration,
    trials: u32,
) -> (
    protego_breaker::ManualClock,
    protego_breaker::Breaker<protego_breaker::ManualClock>,
) {
    let (clock, breaker) = manual(cfg(threshold, timeout, trials));
    fail_n(&breaker, threshold);
    assert_eq!(breaker.state(), State::Open);
    (clock, breaker)
}

#[test]
fn defaults_open_after_three_consecutive_failures() {
    let (_clock, breaker) = manual(Config::default());
    fail_n(&breaker, 2);
    assert_eq!(breaker.state(), State::Closed);
    fail_n(&breaker, 1);
    assert_eq!(breaker.state(), State::Open);
}

#[test]
fn threshold_boundary_success_resets_the_count() {
    let (_clock, breaker) = manual(cfg(3, secs(60), 2));
    fail_n(&breaker, 2);
    assert_eq!(breaker.consecutive_failures(), 2);
    start(&breaker).unwrap().succeed();
    assert_eq!(breaker.consecutive_failures(), 0);
    fail_n(&breaker, 1);
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.consecutive_failures(), 1);
    fail_n(&breaker, 2);
    assert_eq!(breaker.state(), State::Open);
}

#[test]
fn threshold_of_one_opens_on_the_first_failure() {
    let (_clock, breaker) = manual(cfg(1, secs(60), 1));
    fail_n(&breaker, 1);
    assert_eq!(breaker.state(), State::Open);
}

#[test]
fn open_circuit_rejects_with_exact_retry_after() {
    let (clock, breaker) = tripped(3, secs(60), 2);
    let r = start(&breaker).err().expect("rejected");
    assert_eq!(r.state(), State::Open);
    assert_eq!(r.retry_after(), Some(secs(60)));
    clock.advance(Duration::from_millis(12_345));
    assert_eq!(
        start(&breaker).err().unwrap().retry_after(),
        Some(Duration::from_millis(47_655))
    );
    clock.advance(secs(47) + Duration::from_millis(654));
    assert_eq!(
        start(&breaker).err().unwrap().retry_after(),
        Some(Duration::from_millis(1))
    );
    clock.advance(Duration::from_millis(1) - NS);
    assert_eq!(start(&breaker).err().unwrap().retry_after(), Some(NS));
}

#[test]
fn open_until_one_nanosecond_before_reset_timeout_then_half_open() {
    let (clock, breaker) = tripped(3, secs(60), 2);
    clock.advance(secs(60) - NS);
    assert_eq!(breaker.state(), State::Open);
    assert!(start(&breaker).is_err());
    clock.advance(NS);
    assert_eq!(breaker.state(), State::HalfOpen);
    assert!(start(&breaker).is_ok());
}

#[test]
fn the_next_call_decides_half_open_without_a_state_read() {
    let (clock, breaker) = tripped(1, secs(5), 1);
    clock.advance(secs(5));
    let trial = start(&breaker).expect("the first call after the timeout is a trial");
    assert_eq!(breaker.state(), State::HalfOpen);
    trial.succeed();
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn half_open_admits_exactly_half_open_retries_trials() {
    let (clock, breaker) = tripped(1, secs(10), 3);
    clock.advance(secs(10));
    let trials: Vec<_> = (0..3)
        .map(|_| start(&breaker).expect("trial admitted"))
        .collect();
    let r = start(&breaker).err().expect("fourth call rejected");
    assert_eq!(r.state(), State::HalfOpen);
    assert_eq!(r.retry_after(), None);
    assert_eq!(trials.len(), 3);
}

#[test]
fn half_open_closes_after_half_open_retries_successes() {
    let (clock, breaker) = tripped(2, secs(10), 2);
    clock.advance(secs(10));
    let a = start(&breaker).unwrap();
    let b = start(&breaker).unwrap();
    a.succeed();
    assert_eq!(breaker.state(), State::HalfOpen);
    b.succeed();
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.consecutive_failures(), 0);
    // A fresh count: one failure does not reopen a threshold-2 circuit.
    fail_n(&breaker, 1);
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn a_succeeded_trial_does_not_free_its_slot() {
    let (clock, breaker) = tripped(1, secs(10), 2);
    clock.advance(secs(10));
    let a = start(&breaker).unwrap();
    let _b = start(&breaker).unwrap();
    a.succeed();
    // One success and one trial in flight use both trials of the round.
    assert!(start(&breaker).is_err());
}

#[test]
fn trial_failure_reopens_with_a_fresh_open_period() {
    let (clock, breaker) = tripped(1, secs(10), 2);
    clock.advance(secs(25));
    let trial = start(&breaker).unwrap();
    clock.advance(secs(3));
    trial.fail();
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(start(&breaker).err().unwrap().retry_after(), Some(secs(10)));
    clock.advance(secs(10) - NS);
    assert_eq!(breaker.state(), State::Open);
    clock.advance(NS);
    assert_eq!(breaker.state(), State::HalfOpen);
}

#[test]
fn the_first_trial_failure_reopens_even_with_other_trials_in_flight() {
    let (clock, breaker) = tripped(1, secs(10), 3);
    clock.advance(secs(10));
    let a = start(&breaker).unwrap();
    let b = start(&breaker).unwrap();
    let c = start(&breaker).unwrap();
    a.succeed();
    b.fail();
    assert_eq!(breaker.state(), State::Open);
    c.succeed(); // a trial of the old round: changes nothing
    assert_eq!(breaker.state(), State::Open);
}

#[test]
fn dropped_trial_frees_its_slot_and_records_nothing() {
    let (clock, breaker) = tripped(1, secs(10), 1);
    clock.advance(secs(10));
    let trial = start(&breaker).unwrap();
    assert!(start(&breaker).is_err());
    drop(trial);
    assert_eq!(breaker.state(), State::HalfOpen);
    start(&breaker).expect("the slot is free again").succeed();
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn dropped_closed_call_records_nothing() {
    let (_clock, breaker) = manual(cfg(2, secs(10), 1));
    fail_n(&breaker, 1);
    drop(start(&breaker).unwrap());
    assert_eq!(breaker.consecutive_failures(), 1);
    fail_n(&breaker, 1);
    assert_eq!(breaker.state(), State::Open);
}

#[test]
fn late_success_from_before_the_trip_does_not_close_half_open() {
    let (clock, breaker) = manual(cfg(1, secs(10), 1));
    let slow = start(&breaker).unwrap();
    fail_n(&breaker, 1);
    clock.advance(secs(10));
    assert_eq!(breaker.state(), State::HalfOpen);
    slow.succeed();
    assert_eq!(breaker.state(), State::HalfOpen);
    // The round's only slot is still free: the late success was not a trial.
    start(&breaker).expect("slot untouched").fail();
    assert_eq!(breaker.state(), State::Open);
}

#[test]
fn late_failure_does_not_extend_the_open_period() {
    let (clock, breaker) = manual(cfg(1, secs(10), 1));
    let slow = start(&breaker).unwrap();
    fail_n(&breaker, 1);
    clock.advance(secs(6));
    slow.fail();
    assert_eq!(start(&breaker).err().unwrap().retry_after(), Some(secs(4)));
    clock.advance(secs(4));
    assert_eq!(breaker.state(), State::HalfOpen);
}

#[test]
fn late_failure_from_closed_does_not_reopen_half_open() {
    let (clock, breaker) = manual(cfg(1, secs(10), 1));
    let slow = start(&breaker).unwrap();
    fail_n(&breaker, 1);
    clock.advance(secs(10));
    assert_eq!(breaker.state(), State::HalfOpen);
    slow.fail();
    assert_eq!(breaker.state(), State::HalfOpen);
}

#[test]
fn late_success_from_before_a_trip_does_not_reset_the_next_count() {
    let (clock, breaker) = manual(cfg(2, secs(10), 1));
    let slow = start(&breaker).unwrap();
    fail_n(&breaker, 2);
    clock.advance(secs(10));
    start(&breaker).unwrap().succeed();
    assert_eq!(breaker.state(), State::Closed);
    fail_n(&breaker, 1);
    slow.succeed(); // from the first closed stretch
    assert_eq!(breaker.consecutive_failures(), 1);
}

#[test]
fn panic_counts_as_a_failure() {
    let (_clock, breaker) = manual(cfg(2, secs(10), 1));
    start(&breaker).unwrap().panic();
    assert_eq!(breaker.consecutive_failures(), 1);
    start(&breaker).unwrap().panic();
    assert_eq!(breaker.state(), State::Open);
}

#[test]
fn panicking_trial_reopens_the_circuit() {
    let (clock, breaker) = tripped(1, secs(10), 2);
    clock.advance(secs(10));
    start(&breaker).unwrap().panic();
    assert_eq!(breaker.state(), State::Open);
}

#[test]
fn hung_round_is_replaced_after_reset_timeout() {
    let (clock, breaker) = tripped(1, secs(10), 1);
    clock.advance(secs(10));
    let hung = start(&breaker).unwrap();
    clock.advance(secs(10) - NS);
    assert!(
        start(&breaker).is_err(),
        "the round is still undecided but not yet hung"
    );
    clock.advance(NS);
    let fresh = start(&breaker).expect("a fresh round admits again");
    hung.fail(); // the old round's outcome no longer counts
    assert_eq!(breaker.state(), State::HalfOpen);
    fresh.succeed();
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn hung_round_replacement_also_frees_slots_of_succeeded_trials() {
    let (clock, breaker) = tripped(1, secs(10), 2);
    clock.advance(secs(10));
    start(&breaker).unwrap().succeed();
    let hung = start(&breaker).unwrap();
    clock.advance(secs(10));
    let a = start(&breaker).unwrap();
    let b = start(&breaker).unwrap();
    drop(hung);
    a.succeed();
    assert_eq!(
        breaker.state(),
        State::HalfOpen,
        "the old round's success does not carry over"
    );
    b.succeed();
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn reconfigure_keeps_state_counts_and_the_open_period_start() {
    let (clock, breaker) = manual(cfg(3, secs(60), 2));
    fail_n(&breaker, 2);
    breaker.reconfigure(cfg(5, secs(60), 2));
    assert_eq!(breaker.consecutive_failures(), 2);
    fail_n(&breaker, 2);
    assert_eq!(
        breaker.state(),
        State::Closed,
        "the new threshold of 5 applies"
    );
    fail_n(&breaker, 1);
    assert_eq!(breaker.state(), State::Open);

    clock.advance(secs(20));
    breaker.reconfigure(cfg(5, secs(90), 2));
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(
        start(&breaker).err().unwrap().retry_after(),
        Some(secs(70)),
        "the open period's start kept"
    );
}

#[test]
fn shorter_reset_timeout_ends_the_open_period_sooner() {
    let (clock, breaker) = tripped(1, secs(60), 1);
    clock.advance(secs(30));
    breaker.reconfigure(cfg(1, secs(45), 1));
    assert_eq!(start(&breaker).err().unwrap().retry_after(), Some(secs(15)));
    breaker.reconfigure(cfg(1, secs(30), 1));
    assert_eq!(breaker.state(), State::HalfOpen);
}

#[test]
fn reconfigure_never_flips_the_state_by_itself() {
    let (_clock, breaker) = manual(cfg(5, secs(60), 1));
    fail_n(&breaker, 3);
    breaker.reconfigure(cfg(2, secs(60), 1));
    assert_eq!(
        breaker.state(),
        State::Closed,
        "count 3 >= threshold 2, but nothing failed since"
    );
    assert_eq!(breaker.consecutive_failures(), 3);
    fail_n(&breaker, 1);
    assert_eq!(breaker.state(), State::Open);
}

#[test]
fn fewer_half_open_retries_apply_to_the_current_round() {
    let (clock, breaker) = tripped(1, secs(10), 3);
    clock.advance(secs(10));
    let a = start(&breaker).unwrap();
    let b = start(&breaker).unwrap();
    breaker.reconfigure(cfg(1, secs(10), 2));
    assert!(start(&breaker).is_err(), "two trials, both taken");
    a.succeed();
    assert_eq!(breaker.state(), State::HalfOpen);
    b.succeed();
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn config_reads_back_what_was_set() {
    let (_clock, breaker) = manual(Config::default());
    let new = cfg(9, Duration::from_millis(1500), 4);
    breaker.reconfigure(new.clone());
    assert_eq!(breaker.config(), new);
}

#[test]
fn maximal_reset_timeout_never_overflows() {
    let (clock, breaker) = tripped(1, Duration::MAX, 1);
    let after = start(&breaker).err().unwrap().retry_after().unwrap();
    assert!(
        after >= Duration::from_secs(584 * 365 * 24 * 3600),
        "{after:?}"
    );
    clock.advance(Duration::from_secs(100 * 365 * 24 * 3600));
    assert_eq!(breaker.state(), State::Open);
    clock.advance(Duration::MAX);
    // Time saturates at the same ceiling as the timeout: the circuit may now try again.
    assert_eq!(breaker.state(), State::HalfOpen);
    start(&breaker).unwrap().succeed();
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn one_nanosecond_reset_timeout() {
    let (clock, breaker) = tripped(1, NS, 1);
    assert_eq!(start(&breaker).err().unwrap().retry_after(), Some(NS));
    clock.advance(NS);
    assert_eq!(breaker.state(), State::HalfOpen);
}

#[test]
fn clock_jumping_years_forward_goes_half_open_once() {
    let (clock, breaker) = tripped(1, secs(60), 1);
    clock.advance(Duration::from_secs(10 * 365 * 24 * 3600));
    let trial = start(&breaker).unwrap();
    assert!(start(&breaker).is_err());
    trial.fail();
    assert_eq!(start(&breaker).err().unwrap().retry_after(), Some(secs(60)));
}

#[test]
fn huge_threshold_counts_without_overflow() {
    let (_clock, breaker) = manual(cfg(u32::MAX, secs(60), 1));
    fail_n(&breaker, 1_000);
    assert_eq!(breaker.consecutive_failures(), 1_000);
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn many_transitions_keep_working() {
    let (clock, breaker) = manual(cfg(1, NS, 1));
    for _ in 0..10_000 {
        fail_n(&breaker, 1);
        clock.advance(NS);
        start(&breaker).unwrap().succeed();
        assert_eq!(breaker.state(), State::Closed);
    }
}

/// A clock that calls back into its own breaker, as a user's clock could.
struct ReentrantClock {
    time: protego_breaker::ManualClock,
    breaker: std::sync::Arc<
        std::sync::OnceLock<std::sync::Weak<protego_breaker::Breaker<ReentrantClock>>>,
    >,
}

impl protego_breaker::Clock for ReentrantClock {
    fn now(&self) -> Duration {
        if let Some(breaker) = self.breaker.get().and_then(std::sync::Weak::upgrade) {
            // Takes the breaker's lock: this would deadlock if the clock ran under it.
            let _ = breaker.config();
        }
        protego_breaker::Clock::now(&self.time)
    }
}

#[test]
fn the_clock_is_never_read_under_the_breakers_lock() {
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let time = protego_breaker::ManualClock::new();
        let slot = std::sync::Arc::new(std::sync::OnceLock::new());
        let clock = ReentrantClock {
            time: time.clone(),
            breaker: std::sync::Arc::clone(&slot),
        };
        let breaker = std::sync::Arc::new(protego_breaker::Breaker::with_clock(
            cfg(1, secs(10), 1),
            clock,
        ));
        slot.set(std::sync::Arc::downgrade(&breaker)).unwrap();
        let run = |outcome: Result<(), ()>| {
            futures::executor::block_on(protego_breaker::CircuitBreaker::call(
                &*breaker,
                async move { outcome },
            ))
        };
        let _ = run(Err(())); // closed -> open stamps the time
        time.advance(secs(10));
        let _ = run(Err(())); // open -> half-open, then half-open -> open
        time.advance(secs(10));
        let _ = run(Ok(())); // open -> half-open -> closed
        done_tx.send(breaker.state()).unwrap();
    });
    // A deadlock guard only: the scenario takes microseconds.
    let state = done_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("deadlocked: the clock was read under the breaker's lock");
    assert_eq!(state, State::Closed);
}

/// SPEC: a round undecided `reset_timeout` after it began is replaced, and its trials' outcomes
/// no longer count — also when nobody calls after the deadline (the 0.1.0 issue's example).
#[test]
fn a_hung_rounds_late_failure_counts_for_nothing_even_if_nobody_called() {
    let (clock, breaker) = tripped(1, secs(10), 1);
    clock.advance(secs(10));
    let hung = breaker.try_acquire().expect("the only trial of the round");
    clock.advance(secs(3600));
    assert_eq!(breaker.state(), State::HalfOpen);
    hung.failure();
    assert_eq!(
        breaker.state(),
        State::HalfOpen,
        "not reopened by a dead round"
    );
    assert!(
        breaker.try_acquire().is_ok(),
        "a fresh round admits a trial"
    );
}

#[test]
fn a_hung_rounds_late_success_cannot_close() {
    let (clock, breaker) = tripped(1, secs(10), 1);
    clock.advance(secs(10));
    let hung = breaker.try_acquire().unwrap();
    clock.advance(secs(10));
    hung.success();
    assert_eq!(breaker.state(), State::HalfOpen);
}

#[test]
fn a_trial_that_ends_just_before_the_round_hangs_still_counts() {
    let (clock, breaker) = tripped(1, secs(10), 1);
    clock.advance(secs(10));
    let trial = breaker.try_acquire().unwrap();
    clock.advance(secs(10) - NS);
    trial.success();
    assert_eq!(breaker.state(), State::Closed);
}

/// `reset` reports the state its own transition replaced: an open circuit whose period ended is
/// replaced as Open in one transition, without a half-open event first.
#[test]
fn reset_is_one_transition_from_the_state_it_replaced() {
    let (clock, breaker) = tripped(1, secs(10), 1);
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = std::sync::Arc::clone(&seen);
    breaker.on_transition(move |t| log.lock().unwrap().push((t.from(), t.to())));
    clock.advance(secs(11));
    assert!(breaker.reset());
    assert_eq!(*seen.lock().unwrap(), vec![(State::Open, State::Closed)]);
    assert!(
        !breaker.reset(),
        "a closed circuit was replaced: nothing changed state"
    );
}

#[test]
fn totals_count_every_slow_call_whatever_its_state_or_outcome() {
    use protego_breaker::{call::Outcome, Window};
    let config = Config::builder()
        .failure_threshold(1)
        .reset_timeout(secs(10))
        .half_open_retries(1)
        .window(Window::Count(10))
        .minimum_calls(1)
        .failure_rate_threshold(50)
        .slow_call_duration(secs(1))
        .totals(true)
        .build()
        .unwrap();
    let (clock, breaker) = manual(config);
    let ignored = breaker.try_acquire().unwrap();
    let late = breaker.try_acquire().unwrap();
    clock.advance(secs(2));
    ignored.record(Outcome::Ignored); // slow, classified ignored
    breaker.try_acquire().unwrap().failure(); // opens (not slow)
    late.success(); // slow, finished after the transition
    clock.advance(secs(10));
    let trial = breaker.try_acquire().unwrap();
    clock.advance(secs(2));
    trial.success(); // slow half-open trial
    assert_eq!(breaker.metrics().totals.unwrap().slow, 3);
}

#[test]
fn consecutive_failures_are_counted_with_a_window_too() {
    use protego_breaker::Window;
    let config = Config::builder()
        .window(Window::Count(100))
        .minimum_calls(100)
        .build()
        .unwrap();
    let (_clock, breaker) = manual(config);
    fail_n(&breaker, 3);
    assert_eq!(breaker.consecutive_failures(), 3);
    assert_eq!(breaker.metrics().consecutive_failures, 3);
    breaker.try_acquire().unwrap().success();
    assert_eq!(breaker.consecutive_failures(), 0);
    assert_eq!(breaker.state(), State::Closed, "the count decides nothing");
}
