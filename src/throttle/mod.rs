//! Client-side adaptive throttling (Google SRE book, chapter 21, "Handling Overload"): when a
//! dependency accepts fewer requests than the client sends, the client rejects the excess
//! itself, at once, with probability
//!
//! ```text
//! max(0, (requests - K * accepts) / (requests + 1))
//! ```
//!
//! over a sliding time window (defaults K = 1.5, 1 s: chosen on the crate's storm simulation,
//! see [`ThrottleBuilder::window`]). A [`Throttle`] is attached to a [`Breaker`](crate::Breaker) and
//! becomes one more reason for it to reject, so every form of call (`.protect(..)`, `call`,
//! `try_acquire`, the tower and reqwest layers, retries) and every view of the breaker (the
//! registry, rejection listeners, call totals, the metrics export, the admin view) works with
//! it unchanged. A throttled call is [`Error::Rejected`](crate::Error::Rejected) with state
//! `Closed` and no `retry_after`; the circuit's own states are untouched: the throttle only
//! acts while the circuit is closed, and an open or half-open circuit decides as before.
//!
//! Where the breaker is a step (all traffic or none, then a burst of trials), the throttle is
//! a slope: it sheds the share of traffic the dependency cannot take, and lets the rest
//! through. Locally rejected requests count as requests, not accepts, so the throttle holds
//! while the dependency stays overloaded and lets go as accepts come back.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use protego_breaker::throttle::Throttle;
//! use protego_breaker::{Breaker, CircuitBreaker, Config, ManualClock, State};
//!
//! let clock = ManualClock::new();
//! let breaker = Breaker::with_clock(Config::builder().failure_threshold(1_000).build()?, clock.clone());
//! let throttle = Arc::new(Throttle::builder().k(2.0).seed(7).build()?);
//! assert!(throttle.attach(&breaker));
//!
//! // The dependency refuses everything: soon most calls are rejected locally.
//! let mut rejected = 0;
//! for _ in 0..1_000 {
//!     match breaker.try_acquire() {
//!         Ok(permit) => permit.failure(),
//!         Err(r) => { assert_eq!(r.state(), State::Closed); rejected += 1; }
//!     }
//! }
//! assert!(rejected > 900);
//! # Ok::<(), protego_breaker::ConfigError>(())
//! ```

mod adaptive;
mod counts;

pub use adaptive::{Throttle, ThrottleBuilder};
