//! Failure-rate windows: the outcomes of the last N calls, or of the last T of time, counted
//! lock-free, per generation of the state word (a transition empties the window).
//!
//! Both windows record with atomic read-modify-writes on memory that every recording thread
//! shares (a window is a shared count, so its writes are inherent), and neither takes a lock.

use std::time::Duration;

use crate::sync::{AtomicU64, Ordering};

/// How a breaker counts failures in the closed state.
///
/// ```
/// use std::time::Duration;
/// use protego::{Config, Window};
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
/// # Ok::<(), protego::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Window {
    /// The outcomes of the last this many calls (1 to 65,535).
    Count(u32),
    /// The outcomes of the last `length` of time, counted in `buckets` slices of it (1 to
    /// 1,000); a slice ages out whole, so the window covers between `length - length / buckets`
    /// and `length`. `length / buckets` must be at least 1 µs.
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
    /// use protego::Window;
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

/// The window knobs of one config, fixed for the life of one [`Counts`].
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
    fn verdict(self, rules: &Rules) -> Option<Trip> {
        if self.calls == 0 || self.calls < u64::from(rules.minimum_calls) {
            return None;
        }
        if self.failures * 100 >= u64::from(rules.failure_rate) * self.calls {
            return Some(Trip::FailureRate);
        }
        if rules.slow_nanos > 0 && self.slow * 100 >= u64::from(rules.slow_rate) * self.calls {
            return Some(Trip::SlowCallRate);
        }
        None
    }
}

/// One outcome, as a window sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mark {
    pub(crate) failed: bool,
    pub(crate) slow: bool,
}

/// A window's storage, made from its [`Rules`].
pub(crate) struct Counts {
    pub(crate) rules: Rules,
    kind: Kind,
}

enum Kind {
    Count(CountWindow),
    Time(TimeWindow),
}

impl Counts {
    pub(crate) fn new(rules: Rules) -> Counts {
        let kind = match rules.window {
            Window::Count(n) => Kind::Count(CountWindow::new(n)),
            Window::Time { length, buckets } => Kind::Time(TimeWindow::new(length, buckets)),
        };
        Counts { rules, kind }
    }

    /// Whether recording needs the time (a time window does).
    pub(crate) fn needs_time(&self) -> bool {
        matches!(self.kind, Kind::Time(_))
    }

    /// Records an outcome of generation `gen` at `now` (ns; only read by time windows) and
    /// says whether the window, with it, calls for opening.
    pub(crate) fn record(&self, gen: u32, now: u64, mark: Mark) -> Option<Trip> {
        let sums = match &self.kind {
            Kind::Count(w) => w.record(gen, mark)?,
            Kind::Time(w) => {
                w.record(gen, now, mark);
                w.sums(gen, now)
            }
        };
        sums.verdict(&self.rules)
    }

    /// The current sums of generation `gen`.
    pub(crate) fn sums(&self, gen: u32, now: u64) -> Sums {
        match &self.kind {
            Kind::Count(w) => w.sums(gen),
            Kind::Time(w) => w.sums(gen, now),
        }
    }
}

/// A 16-bit generation tag, compared with serial-number arithmetic: `a` is newer than `b`
/// when it is less than half the tag space ahead.
fn tag16(gen: u32) -> u64 {
    u64::from(gen & 0xFFFF)
}

fn newer16(a: u64, b: u64) -> bool {
    a != b && (a.wrapping_sub(b) & 0xFFFF) < 0x8000
}

const PRESENT: u64 = 1;
const FAILED: u64 = 2;
const SLOW: u64 = 4;
const FIELD: u64 = 0xFFFF;

/// The last `n` outcomes: a ring of marks, and their sums in one word.
struct CountWindow {
    /// Each slot: `gen << 3 | SLOW | FAILED | PRESENT`, or 0 for never written.
    slots: Box<[AtomicU64]>,
    head: AtomicU64,
    /// `gen16 << 48 | calls << 32 | failures << 16 | slow`. Each field is updated modulo 2^16
    /// on its own, so a subtraction that races ahead of its addition borrows from nothing and
    /// is made good when the addition lands.
    sums: AtomicU64,
}

impl CountWindow {
    fn new(n: u32) -> Self {
        CountWindow {
            slots: (0..n.max(1)).map(|_| AtomicU64::new(0)).collect(),
            head: AtomicU64::new(0),
            sums: AtomicU64::new(0),
        }
    }

    fn size(&self) -> u64 {
        self.slots.len() as u64
    }

