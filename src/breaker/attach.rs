//! What attaches to a breaker without the breaker knowing it: transition and rejection
//! listeners, a trip rule, integrations' extensions, and totals kept for an exporter. All of it
//! lives in the machine's cold-path companion, made on first use.

use std::any::Any;
use std::sync::Arc;

use super::Breaker;
use crate::clock::Clock;
use crate::machine::companion::Companion;
use crate::observe::events::Transition;
use crate::observe::metrics::{Counts, WindowCounts};

impl<C: Clock> Breaker<C> {
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
    /// A refusal by the circuit has state `Open`, `HalfOpen` or `ForcedOpen`; a call refused
    /// by overload shedding (or by an admission gate such as the adaptive throttle) has state
    /// `Closed` and no `retry_after`. The totals count shedding's refusals apart
    /// ([`Totals::shed`](crate::observe::Totals::shed)).
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
    /// ([`Config::totals`](crate::Config::totals) off no longer turns them off): what an exporter that publishes
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

    /// Sets a custom trip rule (gobreaker's `ReadyToTrip`): from now on, `rule` alone decides
    /// when the closed circuit opens — `failure_threshold` and the window's rate thresholds no
    /// longer do. It is asked after each outcome recorded as a failure or as slow (never after
    /// a plain success, so the success path does not run it), with the [`Counts`] since the
    /// last transition (this outcome included) and, with a window, its [`WindowCounts`]. It
    /// opens the circuit with [`Reason::TripRule`](crate::observe::Reason::TripRule) (in
    /// [`State::MetricsOnly`](crate::State::MetricsOnly), a would-be trip). Half-open rounds are decided as before.
    ///
    /// The rule runs on the caller's thread, under no lock of the breaker; keep it quick. A
    /// rule that panics counts as "do not trip": the panic is caught (the panic hook still
    /// reports it) and the breaker goes on. Setting a rule turns on the counts since the last
    /// transition (a few shared atomic writes per call) and sends every call down the
    /// counting path. It belongs to the breaker, not to its [`Config`](crate::Config): configs stay plain
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

    /// The machine's cold-path companion, made on first use (a fleet attaches its link there).
    pub(crate) fn companion(&self) -> &Companion {
        self.machine.companion()
    }
}
