//! [`CoarseClock`]: a clock read with one atomic load, advanced by a thread or task the
//! application runs.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use super::{Clock, SystemClock};
use crate::config::saturating_nanos;
use crate::stripes::CachePadded;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A clock that costs one atomic load to read: the time of its last *tick*.
///
/// Reading [`SystemClock`] costs a `clock_gettime` (about 20-25 ns on a VM), and a breaker reads
/// its clock on every rejection and, with a time [`Window`](crate::Window) or slow-call timing,
/// on every call. A `CoarseClock` keeps the time in one shared atomic that only [`tick`]
/// writes: `tick` copies its source clock's time (the system clock unless you pick another)
/// into it. The library ticks nothing and spawns nothing; the application does, on a thread
/// ([`run`]) or a task of its runtime ([`ticker`]), every millisecond or so.
///
/// It keeps the [`Clock`] contract: clones share one time, and time never goes backwards (a
/// tick never moves it back). Between ticks it stands still, so it is *coarse* by one tick
/// period, and that changes what the breaker measures:
///
/// - **`retry_after` and the open period**: an open circuit turns half-open at the first tick
///   at or after its deadline, up to one period late; `retry_after` can be up to one period too
///   long. With a 1 ms period and a `reset_timeout` of seconds, that is noise.
/// - **Slow calls**: a call's duration is the difference of two readings, so it is off by up to
///   one period either way: with 1 ms ticks, a 0.2 ms call may measure 1 ms and a 1.8 ms call
///   1 ms. Keep `slow_call_duration` many periods long (100 ms and up for 1 ms ticks).
/// - **Time windows**: an outcome lands in the bucket of the last tick, so bucket edges move by
///   up to one period; a window of 10 buckets of 1 s counts within 0.1 %.
/// - **If nothing ticks, time stands still**: an open circuit then stays open for good. Run the
///   ticker for as long as the breakers are used (it stops by itself once every other clone of
///   the clock is dropped).
///
/// ```
/// use std::time::Duration;
/// use protego_breaker::{Breaker, clock::CoarseClock, Config, State};
///
/// let clock = CoarseClock::new();
/// let ticking = clock.clone();
/// // Ticks every millisecond; returns when every other clone of `clock` is gone.
/// let ticker = std::thread::spawn(move || ticking.run(Duration::from_millis(1)));
///
/// let breaker = Breaker::with_clock(Config::default(), clock);
/// assert_eq!(breaker.state(), State::Closed);
/// drop(breaker);
/// ticker.join().unwrap();
/// ```
///
/// [`tick`]: CoarseClock::tick
/// [`run`]: CoarseClock::run
/// [`ticker`]: CoarseClock::ticker
pub struct CoarseClock<S: Clock = SystemClock> {
    shared: Arc<Shared<S>>,
}

struct Shared<S> {
    /// The time of the last tick (ns); on a line of its own, read by every breaker.
    nanos: CachePadded<AtomicU64>,
    source: S,
}

impl CoarseClock<SystemClock> {
    /// A coarse clock over the system clock, at the system clock's time now.
    ///
    /// ```
    /// use protego_breaker::{Clock, clock::CoarseClock, SystemClock};
    ///
    /// let clock = CoarseClock::new();
    /// assert!(clock.now() <= SystemClock.now());
    /// ```
    pub fn new() -> Self {
        Self::with_source(SystemClock)
    }
}

impl Default for CoarseClock<SystemClock> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Clock> CoarseClock<S> {
    /// A coarse clock over `source`, at `source`'s time now. Over a
    /// [`ManualClock`](crate::ManualClock) it makes tests of coarse time deterministic: the
    /// coarse clock moves only when the test ticks it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use protego_breaker::{Clock, clock::CoarseClock, ManualClock};
    ///
    /// let source = ManualClock::new();
    /// let clock = CoarseClock::with_source(source.clone());
    /// source.advance(Duration::from_millis(3));
    /// assert_eq!(clock.now(), Duration::ZERO); // not ticked yet
    /// clock.tick();
    /// assert_eq!(clock.now(), Duration::from_millis(3));
    /// ```
    pub fn with_source(source: S) -> Self {
        let now = saturating_nanos(source.now());
        CoarseClock {
            shared: Arc::new(Shared {
                nanos: CachePadded(AtomicU64::new(now)),
                source,
            }),
        }
    }

    /// Sets this clock (and every clone) to its source's time, unless that would move it back.
    ///
    /// ```
    /// use protego_breaker::{Clock, clock::CoarseClock};
    ///
    /// let clock = CoarseClock::new();
    /// let before = clock.now();
    /// std::thread::sleep(std::time::Duration::from_millis(2));
    /// clock.tick();
    /// assert!(clock.now() > before);
    /// ```
    pub fn tick(&self) {
        let now = saturating_nanos(self.shared.source.now());
        self.shared.nanos.fetch_max(now, Ordering::Release);
    }

    /// Whether this is the only clone left: nothing reads the clock any more.
    fn alone(&self) -> bool {
        Arc::strong_count(&self.shared) == 1
    }

    /// Ticks every `period` on the calling thread until every other clone of the clock is
    /// dropped. Meant for a thread of its own:
    /// `std::thread::spawn(move || clock.run(Duration::from_millis(1)))`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use protego_breaker::clock::CoarseClock;
    ///
    /// let clock = CoarseClock::new();
    /// let ticking = clock.clone();
    /// let thread = std::thread::spawn(move || ticking.run(Duration::from_millis(1)));
    /// drop(clock);
    /// thread.join().unwrap(); // the last user is gone: the ticker returned
    /// ```
    pub fn run(self, period: Duration) {
        while !self.alone() {
            self.tick();
            std::thread::sleep(period);
        }
    }

    /// A future that ticks, then awaits `sleep(period)`, in a loop, until every other clone of
    /// the clock is dropped: spawn it on your runtime with the runtime's own sleep, e.g.
    /// `tokio::spawn(clock.ticker(period, tokio::time::sleep))`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use protego_breaker::{Clock, clock::CoarseClock};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let clock = CoarseClock::new();
    /// let ticker = tokio::spawn(clock.clone().ticker(Duration::from_millis(1), tokio::time::sleep));
    /// let before = clock.now();
    /// tokio::time::sleep(Duration::from_millis(5)).await;
    /// assert!(clock.now() > before);
    /// drop(clock);
    /// ticker.await.unwrap(); // returns once the clock has no other user
    /// # }
    /// ```
    pub async fn ticker<F, Fut>(self, period: Duration, mut sleep: F)
    where
        F: FnMut(Duration) -> Fut,
        Fut: Future<Output = ()>,
    {
        while !self.alone() {
            self.tick();
            sleep(period).await;
        }
    }
}

impl<S: Clock> Clock for CoarseClock<S> {
    /// The time of the last tick: one atomic load.
    #[inline]
    fn now(&self) -> Duration {
        Duration::from_nanos(self.shared.nanos.load(Ordering::Acquire))
    }
}

impl<S: Clock> Clone for CoarseClock<S> {
    fn clone(&self) -> Self {
        CoarseClock {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: Clock> fmt::Debug for CoarseClock<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CoarseClock")
            .field("now", &self.now())
            .finish_non_exhaustive()
    }
}
