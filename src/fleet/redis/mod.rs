//! [`Store`](crate::fleet::Store) on Redis: one Lua script per operation, a multiplexed connection, pub/sub pushes.

mod store;

pub use store::{parse_change, RedisConfig, RedisStore, MAX_MS};
