//! [`QuantaClock`]: the CPU's own counter (the TSC on x86-64, the system counter on `AArch64`),
//! read through the `quanta` crate and scaled to nanoseconds (feature `quanta`).

use std::fmt;
use std::time::Duration;

use super::Clock;

/// A clock read from the CPU's counter through the [`quanta`](https://docs.rs/quanta) crate:
/// one `rdtsc` and a multiply and shift, where [`SystemClock`](crate::SystemClock) pays a
/// `clock_gettime` (about 20-25 ns on a VM) and std's subtraction. Needs feature `quanta`.
///
/// In `benches/call.rs` (`open_rejection`, one run on a loaded 2-core VM) a reading cost 17.8 ns
/// against `SystemClock`'s 45.6 ns, and a rejection 25.8 ns against 67.3 ns.
///
/// `now()` is the time since this clock was built; clones share that origin, so a registry and
/// every breaker in it can share one clock. What it trades for the cheaper reading:
///
/// - **Calibration, once, on the thread that builds the first one.** The counter ticks at the
///   CPU's rate, not in nanoseconds: the first `quanta::Clock` in the process (the first
///   `QuantaClock`, or anything else using `quanta`) measures that rate against the OS's
///   monotonic clock in a busy loop, usually 10-20 ms and at most 200 ms. Build the clock at
///   start-up and clone it; a clone costs nothing of the sort. Reading it never calibrates.
/// - **Only where the counter is trustworthy.** On x86-64 `quanta` takes the counter only if the
///   CPU reports an invariant TSC and `rdtscp`; elsewhere (and on iOS, WASM, other
///   architectures) it reads the OS's monotonic clock, which is what `SystemClock` costs.
/// - **Its own scale.** The rate is measured once and never corrected, while the OS's clock
///   follows NTP's rate corrections, so over hours the two can drift apart a little. A breaker
///   compares only readings of its own clock, so this matters only if you compare its times
///   with another clock's. Like std's `Instant` on Linux, it does not count time the machine
///   spends suspended.
/// - **Ordered on one thread, a few nanoseconds loose between threads.** `quanta` promises
///   readings that never go back on one thread, but `rdtsc` is not ordered with memory, so a
///   thread may read a time a few nanoseconds before one another thread has already stored.
///   The breaker counts a time before a stored one as no time passed (an open period then ends
///   a few nanoseconds later), and a reading before this clock's origin comes out as zero.
/// - **No `recent()` time.** `quanta::Clock::recent` is cheaper still, but it needs an upkeep
///   thread (or a task calling `quanta::set_recent`) and this library spawns nothing. For a
///   clock read with one atomic load and advanced by a thread or task you run, take
///   [`CoarseClock`](crate::clock::CoarseClock) (over a `QuantaClock` if you like:
///   `CoarseClock::with_source(QuantaClock::new())`).
///
/// ```
/// use protego_breaker::{Breaker, Clock, Config, clock::QuantaClock, State};
///
/// // Calibrates the counter if nothing in the process has yet: build it once, at start-up.
/// let clock = QuantaClock::new();
/// let a = clock.now();
/// let b = clock.now();
/// assert!(b >= a);
///
/// let breaker = Breaker::with_clock(Config::default(), clock.clone());
/// assert_eq!(breaker.state(), State::Closed);
/// ```
#[derive(Clone)]
pub struct QuantaClock {
    clock: ::quanta::Clock,
    /// The counter's raw reading when this clock was built.
    origin: u64,
}

impl QuantaClock {
    /// A clock at zero now, calibrating the counter first if nothing in the process has (a busy
    /// loop of usually 10-20 ms, at most 200 ms).
    ///
    /// ```
    /// use std::time::Duration;
    /// use protego_breaker::{Clock, clock::QuantaClock};
    ///
    /// let clock = QuantaClock::new();
    /// assert!(clock.now() < Duration::from_secs(1));
    /// ```
    pub fn new() -> Self {
        let clock = ::quanta::Clock::new();
        let origin = clock.raw();
        QuantaClock { clock, origin }
    }
}

impl Default for QuantaClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for QuantaClock {
    /// Read the counter and scale its distance from the origin: zero if the counter reads
    /// before the origin (a thread on a core whose counter lags).
    #[inline]
    fn now(&self) -> Duration {
        Duration::from_nanos(self.clock.delta_as_nanos(self.origin, self.clock.raw()))
    }
}

impl fmt::Debug for QuantaClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QuantaClock")
            .field("now", &self.now())
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(protego_loom)))]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn readings_never_go_back_on_one_thread() {
        let clock = QuantaClock::new();
        let mut last = clock.now();
        for _ in 0..100_000 {
            let now = clock.now();
            assert!(now >= last, "went back: {last:?} -> {now:?}");
            last = now;
        }
    }

    #[test]
    fn clones_share_the_origin() {
        let clock = QuantaClock::new();
        let clone = clock.clone();
        let (a, b, c) = (clock.now(), clone.now(), clock.now());
        assert!(a <= b && b <= c, "{a:?} {b:?} {c:?}");
    }

    #[test]
    fn agrees_with_std_across_a_sleep() {
        // Each reading is bracketed by std instants, so preemption anywhere cannot fail this;
        // only a scale off by more than 0.1 % can.
        let clock = QuantaClock::new();
        let s0 = Instant::now();
        let q1 = clock.now();
        let s1 = Instant::now();
        std::thread::sleep(Duration::from_millis(20));
        let s2 = Instant::now();
        let q2 = clock.now();
        let s3 = Instant::now();
        let (q, inner, outer) = (q2.saturating_sub(q1), s2 - s1, s3 - s0);
        assert!(q >= inner.saturating_sub(inner / 1000), "{q:?} < {inner:?}");
        assert!(q <= outer + outer / 1000, "{q:?} > {outer:?}");
    }
}
