//! Manual control: the operator's state changes (force open, disable, open for a time, start a
//! half-open round, metrics-only, reset), and the one entry point they share with a fleet
//! adopting the store's state (`set_state`, over `Machine::set`).

use super::Breaker;
use crate::clock::Clock;
use crate::config::saturating_nanos;
use crate::machine::reason::Reason;
use crate::machine::state::State;

impl<C: Clock> Breaker<C> {
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
        // One reading: the deadline's and the transition's start are the same instant.
        let mut now = self.now();
        let until = now.get().saturating_add(saturating_nanos(duration));
        self.machine.set(
            State::Open,
            Some(until),
            Reason::OpenedByHand,
            true,
            &mut now,
        );
    }

    /// Opens the circuit by hand until `instant`, a reading of this breaker's
    /// [`clock`](Breaker::clock) (for the [`SystemClock`](crate::SystemClock): `breaker.clock().now() + delay`);
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
}
