//! Model-based property tests: random programs run on the real breaker (polled by hand on a
//! manual clock) and on a small sequential model of the behaviour contract; admission,
//! rejection, `retry_after`, state, counts and call totals must agree at every step, and the
//! transitions listeners saw must be the model's, in order.
//!
//! The programs cover classification (ignored outcomes), manual control (force open, disable,
//! reset, open for a time, half-open, metrics-only), initial states, half-open rounds decided
//! by rate and their own time limit, and backoff with jitter on a fixed seed.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use proptest::prelude::*;
use protego_breaker::{
    observe::Counts, observe::Totals, Breaker, Config, ManualClock, State, Window,
};

/// The contract, written as plainly as possible. Times are u128 nanoseconds, so nothing here
/// can overflow; the real breaker's u64 saturation only shows past 584 years, which the
/// generated programs never reach.
#[derive(Debug, Clone)]
struct Model {
    threshold: u32,
    timeout: u128,
    trials: u32,
    /// Backoff multiplier and jitter in thousandths, the cap in ns.
    backoff_milli: u128,
    jitter_milli: u128,
    max: u128,
    seed: Option<u64>,
    rng: u64,
    /// How long a half-open round may go undecided.
    hung_after: u128,
    /// Half-open rounds decided by rate, and the failure and slow-call rate thresholds.
    by_rate: bool,
    failure_rate: u128,
    slow_rate: u128,
    /// Reopens from half-open since the circuit last closed.
    reopens: u32,
    now: u128,
    generation: u64,
    state: ModelState,
    totals: Totals,
    transitions: Vec<(State, State)>,
    /// The failure-rate window's rules, and the current generation's outcomes in it:
    /// (time, failed, slow), oldest first.
    rules: Option<Rules>,
    outcomes: Vec<(u128, bool, bool)>,
    /// Counts since the last transition.
    counts: Counts,
    /// The trip rule, if one is set.
    rule: Option<Rule>,
}

/// A trip rule the programs set: open at `failures` failures or `consecutive` consecutive
/// failures since the last transition; panic (which counts as "no") at `panic_at` failures.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Rule {
    failures: u64,
    consecutive: u64,
    panic_at: Option<u64>,
}

impl Rule {
    fn ask(self, counts: &Counts) -> bool {
        assert!(
            Some(counts.failures) != self.panic_at,
            "trip rule panicked on purpose"
        );
        self.ask_unchecked(counts)
    }

    fn ask_model(self, counts: &Counts) -> bool {
        Some(counts.failures) != self.panic_at && self.ask_unchecked(counts)
    }

