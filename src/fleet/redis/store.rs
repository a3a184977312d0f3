//! [`RedisStore`]: the store itself, its key layout, and each [`Store`] operation as one
//! script run.
//!
//! Breaker `name` lives in four keys under one hash tag, `prefix{name}` ([`RedisStore::keys`]),
//! so every script touches one Redis Cluster slot; the scripts read them in that order. The
//! layout is injective: the prefix may hold no brace, so the first `{` ends it, and the key ends
//! in one of four distinct suffixes, so no two (prefix, name) pairs share a key. Each
//! operation sends the keys, the channel, the name and the idle TTL, then its own arguments,
//! and reads back one status; a status the operation does not know is a
//! [`StoreError::BadReply`], never taken for another. The open period, lease, vote and share
//! expiries all run on the store's clock (`TIME` inside the scripts), so replicas' clocks never
//! need to agree.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::config::redacted;
use super::reply::bad;
use super::script::{ms, scripts, Arg};
use super::RedisConfig;
use crate::fleet::{
    ChangeStream, Epoch, Failures, FailuresOutcome, FailuresResult, LeaseId, LeaseOutcome,
    LeaseResult, Manual, ReportResult, SharedState, Sleeper, Store, StoreError, TrialOutcome, Trip,
    TripOutcome, TripResult,
};

/// The Redis store. Cheap to share behind an `Arc`; connects lazily and, after any store-wide
/// failure (unreachable, timed out, refused), drops its connection so the next operation
/// makes a new one. Owns no task of its own: the `redis` crate runs
/// one driver task per connection on the runtime of its feature (tokio or smol), which ends
/// when the connection (this store, or a subscription stream) is dropped.
pub struct RedisStore {
    /// Where the server is: one address, or found through Sentinel.
    pub(super) target: Target,
    /// The primary Sentinel named, until a store-wide failure makes the store ask again.
    pub(super) primary: Mutex<Option<redis::Client>>,
    prefix: String,
    pub(super) channel: String,
    pub(super) op_timeout: Duration,
    pub(super) idle_ttl_ms: u64,
    pub(super) sleeper: Arc<dyn Sleeper>,
    /// The shared connection and its generation (so a failure on an old one never drops a
    /// newer one), and the next generation to hand out.
    pub(super) conn: Mutex<(Option<(u64, super::connection::Conn)>, u64)>,
}

/// Where the server is.
pub(super) enum Target {
    /// `RedisConfig::url`.
    Direct(redis::Client),
    /// The primary the sentinels name `master`, reached with `node`'s password and database.
    Sentinel {
        master: String,
        sentinels: Vec<String>,
        node: redis::sentinel::SentinelNodeConnectionInfo,
    },
    /// A Redis Cluster reached through its seed `nodes` (also where the subscription goes).
    #[cfg(feature = "redis-cluster")]
    Cluster {
        client: Box<redis::cluster::ClusterClient>,
        nodes: Vec<redis::Client>,
    },
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("op_timeout", &self.op_timeout)
            .field("idle_ttl_ms", &self.idle_ttl_ms)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store for `config`; no I/O until the first operation. `sleeper` makes the op-timeout
    /// timers on your runtime (as [`FleetConfig::new`](crate::fleet::FleetConfig::new)'s does:
    /// `TokioSleeper`, `AsyncIoSleeper`, any `Fn(Duration) -> Sleep`, or an `Arc` of one).
    ///
    /// # Errors
    /// [`StoreError::Refused`] (op `"open"`) when `config` is out of range, as
    /// [`RedisConfigBuilder::build`](super::RedisConfigBuilder::build) says: a URL that does
    /// not parse, a key prefix holding a brace (it must not reach into the hash tag, see
    /// [`keys`](Self::keys)), a zero duration.
    ///
    /// ```
    /// use protego_breaker::fleet::redis::{RedisConfig, RedisStore};
    /// use protego_breaker::fleet::Sleep;
    /// let sleeper = |_| -> Sleep { Box::pin(std::future::pending()) };
    /// assert!(RedisStore::new(RedisConfig::new("redis://127.0.0.1:6379/"), sleeper).is_ok());
    /// assert!(RedisStore::new(RedisConfig::new("nope://"), sleeper).is_err());
    /// ```
    pub fn new(config: RedisConfig, sleeper: impl Sleeper + 'static) -> Result<Self, StoreError> {
        Self::with_sleeper(config, Arc::new(sleeper))
    }

