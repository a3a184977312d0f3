//! Where the breaker reads the time: the [`Clock`] trait, the real [`SystemClock`], the
//! test-only [`ManualClock`], and the cheaper [`CoarseClock`] and (feature `quanta`)
//! `QuantaClock`.

use std::fmt;
use std::time::{Duration, Instant};

use crate::sync::{Arc, AtomicU64, Ordering};

/// A monotonic source of time for a breaker.
///
/// `now` returns the time elapsed since an origin of the clock's choosing; only differences
/// between two readings of the same clock matter. It must never go backwards. The breaker reads
/// it only where time matters (an open circuit deciding whether its `reset_timeout` has passed,
/// a half-open round checking whether it has hung, a transition stamping its start), never on
/// the closed-state path.
///
/// Implement it to drive breakers from your own time source, such as a simulated clock in a test
/// harness:
///
/// ```
/// use std::time::Duration;
/// use protego_breaker::{Breaker, Clock, Config, State};
///
/// /// A clock frozen at one instant.
/// struct Frozen(Duration);
///
/// impl Clock for Frozen {
///     fn now(&self) -> Duration {
///         self.0
///     }
/// }
///
/// let breaker = Breaker::with_clock(Config::default(), Frozen(Duration::from_secs(5)));
/// assert_eq!(breaker.state(), State::Closed);
/// ```
pub trait Clock {
    /// The time elapsed since this clock's origin.
    fn now(&self) -> Duration;
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> Duration {
        (**self).now()
    }
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> Duration {
        (**self).now()
    }
}

/// The real, monotonic clock ([`std::time::Instant`]); the default clock of every breaker.
///
/// All `SystemClock`s share one origin, fixed the first time any of them is read.
///
/// A reading costs one `Instant::now()` (a `clock_gettime` through the vDSO on Linux, about
/// 20-25 ns on a VM) and std's subtraction of the origin (`saturating_duration_since`), a few
/// ns more. Where even that is too much, see [`CoarseClock`] (one atomic load, advanced by a
/// ticker you run) or, with feature `quanta`, `QuantaClock` (the CPU's counter).
///
/// ```
/// use protego_breaker::{Clock, SystemClock};
///
/// let clock = SystemClock;
/// let a = clock.now();
/// let b = clock.now();
/// assert!(b >= a);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[inline]
    fn now(&self) -> Duration {
        // Read the time first: on the first call it is the origin's own reading.
        let now = Instant::now();
        system::elapsed(now)
    }
}

/// A clock that only moves when told to, for deterministic tests.
///
/// It starts at zero. Clones share one time: advance any of them and every breaker built on a
/// clone sees it. Time saturates at [`Duration::MAX`] instead of overflowing.
///
/// ```
/// use std::time::Duration;
/// use protego_breaker::{Breaker, Clock, Config, ManualClock, State};
///
/// let clock = ManualClock::new();
/// let breaker = Breaker::with_clock(Config::default(), clock.clone());
/// clock.advance(Duration::from_secs(90));
/// assert_eq!(clock.now(), Duration::from_secs(90));
/// assert_eq!(breaker.state(), State::Closed);
/// ```
#[derive(Clone, Default)]
pub struct ManualClock {
    // Whole seconds and sub-second nanoseconds would allow the full `Duration` range, but u64
    // nanoseconds (584 years) is far past any test and keeps one atomic.
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock at time zero.
    ///
    /// ```
    /// use std::time::Duration;
    /// use protego_breaker::{Clock, ManualClock};
    ///
    /// assert_eq!(ManualClock::new().now(), Duration::ZERO);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves this clock, and every clone of it, forward by `by`.
    ///
    /// Saturates at about 584 years after the origin instead of overflowing.
    ///
    /// ```
    /// use std::time::Duration;
    /// use protego_breaker::{Clock, ManualClock};
    ///
    /// let clock = ManualClock::new();
    /// let other = clock.clone();
    /// clock.advance(Duration::from_millis(1500));
    /// assert_eq!(other.now(), Duration::from_millis(1500));
    /// clock.advance(Duration::MAX); // no overflow
    /// ```
    pub fn advance(&self, by: Duration) {
        let by = crate::config::saturating_nanos(by);
        let mut cur = self.nanos.load(Ordering::Acquire);
        loop {
            let next = cur.saturating_add(by);
            match self
                .nanos
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }
}

impl Clock for ManualClock {
    #[inline]
    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::Acquire))
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("now", &self.now())
            .finish()
    }
}

mod coarse;
#[cfg(feature = "quanta")]
mod quanta;
mod system;

pub use coarse::CoarseClock;
#[cfg(feature = "quanta")]
pub use quanta::QuantaClock;
