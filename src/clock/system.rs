//! [`SystemClock`](super::SystemClock)'s reading turned into a number without std's out-of-line
//! subtraction.
//!
//! `Instant - Instant` (and `duration_since`, `saturating_duration_since`, `elapsed`) is two
//! calls std does not inline: about 3 ns on top of the `clock_gettime` itself, measured on
//! every reading an open circuit takes to reject a call. std offers no other safe way from an
//! `Instant` to a number, except one: `Instant` implements `Hash`, derived over the reading's
//! whole seconds and nanoseconds (`Timespec` on Unix, a `Duration` on Windows, WASI and UEFI).
//! A `Hasher` that keeps what it is given receives those two numbers, inlined, and the elapsed
//! time is plain integer arithmetic from there (the same borrow as std's own `sub_timespec`).
//!
//! How std hashes an `Instant` is not a promise, so nothing trusts it unchecked: when the origin
//! is fixed, the origin and instants five known distances after it (built with std's own
//! arithmetic: within a second, across a second boundary, across decades) are taken apart and
//! must give exactly those distances back, or every reading takes std's subtraction instead. A
//! change in the number, order, types or units of the hashed fields is caught there; a platform
//! whose `Instant` is one number (SOLID's microsecond ticks) fails the check and falls back, as
//! meant. In debug builds every reading is also compared with std's subtraction.

use std::hash::{Hash, Hasher};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const NANOS_PER_SEC: u32 = 1_000_000_000;

/// An instant taken apart: whole seconds and the nanoseconds within them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Parts {
    secs: i64,
    nanos: u32,
}

/// A `Hasher` that keeps the numbers it is given, expecting one signed or unsigned 64-bit
/// number (the seconds) and then one `u32` (the nanoseconds). Anything else spoils it.
#[derive(Default)]
struct Keep {
    seen: u8,
    secs: i64,
    nanos: u32,
}

const SPOILED: u8 = u8::MAX;

impl Hasher for Keep {
    fn finish(&self) -> u64 {
        0 // never used as a hash
    }

    fn write(&mut self, _: &[u8]) {
        self.seen = SPOILED;
    }

    #[inline]
    fn write_i64(&mut self, v: i64) {
        self.seen = if self.seen == 0 { 1 } else { SPOILED };
        self.secs = v;
    }

    #[inline]
    fn write_u64(&mut self, v: u64) {
        match i64::try_from(v) {
            Ok(v) => self.write_i64(v),
            Err(_) => self.seen = SPOILED,
        }
    }

    #[inline]
    fn write_u32(&mut self, v: u32) {
        self.seen = if self.seen == 1 && v < NANOS_PER_SEC {
            2
        } else {
            SPOILED
        };
        self.nanos = v;
    }
}

#[inline]
fn parts(at: &impl Hash) -> Option<Parts> {
    let mut keep = Keep::default();
    at.hash(&mut keep);
    (keep.seen == 2).then_some(Parts {
        secs: keep.secs,
        nanos: keep.nanos,
    })
}

/// `later - earlier`, zero if `later` is the earlier one.
#[inline]
fn between(earlier: Parts, later: Parts) -> Duration {
    if later.secs < earlier.secs {
        return Duration::ZERO;
    }
    let secs = later.secs.abs_diff(earlier.secs);
    if later.nanos >= earlier.nanos {
        Duration::new(secs, later.nanos - earlier.nanos)
    } else if secs > 0 {
        // `nanos` stays below a second, so `Duration::new` never carries.
        Duration::new(secs - 1, later.nanos + NANOS_PER_SEC - earlier.nanos)
    } else {
        Duration::ZERO
    }
}

/// The clock's origin, and its parts when readings can be taken apart on this platform.
struct Origin {
    at: Instant,
    parts: Option<Parts>,
}

impl Origin {
    fn new(at: Instant) -> Self {
        let parts = parts(&at).filter(|&p| takes_apart(at, p));
        Origin { at, parts }
    }
}

