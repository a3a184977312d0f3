//! [`Throttle`]: the SRE book's client-side throttling, as an admission rule of a breaker.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::breaker::Breaker;
use crate::clock::Clock;
use crate::config::saturating_nanos;
use crate::error::ConfigError;
use crate::machine::gate::Gate;
use crate::machine::outcome::Outcome;
use crate::random::{Random, SplitMix};
use crate::throttle::counts::{Counts, ACCEPTS, REQUESTS, SLOTS};

/// Client-side adaptive throttling: rejects a request at once with probability
/// `max(0, (requests - K * accepts) / (requests + 1))`, counted over the last `window`.
/// Defaults: K = 1.5, window 1 s, at least 10 requests to judge (the book says K = 2 over 2
/// minutes; [`ThrottleBuilder::window`] and [`ThrottleBuilder::k`] say why not).
///
/// Every request the throttle is asked about counts as a request, whether it lets it through
/// or not; an accept is a call that ended as a [`Success`](Outcome::Success) or
/// [`Ignored`](Outcome::Ignored) (the dependency answered, or the call was not its business).
/// Attached to a breaker ([`attach`](Throttle::attach)), the breaker's
/// [`Classify`](crate::call::Classify) decides. Counts live in ten atomic slots
/// (one word per tenth of the window) and draws come from an injectable [`Random`]: a decision
/// is two atomic loads, one compare-and-swap, a few integer operations and, when it may reject,
/// one draw, with no lock, no division, no float and no allocation.
///
/// ```
/// use std::time::Duration;
/// use protego_breaker::call::Outcome;
/// use protego_breaker::throttle::Throttle;
///
/// let throttle = Throttle::builder().seed(1).build()?;
/// let now = Duration::ZERO;
/// assert_eq!(throttle.rejection_probability(now), 0.0);
/// for _ in 0..99 {
///     if throttle.admit(now) {
///         throttle.record(now, Outcome::Failure);
///     }
/// }
/// // 99 requests, no accepts: 99 / 100.
/// assert!((throttle.rejection_probability(now) - 0.99).abs() < 1e-9);
/// # Ok::<(), protego_breaker::ConfigError>(())
/// ```
pub struct Throttle {
    counts: Counts,
    k: f64,
    /// K in units of 2^-32, so that a decision is integer arithmetic (see [`K_ONE`]).
    k_fixed: u64,
    min_requests: u64,
    random: Source,
}

/// Where the draws come from: the crate's own generator is kept inline, so a draw is not a
/// call through a pointer (the same sequence as behind an `Arc`).
enum Source {
    Own(SplitMix),
    Given(Arc<dyn Random>),
}

impl Source {
    #[inline]
    fn next_u32(&self) -> u32 {
        match self {
            Source::Own(random) => random.next_u32(),
            Source::Given(random) => random.next_u32(),
        }
    }
}

/// 1 in the units of `k_fixed`: K is kept to 1/2^32 (every K with at most 32 binary places,
/// 1.5, 2 or 1.25 among them, exactly), and `requests * K_ONE` stays below 2^58.
const K_ONE: u64 = 1 << 32;
const K_ONE_F64: f64 = 4_294_967_296.0;

/// Builds a [`Throttle`]; [`build`](ThrottleBuilder::build) checks every knob.
///
/// ```
/// use protego_breaker::throttle::Throttle;
///
/// let err = Throttle::builder().k(0.5).build().unwrap_err();
/// assert_eq!(err.to_string(), "k must be at least 1, got 0.5");
/// ```
#[must_use]
pub struct ThrottleBuilder {
    k: f64,
    window: Duration,
    min_requests: u32,
    random: Option<Source>,
}

impl ThrottleBuilder {
    /// The multiplier K: how many requests per accept the client may send before it throttles.
    /// At least 1 (1 throttles hardest; the book suggests 2). Default 1.5, as go-zero ships.
    ///
    /// K = 2 lets twice what the dependency accepts reach it. That is cheap where it rejects
    /// fast, not where excess requests wait in its queue until their callers time out: at the
    /// edge of overload in the storm simulation the throttle alone kept 21 % of the goodput
    /// with K = 2 and 45 % with K = 1.5.
    ///
    /// A decision is integer arithmetic, with K kept to 1/2^32: every K with at most 32 binary
    /// places (1.5, 2, 1.25, ...) is exact, any other is off by less than 2^-33.
    ///
    /// ```
    /// assert!(protego_breaker::throttle::Throttle::builder().k(1.5).build().is_ok());
    /// ```
    pub fn k(mut self, k: f64) -> Self {
        self.k = k;
        self
    }

