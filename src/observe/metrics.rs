//! [`Metrics`]: a snapshot of one breaker, and the striped call totals behind it.

use std::sync::OnceLock;
use std::time::Duration;

use crate::call::classify::Outcome;
use crate::machine::state::State;
use crate::stripes::{stripe_count, thread_number, CachePadded};
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
    /// Consecutive failures counted in the current closed stretch (0 in other states).
    pub consecutive_failures: u32,
    /// How long until an open circuit lets trial calls through; `None` unless Open.
    pub time_until_half_open: Option<Duration>,
    /// With a window: the percentage of failures among the outcomes in it, `None` without a
    /// window or while it is empty (and outside the closed state, where windows are empty).
    pub failure_rate: Option<f64>,
    /// With a window: the percentage of slow calls among the outcomes in it.
    pub slow_call_rate: Option<f64>,
    /// Call totals since the breaker was made, if [`Config::totals`](crate::Config::totals) is
    /// on.
    pub totals: Option<Totals>,
}

/// How many calls a breaker has seen, by fate. Exact under concurrency: no increment is ever
/// lost. A snapshot adds up per-thread-group counters one after the other, so calls finishing
/// while it is taken may be in some fields and not yet in others.
///
/// ```
/// let totals = protego_breaker::Totals::default();
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
    /// Admitted calls that took at least `slow_call_duration` (only counted with a window
    /// and slow calls on).
    pub slow: u64,
}

const ADMITTED: usize = 0;
const REJECTED: usize = 1;
const SUCCEEDED: usize = 2;
const FAILED: usize = 3;
const IGNORED: usize = 4;
const SLOW: usize = 5;

/// One thread group's counters, on cache lines of their own.
type Stripe = CachePadded<[AtomicU64; 6]>;

/// Counters bumped by every call when on: one stripe per thread group, so that threads on
/// different cores write different cache lines. Allocated on first use.
pub(crate) struct Counters {
    on: AtomicBool,
    /// Boxed twice: a thin pointer keeps the breaker within three cache lines.
    stripes: OnceLock<Box<Box<[Stripe]>>>,
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
    fn make() -> Box<Box<[Stripe]>> {
        Box::new(
            (0..stripe_count())
                .map(|_| CachePadded(std::array::from_fn(|_| AtomicU64::new(0))))
                .collect(),
        )
    }

    pub(crate) fn set_on(&self, on: bool) {
        self.on.store(on, Ordering::Relaxed);
    }

    #[inline]
    fn bump(&self, counter: usize) {
        if self.on.load(Ordering::Relaxed) {
            self.bump_slow(counter);
        }
    }

    #[inline(never)]
    fn bump_slow(&self, counter: usize) {
        let stripes = self.stripes.get_or_init(Self::make);
        let stripe = &stripes[thread_number() & (stripes.len() - 1)];
        stripe[counter].fetch_add(1, Ordering::Relaxed);
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
            Outcome::Failure => FAILED,
            Outcome::Ignored => IGNORED,
        });
    }

    #[inline]
    pub(crate) fn slow(&self) {
        self.bump(SLOW);
    }

    /// The sums, or `None` when counting is off.
    pub(crate) fn totals(&self) -> Option<Totals> {
        if !self.on.load(Ordering::Relaxed) {
            return None;
        }
        let mut sums = [0u64; 6];
        for stripe in self.stripes.get().map_or(&[][..], |s| &s[..][..]) {
            for (sum, count) in sums.iter_mut().zip(stripe.iter()) {
                *sum = sum.wrapping_add(count.load(Ordering::Relaxed));
            }
        }
        Some(Totals {
            admitted: sums[ADMITTED],
            rejected: sums[REJECTED],
            succeeded: sums[SUCCEEDED],
            failed: sums[FAILED],
            ignored: sums[IGNORED],
            slow: sums[SLOW],
        })
    }
}
