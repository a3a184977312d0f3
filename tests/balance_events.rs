//! The pool's events over a run, on the manual clock: an endpoint held back by
//! `max_ejection_percent` makes at most one `Spared` event per interval, counting every spared
//! outlier; an ejected endpoint comes back at the first sweep after its ejection time (A50's
//! rule, the default), or at its deadline (`ReturnAt::Deadline`).
#![cfg(feature = "balance")]

#[path = "support/pool.rs"]
mod harness;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use harness::*;
use protego_breaker::integrations::balance::{OutlierEventKind, ReturnAt, Rule};
use protego_breaker::{Clock, State};

/// Spared events of `endpoint`: (when, rule, times).
type Spares = Arc<Mutex<Vec<(Duration, Rule, u32)>>>;

fn record_spares(p: &Pool, endpoint: &'static str) -> Spares {
    let spares: Spares = Arc::default();
    let (log, clock) = (Arc::clone(&spares), p.clock.clone());
    p.detector.on_event(move |e| {
        if let (true, OutlierEventKind::Spared { rule, times }) =
            (e.endpoint() == endpoint, e.kind())
        {
            log.lock().unwrap().push((clock.now(), rule, times));
        }
    });
    spares
}

#[test]
fn a_held_back_endpoint_makes_at_most_one_spared_event_per_interval() {
    // Ten endpoints, two failing every call, one ejection allowed (10 %): 4 is ejected for
    // longer than the run, 8 is held back.
    let detection = fast().base_ejection_time(Duration::from_secs(120));
    let mut p = pool(10, detection.build().unwrap());
    let spares = record_spares(&p, "8");
    p.behaviour.set(4, 1);
    p.behaviour.set(8, 1);
    p.calls(4, 5);
    assert_eq!(p.detector.ejected(), ["4"]);
    // 50 s at 40 calls/s to the held-back endpoint.
    let mut failures = 0;
    for _ in 0..500 {
        p.advance(Duration::from_millis(100));
        for _ in 0..4 {
            assert!(p.call(8).is_err(), "held back: in rotation, failing");
            failures += 1;
        }
    }
    assert_eq!(p.detector.ejected(), ["4"]);
    assert_eq!(p.state(8), State::Closed);
    p.advance(Duration::from_secs(10)); // the sweep at 60 s tells what is left
    assert_eq!(p.state(8), State::Closed);
    let spares = spares.lock().unwrap().clone();
    // Sweeps every 10 s: intervals [0, 10), [10, 20), ... [60, 70), 400 trips in all.
    let mut intervals: Vec<u64> = spares.iter().map(|(at, _, _)| at.as_secs() / 10).collect();
    let told = intervals.len();
    intervals.dedup();
    assert_eq!(intervals.len(), told, "two in one interval: {spares:?}");
    assert_eq!(told, 7, "{spares:?}");
    // Every trip (five failures in a row) is counted, none lost.
    let times: u32 = spares.iter().map(|(_, _, times)| times).sum();
    assert_eq!(times, failures / 5, "{spares:?}");
    let rule = Rule::ConsecutiveFailures;
    assert_eq!(spares[0], (Duration::from_millis(200), rule, 1), "at once");
    assert_eq!(spares[1], (Duration::from_secs(10), rule, 78), "the rest");
    assert_eq!(
        spares[6],
        (Duration::from_secs(60), rule, 1),
        "the one at 50 s"
    );
}

#[test]
fn a_quiet_interval_lets_the_next_spare_be_told_at_once() {
    let mut p = pool(10, fast().build().unwrap());
    let spares = record_spares(&p, "8");
    p.behaviour.set(4, 1);
    p.behaviour.set(8, 1);
    p.calls(4, 5);
    p.calls(8, 10); // two trips: one told, one pending
    p.advance(Duration::from_secs(10)); // the sweep tells the pending one
    p.advance(Duration::from_secs(10)); // a quiet interval: nothing to tell
    p.advance(Duration::from_secs(1));
    p.calls(8, 5); // told at once again
    let spares = spares.lock().unwrap().clone();
    let rule = Rule::ConsecutiveFailures;
    assert_eq!(
        spares,
        [
            (Duration::ZERO, rule, 1),
            (Duration::from_secs(10), rule, 1),
            (Duration::from_secs(21), rule, 1),
        ]
    );
}

