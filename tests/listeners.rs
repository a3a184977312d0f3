//! Listeners: `on_transition` sees every state change in order with its reason, outside every
//! lock; `on_rejection` only when asked.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use protego_breaker::{observe::Reason, Breaker, CircuitBreaker, ManualClock, State};

#[test]
fn listeners_see_every_transition_in_order_with_its_reason() {
    let (clock, breaker) = manual(cfg(1, secs(10), 1));
    let log = log_transitions(&breaker);
    fail_n(&breaker, 1);
    clock.advance(secs(10));
    start(&breaker).unwrap().fail();
    clock.advance(secs(10));
    start(&breaker).unwrap().succeed();
    breaker.force_open();
    breaker.reset();
    assert_eq!(
        *log.lock().unwrap(),
        [
            (State::Closed, State::Open, Reason::FailureThreshold),
            (State::Open, State::HalfOpen, Reason::OpenPeriodEnded),
            (State::HalfOpen, State::Open, Reason::TrialFailed),
            (State::Open, State::HalfOpen, Reason::OpenPeriodEnded),
            (State::HalfOpen, State::Closed, Reason::TrialsSucceeded),
            (State::Closed, State::ForcedOpen, Reason::ForcedOpen),
            (State::ForcedOpen, State::Closed, Reason::Reset),
        ]
    );
}

#[test]
fn a_replaced_hung_round_fires_nothing() {
    let (clock, breaker) = manual(cfg(1, secs(10), 1));
    fail_n(&breaker, 1);
    clock.advance(secs(10));
    let hung = start(&breaker).unwrap();
    let log = log_transitions(&breaker);
    clock.advance(secs(10));
    start(&breaker)
        .expect("the hung round is replaced")
        .succeed();
    drop(hung);
    assert_eq!(
        *log.lock().unwrap(),
        [(State::HalfOpen, State::Closed, Reason::TrialsSucceeded)]
    );
}

#[test]
fn a_listener_may_read_and_change_its_breaker() {
    let breaker = Arc::new(Breaker::with_clock(cfg(1, secs(10), 1), ManualClock::new()));
    let log = log_transitions(&breaker);
    let me = Arc::downgrade(&breaker);
    breaker.on_transition(move |t| {
        let breaker = me.upgrade().unwrap();
        assert_eq!(
            breaker.state(),
            t.to(),
            "reads the committed state, no deadlock"
        );
        if t.to() == State::Open {
            breaker.force_open(); // a transition from inside a listener
        }
    });
    futures::executor::block_on(Arc::clone(&breaker).call(async { Err::<(), _>(BOOM) })).ok();
    assert_eq!(breaker.state(), State::ForcedOpen);
    assert_eq!(
        *log.lock().unwrap(),
        [
            (State::Closed, State::Open, Reason::FailureThreshold),
            (State::Open, State::ForcedOpen, Reason::ForcedOpen),
        ],
        "the nested transition is delivered after the one that caused it"
    );
}

#[test]
fn rejections_call_back_only_when_asked() {
    let (_clock, breaker) = manual(cfg(1, secs(10), 1));
    let log = log_transitions(&breaker);
    breaker.force_open();
    for _ in 0..3 {
        assert!(start(&breaker).is_err());
    }
    assert_eq!(
        log.lock().unwrap().len(),
        1,
        "a rejection is not a transition"
    );
    let rejections = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&rejections);
    breaker.on_rejection(move |r| sink.lock().unwrap().push(r.state()));
    assert!(start(&breaker).is_err());
    assert_eq!(*rejections.lock().unwrap(), [State::ForcedOpen]);
}

#[test]
fn concurrent_transitions_reach_listeners_as_a_chain() {
    // Every delivered transition starts where the one before it ended: none is lost,
    // duplicated or reordered, however the threads race.
    let clock = ManualClock::new();
    let breaker = Breaker::with_clock(cfg(1, Duration::from_nanos(1), 1), clock.clone());
    let log = log_transitions(&breaker);
    std::thread::scope(|s| {
        for t in 0..4 {
            let (breaker, clock) = (&breaker, &clock);
            s.spawn(move || {
                for i in 0..2_000 {
                    clock.advance(Duration::from_nanos(1));
                    let fail = (i + t) % 3 == 0;
                    let fut = breaker.call(async move {
                        if fail {
                            Err(BOOM)
                        } else {
                            Ok(())
                        }
                    });
                    let _ = futures::executor::block_on(fut);
                }
            });
        }
    });
    let log = log.lock().unwrap();
    assert!(
        log.len() > 10,
        "the program makes transitions: {}",
        log.len()
    );
    assert_eq!(log[0].0, State::Closed);
    for pair in log.windows(2) {
        assert_eq!(pair[0].1, pair[1].0, "{pair:?}");
    }
    assert_eq!(log.last().unwrap().1, breaker.state());
}
