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
//!   a [`Protected`](call::Protected) future resolving to `Result<T, Error<E>>`.
//! - [`Registry`] holds breakers by name; [`ProtectExt::protect`] runs a future through one:
//!   `fetch().protect(&registry, "payments").await`.
//! - [`Config`] holds the knobs, validated by [`ConfigBuilder::build`]; a failure-rate
//!   [`Window`] is one of them.
//! - [`Clock`] is where time comes from: [`SystemClock`] by default, [`ManualClock`] to drive
//!   the whole machine from a test without sleeping; [`CoarseClock`](clock::CoarseClock) and (feature `quanta`)
//!   `clock::QuantaClock` where a reading must cost less.
//!
//! The root holds what a first program types; the rest lives in its module (none of them named
//! after a crate of the ecosystem, so `use protego_breaker::*` shadows none):
//!
//! | module | what is there |
//! | --- | --- |
//! | [`call`] | the [`Protected`](call::Protected) future, [`Permit`](call::Permit)s, [`Classify`](call::Classify) and [`Outcome`](call::Outcome) for which results count, [`is_timeout`](call::is_timeout) (tower's `Elapsed` too, with feature `tower-timeout`) |
//! | [`clock`] | [`CoarseClock`](clock::CoarseClock) and (feature `quanta`) `QuantaClock`, cheaper clocks for rejection-heavy paths |
//! | [`observe`] | listeners' [`Transition`](observe::Transition) and [`Reason`](observe::Reason), the [`Metrics`](observe::Metrics) snapshot with exact call [`Totals`](observe::Totals) |
//! | [`registry`] | [`BreakerHandle`](registry::BreakerHandle), a registry breaker held by name |
//! | [`retry`] | retries paid from a budget ([`TpsBudget`](retry::TpsBudget), gRPC's [`TokenBudget`](retry::TokenBudget)) and coupled to the breaker |
//! | [`throttle`] | the SRE book's client-side adaptive [`Throttle`](throttle::Throttle), an admission rule of a breaker |
//! | [`sleep`] | the [`Sleeper`](sleep::Sleeper) retries wait on (tokio's and async-io's behind features `tokio` / `async-io`) |
//! | [`random`] | the injectable [`Random`](random::Random) source of jitter and throttling draws |
//! | [`integrations`] | tower, http, tonic, balance, reqwest, metrics, serde and admin, each behind its feature |
//! | `fleet` | shared state across replicas (feature `fleet`, Redis with `redis-tokio` / `redis-smol`) |
//!
//! Beyond Protego's three knobs, all off by default: failure-rate windows and slow calls
//! ([`Config::window`], [`Config::slow_call_duration`]); backoff and jitter of the open period
//! ([`Config::backoff_multiplier`], [`Config::jitter`]); manual control
//! ([`Breaker::force_open`], [`Breaker::disable`], [`Breaker::reset`]); listeners
//! ([`Breaker::on_transition`]); and call totals ([`Breaker::metrics`], [`Config::totals`]).
//!
//! The library depends on no async runtime and spawns nothing: it runs under tokio, async-std,
//! smol, `futures::executor` or any other executor. See [`Breaker`] for the exact semantics.

#![forbid(unsafe_code)]

mod breaker;
pub mod call;
pub mod clock;
mod config;
mod error;
mod extensions;
#[cfg(feature = "fleet")]
pub mod fleet;
pub mod integrations;
mod machine;
mod name;
pub mod observe;
pub mod random;
pub mod registry;
pub mod retry;
pub mod sleep;
mod stripes;
mod sync;
pub mod throttle;

/// The observer compiled into every breaker (see `observe::tap`): `tracing` events with the
/// `tracing` feature, nothing without.
#[cfg(feature = "tracing")]
type BuiltinTap = integrations::tracing::TracingTap;
#[cfg(not(feature = "tracing"))]
type BuiltinTap = Silent;

/// The tap of a build without `tracing`: it does nothing, and compiles to nothing.
#[cfg(not(feature = "tracing"))]
struct Silent;

#[cfg(not(feature = "tracing"))]
impl observe::tap::Tap for Silent {
    #[inline(always)]
    fn transition(_: &name::Name, _: State, _: State, _: observe::Reason) {}
    #[inline(always)]
    fn rejection(_: &name::Name, _: State, _: Option<u64>) {}
}

pub use breaker::Breaker;
pub use call::{CircuitBreaker, ProtectExt};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{Config, ConfigBuilder, Window};
pub use error::{ConfigError, Error, Rejected};
pub use machine::state::State;
pub use registry::Registry;

/// The README's examples, compiled and run as doc tests. Its integration examples need every
/// optional feature: `cargo test --all-features` (the README's test command) runs them.
#[cfg(all(
    doctest,
    feature = "http",
    feature = "serde",
    feature = "tracing",
    feature = "balance",
    feature = "tonic",
    feature = "tokio",
    feature = "redis-tokio"
))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
