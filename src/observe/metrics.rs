//! [`Metrics`]: a snapshot of one breaker, and the striped call totals behind it.

use std::sync::OnceLock;
use std::time::Duration;

use crate::machine::outcome::Outcome;
use crate::machine::state::State;
use crate::stripes::{counting_slot, stripe_count, CachePadded, OWNED};
use crate::sync::{AtomicBool, AtomicU64, Ordering};

/// A snapshot of a breaker, from [`Breaker::metrics`](crate::Breaker::metrics).
///
/// ```
/// use protego_breaker::{Breaker, CircuitBreaker, Config, State};
///
/// let breaker = Breaker::new(Config::builder().totals(true).build()?);
/// # futures::executor::block_on(async {
/// let _ = breaker.call(async { Err::<(), _>("down") }).await;
/// # });
/// let m = breaker.metrics();
/// assert_eq!(m.state, State::Closed);
/// assert_eq!(m.consecutive_failures, 1);
/// assert_eq!(m.time_until_half_open, None);
/// let totals = m.totals.unwrap();
/// assert_eq!((totals.admitted, totals.failed), (1, 1));
/// # Ok::<(), protego_breaker::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Metrics {
    /// The state, as [`Breaker::state`](crate::Breaker::state) reports it.
    pub state: State,
    /// Consecutive failures since the circuit last closed or saw a success (0 in other states),
    /// with or without a window (see [`Breaker::consecutive_failures`](crate::Breaker::consecutive_failures)).
    pub consecutive_failures: u32,
    /// How long until an open circuit lets trial calls through; `None` unless Open.
    pub time_until_half_open: Option<Duration>,
    /// With a window: the percentage of failures among the outcomes in it, `None` without a
    /// window or while it is empty (and outside the closed state, where windows are empty).
    pub failure_rate: Option<f64>,
    /// With a window: the percentage of slow calls among the outcomes in it.
    pub slow_call_rate: Option<f64>,
    /// Call totals since counting was turned on, if [`Config::totals`](crate::Config::totals)
    /// is on or the breaker's metrics are exported (feature `metrics`).
    pub totals: Option<Totals>,
    /// Whether the breaker's fleet store is reachable: `None` when the breaker shares no state
    /// (see the `fleet` feature), `Some(false)` while it behaves as a local breaker because the
    /// store is away or the fleet's sync future is not running.
    pub fleet_online: Option<bool>,
    /// Counts since the last transition (gobreaker's `Counts`), kept while a
    /// [trip rule](crate::Breaker::set_trip_rule) is set; `None` otherwise.
    pub counts: Option<Counts>,
    /// With a window: its own numbers (resilience4j's buffered, failed, slow and slow failed
    /// calls), and its rates — or [`Rate::NotEnoughCalls`] while it holds fewer than
    /// `minimum_calls`. Empty outside the closed and metrics-only states.
    pub window: Option<WindowCounts>,
    /// While the breaker sheds overload: its limit on calls in flight (see
    /// [`Breaker::shed_limit`](crate::Breaker::shed_limit)); `None` otherwise.
    pub shed_limit: Option<u64>,
}

/// Calls since the circuit last changed state (a transition starts them over), as gobreaker
/// counts them; what a [trip rule](crate::Breaker::set_trip_rule) decides from. Kept only
/// while a trip rule is set: a few atomic writes per call that every thread shares (the call
/// [`Totals`] are counted per core instead, and cost far less under contention).
///
/// ```
/// use protego_breaker::{Breaker, CircuitBreaker, Config};
///
/// let breaker = Breaker::new(Config::default());
/// breaker.set_trip_rule(|counts, _| counts.consecutive_failures >= 3);
/// # futures::executor::block_on(async {
/// let _ = breaker.call(async { Ok::<(), &str>(()) }).await;
/// let _ = breaker.call(async { Err::<(), _>("down") }).await;
/// let _ = breaker.call(async { Err::<(), _>("down") }).await;
/// # });
/// let counts = breaker.metrics().counts.unwrap();
/// assert_eq!((counts.requests, counts.successes, counts.failures), (3, 1, 2));
/// assert_eq!((counts.consecutive_successes, counts.consecutive_failures), (0, 2));
/// # Ok::<(), protego_breaker::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Counts {
    /// Calls admitted (finished or not).
    pub requests: u64,
    /// Admitted calls classified as successes.
    pub successes: u64,
    /// Admitted calls classified as failures, panics included.
    pub failures: u64,
    /// Successes since the last failure.
    pub consecutive_successes: u64,
    /// Failures since the last success.
    pub consecutive_failures: u64,
}

