//! [`Breaker`]: one circuit, on one clock.

use std::fmt;
use std::sync::Arc;

use crate::clock::{Clock, SystemClock};
use crate::config::{saturating_nanos, Config};
use crate::error::Rejected;
use crate::machine::{Machine, Now, Outcome, Refusal, Ticket};
use crate::state::State;

/// One circuit breaker: a state machine over the [`Config`]'s knobs, reading time from `C`.
///
/// Run calls through it with [`CircuitBreaker::call`](crate::CircuitBreaker::call), which works
/// on a `Breaker`, a `&Breaker` and an `Arc<Breaker>` (the last makes `'static` futures you can
/// spawn). It is `Send + Sync`; share it by reference or in an `Arc`.
///
/// ```
/// use protego::{Breaker, CircuitBreaker, Config, Error, State};
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
///   gives its slot back and records nothing. A round still undecided `reset_timeout` after it
///   began is replaced by a fresh one.
/// - **Outcomes** count only while the state stretch (the *generation*) that admitted the call is
///   current: a call admitted while closed that fails after the circuit opened does not extend
///   the open period; one that succeeds after the circuit went half-open is not a trial.
/// - A call's outcome is `Ok` (success), `Err` (failure) or a panic while polling (failure; the
///   panic still propagates).
pub struct Breaker<C: Clock = SystemClock> {
    machine: Machine,
    clock: C,
    name: Option<Arc<str>>,
}

impl Breaker<SystemClock> {
    /// A breaker on the system clock.
    ///
    /// ```
    /// use protego::{Breaker, Config, State};
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
    /// use protego::{Breaker, CircuitBreaker, Config, ManualClock, State};
    ///
    /// let clock = ManualClock::new();
    /// let breaker = Breaker::with_clock(Config::builder().failure_threshold(1).build()?, clock.clone());
    /// let _ = futures::executor::block_on(breaker.call(async { Err::<(), _>(()) }));
    /// assert_eq!(breaker.state(), State::Open);
    /// clock.advance(Duration::from_secs(60));
    /// assert_eq!(breaker.state(), State::HalfOpen);
    /// # Ok::<(), protego::ConfigError>(())
    /// ```
    pub fn with_clock(config: Config, clock: C) -> Self {
        Breaker {
            machine: Machine::new(config),
            clock,
            name: None,
        }
    }

    /// Gives the breaker a name, reported by [`Rejected::name`] and `Debug`. Registry breakers
    /// are named after their key.
    ///
    /// ```
    /// let breaker = protego::Breaker::new(protego::Config::default()).named("quotes");
    /// assert_eq!(breaker.name(), Some("quotes"));
    /// ```
    #[must_use]
    pub fn named(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The breaker's name, if it has one.
    ///
    /// ```
    /// assert_eq!(protego::Breaker::new(protego::Config::default()).name(), None);
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The current state. An open circuit whose `reset_timeout` has passed becomes half-open
    /// here, as it would on the next call.
    ///
    /// ```
    /// use protego::{Breaker, Config, State};
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
    /// let breaker = protego::Breaker::new(protego::Config::default());
    /// assert_eq!(breaker.config(), protego::Config::default());
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
    /// use protego::{Breaker, CircuitBreaker, Config, ManualClock, State};
    ///
    /// let clock = ManualClock::new();
    /// let breaker = Breaker::with_clock(Config::builder().failure_threshold(1).build()?, clock.clone());
    /// let _ = futures::executor::block_on(breaker.call(async { Err::<(), _>(()) }));
    /// clock.advance(Duration::from_secs(10));
    /// assert_eq!(breaker.state(), State::Open);
    ///
    /// breaker.reconfigure(Config::builder().reset_timeout(Duration::from_secs(10)).build()?);
    /// assert_eq!(breaker.state(), State::HalfOpen); // the shorter timeout has already passed
    /// # Ok::<(), protego::ConfigError>(())
    /// ```
    pub fn reconfigure(&self, config: Config) {
        self.machine.reconfigure(config);
    }

    /// Consecutive failures counted since the circuit last closed or saw a success (0 when it
    /// is not closed).
    ///
    /// ```
    /// use protego::{Breaker, CircuitBreaker, Config};
    ///
    /// let breaker = Breaker::new(Config::default());
    /// let _ = futures::executor::block_on(breaker.call(async { Err::<(), _>(()) }));
    /// assert_eq!(breaker.consecutive_failures(), 1);
    /// ```
    pub fn consecutive_failures(&self) -> u32 {
        self.machine.consecutive_failures()
    }

    /// How many transitions this breaker has made (modulo 2^29); for the loom models only.
    #[cfg(protego_loom)]
    #[doc(hidden)]
    pub fn generation(&self) -> u32 {
        self.machine.generation()
    }

    /// The breaker's clock.
    ///
    /// ```
    /// use protego::{Breaker, Clock, Config, ManualClock};
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
        self.machine.admit(&mut self.now())
    }

    /// The error for a refused call.
    #[inline]
    pub(crate) fn rejected(&self, refusal: Refusal) -> Rejected {
        Rejected::new(self.name.clone(), refusal.state, refusal.retry_after)
    }

    #[inline]
    pub(crate) fn record(&self, ticket: Ticket, outcome: Outcome) {
        self.machine.record(ticket, outcome, &mut self.now());
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
