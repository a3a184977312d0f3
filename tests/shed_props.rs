//! Property tests of overload shedding (issue #28): over any sequence of calls, outcomes and
//! clock steps, the limit stays within its bounds, a call is let in only while fewer than the
//! limit are in flight (of those let in since shedding began), a refusal is a closed one, and
//! once overload stops the limit grows back as calls complete until shedding ends.

use std::time::Duration;

use proptest::prelude::*;
use protego_breaker::call::{Outcome, Permit};
use protego_breaker::{Breaker, CircuitBreaker, Config, ManualClock, State};

#[derive(Debug, Clone)]
enum Op {
    Acquire,
    /// Ends the call held at this index (modulo) with this outcome.
    Finish(usize, u8),
    Wait(u64),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            4 => Just(Op::Acquire),
            4 => (0usize..64, 0u8..4).prop_map(|(i, o)| Op::Finish(i, o)),
            1 => (0u64..400).prop_map(Op::Wait),
        ],
        0..600,
    )
}

fn outcome(code: u8) -> Outcome {
    match code {
        0 => Outcome::Success,
        1 => Outcome::Ignored,
        _ => Outcome::Overload,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_limit_stays_in_bounds_and_bounds_the_calls_let_in(ops in ops()) {
        let clock = ManualClock::new();
        let breaker = Breaker::with_clock(Config::default(), clock.clone());
        // Calls held, each with the shedding episode that let it in (0: not shedding).
        let mut held: Vec<(Permit<&Breaker<ManualClock>>, u32)> = Vec::new();
        let mut episode = 0;
        let mut shedding = false;
        // When a call last succeeded (or the run began), in ms.
        let (mut now, mut succeeded) = (0u64, 0u64);
        for op in ops {
            match op {
                Op::Acquire => {
                    let limit = breaker.shed_limit();
                    let counted = held.iter().filter(|(_, e)| *e == episode && shedding).count() as u64;
                    match breaker.try_acquire() {
                        Ok(p) => {
                            if let Some(limit) = limit {
                                prop_assert!(counted < limit.max(1), "let in with {} in flight, limit {}", counted, limit);
                            }
                            held.push((p, if shedding { episode } else { 0 }));
                        }
                        Err(r) => {
                            prop_assert!(limit.is_some(), "refused while not shedding");
                            prop_assert_eq!(r.state(), State::Closed);
                            prop_assert_eq!(r.retry_after(), None);
                        }
                    }
                }
                Op::Finish(i, code) if !held.is_empty() => {
                    let (p, _) = held.swap_remove(i % held.len());
                    if outcome(code) == Outcome::Success {
                        succeeded = now;
                    }
                    p.record(outcome(code));
                }
                Op::Finish(..) => {}
                Op::Wait(ms) => {
                    clock.advance(Duration::from_millis(ms));
                    now += ms;
                }
            }
            if breaker.state() != State::Closed {
                // Only an outage opens it: nothing completed for `shed_outage_after` (5 s).
                prop_assert!(now - succeeded >= 5_000, "opened {} ms after a success", now - succeeded);
                return Ok(());
            }
            let now_shedding = breaker.shed_limit().is_some();
            if now_shedding && !shedding {
                episode += 1;
            }
            shedding = now_shedding;
            if let Some(limit) = breaker.shed_limit() {
                prop_assert!((1..=1 << 20).contains(&limit), "limit {}", limit);
            }
        }
    }

    #[test]
    fn once_overload_stops_the_limit_grows_back_and_shedding_ends(overloads in 1usize..200, width in 1usize..16) {
        let clock = ManualClock::new();
        let breaker = Breaker::with_clock(Config::default(), clock.clone());
        // A burst of overloads, spread over a second: shedding, the limit cut.
        for _ in 0..overloads {
            let held: Vec<_> = (0..width).filter_map(|_| breaker.try_acquire().ok()).collect();
            clock.advance(Duration::from_millis(5));
            for p in held {
                p.overload();
            }
        }
        let mut last = breaker.shed_limit().expect("shedding");
        // Then every call completes: the limit never shrinks, and within a few windows shedding
        // ends.
        for round in 0..2_000 {
            let held: Vec<_> = (0..width).filter_map(|_| breaker.try_acquire().ok()).collect();
            clock.advance(Duration::from_millis(5));
            for p in held {
                p.success();
            }
            match breaker.shed_limit() {
                Some(limit) => {
                    prop_assert!(limit >= last, "round {}: {} after {}", round, limit, last);
                    last = limit;
                }
                None => return Ok(()),
            }
        }
        prop_assert!(false, "still shedding after 2 000 rounds of successes, limit {}", last);
    }
}
