//! [`FleetConfig`]: who this replica is and how it syncs with the store.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::ConfigError;
use crate::fleet::Sleeper;

/// How a [`Fleet`](crate::fleet::Fleet) syncs with its store. Defaults: a random replica id,
/// sync every 1 s, trial leases of 10 s (capped per breaker at its `reset_timeout`), quorum 1 (any replica's trip opens the fleet) within
/// 10 s, fleet-wide failure counting on with shares counted for 10 s, store operations bounded
/// by 100 ms.
///
/// The [`Sleeper`] makes the timers of the sync future (the sync interval, op timeouts) on your
/// runtime: `TokioSleeper` (feature `redis-tokio`), `AsyncIoSleeper` (feature `redis-smol`),
/// or any `Fn(Duration) -> Sleep`.
///
/// ```
/// use std::time::Duration;
/// use protego_breaker::fleet::{FleetConfig, Sleep};
///
/// let sleeper = |d: Duration| -> Sleep { Box::pin(async move { let _ = d; }) };
/// let config = FleetConfig::new(sleeper)
///     .replica_id("web-1")
///     .sync_interval(Duration::from_millis(500))
///     .quorum(2);
/// assert_eq!(config.get_replica_id(), "web-1");
/// assert_eq!(config.get_op_timeout(), Duration::from_millis(100));
/// ```
#[derive(Clone)]
pub struct FleetConfig {
    pub(crate) replica_id: String,
    pub(crate) sync_interval: Duration,
    pub(crate) lease: Duration,
    pub(crate) quorum: u32,
    pub(crate) quorum_window: Duration,
    pub(crate) fleet_wide_failures: bool,
    pub(crate) failure_window: Duration,
    pub(crate) op_timeout: Duration,
    pub(crate) sleeper: Arc<dyn Sleeper>,
}

impl fmt::Debug for FleetConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FleetConfig")
            .field("replica_id", &self.replica_id)
            .field("sync_interval", &self.sync_interval)
            .field("lease", &self.lease)
            .field("quorum", &self.quorum)
            .field("quorum_window", &self.quorum_window)
            .field("fleet_wide_failures", &self.fleet_wide_failures)
            .field("failure_window", &self.failure_window)
            .field("op_timeout", &self.op_timeout)
            .finish_non_exhaustive()
    }
}

/// A replica id unique enough to tell processes apart: process id and a random draw.
fn random_replica_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let draw = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    format!("{}-{:08x}", std::process::id(), draw & 0xffff_ffff)
}

impl FleetConfig {
    /// The defaults, with timers from `sleeper`.
    ///
    /// ```
    /// use protego_breaker::fleet::{FleetConfig, Sleep};
    /// let config = FleetConfig::new(|_| -> Sleep { Box::pin(std::future::pending()) });
    /// assert_eq!(config.get_sync_interval(), std::time::Duration::from_secs(1));
    /// ```
    pub fn new(sleeper: impl Sleeper + 'static) -> Self {
        Self::with_sleeper(Arc::new(sleeper))
    }

    /// [`new`](Self::new) with a sleeper already shared.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use protego_breaker::fleet::{FleetConfig, Sleep, Sleeper};
    /// let sleeper: Arc<dyn Sleeper> = Arc::new(|_| -> Sleep { Box::pin(std::future::pending()) });
    /// let config = FleetConfig::with_sleeper(sleeper);
    /// assert_eq!(config.get_quorum(), 1);
    /// ```
    pub fn with_sleeper(sleeper: Arc<dyn Sleeper>) -> Self {
        FleetConfig {
            replica_id: random_replica_id(),
            sync_interval: Duration::from_secs(1),
            lease: Duration::from_secs(10),
            quorum: 1,
            quorum_window: Duration::from_secs(10),
            fleet_wide_failures: true,
            failure_window: Duration::from_secs(10),
            op_timeout: Duration::from_millis(100),
            sleeper,
        }
    }

    /// This replica's id, one per process: it counts as one vote toward the quorum.
    ///
    /// ```
    /// # use protego_breaker::fleet::{FleetConfig, Sleep};
    /// # let config = FleetConfig::new(|_| -> Sleep { Box::pin(std::future::pending()) });
    /// assert_eq!(config.replica_id("api-7").get_replica_id(), "api-7");
    /// ```
    #[must_use]
    pub fn replica_id(mut self, id: impl Into<String>) -> Self {
        self.replica_id = id.into();
        self
    }

