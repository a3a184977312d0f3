//! A deterministic simulation of a metastable failure, in virtual time on the manual clock,
//! driving the crate's real types: `Breaker`, `Retrier` and its budgets, `Throttle`.
//!
//! A discrete-event loop (in the spirit of `FoundationDB`'s simulator): one `ManualClock`, a heap
//! of timed events, and a tiny executor that polls the clients' futures when they are woken.
//! Nothing sleeps for real and one seed makes every run identical.
//!
//! The system: a closed-loop population of clients (think, call, wait for the answer, think
//! again), each attempt with a timeout; a server with a fixed capacity serving one FIFO queue,
//! so latency grows with the queue, and which serves requests whose client has given up (the
//! wasted work that sustains the failure). The trigger: the server's capacity drops for 10 s.
//! Shared by `tests/storm.rs` (the goal, asserted) and `examples/storm.rs` (the table and chart).
#![allow(dead_code, unreachable_pub)]
// Virtual-time arithmetic on small, positive figures.
#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use protego_breaker::call::Outcome;
use protego_breaker::random::{Random, SplitMix};
use protego_breaker::retry::{Budget, Retrier, RetryExt, RetryPolicy, TokenBudget, TpsBudget};
use protego_breaker::throttle::Throttle;
use protego_breaker::{Breaker, CircuitBreaker, Config, ManualClock};

#[path = "storm_models.rs"]
mod models;
#[path = "storm_report.rs"]
mod report;
#[path = "storm_sim.rs"]
mod sim;

use report::report;
// The example prints only the overload table; the test prints both.
use models::{Aimd, Free};
#[allow(unused_imports)]
pub use report::{overload_table, table, Bin, Report, TICK};
use sim::Sim;

const SEC: u64 = 1_000_000_000;
const MS: u64 = 1_000_000;

/// The system and its trigger.
#[derive(Debug, Clone, Copy)]
pub struct Setup {
    pub seed: u64,
    pub clients: usize,
    /// Requests per second the healthy server serves.
    pub capacity: f64,
    /// Share of the capacity left during the trigger.
    pub trigger_capacity: f64,
    pub trigger_start: u64,
    pub trigger_len: u64,
    pub end: u64,
    pub think_mean: u64,
    pub timeout: u64,
    /// Open-loop callers: logical calls arrive at this rate (per second) whatever happens to
    /// them; `None`: the closed loop of `clients`.
    pub open_loop: Option<f64>,
    /// A delay added to every answer after the server served it (in parallel: it takes no
    /// capacity), as a network or a dependency of the dependency would add.
    pub delay: Delay,
}

/// The delay added to answers (`Setup::delay`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Delay {
    /// None.
    Zero,
    /// Lognormal: this median (ns) and sigma: heavy-tailed latency.
    Lognormal { median: u64, sigma: f64 },
    /// `before` ns, then `during` ns from the trigger's start to its end.
    Step { before: u64, during: u64 },
}

impl Setup {
    /// 140 clients thinking 0.9 s on average against 200 requests/s (about 77 % busy), a
    /// 500 ms timeout; from 10 s to 20 s the server keeps `trigger_capacity` of its capacity.
    /// Below 50 % the clients' timeouts start: 140 clients waiting 0.5 s and thinking 0.9 s
    /// send at least 100 requests a second.
    pub fn new(seed: u64, trigger_capacity: f64) -> Self {
        Setup {
            seed,
            clients: 140,
            capacity: 200.0,
            trigger_capacity,
            trigger_start: 10 * SEC,
            trigger_len: 10 * SEC,
            end: 45 * SEC,
            think_mean: 900 * MS,
            timeout: 500 * MS,
            open_loop: None,
            delay: Delay::Zero,
        }
    }

    /// The same with a trigger `secs` long (the run lasts 25 s past it).
    pub fn lasting(mut self, secs: u64) -> Self {
        self.trigger_len = secs * SEC;
        self.end = self.trigger_start + self.trigger_len + 25 * SEC;
        self
    }

    /// The same with open-loop callers: 150 logical calls a second, Poisson arrivals (the
    /// closed loop's healthy rate).
    pub fn open(mut self) -> Self {
        self.open_loop = Some(150.0);
        self
    }

    /// The same with open-loop callers at `rate` logical calls a second.
    pub fn open_at(mut self, rate: f64) -> Self {
        self.open_loop = Some(rate);
        self
    }

    /// The same with `delay` added to every answer.
    pub fn delayed(mut self, delay: Delay) -> Self {
        self.delay = delay;
        self
    }