    fn ask_unchecked(self, counts: &Counts) -> bool {
        counts.failures >= self.failures || counts.consecutive_failures >= self.consecutive
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Rules {
    window: Window,
    failure_rate: u128,
    minimum: u128,
    slow_nanos: u128,
    slow_rate: u128,
}

impl Rules {
    fn of(cfg: &Config) -> Option<Rules> {
        cfg.window().map(|window| Rules {
            window,
            failure_rate: u128::from(cfg.failure_rate_threshold()),
            minimum: u128::from(cfg.minimum_calls()),
            slow_nanos: cfg.slow_call_duration().map_or(0, |d| d.as_nanos().max(1)),
            slow_rate: u128::from(cfg.slow_call_rate_threshold()),
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
enum ModelState {
    Closed {
        failures: u32,
    },
    Open {
        opened_at: u128,
        reopens: u32,
        draw: u32,
        /// Opened by hand until this instant.
        until: Option<u128>,
    },
    HalfOpen {
        started: u128,
        in_flight: u32,
        /// Trials that succeeded (by rate: that finished with a verdict).
        successes: u32,
        /// By rate: trials that failed, and that were slow.
        failed: u32,
        slow: u32,
    },
    ForcedOpen,
    Disabled,
    MetricsOnly {
        failures: u32,
    },
}

fn round(started: u128) -> ModelState {
    ModelState::HalfOpen {
        started,
        in_flight: 0,
        successes: 0,
        failed: 0,
        slow: 0,
    }
}

/// A config fraction (0 to 1000, three decimals) in thousandths.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn milli(value: f64) -> u128 {
    (value * 1000.0).round() as u128
}

/// The jitter generator, as documented: splitmix64, the draw is the high half.
fn splitmix(state: u64) -> (u64, u32) {
    let next = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = next;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (next, (z >> 32) as u32)
}

fn kind(state: &ModelState) -> State {
    match state {
        ModelState::Closed { .. } => State::Closed,
        ModelState::Open { .. } => State::Open,
        ModelState::HalfOpen { .. } => State::HalfOpen,
        ModelState::ForcedOpen => State::ForcedOpen,
        ModelState::Disabled => State::Disabled,
        ModelState::MetricsOnly { .. } => State::MetricsOnly,
    }
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
            backoff_milli: 1000,
            jitter_milli: 0,
            max: 0,
            seed: cfg.jitter_seed(),
            rng: cfg.jitter_seed().expect("model configs are seeded"),
            hung_after: 0,
            by_rate: false,
            failure_rate: 0,
            slow_rate: 0,
            reopens: 0,
            now: 0,
            generation: 0,
            state: match cfg.initial_state() {
                State::Closed => ModelState::Closed { failures: 0 },
                State::Open => ModelState::Open {
                    opened_at: 0,
                    reopens: 0,
                    draw: 0,
                    until: None,
                },
                State::ForcedOpen => ModelState::ForcedOpen,
                State::Disabled => ModelState::Disabled,
                State::MetricsOnly => ModelState::MetricsOnly { failures: 0 },
                other => panic!("not an initial state: {other}"),
            },
            totals: Totals::default(),
            transitions: Vec::new(),
            rules: None,
            outcomes: Vec::new(),
            counts: Counts::default(),
            rule: None,
        };
        m.reconfigure(cfg);
        m
    }

    fn reconfigure(&mut self, cfg: &Config) {
        self.threshold = cfg.failure_threshold();
        self.timeout = cfg.reset_timeout().as_nanos();
        self.trials = cfg.half_open_retries();
        self.backoff_milli = milli(cfg.backoff_multiplier());
        self.jitter_milli = milli(cfg.jitter());
        self.max = cfg.max_reset_timeout().unwrap_or(Duration::MAX).as_nanos();
        self.hung_after = cfg
            .max_half_open_duration()
            .unwrap_or(cfg.reset_timeout())
            .as_nanos();
        self.by_rate = cfg.half_open_by_rate();
        self.failure_rate = u128::from(cfg.failure_rate_threshold());
        self.slow_rate = u128::from(cfg.slow_call_rate_threshold());
        let rules = Rules::of(cfg);
        if rules != self.rules {
            self.rules = rules;
            self.outcomes.clear(); // new rules, new (empty) window
        }
        if cfg.jitter_seed() != self.seed {
            self.seed = cfg.jitter_seed();
            self.rng = cfg.jitter_seed().unwrap();
        }
    }

    fn enter(&mut self, state: ModelState) {
        self.generation += 1;
        self.outcomes.clear();
        self.counts = Counts::default();
        let from = kind(&self.state);
        let to = kind(&state);
        // A metrics-only breaker's would-be trip is shown too.
        if from != to || to == State::MetricsOnly {
            self.transitions.push((from, to));
        }
        if matches!(
            state,
            ModelState::Closed { .. } | ModelState::Disabled | ModelState::MetricsOnly { .. }
        ) {
            self.reopens = 0;
        }
        self.state = state;
    }

    /// A trip: closed opens, metrics-only starts its counts over (and shows it).
    fn trip(&mut self) {
        if matches!(self.state, ModelState::MetricsOnly { .. }) {
            self.enter(ModelState::MetricsOnly { failures: 0 });
        } else {
            self.open();
        }
    }

    /// How a half-open round with these counts ends: closed, or open.
    fn decide_round(&mut self, finished: u32, failed: u32, slow: u32) {
        let n = u128::from(finished.max(1));
        let opens = if self.by_rate {
            u128::from(failed) * 100 >= self.failure_rate * n
                || u128::from(slow) * 100 >= self.slow_rate * n
        } else {
            failed > 0
        };
        if opens {
            self.open();
        } else {
            self.enter(ModelState::Closed { failures: 0 });
        }
    }

    /// Opens the circuit: a reopen from half-open grows the backoff, one from closed starts
    /// it over; jitter draws once per open period.
    fn open(&mut self) {
        self.reopens = if matches!(self.state, ModelState::HalfOpen { .. }) {
            self.reopens + 1
        } else {
            0
        };
        let draw = if self.jitter_milli > 0 {
            let (rng, draw) = splitmix(self.rng);
            self.rng = rng;
            draw
        } else {
            0
        };
        let reopens = self.reopens;
        self.enter(ModelState::Open {
            opened_at: self.now,
            reopens,
            draw,
            until: None,
        });
    }

    /// The instant an open period ends.
    fn open_end(&self, opened_at: u128, reopens: u32, draw: u32, until: Option<u128>) -> u128 {
        until.unwrap_or_else(|| opened_at + self.period(reopens, draw))
    }

    /// How long an open period lasts, by the current config: exact rational arithmetic.
    fn period(&self, reopens: u32, draw: u32) -> u128 {
        let mut length = self.timeout;
        if reopens > 0 && self.backoff_milli > 1000 {
            let (mut num, mut den) = (self.timeout, 1u128);
            for _ in 0..reopens {
                num *= self.backoff_milli;
                den *= 1000;
                if num / den >= self.max {
                    break;
                }
            }
            length = (num / den).max(self.timeout);
        }
        length = length.min(self.max.max(self.timeout));
        if self.jitter_milli > 0 {
            let cut = length * self.jitter_milli * u128::from(draw) / (1000u128 << 32);
            length = (length - cut).max(1);
        }
        length
    }

    /// Open to half-open once the open period has passed.
    fn settle(&mut self) {
        if let ModelState::Open {
            opened_at,
            reopens,
            draw,
            until,
        } = self.state
        {
            if self.now >= self.open_end(opened_at, reopens, draw, until) {
                self.enter(round(self.now));
            }
        }
    }

    fn state(&mut self) -> State {
        self.settle();
        kind(&self.state)
    }

    /// The counts since the last transition, as a breaker reports them: only with a trip rule.
    fn kept_counts(&self) -> Option<Counts> {
        self.rule.is_some().then_some(self.counts)
    }

    /// Admission, counted in the totals (and, with a trip rule and but when disabled, since the
    /// last transition).
    fn start(&mut self) -> (Verdict, u64) {
        let (verdict, generation) = self.admit();
        if verdict == Verdict::Admitted {
            self.totals.admitted += 1;
            if self.state != ModelState::Disabled && self.rule.is_some() {
                self.counts.requests += 1;
            }
        } else {
            self.totals.rejected += 1;
        }
        (verdict, generation)
    }

    /// Admission; returns the generation the call belongs to when admitted.
    fn admit(&mut self) -> (Verdict, u64) {
        self.settle();
        match self.state {
            ModelState::ForcedOpen => {
                return (
                    Verdict::Rejected {
                        state: State::ForcedOpen,
                        retry_after: None,
                    },
                    0,
                )
            }
            ModelState::Disabled | ModelState::MetricsOnly { .. } => {
                return (Verdict::Admitted, self.generation)
            }
            _ => {}
        }
        if let ModelState::Open {
            opened_at,
            reopens,
            draw,
            until,
        } = self.state
        {
            let left = self.open_end(opened_at, reopens, draw, until) - self.now;
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
            // A round undecided for its whole time limit is replaced (never one that began now).
            if self.now >= started + self.hung_after && self.now > started {
                self.enter(round(self.now));
            }
        }
        if let ModelState::HalfOpen {
            successes,
            failed,
            slow,
            ..
        } = self.state
        {
            // Enough trials decided for a config that shrank: the round is decided.
            if successes >= self.trials {
                self.decide_round(successes, failed, slow);
                return self.admit(); // closed, or reopened (then rejected)
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
            _ => unreachable!(),
        }
    }

    /// The window's (calls, failures, slow) now.
    fn window_sums(&self, rules: &Rules) -> (u128, u128, u128) {
        let in_window: Vec<_> = match rules.window {
            Window::Count(n) => {
                let skip = self.outcomes.len().saturating_sub(n as usize);
                self.outcomes[skip..].to_vec()
            }
            Window::Time { length, buckets } => {
                let width = (length.as_nanos() / u128::from(buckets)).max(1);
                let newest = self.now / width;
                let oldest = newest.saturating_sub(u128::from(buckets) - 1);
                self.outcomes
                    .iter()
                    .filter(|o| (oldest..=newest).contains(&(o.0 / width)))
                    .copied()
                    .collect()
            }
            _ => unreachable!(),
        };
        let count =
            |f: fn(&(u128, bool, bool)) -> bool| in_window.iter().filter(|o| f(o)).count() as u128;
        (in_window.len() as u128, count(|o| o.1), count(|o| o.2))
    }

    /// A closed-state outcome with a window: into the window, which may open the circuit.
    fn record_in_window(&mut self, rules: Rules, failed: bool, slow: bool) {
        self.outcomes.push((self.now, failed, slow));
        if let Some(rule) = self.rule {
            // The rule decides, asked on failed or slow outcomes only.
            if (failed || slow) && rule.ask_model(&self.counts) {
                self.trip();
            }
            return;
        }
        let (calls, failures, slows) = self.window_sums(&rules);
        let trips = calls > 0
            && calls >= rules.minimum
            && (failures * 100 >= rules.failure_rate * calls
                || (rules.slow_nanos > 0 && slows * 100 >= rules.slow_rate * calls));
        if trips {
            self.trip();
        }
    }

    /// Counts a finished or cancelled call as slow if it took at least the current
    /// `slow_call_duration`: whatever its outcome, state or generation.
    fn count_slow(&mut self, started: Option<u128>) -> bool {
        let slow = self.rules.is_some_and(|rules| {
            rules.slow_nanos > 0 && started.is_some_and(|s| self.now - s >= rules.slow_nanos)
        });
        if slow {
            self.totals.slow += 1;
        }
        slow
    }

    /// A half-open round undecided for a whole timeout is replaced when an outcome of its own
    /// arrives, even if nobody called since: that outcome then counts for nothing.
    fn replace_hung_round(&mut self) -> bool {
        if let ModelState::HalfOpen { started, .. } = self.state {
            if self.now >= started + self.hung_after && self.now > started {
                self.enter(round(self.now));
                return true;
            }
        }
        false
    }

    /// When an admitted call starts its slow-call clock: only with a window timing slow calls.
    fn started(&self) -> Option<u128> {
        self.rules.filter(|r| r.slow_nanos > 0).map(|_| self.now)
    }

    fn finish(&mut self, generation: u64, how: Finish, started: Option<u128>) {
        match how {
            Finish::Succeed => self.totals.succeeded += 1,
            Finish::Fail | Finish::Panic => self.totals.failed += 1,
            Finish::Ignore => self.totals.ignored += 1,
        }
        let slow = self.count_slow(started);
        if how == Finish::Ignore {
            return self.release(generation); // no verdict: like a cancellation
        }
        if generation != self.generation || self.replace_hung_round() {
            return; // late: changes nothing
        }
        let failed = how != Finish::Succeed;
        if self.state != ModelState::Disabled && self.rule.is_some() {
            let c = &mut self.counts;
            if failed {
                c.failures += 1;
                c.consecutive_failures += 1;
                c.consecutive_successes = 0;
            } else {
                c.successes += 1;
                c.consecutive_successes += 1;
                c.consecutive_failures = 0;
            }
        }
        if let (
            ModelState::Closed { failures } | ModelState::MetricsOnly { failures },
            Some(rules),
        ) = (&mut self.state, self.rules)
        {
            // Counted, but the window decides.
            *failures = if failed { *failures + 1 } else { 0 };
            return self.record_in_window(rules, failed, slow);
        }
        let by_rate = self.by_rate;
        match (&mut self.state, how) {
            (
                ModelState::Closed { failures } | ModelState::MetricsOnly { failures },
                Finish::Succeed,
            ) => *failures = 0,
            (ModelState::Closed { failures } | ModelState::MetricsOnly { failures }, _) => {
                *failures += 1;
                let trips = match self.rule {
                    Some(rule) => rule.ask_model(&self.counts),
                    None => *failures >= self.threshold,
                };
                if trips {
                    self.trip();
                }
            }
            (
                ModelState::HalfOpen {
                    in_flight,
                    successes,
                    failed: round_failed,
                    slow: round_slow,
                    ..
                },
                _,
            ) if by_rate || how == Finish::Succeed => {
                *in_flight -= 1;
                *successes += 1;
                *round_failed += u32::from(failed);
                *round_slow += u32::from(slow && by_rate);
                let (n, f, s) = (*successes, *round_failed, *round_slow);
                if n >= self.trials {
                    self.decide_round(n, f, s);
                }
            }
            (ModelState::HalfOpen { .. }, _) => self.open(),
            (ModelState::Disabled, _) => {} // records nothing
            (ModelState::Open { .. } | ModelState::ForcedOpen, _) => {
                unreachable!("no call is admitted while open")
            }
        }
    }

    fn cancel(&mut self, generation: u64, started: Option<u128>) {
        self.totals.ignored += 1;
        self.count_slow(started);
        self.release(generation);
    }

    /// An outcome with no verdict: gives a half-open trial back.
    fn release(&mut self, generation: u64) {
        if generation != self.generation || self.replace_hung_round() {
            return;
        }
        if let ModelState::HalfOpen { in_flight, .. } = &mut self.state {
            *in_flight -= 1;
        }
    }

    fn force_open(&mut self) {
        if self.state != ModelState::ForcedOpen {
            self.enter(ModelState::ForcedOpen);
        }
    }

    fn disable(&mut self) {
        if self.state != ModelState::Disabled {
            self.enter(ModelState::Disabled);
        }
    }

    /// Open until `now + d`, from any state; the backoff count stays.
    fn open_for(&mut self, d: u128) {
        let reopens = self.reopens;
        self.enter(ModelState::Open {
            opened_at: self.now,
            reopens,
            draw: 0,
            until: Some(self.now + d),
        });
    }

    /// A fresh round, unless the word already is half-open (even a hung round).
    fn half_open(&mut self) -> bool {
        if matches!(self.state, ModelState::HalfOpen { .. }) {
            return false;
        }
        self.enter(round(self.now));
        true
    }

    fn metrics_only(&mut self) -> bool {
        if matches!(self.state, ModelState::MetricsOnly { .. }) {
            return false;
        }
        self.enter(ModelState::MetricsOnly { failures: 0 });
        true
    }

    /// One transition from the state it replaces (an open circuit whose period ended is
    /// replaced as open); returns whether that state was other than closed.
    fn reset(&mut self) -> bool {
        let replaced = kind(&self.state);
        self.enter(ModelState::Closed { failures: 0 });
        replaced != State::Closed
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
    ForceOpen,
    Disable,
    Reset,
    OpenFor(Duration),
    HalfOpen,
    MetricsOnly,
}

fn config() -> impl Strategy<Value = Config> {
    let backoff = prop_oneof![
        2 => Just(1.0),
        1 => Just(1.5),
        1 => Just(2.0),
        1 => Just(3.0)
    ];
    let jitter = prop_oneof![2 => Just(0.0), 1 => Just(0.25), 1 => Just(1.0)];
    let rate = || prop_oneof![Just(30u8), Just(50), Just(100)];
    // (window, minimum calls, failure rate, slow-call duration in ms, slow-call rate)
    let count = (1u32..6, 1u32..6, rate(), 0u64..3, rate())
        .prop_map(|(n, min, fr, slow, sr)| Some((Window::Count(n), min.min(n), fr, slow, sr)));
    let time = (1u32..4, 1u32..3, 1u32..5, rate(), 0u64..3, rate()).prop_map(
        |(buckets, millis, min, fr, slow, sr)| {
            let length = Duration::from_millis(u64::from(buckets * millis));
            Some((Window::Time { length, buckets }, min, fr, slow, sr))
        },
    );
    let window = prop_oneof![2 => Just(None), 1 => count, 1 => time];
    let initial = prop_oneof![
        6 => Just(State::Closed),
        1 => Just(State::Open),
        1 => Just(State::ForcedOpen),
        1 => Just(State::Disabled),
        2 => Just(State::MetricsOnly),
    ];
    // (initial state, half-open by rate, its failure rate, max half-open duration in ns)
    let vocab = (
        initial,
        any::<bool>(),
        rate(),
        prop_oneof![Just(None), (1u64..=30).prop_map(Some)],
    );
    (
        (1u32..5, 1u64..=20, 1u32..4),
        (backoff, 0u64..=60, jitter, 0u64..3),
        window,
        vocab,
    )
        .prop_map(
            |(
                (threshold, timeout, trials),
                (backoff, extra, jitter, seed),
                window,
                (initial, by_rate, ho_rate, max_half_open),
            )| {
                let mut b = cfg(threshold, Duration::from_nanos(timeout), trials)
                    .to_builder()
                    .backoff_multiplier(backoff)
                    .max_reset_timeout(Duration::from_nanos(timeout + extra))
                    .jitter(jitter)
                    .jitter_seed(seed)
                    .initial_state(initial)
                    .half_open_by_rate(by_rate)
                    .failure_rate_threshold(ho_rate)
                    .totals(true);
                if let Some(ns) = max_half_open {
                    b = b.max_half_open_duration(Duration::from_nanos(ns));
                }
                if let Some((window, min, fr, slow, sr)) = window {
                    b = b
                        .window(window)
                        .minimum_calls(min)
                        .failure_rate_threshold(fr)
                        .slow_call_rate_threshold(sr);
                    if slow > 0 {
                        b = b.slow_call_duration(Duration::from_millis(slow));
                    }
                }
                b.build().expect("valid model config")
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    let finish = prop_oneof![
        4 => Just(Finish::Succeed),
        4 => Just(Finish::Fail),
        1 => Just(Finish::Panic),
        2 => Just(Finish::Ignore),
    ];
    let advance = prop_oneof![
        Just(Duration::ZERO),
        (1u64..=25).prop_map(Duration::from_nanos),
        (1u64..=3).prop_map(Duration::from_millis),
        Just(Duration::from_secs(3600 * 24 * 365)),
    ];
    prop_oneof![
        5 => Just(Op::Start),
        5 => (any::<usize>(), finish).prop_map(|(i, f)| Op::Finish(i, f)),
        2 => any::<usize>().prop_map(Op::Drop),
        4 => advance.prop_map(Op::Advance),
        1 => config().prop_map(Op::Reconfigure),
        2 => Just(Op::State),
        1 => Just(Op::ForceOpen),
        1 => Just(Op::Disable),
        1 => Just(Op::Reset),
        1 => prop_oneof![
            (0u64..=30).prop_map(Duration::from_nanos),
            (1u64..=3).prop_map(Duration::from_millis)
        ]
        .prop_map(Op::OpenFor),
        1 => Just(Op::HalfOpen),
        1 => Just(Op::MetricsOnly),
    ]
}

fn rule() -> impl Strategy<Value = Option<Rule>> {
    let rule = (
        1u64..6,
        1u64..4,
        prop_oneof![Just(None), (1u64..4).prop_map(Some)],
    )
        .prop_map(|(failures, consecutive, panic_at)| Rule {
            failures,
            consecutive,
            panic_at,
        });
    prop_oneof![3 => Just(None), 1 => rule.prop_map(Some)]
}

fn check(initial: &Config, rule: Option<Rule>, ops: &[Op]) -> Result<(), TestCaseError> {
    let clock = ManualClock::new();
    let breaker = Breaker::with_clock(initial.clone(), clock.clone());
    if let Some(rule) = rule {
        breaker.set_trip_rule(move |counts, _| rule.ask(counts));
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    breaker.on_transition(move |t| log.lock().unwrap().push((t.from(), t.to())));
    let mut model = Model::new(initial);
    model.rule = rule;
    let mut calls: Vec<(Call<'_>, u64, Option<u128>)> = Vec::new();
    for (step, op) in ops.iter().enumerate() {
        match op {
            Op::Start => {
                let (expected, generation) = model.start();
                let actual = match start(&breaker) {
                    Ok(call) => {
                        calls.push((call, generation, model.started()));
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
                let (call, generation, started) = calls.remove(i % calls.len());
                call.finish(*how);
                model.finish(generation, *how, started);
            }
            Op::Drop(i) if !calls.is_empty() => {
                let (call, generation, started) = calls.remove(i % calls.len());
                drop(call);
                model.cancel(generation, started);
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
                prop_assert_eq!(
                    breaker.metrics().counts,
                    model.kept_counts(),
                    "step {}",
                    step
                );
            }
            Op::ForceOpen => {
                breaker.force_open();
                model.force_open();
            }
            Op::Disable => {
                breaker.disable();
                model.disable();
            }
            Op::Reset => {
                prop_assert_eq!(breaker.reset(), model.reset(), "step {}", step);
            }
            Op::OpenFor(d) => {
                breaker.open_for(*d);
                model.open_for(d.as_nanos());
            }
            Op::HalfOpen => {
                prop_assert_eq!(breaker.half_open(), model.half_open(), "step {}", step);
            }
            Op::MetricsOnly => {
                prop_assert_eq!(
                    breaker.metrics_only(),
                    model.metrics_only(),
                    "step {}",
                    step
                );
            }
        }
        let expected_failures = match model.state {
            ModelState::Closed { failures } | ModelState::MetricsOnly { failures } => failures,
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
    prop_assert_eq!(breaker.metrics().totals, Some(model.totals));
    prop_assert_eq!(breaker.metrics().counts, model.kept_counts());
    prop_assert_eq!(&*seen.lock().unwrap(), &model.transitions);
    Ok(())
}

/// Inner-future panics are part of the programs; keep them out of the output (and skip their
/// backtraces), while every other panic still reports as usual.
fn quiet_inner_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = info
                .payload()
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str));
            let quiet = matches!(
                message,
                Some("inner future panicked" | "trip rule panicked on purpose")
            );
            if !quiet {
                default(info);
            }
        }));
    });
}

proptest! {
    #![proptest_config(ProptestConfig {
        // PROPTEST_CASES=100000 for a deeper run.
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(4000),
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn breaker_agrees_with_the_model(
        initial in config(),
        rule in rule(),
        ops in prop::collection::vec(op(), 1..80),
    ) {
        quiet_inner_panics();
        check(&initial, rule, &ops)?;
    }
}
