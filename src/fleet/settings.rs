//! [`FleetSettings`]: a fleet's knobs as a config file holds them (features `fleet` + `serde`).

use std::time::Duration;

use crate::fleet::FleetConfig;

/// The `[fleet]` section of a [`RegistryConfig`](crate::integrations::serde::RegistryConfig) file. Every
/// key is optional; unknown keys are errors. Durations are written `"100ms"`, `"1s"`.
///
/// ```toml
/// [fleet]
/// url = "redis://127.0.0.1:6379/"   # the store (RedisConfig)
/// key_prefix = "protego"            # RedisConfig
/// # sentinel_master = "mymaster"    # Redis Sentinel: the primary's name, and the sentinels
/// # sentinels = ["redis://10.0.0.1:26379/", "redis://10.0.0.2:26379/"]
/// # cluster_nodes = ["redis://10.0.0.1:7000/", "redis://10.0.0.2:7000/"]  # Redis Cluster
/// replica_id = "web-1"              # default: process id + random
/// op_timeout = "100ms"
/// sync_interval = "1s"
/// lease = "10s"
/// quorum = 1
/// quorum_window = "10s"
/// fleet_wide_failures = true       # trip on the sum of every replica's consecutive failures
/// failure_window = "10s"
/// ```
///
/// ```
/// use std::time::Duration;
/// use protego_breaker::integrations::serde::RegistryConfig;
/// use protego_breaker::fleet::{FleetConfig, Sleep};
///
/// let file: RegistryConfig = toml::from_str("[fleet]\nquorum = 2\nsync_interval = \"250ms\"")?;
/// let settings = file.fleet().unwrap();
/// let sleeper = |_| -> Sleep { Box::pin(std::future::pending()) };
/// let config = settings.apply(FleetConfig::new(sleeper));
/// assert_eq!(config.get_quorum(), 2);
/// assert_eq!(config.get_sync_interval(), Duration::from_millis(250));
/// # Ok::<(), toml::de::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FleetSettings {
    /// The store's address (for the Redis store's `RedisConfig`).
    pub url: Option<String>,
    /// The store's key prefix.
    pub key_prefix: Option<String>,
    /// With Redis Sentinel: the name the sentinels watch the primary under
    /// (`RedisConfig::sentinel_master`).
    pub sentinel_master: Option<String>,
    /// With Redis Sentinel: the sentinels' URLs (`RedisConfig::sentinels`).
    pub sentinels: Option<Vec<String>>,
    /// With Redis Cluster (feature `redis-cluster`): some of its nodes' URLs
    /// (`RedisConfig::cluster_nodes`); `url` may then be left out.
    pub cluster_nodes: Option<Vec<String>>,
    /// [`FleetConfig::replica_id`].
    pub replica_id: Option<String>,
    /// [`FleetConfig::op_timeout`] (and the store's).
    pub op_timeout: Option<Duration>,
    /// [`FleetConfig::sync_interval`].
    pub sync_interval: Option<Duration>,
    /// [`FleetConfig::lease`].
    pub lease: Option<Duration>,
    /// [`FleetConfig::quorum`].
    pub quorum: Option<u32>,
    /// [`FleetConfig::quorum_window`].
    pub quorum_window: Option<Duration>,
    /// [`FleetConfig::fleet_wide_failures`].
    pub fleet_wide_failures: Option<bool>,
    /// [`FleetConfig::failure_window`].
    pub failure_window: Option<Duration>,
}

impl FleetSettings {
    /// `config` with the keys this section sets.
    ///
    /// ```
    /// use protego_breaker::fleet::{FleetConfig, FleetSettings, Sleep};
    /// let sleeper = |_| -> Sleep { Box::pin(std::future::pending()) };
    /// let config = FleetSettings::default().apply(FleetConfig::new(sleeper).quorum(3));
    /// assert_eq!(config.get_quorum(), 3); // nothing set, nothing changed
    /// ```
    #[must_use]
    pub fn apply(&self, mut config: FleetConfig) -> FleetConfig {
        if let Some(id) = &self.replica_id {
            config = config.replica_id(id.clone());
        }
        if let Some(d) = self.op_timeout {
            config = config.op_timeout(d);
        }
        if let Some(d) = self.sync_interval {
            config = config.sync_interval(d);
        }
        if let Some(d) = self.lease {
            config = config.lease(d);
        }
        if let Some(q) = self.quorum {
            config = config.quorum(q);
        }
        if let Some(d) = self.quorum_window {
            config = config.quorum_window(d);
        }
        if let Some(on) = self.fleet_wide_failures {
            config = config.fleet_wide_failures(on);
        }
        if let Some(d) = self.failure_window {
            config = config.failure_window(d);
        }
        config
    }

    /// The Redis store's config, if the section names a `url` or `cluster_nodes`: its
    /// `key_prefix`, `op_timeout`, `sentinel_master`, `sentinels` and `cluster_nodes` applied
    /// (unchecked, as `RedisConfig::new`; `RedisStore::new` checks it). Without a `url`, the
    /// first cluster node stands in for it (a cluster store does not use it).
    ///
    /// ```
    /// let file: protego_breaker::integrations::serde::RegistryConfig =
    ///     toml::from_str("[fleet]\nurl = \"redis://10.0.0.7/\"\nkey_prefix = \"shop\"")?;
    /// let redis = file.fleet().unwrap().redis_config().unwrap();
    /// assert_eq!((redis.url.as_str(), redis.key_prefix.as_str()), ("redis://10.0.0.7/", "shop"));
    /// # Ok::<(), toml::de::Error>(())
    /// ```
    #[cfg(feature = "redis")]
    pub fn redis_config(&self) -> Option<crate::fleet::redis::RedisConfig> {
        let url = self
            .url
            .clone()
            .or_else(|| self.cluster_nodes.as_ref()?.first().cloned())?;
        let mut config = crate::fleet::redis::RedisConfig::new(url);
        if let Some(prefix) = &self.key_prefix {
            config.key_prefix.clone_from(prefix);
        }
        if let Some(d) = self.op_timeout {
            config.op_timeout = d;
        }
        config.sentinel_master.clone_from(&self.sentinel_master);
        if let Some(sentinels) = &self.sentinels {
            config.sentinels.clone_from(sentinels);
        }
        if let Some(nodes) = &self.cluster_nodes {
            config.cluster_nodes.clone_from(nodes);
        }
        Some(config)
    }
}