/// Ejects endpoint 3 at 3 s (sweeps at 10 s, 20 s, ...) for the base 30 s; then when its
/// breaker takes a trial and when it is back.
fn ejected_at_3s(at: ReturnAt) -> (Duration, Pool) {
    let mut p = pool(10, fast().return_at(at).build().unwrap());
    p.advance(Duration::from_secs(3));
    p.behaviour.set(3, 1);
    p.calls(3, 5);
    assert_eq!(p.detector.ejected(), ["3"]);
    let left = p
        .detector
        .breaker("3")
        .unwrap()
        .metrics()
        .time_until_half_open;
    (left.unwrap(), p)
}

#[test]
fn an_ejected_endpoint_comes_back_at_the_first_sweep_after_its_ejection_time() {
    let (left, mut p) = ejected_at_3s(ReturnAt::Sweep);
    assert_eq!(left, Duration::from_secs(37), "the sweep at 40 s, not 33 s");
    p.advance(Duration::from_secs(30)); // 33 s: the ejection time is over, no sweep yet
    assert_eq!(p.detector.ejected(), ["3"]);
    assert!(!p.ready(3));
    p.advance(Duration::from_secs(7)); // 40 s: the sweep
    assert!(p.detector.ejected().is_empty());
    p.behaviour.set(3, 0);
    assert!(p.ready(3), "its trial");
    assert!(p.call(3).is_ok());
    assert_eq!(p.events().last().unwrap().1, OutlierEventKind::Returned);
}

#[test]
fn with_return_at_deadline_it_comes_back_when_its_ejection_time_ends() {
    let (left, mut p) = ejected_at_3s(ReturnAt::Deadline);
    assert_eq!(left, Duration::from_secs(30));
    p.advance(Duration::from_secs(29));
    assert!(!p.ready(3));
    p.advance(Duration::from_secs(1)); // 33 s
    assert!(p.detector.ejected().is_empty());
    assert!(p.ready(3), "its trial");
}

#[test]
fn ejected_count_is_the_length_of_ejected() {
    let mut p = pool(10, fast().max_ejection_percent(30).build().unwrap());
    assert_eq!(p.detector.ejected_count(), 0);
    for i in [1, 5] {
        p.behaviour.set(i, 1);
        p.calls(i, 5);
    }
    assert_eq!(p.detector.ejected(), ["1", "5"]);
    assert_eq!(p.detector.ejected_count(), 2);
    p.advance(Duration::from_secs(30));
    assert_eq!(p.detector.ejected_count(), 0);
}

/// Endpoint 2 ejected at 0 s and back at 30 s (its trial succeeds), then ten calls: eight
/// successes and two failures, judged 100 ms later. The rest of the pool never fails.
fn returned_then_two_failures_in_ten(probation: bool) -> Pool {
    let mut p = pool(10, fast().probation(probation).build().unwrap());
    p.behaviour.set(2, 1);
    p.calls(2, 5);
    p.behaviour.set(2, 0);
    p.advance(Duration::from_secs(30));
    assert!(p.call(2).is_ok(), "the trial");
    assert_eq!(p.events().last().unwrap().1, OutlierEventKind::Returned);
    p.calls(2, 8);
    p.behaviour.set(2, 1);
    p.calls(2, 2);
    p.advance(Duration::from_millis(100));
    p
}

#[test]
fn a_returned_endpoint_failing_more_than_the_pool_is_ejected_on_probation() {
    let mut p = returned_then_two_failures_in_ten(true);
    assert_eq!(p.detector.ejected(), ["2"]);
    assert_eq!(
        p.events().last().unwrap().1,
        ejected(Rule::Probation, 60, 2),
        "the next multiplier"
    );
    assert!(!p.ready(2));
}

#[test]
fn without_probation_it_stays_until_a_rule_finds_it() {
    let mut p = returned_then_two_failures_in_ten(false);
    assert!(p.detector.ejected().is_empty());
    assert!(p.ready(2));
}

#[test]
fn probation_lasts_one_interval() {
    let mut p = pool(10, fast().build().unwrap());
    p.behaviour.set(2, 1);
    p.calls(2, 5);
    p.behaviour.set(2, 0);
    p.advance(Duration::from_secs(30));
    assert!(p.call(2).is_ok());
    p.calls(2, 8);
    p.advance(Duration::from_secs(10)); // the sweep at 40 s ends it
    p.behaviour.set(2, 1);
    p.calls(2, 2);
    p.advance(Duration::from_millis(100));
    assert!(p.detector.ejected().is_empty(), "{:?}", p.events());
}