    /// How far back requests and accepts count: more than 0, at most 10 minutes. Default 1 s;
    /// keep it a few times the calls' timeout.
    ///
    /// Locally rejected requests count as requests and not as accepts, so once a storm fills
    /// the window the throttle lets through about K times the accepts it sees, and what it
    /// lets through grows by about K per window: a long window is a slow recovery. In the
    /// storm simulation (`tests/storm.rs`, the sweep in `benches/README.md`), the throttle
    /// alone with the book's 2 minutes, or go-zero's 10 s, was still refusing most of a
    /// healthy dependency's traffic 25 s after the trigger at every depth of overload; with
    /// 1 s it was back to full goodput within 3 s.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let err = protego_breaker::throttle::Throttle::builder().window(Duration::ZERO).build().unwrap_err();
    /// assert_eq!(err.knob(), "window");
    /// ```
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Fewer requests than this in the window are too few to judge: the throttle lets every
    /// call through. Default 10 (kratos' port waits for 100 in 3 s, go-zero's lets 5 through).
    ///
    /// ```
    /// # use std::time::Duration;
    /// use protego_breaker::throttle::Throttle;
    /// let throttle = Throttle::builder().min_requests(3).build()?;
    /// throttle.admit(Duration::ZERO); // a failure; the throttle does not judge on one
    /// assert_eq!(throttle.rejection_probability(Duration::ZERO), 0.0);
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn min_requests(mut self, n: u32) -> Self {
        self.min_requests = n;
        self
    }

    /// Draws from `random` (a seeded [`SplitMix`] by default, seeded per process).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use protego_breaker::random::SplitMix;
    /// let t = protego_breaker::throttle::Throttle::builder().random(Arc::new(SplitMix::new(3))).build();
    /// assert!(t.is_ok());
    /// ```
    pub fn random(mut self, random: Arc<dyn Random>) -> Self {
        self.random = Some(Source::Given(random));
        self
    }

    /// Draws from a [`SplitMix`] seeded with `seed`: the same calls make the same decisions.
    ///
    /// ```
    /// assert!(protego_breaker::throttle::Throttle::builder().seed(42).build().is_ok());
    /// ```
    pub fn seed(mut self, seed: u64) -> Self {
        self.random = Some(Source::Own(SplitMix::new(seed)));
        self
    }

    /// The throttle, or the first knob out of range.
    ///
    /// # Errors
    /// [`ConfigError`] naming `k` or `window`.
    ///
    /// ```
    /// assert!(protego_breaker::throttle::Throttle::builder().build().is_ok());
    /// ```
    pub fn build(self) -> Result<Throttle, ConfigError> {
        if !(self.k >= 1.0 && self.k.is_finite()) {
            return Err(ConfigError::new("k", "be at least 1", self.k));
        }
        if self.window.is_zero() || self.window > Duration::from_secs(600) {
            return Err(ConfigError::new(
                "window",
                "be more than 0 and at most 10 min",
                format_args!("{:?}", self.window),
            ));
        }
        Ok(Throttle {
            counts: Counts::new(saturating_nanos(self.window) / SLOTS as u64),
            k: self.k,
            k_fixed: k_fixed(self.k),
            min_requests: u64::from(self.min_requests),
            random: self
                .random
                .unwrap_or_else(|| Source::Own(SplitMix::from_entropy())),
        })
    }
}

impl Throttle {
    /// The knobs, at their defaults.
    ///
    /// ```
    /// let throttle = protego_breaker::throttle::Throttle::builder().k(1.5).build()?;
    /// # let _ = throttle;
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn builder() -> ThrottleBuilder {
        ThrottleBuilder {
            k: 1.5,
            window: Duration::from_secs(1),
            min_requests: 10,
            random: None,
        }
    }

    /// Makes this throttle an admission rule of `breaker`: from now on a call the closed
    /// circuit would admit goes through [`admit`](Throttle::admit), and its outcome (as the
    /// breaker classifies it) to [`record`](Throttle::record), on the breaker's clock.
    /// `false` if the breaker already has a throttle (it keeps that one). One throttle per
    /// breaker; for every breaker of a registry, attach one in
    /// [`Registry::on_create`](crate::Registry::on_create).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use protego_breaker::throttle::Throttle;
    /// use protego_breaker::Registry;
    ///
    /// let registry = Registry::new();
    /// registry.on_create(|breaker| {
    ///     let throttle = Throttle::builder().build().expect("valid");
    ///     Arc::new(throttle).attach(breaker);
    /// });
    /// let _ = registry.handle("payments"); // throttled from its first call
    /// ```
    pub fn attach<C: Clock>(self: &Arc<Self>, breaker: &Breaker<C>) -> bool {
        breaker.set_gate(Arc::clone(self) as Arc<dyn Gate>)
    }

