//! [`SystemClock`](super::SystemClock)'s origin: the first reading any `SystemClock` takes in
//! the process, and the time from it to a later reading, in std's own arithmetic.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

static ORIGIN: OnceLock<Instant> = OnceLock::new();

/// Time elapsed from the shared origin to `now`, zero if `now` is before it. The origin is the
/// reading of the first call to fix it; a reading taken just before it by a thread that lost
/// that race comes out as zero. Never panics: std's subtraction saturates here, and the breaker
/// saturates the `Duration` to `u64` nanoseconds (584 years) where it stores it.
#[inline]
pub(super) fn elapsed(now: Instant) -> Duration {
    now.saturating_duration_since(*ORIGIN.get_or_init(|| now))
}

#[cfg(all(test, not(protego_loom)))]
mod tests {
    use super::*;

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
    fn a_reading_is_its_distance_from_the_origin() {
        let origin = *ORIGIN.get_or_init(Instant::now);
        for d in [
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::from_nanos(999_999_999),
            Duration::new(1, 500_000_001),
            Duration::new(40 * 365 * 86_400, 123_456_789),
        ] {
            let Some(later) = origin.checked_add(d) else {
                continue; // past this platform's range
            };
            assert_eq!(elapsed(later), d);
        }
    }

    #[test]
    fn a_reading_before_the_origin_is_zero() {
        let origin = *ORIGIN.get_or_init(Instant::now);
        if let Some(earlier) = origin.checked_sub(Duration::from_secs(1)) {
            assert_eq!(elapsed(earlier), Duration::ZERO);
        }
    }
}
