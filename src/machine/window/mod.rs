//! Failure-rate windows: the outcomes of the last N calls, or of the last T of time, counted
//! lock-free, per generation of the state word (a transition empties the window).
//!
//! This module owns what the machine sees of a window: the public [`Window`] knob, the `Rules`
//! a window is made from, the `Mark` an outcome brings, the `Sums` a window answers with and
//! their verdict (`Trip`), and `WindowStore`, which holds one of the two windows:
//!
//! | file | owns |
//! | --- | --- |
//! | `count.rs` | the count window: a ring of the last N marks, their sums in one word |
//! | `time.rs` | the time window: slices of time in a ring of buckets, and their sums |
//! | `bucket.rs` | one slice's counts in a bucket, and the key/version protocol of taking it over |
//! | `recent.rs` | the time window's cache of the current slice (a seqlock) |
//!
//! Both windows keep these invariants (`windowed.rs` relies on them):
//!
//! - **One generation at a time.** Every outcome carries the generation of the state word that
//!   admitted it. The first outcome of a newer generation finds the window empty, so a
//!   transition empties it without writing to it; an outcome of an older generation changes
//!   nothing. The windows keep only a few bits of a generation (16 in the count window's sums,
//!   14 in a bucket's key) and compare them with `newer`, by serial-number arithmetic: the tags
//!   may wrap around, as long as the outcomes still arriving are of generations less than half
//!   the tag space apart.
//! - **No lock.** Recording is atomic read-modify-writes on memory every recording thread
//!   shares (a window is a shared count, so its writes are inherent). No recorder waits for
//!   another, except one that finds a bucket mid-takeover: it spins until the taker publishes
//!   the new key, one store after the compare-and-swap that took the bucket.
//! - **Sums are snapshots.** They are read without a lock and may miss an outcome being
//!   recorded meanwhile, never count one twice or in the wrong generation; each window says
//!   what else a snapshot may miss. How many outcomes were both slow and failed is kept apart
//!   from the sums (written only by such outcomes) and read apart.

use std::time::Duration;

mod bucket;
mod count;
mod recent;
mod time;

use count::CountWindow;
use time::TimeWindow;

/// How a breaker counts failures in the closed state.
///
/// ```
/// use std::time::Duration;
/// use protego_breaker::{Config, Window};
///
/// // Open when half of the last 100 calls failed, once at least 20 are in the window.
/// let cfg = Config::builder()
///     .window(Window::Count(100))
///     .failure_rate_threshold(50)
///     .minimum_calls(20)
///     .build()?;
/// assert_eq!(cfg.window(), Some(Window::Count(100)));
///
/// // The same over the last minute, in 10 buckets of 6 s.
/// let cfg = Config::builder().window(Window::time(Duration::from_secs(60))).build()?;
/// assert_eq!(cfg.window(), Some(Window::Time { length: Duration::from_secs(60), buckets: 10 }));
/// # Ok::<(), protego_breaker::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Window {
    /// The outcomes of the last this many calls (1 to 65,535).
    Count(u32),
    /// The outcomes of the last `length` of time, counted in `buckets` slices of it (1 to
    /// 1,000); a slice ages out whole, so the window covers between `length - length / buckets`
    /// and `length`. `length / buckets` must be at least 1 ms.
    Time {
        /// How far back the window reaches.
        length: Duration,
        /// How many slices it is counted in.
        buckets: u32,
    },
}

impl Window {
    /// The largest count window.
    pub const MAX_COUNT: u32 = 65_535;
    /// The most buckets a time window can have.
    pub const MAX_BUCKETS: u32 = 1_000;

    /// A time window of `length` in 10 buckets.
    ///
    /// ```
    /// use std::time::Duration;
    /// use protego_breaker::Window;
    ///
    /// assert_eq!(
    ///     Window::time(Duration::from_secs(30)),
    ///     Window::Time { length: Duration::from_secs(30), buckets: 10 },
    /// );
    /// ```
    pub fn time(length: Duration) -> Window {
        Window::Time {
            length,
            buckets: 10,
        }
    }
}