    /// Decides one request at `now`: counts it, and lets it through (`true`) or rejects it
    /// with the throttle's current probability.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let throttle = protego_breaker::throttle::Throttle::builder().build()?;
    /// assert!(throttle.admit(Duration::ZERO)); // nothing refused yet: probability 0
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    #[inline]
    pub fn admit(&self, now: Duration) -> bool {
        self.admit_at(saturating_nanos(now))
    }

    /// Records how a request the throttle let through ended: a success or an ignored outcome
    /// is an accept, a failure is not.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use protego_breaker::call::Outcome;
    /// let throttle = protego_breaker::throttle::Throttle::builder().build()?;
    /// assert!(throttle.admit(Duration::ZERO));
    /// throttle.record(Duration::ZERO, Outcome::Success);
    /// assert_eq!(throttle.rejection_probability(Duration::ZERO), 0.0);
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    #[inline]
    pub fn record(&self, now: Duration, outcome: Outcome) {
        self.record_at(saturating_nanos(now), outcome);
    }

    /// The probability that a request at `now` is rejected.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let throttle = protego_breaker::throttle::Throttle::builder().build()?;
    /// assert_eq!(throttle.rejection_probability(Duration::from_secs(1)), 0.0);
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn rejection_probability(&self, now: Duration) -> f64 {
        let (_, excess, requests) = self.excess(saturating_nanos(now));
        if excess == 0 || requests < self.min_requests {
            0.0
        } else {
            // Below 2^58 and 2^26: the quotient is as exact as an f64 allows.
            #[allow(clippy::cast_precision_loss)]
            let (excess, requests) = (excess as f64, requests as f64);
            excess / K_ONE_F64 / (requests + 1.0)
        }
    }

    /// The current bucket, `max(0, requests - K * accepts)` over the window ending in it in
    /// units of 2^-32, and the requests (below 2^26).
    fn excess(&self, now: u64) -> (u64, u64, u64) {
        let (g, older_requests, older_accepts) = self.counts.bucket(now);
        let (requests, accepts) = self.counts.current(g);
        let (excess, requests) = self.excess_of(requests + older_requests, accepts + older_accepts);
        (g, excess, requests)
    }

    /// `max(0, requests - K * accepts)` in units of 2^-32, and the requests.
    #[inline]
    fn excess_of(&self, requests: u64, accepts: u64) -> (u64, u64) {
        let excess = (requests * K_ONE).saturating_sub(self.k_fixed.saturating_mul(accepts));
        (excess, requests)
    }

    #[inline]
    fn admit_at(&self, now: u64) -> bool {
        let (g, older_requests, older_accepts) = self.counts.bucket(now);
        // Counted first: the compare-and-swap hands back the current tenth as it was before
        // this request, so the decision is the same as reading it first, with one read less.
        let (requests, accepts) = self.counts.add(g, REQUESTS);
        let (excess, requests) = self.excess_of(requests + older_requests, accepts + older_accepts);
        if excess == 0 || requests < self.min_requests {
            return true;
        }
        // Reject when draw / 2^32 < excess / (requests + 1): in integers, below 2^59.
        u64::from(self.random.next_u32()) * (requests + 1) >= excess
    }

    #[inline]
    fn record_at(&self, now: u64, outcome: Outcome) {
        if outcome != Outcome::Failure {
            let _ = self.counts.add(self.counts.bucket(now).0, ACCEPTS);
        }
    }
}

/// `k` in units of 2^-32, to the nearest (`k` is at least 1 and finite; one beyond 2^32
/// saturates, and behaves as it: any accept outweighs every request of a window).
fn k_fixed(k: f64) -> u64 {
    // At least 2^32 and rounded; `as` saturates.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let fixed = (k * K_ONE_F64).round() as u64;
    fixed
}

impl Gate for Throttle {
    #[inline]
    fn admit(&self, now: u64) -> bool {
        self.admit_at(now)
    }

    #[inline]
    fn record(&self, now: u64, outcome: Outcome) {
        self.record_at(now, outcome);
    }
}

impl fmt::Debug for Throttle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Throttle")
            .field("k", &self.k)
            .field(
                "window",
                &Duration::from_nanos(self.counts.width() * SLOTS as u64),
            )
            .field("min_requests", &self.min_requests)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for ThrottleBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThrottleBuilder")
            .field("k", &self.k)
            .field("window", &self.window)
            .field("min_requests", &self.min_requests)
            .finish_non_exhaustive()
    }
}
