//! Shared state across replicas (feature `fleet`): one breaker for the whole fleet.
//!
//! A [`Fleet`] shares breakers with every other process that uses the same [`Store`]: a trip
//! on any replica opens the circuit everywhere, the open period runs on the store's clock,
//! half-open trials are leased fleet-wide, and manual states reach every replica. The closed
//! path never touches the store, and while the store is away each replica is a local breaker.
//! See [`Fleet`] for the guarantees.
//!
//! - [`Store`]: the async, dyn-compatible trait a store implements (one atomic operation per
//!   step); `redis::RedisStore` (features `redis-tokio`, `redis-smol`) is the one this crate ships.
//! - [`Fleet`] and [`FleetConfig`]: sharing registries or breakers, and the sync future
//!   ([`Fleet::run`]) you spawn.
//! - [`Sleeper`]: timers on your runtime for the sync interval and op timeouts
//!   (`TokioSleeper` with `redis-tokio`, `AsyncIoSleeper` with `redis-smol`).
//!
//! ```no_run
//! # #[cfg(feature = "redis-tokio")]
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use protego_breaker::fleet::redis::{RedisConfig, RedisStore};
//! use protego_breaker::fleet::{Fleet, FleetConfig, TokioSleeper};
//! use protego_breaker::{ProtectExt, Registry};
//!
//! let store = RedisStore::new(RedisConfig::new("redis://127.0.0.1:6379/"), Arc::new(TokioSleeper))?;
//! let fleet = Fleet::new(Arc::new(store), FleetConfig::new(TokioSleeper).replica_id("web-1"))?;
//! let registry = Registry::new();
//! fleet.share(&registry);
//! tokio::spawn(fleet.run());
//!
//! let answer = async { Ok::<_, std::io::Error>(42) }.protect(&registry, "payments").await;
//! # let _ = answer;
//! # Ok(()) }
//! # #[cfg(not(feature = "redis-tokio"))] fn main() {}
//! ```

mod config;
mod error;
#[allow(clippy::module_inception)]
mod fleet;
mod link;
#[cfg(feature = "serde")]
mod settings;
mod store;
mod sync;
mod timeout;
mod types;

#[cfg(feature = "redis")]
pub mod redis;

pub use config::FleetConfig;
pub use error::StoreError;
pub use fleet::Fleet;
#[cfg(feature = "serde")]
pub use settings::FleetSettings;
pub use store::{ChangeStream, Store};
#[cfg(feature = "redis-smol")]
pub use timeout::AsyncIoSleeper;
#[cfg(feature = "redis-tokio")]
pub use timeout::TokioSleeper;
pub use timeout::{with_timeout, Sleep, Sleeper};
pub use types::{
    Change, Epoch, Failures, FailuresOutcome, FailuresResult, LeaseId, LeaseOutcome, LeaseResult,
    Manual, ReportResult, SharedState, StateKind, TrialOutcome, Trip, TripOutcome, TripResult,
};
