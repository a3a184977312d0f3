//! Unit tests of the machine that need its private parts.

use super::*;
use crate::machine::link::Link;
use crate::machine::outcome::Outcome;
use crate::machine::reason::Reason;

fn now(t: u64) -> Now<impl FnMut() -> u64> {
    Now::new(move || t)
}

/// A clock reader that always reads `t`.
fn at(t: u64) -> impl FnMut() -> u64 + Copy {
    move || t
}

fn machine(threshold: u32, timeout_ns: u64, trials: u32) -> Machine {
    let cfg = Config::builder()
        .failure_threshold(threshold)
        .reset_timeout(std::time::Duration::from_nanos(timeout_ns))
        .half_open_retries(trials)
        .build()
        .unwrap();
    Machine::new(cfg, None, 0)
}

#[test]
fn turning_totals_on_keeps_the_epoch_of_calls_in_flight() {
    let m = machine(2, 10, 1);
    let t = m.admit(at(0)).unwrap();
    let totals_on = Config::builder()
        .failure_threshold(2)
        .totals(true)
        .build()
        .unwrap();
    m.reconfigure(totals_on);
    m.record(t, Outcome::Failure, at(0));
    assert_eq!(m.consecutive_failures(), 1, "the failure still counts");
    let t = m.admit(at(0)).unwrap();
    m.record(t, Outcome::Failure, at(0));
    assert_eq!(m.state(&mut now(0)), State::Open);
    let totals = m.totals().unwrap();
    assert_eq!(
        (totals.admitted, totals.failed),
        (1, 2),
        "counted from the switch on"
    );
}

#[test]
fn closed_success_with_no_failures_leaves_the_word_untouched() {
    let m = machine(3, 10, 1);
    crate::machine::sense::skip(10);
    let before = m.word.load(Ordering::Relaxed);
    let t = m.admit(at(0)).unwrap();
    m.record(t, Outcome::Success, || -> u64 { panic!("clock read") });
    assert_eq!(m.word.load(Ordering::Relaxed), before);
}

#[test]
fn closed_path_never_reads_the_clock() {
    let m = machine(3, 10, 1);
    crate::machine::sense::skip(10);
    let no_clock = || -> u64 { panic!("clock read on the closed path") };
    let t = m.admit(no_clock).unwrap();
    m.record(t, Outcome::Failure, no_clock);
    let t = m.admit(no_clock).unwrap();
    m.record(t, Outcome::Success, no_clock);
    assert_eq!(m.consecutive_failures(), 0);
}

#[test]
fn a_timed_closed_call_reads_the_clock_once_each_way_and_writes_no_word() {
    let m = machine(3, 10, 1);
    crate::machine::sense::skip(0);
    let before = m.word.load(Ordering::Relaxed);
    let reads = std::cell::Cell::new(0);
    let clock = || {
        reads.set(reads.get() + 1);
        5_000_000
    };
    let t = m.admit(clock).unwrap();
    assert_eq!(reads.get(), 1, "its start");
    assert_eq!(t.started, 5_000_000);
    m.record(t, Outcome::Success, clock);
    assert_eq!(reads.get(), 2, "its end");
    assert_eq!(m.word.load(Ordering::Relaxed), before);
    // 5 ms after the thread's start (0) the rate is low: the next call is timed too, at the
    // same instant, which doubles the countdown; so the call after it is not timed.
    let t = m.admit(clock).unwrap();
    m.record(t, Outcome::Success, clock);
    assert_eq!(reads.get(), 4);
    let t = m.admit(|| -> u64 { panic!("clock read") }).unwrap();
    m.record(t, Outcome::Success, || -> u64 { panic!("clock read") });
}

/// A link that counts `failures_changed` calls.
struct Counting(Arc<std::sync::atomic::AtomicU32>);

impl Link for Counting {
    fn transitioned(&self, _: State, _: State, _: Reason) {}
    fn trial_budget(&self) -> Option<u32> {
        None
    }
    fn trial_wanted(&self) {}
    fn trial_finished(&self, _: Outcome) {}
    fn failures_changed(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    fn is_online(&self) -> bool {
        true
    }
}

#[test]
fn the_fleet_hears_of_the_closed_count_only_when_it_changes() {
    let m = machine(3, 10, 1);
    let heard = Arc::new(std::sync::atomic::AtomicU32::new(0));
    assert!(m
        .companion()
        .link
        .set(Box::new(Counting(Arc::clone(&heard))))
        .is_ok());
    let call = |outcome| {
        let t = m.admit(at(0)).unwrap();
        m.record(t, outcome, at(0));
        heard.load(Ordering::Relaxed)
    };
    assert_eq!(call(Outcome::Success), 0, "a clean success: nothing");
    assert_eq!(call(Outcome::Failure), 1);
    assert_eq!(m.consecutive_failures(), 1);
    assert_eq!(call(Outcome::Failure), 2);
    assert_eq!(call(Outcome::Success), 3, "the reset");
    assert_eq!(m.consecutive_failures(), 0);
    assert_eq!(call(Outcome::Success), 3, "clean again: nothing");
    call(Outcome::Failure);
    call(Outcome::Failure);
    assert_eq!(
        call(Outcome::Failure),
        5,
        "the tripping failure is a transition"
    );
    assert_eq!(m.state(&mut now(0)), State::Open);
}

#[test]
fn the_tripping_failure_stamps_the_open_generation() {
    let m = machine(1, 100, 1);
    let t = m.admit(at(7)).unwrap();
    m.record(t, Outcome::Failure, at(7));
    assert_eq!(
        m.admit(at(50)),
        Err(Refusal {
            state: State::Open,
            retry_after: Some(57)
        })
    );
}

#[test]
fn an_open_period_that_ends_reads_the_clock_once() {
    // `open_left` reads the time and hands it on when the period is over: the move to
    // half-open and the trial's admission use that reading, not a second one.
    let m = machine(1, 100, 1);
    let t = m.admit(at(0)).unwrap();
    m.record(t, Outcome::Failure, at(0));
    let reads = std::cell::Cell::new(0u32);
    let counting = || {
        reads.set(reads.get() + 1);
        150
    };
    let trial = m.admit(counting).expect("the period is over: a trial");
    assert_eq!(reads.get(), 1, "one reading for the whole admission");
    assert_eq!(m.state(&mut now(150)), State::HalfOpen);
    assert_eq!(
        m.admit(at(150)),
        Err(Refusal {
            state: State::HalfOpen,
            retry_after: None
        }),
        "the round's one trial is taken"
    );
    m.record(trial, Outcome::Success, at(150));
    assert_eq!(m.state(&mut now(150)), State::Closed);
}

#[test]
fn a_counted_rejection_reads_the_clock_once_and_counts() {
    let cfg = Config::builder()
        .failure_threshold(1)
        .reset_timeout(std::time::Duration::from_nanos(100))
        .totals(true)
        .build()
        .unwrap();
    let m = Machine::new(cfg, None, 0);
    let t = m.admit(at(0)).unwrap();
    m.record(t, Outcome::Failure, at(0));
    let reads = std::cell::Cell::new(0u32);
    let counting = || {
        reads.set(reads.get() + 1);
        40
    };
    assert_eq!(
        m.admit(counting),
        Err(Refusal {
            state: State::Open,
            retry_after: Some(60)
        })
    );
    assert_eq!(reads.get(), 1);
    assert_eq!(m.totals().unwrap().rejected, 1);
}
