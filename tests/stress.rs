//! Bounded stress tests with real threads: invariants hold, nothing panics, nothing deadlocks,
//! and the breaker still works exactly afterwards.

mod common;

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use common::*;
use protego_breaker::{Breaker, Config, ManualClock, ProtectExt, Registry, State};

const THREADS: usize = 4;

/// A tiny deterministic generator, one per thread.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn shared(config: Config) -> (ManualClock, Arc<Breaker<ManualClock>>) {
    let clock = ManualClock::new();
    (clock.clone(), Arc::new(Breaker::with_clock(config, clock)))
}

/// After any amount of chaos the breaker must still follow the rules exactly: trip on
/// `threshold` failures, reject, go half-open on time, admit exactly `trials`, and close.
fn assert_still_exact(
    clock: &ManualClock,
    breaker: &Breaker<ManualClock>,
    threshold: u32,
    trials: u32,
) {
    clock.advance(secs(3600));
    // Whatever state it is in, a full round of successes brings it back to closed.
    for _ in 0..=trials {
        if breaker.state() == State::Closed {
            break;
        }
        let round: Vec<_> = std::iter::from_fn(|| start(breaker).ok())
            .take(trials as usize + 1)
            .collect();
        assert!(
            round.len() <= trials as usize,
            "a round admitted {} trials",
            round.len()
        );
        round.into_iter().for_each(Call::succeed);
    }
    assert_eq!(breaker.state(), State::Closed);
    start(breaker).unwrap().succeed(); // clear failures left over from the chaos
    assert_eq!(breaker.consecutive_failures(), 0);
    fail_n(breaker, threshold - 1);
    assert_eq!(breaker.state(), State::Closed);
    fail_n(breaker, 1);
    assert_eq!(breaker.state(), State::Open);
    clock.advance(secs(3600));
    let round: Vec<_> = (0..trials)
        .map(|_| start(breaker).expect("slot leaked"))
        .collect();
    assert!(
        start(breaker).is_err(),
        "more than half_open_retries admitted"
    );
    round.into_iter().for_each(Call::succeed);
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn half_open_rounds_never_admit_more_than_their_slots() {
    let trials = 3;
    let (clock, breaker) = shared(cfg(1, secs(10), trials));
    for round in 0..200u64 {
        fail_n(&breaker, 1);
        assert_eq!(breaker.state(), State::Open);
        clock.advance(secs(10));
        let barrier = Arc::new(Barrier::new(THREADS));
        let outcomes: Vec<Vec<Finish>> = thread::scope(|s| {
            let handles: Vec<_> = (0..THREADS as u64)
                .map(|t| {
                    let (breaker, barrier) = (&breaker, Arc::clone(&barrier));
                    s.spawn(move || {
                        let mut rng = Rng(round * 31 + t + 1);
                        barrier.wait();
                        let held: Vec<_> = (0..3).filter_map(|_| start(breaker).ok()).collect();
                        let n = held.len();
                        barrier.wait(); // every admitted trial is in flight at once here
                        let mut finished = Vec::new();
                        for call in held {
                            match rng.next() % 4 {
                                0 => drop(call),
                                1 => {
                                    call.fail();
                                    finished.push(Finish::Fail);
                                }
                                _ => {
                                    call.succeed();
                                    finished.push(Finish::Succeed);
                                }
                            }
                        }
                        (n, finished)
                    })
                })
                .collect();
            let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            let admitted: usize = results.iter().map(|r| r.0).sum();
            assert!(
                admitted <= trials as usize,
                "round {round}: {admitted} trials admitted"
            );
            assert!(admitted >= 1, "round {round}: no trial admitted");
            results.into_iter().map(|r| r.1).collect()
        });
        let all: Vec<Finish> = outcomes.into_iter().flatten().collect();
        let state = breaker.state();
        if all.contains(&Finish::Fail) {
            assert_eq!(state, State::Open, "round {round}: a trial failed");
        } else if all.len() == trials as usize {
            assert_eq!(state, State::Closed, "round {round}: every trial succeeded");
        } else {
            assert_eq!(
                state,
                State::HalfOpen,
                "round {round}: undecided, trials given back"
            );
        }
        // Start the next round from a known state.
        clock.advance(secs(20));
        while breaker.state() != State::Closed {
            let round_calls: Vec<_> = std::iter::from_fn(|| start(&breaker).ok())
                .take(trials as usize)
                .collect();
            round_calls.into_iter().for_each(Call::succeed);
        }
    }
    assert_still_exact(&clock, &breaker, 1, trials);
}

#[test]
fn mixed_outcomes_from_many_threads_keep_the_breaker_exact() {
    let (threshold, trials) = (3, 2);
    let (clock, breaker) = shared(cfg(threshold, Duration::from_micros(5), trials));
    thread::scope(|s| {
        for t in 0..THREADS as u64 {
            let (breaker, clock) = (&breaker, &clock);
            s.spawn(move || {
                let mut rng = Rng(t * 7919 + 17);
                let mut held = Vec::new();
                for _ in 0..20_000 {
                    match rng.next() % 10 {
                        0 => clock.advance(Duration::from_micros(rng.next() % 4)),
                        1..=3 => {
                            if let Ok(call) = start(breaker) {
                                held.push(call);
                            }
                        }
                        _ if !held.is_empty() => {
                            let r = rng.next();
                            let call = held.swap_remove(usize::try_from(r).unwrap() % held.len());
                            match r % 5 {
                                0 => drop(call),
                                1 => call.panic(),
                                2 => call.fail(),
                                _ => call.succeed(),
                            }
                        }
                        _ => {
                            let _ = breaker.state();
                        }
                    }
                }
            });
        }
    });
    assert_still_exact(&clock, &breaker, threshold, trials);
}

#[test]
fn a_registry_with_many_names_under_many_threads() {
    let clock = ManualClock::new();
    let registry =
        Arc::new(Registry::with_clock(clock.clone()).with_default_config(cfg(2, secs(1), 1)));
    let names: Vec<String> = (0..64).map(|i| format!("svc-{i}")).collect();
    thread::scope(|s| {
        for t in 0..THREADS as u64 {
            let (registry, names, clock) = (&registry, &names, &clock);
            s.spawn(move || {
                let mut rng = Rng(t + 99);
                for _ in 0..5_000 {
                    let r = rng.next();
                    let name = &names[usize::try_from(r).unwrap() % names.len()];
                    if r % 50 == 0 {
                        clock.advance(Duration::from_millis(100));
                    }
                    let fail = r % 3 == 0;
                    let _ = futures::executor::block_on(
                        async move {
                            if fail {
                                Err(())
                            } else {
                                Ok(())
                            }
                        }
                        .protect(registry, name),
                    );
                }
            });
        }
    });
    assert_eq!(registry.len(), names.len());
    for name in &names {
        let breaker = registry.get(name).unwrap();
        assert_still_exact(&clock, &breaker, 2, 1);
    }
}