    /// How often every shared breaker's state is read from the store, to catch pushes that
    /// were lost (default 1 s; > 0). It does not delay the fleet's return: a store that is
    /// away is tried again on a short jittered backoff of its own (5 to 50 ms apart; see
    /// [`Fleet::is_online`](crate::fleet::Fleet::is_online)).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use protego_breaker::fleet::{FleetConfig, Sleep};
    /// # let config = FleetConfig::new(|_| -> Sleep { Box::pin(std::future::pending()) });
    /// let config = config.sync_interval(Duration::from_millis(200));
    /// assert_eq!(config.get_sync_interval(), Duration::from_millis(200));
    /// ```
    #[must_use]
    pub fn sync_interval(mut self, every: Duration) -> Self {
        self.sync_interval = every;
        self
    }

    /// How long a half-open trial may hold its fleet-wide slot (default 10 s; > 0): longer
    /// than a trial call takes. A replica that dies mid-trial frees its slot when the lease
    /// ends. Each breaker's leases are capped at its own `max_half_open_duration` (by default
    /// its `reset_timeout`), the time after which it replaces a round that hung: a breaker
    /// with a 2 s `reset_timeout` takes 2 s leases under the default, so a round it replaces
    /// never waits on a lease of the round before.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use protego_breaker::fleet::{FleetConfig, Sleep};
    /// # let config = FleetConfig::new(|_| -> Sleep { Box::pin(std::future::pending()) });
    /// assert_eq!(config.lease(Duration::from_secs(2)).get_lease(), Duration::from_secs(2));
    /// ```
    #[must_use]
    pub fn lease(mut self, length: Duration) -> Self {
        self.lease = length;
        self
    }

    /// How many distinct replicas must trip within the [quorum window](Self::quorum_window)
    /// before the fleet opens (default 1; >= 1). Below the quorum, a replica that trips is open
    /// on its own while the others stay closed.
    ///
    /// ```
    /// # use protego_breaker::fleet::{FleetConfig, Sleep};
    /// # let config = FleetConfig::new(|_| -> Sleep { Box::pin(std::future::pending()) });
    /// assert_eq!(config.quorum(2).get_quorum(), 2);
    /// ```
    #[must_use]
    pub fn quorum(mut self, replicas: u32) -> Self {
        self.quorum = replicas;
        self
    }

    /// The window, on the store's time, in which the quorum's trips must fall (default 10 s; > 0).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use protego_breaker::fleet::{FleetConfig, Sleep};
    /// # let config = FleetConfig::new(|_| -> Sleep { Box::pin(std::future::pending()) });
    /// let config = config.quorum_window(Duration::from_secs(30));
    /// assert_eq!(config.get_quorum_window(), Duration::from_secs(30));
    /// ```
    #[must_use]
    pub fn quorum_window(mut self, window: Duration) -> Self {
        self.quorum_window = window;
        self
    }

    /// Whether the fleet trips on fleet-wide consecutive failures (default `true`).
    ///
    /// On: each replica sends the store its consecutive-failure count whenever it changes (a
    /// failure, or the success that resets it; never on a clean closed success), coalesced in
    /// the sync future, and the store opens the circuit for everyone when the counts of all
    /// replicas sum to `failure_threshold`: 3 replicas with one failure each open a fleet whose
    /// threshold is 3. Off: a replica trips only on its own count, then publishes the trip.
    /// Breakers with a failure-rate window trip per replica either way.
    ///
    /// ```
    /// # use protego_breaker::fleet::{FleetConfig, Sleep};
    /// # let config = FleetConfig::new(|_| -> Sleep { Box::pin(std::future::pending()) });
    /// assert!(config.get_fleet_wide_failures());
    /// assert!(!config.fleet_wide_failures(false).get_fleet_wide_failures());
    /// ```
    #[must_use]
    pub fn fleet_wide_failures(mut self, on: bool) -> Self {
        self.fleet_wide_failures = on;
        self
    }

    /// How long a replica's share of the fleet-wide failure count counts after it last
    /// changed, on the store's time (default 10 s; > 0): a replica that died, or stopped
    /// calling, drops out of the sum.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use protego_breaker::fleet::{FleetConfig, Sleep};
    /// # let config = FleetConfig::new(|_| -> Sleep { Box::pin(std::future::pending()) });
    /// let config = config.failure_window(Duration::from_secs(5));
    /// assert_eq!(config.get_failure_window(), Duration::from_secs(5));
    /// ```
    #[must_use]
    pub fn failure_window(mut self, window: Duration) -> Self {
        self.failure_window = window;
        self
    }

