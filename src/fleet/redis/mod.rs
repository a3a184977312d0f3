//! [`Store`](crate::fleet::Store) on Redis: one Lua script per operation over a multiplexed
//! connection, and pub/sub pushes of every change.
//!
//! Each store operation is one script that runs atomically on the server, so a compare-and-set on
//! the epoch (a trip, a failure share) and all that follows from it (the votes or shares counted,
//! the push) happen in one step that no other replica can interleave with. Every transition a
//! script makes takes a new epoch, greater than every earlier one even after the keys expired or
//! Redis lost its data (epochs are seeded from the store's time), and publishes the change. The
//! store owns no task of its own and trusts nothing it reads: a reply or a push that does not parse
//! is an error naming the operation.
//!
//! # Key layout
//! Breaker `name` under key prefix `prefix` (default `protego`) lives in four keys,
//! `prefix{name}:state` (hash), `prefix{name}:leases` and `prefix{name}:votes` (sorted sets) and
//! `prefix{name}:failures` (hash), all under the hash tag `{name}` (one Redis Cluster slot);
//! every change is published on channel `prefix:events`. A prefix holds no brace (refused), so
//! the layout is injective: two fleets with different prefixes never share a key, whatever their
//! breakers are named (prefix `team` with breaker `a:db` is `team{a:db}:state`, prefix `team:a`
//! with breaker `db` is `team:a{db}:state`). Releases before this layout used
//! `{prefix:name}:state`: replicas on the two layouts do not share state.
//!
//! # Topologies
//! - **One server** (`RedisConfig::new(url)`), also a managed one behind one address.
//! - **A primary with replicas behind Redis Sentinel**
//!   ([`RedisConfigBuilder::sentinel`]): on every (re)connect the store asks the sentinels for
//!   the primary and takes it only once the server says it is the primary. When the primary
//!   dies, its connection fails, the fleet goes local, and each attempt (5 to 50 ms apart,
//!   whatever the sync interval) asks the sentinels again; once they have promoted a replica,
//!   the next attempt reconnects to it, reads every breaker and shares again. A demoted
//!   primary answering `READONLY` is a store in transition
//!   ([`StoreError::InTransition`](crate::fleet::StoreError::InTransition)) and is dropped the
//!   same way. What wins when the
//!   promoted replica lost the last writes: the `fleet` module's docs, "When the store comes
//!   back".
//!
//! - **Redis Cluster** ([`RedisConfigBuilder::cluster`], feature `redis-cluster`): the `redis`
//!   crate's async cluster connection learns the slot map from the nodes given and sends each
//!   script to the primary of its breaker's slot (the four keys share one hash tag, so one
//!   slot; a name whose tag would be empty is laid out under tag `#`, see
//!   [`RedisStore::keys`]). `MOVED` and `ASK` are followed; while a breaker's slot migrates the
//!   nodes answer its four-key scripts `TRYAGAIN` and the client retries within the op
//!   timeout (a migration done as `redis-cli --cluster reshard` does it takes milliseconds;
//!   a longer one makes the fleet local until it ends). A node that answers `NOSCRIPT` gets
//!   the whole script (`EVAL`). Changes are pushed with classic pub/sub, which the cluster
//!   relays to every node; the subscription is made on the first of the given nodes that
//!   answers. Sharded pub/sub (`SSUBSCRIBE`) is not used: its channels live in slots, so it
//!   would need a channel per breaker, and the store subscribes once for all breakers. Tested
//!   with three primaries, including the breaker's slot migrated while a trial was out.
//!
//! Tested against Redis 7.0 (Debian 12's `redis-server`, also run as `redis-server --sentinel`
//! and with `--cluster-enabled yes`). Valkey is not packaged in Debian 12 and has not been
//! tested; it speaks the same protocol and runs the same Lua scripts, but no version of it is
//! claimed to work.
//!
//! - [`RedisConfig`] and [`RedisConfigBuilder`]: the address (and password), the key prefix,
//!   the op timeout and the idle TTL.
//! - [`RedisStore`]: the [`Store`](crate::fleet::Store) itself; cheap to share behind an `Arc`.
//! - [`parse_change`]: a pushed message read back, for tools that subscribe on their own.
//! - [`MAX_MS`]: the longest duration a script takes; longer ones are clamped.

mod changes;
mod config;
mod connection;
mod reply;
mod script;
mod store;

pub use changes::parse_change;
pub use config::{RedisConfig, RedisConfigBuilder};
pub use script::MAX_MS;
pub use store::RedisStore;