/// Whether instants a known distance after `origin` come apart into parts exactly that far
/// from `origin`'s: distances inside one second, across a second boundary, and across years.
fn takes_apart(origin: Instant, origin_parts: Parts) -> bool {
    const PROBES: [Duration; 5] = [
        Duration::from_nanos(1),
        Duration::from_nanos(999_999_999),
        Duration::new(1, 500_000_001),
        Duration::new(2, 0),
        Duration::new(40 * 365 * 86_400, 123_456_789),
    ];
    PROBES.iter().all(|&d| {
        let Some(later) = origin.checked_add(d) else {
            return true; // past the platform's range: nothing to check
        };
        later.duration_since(origin) == d
            && parts(&later).is_some_and(|p| between(origin_parts, p) == d)
    })
}

static ORIGIN: OnceLock<Origin> = OnceLock::new();

/// Time elapsed from the shared origin to `now`, zero if `now` is before it. The origin is the
/// reading of the first call to fix it; a reading taken just before it by a thread that lost
/// that race comes out as zero.
#[inline]
pub(super) fn elapsed(now: Instant) -> Duration {
    ORIGIN.get_or_init(|| Origin::new(now)).to(now)
}

impl Origin {
    #[inline]
    fn to(&self, now: Instant) -> Duration {
        if let Some(from) = self.parts {
            if let Some(to) = parts(&now) {
                let elapsed = between(from, to);
                debug_assert_eq!(elapsed, now.saturating_duration_since(self.at));
                return elapsed;
            }
        }
        now.saturating_duration_since(self.at)
    }
}

#[cfg(all(test, not(protego_loom)))]
mod tests {
    use super::*;

    // On Unix and Windows std hashes an `Instant` as seconds then nanoseconds; elsewhere (SOLID)
    // falling back is the right answer, so the tests that insist on the fast path stop here.
    #[cfg(any(unix, windows))]
    #[test]
    fn instants_come_apart_on_this_platform() {
        // The fast path is what CI measures and ships on Linux; if std changes how it hashes an
        // `Instant`, this says so instead of the benches quietly slowing down.
        let now = Instant::now();
        let p = parts(&now).expect("an Instant hashes as seconds and nanoseconds");
        assert!(takes_apart(now, p));
    }

    #[cfg(any(unix, windows))]
    #[test]
    fn taken_apart_differences_agree_with_std() {
        let a = Instant::now();
        let pa = parts(&a).unwrap();
        for ns in [
            0u64,
            1,
            999_999_999,
            1_000_000_000,
            1_000_000_001,
            86_400_000_000_123,
        ] {
            let d = Duration::from_nanos(ns);
            let b = a + d;
            let pb = parts(&b).unwrap();
            assert_eq!(between(pa, pb), d, "{ns} ns later");
            assert_eq!(between(pb, pa), Duration::ZERO, "{ns} ns earlier saturates");
        }
        let later = Instant::now();
        assert_eq!(between(pa, parts(&later).unwrap()), later - a);
    }

    #[test]
    fn a_hasher_fed_anything_else_is_spoiled() {
        let mut k = Keep::default();
        k.write_u32(5); // nanoseconds before seconds
        assert_eq!(k.seen, SPOILED);
        let mut k = Keep::default();
        k.write_i64(1);
        k.write_u32(NANOS_PER_SEC); // not a sub-second count
        assert_eq!(k.seen, SPOILED);
        let mut k = Keep::default();
        k.write_i64(1);
        k.write_u32(2);
        k.write(&[0]); // a third field
        assert_eq!(k.seen, SPOILED);
        let mut k = Keep::default();
        k.write_u64(u64::MAX); // seconds past i64
        assert_eq!(k.seen, SPOILED);
        let mut k = Keep::default();
        k.write_i64(1);
        k.write_i64(2); // two 64-bit fields
        assert_eq!(k.seen, SPOILED);
    }

