//! [`Breaker`]: one circuit, on one clock.

use std::fmt;
use std::sync::Arc;

use crate::clock::{Clock, SystemClock};
use crate::config::{saturating_nanos, Config};
use crate::error::Rejected;
use crate::machine::outcome::Outcome;
use crate::machine::state::State;
use crate::machine::word::Ticket;
use crate::machine::{Machine, Now, Refusal};
use crate::observe::metrics::Metrics;
use crate::observe::tap::Tap;

mod attach;
mod manual;
mod shed;

/// One circuit breaker: a state machine over the [`Config`]'s knobs, reading time from `C`.
///
/// Run calls through it with [`CircuitBreaker::call`](crate::CircuitBreaker::call), which works
/// on a `Breaker`, a `&Breaker` and an `Arc<Breaker>` (the last makes `'static` futures you can
/// spawn). It is `Send + Sync`; share it by reference or in an `Arc`.
///
/// ```
/// use protego_breaker::{Breaker, CircuitBreaker, Config, Error, State};
///
/// # futures::executor::block_on(async {
/// let breaker = Breaker::new(Config::default());
/// for _ in 0..3 {
///     let out = breaker.call(async { Err::<u32, _>("timeout") }).await;
///     assert!(matches!(out, Err(Error::Inner("timeout"))));
/// }
/// assert_eq!(breaker.state(), State::Open);
/// let out = breaker.call(async { Ok::<u32, &str>(1) }).await;
/// assert!(matches!(out, Err(Error::Rejected(_))));
/// # });
/// ```
///
/// # Semantics
/// - **Closed**: every call is admitted. A failure adds one to the consecutive-failure count, a
///   success sets it to 0; when it reaches `failure_threshold` the circuit opens.
/// - **Open**: every call is rejected without running, with
///   [`retry_after`](Rejected::retry_after) = time left until `reset_timeout` has passed since
///   the circuit opened. After that the circuit is half-open; this is decided by the next call
///   or [`state`](Breaker::state), with no timer or background task.
/// - **Half-open**: a round of at most `half_open_retries` trial calls is admitted, the others are
///   rejected with `retry_after` `None`. When `half_open_retries` trials have succeeded the
///   circuit closes; the first trial failure opens it again. A trial dropped before it completes
///   gives its trial back and records nothing. A round still undecided `reset_timeout` (or
///   [`max_half_open_duration`](Config::max_half_open_duration)) after it began is replaced by
///   a fresh one. [`half_open_by_rate`](Config::half_open_by_rate) decides rounds by rate
///   instead.
/// - **Outcomes** count only while the state stretch (the *generation*) that admitted the call is
///   current: a call admitted while closed that fails after the circuit opened does not extend
///   the open period; one that succeeds after the circuit went half-open is not a trial.
/// - A call's outcome is `Ok` (success), `Err` (failure) or a panic while polling (failure; the
///   panic still propagates).
/// - With an adaptive [`Throttle`](crate::throttle::Throttle) attached, a closed circuit also
///   refuses the share of calls the throttle sheds ([`Rejected::state`] is `Closed`, with no
///   `retry_after`); open and half-open decide as above.
pub struct Breaker<C: Clock = SystemClock> {
    machine: Machine,
    clock: C,
}

impl Breaker<SystemClock> {
    /// A breaker on the system clock.
    ///
    /// ```
    /// use protego_breaker::{Breaker, Config, State};
    ///
    /// let breaker = Breaker::new(Config::default());
    /// assert_eq!(breaker.state(), State::Closed);
    /// ```
    pub fn new(config: Config) -> Self {
        Self::with_clock(config, SystemClock)
    }
}

impl<C: Clock> Breaker<C> {
    /// A breaker reading time from `clock`, such as a [`ManualClock`](crate::ManualClock) in
    /// tests.
    ///
    /// ```
    /// use std::time::Duration;
    /// use protego_breaker::{Breaker, CircuitBreaker, Config, ManualClock, State};
    ///
    /// let clock = ManualClock::new();
    /// let breaker = Breaker::with_clock(Config::builder().failure_threshold(1).build()?, clock.clone());
    /// let _ = futures::executor::block_on(breaker.call(async { Err::<(), _>(()) }));
    /// assert_eq!(breaker.state(), State::Open);
    /// clock.advance(Duration::from_secs(60));
    /// assert_eq!(breaker.state(), State::HalfOpen);
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn with_clock(config: Config, clock: C) -> Self {
        // Only an initial open period needs the time: other breakers read no clock here.
        let created = if config.initial_state() == State::Open {
            saturating_nanos(clock.now())
        } else {
            0
        };
        Breaker {
            machine: Machine::new(config, None, created),
            clock,
        }
    }