    /// How long the sync future waits for any one store operation before it gives up and
    /// counts the store as away (default 100 ms; > 0). This is the op timeout of a fleet,
    /// whatever the store: a store's own bound (such as
    /// `RedisConfig::op_timeout` with the `redis` features, for using a
    /// store on its own) only matters if it is shorter.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use protego_breaker::fleet::{FleetConfig, Sleep};
    /// # let config = FleetConfig::new(|_| -> Sleep { Box::pin(std::future::pending()) });
    /// let config = config.op_timeout(Duration::from_millis(50));
    /// assert_eq!(config.get_op_timeout(), Duration::from_millis(50));
    /// ```
    #[must_use]
    pub fn op_timeout(mut self, timeout: Duration) -> Self {
        self.op_timeout = timeout;
        self
    }

    /// The replica id.
    ///
    /// ```
    /// # use protego_breaker::fleet::{FleetConfig, Sleep};
    /// let config = FleetConfig::new(|_| -> Sleep { Box::pin(std::future::pending()) });
    /// assert!(!config.get_replica_id().is_empty()); // random by default
    /// ```
    pub fn get_replica_id(&self) -> &str {
        &self.replica_id
    }

    /// The sync interval.
    ///
    /// ```
    /// # use protego_breaker::fleet::{FleetConfig, Sleep};
    /// # let config = FleetConfig::new(|_| -> Sleep { Box::pin(std::future::pending()) });
    /// assert_eq!(config.get_sync_interval(), std::time::Duration::from_secs(1));
    /// ```
    pub fn get_sync_interval(&self) -> Duration {
        self.sync_interval
    }

    /// The trial lease length.
    ///
    /// ```
    /// # use protego_breaker::fleet::{FleetConfig, Sleep};
    /// # let config = FleetConfig::new(|_| -> Sleep { Box::pin(std::future::pending()) });
    /// assert_eq!(config.get_lease(), std::time::Duration::from_secs(10));
    /// ```
    pub fn get_lease(&self) -> Duration {
        self.lease
    }

    /// The quorum.
    ///
    /// ```
    /// # use protego_breaker::fleet::{FleetConfig, Sleep};
    /// # let config = FleetConfig::new(|_| -> Sleep { Box::pin(std::future::pending()) });
    /// assert_eq!(config.get_quorum(), 1);
    /// ```
    pub fn get_quorum(&self) -> u32 {
        self.quorum
    }

    /// The quorum window.
    ///
    /// ```
    /// # use protego_breaker::fleet::{FleetConfig, Sleep};
    /// # let config = FleetConfig::new(|_| -> Sleep { Box::pin(std::future::pending()) });
    /// assert_eq!(config.get_quorum_window(), std::time::Duration::from_secs(10));
    /// ```
    pub fn get_quorum_window(&self) -> Duration {
        self.quorum_window
    }

    /// Whether fleet-wide failure counting is on.
    ///
    /// ```
    /// # use protego_breaker::fleet::{FleetConfig, Sleep};
    /// # let config = FleetConfig::new(|_| -> Sleep { Box::pin(std::future::pending()) });
    /// assert!(config.get_fleet_wide_failures());
    /// ```
    pub fn get_fleet_wide_failures(&self) -> bool {
        self.fleet_wide_failures
    }

    /// The failure window.
    ///
    /// ```
    /// # use protego_breaker::fleet::{FleetConfig, Sleep};
    /// # let config = FleetConfig::new(|_| -> Sleep { Box::pin(std::future::pending()) });
    /// assert_eq!(config.get_failure_window(), std::time::Duration::from_secs(10));
    /// ```
    pub fn get_failure_window(&self) -> Duration {
        self.failure_window
    }

    /// The op timeout.
    ///
    /// ```
    /// # use protego_breaker::fleet::{FleetConfig, Sleep};
    /// # let config = FleetConfig::new(|_| -> Sleep { Box::pin(std::future::pending()) });
    /// assert_eq!(config.get_op_timeout(), std::time::Duration::from_millis(100));
    /// ```
    pub fn get_op_timeout(&self) -> Duration {
        self.op_timeout
    }

    /// Refuses values the sync future cannot work with, naming the knob.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let positive = |knob: &'static str, d: Duration| {
            if d.is_zero() {
                Err(ConfigError::new(knob, "be greater than 0", "0s"))
            } else {
                Ok(())
            }
        };
        positive("sync_interval", self.sync_interval)?;
        positive("lease", self.lease)?;
        positive("quorum_window", self.quorum_window)?;
        positive("failure_window", self.failure_window)?;
        positive("op_timeout", self.op_timeout)?;
        if self.quorum == 0 {
            return Err(ConfigError::new("quorum", "be at least 1", 0));
        }
        if self.replica_id.is_empty() {
            return Err(ConfigError::new("replica_id", "not be empty", "\"\""));
        }
        Ok(())
    }
}
