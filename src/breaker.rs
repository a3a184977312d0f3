//! [`Breaker`]: one circuit, on one clock.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use crate::clock::{Clock, SystemClock};
use crate::config::{saturating_nanos, Config};
use crate::error::Rejected;
use crate::machine::companion::Companion;
use crate::machine::outcome::Outcome;
use crate::machine::reason::Reason;
use crate::machine::state::State;
use crate::machine::word::Ticket;
use crate::machine::{Machine, Now, Refusal};
use crate::observe::events::Transition;
use crate::observe::metrics::{Counts, Metrics, WindowCounts};
use crate::observe::tap::Tap;

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
    /// is not closed). With a failure-rate [`Window`](crate::config::Window) they are counted as well,
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
        self.machine.consecutive_failures()
    }

    /// How many transitions this breaker has made (modulo 2^27); for the loom models only.
    #[cfg(protego_loom)]
    #[doc(hidden)]
    pub fn generation(&self) -> u32 {
        self.machine.generation()
    }

    /// Opens the circuit by hand: every call is rejected, with
    /// [`retry_after`](crate::Rejected::retry_after) `None`, until [`reset`](Breaker::reset).
    /// Returns `false` (and changes nothing) if it already was forced open. Outcomes of calls
    /// admitted before it count for nothing. A registry update keeps it forced open.
    ///
    /// ```
    /// use protego_breaker::{Breaker, CircuitBreaker, Config, State};
    ///
    /// let breaker = Breaker::new(Config::default());
    /// assert!(breaker.force_open());
    /// assert_eq!(breaker.state(), State::ForcedOpen);
    /// # futures::executor::block_on(async {
    /// let err = breaker.call(async { Ok::<(), ()>(()) }).await.unwrap_err();
    /// assert_eq!(err.rejected().unwrap().state(), State::ForcedOpen);
    /// assert_eq!(err.rejected().unwrap().retry_after(), None);
    /// # });
    /// assert!(breaker.reset());
    /// assert_eq!(breaker.state(), State::Closed);
    /// ```
    pub fn force_open(&self) -> bool {
        self.set_state(State::ForcedOpen, None, Reason::ForcedOpen, false)
            .is_some()
    }

    /// Switches the breaker off by hand: every call is admitted and no outcome is recorded,
    /// until [`reset`](Breaker::reset). Returns `false` if it already was disabled.
    ///
    /// ```
    /// use protego_breaker::{Breaker, CircuitBreaker, Config, State};
    ///
    /// let breaker = Breaker::new(Config::builder().failure_threshold(1).build()?);
    /// breaker.disable();
    /// # futures::executor::block_on(async {
    /// for _ in 0..10 {
    ///     assert!(!breaker.call(async { Err::<(), _>("down") }).await.unwrap_err().is_rejected());
    /// }
    /// # });
    /// assert_eq!(breaker.state(), State::Disabled);
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn disable(&self) -> bool {
        self.set_state(State::Disabled, None, Reason::Disabled, false)
            .is_some()
    }

    /// Opens the circuit by hand for `duration`, from any state: calls are rejected with an
    /// exact [`retry_after`](crate::Rejected::retry_after), and once `duration` has passed the
    /// circuit goes half-open as it would after a trip (unlike
    /// [`force_open`](Breaker::force_open), which holds until told). Opening an open circuit
    /// replaces its open period. Outcomes of calls admitted before count for nothing. A
    /// duration too long for the clock saturates (about 584 years).
    ///
    /// ```
    /// use std::time::Duration;
    /// use protego_breaker::{Breaker, CircuitBreaker, Config, ManualClock, observe::Reason, State};
    ///
    /// let clock = ManualClock::new();
    /// let breaker = Breaker::with_clock(Config::default(), clock.clone());
    /// breaker.on_transition(|t| assert_eq!(t.reason() == Reason::OpenedByHand, t.to() == State::Open));
    /// breaker.open_for(Duration::from_secs(5));
    /// # futures::executor::block_on(async {
    /// let err = breaker.call(async { Ok::<(), ()>(()) }).await.unwrap_err();
    /// assert_eq!(err.rejected().unwrap().retry_after(), Some(Duration::from_secs(5)));
    /// # });
    /// clock.advance(Duration::from_secs(5));
    /// assert_eq!(breaker.state(), State::HalfOpen);
    /// ```
    pub fn open_for(&self, duration: std::time::Duration) {
        let until = saturating_nanos(self.clock.now()).saturating_add(saturating_nanos(duration));
        self.set_state(State::Open, Some(until), Reason::OpenedByHand, true);
    }

    /// Opens the circuit by hand until `instant`, a reading of this breaker's
    /// [`clock`](Breaker::clock) (for the [`SystemClock`]: `breaker.clock().now() + delay`);
    /// then it goes half-open as usual. An instant already past opens the circuit with its
    /// open period over: the next check starts a half-open round. See
    /// [`open_for`](Breaker::open_for).
    ///
    /// ```
    /// use std::time::Duration;
    /// use protego_breaker::{Breaker, Clock, Config, ManualClock, State};
    ///
    /// let clock = ManualClock::new();
    /// let breaker = Breaker::with_clock(Config::default(), clock.clone());
    /// breaker.open_until(clock.now() + Duration::from_secs(90));
    /// assert_eq!(breaker.metrics().time_until_half_open, Some(Duration::from_secs(90)));
    /// clock.advance(Duration::from_secs(90));
    /// assert_eq!(breaker.state(), State::HalfOpen);
    /// ```
    pub fn open_until(&self, instant: std::time::Duration) {
        let until = saturating_nanos(instant);
        self.set_state(State::Open, Some(until), Reason::OpenedByHand, true);
    }

    /// Starts a half-open round by hand, from any state: `half_open_retries` trial calls are
    /// admitted and decide as usual whether the circuit closes or reopens — for an operator
    /// who knows the dependency is back and does not want to wait out the open period.
    /// Returns `false` (and changes nothing) if a round was already running.
    ///
    /// ```
    /// use protego_breaker::{Breaker, CircuitBreaker, Config, State};
    ///
    /// let breaker = Breaker::new(Config::builder().half_open_retries(1).build()?);
    /// breaker.force_open();
    /// assert!(breaker.half_open());
    /// assert_eq!(breaker.state(), State::HalfOpen);
    /// # futures::executor::block_on(async {
    /// breaker.call(async { Ok::<(), ()>(()) }).await.unwrap(); // the trial succeeds
    /// # });
    /// assert_eq!(breaker.state(), State::Closed);
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn half_open(&self) -> bool {
        self.set_state(State::HalfOpen, None, Reason::HalfOpenedByHand, false)
            .is_some()
    }

    /// Puts the breaker in [`State::MetricsOnly`], from any state: every call is admitted and
    /// counted exactly as when closed (consecutive failures, window, totals, trip rule,
    /// listeners), but the circuit never opens. Where it would have opened, listeners see a
    /// `metrics-only -> metrics-only` transition whose [`reason`](crate::observe::Transition::reason)
    /// is why (`FailureThreshold`, `FailureRate`, `SlowCallRate` or `TripRule`), and the
    /// counts start over as after a real trip. Roll a breaker out in shadow, watch what it
    /// would have done, then arm it with [`reset`](Breaker::reset). Returns `false` if it
    /// already was metrics-only.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use protego_breaker::{Breaker, CircuitBreaker, Config, observe::Reason, State};
    ///
    /// let breaker = Breaker::new(Config::builder().failure_threshold(2).build()?);
    /// let would_trip = Arc::new(Mutex::new(Vec::new()));
    /// let seen = Arc::clone(&would_trip);
    /// breaker.on_transition(move |t| {
    ///     if (t.from(), t.to()) == (State::MetricsOnly, State::MetricsOnly) {
    ///         seen.lock().unwrap().push(t.reason());
    ///     }
    /// });
    /// assert!(breaker.metrics_only());
    /// # futures::executor::block_on(async {
    /// for _ in 0..5 {
    ///     let out = breaker.call(async { Err::<(), _>("down") }).await;
    ///     assert!(!out.unwrap_err().is_rejected()); // never rejects
    /// }
    /// # });
    /// assert_eq!(breaker.state(), State::MetricsOnly);
    /// assert_eq!(*would_trip.lock().unwrap(), [Reason::FailureThreshold, Reason::FailureThreshold]);
    /// assert_eq!(breaker.consecutive_failures(), 1); // counting started over after each
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn metrics_only(&self) -> bool {
        self.set_state(State::MetricsOnly, None, Reason::MetricsOnly, false)
            .is_some()
    }

    /// Back to normal operation: Closed, with clean counts and a fresh generation (outcomes
    /// of calls admitted before count for nothing), from any state, forced or not, in one
    /// transition. Returns whether that transition replaced a state other than Closed (a reset
    /// of a closed circuit only clears its count). The answer comes from the transition itself:
    /// an open circuit whose open period has ended is replaced as Open, without first passing
    /// through half-open.
    ///
    /// ```
    /// use protego_breaker::{Breaker, CircuitBreaker, Config, State};
    ///
    /// let breaker = Breaker::new(Config::builder().failure_threshold(1).build()?);
    /// # futures::executor::block_on(async {
    /// let _ = breaker.call(async { Err::<(), _>("down") }).await;
    /// # });
    /// assert_eq!(breaker.state(), State::Open);
    /// assert!(breaker.reset());
    /// assert_eq!(breaker.state(), State::Closed);
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn reset(&self) -> bool {
        let replaced = self.set_state(State::Closed, None, Reason::Reset, true);
        replaced.is_some_and(|state| state != State::Closed)
    }

    /// Calls `listener` after every state change of this breaker: in the order the changes
    /// were made, after each is committed, outside every lock of the breaker (the listener may
    /// call the breaker, even change its state), on the thread that made the change or on
    /// one that is already delivering earlier changes. A change to the state the circuit is
    /// already in calls nothing. A panicking listener panics the call that made the change.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use protego_breaker::{Breaker, CircuitBreaker, Config, ManualClock, observe::Reason, State};
    /// use std::time::Duration;
    ///
    /// let clock = ManualClock::new();
    /// let cfg = Config::builder().failure_threshold(1).half_open_retries(1).build()?;
    /// let breaker = Breaker::with_clock(cfg, clock.clone());
    /// let log = Arc::new(Mutex::new(Vec::new()));
    /// let seen = Arc::clone(&log);
    /// breaker.on_transition(move |t| seen.lock().unwrap().push((t.from(), t.to(), t.reason())));
    ///
    /// # futures::executor::block_on(async {
    /// let _ = breaker.call(async { Err::<(), _>("down") }).await;
    /// clock.advance(Duration::from_secs(60));
    /// let _ = breaker.call(async { Ok::<_, &str>(()) }).await;
    /// # });
    /// assert_eq!(*log.lock().unwrap(), [
    ///     (State::Closed, State::Open, Reason::FailureThreshold),
    ///     (State::Open, State::HalfOpen, Reason::OpenPeriodEnded),
    ///     (State::HalfOpen, State::Closed, Reason::TrialsSucceeded),
    /// ]);
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn on_transition(&self, listener: impl Fn(&Transition) + Send + Sync + 'static) {
        self.companion()
            .listeners
            .add_transition_listener(Arc::new(listener));
    }

    /// Calls `listener` with every rejection this breaker makes, on the rejected caller's
    /// thread, before the caller gets it. Without a rejection listener a rejection calls
    /// nothing.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use protego_breaker::{Breaker, CircuitBreaker, Config};
    ///
    /// let breaker = Breaker::new(Config::default());
    /// let rejections = Arc::new(AtomicUsize::new(0));
    /// let counter = Arc::clone(&rejections);
    /// breaker.on_rejection(move |_| { counter.fetch_add(1, Ordering::Relaxed); });
    /// breaker.force_open();
    /// # futures::executor::block_on(async {
    /// let _ = breaker.call(async { Ok::<(), ()>(()) }).await;
    /// # });
    /// assert_eq!(rejections.load(Ordering::Relaxed), 1);
    /// ```
    pub fn on_rejection(&self, listener: impl Fn(&crate::Rejected) + Send + Sync + 'static) {
        self.companion()
            .listeners
            .add_rejection_listener(Arc::new(listener));
    }

    /// The value of type `T` kept with this breaker by
    /// [`insert_extension`](Breaker::insert_extension), if any.
    ///
    /// Extensions are how an integration keeps per-breaker state without the breaker knowing
    /// it: the metrics export keeps each breaker's instruments here. One value per type; use a
    /// type of your own (a newtype) as the key.
    ///
    /// ```
    /// use protego_breaker::{Breaker, Config};
    ///
    /// struct Owner(&'static str);
    ///
    /// let breaker = Breaker::new(Config::default());
    /// assert!(breaker.extension::<Owner>().is_none());
    /// breaker.insert_extension(Owner("payments team")).ok();
    /// assert_eq!(breaker.extension::<Owner>().unwrap().0, "payments team");
    /// ```
    pub fn extension<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.machine.companion_if_any()?.extensions.get()
    }

    /// Keeps `value` with this breaker, one value per type, set once: `Ok` with it, or `Err`
    /// with the value already kept (and `value` dropped). Taken off every call path: a lock
    /// in the breaker's cold companion, made on first use.
    ///
    /// # Errors
    /// `Err` with the value of type `T` already kept, if there is one.
    ///
    /// ```
    /// use protego_breaker::{Breaker, Config};
    ///
    /// struct Exported;
    ///
    /// let breaker = Breaker::new(Config::default());
    /// assert!(breaker.insert_extension(Exported).is_ok(), "the first one is kept");
    /// assert!(breaker.insert_extension(Exported).is_err(), "once per type");
    /// ```
    pub fn insert_extension<T: Any + Send + Sync>(&self, value: T) -> Result<Arc<T>, Arc<T>> {
        self.companion().extensions.insert(value)
    }

    /// Counts call totals from now on, whatever the config says now or after an update
    /// ([`Config::totals`] off no longer turns them off): what an exporter that publishes
    /// [`Metrics::totals`](crate::observe::Metrics::totals) calls, so that a config change cannot
    /// stop the counts it reports. The metrics export calls it; so may an exporter of your own.
    ///
    /// ```
    /// use protego_breaker::{Breaker, Config};
    ///
    /// let breaker = Breaker::new(Config::default());
    /// assert!(breaker.metrics().totals.is_none());
    /// breaker.keep_totals();
    /// breaker.reconfigure(Config::builder().totals(false).build()?);
    /// assert!(breaker.metrics().totals.is_some(), "kept through the update");
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn keep_totals(&self) {
        self.machine.keep_totals();
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
        }
    }

    /// Sets a custom trip rule (gobreaker's `ReadyToTrip`): from now on, `rule` alone decides
    /// when the closed circuit opens — `failure_threshold` and the window's rate thresholds no
    /// longer do. It is asked after each outcome recorded as a failure or as slow (never after
    /// a plain success, so the success path does not run it), with the [`Counts`] since the
    /// last transition (this outcome included) and, with a window, its [`WindowCounts`]. It
    /// opens the circuit with [`Reason::TripRule`](crate::observe::Reason::TripRule) (in
    /// [`State::MetricsOnly`], a would-be trip). Half-open rounds are decided as before.
    ///
    /// The rule runs on the caller's thread, under no lock of the breaker; keep it quick. A
    /// rule that panics counts as "do not trip": the panic is caught (the panic hook still
    /// reports it) and the breaker goes on. Setting a rule turns on the counts since the last
    /// transition (a few shared atomic writes per call) and sends every call down the
    /// counting path. It belongs to the breaker, not to its [`Config`]: configs stay plain
    /// data that compare, hash and load from files, and a
    /// [`reconfigure`](Breaker::reconfigure) keeps the rule.
    ///
    /// ```
    /// use protego_breaker::{Breaker, CircuitBreaker, Config, observe::Reason, State};
    ///
    /// let breaker = Breaker::new(Config::default());
    /// // gobreaker's example: at least 3 requests, and 60 % of them failed.
    /// breaker.set_trip_rule(|counts, _window| {
    ///     counts.requests >= 3 && counts.failures * 10 >= counts.requests * 6
    /// });
    /// breaker.on_transition(|t| assert_eq!(t.reason(), Reason::TripRule));
    /// # futures::executor::block_on(async {
    /// let _ = breaker.call(async { Err::<(), _>("down") }).await;
    /// let _ = breaker.call(async { Ok::<(), &str>(()) }).await;
    /// assert_eq!(breaker.state(), State::Closed); // 2 requests: not yet
    /// let _ = breaker.call(async { Err::<(), _>("down") }).await; // 2 of 3 failed
    /// # });
    /// assert_eq!(breaker.state(), State::Open);
    /// ```
    pub fn set_trip_rule(
        &self,
        rule: impl Fn(&Counts, Option<&WindowCounts>) -> bool + Send + Sync + 'static,
    ) {
        self.machine.set_trip_rule(Some(Box::new(rule)));
    }

    /// Removes the trip rule: `failure_threshold` (or the window) decides again, and the counts
    /// since the last transition are no longer kept.
    ///
    /// ```
    /// use protego_breaker::{Breaker, Config};
    ///
    /// let breaker = Breaker::new(Config::default());
    /// breaker.set_trip_rule(|_, _| true);
    /// assert!(breaker.metrics().counts.is_some());
    /// breaker.clear_trip_rule();
    /// assert!(breaker.metrics().counts.is_none());
    /// ```
    pub fn clear_trip_rule(&self) {
        self.machine.set_trip_rule(None);
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

    /// Sets the state from outside the policy (see `Machine::set`): the manual changes, and
    /// a fleet adopting the store's state. Returns the state it replaced, or `None` if nothing
    /// changed.
    pub(crate) fn set_state(
        &self,
        to: State,
        until: Option<u64>,
        reason: Reason,
        always: bool,
    ) -> Option<State> {
        self.machine.set(to, until, reason, always, &mut self.now())
    }

    /// The machine's cold-path companion, made on first use (a fleet attaches its link there).
    pub(crate) fn companion(&self) -> &Companion {
        self.machine.companion()
    }

    #[inline]
    pub(crate) fn admit(&self) -> Result<Ticket, Refusal> {
        self.machine.admit(&mut self.now())
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