/// A failure-rate window's own numbers, from [`Metrics::window`] (and given to a
/// [trip rule](crate::Breaker::set_trip_rule)). Ignored outcomes never enter a window.
///
/// ```
/// use protego_breaker::{Breaker, CircuitBreaker, Config, observe::Rate, Window};
///
/// let cfg = Config::builder().window(Window::Count(10)).minimum_calls(4).build()?;
/// let breaker = Breaker::new(cfg);
/// # futures::executor::block_on(async {
/// let _ = breaker.call(async { Err::<(), _>("down") }).await;
/// # });
/// let window = breaker.metrics().window.unwrap();
/// assert_eq!((window.calls, window.failed), (1, 1));
/// assert_eq!(window.failure_rate, Rate::NotEnoughCalls { calls: 1, minimum_calls: 4 });
/// # Ok::<(), protego_breaker::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct WindowCounts {
    /// Outcomes in the window (resilience4j's buffered calls).
    pub calls: u64,
    /// Of those, failures.
    pub failed: u64,
    /// Of those, slow calls (0 without `slow_call_duration`).
    pub slow: u64,
    /// Of those, calls both slow and failed.
    pub slow_failed: u64,
    /// The failure rate, once the window holds `minimum_calls` outcomes.
    pub failure_rate: Rate,
    /// The slow-call rate, likewise.
    pub slow_call_rate: Rate,
}

/// A rate over a window, or why there is none yet.
///
/// ```
/// use protego_breaker::observe::Rate;
///
/// assert_eq!(Rate::Percent(25.0).percent(), Some(25.0));
/// assert_eq!(Rate::NotEnoughCalls { calls: 3, minimum_calls: 10 }.percent(), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Rate {
    /// The window holds fewer outcomes than `minimum_calls`: no rate is computed, and none
    /// can open the circuit (resilience4j reports -1 here).
    NotEnoughCalls {
        /// Outcomes in the window.
        calls: u64,
        /// How many it needs.
        minimum_calls: u32,
    },
    /// The rate, in percent.
    Percent(f64),
}

impl Rate {
    /// The rate in percent, if there is one.
    ///
    /// ```
    /// assert_eq!(protego_breaker::observe::Rate::Percent(50.0).percent(), Some(50.0));
    /// ```
    pub fn percent(self) -> Option<f64> {
        match self {
            Rate::Percent(p) => Some(p),
            Rate::NotEnoughCalls { .. } => None,
        }
    }

    pub(crate) fn of(part: u64, calls: u64, minimum_calls: u32) -> Rate {
        if calls == 0 || calls < u64::from(minimum_calls) {
            return Rate::NotEnoughCalls {
                calls,
                minimum_calls,
            };
        }
        // Counts of at most a few million: exact in f64.
        #[allow(clippy::cast_precision_loss)]
        let rate = part as f64 * 100.0 / calls as f64;
        Rate::Percent(rate)
    }
}

impl WindowCounts {
    pub(crate) fn new(calls: u64, failed: u64, slow: u64, slow_failed: u64, minimum: u32) -> Self {
        WindowCounts {
            calls,
            failed,
            slow,
            slow_failed: slow_failed.min(failed).min(slow),
            failure_rate: Rate::of(failed, calls, minimum),
            slow_call_rate: Rate::of(slow, calls, minimum),
        }
    }
}

/// How many calls a breaker has seen, by fate. Exact under concurrency: no increment is ever
/// lost. A snapshot adds up per-thread-group counters one after the other, so calls finishing
/// while it is taken may be in some fields and not yet in others.
///
/// ```
/// let totals = protego_breaker::observe::Totals::default();
/// assert_eq!(totals.admitted, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Totals {
    /// Calls let through (admitted calls end as succeeded, failed or ignored, or are still
    /// running).
    pub admitted: u64,
    /// Calls refused without running.
    pub rejected: u64,
    /// Admitted calls classified as successes.
    pub succeeded: u64,
    /// Admitted calls classified as failures, panics included.
    pub failed: u64,
    /// Admitted calls classified as ignored, cancellations included.
    pub ignored: u64,
    /// Admitted calls that took at least `slow_call_duration`, whatever their outcome and
    /// state: half-open trials, calls that finish after a transition, ignored and cancelled
    /// calls too (counted only with a window and slow calls on).
    pub slow: u64,
    /// Of the `rejected` calls, those refused by overload shedding (a closed circuit at its
    /// limit on calls in flight, see [`Breaker::shed_limit`](crate::Breaker::shed_limit)); the
    /// rest were refused by an open, half-open or forced-open circuit, or an admission gate
    /// such as the adaptive throttle.
    pub shed: u64,
}