    /// [`new`](Self::new) with a sleeper already shared.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use protego_breaker::fleet::redis::{RedisConfig, RedisStore};
    /// use protego_breaker::fleet::{Sleep, Sleeper};
    /// let sleeper: Arc<dyn Sleeper> = Arc::new(|_| -> Sleep { Box::pin(std::future::pending()) });
    /// let store = RedisStore::with_sleeper(RedisConfig::new("redis://127.0.0.1/"), sleeper)?;
    /// # Ok::<(), protego_breaker::fleet::StoreError>(())
    /// ```
    pub fn with_sleeper(
        config: RedisConfig,
        sleeper: Arc<dyn Sleeper>,
    ) -> Result<Self, StoreError> {
        config.validate().map_err(|e| StoreError::Refused {
            op: "open",
            detail: e.to_string(),
        })?;
        let client = redis::Client::open(config.url.as_str()).map_err(|e| StoreError::Refused {
            op: "open",
            detail: format!("bad store address {:?}: {e}", redacted(&config.url)),
        })?;
        #[cfg(feature = "redis-cluster")]
        if !config.cluster_nodes.is_empty() {
            let target = cluster_target(&config)?;
            return Ok(Self::from_target(config, target, sleeper));
        }
        let target = match config.sentinel_master.clone() {
            None => Target::Direct(client),
            Some(master) => Target::Sentinel {
                master,
                sentinels: config.sentinels.clone(),
                node: redis::sentinel::SentinelNodeConnectionInfo::default()
                    .set_redis_connection_info(
                        client.get_connection_info().redis_settings().clone(),
                    ),
            },
        };
        Ok(Self::from_target(config, target, sleeper))
    }

    fn from_target(config: RedisConfig, target: Target, sleeper: Arc<dyn Sleeper>) -> Self {
        Self {
            target,
            primary: Mutex::new(None),
            channel: format!("{}:events", config.key_prefix),
            prefix: config.key_prefix,
            op_timeout: config.op_timeout,
            idle_ttl_ms: ms(config.idle_ttl).max(1),
            sleeper,
            conn: Mutex::new((None, 0)),
        }
    }

    /// The pub/sub channel of this store's prefix.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use protego_breaker::fleet::redis::{RedisConfig, RedisStore};
    /// # use protego_breaker::fleet::{Sleep, Sleeper};
    /// # let sleeper: Arc<dyn Sleeper> = Arc::new(|_| -> Sleep { Box::pin(std::future::pending()) });
    /// let store = RedisStore::new(RedisConfig::new("redis://127.0.0.1/"), sleeper)?;
    /// assert_eq!(store.channel(), "protego:events");
    /// # Ok::<(), protego_breaker::fleet::StoreError>(())
    /// ```
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// The four keys of breaker `name`, in script order: state (hash), leases (zset), votes
    /// (zset), failure shares (hash): `<prefix>{<name>}:state`, `:leases`, `:votes`,
    /// `:failures`. One hash tag (`{<name>}`, up to the first `}` in it), so one Redis Cluster
    /// slot. The prefix holds no brace, so the first `{` ends it and no two (prefix, name) pairs
    /// share a key: prefix `team` with breaker `a:db` and prefix `team:a` with breaker `db` are
    /// `team{a:db}:state` and `team:a{db}:state`.
    ///
    /// A name whose hash tag would be empty (the empty name, or one starting with `}`) would
    /// leave its four keys in four slots; such a name is laid out as
    /// `<prefix>{#}<name>#:state` (and so on) instead: tag `#`, and a `#` before the suffix
    /// where the plain layout has `}`, so it never shares a key with any other name.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use protego_breaker::fleet::redis::{RedisConfig, RedisStore};
    /// # use protego_breaker::fleet::{Sleep, Sleeper};
    /// # let sleeper: Arc<dyn Sleeper> = Arc::new(|_| -> Sleep { Box::pin(std::future::pending()) });
    /// let store = RedisStore::new(RedisConfig::new("redis://127.0.0.1/"), sleeper)?;
    /// assert_eq!(store.keys("db")[0], "protego{db}:state");
    /// assert_eq!(store.keys("")[0], "protego{#}#:state");
    /// assert_eq!(store.keys("}x")[1], "protego{#}}x#:leases");
    /// # Ok::<(), protego_breaker::fleet::StoreError>(())
    /// ```
    pub fn keys(&self, name: &str) -> [String; 4] {
        let (open, close) = if name.is_empty() || name.starts_with('}') {
            ("{#}", "#")
        } else {
            ("{", "}")
        };
        let stem = format!("{}{open}{name}{close}", self.prefix);
        [
            format!("{stem}:state"),
            format!("{stem}:leases"),
            format!("{stem}:votes"),
            format!("{stem}:failures"),
        ]
    }
}

