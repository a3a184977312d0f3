//! A runtime-agnostic circuit breaker for async Rust.
//!
//! A circuit breaker stops an application from hammering a service that is failing. After
//! `failure_threshold` consecutive failures the circuit **opens**: calls are refused at once,
//! without running, with an error that says when to retry. After `reset_timeout` it goes
//! **half-open** and lets `half_open_retries` trial calls through; if they succeed it **closes**
//! again, if one fails it opens again. Defaults: 3, 60 s, 2.
//!
//! ```
//! use protego_breaker::{Breaker, CircuitBreaker, Config, Error};
//!
//! # async fn fetch_quote() -> Result<u32, std::io::Error> { Ok(7) }
//! # futures::executor::block_on(async {
//! let breaker = Breaker::new(Config::default());
//! match breaker.call(fetch_quote()).await {
//!     Ok(quote) => println!("quote: {quote}"),
//!     Err(Error::Rejected(r)) => println!("not run; retry after {:?}", r.retry_after()),
//!     Err(Error::Inner(e)) => println!("ran and failed: {e}"),
//! }
//! # });
//! ```
//!
//! - [`Breaker`] is one circuit; [`CircuitBreaker::call`] runs a future through it and returns
//!   a [`Protected`] future resolving to `Result<T, Error<E>>`.
//! - [`Registry`] holds breakers by name; [`ProtectExt::protect`] runs a future through one:
//!   `fetch().protect(&registry, "payments").await`.
//! - [`Config`] holds the knobs, validated by [`ConfigBuilder::build`].
//! - [`Clock`] is where time comes from: [`SystemClock`] by default, [`ManualClock`] to drive
//!   the whole machine from a test without sleeping; [`CoarseClock`] and (feature `quanta`)
//!   `QuantaClock` where a reading must cost less.
//!
//! Beyond Protego's three knobs, all off by default: [`Classify`] which results count
//! ([`Protected::classify`]); failure-rate [`Window`]s and slow calls
//! ([`Config::window`], [`Config::slow_call_duration`]); backoff and jitter of the open period
//! ([`Config::backoff_multiplier`], [`Config::jitter`]); manual control
//! ([`Breaker::force_open`], [`Breaker::disable`], [`Breaker::reset`]); listeners
//! ([`Breaker::on_transition`] with [`Transition`] and [`Reason`]); and [`Metrics`] with exact
//! call [`Totals`] ([`Breaker::metrics`], [`Config::totals`]).
//!
//! The library depends on no async runtime and spawns nothing: it runs under tokio, async-std,
//! smol, `futures::executor` or any other executor. See [`Breaker`] for the exact semantics.

#![forbid(unsafe_code)]

mod breaker;
mod call;
mod clock;
mod config;
mod error;
#[cfg(feature = "fleet")]
pub mod fleet;
mod integrations;
mod machine;
mod name;
mod observe;
mod registry;
mod stripes;
mod sync;

#[cfg(feature = "admin")]
pub use integrations::admin;
#[cfg(feature = "http")]
pub use integrations::http;
#[cfg(feature = "metrics")]
pub use integrations::metrics;
#[cfg(feature = "reqwest")]
pub use integrations::reqwest;
#[cfg(feature = "serde")]
pub use integrations::serde;
#[cfg(feature = "tower")]
pub use integrations::tower;

pub use breaker::Breaker;
pub use call::circuit_breaker::CircuitBreaker;
pub use call::classify::{Classify, ErrorsAsFailures, Outcome};
pub use call::permit::Permit;
pub use call::protect::ProtectExt;
pub use call::protected::Protected;
#[cfg(feature = "quanta")]
pub use clock::QuantaClock;
pub use clock::{Clock, CoarseClock, ManualClock, SystemClock};
pub use config::{Config, ConfigBuilder};
pub use error::{ConfigError, Error, Rejected};
pub use machine::state::State;
pub use machine::window::Window;
pub use observe::events::{Reason, Transition};
pub use observe::metrics::{Counts, Metrics, Rate, Totals, WindowCounts};
pub use registry::{BreakerHandle, Registry};

/// The README's examples, compiled and run as doc tests. Its integration examples need every
/// optional feature: `cargo test --all-features` (the README's test command) runs them.
#[cfg(all(doctest, feature = "http", feature = "serde", feature = "tracing"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