    fn trigger_end(&self) -> u64 {
        self.trigger_start + self.trigger_len
    }
}

/// What protects the calls.
// A row of switches, each a yes or no of the table.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    pub name: &'static str,
    /// Three retries (four attempts) per logical call, else one attempt.
    pub retries: bool,
    /// The breaker's config, if the calls go through one.
    pub breaker: Option<fn() -> Config>,
    /// What pays for retries.
    pub budget: Pay,
    /// An adaptive throttle on the breaker: (K, window).
    pub throttle: Option<(f64, Duration)>,
    /// Timeouts are classified as `Outcome::Overload` (else as failures).
    pub overload: bool,
    /// An AIMD concurrency limit (the reference model below) in front of the dependency.
    pub aimd: bool,
    /// An oracle: an overload recorded at the very start of the trigger, so that shedding
    /// starts then rather than at the first timeout (the floor of the onset's cost).
    pub onset: bool,
}

/// What pays for retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pay {
    /// Nothing: every retry is granted.
    Free,
    /// `TpsBudget::default()`.
    Tps,
    /// gRFC A6 token throttling, `TokenBudget::default()`.
    Tokens,
}

impl Scenario {
    fn new(name: &'static str) -> Self {
        Scenario {
            name,
            retries: true,
            breaker: None,
            budget: Pay::Free,
            throttle: None,
            overload: false,
            aimd: false,
            onset: false,
        }
    }
}

/// The throttle's defaults (`Throttle::builder()`), chosen on this simulation.
pub const THROTTLE_DEFAULTS: (f64, Duration) = (1.5, Duration::from_secs(1));
/// The SRE book's: K = 2 over 2 minutes.
pub const THROTTLE_BOOK: (f64, Duration) = (2.0, Duration::from_secs(120));

/// The depths of overload simulated: the share of its capacity the server keeps during the
/// trigger. At 50 % the healthy load just fits in the timeout (the edge); at 20 % the
/// dependency is as good as down.
pub const DEPTHS: [(&str, f64); 3] = [
    ("deep: capacity at 20 %", 0.2),
    ("middle: capacity at 35 %", 0.35),
    ("edge: capacity at 50 %", 0.5),
];

/// The scenarios of issue #22, in order; every one but the first retries three times.
pub fn scenarios(throttle: (f64, Duration)) -> Vec<Scenario> {
    let s =
        |name, retries, breaker: bool, budget: bool, throttle: Option<(f64, Duration)>| Scenario {
            retries,
            breaker: breaker.then_some(breaker_config as fn() -> Config),
            budget: if budget { Pay::Tps } else { Pay::Free },
            throttle,
            ..Scenario::new(name)
        };
    vec![
        s("no protection", false, false, false, None),
        s("three retries", true, false, false, None),
        s("breaker", true, true, false, None),
        s("breaker + budget", true, true, true, None),
        s("adaptive throttling", true, false, false, Some(throttle)),
        s("all together", true, true, true, Some(throttle)),
    ]
}

/// The name of the recommended setup's row.
pub const RECOMMENDED: &str = "recommended";

/// The rows of issue #28: the recommended setup (`Config::default()`, which sheds overload,
/// with timeouts classified as `Outcome::Overload`, `TpsBudget::default()` and
/// `RetryPolicy::default()`), the same without a budget, and the references.
pub fn rows() -> Vec<Scenario> {
    let default = Config::default as fn() -> Config;
    vec![
        Scenario {
            breaker: Some(default),
            budget: Pay::Tps,
            overload: true,
            ..Scenario::new(RECOMMENDED)
        },
        Scenario {
            breaker: Some(default),
            overload: true,
            ..Scenario::new("recommended, no budget")
        },
        Scenario {
            breaker: Some(default),
            overload: true,
            retries: false,
            ..Scenario::new("shedding, no retries")
        },
        Scenario {
            breaker: Some(breaker_5_5s),
            budget: Pay::Tps,
            ..Scenario::new("breaker 5 / 5 s + budget")
        },
        Scenario {
            breaker: Some(breaker_default),
            budget: Pay::Tps,
            ..Scenario::new("breaker default + budget")
        },
        Scenario {
            throttle: Some(THROTTLE_DEFAULTS),
            ..Scenario::new("throttle alone")
        },
        Scenario {
            budget: Pay::Tps,
            ..Scenario::new("TpsBudget")
        },
        Scenario {
            budget: Pay::Tokens,
            ..Scenario::new("A6 tokens")
        },
        Scenario {
            retries: false,
            aimd: true,
            ..Scenario::new("AIMD limit")
        },
        Scenario::new("naive retries"),
    ]
}

