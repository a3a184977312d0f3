//! The one list of knobs. Every place a knob is named — [`Config`](super::Config)'s field and
//! getter, [`ConfigBuilder`](super::ConfigBuilder)'s setter, the name a
//! [`ConfigError`](crate::ConfigError) reports, the keys of the serde config file — is made
//! from this list. A new knob is one entry here plus its semantics: its check in
//! `ConfigBuilder::build` and what the state machine does with it.
//!
//! Each entry: `name: type = default, set argument-type, get { getter docs } set { setter docs }`.
//! Optional knobs have an `Option` type and a setter that takes the value.

/// Calls `$then!` with the list.
macro_rules! knobs {
    ($then:ident) => {
        $then! {
        failure_threshold: u32 = 3, set u32,
        get {
            /// Consecutive failures in the Closed state that open the circuit (at least 1).
            ///
            /// ```
            /// assert_eq!(protego_breaker::Config::default().failure_threshold(), 3);
            /// ```
        }
        set {
            /// Sets [`failure_threshold`](Config::failure_threshold); must be at least 1.
            ///
            /// ```
            /// let cfg = protego_breaker::Config::builder().failure_threshold(1).build()?;
            /// assert_eq!(cfg.failure_threshold(), 1);
            /// # Ok::<(), protego_breaker::ConfigError>(())
            /// ```
        };
        reset_timeout: Duration = Duration::from_secs(60), set Duration,
        get {
            /// How long the circuit stays Open before it lets trial calls through (more than zero). Also,
            /// unless [`max_half_open_duration`](Config::max_half_open_duration) is set, how long a
            /// half-open round may go undecided before it is replaced by a fresh one.
            ///
            /// ```
            /// use std::time::Duration;
            ///
            /// assert_eq!(protego_breaker::Config::default().reset_timeout(), Duration::from_secs(60));
            /// ```
        }
        set {
            /// Sets [`reset_timeout`](Config::reset_timeout); must be more than zero. Any larger value is accepted,
            /// [`Duration::MAX`] included; time is kept in `u64` nanoseconds, so a timeout past about
            /// 584 years behaves as 584 years.
            ///
            /// ```
            /// use std::time::Duration;
            ///
            /// let cfg = protego_breaker::Config::builder().reset_timeout(Duration::from_millis(250)).build()?;
            /// assert_eq!(cfg.reset_timeout(), Duration::from_millis(250));
            /// # Ok::<(), protego_breaker::ConfigError>(())
            /// ```
        };
        half_open_retries: u32 = 2, set u32,
        get {
            /// Trial calls admitted per half-open round; that many successes close the circuit (1 to
            /// [`MAX_HALF_OPEN_RETRIES`](Config::MAX_HALF_OPEN_RETRIES)).
            ///
            /// ```
            /// assert_eq!(protego_breaker::Config::default().half_open_retries(), 2);
            /// ```
        }
        set {
            /// Sets [`half_open_retries`](Config::half_open_retries); must be from 1 to
            /// [`Config::MAX_HALF_OPEN_RETRIES`].
            ///
            /// ```
            /// let cfg = protego_breaker::Config::builder().half_open_retries(5).build()?;
            /// assert_eq!(cfg.half_open_retries(), 5);
            /// # Ok::<(), protego_breaker::ConfigError>(())
            /// ```
        };
        initial_state: State = State::Closed, set State,
        get {
            /// The state a breaker starts in when it is made: [`State::Closed`] (the default),
            /// [`State::Open`] (for `reset_timeout` from its creation, then half-open as usual),
            /// [`State::ForcedOpen`], [`State::Disabled`] or [`State::MetricsOnly`] — a replica
            /// that must not send traffic until told, or a new breaker rolled out in shadow. It
            /// applies at creation only: [`reconfigure`](crate::Breaker::reconfigure) and a
            /// registry update never change the state by themselves.
            ///
            /// ```
            /// use protego_breaker::{Breaker, Config, State};
            ///
            /// let cfg = Config::builder().initial_state(State::ForcedOpen).build()?;
            /// let breaker = Breaker::new(cfg);
            /// assert_eq!(breaker.state(), State::ForcedOpen);
            /// assert!(breaker.reset()); // told: traffic may flow
            /// assert_eq!(breaker.state(), State::Closed);
            /// # Ok::<(), protego_breaker::ConfigError>(())
            /// ```
        }
        set {
            /// Sets [`initial_state`](Config::initial_state): any state but
            /// [`State::HalfOpen`] (a round is started by hand with
            /// [`Breaker::half_open`](crate::Breaker::half_open)).
            ///
            /// ```
            /// use protego_breaker::{Config, State};
            ///
            /// assert_eq!(Config::builder().initial_state(State::Open).build()?.initial_state(), State::Open);
            /// let err = Config::builder().initial_state(State::HalfOpen).build().unwrap_err();
            /// assert_eq!(err.knob(), "initial_state");
            /// # Ok::<(), protego_breaker::ConfigError>(())
            /// ```
        };
        half_open_by_rate: bool = false, set bool,
        get {
            /// How a half-open round is decided. Off (the default): every trial must succeed —
            /// the first failure reopens the circuit, `half_open_retries` successes close it.
            /// On (resilience4j's rule): all `half_open_retries` trials run to an outcome, then
            /// the circuit opens if their failure rate reached
            /// [`failure_rate_threshold`](Config::failure_rate_threshold) (or, with slow calls,
            /// their slow-call rate reached
            /// [`slow_call_rate_threshold`](Config::slow_call_rate_threshold)), and closes
            /// otherwise. Ignored and cancelled trials give their slot back and count for
            /// nothing, as always. A breaker sharing its state with a fleet decides rounds by
            /// the fleet's rule.
            ///
            /// ```
            /// use std::time::Duration;
            /// use protego_breaker::{Breaker, CircuitBreaker, Config, ManualClock, State};
            ///
            /// let cfg = Config::builder()
            ///     .failure_threshold(1)
            ///     .half_open_retries(4)
            ///     .half_open_by_rate(true)
            ///     .failure_rate_threshold(50)
            ///     .build()?;
            /// let clock = ManualClock::new();
            /// let breaker = Breaker::with_clock(cfg, clock.clone());
            /// # futures::executor::block_on(async {
            /// let _ = breaker.call(async { Err::<(), _>("down") }).await;
            /// clock.advance(Duration::from_secs(60));
            /// for ok in [true, false, true, true] {
            ///     let _ = breaker.call(async move { if ok { Ok(()) } else { Err("down") } }).await;
            /// }
            /// # });
            /// assert_eq!(breaker.state(), State::Closed); // 1 of 4 failed: 25 % < 50 %
            /// # Ok::<(), protego_breaker::ConfigError>(())
            /// ```
        }
        set {
            /// Sets [`half_open_by_rate`](Config::half_open_by_rate).
            ///
            /// ```
            /// assert!(protego_breaker::Config::builder().half_open_by_rate(true).build()?.half_open_by_rate());
            /// # Ok::<(), protego_breaker::ConfigError>(())
            /// ```
        };
        max_half_open_duration: Option<Duration> = None, set Duration,
        get {
            /// How long a half-open round may go undecided before it is replaced by a fresh one
            /// (its trials' outcomes then count for nothing); `None` (the default) for
            /// `reset_timeout`.
            ///
            /// ```
            /// use std::time::Duration;
            /// use protego_breaker::{Breaker, CircuitBreaker, Config, ManualClock, State};
            ///
            /// let cfg = Config::builder()
            ///     .half_open_retries(1)
            ///     .max_half_open_duration(Duration::from_secs(5))
            ///     .build()?;
            /// let clock = ManualClock::new();
            /// let breaker = Breaker::with_clock(cfg, clock.clone());
            /// breaker.half_open();
            /// let hung = breaker.try_acquire().unwrap(); // the round's one trial, never finished
            /// assert!(breaker.try_acquire().is_err());
            /// clock.advance(Duration::from_secs(5));
            /// assert!(breaker.try_acquire().is_ok(), "a fresh round after 5 s, not 60");
            /// # drop(hung);
            /// # Ok::<(), protego_breaker::ConfigError>(())
            /// ```
        }
        set {
            /// Sets [`max_half_open_duration`](Config::max_half_open_duration): more than zero.
            ///
            /// ```
            /// use std::time::Duration;
            ///
            /// let err = protego_breaker::Config::builder().max_half_open_duration(Duration::ZERO).build().unwrap_err();
            /// assert_eq!(err.knob(), "max_half_open_duration");
            /// ```
        };
        backoff_multiplier: f64 = 1.0, set f64,
        get {
            /// How much longer each consecutive open period gets when a half-open trial fails and the
            /// circuit reopens: the `n`-th reopen since the circuit last closed stays open for
            /// `reset_timeout * backoff_multiplier^n`, capped at
            /// [`max_reset_timeout`](Config::max_reset_timeout). 1.0 (the default) keeps every open
            /// period at `reset_timeout`. Kept to three decimals.
            ///
            /// ```
            /// use std::time::Duration;
            /// use protego_breaker::{Breaker, CircuitBreaker, Config, ManualClock, State};
            ///
            /// let cfg = Config::builder()
            ///     .failure_threshold(1)
            ///     .reset_timeout(Duration::from_secs(10))
            ///     .half_open_retries(1)
            ///     .backoff_multiplier(2.0)
            ///     .max_reset_timeout(Duration::from_secs(30))
            ///     .build()?;
            /// assert_eq!(cfg.backoff_multiplier(), 2.0);
            ///
            /// let clock = ManualClock::new();
            /// let breaker = Breaker::with_clock(cfg, clock.clone());
            /// # futures::executor::block_on(async {
            /// let fail = || async { Err::<(), _>("down") };
            /// let _ = breaker.call(fail()).await; // opens for 10 s
            /// for expected in [20, 30, 30] {
            ///     clock.advance(Duration::from_secs(10));
            ///     while breaker.state() == State::Open {
            ///         clock.advance(Duration::from_secs(10));
            ///     }
            ///     let _ = breaker.call(fail()).await; // the trial fails: reopens, for longer
            ///     let rejected = breaker.call(fail()).await.unwrap_err();
            ///     assert_eq!(rejected.rejected().unwrap().retry_after(), Some(Duration::from_secs(expected)));
            /// }
            /// # });
            /// # Ok::<(), protego_breaker::ConfigError>(())
            /// ```
        }
        set {
            /// Sets [`backoff_multiplier`](Config::backoff_multiplier): a finite number from 1 to
            /// 1000.
            ///
            /// ```
            /// use protego_breaker::{Config, ConfigError};
            ///
            /// assert_eq!(Config::builder().backoff_multiplier(1.5).build()?.backoff_multiplier(), 1.5);
            /// let err = Config::builder().backoff_multiplier(0.5).build().unwrap_err();
            /// assert_eq!(err.knob(), "backoff_multiplier");
            /// assert!(Config::builder().backoff_multiplier(f64::NAN).build().is_err());
            /// # Ok::<(), ConfigError>(())
            /// ```
        };
        max_reset_timeout: Option<Duration> = None, set Duration,
        get {
            /// The cap on an open period grown by backoff; `Duration::MAX` (the default) for none.
            ///
            /// ```
            /// use std::time::Duration;
            /// use protego_breaker::Config;
            ///
            /// assert_eq!(Config::default().max_reset_timeout(), None);
            /// let capped = Config::builder().max_reset_timeout(Duration::from_secs(300)).build()?;
            /// assert_eq!(capped.max_reset_timeout(), Some(Duration::from_secs(300)));
            /// # Ok::<(), protego_breaker::ConfigError>(())
            /// ```
        }
        set {
            /// Sets [`max_reset_timeout`](Config::max_reset_timeout): at least `reset_timeout`.
            ///
            /// ```
            /// use std::time::Duration;
            /// use protego_breaker::Config;
            ///
            /// let err = Config::builder()
            ///     .reset_timeout(Duration::from_secs(60))
            ///     .max_reset_timeout(Duration::from_secs(30))
            ///     .build()
            ///     .unwrap_err();
            /// assert_eq!(err.knob(), "max_reset_timeout");
            /// ```
        };
        jitter: f64 = 0.0, set f64,
        get {
            /// Up to which fraction of an open period is cut off at random, so that clients that
            /// opened together do not all retry together. 0.0 (the default) for none; the period is
            /// only ever shortened, so `max_reset_timeout` stays an upper bound. Kept to three
            /// decimals.
            ///
            /// ```
            /// use std::time::Duration;
            /// use protego_breaker::{Breaker, CircuitBreaker, Config, ManualClock};
            ///
            /// let cfg = Config::builder()
            ///     .failure_threshold(1)
            ///     .reset_timeout(Duration::from_secs(100))
            ///     .jitter(0.2)
            ///     .jitter_seed(7)
            ///     .build()?;
            /// let breaker = Breaker::with_clock(cfg, ManualClock::new());
            /// # futures::executor::block_on(async {
            /// let _ = breaker.call(async { Err::<(), _>("down") }).await;
            /// let err = breaker.call(async { Ok::<(), &str>(()) }).await.unwrap_err();
            /// let wait = err.rejected().unwrap().retry_after().unwrap();
            /// assert!(wait > Duration::from_secs(80) && wait <= Duration::from_secs(100));
            /// # });
            /// # Ok::<(), protego_breaker::ConfigError>(())
            /// ```
        }
        set {
            /// Sets [`jitter`](Config::jitter): a fraction from 0 to 1.
            ///
            /// ```
            /// use protego_breaker::Config;
            ///
            /// assert_eq!(Config::builder().jitter(0.25).build()?.jitter(), 0.25);
            /// assert_eq!(Config::builder().jitter(1.5).build().unwrap_err().knob(), "jitter");
            /// # Ok::<(), protego_breaker::ConfigError>(())
            /// ```
        };
        jitter_seed: Option<u64> = None, set u64,
        get {
            /// The seed of the jitter's random draws, if one was set: the same seed and the same
            /// calls give the same open periods. Without one, each breaker seeds itself at random.
            ///
            /// ```
            /// let cfg = protego_breaker::Config::builder().jitter(0.5).jitter_seed(42).build()?;
            /// assert_eq!(cfg.jitter_seed(), Some(42));
            /// # Ok::<(), protego_breaker::ConfigError>(())
            /// ```
        }
        set {
            /// Sets [`jitter_seed`](Config::jitter_seed).
            ///
            /// ```
            /// let cfg = protego_breaker::Config::builder().jitter_seed(1).build()?;
            /// assert_eq!(cfg.jitter_seed(), Some(1));
            /// # Ok::<(), protego_breaker::ConfigError>(())
            /// ```
        };
        window: Option<Window> = None, set Window,
        get {
            /// The failure-rate window, if the circuit opens on a failure rate; `None` (the default)
            /// for Protego's rule, `failure_threshold` consecutive failures. With a window,
            /// `failure_threshold` is not used: after every outcome in the closed state the circuit
            /// opens when the window holds at least [`minimum_calls`](Config::minimum_calls) outcomes
            /// and failures make up at least
            /// [`failure_rate_threshold`](Config::failure_rate_threshold) percent of them (or slow calls
            /// [`slow_call_rate_threshold`](Config::slow_call_rate_threshold) percent). Ignored outcomes
            /// do not enter the window. Every transition empties it. Half-open works as without one.
            ///
            /// A count window costs a few shared atomic writes per call; a time window also reads the
            /// clock and sums its buckets. Neither takes a lock.
            ///
            /// ```
            /// use protego_breaker::{Breaker, CircuitBreaker, Config, ManualClock, State, Window};
            ///
            /// let cfg = Config::builder()
            ///     .window(Window::Count(10))
            ///     .failure_rate_threshold(50)
            ///     .minimum_calls(4)
            ///     .build()?;
            /// let breaker = Breaker::with_clock(cfg, ManualClock::new());
            /// # futures::executor::block_on(async {
            /// for ok in [true, false, true, false] {
            ///     let _ = breaker.call(async move { if ok { Ok(()) } else { Err("down") } }).await;
            /// }
            /// # });
            /// assert_eq!(breaker.state(), State::Open); // 2 of 4 failed: 50 %
            /// # Ok::<(), protego_breaker::ConfigError>(())
            /// ```
        }
        set {
            /// Sets [`window`](Config::window).
            ///
            /// ```
            /// use protego_breaker::{Config, Window};
            ///
            /// assert!(Config::builder().window(Window::Count(0)).build().is_err());
            /// assert!(Config::builder().window(Window::Count(50)).minimum_calls(50).build().is_ok());
            /// ```
        };
        failure_rate_threshold: u8 = 50, set u8,
        get {
            /// With a window: the failure rate, in percent (1 to 100), that opens the circuit.
            ///
            /// ```
            /// assert_eq!(protego_breaker::Config::default().failure_rate_threshold(), 50);
            /// ```
        }
        set {
            /// Sets [`failure_rate_threshold`](Config::failure_rate_threshold), in percent.
            ///
            /// ```
            /// assert_eq!(protego_breaker::Config::builder().failure_rate_threshold(0).build().unwrap_err().knob(), "failure_rate_threshold");
            /// ```
        };
        minimum_calls: u32 = 10, set u32,
        get {
            /// With a window: how many outcomes it must hold before a rate can open the circuit
            /// (at least 1, and for a count window at most its size).
            ///
            /// ```
            /// assert_eq!(protego_breaker::Config::default().minimum_calls(), 10);
            /// ```
        }
        set {
            /// Sets [`minimum_calls`](Config::minimum_calls).
            ///
            /// ```
            /// use protego_breaker::{Config, Window};
            ///
            /// let err = Config::builder().window(Window::Count(10)).minimum_calls(11).build().unwrap_err();
            /// assert_eq!(err.knob(), "minimum_calls");
            /// ```
        };
        slow_call_duration: Option<Duration> = None, set Duration,
        get {
            /// With a window: how long an admitted call may take before it counts as slow, by the
            /// breaker's clock; `None` (the default) for no slow-call tracking. The clock is read at
            /// admission and completion only when this is set. A slow call still counts as a success
            /// or failure as well.
            ///
            /// ```
            /// use std::time::Duration;
            /// use protego_breaker::{Breaker, Config, ManualClock, State, Window};
            ///
            /// let cfg = Config::builder()
            ///     .window(Window::Count(10))
            ///     .minimum_calls(2)
            ///     .slow_call_duration(Duration::from_secs(2))
            ///     .slow_call_rate_threshold(100)
            ///     .build()?;
            /// let clock = ManualClock::new();
            /// let breaker = Breaker::with_clock(cfg, clock.clone());
            /// # use protego_breaker::CircuitBreaker;
            /// # futures::executor::block_on(async {
            /// for _ in 0..2 {
            ///     let slow = async { clock.advance(Duration::from_secs(3)); Ok::<_, ()>(()) };
            ///     breaker.call(slow).await.unwrap();
            /// }
            /// # });
            /// assert_eq!(breaker.state(), State::Open); // every call was slow
            /// # Ok::<(), protego_breaker::ConfigError>(())
            /// ```
        }
        set {
            /// Sets [`slow_call_duration`](Config::slow_call_duration); it needs a window.
            ///
            /// ```
            /// use std::time::Duration;
            /// use protego_breaker::Config;
            ///
            /// let err = Config::builder().slow_call_duration(Duration::from_secs(1)).build().unwrap_err();
            /// assert_eq!(err.knob(), "slow_call_duration");
            /// ```
        };
        slow_call_rate_threshold: u8 = 100, set u8,
        get {
            /// With slow calls: the slow-call rate, in percent (1 to 100), that opens the circuit.
            ///
            /// ```
            /// assert_eq!(protego_breaker::Config::default().slow_call_rate_threshold(), 100);
            /// ```
        }
        set {
            /// Sets [`slow_call_rate_threshold`](Config::slow_call_rate_threshold), in percent.
            ///
            /// ```
            /// assert!(protego_breaker::Config::builder().slow_call_rate_threshold(101).build().is_err());
            /// ```
        };
        totals: bool = false, set bool,
        get {
            /// Whether the breaker counts every call (admitted, rejected, succeeded, failed, ignored)
            /// for [`Breaker::metrics`](crate::Breaker::metrics). Off by default: counting is two
            /// writes per call on top of a closed success path that otherwise writes nothing (about
            /// 2 ns: a plain store each, on a cache line the calling thread owns). The counters are
            /// per core (while no more threads count than there are cores, no cache line is written
            /// by two of them), allocated when counting is turned on.
            ///
            /// ```
            /// use protego_breaker::{Breaker, Config};
            ///
            /// assert!(!Config::default().totals());
            /// let breaker = Breaker::new(Config::builder().totals(true).build()?);
            /// assert_eq!(breaker.metrics().totals.unwrap().admitted, 0);
            /// # Ok::<(), protego_breaker::ConfigError>(())
            /// ```
        }
        set {
            /// Sets [`totals`](Config::totals).
            ///
            /// ```
            /// assert!(protego_breaker::Config::builder().totals(true).build()?.totals());
            /// # Ok::<(), protego_breaker::ConfigError>(())
            /// ```
        };
        shed_overload: bool = true, set bool,
        get {
            /// Whether a closed circuit sheds [overload](crate::call::Outcome::Overload) rather than
            /// opening on it (on by default): it lets through as many calls at once as the
            /// downstream completes, refuses the rest at once, and grows back as completions grow.
            /// It starts at the first overload, or sooner when successes slow down (see
            /// [`shed_latency_factor`](Config::shed_latency_factor)). See `ARCHITECTURE.md`, "Overload is not an
            /// outage".
            /// ```
            /// assert!(protego_breaker::Config::default().shed_overload());
            /// ```
        }
        set {
            /// Sets [`shed_overload`](Config::shed_overload); off, an overload is a failure.
            /// ```
            /// assert!(!protego_breaker::Config::builder().shed_overload(false).build()?.shed_overload());
            /// # Ok::<(), protego_breaker::ConfigError>(())
            /// ```
        };
        shed_backoff: f64 = 0.9, set f64,
        get {
            /// While shedding: what an overload multiplies the calls in flight by to make the new
            /// limit on them (above 0, below 1; 0.9 by default, as Netflix's `AIMDLimit`), at most
            /// once per tenth of [`shed_window`](Config::shed_window). Each success adds one call
            /// per limit's worth of successes (one per success before the first cut: slow start),
            /// but none that took over four times the episode's fastest success (it queued).
            /// Kept to three decimals.
            /// ```
            /// assert_eq!(protego_breaker::Config::default().shed_backoff(), 0.9);
            /// ```
        }
        set {
            /// Sets [`shed_backoff`](Config::shed_backoff).
            /// ```
            /// assert_eq!(protego_breaker::Config::builder().shed_backoff(1.0).build().unwrap_err().knob(), "shed_backoff");
            /// ```
        };
        shed_window: Duration = Duration::from_secs(1), set Duration,
        get {
            /// How long shedding goes on once overloads and refusals stop (10 ms to 10 min; 1 s by
            /// default; keep it above the calls' timeout); a tenth of it is the least time between
            /// two cuts of the limit.
            /// ```
            /// assert_eq!(protego_breaker::Config::default().shed_window(), std::time::Duration::from_secs(1));
            /// ```
        }
        set {
            /// Sets [`shed_window`](Config::shed_window).
            /// ```
            /// # use std::time::Duration;
            /// assert_eq!(protego_breaker::Config::builder().shed_window(Duration::ZERO).build().unwrap_err().knob(), "shed_window");
            /// ```
        };
        shed_latency_factor: f64 = 3.0, set f64,
        get {
            /// How many times slower than their usual latency successes must come back, four in a
            /// row, for overload shedding to start before any overload is heard (3 by default;
            /// 0 turns it off, else from 1.5 to 100). The usual latency is the moving mean of a
            /// sample of the closed calls (every call at low rates, about one per 20 µs a thread
            /// at high ones) and counts as at least 10 ms (below it, a rise cannot be told from the
            /// caller's own executor queueing). A queue building in front of a dependency
            /// whose capacity fell is heard within a few completions, where the first timeout
            /// comes one timeout later. Kept to three decimals.
            /// ```
            /// assert_eq!(protego_breaker::Config::default().shed_latency_factor(), 3.0);
            /// ```
        }
        set {
            /// Sets [`shed_latency_factor`](Config::shed_latency_factor).
            /// ```
            /// let off = protego_breaker::Config::builder().shed_latency_factor(0.0).build()?;
            /// assert_eq!(off.shed_latency_factor(), 0.0);
            /// assert_eq!(protego_breaker::Config::builder().shed_latency_factor(1.0).build().unwrap_err().knob(), "shed_latency_factor");
            /// # Ok::<(), protego_breaker::ConfigError>(())
            /// ```
        };
        shed_outage_after: Duration = Duration::from_secs(5), set Duration,
        get {
            /// How long overloads may go on with no call completing before they count as failures
            /// towards opening the circuit (above zero; 5 s by default): an outage that answers
            /// with timeouts still opens it.
            /// ```
            /// assert_eq!(protego_breaker::Config::default().shed_outage_after(), std::time::Duration::from_secs(5));
            /// ```
        }
        set {
            /// Sets [`shed_outage_after`](Config::shed_outage_after).
            /// ```
            /// # use std::time::Duration;
            /// assert_eq!(protego_breaker::Config::builder().shed_outage_after(Duration::ZERO).build().unwrap_err().knob(), "shed_outage_after");
            /// ```
        };
        }
    };
}

pub(crate) use knobs;