    /// Gives the breaker a name, reported by [`Rejected::name`] and `Debug`. Registry breakers
    /// are named after their key.
    ///
    /// ```
    /// let breaker = protego_breaker::Breaker::new(protego_breaker::Config::default()).named("quotes");
    /// assert_eq!(breaker.name(), Some("quotes"));
    /// ```
    #[must_use]
    pub fn named(mut self, name: impl Into<Arc<str>>) -> Self {
        self.machine.set_name(&name.into());
        self
    }

    /// The breaker's name, if it has one.
    ///
    /// ```
    /// assert_eq!(protego_breaker::Breaker::new(protego_breaker::Config::default()).name(), None);
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.machine.name()
    }

    /// The current state. An open circuit whose `reset_timeout` has passed becomes half-open
    /// here, as it would on the next call.
    ///
    /// ```
    /// use protego_breaker::{Breaker, Config, State};
    ///
    /// assert_eq!(Breaker::new(Config::default()).state(), State::Closed);
    /// ```
    pub fn state(&self) -> State {
        self.machine.state(&mut self.now())
    }

    /// A copy of the current config: the old one or the new one across a
    /// [`reconfigure`](Breaker::reconfigure), never a mix.
    ///
    /// ```
    /// let breaker = protego_breaker::Breaker::new(protego_breaker::Config::default());
    /// assert_eq!(breaker.config(), protego_breaker::Config::default());
    /// ```
    pub fn config(&self) -> Config {
        self.machine.config()
    }

    /// Replaces the config in place. State, consecutive-failure count, trial round and the time
    /// the circuit opened all stay; the new values apply from the next check, so a shorter
    /// `reset_timeout` can end the current open period sooner. It never changes the state by
    /// itself. Every `Config` is valid, so this cannot fail.
    ///
    /// ```
    /// use std::time::Duration;
    /// use protego_breaker::{Breaker, CircuitBreaker, Config, ManualClock, State};
    ///
    /// let clock = ManualClock::new();
    /// let breaker = Breaker::with_clock(Config::builder().failure_threshold(1).build()?, clock.clone());
    /// let _ = futures::executor::block_on(breaker.call(async { Err::<(), _>(()) }));
    /// clock.advance(Duration::from_secs(10));
    /// assert_eq!(breaker.state(), State::Open);
    ///
    /// breaker.reconfigure(Config::builder().reset_timeout(Duration::from_secs(10)).build()?);
    /// assert_eq!(breaker.state(), State::HalfOpen); // the shorter timeout has already passed
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn reconfigure(&self, config: Config) {
        self.machine.reconfigure(config);
    }

    /// Consecutive failures counted since the circuit last closed or saw a success (0 when it
    /// is not closed). With a failure-rate [`Window`](crate::Window) they are counted as well,
    /// but the window's rates, not this count, decide when to open.
    ///
    /// ```
    /// use protego_breaker::{Breaker, CircuitBreaker, Config};
    ///
    /// let breaker = Breaker::new(Config::default());
    /// let _ = futures::executor::block_on(breaker.call(async { Err::<(), _>(()) }));
    /// assert_eq!(breaker.consecutive_failures(), 1);
    /// ```
    pub fn consecutive_failures(&self) -> u32 {
        self.counted_failures().map_or(0, |(_, failures)| failures)
    }

    /// The consecutive-failure count with the state that keeps it, from one read, moving
    /// nothing (see `Machine::counted_failures`): what a fleet sends as this replica's share.
    pub(crate) fn counted_failures(&self) -> Option<(State, u32)> {
        self.machine.counted_failures()
    }

    /// How many transitions this breaker has made (modulo 2^27); for the loom models only.
    #[cfg(protego_loom)]
    #[doc(hidden)]
    pub fn generation(&self) -> u32 {
        self.machine.generation()
    }

    /// A snapshot: state, consecutive failures, time until half-open, and call totals if
    /// [`Config::totals`] is on. Takes no lock; performs the lazy `Open` -> `HalfOpen` transition
    /// like [`state`](Breaker::state).
    ///
    /// ```
    /// use std::time::Duration;
    /// use protego_breaker::{Breaker, CircuitBreaker, Config, ManualClock, State};
    ///
    /// let clock = ManualClock::new();
    /// let cfg = Config::builder().failure_threshold(1).totals(true).build()?;
    /// let breaker = Breaker::with_clock(cfg, clock.clone());
    /// # futures::executor::block_on(async {
    /// let _ = breaker.call(async { Err::<(), _>("down") }).await;
    /// let _ = breaker.call(async { Ok::<(), &str>(()) }).await; // rejected
    /// # });
    /// clock.advance(Duration::from_secs(15));
    /// let m = breaker.metrics();
    /// assert_eq!(m.state, State::Open);
    /// assert_eq!(m.time_until_half_open, Some(Duration::from_secs(45)));
    /// let totals = m.totals.unwrap();
    /// assert_eq!((totals.admitted, totals.failed, totals.rejected), (1, 1, 1));
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn metrics(&self) -> Metrics {
        let mut now = self.now();
        let state = self.machine.state(&mut now);
        let rates = self.machine.window_rates(&mut now);
        Metrics {
            failure_rate: rates.map(|r| r.0),
            slow_call_rate: rates.map(|r| r.1),
            state,
            consecutive_failures: self.machine.consecutive_failures(),
            time_until_half_open: self
                .machine
                .until_half_open(&mut now)
                .map(std::time::Duration::from_nanos),
            totals: self.machine.totals(),
            fleet_online: self.machine.fleet_online(),
            counts: self.machine.counts(),
            window: self.machine.window_counts(&mut now),
            shed_limit: self.machine.shed_limit(),
        }
    }

    /// The breaker's clock.
    ///
    /// ```
    /// use protego_breaker::{Breaker, Clock, Config, ManualClock};
    ///
    /// let breaker = Breaker::with_clock(Config::default(), ManualClock::new());
    /// assert_eq!(breaker.clock().now(), std::time::Duration::ZERO);
    /// ```
    pub fn clock(&self) -> &C {
        &self.clock
    }

    #[inline]
    fn now(&self) -> Now<impl FnMut() -> u64 + '_> {
        Now::new(|| saturating_nanos(self.clock.now()))
    }

    #[inline]
    pub(crate) fn admit(&self) -> Result<Ticket, Refusal> {
        self.machine.admit(|| saturating_nanos(self.clock.now()))
    }

    /// The error for a refused call.
    #[inline]
    pub(crate) fn rejected(&self, refusal: Refusal) -> Rejected {
        if let Some(companion) = self.machine.companion_if_any() {
            // Out of line, with its own copy: a reference to the `Rejected` returned below
            // would make it go through memory, a store-forwarding stall on every rejection.
            companion.listeners.rejected(
                self.machine.carried_name(),
                refusal.state,
                refusal.retry_after,
            );
        }
        <crate::BuiltinTap as Tap>::rejection(
            self.machine.carried_name(),
            refusal.state,
            refusal.retry_after,
        );
        Rejected::new(
            self.machine.carried_name().clone(),
            refusal.state,
            refusal.retry_after,
        )
    }

    /// Attaches an admission gate (the adaptive throttle's hook, `machine::gate`); `false` if
    /// the breaker has one already.
    pub(crate) fn set_gate(&self, gate: Arc<dyn crate::machine::gate::Gate>) -> bool {
        self.machine.set_gate(gate)
    }

    #[inline]
    pub(crate) fn record(&self, ticket: Ticket, outcome: Outcome) {
        self.machine
            .record(ticket, outcome, || saturating_nanos(self.clock.now()));
    }
}

impl<C: Clock> fmt::Debug for Breaker<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Breaker")
            .field("name", &self.name())
            .field("state", &self.state())
            .field("consecutive_failures", &self.consecutive_failures())
            .field("config", &self.config())
            .finish_non_exhaustive()
    }
}
