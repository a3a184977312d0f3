//! Failure-rate windows: the outcomes of the last N calls, or of the last T of time, counted
//! lock-free, per generation of the state word (a transition empties the window).
//!
//! Both windows record with atomic read-modify-writes on memory that every recording thread
//! shares (a window is a shared count, so its writes are inherent), and neither takes a lock.

use std::time::Duration;

use crate::sync::{fence, spin_loop, AtomicU64, Ordering};

/// How a breaker counts failures in the closed state.
///
/// ```
/// use std::time::Duration;
/// use protego_breaker::{Config, config::Window};
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
    /// use protego_breaker::config::Window;
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

/// One outcome, as a window sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mark {
    pub(crate) failed: bool,
    pub(crate) slow: bool,
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

/// The count window's generation tag: the generation's low 16 bits.
const TAG16_MASK: u64 = 0xFFFF;

fn tag16(gen: u32) -> u64 {
    u64::from(gen) & TAG16_MASK
}

/// Serial-number comparison of two generation tags of `mask`'s width (the count window's 16
/// bits, a time bucket's 14): `a` is newer than `b` when it is less than half the tag space
/// ahead, so the comparison survives the tags wrapping around.
fn newer(a: u64, b: u64, mask: u64) -> bool {
    a != b && (a.wrapping_sub(b) & mask) <= mask / 2
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
    /// `gen16 << 48 | n`: how many marks in the ring are both failed and slow, kept the same
    /// way (written only when such a mark comes in or goes out).
    slow_failed: AtomicU64,
}