    /// Records one outcome; `None` if this generation's window is already gone.
    fn record(&self, gen: u32, mark: Mark) -> Option<Sums> {
        let slot_value = (u64::from(gen) << 3)
            | PRESENT
            | if mark.failed { FAILED } else { 0 }
            | if mark.slow { SLOW } else { 0 };
        let i = self.head.fetch_add(1, Ordering::Relaxed) % self.size();
        // The index fits: it is below the slot count.
        #[allow(clippy::cast_possible_truncation)]
        let old = self.slots[i as usize].swap(slot_value, Ordering::AcqRel);
        let (out_f, out_s, out_c) = if old & PRESENT != 0 && old >> 3 == u64::from(gen) {
            (u64::from(old & FAILED != 0), u64::from(old & SLOW != 0), 1)
        } else {
            (0, 0, 0)
        };
        let (in_f, in_s) = (u64::from(mark.failed), u64::from(mark.slow));
        let tag = tag16(gen);
        let mut current = self.sums.load(Ordering::Acquire);
        loop {
            let held = current >> 48;
            let base = if held == tag {
                current & !(FIELD << 48)
            } else if newer16(tag, held) {
                0 // the first outcome of a new generation: start from empty
            } else {
                return None; // a newer generation owns the window: this outcome is stale
            };
            let field = |shift: u32, add: u64, sub: u64| {
                (((base >> shift) & FIELD)
                    .wrapping_add(add)
                    .wrapping_sub(sub)
                    & FIELD)
                    << shift
            };
            let next =
                (tag << 48) | field(32, 1, out_c) | field(16, in_f, out_f) | field(0, in_s, out_s);
            match self.sums.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(self.decode(next)),
                Err(actual) => current = actual,
            }
        }
    }

    fn decode(&self, word: u64) -> Sums {
        let sums = Sums {
            calls: (word >> 32) & FIELD,
            failures: (word >> 16) & FIELD,
            slow: word & FIELD,
        };
        // A subtraction that raced ahead of its addition shows as a huge field for a moment:
        // such a snapshot decides nothing.
        if sums.calls > self.size() || sums.failures > sums.calls || sums.slow > sums.calls {
            return Sums::default();
        }
        sums
    }

    fn sums(&self, gen: u32) -> Sums {
        let word = self.sums.load(Ordering::Acquire);
        if word >> 48 != tag16(gen) {
            return Sums::default();
        }
        self.decode(word)
    }
}

/// Bucket counts: `tag << 54 | calls << 36 | failures << 18 | slow`, 18 bits each.
const COUNT_BITS: u32 = 18;
const COUNT_MAX: u64 = (1 << COUNT_BITS) - 1;
const TAG_SHIFT: u32 = 3 * COUNT_BITS;

/// The last `length` of time, in buckets. A bucket holds one slice of one generation: its
/// `key` (slice number << 16 | generation tag, which only grows) says which, and its `counts`
/// carry a 10-bit tag of that key, so that an outcome is added only to the slice it was
/// counted for.
struct TimeWindow {
    width: u64,
    buckets: Box<[Bucket]>,
}

struct Bucket {
    key: AtomicU64,
    counts: AtomicU64,
}

impl TimeWindow {
    fn new(length: Duration, buckets: u32) -> Self {
        let buckets = buckets.max(1);
        let nanos = u64::try_from(length.as_nanos()).unwrap_or(u64::MAX);
        TimeWindow {
            width: (nanos / u64::from(buckets)).max(1),
            buckets: (0..buckets)
                .map(|_| Bucket {
                    key: AtomicU64::new(0),
                    counts: AtomicU64::new(0),
                })
                .collect(),
        }
    }

    fn slice(&self, now: u64) -> u64 {
        now / self.width
    }

    /// Slice numbers keep 48 bits: they wrap after 2^48 slices (8.9 years of 1 µs slices).
    fn key(slice: u64, gen: u32) -> u64 {
        ((slice & ((1 << 48) - 1)) << 16) | tag16(gen)
    }

    fn tag(key: u64) -> u64 {
        (key ^ (key >> 10) ^ (key >> 20) ^ (key >> 40)) & 0x3FF
    }

    fn bucket(&self, slice: u64) -> &Bucket {
        // The index fits: it is below the bucket count.
        #[allow(clippy::cast_possible_truncation)]
        let i = (slice % self.buckets.len() as u64) as usize;
        &self.buckets[i]
    }