#[cfg(feature = "redis-cluster")]
fn cluster_target(config: &RedisConfig) -> Result<Target, StoreError> {
    let refused = |url: &str, e: &dyn std::fmt::Display| StoreError::Refused {
        op: "open",
        detail: format!("bad cluster node address {:?}: {e}", redacted(url)),
    };
    let nodes = config
        .cluster_nodes
        .iter()
        .map(|u| redis::Client::open(u.as_str()).map_err(|e| refused(u, &e)))
        .collect::<Result<Vec<_>, _>>()?;
    let client = redis::cluster::ClusterClient::builder(
        nodes.iter().map(|n| n.get_connection_info().clone()),
    )
    .retries(8)
    .min_retry_wait(1)
    .max_retry_wait(20)
    .retry_wait_formula(2, 2)
    .connection_timeout(config.op_timeout)
    .response_timeout(config.op_timeout)
    .overall_response_timeout(None)
    .build()
    .map_err(|e| refused(&config.cluster_nodes.join(","), &e))?;
    Ok(Target::Cluster {
        client: Box::new(client),
        nodes,
    })
}

#[async_trait::async_trait]
impl Store for RedisStore {
    async fn read(&self, name: &str) -> Result<SharedState, StoreError> {
        let r = self.eval("read", name, &scripts().read, &[]).await?;
        match r.status.as_str() {
            "ok" => Ok(r.state),
            _ => Err(r.unexpected("read")),
        }
    }

    async fn trip(&self, name: &str, trip: Trip<'_>) -> Result<TripResult, StoreError> {
        let args = [
            Arg::Int(trip.expected_epoch.0),
            Arg::Str(trip.replica_id),
            Arg::Int(ms(trip.open_for)),
            Arg::Int(u64::from(trip.quorum)),
            Arg::Int(ms(trip.quorum_window)),
        ];
        let r = self.eval("trip", name, &scripts().trip, &args).await?;
        let outcome = match r.status.as_str() {
            "opened" => TripOutcome::Opened,
            "voted" => TripOutcome::Voted {
                votes: u32::try_from(r.extra)
                    .map_err(|_| bad("trip", "vote count out of range"))?,
            },
            "stale" => TripOutcome::Stale,
            _ => return Err(r.unexpected("trip")),
        };
        Ok(TripResult {
            outcome,
            state: r.state,
        })
    }

    async fn count_failures(
        &self,
        name: &str,
        failures: Failures<'_>,
    ) -> Result<FailuresResult, StoreError> {
        let args = [
            Arg::Int(failures.expected_epoch.0),
            Arg::Str(failures.replica_id),
            Arg::Int(u64::from(failures.failures)),
            Arg::Int(u64::from(failures.threshold)),
            Arg::Int(ms(failures.window).max(1)),
            Arg::Int(ms(failures.open_for)),
            Arg::Int(u64::from(failures.quorum)),
            Arg::Int(ms(failures.quorum_window)),
        ];
        let r = self
            .eval("count_failures", name, &scripts().failures, &args)
            .await?;
        let outcome = match r.status.as_str() {
            "opened" => FailuresOutcome::Opened,
            "counted" => FailuresOutcome::Counted {
                total: u32::try_from(r.extra)
                    .map_err(|_| bad("count_failures", "failure sum out of range"))?,
            },
            "stale" => FailuresOutcome::Stale,
            _ => return Err(r.unexpected("count_failures")),
        };
        Ok(FailuresResult {
            outcome,
            state: r.state,
        })
    }

