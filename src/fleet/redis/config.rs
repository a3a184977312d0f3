//! [`RedisConfig`] and its builder: where the store is and how its keys are laid out. Plain
//! data, read once by [`RedisStore::new`](super::RedisStore::new); nothing here does I/O.

use std::fmt;
use std::time::Duration;

use crate::error::ConfigError;

/// How to reach Redis and lay out the keys. Build it with [`RedisConfig::builder`] (checked) or
/// [`RedisConfig::new`] (the defaults); [`RedisStore::new`](super::RedisStore::new) checks it
/// again either way.
///
/// **Passwords** go in the URL: `redis://:PASSWORD@host:6379/` (`redis://USER:PASSWORD@host/`
/// with an ACL user; percent-encode `@`, `:` and `/` in them). `Debug` and every error message
/// show `***` in their place.
///
/// ```
/// use std::time::Duration;
/// use protego_breaker::fleet::redis::RedisConfig;
///
/// let config = RedisConfig::builder("redis://:s3cret@10.0.0.7:6379/")
///     .key_prefix("shop")
///     .idle_ttl(Duration::from_secs(3600))
///     .build()?;
/// assert_eq!(config.key_prefix, "shop");
/// assert!(!format!("{config:?}").contains("s3cret"));
/// # Ok::<(), protego_breaker::ConfigError>(())
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct RedisConfig {
    /// A `redis://` URL (`rediss://` needs a TLS feature of the `redis` crate), with the
    /// password if the server wants one: `redis://:PASSWORD@host:port/db`.
    pub url: String,
    /// Key prefix (no `{` or `}`): breaker `name` lives in
    /// `prefix{name}:state|leases|votes|failures`; pushes go to channel `prefix:events`. Two
    /// fleets with different prefixes never share a key, whatever their breakers are named.
    pub key_prefix: String,
    /// The store's own bound on each operation, connecting included (default 100 ms), for
    /// using the store on its own. Under a [`Fleet`](crate::fleet::Fleet), what bounds an
    /// operation is [`FleetConfig::op_timeout`](crate::fleet::FleetConfig::op_timeout): the
    /// sync future gives up then whatever this says, and the store treats an operation
    /// abandoned that way as timed out (it drops its connection). Keep this one at or above
    /// the fleet's, or leave both at their default.
    pub op_timeout: Duration,
    /// Keys expire this long after the last write (plus any open period left); reads refresh
    /// it once half of it has run (default 24 h).
    pub idle_ttl: Duration,
    /// With Redis Sentinel: the name the sentinels watch the primary under (`sentinel monitor
    /// NAME ...`; default `None`, `url` is the server). The store then asks
    /// [`sentinels`](Self::sentinels) for the primary on every (re)connect, and only takes a
    /// server that says it is the primary; `url` gives its password and database, not its
    /// address. See [`RedisConfigBuilder::sentinel`].
    pub sentinel_master: Option<String>,
    /// With Redis Sentinel: the sentinels' `redis://` URLs (any that answers will do).
    pub sentinels: Vec<String>,
    /// With Redis Cluster (feature `redis-cluster`): `redis://` URLs of some of the cluster's
    /// nodes, passwords included (default empty: `url` is the server). The store then talks to
    /// the whole cluster through them and `url` is not used. See [`RedisConfigBuilder::cluster`].
    pub cluster_nodes: Vec<String>,
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &redacted(&self.url))
            .field("key_prefix", &self.key_prefix)
            .field("op_timeout", &self.op_timeout)
            .field("idle_ttl", &self.idle_ttl)
            .field("sentinel_master", &self.sentinel_master)
            .field(
                "sentinels",
                &self
                    .sentinels
                    .iter()
                    .map(|u| redacted(u))
                    .collect::<Vec<_>>(),
            )
            .field(
                "cluster_nodes",
                &self
                    .cluster_nodes
                    .iter()
                    .map(|u| redacted(u))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// `url` with the password (if any) as `***`, for logs and error messages.
///
/// ```text
/// redis://:s3cret@host:6379/  ->  redis://:***@host:6379/
/// redis://me:s3cret@host/     ->  redis://me:***@host/
/// redis://s3cret@host/        ->  redis://***@host/
/// ```
pub(super) fn redacted(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    // `user:password`, or one part that some clients take as the password: hide it too.
    let shown = match rest[..at].split_once(':') {
        Some((user, _)) => format!("{user}:***"),
        None => "***".to_owned(),
    };
    format!("{}{shown}{}", &url[..scheme_end], &rest[at..])
}

/// Why `prefix` cannot be a key prefix, if it cannot: a brace would reach into the hash tag
/// and make two (prefix, name) pairs share keys.
pub(super) fn prefix_problem(prefix: &str) -> Option<&'static str> {
    prefix
        .contains(['{', '}'])
        .then_some("hold no brace (`{` or `}`): the prefix must not reach into the hash tag")
}