/// The breaker of issue #22's protected scenarios: 5 consecutive failures, open 1 s, 3 trials.
pub fn breaker_config() -> Config {
    Config::builder()
        .failure_threshold(5)
        .reset_timeout(Duration::from_secs(1))
        .half_open_retries(3)
        .shed_overload(false)
        .build()
        .expect("valid")
}

/// A breaker that opens after 5 consecutive failures for 5 s, with today's failures (overload
/// shedding off: every timeout is a failure, and latency starts nothing).
pub fn breaker_5_5s() -> Config {
    Config::builder()
        .failure_threshold(5)
        .reset_timeout(Duration::from_secs(5))
        .shed_overload(false)
        .build()
        .expect("valid")
}

/// `Config::default()` with the latency sensor off: shedding starts at the first overload only.
pub fn no_sensor() -> Config {
    Config::builder()
        .shed_latency_factor(0.0)
        .build()
        .expect("valid")
}

/// `Config::default()` with overload shedding off: the breaker of before issue #28.
pub fn breaker_default() -> Config {
    Config::builder()
        .shed_overload(false)
        .build()
        .expect("valid")
}

/// The retry policy of every retrying scenario: 4 attempts, 50 ms doubling to 1 s, jitter 0.5.
pub fn retry_policy(attempts: u32) -> RetryPolicy {
    RetryPolicy::builder()
        .max_attempts(attempts)
        .build()
        .expect("valid")
}

/// The breaker of `scenario`, on the simulation's clock (disabled when it has none).
fn breaker_of(setup: Setup, scenario: Scenario, clock: &ManualClock) -> Arc<Breaker<ManualClock>> {
    let config = scenario.breaker.map_or_else(
        || {
            Config::builder()
                .failure_threshold(u32::MAX)
                .shed_overload(false)
                .build()
                .expect("valid")
        },
        |config| config(),
    );
    let breaker = Arc::new(Breaker::with_clock(config, clock.clone()).named("storm"));
    if let Some((k, window)) = scenario.throttle {
        let throttle = Throttle::builder()
            .k(k)
            .window(window)
            .seed(setup.seed ^ 0x7417)
            .build()
            .expect("valid");
        Arc::new(throttle).attach(&breaker);
    } else if scenario.breaker.is_none() {
        breaker.disable();
    }
    breaker
}

/// The retrier of `scenario`: its budget and policy, the simulation's sleeper.
fn retrier_of(setup: Setup, scenario: Scenario, sim: &Sim) -> Retrier {
    let budget: Arc<dyn Budget> = match scenario.budget {
        Pay::Tps => Arc::new(TpsBudget::default()),
        Pay::Tokens => Arc::new(TokenBudget::default()),
        Pay::Free => Arc::new(Free),
    };
    let policy = if scenario.overload && scenario.retries {
        RetryPolicy::default()
    } else {
        retry_policy(if scenario.retries { 4 } else { 1 })
    };
    Retrier::new(policy, budget, Arc::new(sim.sleeper()))
        .with_random(Arc::new(SplitMix::new(setup.seed ^ 0x5eed)))
}

/// The 99th percentile of `latencies` (ns), in seconds.
fn p99(latencies: &[u64]) -> f64 {
    let mut sorted = latencies.to_vec();
    sorted.sort_unstable();
    sorted
        .get(sorted.len() * 99 / 100)
        .map_or(0.0, |&ns| ns as f64 / SEC as f64)
}

/// The breaker's shedding limit per tick, and whether the circuit was seen open.
type Samples = (Rc<RefCell<Vec<Option<u64>>>>, Rc<RefCell<bool>>);

/// Samples the breaker's shedding limit every tick, and whether the circuit is open.
fn sample(sim: &Sim, setup: Setup, breaker: &Arc<Breaker<ManualClock>>) -> Samples {
    let limits = Rc::new(RefCell::new(Vec::new()));
    let opened = Rc::new(RefCell::new(false));
    let (sim2, breaker, l, o) = (
        sim.clone(),
        Arc::clone(breaker),
        Rc::clone(&limits),
        Rc::clone(&opened),
    );
    sim.spawn(async move {
        while sim2.now() < setup.end {
            l.borrow_mut().push(breaker.shed_limit());
            *o.borrow_mut() |= breaker.state() == protego_breaker::State::Open;
            sim2.sleep(TICK).await;
        }
    });
    (limits, opened)
}

