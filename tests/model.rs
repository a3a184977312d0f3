//! Model-based property tests: random programs run on the real breaker (polled by hand on a
//! manual clock) and on a small sequential model of the behaviour contract; admission,
//! rejection, `retry_after` and state must agree at every step.

mod common;

use std::time::Duration;

use common::*;
use proptest::prelude::*;
use protego::{Breaker, Config, ManualClock, State};

/// The contract, written as plainly as possible. Times are u128 nanoseconds, so nothing here
/// can overflow; the real breaker's u64 saturation only shows past 584 years, which the
/// generated programs never reach.
#[derive(Debug, Clone)]
struct Model {
    threshold: u32,
    timeout: u128,
    trials: u32,
    now: u128,
    generation: u64,
    state: ModelState,
}

#[derive(Debug, Clone, PartialEq)]
enum ModelState {
    Closed {
        failures: u32,
    },
    Open {
        opened_at: u128,
    },
    HalfOpen {
        started: u128,
        in_flight: u32,
        successes: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Verdict {
    Admitted,
    Rejected {
        state: State,
        retry_after: Option<Duration>,
    },
}

impl Model {
    fn new(cfg: &Config) -> Self {
        let mut m = Model {
            threshold: 0,
            timeout: 0,
            trials: 0,
            now: 0,
            generation: 0,
            state: ModelState::Closed { failures: 0 },
        };
        m.reconfigure(cfg);
        m
    }

    fn reconfigure(&mut self, cfg: &Config) {
        self.threshold = cfg.failure_threshold();
        self.timeout = cfg.reset_timeout().as_nanos();
        self.trials = cfg.half_open_retries();
    }

    fn enter(&mut self, state: ModelState) {
        self.generation += 1;
        self.state = state;
    }

    /// Open to half-open once the timeout has passed.
    fn settle(&mut self) {
        if let ModelState::Open { opened_at } = self.state {
            if self.now >= opened_at + self.timeout {
                self.enter(ModelState::HalfOpen {
                    started: self.now,
                    in_flight: 0,
                    successes: 0,
                });
            }
        }
    }

    fn state(&mut self) -> State {
        self.settle();
        match self.state {
            ModelState::Closed { .. } => State::Closed,
            ModelState::Open { .. } => State::Open,
            ModelState::HalfOpen { .. } => State::HalfOpen,
        }
    }

    /// Admission; returns the generation the call belongs to when admitted.
    fn start(&mut self) -> (Verdict, u64) {
        self.settle();
        if let ModelState::Open { opened_at } = self.state {
            let left = opened_at + self.timeout - self.now;
            let retry_after = Duration::from_nanos(u64::try_from(left).unwrap());
            return (
                Verdict::Rejected {
                    state: State::Open,
                    retry_after: Some(retry_after),
                },
                0,
            );
        }
        if let ModelState::HalfOpen { started, .. } = self.state {
            // A round undecided for a whole timeout is replaced (never one that began now).
            if self.now >= started + self.timeout && self.now > started {
                self.enter(ModelState::HalfOpen {
                    started: self.now,
                    in_flight: 0,
                    successes: 0,
                });
            }
        }
        if let ModelState::HalfOpen { successes, .. } = self.state {
            // Enough successes for a config that shrank: the round is decided.
            if successes >= self.trials {
                self.enter(ModelState::Closed { failures: 0 });
            }
        }
        let generation = self.generation;
        match &mut self.state {
            ModelState::Closed { .. } => (Verdict::Admitted, generation),
            ModelState::HalfOpen {
                in_flight,
                successes,
                ..
            } => {
                if *in_flight + *successes >= self.trials {
                    (
                        Verdict::Rejected {
                            state: State::HalfOpen,
                            retry_after: None,
                        },
                        0,
                    )
                } else {
                    *in_flight += 1;
                    (Verdict::Admitted, generation)
                }
            }
            ModelState::Open { .. } => unreachable!(),
        }
    }

    fn finish(&mut self, generation: u64, how: Finish) {
        if generation != self.generation {
            return; // late: changes nothing
        }
        let now = self.now;
        match (&mut self.state, how) {
            (ModelState::Closed { failures }, Finish::Succeed) => *failures = 0,
            (ModelState::Closed { failures }, Finish::Fail | Finish::Panic) => {
                *failures += 1;
                if *failures >= self.threshold {
                    self.enter(ModelState::Open { opened_at: now });
                }
            }
            (
                ModelState::HalfOpen {
                    in_flight,
                    successes,
                    ..
                },
                Finish::Succeed,
            ) => {
                *in_flight -= 1;
                *successes += 1;
                if *successes >= self.trials {
                    self.enter(ModelState::Closed { failures: 0 });
                }
            }
            (ModelState::HalfOpen { .. }, Finish::Fail | Finish::Panic) => {
                self.enter(ModelState::Open { opened_at: now });
            }
            (ModelState::Open { .. }, _) => unreachable!("no call is admitted while open"),
        }
    }

    fn cancel(&mut self, generation: u64) {
        if generation != self.generation {
            return;
        }
        if let ModelState::HalfOpen { in_flight, .. } = &mut self.state {
            *in_flight -= 1;
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Start,
    Finish(usize, Finish),
    Drop(usize),
    Advance(Duration),
    Reconfigure(Config),
    State,
}

fn config() -> impl Strategy<Value = Config> {
    (1u32..5, 1u64..=20, 1u32..4).prop_map(|(threshold, timeout, trials)| {
        cfg(threshold, Duration::from_nanos(timeout), trials)
    })
}

fn op() -> impl Strategy<Value = Op> {
    let finish = prop_oneof![
        4 => Just(Finish::Succeed),
        4 => Just(Finish::Fail),
        1 => Just(Finish::Panic),
    ];
    let advance = prop_oneof![
        Just(Duration::ZERO),
        (1u64..=25).prop_map(Duration::from_nanos),
        Just(Duration::from_secs(3600 * 24 * 365)),
    ];
    prop_oneof![
        5 => Just(Op::Start),
        5 => (any::<usize>(), finish).prop_map(|(i, f)| Op::Finish(i, f)),
        2 => any::<usize>().prop_map(Op::Drop),
        4 => advance.prop_map(Op::Advance),
        1 => config().prop_map(Op::Reconfigure),
        2 => Just(Op::State),
    ]
}

fn check(initial: &Config, ops: &[Op]) -> Result<(), TestCaseError> {
    let clock = ManualClock::new();
    let breaker = Breaker::with_clock(initial.clone(), clock.clone());
    let mut model = Model::new(initial);
    let mut calls: Vec<(Call<'_>, u64)> = Vec::new();
    for (step, op) in ops.iter().enumerate() {
        match op {
            Op::Start => {
                let (expected, generation) = model.start();
                let actual = match start(&breaker) {
                    Ok(call) => {
                        calls.push((call, generation));
                        Verdict::Admitted
                    }
                    Err(r) => Verdict::Rejected {
                        state: r.state(),
                        retry_after: r.retry_after(),
                    },
                };
                prop_assert_eq!(actual, expected, "step {}: {:?}", step, op);
            }
            Op::Finish(i, how) if !calls.is_empty() => {
                let (call, generation) = calls.remove(i % calls.len());
                call.finish(*how);
                model.finish(generation, *how);
            }
            Op::Drop(i) if !calls.is_empty() => {
                let (call, generation) = calls.remove(i % calls.len());
                drop(call);
                model.cancel(generation);
            }
            Op::Finish(..) | Op::Drop(_) => {}
            Op::Advance(d) => {
                clock.advance(*d);
                model.now += d.as_nanos();
            }
            Op::Reconfigure(cfg) => {
                breaker.reconfigure(cfg.clone());
                model.reconfigure(cfg);
            }
            Op::State => {
                prop_assert_eq!(breaker.state(), model.state(), "step {}", step);
            }
        }
        let expected_failures = match model.state {
            ModelState::Closed { failures } => failures,
            _ => 0,
        };
        prop_assert_eq!(
            breaker.consecutive_failures(),
            expected_failures,
            "step {}: {:?}",
            step,
            op
        );
    }
    prop_assert_eq!(breaker.state(), model.state());
    Ok(())
}

/// Inner-future panics are part of the programs; keep them out of the output (and skip their
/// backtraces), while every other panic still reports as usual.
fn quiet_inner_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&"inner future panicked") {
                default(info);
            }
        }));
    });
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 4000,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn breaker_agrees_with_the_model(initial in config(), ops in prop::collection::vec(op(), 1..80)) {
        quiet_inner_panics();
        check(&initial, &ops)?;
    }
}