impl RedisConfig {
    /// Defaults for `url`: prefix `protego`, 100 ms op timeout, 24 h idle TTL. Unchecked: see
    /// [`builder`](Self::builder).
    ///
    /// ```
    /// use protego_breaker::fleet::redis::RedisConfig;
    /// let config = RedisConfig::new("redis://127.0.0.1:6379/");
    /// assert_eq!(config.key_prefix, "protego");
    /// assert_eq!(config.op_timeout, std::time::Duration::from_millis(100));
    /// ```
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            key_prefix: "protego".to_owned(),
            op_timeout: Duration::from_millis(100),
            idle_ttl: Duration::from_secs(24 * 3600),
            sentinel_master: None,
            sentinels: Vec::new(),
            cluster_nodes: Vec::new(),
        }
    }

    /// A builder from the defaults of [`new`](Self::new); [`build`](RedisConfigBuilder::build)
    /// checks every knob.
    ///
    /// ```
    /// use protego_breaker::fleet::redis::RedisConfig;
    /// let err = RedisConfig::builder("redis://127.0.0.1/").key_prefix("a{b").build().unwrap_err();
    /// assert_eq!(err.knob(), "key_prefix");
    /// ```
    pub fn builder(url: impl Into<String>) -> RedisConfigBuilder {
        RedisConfigBuilder {
            config: Self::new(url),
        }
    }

    /// Refuses what the store cannot work with, naming the knob: a URL that does not parse, a
    /// prefix with a brace, a zero duration.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if let Err(e) = redis::Client::open(self.url.as_str()) {
            return Err(ConfigError::new(
                "url",
                format!("be a redis:// URL ({e})"),
                format!("{:?}", redacted(&self.url)),
            ));
        }
        if let Some(why) = prefix_problem(&self.key_prefix) {
            return Err(ConfigError::new(
                "key_prefix",
                why,
                format!("{:?}", self.key_prefix),
            ));
        }
        match (&self.sentinel_master, self.sentinels.is_empty()) {
            (Some(_), true) => {
                return Err(ConfigError::new(
                    "sentinels",
                    "name at least one sentinel with a sentinel master",
                    "[]",
                ))
            }
            (None, false) => {
                return Err(ConfigError::new(
                    "sentinel_master",
                    "be set with sentinels",
                    "None",
                ))
            }
            _ => {}
        }
        for url in &self.sentinels {
            if let Err(e) = redis::Client::open(url.as_str()) {
                return Err(ConfigError::new(
                    "sentinels",
                    format!("be redis:// URLs ({e})"),
                    format!("{:?}", redacted(url)),
                ));
            }
        }
        self.validate_cluster()?;
        for (knob, d) in [("op_timeout", self.op_timeout), ("idle_ttl", self.idle_ttl)] {
            if d.is_zero() {
                return Err(ConfigError::new(knob, "be greater than 0", "0s"));
            }
        }
        Ok(())
    }
}

impl RedisConfig {
    /// The cluster knobs: node URLs that parse, not with Sentinel, and the feature built in.
    fn validate_cluster(&self) -> Result<(), ConfigError> {
        if self.cluster_nodes.is_empty() {
            return Ok(());
        }
        if !cfg!(feature = "redis-cluster") {
            return Err(ConfigError::new(
                "cluster_nodes",
                "be empty in a build without the `redis-cluster` feature",
                format!("{} nodes", self.cluster_nodes.len()),
            ));
        }
        if self.sentinel_master.is_some() {
            return Err(ConfigError::new(
                "cluster_nodes",
                "be empty with a sentinel master (Sentinel or Cluster, not both)",
                format!("{} nodes", self.cluster_nodes.len()),
            ));
        }
        for url in &self.cluster_nodes {
            if let Err(e) = redis::Client::open(url.as_str()) {
                return Err(ConfigError::new(
                    "cluster_nodes",
                    format!("be redis:// URLs ({e})"),
                    format!("{:?}", redacted(url)),
                ));
            }
        }
        Ok(())
    }
}

/// Builds a [`RedisConfig`], checked ([`RedisConfig::builder`]).
///
/// ```
/// use std::time::Duration;
/// use protego_breaker::fleet::redis::RedisConfig;
/// let config = RedisConfig::builder("redis://127.0.0.1/")
///     .op_timeout(Duration::from_millis(50))
///     .build()?;
/// assert_eq!(config.op_timeout, Duration::from_millis(50));
/// # Ok::<(), protego_breaker::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct RedisConfigBuilder {
    config: RedisConfig,
}