impl CountWindow {
    fn new(n: u32) -> Self {
        CountWindow {
            slots: (0..n.max(1)).map(|_| AtomicU64::new(0)).collect(),
            head: AtomicU64::new(0),
            sums: AtomicU64::new(0),
            slow_failed: AtomicU64::new(0),
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
        let slow_failed_in = u64::from(mark.failed && mark.slow);
        let slow_failed_out = out_f & out_s;
        if slow_failed_in != slow_failed_out {
            self.count_slow_failed(tag, slow_failed_in, slow_failed_out);
        }
        let mut current = self.sums.load(Ordering::Acquire);
        loop {
            let held = current >> 48;
            // Each field below is masked out of `base` on its own, so the tag bits need no
            // clearing here.
            let base = if held == tag {
                current
            } else if newer(tag, held, TAG16_MASK) {
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

    fn count_slow_failed(&self, tag: u64, add: u64, sub: u64) {
        let mut current = self.slow_failed.load(Ordering::Acquire);
        loop {
            let held = current >> 48;
            let base = if held == tag {
                current & FIELD
            } else if newer(tag, held, TAG16_MASK) {
                0
            } else {
                return;
            };
            let next = (tag << 48) | (base.wrapping_add(add).wrapping_sub(sub) & FIELD);
            match self.slow_failed.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }

    fn slow_failed(&self, gen: u32) -> u64 {
        let word = self.slow_failed.load(Ordering::Acquire);
        let n = word & FIELD;
        // A subtraction that raced ahead of its addition: a moment's nonsense, read as 0.
        if word >> 48 != tag16(gen) || n > self.size() {
            return 0;
        }
        n
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

/// Bucket counts: `version << 54 | calls << 36 | failures << 18 | slow`, 18 bits each.
const COUNT_BITS: u32 = 18;
const COUNT_MAX: u64 = (1 << COUNT_BITS) - 1;
const VERSION_SHIFT: u32 = 3 * COUNT_BITS;
const VERSION_MASK: u64 = 0x3FF;
/// Bucket keys: `slice << 24 | gen << 10 | version`.
const SLICE_BITS: u32 = 40;
const SLICE_MASK: u64 = (1 << SLICE_BITS) - 1;
const GEN_MASK: u64 = 0x3FFF;

/// The last `length` of time, in buckets. A bucket holds one slice of time of one
/// generation: its `key` says which (slice number, generation tag) and carries a version that
/// its `counts` carry too. Taking a bucket over for a newer slice bumps the version in `counts`
/// first (so outcomes of the old slice can no longer be added) and then publishes the new key;
/// an outcome is added only while both versions agree with the key it matched, so it lands in
/// its own slice or nowhere.
struct TimeWindow {
    width: u64,
    buckets: Box<[Bucket]>,
    recent: Recent,
}

/// The current slice, worked out once per slice rather than on every call: its time span,
/// its bucket and the sums of the *other* buckets in the window (which only late outcomes,
/// recorded with a clock reading from before the slice began, still change). A call in this
/// slice then adds its outcome to its bucket and reads the sums as `past` plus that bucket:
/// no division, no walk over the buckets. A seqlock: `seq` is odd while one writer (whoever
/// wins the compare-and-swap) refreshes it; readers that see it move fall back to the walk.
///
/// A late outcome that lands in a past bucket after `past` was taken is missing from these
/// sums until the next slice refreshes them (the exact walk, used by metrics, sees it).
struct Recent {
    seq: AtomicU64,
    /// First nanosecond of the slice; `u64::MAX` before the first refresh.
    start: AtomicU64,
    /// `slice << 14 | gen`.
    slice_gen: AtomicU64,
    past: [AtomicU64; 3],
}

impl Recent {
    fn new() -> Self {
        Recent {
            seq: AtomicU64::new(0),
            start: AtomicU64::new(u64::MAX),
            slice_gen: AtomicU64::new(0),
            past: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
        }
    }

    /// The slice and the past sums, if `now` falls in the slice held for generation `gen`.
    #[inline]
    fn read(&self, now: u64, width: u64, gen: u64) -> Option<(u64, Sums)> {
        let before = self.seq.load(Ordering::Acquire);
        let start = self.start.load(Ordering::Relaxed);
        let slice_gen = self.slice_gen.load(Ordering::Relaxed);
        let past = Sums {
            calls: self.past[0].load(Ordering::Relaxed),
            failures: self.past[1].load(Ordering::Relaxed),
            slow: self.past[2].load(Ordering::Relaxed),
        };
        fence(Ordering::Acquire);
        let consistent = before & 1 == 0 && self.seq.load(Ordering::Relaxed) == before;
        let held = now >= start && now - start < width && slice_gen & GEN_MASK == gen;
        (consistent && held).then_some((slice_gen >> 14, past))
    }

    /// Publishes a refresh, unless another thread is publishing one.
    fn write(&self, start: u64, slice: u64, gen: u64, past: Sums) {
        let seq = self.seq.load(Ordering::Relaxed);
        if seq & 1 != 0
            || self
                .seq
                .compare_exchange(seq, seq + 1, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        fence(Ordering::Release);
        self.start.store(start, Ordering::Relaxed);
        self.slice_gen.store(slice << 14 | gen, Ordering::Relaxed);
        self.past[0].store(past.calls, Ordering::Relaxed);
        self.past[1].store(past.failures, Ordering::Relaxed);
        self.past[2].store(past.slow, Ordering::Relaxed);
        self.seq.store(seq + 2, Ordering::Release);
    }
}

struct Bucket {
    key: AtomicU64,
    counts: AtomicU64,
    /// `version << 54 | n`: outcomes both failed and slow, of the slice whose counts carry
    /// the same version (written only by such outcomes).
    slow_failed: AtomicU64,
}

fn split_key(key: u64) -> (u64, u64, u64) {
    (key >> 24, (key >> 10) & GEN_MASK, key & VERSION_MASK)
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
                    slow_failed: AtomicU64::new(0),
                })
                .collect(),
            recent: Recent::new(),
        }
    }

    /// Records an outcome and returns the window's sums with it.
    fn record_and_sum(&self, gen: u32, now: u64, mark: Mark) -> Sums {
        let tag = u64::from(gen) & GEN_MASK;
        if let Some((slice, past)) = self.recent.read(now, self.width, tag) {
            if let Some(counts) = self.record_in(gen, slice, mark) {
                return Sums {
                    calls: past.calls + ((counts >> (2 * COUNT_BITS)) & COUNT_MAX),
                    failures: past.failures + ((counts >> COUNT_BITS) & COUNT_MAX),
                    slow: past.slow + (counts & COUNT_MAX),
                };
            }
            return self.sums_at(gen, slice);
        }
        let slice = self.slice(now);
        self.record_in(gen, slice, mark);
        let (past, current) = self.sums_split(gen, slice);
        self.recent.write(now - now % self.width, slice, tag, past);
        Sums {
            calls: past.calls + current.calls,
            failures: past.failures + current.failures,
            slow: past.slow + current.slow,
        }
    }

    /// Slice numbers keep 40 bits: with slices of at least 1 ms (as `Config` requires) they
    /// wrap after 34 years.
    fn slice(&self, now: u64) -> u64 {
        (now / self.width) & SLICE_MASK
    }

    fn bucket(&self, slice: u64) -> &Bucket {
        // The index fits: it is below the bucket count.
        #[allow(clippy::cast_possible_truncation)]
        let i = (slice % self.buckets.len() as u64) as usize;
        &self.buckets[i]
    }

    #[cfg(test)]
    fn record(&self, gen: u32, now: u64, mark: Mark) {
        self.record_in(gen, self.slice(now), mark);
    }

    /// Adds an outcome to the bucket of `slice`; returns the bucket's counts (with the outcome,
    /// unless the slice is full), or `None` if the bucket has moved past `slice`.
    fn record_in(&self, gen: u32, slice: u64, mark: Mark) -> Option<u64> {
        let gen = u64::from(gen) & GEN_MASK;
        let ours =
            (1 << (2 * COUNT_BITS)) | (u64::from(mark.failed) << COUNT_BITS) | u64::from(mark.slow);
        let bucket = self.bucket(slice);
        loop {
            let key = bucket.key.load(Ordering::Acquire);
            let counts = bucket.counts.load(Ordering::Acquire);
            let (held_slice, held_gen, version) = split_key(key);
            if counts >> VERSION_SHIFT != version {
                // Taken over, the new key not published yet: it will be in a moment.
                spin_loop();
                continue;
            }
            let next = if held_slice == slice && held_gen == gen {
                if (counts >> (2 * COUNT_BITS)) & COUNT_MAX == COUNT_MAX {
                    // The slice is full: it keeps the rate of its first 262,143 calls.
                    return Some(counts);
                }
                counts + ours
            } else if slice > held_slice || (slice == held_slice && newer(gen, held_gen, GEN_MASK))
            {
                (((version + 1) & VERSION_MASK) << VERSION_SHIFT) | ours
            } else {
                return None; // the bucket holds a later slice or generation: ours is over
            };
            if bucket
                .counts
                .compare_exchange(counts, next, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                if next >> VERSION_SHIFT != version {
                    let new_key = (slice << 24) | (gen << 10) | (next >> VERSION_SHIFT);
                    bucket.key.store(new_key, Ordering::Release);
                }
                if mark.failed && mark.slow {
                    Self::count_slow_failed(bucket, next >> VERSION_SHIFT);
                }
                return Some(next);
            }
        }
    }

    /// Adds one to the slow-failed count of the slice `version` names, unless the bucket
    /// has moved on to another slice.
    fn count_slow_failed(bucket: &Bucket, version: u64) {
        let mut current = bucket.slow_failed.load(Ordering::Acquire);
        loop {
            if bucket.counts.load(Ordering::Acquire) >> VERSION_SHIFT != version {
                return;
            }
            let n = if current >> VERSION_SHIFT == version {
                current & COUNT_MAX
            } else {
                0
            };
            let next = (version << VERSION_SHIFT) | (n + 1).min(COUNT_MAX);
            match bucket.slow_failed.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }

    fn slow_failed(&self, gen: u32, now: u64) -> u64 {
        let newest = self.slice(now);
        let oldest = newest.saturating_sub(self.buckets.len() as u64 - 1);
        let gen = u64::from(gen) & GEN_MASK;
        let mut n = 0;
        for bucket in &*self.buckets {
            let key = bucket.key.load(Ordering::Acquire);
            let counts = bucket.counts.load(Ordering::Acquire);
            let slow_failed = bucket.slow_failed.load(Ordering::Acquire);
            let (slice, held_gen, version) = split_key(key);
            if held_gen == gen
                && (oldest..=newest).contains(&slice)
                && counts >> VERSION_SHIFT == version
                && slow_failed >> VERSION_SHIFT == version
            {
                n += slow_failed & COUNT_MAX;
            }
        }
        n
    }

    fn sums(&self, gen: u32, now: u64) -> Sums {
        self.sums_at(gen, self.slice(now))
    }

    /// The sums of the buckets within the window that ends with slice `newest`.
    fn sums_at(&self, gen: u32, newest: u64) -> Sums {
        let (past, current) = self.sums_split(gen, newest);
        Sums {
            calls: past.calls + current.calls,
            failures: past.failures + current.failures,
            slow: past.slow + current.slow,
        }
    }

    /// The sums of the window that ends with slice `newest`: of its older buckets, and of
    /// the bucket of `newest`.
    fn sums_split(&self, gen: u32, newest: u64) -> (Sums, Sums) {
        let oldest = newest.saturating_sub(self.buckets.len() as u64 - 1);
        let gen = u64::from(gen) & GEN_MASK;
        let mut past = Sums::default();
        let mut current = Sums::default();
        for bucket in &*self.buckets {
            let key = bucket.key.load(Ordering::Acquire);
            let counts = bucket.counts.load(Ordering::Acquire);
            let (slice, held_gen, version) = split_key(key);
            let counted = held_gen == gen
                && (oldest..=newest).contains(&slice)
                && counts >> VERSION_SHIFT == version;
            if counted {
                let sums = if slice == newest {
                    &mut current
                } else {
                    &mut past
                };
                sums.calls += (counts >> (2 * COUNT_BITS)) & COUNT_MAX;
                sums.failures += (counts >> COUNT_BITS) & COUNT_MAX;
                sums.slow += counts & COUNT_MAX;
            }
        }
        (past, current)
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

    const SLOW_FAIL: Mark = Mark {
        failed: true,
        slow: true,
    };

    #[test]
    fn slow_failures_are_counted_in_and_out_of_a_count_window() {
        let w = CountWindow::new(2);
        w.record(1, SLOW_FAIL);
        w.record(1, FAIL);
        assert_eq!(w.slow_failed(1), 1);
        w.record(1, OK); // the slow failure falls out
        assert_eq!(w.slow_failed(1), 0);
        w.record(1, SLOW_FAIL);
        assert_eq!(w.slow_failed(1), 1);
        w.record(2, SLOW_FAIL);
        assert_eq!((w.slow_failed(1), w.slow_failed(2)), (0, 1));
    }

    #[test]
    fn slow_failures_age_out_of_a_time_window_with_their_slice() {
        let w = TimeWindow::new(Duration::from_nanos(100), 10);
        w.record(1, 5, SLOW_FAIL);
        w.record(1, 15, SLOW_FAIL);
        w.record(1, 15, FAIL);
        assert_eq!(w.slow_failed(1, 20), 2);
        assert_eq!(w.slow_failed(1, 100), 1, "the slice of t=5 aged out");
        assert_eq!(w.slow_failed(2, 20), 0);
    }

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
        let w = TimeWindow::new(Duration::from_nanos(100), 10); // 10 ns slices, for the test
        w.record(1, 5, FAIL);
        w.record(1, 15, FAIL);
        assert_eq!(w.sums(1, 20).failures, 2);
        assert_eq!(w.sums(1, 100).failures, 1, "the slice of t=5 aged out");
        assert_eq!(w.sums(1, 110).failures, 0);
        // Hours later (within 2^40 slices), the same bucket positions hold nothing current.
        let later = 3_600_000_000_000 + 5;
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
    fn a_full_slice_stops_counting_without_spilling_into_the_next_field() {
        let w = TimeWindow::new(Duration::from_nanos(100), 1);
        for _ in 0..COUNT_MAX + 10 {
            w.record(1, 5, OK);
        }
        w.record(1, 5, FAIL);
        assert_eq!(
            w.sums(1, 5),
            Sums {
                calls: COUNT_MAX,
                failures: 0,
                slow: 0
            }
        );
    }

    #[test]
    fn a_stale_generation_never_takes_a_bucket_from_a_newer_one() {
        let w = TimeWindow::new(Duration::from_nanos(100), 10);
        w.record(2, 5, FAIL); // the new generation's first outcome
        w.record(1, 6, OK); // a late outcome of the generation before, same slice
        assert_eq!(
            w.sums(2, 7),
            Sums {
                calls: 1,
                failures: 1,
                slow: 0
            }
        );
        assert_eq!(w.sums(1, 7), Sums::default());
    }

    #[test]
    fn consecutive_slices_sharing_a_bucket_never_mix() {
        // One bucket: every slice takes it over from the one before (the property tests found
        // a tag collision here in an earlier design).
        let w = TimeWindow::new(Duration::from_nanos(10), 1);
        for slice in 0..5_000u64 {
            w.record(1, slice * 10, OK);
            w.record(1, slice * 10 + 5, FAIL);
            assert_eq!(
                w.sums(1, slice * 10 + 9),
                Sums {
                    calls: 2,
                    failures: 1,
                    slow: 0
                }
            );
        }
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

#[cfg(all(test, not(protego_loom)))]
mod recent_tests {
    use super::*;

    #[test]
    fn the_second_call_in_a_slice_finds_it_worked_out() {
        let w = TimeWindow::new(Duration::from_secs(10), 10);
        let now = 123_456_789_000;
        let ok = Mark {
            failed: false,
            slow: false,
        };
        assert!(w.recent.read(now, w.width, 5).is_none());
        assert_eq!(w.record_and_sum(5, now, ok).calls, 1);
        assert!(w.recent.read(now, w.width, 5).is_some());
        assert_eq!(w.record_and_sum(5, now + 1, ok).calls, 2);
    }
}
