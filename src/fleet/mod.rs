//! Shared state across replicas (feature `fleet`): one breaker for the whole fleet.
//!
//! A [`Fleet`] shares breakers with every other process that uses the same [`Store`]: a trip
//! on any replica opens the circuit everywhere, the open period runs on the store's clock,
//! half-open trials are leased fleet-wide, and manual states reach every replica. The closed
//! path never touches the store, and while the store is away each replica is a local breaker.
//! See [`Fleet`] for the guarantees.
//!
//! # Fleet-wide failures
//! A replica that only trips on its own consecutive failures lets every replica send
//! `failure_threshold` failing calls when load is even. So each replica's closed
//! consecutive-failure count is also a **share** the store sums
//! ([`Store::count_failures`]): the circuit opens for everyone when the live shares reach
//! `failure_threshold` (3 replicas with one failure each open a fleet whose threshold is 3),
//! in the same atomic step that stores the share (a compare-and-set on the Closed epoch, like
//! a trip).
//! - The count changes only on the out-of-line failure path (a failure, or the success that
//!   resets a non-zero count); the breaker then tells its fleet (one flag, one queued
//!   command per burst) and the sync future writes the latest count. A clean closed success
//!   sends nothing and costs what it costs unshared.
//! - A share counts for [`failure_window`](FleetConfig::failure_window) (store time) after it
//!   last changed, so a replica that died drops out; every new epoch starts with no shares.
//! - With a [quorum](FleetConfig::quorum) Q > 1 the shares open the circuit only when Q
//!   distinct replicas fail: a replica with a live non-zero share and a replica that tripped
//!   within the quorum window count once each, for shares and trips alike.
//! - Breakers with a failure-rate window keep tripping per replica (each publishes its trip).
//! - [`FleetConfig::fleet_wide_failures`]`(false)` turns it off: per-replica trips only.
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
mod handle;
mod link;
#[cfg(feature = "serde")]
mod settings;
mod sleeper;
mod store;
mod sync;
mod timeout;
mod types;

#[cfg(feature = "redis")]
pub mod redis;

pub use config::FleetConfig;
pub use error::StoreError;
pub use handle::Fleet;
#[cfg(feature = "serde")]
pub use settings::FleetSettings;
#[cfg(feature = "redis-smol")]
pub use sleeper::AsyncIoSleeper;
#[cfg(feature = "redis-tokio")]
pub use sleeper::TokioSleeper;
pub use sleeper::{Sleep, Sleeper};
pub use store::{ChangeStream, Store};
pub use timeout::with_timeout;
pub use types::{
    Change, Epoch, Failures, FailuresOutcome, FailuresResult, LeaseId, LeaseOutcome, LeaseResult,
    Manual, ReportResult, SharedState, StateKind, TrialOutcome, Trip, TripOutcome, TripResult,
};
