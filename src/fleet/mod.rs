//! Shared state across replicas (feature `fleet`): one breaker for the whole fleet.
//!
//! When a dependency dies in front of 20 replicas, 20 local breakers each learn it alone, and
//! each sends its own trials every half-open round. A [`Fleet`] shares breakers with every other
//! process that uses the same [`Store`]: a trip on any replica opens the circuit everywhere,
//! failures add up across the fleet, the open period runs on the store's clock, half-open trials
//! are leased fleet-wide, and manual states reach every replica. The closed path never touches
//! the store, and while the store is away each replica is a local breaker. Sharing is opt-in, per
//! registry ([`Fleet::share`]) or per breaker ([`Fleet::join`]); without it nothing changes.
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
//! let store = RedisStore::new(RedisConfig::new("redis://127.0.0.1:6379/"), TokioSleeper)?;
//! let fleet = Fleet::new(Arc::new(store), FleetConfig::new(TokioSleeper).replica_id("web-1"))?;
//! let registry = Registry::new();
//! fleet.share(&registry); // every breaker of the registry, now and later
//! tokio::spawn(fleet.run()); // the one future that syncs; the library spawns nothing
//!
//! let answer = async { Ok::<_, std::io::Error>(42) }.protect(&registry, "payments").await;
//! # let _ = answer;
//! # Ok(()) }
//! # #[cfg(not(feature = "redis-tokio"))] fn main() {}
//! ```
//!
//! # Guarantees
//! - **The closed path stays local**: a closed call never touches the store (no I/O, no
//!   `.await`); a closed success writes nothing and costs the same with sharing on. A closed
//!   failure, already off the fast path, also tests a per-breaker flag and, once per burst,
//!   queues one command for the sync future.
//! - **A trip is fleet-wide**: when any replica's own policy opens its circuit it publishes the
//!   trip (one atomic step: a compare-and-set on the fleet's epoch), and every other replica
//!   rejects too, pushed (within milliseconds on one host) and read again every
//!   [sync interval](FleetConfig::sync_interval) (default 1 s) in case a push is lost. Replicas
//!   tripping at once make exactly one fleet-wide Open; a write carrying a stale epoch changes
//!   nothing.
//! - **Failures count fleet-wide** (on by default): the circuit opens for everyone when the
//!   replicas' consecutive failures sum to `failure_threshold`; see
//!   [Fleet-wide failures](#fleet-wide-failures).
//! - **One time base**: the open period runs on the store's time (Redis `TIME`); each replica
//!   turns the time left into a deadline on its own [`Clock`](crate::Clock), so `retry_after`
//!   is exact on every replica whatever its clock says.
//! - **Half-open is fleet-wide**: at most `half_open_retries` trials in flight across the fleet,
//!   each holding a [lease](FleetConfig::lease) (default 10 s, capped at the breaker's
//!   `max_half_open_duration`, by default its `reset_timeout`), so a replica that dies
//!   mid-trial frees its slot when the lease ends; that many successes anywhere close the
//!   circuit everywhere; the first failure anywhere reopens it, with the shared backoff.
//! - **Manual states** (`force_open`, `disable`, `reset`) on one replica reach all.
//! - **Joining never resets**: a replica that starts or restarts adopts what the store holds and
//!   never overwrites it; a name the store does not hold is Closed. Keys expire when unused
//!   (after 24 h with Redis: `RedisConfig::idle_ttl`).
//! - **Optional quorum**: with [`FleetConfig::quorum`]`(q)`, q distinct replicas must fail
//!   before the fleet opens; below it a tripping replica is open on its own. A replica counts
//!   once whether it tripped within the [quorum window](FleetConfig::quorum_window) or holds a
//!   live failure share, so one sick replica alone never opens the fleet.
//! - **Nothing runs behind your back**: the work of sharing (subscribing, polling, publishing)
//!   is the future [`Fleet::run`] returns, which you spawn on your executor; dropping it makes
//!   every breaker local again.
//! - Every transition adopted from the fleet carries
//!   [`Reason::Fleet`](crate::observe::Reason::Fleet) in listener events.
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
//!   command per burst) and the sync future writes the latest count, so a burst of failures
//!   is one write. A clean closed success sends nothing and costs what it costs unshared.
//! - A share counts for [`failure_window`](FleetConfig::failure_window) (default 10 s, store
//!   time) after it last changed, so a replica that died drops out; every new epoch starts with
//!   no shares.
//! - With a [quorum](FleetConfig::quorum) Q > 1 the shares open the circuit only when Q
//!   distinct replicas fail: a replica with a live non-zero share and a replica that tripped
//!   within the quorum window count once each, for shares and trips alike.
//! - Breakers with a failure-rate window keep tripping per replica (each publishes its trip).
//! - [`FleetConfig::fleet_wide_failures`]`(false)` turns it off: per-replica trips only.
//!
//! # When the store is down or slow
//! The store failing never fails a call and never blocks one. Every store operation is bounded
//! by [`op_timeout`](FleetConfig::op_timeout) (default 100 ms) and runs in the sync future,
//! never in a call. While the store cannot be reached each replica is exactly a local breaker
//! (its own trips, its own half-open). A trip or manual state made meanwhile is published when
//! the store is back, after the replica has read the store's state (it never overwrites a newer
//! one), and before [`Fleet::is_online`] says `true` again. If the store lost its data,
//! replicas adopt Closed. A store that answers but refuses (`NOAUTH` without a password, out of
//! memory) counts as away too; so does a store in transition ([`StoreError::InTransition`]:
//! `MOVED`, `ASK`, `TRYAGAIN`, `CLUSTERDOWN`, `LOADING`, `READONLY`, `MASTERDOWN` during a
//! failover or a slot migration, naming the node and its reply); garbage in one breaker's keys
//! ([`StoreError::Garbage`]) concerns that breaker alone.
//! Whether the store is reachable shows in [`Fleet::is_online`] (why not: [`Fleet::last_error`];
//! how often: [`Fleet::outages`]), in each breaker's
//! [`Metrics::fleet_online`](crate::observe::Metrics::fleet_online) (`None`: not shared), and
//! as `tracing` events (feature `tracing`, target `protego_breaker::fleet`).
//!
//! # When the store comes back
//! While the store was away each replica decided alone: it tripped, ran its own half-open
//! rounds, closed. While it is away each replica asks again on a short jittered backoff of its
//! own (5-10 ms, doubling to 25-50 ms; at most 40 attempts a second, each of at most two store
//! operations while the same part of the store stays away: 80 a second per fleet), whatever its [sync interval](FleetConfig::sync_interval), and a broken
//! connection is replaced at once. When the store answers again, that attempt reconciles them
//! by one rule: **the store's state wins, except a trip still in force.**
//! 1. Of what it decided alone, a replica keeps only a trip whose open period still has time
//!    left on its own clock. A trip whose period ended, the local half-open round that
//!    followed (its trials count for nothing) and a local close all yield.
//! 2. It reads every breaker and adopts what the store holds, whatever its epoch (what it knew
//!    before may come from a store that has lost it since; if the store lost everything, that
//!    is Closed).
//! 3. A trip still in force is then published as on any trip, a compare-and-set on the Closed
//!    epoch just read, for **the time it has left**: replicas that tripped alone make one
//!    fleet Open, which ends when the first published one would have; if the store is not
//!    Closed (open, half-open, a manual state), the trip yields to it.
//! 4. A manual state (`force_open`, `disable`, `reset`) made meanwhile is sent last and always
//!    wins: a new epoch.
//!
//! The Redis store (`fleet::redis`) runs on one server, on a primary with replicas behind
//! Redis Sentinel, and on Redis Cluster (feature `redis-cluster`); Redis 7.0 is what was tested.
//!
//! A failover (Redis Sentinel promoting a replica, or a Redis Cluster promoting one of its
//! replicas: `fleet::redis`) is an outage like any other,
//! and the promoted server's state wins the same way, **also when it is older than what the
//! replicas saw**: writes the old primary acknowledged but had not yet replicated are lost
//! like the data of a store that restarted empty (a fleet Open it lost is Closed again, and
//! the breakers trip again on the next failures). Only trips no store has heard of are
//! published again. So every replica follows one store, never a mix of two stores' views.
//!
//! Every replica then holds the store's state: those that read before a trip was published
//! adopt it from its push at once (or at their next read if the push is lost), so the fleet
//! holds one state within one backoff step (at most 50 ms) and one round of reads of the
//! store's return.
//!
//! # From a config file
//! With the `serde` feature, a `[fleet]` section of a `RegistryConfig` file (`url`,
//! `key_prefix`, `sentinel_master`, `sentinels`, `cluster_nodes`, `replica_id`, `op_timeout`, `sync_interval`, `lease`, `quorum`,
//! `quorum_window`, `fleet_wide_failures`, `failure_window`) is read into `FleetSettings`:
//! `settings.redis_config()` gives the store's config and `settings.apply(FleetConfig::new(..))`
//! the fleet's.

mod config;
mod error;
mod handle;
mod link;
mod online;
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