const ADMITTED: usize = 0;
const REJECTED: usize = 1;
const SUCCEEDED: usize = 2;
const FAILED: usize = 3;
const IGNORED: usize = 4;
const SLOW: usize = 5;
const SHED: usize = 6;
/// How many counters a stripe holds.
const KINDS: usize = 7;

/// One thread group's counters, on cache lines of their own: the cells its owner thread bumps
/// with plain stores, and the cells threads sharing it bump with read-modify-writes (see
/// [`counting_slot`]). A total is the sum of both over every stripe.
struct Stripe {
    owned: [AtomicU64; KINDS],
    shared: [AtomicU64; KINDS],
}

/// Counters bumped by every call when on: one stripe per thread group, so that threads on
/// different cores write different cache lines. Allocated when first turned on.
pub(crate) struct Counters {
    on: AtomicBool,
    /// Boxed twice: a thin pointer keeps the breaker within three cache lines.
    stripes: OnceLock<Box<Box<[CachePadded<Stripe>]>>>,
}

impl Counters {
    pub(crate) fn new(on: bool) -> Self {
        let stripes = OnceLock::new();
        if on {
            // Made now when asked for from the start, so no call pays for it.
            let _ = stripes.set(Self::make());
        }
        Counters {
            on: AtomicBool::new(on),
            stripes,
        }
    }

    #[allow(clippy::unnecessary_box_returns)] // a thin pointer, see `stripes`
    fn make() -> Box<Box<[CachePadded<Stripe>]>> {
        let zeros = || std::array::from_fn(|_| AtomicU64::new(0));
        Box::new(
            (0..stripe_count())
                .map(|_| {
                    CachePadded(Stripe {
                        owned: zeros(),
                        shared: zeros(),
                    })
                })
                .collect(),
        )
    }

    pub(crate) fn set_on(&self, on: bool) {
        if on {
            // Made before counting starts, so that no call has to.
            let _ = self.stripes.get_or_init(Self::make);
        }
        self.on.store(on, Ordering::Relaxed);
    }

    /// Adds one to `counter` in this thread's stripe: inlined, with a plain load and store
    /// when the thread owns the stripe (it is the cell's only writer, so nothing is lost).
    #[inline]
    fn bump(&self, counter: usize) {
        if !self.on.load(Ordering::Relaxed) {
            return;
        }
        let Some(stripes) = self.stripes.get() else {
            return;
        };
        let slot = counting_slot();
        let stripe = &stripes[(slot >> 1) & (stripes.len() - 1)];
        if slot & OWNED != 0 {
            let cell = &stripe.owned[counter];
            cell.store(
                cell.load(Ordering::Relaxed).wrapping_add(1),
                Ordering::Relaxed,
            );
        } else {
            stripe.shared[counter].fetch_add(1, Ordering::Relaxed);
        }
    }

    #[inline]
    pub(crate) fn admitted(&self) {
        self.bump(ADMITTED);
    }

    #[inline]
    pub(crate) fn rejected(&self) {
        self.bump(REJECTED);
    }

    #[inline]
    pub(crate) fn finished(&self, outcome: Outcome) {
        self.bump(match outcome {
            Outcome::Success => SUCCEEDED,
            Outcome::Failure | Outcome::Overload => FAILED,
            Outcome::Ignored => IGNORED,
        });
    }

    #[inline]
    pub(crate) fn slow(&self) {
        self.bump(SLOW);
    }

    /// A call refused by overload shedding (counted as rejected too).
    #[inline]
    pub(crate) fn shed(&self) {
        self.bump(SHED);
    }

    /// The sums, or `None` when counting is off.
    pub(crate) fn totals(&self) -> Option<Totals> {
        if !self.on.load(Ordering::Relaxed) {
            return None;
        }
        let mut sums = [0u64; KINDS];
        for stripe in self.stripes.get().map_or(&[][..], |s| &s[..][..]) {
            for (sum, (owned, shared)) in sums
                .iter_mut()
                .zip(stripe.owned.iter().zip(stripe.shared.iter()))
            {
                let count = owned.load(Ordering::Relaxed);
                *sum = sum
                    .wrapping_add(count)
                    .wrapping_add(shared.load(Ordering::Relaxed));
            }
        }
        Some(Totals {
            admitted: sums[ADMITTED],
            rejected: sums[REJECTED],
            succeeded: sums[SUCCEEDED],
            failed: sums[FAILED],
            ignored: sums[IGNORED],
            slow: sums[SLOW],
            shed: sums[SHED],
        })
    }
}
