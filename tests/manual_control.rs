//! Manual control: `force_open`, `disable` and `reset`, and what they do to calls in flight and
//! to registry updates.

mod common;

use common::*;
use protego_breaker::{observe::Reason, ManualClock, Registry, State};

#[test]
fn forced_open_rejects_everything_without_a_retry_time() {
    let (clock, breaker) = manual(cfg(3, secs(10), 1));
    assert!(breaker.force_open());
    for _ in 0..3 {
        let r = start(&breaker).err().expect("rejected");
        assert_eq!(r.state(), State::ForcedOpen);
        assert_eq!(r.retry_after(), None);
        clock.advance(secs(3600));
    }
    assert_eq!(breaker.state(), State::ForcedOpen, "no timeout ends it");
}

#[test]
fn forcing_the_current_state_again_changes_nothing() {
    let (_clock, breaker) = manual(cfg(3, secs(10), 1));
    let log = log_transitions(&breaker);
    assert!(breaker.force_open());
    assert!(!breaker.force_open());
    assert!(breaker.disable());
    assert!(!breaker.disable());
    assert_eq!(
        *log.lock().unwrap(),
        [
            (State::Closed, State::ForcedOpen, Reason::ForcedOpen),
            (State::ForcedOpen, State::Disabled, Reason::Disabled),
        ]
    );
}

#[test]
fn disabled_admits_everything_and_records_nothing() {
    let (_clock, breaker) = manual(cfg(1, secs(10), 1));
    breaker.disable();
    for _ in 0..10 {
        start(&breaker).expect("admitted").fail();
    }
    assert_eq!(breaker.state(), State::Disabled);
    assert_eq!(breaker.consecutive_failures(), 0);
}

#[test]
fn outcomes_from_before_a_manual_change_count_for_nothing() {
    let (_clock, breaker) = manual(cfg(1, secs(10), 1));
    let before_reset = start(&breaker).unwrap();
    breaker.reset();
    before_reset.fail();
    assert_eq!(breaker.state(), State::Closed, "late failure ignored");

    breaker.disable();
    let while_disabled = start(&breaker).unwrap();
    breaker.reset();
    while_disabled.fail();
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn reset_returns_every_state_to_a_clean_closed() {
    for setup in [
        "open",
        "half-open",
        "forced",
        "disabled",
        "closed with failures",
    ] {
        let (clock, breaker) = manual(cfg(3, secs(10), 2));
        match setup {
            "open" => fail_n(&breaker, 3),
            "half-open" => {
                fail_n(&breaker, 3);
                clock.advance(secs(10));
                std::mem::forget(start(&breaker).unwrap());
            }
            "forced" => drop(breaker.force_open()),
            "disabled" => drop(breaker.disable()),
            _ => fail_n(&breaker, 2),
        }
        let changed = breaker.reset();
        assert_eq!(changed, setup != "closed with failures", "{setup}");
        assert_eq!(breaker.state(), State::Closed, "{setup}");
        assert_eq!(breaker.consecutive_failures(), 0, "{setup}");
        fail_n(&breaker, 2);
        assert_eq!(breaker.state(), State::Closed, "{setup}: a fresh count");
    }
}

#[test]
fn a_registry_update_keeps_a_forced_state() {
    let registry = Registry::with_clock(ManualClock::new());
    registry.breaker("db", cfg(3, secs(10), 1)).force_open();
    let updated = registry.breaker("db", cfg(5, secs(20), 2));
    assert_eq!(updated.state(), State::ForcedOpen);
    assert_eq!(updated.config().failure_threshold(), 5);
}