/// Runs one scenario.
pub fn run(setup: Setup, scenario: Scenario) -> Report {
    let sim = Sim::new(setup);
    let breaker = breaker_of(setup, scenario, &sim.clock);
    let retrier = retrier_of(setup, scenario, &sim);
    let rng = Rc::new(SplitMix::new(setup.seed));
    let ticks = Rc::new(RefCell::new(vec![
        Bin::default();
        (setup.end / TICK) as usize + 1
    ]));
    let latencies = Rc::new(RefCell::new(Vec::new()));
    let aimd = Rc::new(RefCell::new(Aimd::new()));
    let overload = scenario.overload;
    let classify = move |r: &Result<(), &'static str>| match r {
        Ok(()) => Outcome::Success,
        Err(_) if overload => Outcome::Overload,
        Err(_) => Outcome::Failure,
    };
    // One logical call, its end counted.
    let call = {
        let (sim, breaker, retrier, ticks, latencies, aimd) = (
            sim.clone(),
            Arc::clone(&breaker),
            retrier.clone(),
            Rc::clone(&ticks),
            Rc::clone(&latencies),
            Rc::clone(&aimd),
        );
        move || {
            let (sim, breaker, retrier, ticks, latencies, aimd) = (
                sim.clone(),
                Arc::clone(&breaker),
                retrier.clone(),
                Rc::clone(&ticks),
                Rc::clone(&latencies),
                Rc::clone(&aimd),
            );
            async move {
                let start = sim.now();
                let ok = if scenario.aimd {
                    if aimd.borrow_mut().acquire() {
                        let ok = sim.attempt().await.is_ok();
                        aimd.borrow_mut().release(ok);
                        ok
                    } else {
                        false
                    }
                } else {
                    (|| sim.attempt())
                        .retry(&retrier, &*breaker)
                        .classify(classify)
                        .await
                        .is_ok()
                };
                let now = sim.now();
                if now >= setup.trigger_start && now < setup.trigger_end() {
                    latencies.borrow_mut().push(now - start);
                }
                let mut ticks = ticks.borrow_mut();
                let tick = &mut ticks[(now / TICK) as usize];
                tick.calls += 1;
                tick.good += u32::from(ok);
            }
        }
    };
    let (limits, opened) = sample(&sim, setup, &breaker);
    if scenario.onset {
        overload_at_onset(&sim, setup, &breaker);
    }
    if let Some(rate) = setup.open_loop {
        let (sim2, rng) = (sim.clone(), Rc::clone(&rng));
        let mean = (SEC as f64 / rate) as u64;
        let sim3 = sim.clone();
        sim.spawn(async move {
            while sim2.now() < setup.end {
                sim3.spawn(call());
                sim2.sleep(exponential(&*rng, mean)).await;
            }
        });
    } else {
        for _ in 0..setup.clients {
            let (sim2, rng, call) = (sim.clone(), Rc::clone(&rng), call.clone());
            sim.spawn(async move {
                // Clients start spread over the first second.
                sim2.sleep((u64::from(rng.next_u32()) * SEC) >> 32).await;
                while sim2.now() < setup.end {
                    call().await;
                    sim2.sleep(exponential(&*rng, setup.think_mean)).await;
                }
            });
        }
    }
    sim.run();
    let mut ticks = ticks.borrow().clone();
    for (i, n) in sim.attempts().into_iter().enumerate() {
        if let Some(tick) = ticks.get_mut(i) {
            tick.attempts = n;
        }
    }
    let p99 = p99(&latencies.borrow());
    let mut report = report(setup, scenario, ticks, p99);
    report.limits.clone_from(&limits.borrow());
    report.opened = *opened.borrow();
    report
}

/// The oracle of `Scenario::onset`: one overload recorded at the trigger's first instant.
fn overload_at_onset(sim: &Sim, setup: Setup, breaker: &Arc<Breaker<ManualClock>>) {
    let (sim2, breaker) = (sim.clone(), Arc::clone(breaker));
    sim.spawn(async move {
        sim2.sleep(setup.trigger_start).await;
        if let Ok(permit) = breaker.try_acquire() {
            permit.overload();
        }
    });
}

fn exponential(rng: &dyn Random, mean: u64) -> u64 {
    let u = (f64::from(rng.next_u32()) + 1.0) / 4_294_967_297.0;
    (-u.ln() * mean as f64) as u64
}