/// The window knobs of one config, fixed for the life of one [`WindowStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rules {
    pub(crate) window: Window,
    pub(crate) failure_rate: u8,
    pub(crate) minimum_calls: u32,
    /// Slow-call duration in ns; 0 when slow calls are off.
    pub(crate) slow_nanos: u64,
    pub(crate) slow_rate: u8,
}

/// Why a window says to open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trip {
    FailureRate,
    SlowCallRate,
}

/// A window's sums for one generation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Sums {
    pub(crate) calls: u64,
    pub(crate) failures: u64,
    pub(crate) slow: u64,
}

impl Sums {
    /// Whether these sums call for opening, by `rules`.
    #[inline]
    pub(crate) fn verdict(self, rules: &Rules) -> Option<Trip> {
        if self.calls == 0 || self.calls < u64::from(rules.minimum_calls) {
            return None;
        }
        if self.failures * 100 >= u64::from(rules.failure_rate) * self.calls {
            return Some(Trip::FailureRate);
        }
        // Without slow-call tracking nothing is ever marked slow, so this cannot fire.
        if self.slow * 100 >= u64::from(rules.slow_rate) * self.calls {
            return Some(Trip::SlowCallRate);
        }
        None
    }
}

impl std::ops::Add for Sums {
    type Output = Sums;

    #[inline]
    fn add(self, other: Sums) -> Sums {
        Sums {
            calls: self.calls + other.calls,
            failures: self.failures + other.failures,
            slow: self.slow + other.slow,
        }
    }
}

/// One outcome, as a window sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mark {
    pub(crate) failed: bool,
    pub(crate) slow: bool,
}

/// The marks the windows' unit tests record.
#[cfg(all(test, not(protego_loom)))]
pub(super) mod marks {
    use super::Mark;

    pub(in crate::machine::window) const OK: Mark = Mark {
        failed: false,
        slow: false,
    };
    pub(in crate::machine::window) const FAIL: Mark = Mark {
        failed: true,
        slow: false,
    };
    pub(in crate::machine::window) const SLOW_FAIL: Mark = Mark {
        failed: true,
        slow: true,
    };
}

/// A window's storage, made from its [`Rules`].
pub(crate) struct WindowStore {
    pub(crate) rules: Rules,
    kind: Kind,
}

enum Kind {
    Count(CountWindow),
    Time(TimeWindow),
}

impl WindowStore {
    pub(crate) fn new(rules: Rules) -> WindowStore {
        let kind = match rules.window {
            Window::Count(n) => Kind::Count(CountWindow::new(n)),
            Window::Time { length, buckets } => Kind::Time(TimeWindow::new(length, buckets)),
        };
        WindowStore { rules, kind }
    }

    /// Whether recording needs the time (a time window does).
    #[inline]
    pub(crate) fn needs_time(&self) -> bool {
        matches!(self.kind, Kind::Time(_))
    }

    /// Records an outcome of generation `gen` at `now` (ns; only read by time windows) and
    /// returns the window's sums with it; `None` if the generation's window is already gone.
    #[inline]
    pub(crate) fn record(&self, gen: u32, now: u64, mark: Mark) -> Option<Sums> {
        match &self.kind {
            Kind::Count(w) => w.record(gen, mark),
            Kind::Time(w) => Some(w.record_and_sum(gen, now, mark)),
        }
    }

    /// How many of generation `gen`'s outcomes in the window were both slow and failed. Kept
    /// apart from the sums (written only by such calls), so read apart: a snapshot.
    pub(crate) fn slow_failed(&self, gen: u32, now: u64) -> u64 {
        match &self.kind {
            Kind::Count(w) => w.slow_failed(gen),
            Kind::Time(w) => w.slow_failed(gen, now),
        }
    }

    /// The current sums of generation `gen`.
    pub(crate) fn sums(&self, gen: u32, now: u64) -> Sums {
        match &self.kind {
            Kind::Count(w) => w.sums(gen),
            Kind::Time(w) => w.sums(gen, now),
        }
    }
}

/// Serial-number comparison of two generation tags of `mask`'s width (the count window's 16
/// bits, a time bucket's 14): `a` is newer than `b` when it is less than half the tag space
/// ahead, so the comparison survives the tags wrapping around.
#[inline]
fn newer(a: u64, b: u64, mask: u64) -> bool {
    a != b && (a.wrapping_sub(b) & mask) <= mask / 2
}