impl RedisConfigBuilder {
    /// Sets [`key_prefix`](RedisConfig::key_prefix): no `{` or `}`.
    ///
    /// ```
    /// # use protego_breaker::fleet::redis::RedisConfig;
    /// let config = RedisConfig::builder("redis://127.0.0.1/").key_prefix("team:a").build()?;
    /// assert_eq!(config.key_prefix, "team:a");
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.config.key_prefix = prefix.into();
        self
    }

    /// Sets [`op_timeout`](RedisConfig::op_timeout): more than zero.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use protego_breaker::fleet::redis::RedisConfig;
    /// let err = RedisConfig::builder("redis://127.0.0.1/").op_timeout(Duration::ZERO).build();
    /// assert_eq!(err.unwrap_err().to_string(), "op_timeout must be greater than 0, got 0s");
    /// ```
    pub fn op_timeout(mut self, timeout: Duration) -> Self {
        self.config.op_timeout = timeout;
        self
    }

    /// Sets [`idle_ttl`](RedisConfig::idle_ttl): more than zero.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use protego_breaker::fleet::redis::RedisConfig;
    /// let config = RedisConfig::builder("redis://127.0.0.1/").idle_ttl(Duration::from_secs(60)).build()?;
    /// assert_eq!(config.idle_ttl, Duration::from_secs(60));
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn idle_ttl(mut self, ttl: Duration) -> Self {
        self.config.idle_ttl = ttl;
        self
    }

    /// Finds the primary through Redis Sentinel: `master` is the name the sentinels watch it
    /// under, `sentinels` their URLs. On every (re)connect the store asks the sentinels for the
    /// primary and takes it only once the server itself says it is the primary (`ROLE`); after
    /// a failover, the first operation that fails on the old primary (refused, `READONLY`, or
    /// timed out) drops the connection, and the next one reconnects to the promoted replica.
    /// The builder's URL then gives only the password and database of the primary:
    /// `redis://:PASSWORD@primary/0` (its host is not used).
    ///
    /// ```
    /// # use protego_breaker::fleet::redis::RedisConfig;
    /// let config = RedisConfig::builder("redis://primary/")
    ///     .sentinel("mymaster", ["redis://10.0.0.1:26379/", "redis://10.0.0.2:26379/"])
    ///     .build()?;
    /// assert_eq!(config.sentinel_master.as_deref(), Some("mymaster"));
    /// assert_eq!(config.sentinels.len(), 2);
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn sentinel<S: Into<String>>(
        mut self,
        master: impl Into<String>,
        sentinels: impl IntoIterator<Item = S>,
    ) -> Self {
        self.config.sentinel_master = Some(master.into());
        self.config.sentinels = sentinels.into_iter().map(Into::into).collect();
        self
    }

    /// Talks to a Redis Cluster (feature `redis-cluster`) through `nodes`, `redis://` URLs of
    /// some of its primaries or replicas (passwords included): the store learns the slot map
    /// from them and sends each script to the primary of its breaker's slot, following
    /// `MOVED`/`ASK` redirections while a slot migrates. The builder's URL is then not used.
    /// Changes are pushed with classic pub/sub, which the cluster relays to every node, and
    /// the subscription is made on the first of `nodes` that answers.
    ///
    /// ```
    /// # use protego_breaker::fleet::redis::RedisConfig;
    /// let config = RedisConfig::builder("redis://unused/")
    ///     .cluster(["redis://10.0.0.1:7000/", "redis://10.0.0.2:7000/"])
    ///     .build();
    /// if cfg!(feature = "redis-cluster") {
    ///     assert_eq!(config?.cluster_nodes.len(), 2);
    /// } else {
    ///     assert_eq!(config.unwrap_err().knob(), "cluster_nodes");
    /// }
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn cluster<S: Into<String>>(mut self, nodes: impl IntoIterator<Item = S>) -> Self {
        self.config.cluster_nodes = nodes.into_iter().map(Into::into).collect();
        self
    }

    /// The config, or the first knob out of range.
    ///
    /// # Errors
    /// A [`ConfigError`] naming `url` (does not parse), `key_prefix` (holds a brace),
    /// `op_timeout` or `idle_ttl` (zero), `sentinels` (one does not parse, or none with a
    /// sentinel master), `sentinel_master` (sentinels without one) or `cluster_nodes` (one does
    /// not parse, set with Sentinel, or set in a build without the `redis-cluster` feature).
    ///
    /// ```
    /// # use protego_breaker::fleet::redis::RedisConfig;
    /// let err = RedisConfig::builder("nope://:pw@host/").build().unwrap_err();
    /// assert_eq!(err.knob(), "url");
    /// assert!(!err.to_string().contains("pw@"));
    /// ```
    pub fn build(self) -> Result<RedisConfig, ConfigError> {
        self.config.validate()?;
        Ok(self.config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        for (url, shown) in [
            ("redis://:pw@h:1/", "redis://:***@h:1/"),
            ("redis://me:pw@h/0", "redis://me:***@h/0"),
            ("redis://me:p@w@h/", "redis://me:***@h/"),
            ("redis://h:1/", "redis://h:1/"),
            ("redis://me@h/", "redis://***@h/"),
            ("nope", "nope"),
            ("redis://h/a@b", "redis://h/a@b"),
        ] {
            assert_eq!(redacted(url), shown, "{url}");
        }
    }
}