    fn record(&self, gen: u32, now: u64, mark: Mark) {
        let slice = self.slice(now);
        let key = Self::key(slice, gen);
        let tag = Self::tag(key);
        let ours =
            (1 << (2 * COUNT_BITS)) | (u64::from(mark.failed) << COUNT_BITS) | u64::from(mark.slow);
        let bucket = self.bucket(slice);
        let mut counts = bucket.counts.load(Ordering::Acquire);
        loop {
            let next = if counts >> TAG_SHIFT == tag {
                if (counts >> (2 * COUNT_BITS)) & COUNT_MAX == COUNT_MAX {
                    return; // the slice is full: it keeps the rate of its first 262,143 calls
                }
                counts + ours
            } else {
                let held = bucket.key.load(Ordering::Acquire);
                let later = if held >> 16 == key >> 16 {
                    newer16(held & FIELD, key & FIELD)
                } else {
                    held >> 16 > key >> 16
                };
                if later {
                    return; // the bucket already holds a later slice: ours has aged out
                }
                (tag << TAG_SHIFT) | ours // take the bucket over for our slice
            };
            match bucket.counts.compare_exchange_weak(
                counts,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    if next >> TAG_SHIFT != counts >> TAG_SHIFT {
                        bucket.key.fetch_max(key, Ordering::AcqRel);
                    }
                    return;
                }
                Err(actual) => counts = actual,
            }
        }
    }

    fn sums(&self, gen: u32, now: u64) -> Sums {
        let newest = self.slice(now);
        let oldest = newest.saturating_sub(self.buckets.len() as u64 - 1);
        let mut sums = Sums::default();
        for bucket in &*self.buckets {
            let key = bucket.key.load(Ordering::Acquire);
            let counts = bucket.counts.load(Ordering::Acquire);
            let slice = key >> 16;
            let current = key & FIELD == tag16(gen)
                && slice >= oldest & ((1 << 48) - 1)
                && slice <= newest & ((1 << 48) - 1)
                && counts >> TAG_SHIFT == Self::tag(key);
            if current {
                sums.calls += (counts >> (2 * COUNT_BITS)) & COUNT_MAX;
                sums.failures += (counts >> COUNT_BITS) & COUNT_MAX;
                sums.slow += counts & COUNT_MAX;
            }
        }
        sums
    }
}

#[cfg(all(test, not(protego_loom)))]
mod tests {
    use super::*;

    const OK: Mark = Mark {
        failed: false,
        slow: false,
    };
    const FAIL: Mark = Mark {
        failed: true,
        slow: false,
    };

    #[test]
    fn a_count_window_forgets_what_falls_out_of_it() {
        let w = CountWindow::new(3);
        w.record(1, FAIL);
        w.record(1, FAIL);
        w.record(1, OK);
        assert_eq!(
            w.sums(1),
            Sums {
                calls: 3,
                failures: 2,
                slow: 0
            }
        );
        w.record(1, OK);
        w.record(1, OK);
        assert_eq!(
            w.sums(1),
            Sums {
                calls: 3,
                failures: 0,
                slow: 0
            }
        );
    }

    #[test]
    fn a_new_generation_starts_a_count_window_empty_and_old_ones_are_stale() {
        let w = CountWindow::new(4);
        w.record(1, FAIL);
        w.record(1, FAIL);
        assert_eq!(
            w.record(2, OK),
            Some(Sums {
                calls: 1,
                failures: 0,
                slow: 0
            })
        );
        assert_eq!(w.record(1, FAIL), None, "generation 1 is over");
        assert_eq!(w.sums(1), Sums::default());
    }

    #[test]
    fn time_buckets_age_out_even_after_a_jump() {
        let w = TimeWindow::new(Duration::from_nanos(100), 10); // 10 ns slices
        w.record(1, 5, FAIL);
        w.record(1, 15, FAIL);
        assert_eq!(w.sums(1, 20).failures, 2);
        assert_eq!(w.sums(1, 100).failures, 1, "the slice of t=5 aged out");
        assert_eq!(w.sums(1, 110).failures, 0);
        // Hours later, the same bucket positions hold nothing current.
        let later = 3_600_000_000_000 * 5 + 5;
        assert_eq!(w.sums(1, later), Sums::default());
        w.record(1, later, OK);
        assert_eq!(
            w.sums(1, later),
            Sums {
                calls: 1,
                failures: 0,
                slow: 0
            }
        );
    }

    #[test]
    fn a_time_window_outcome_older_than_its_bucket_is_dropped() {
        let w = TimeWindow::new(Duration::from_nanos(100), 10);
        w.record(1, 105, OK); // takes bucket 0 for slice 10
        w.record(1, 5, FAIL); // slice 0, same bucket, aged out
        assert_eq!(
            w.sums(1, 105),
            Sums {
                calls: 1,
                failures: 0,
                slow: 0
            }
        );
    }
}