    #[test]
    fn only_seconds_then_nanoseconds_come_apart() {
        assert_eq!(parts(&(7i64, 9u32)), Some(Parts { secs: 7, nanos: 9 }));
        assert_eq!(parts(&(7u64, 9u32)), Some(Parts { secs: 7, nanos: 9 }));
        assert_eq!(parts(&5u64), None, "one number (SOLID's ticks)");
        assert_eq!(parts(&(1i64, 2i64)), None);
        assert_eq!(parts(&(2u32, 1i64)), None, "nanoseconds first");
        assert_eq!(parts(&(1i64, 2u32, 0u8)), None, "a third field");
        assert_eq!(parts(&(1i64, NANOS_PER_SEC)), None, "not below a second");
    }

    #[cfg(any(unix, windows))]
    #[test]
    fn an_origin_whose_parts_are_off_fails_the_check() {
        let at = Instant::now();
        let p = parts(&at).unwrap();
        assert!(takes_apart(at, p));
        let off = [
            Parts {
                secs: p.secs - 1,
                ..p
            },
            Parts {
                secs: p.secs + 1,
                ..p
            },
            Parts {
                nanos: (p.nanos + 1) % NANOS_PER_SEC,
                ..p
            },
        ];
        for bad in off {
            assert!(!takes_apart(at, bad), "{bad:?} passed for {p:?}");
        }
    }

    #[cfg(any(unix, windows))]
    #[test]
    fn both_ways_of_reading_agree_and_saturate() {
        let at = Instant::now();
        let checked = Origin::new(at);
        assert!(
            checked.parts.is_some(),
            "this platform takes instants apart"
        );
        let fallback = Origin { at, parts: None };
        for later in [at, Instant::now(), at + Duration::new(3, 999_999_999)] {
            assert_eq!(checked.to(later), later - at);
            assert_eq!(fallback.to(later), later - at);
        }
        let earlier = at.checked_sub(Duration::from_secs(1)).unwrap();
        assert_eq!(checked.to(earlier), Duration::ZERO);
        assert_eq!(fallback.to(earlier), Duration::ZERO);
    }

    #[test]
    fn readings_never_go_back_and_bracket_std_instants() {
        let mut last = elapsed(Instant::now());
        for _ in 0..10_000 {
            let before = elapsed(Instant::now());
            let a = Instant::now();
            let b = Instant::now();
            let after = elapsed(Instant::now());
            assert!(
                before >= last && after >= before,
                "went back: {last:?} {before:?} {after:?}"
            );
            // Two std instants taken between two readings are no further apart than the readings.
            let (readings, instants) = (after.saturating_sub(before), b.duration_since(a));
            assert!(readings >= instants, "{readings:?} < {instants:?}");
            last = after;
        }
    }

    #[test]
    fn between_handles_borrows_and_saturation() {
        let p = |secs, nanos| Parts { secs, nanos };
        assert_eq!(
            between(p(5, 900), p(6, 100)),
            Duration::new(0, NANOS_PER_SEC - 800)
        );
        assert_eq!(between(p(5, 100), p(5, 100)), Duration::ZERO);
        assert_eq!(between(p(5, 100), p(5, 99)), Duration::ZERO);
        assert_eq!(between(p(i64::MAX, 0), p(i64::MIN, 0)), Duration::ZERO);
        assert_eq!(
            between(p(i64::MIN, 0), p(i64::MAX, 5)),
            Duration::new(u64::MAX, 5)
        );
        assert_eq!(
            between(p(i64::MIN, 5), p(i64::MAX, 0)),
            Duration::new(u64::MAX - 1, 999_999_995)
        );
        assert_eq!(
            between(p(-1, 999_999_999), p(0, 0)),
            Duration::from_nanos(1)
        );
        assert_eq!(between(p(0, 999_999_999), p(0, 0)), Duration::ZERO);
    }
}
