//! [`RedisConfig`]: where the store is and how its keys are laid out. Plain data, read once by
//! [`RedisStore::new`](super::RedisStore::new); nothing here does I/O.

use std::time::Duration;

/// How to reach Redis and lay out the keys.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RedisConfig {
    /// A `redis://` URL (`rediss://` needs a TLS feature of the `redis` crate).
    pub url: String,
    /// Key prefix (no `{` or `}`): breaker `name` lives in
    /// `prefix{name}:state|leases|votes|failures`; pushes go to channel `prefix:events`. Two
    /// fleets with different prefixes never share a key, whatever their breakers are named.
    pub key_prefix: String,
    /// Every operation gives up after this (default 100 ms).
    pub op_timeout: Duration,
    /// Keys expire this long after the last write (plus any open period left); reads refresh
    /// it once half of it has run (default 24 h).
    pub idle_ttl: Duration,
}

impl RedisConfig {
    /// Defaults for `url`: prefix `protego`, 100 ms op timeout, 24 h idle TTL.
    ///
    /// ```
    /// use protego_breaker::fleet::redis::RedisConfig;
    /// let mut config = RedisConfig::new("redis://127.0.0.1:6379/");
    /// config.key_prefix = "shop".to_owned();
    /// assert_eq!(config.op_timeout, std::time::Duration::from_millis(100));
    /// ```
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            key_prefix: "protego".to_owned(),
            op_timeout: Duration::from_millis(100),
            idle_ttl: Duration::from_secs(24 * 3600),
        }
    }
}