    async fn acquire_lease(
        &self,
        name: &str,
        epoch: Epoch,
        lease: Duration,
        max_trials: u32,
    ) -> Result<LeaseResult, StoreError> {
        let args = [
            Arg::Int(epoch.0),
            Arg::Int(ms(lease).max(1)),
            Arg::Int(u64::from(max_trials)),
        ];
        let r = self
            .eval("acquire_lease", name, &scripts().acquire, &args)
            .await?;
        let outcome = match r.status.as_str() {
            "granted" => LeaseOutcome::Granted(LeaseId(r.extra)),
            "full" => LeaseOutcome::Full,
            "stale" => LeaseOutcome::Stale,
            _ => return Err(r.unexpected("acquire_lease")),
        };
        Ok(LeaseResult {
            outcome,
            state: r.state,
        })
    }

    async fn report(
        &self,
        name: &str,
        epoch: Epoch,
        lease: LeaseId,
        outcome: TrialOutcome,
        max_trials: u32,
        next_open: Duration,
    ) -> Result<ReportResult, StoreError> {
        let args = [
            Arg::Int(epoch.0),
            Arg::Int(lease.0),
            Arg::Str(outcome.as_str()),
            Arg::Int(u64::from(max_trials)),
            Arg::Int(ms(next_open)),
        ];
        let r = self.eval("report", name, &scripts().report, &args).await?;
        let applied = match r.status.as_str() {
            "applied" => true,
            "stale" => false,
            _ => return Err(r.unexpected("report")),
        };
        Ok(ReportResult {
            applied,
            state: r.state,
        })
    }

    async fn set_manual(&self, name: &str, manual: Manual) -> Result<SharedState, StoreError> {
        let args = [Arg::Str(manual.as_str())];
        let r = self
            .eval("set_manual", name, &scripts().manual, &args)
            .await?;
        match r.status.as_str() {
            "applied" => Ok(r.state),
            _ => Err(r.unexpected("set_manual")),
        }
    }

    async fn subscribe(&self) -> Result<ChangeStream, StoreError> {
        self.changes().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Redis Cluster hashes: the text between the first `{` and the first `}` after it,
    /// when not empty; else the whole key.
    fn hash_tag(key: &str) -> &str {
        if let Some(open) = key.find('{') {
            if let Some(len) = key[open + 1..].find('}') {
                if len > 0 {
                    return &key[open + 1..open + 1 + len];
                }
            }
        }
        key
    }

    #[test]
    fn keys_share_one_hash_tag() {
        let store = RedisStore::new(
            RedisConfig::new("redis://127.0.0.1:1/"),
            Arc::new(|_| -> crate::fleet::Sleep { Box::pin(std::future::pending()) }),
        )
        .unwrap();
        assert_eq!(
            store.keys("x"),
            [
                "protego{x}:state".to_owned(),
                "protego{x}:leases".to_owned(),
                "protego{x}:votes".to_owned(),
                "protego{x}:failures".to_owned()
            ]
        );
        assert_eq!(store.channel(), "protego:events");
        // Every name's four keys share one non-empty hash tag (one cluster slot), and no two
        // names share a key.
        let names = [
            "", "}", "}}", "}x", "x}", "{", "{}", "#", "#}", "}#", "a:b", "{a}", "\u{e9}",
        ];
        let mut seen = std::collections::HashSet::new();
        for name in names {
            let keys = store.keys(name);
            let tags: Vec<&str> = keys.iter().map(|k| hash_tag(k)).collect();
            assert!(!tags[0].is_empty(), "{name:?}: {keys:?}");
            assert!(tags.iter().all(|t| *t == tags[0]), "{name:?}: {keys:?}");
            for k in keys {
                assert!(seen.insert(k.clone()), "{name:?} shares {k}");
            }
        }
        assert!(RedisStore::new(
            RedisConfig::new("nope://"),
            Arc::new(|_| -> crate::fleet::Sleep { Box::pin(std::future::pending()) })
        )
        .is_err());
    }
}
