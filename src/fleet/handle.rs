//! [`Fleet`]: the handle that shares breakers through a store and makes the sync future, and
//! [`Inner`], what its clones, the breakers' links and the sync future share.
//!
//! The handle does no I/O: joining a breaker attaches a link and queues the breaker for the
//! sync future, which alone talks to the store and alone sets the fleet online. Commands are
//! queued only while a sync future runs, checked again under the queue's lock, which the sync
//! future also takes to clear the queue as it ends, so no command outlives it; breakers
//! joined while none runs wait in the queue for the next one.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Waker;

use crate::breaker::Breaker;
use crate::clock::Clock;
use crate::error::ConfigError;
use crate::fleet::link::{Command, FleetLink, Member, Slot};
use crate::fleet::online::{Online, Waiters};
use crate::fleet::sync::Run;
use crate::fleet::{FleetConfig, Store, StoreError};
use crate::registry::Registry;

/// Shares the state of breakers with every other replica that uses the same store.
///
/// Make one per process from a [`Store`] and a [`FleetConfig`], attach registries with
/// [`share`](Fleet::share) (or single breakers with [`join`](Fleet::join)), and spawn the one
/// future [`run`](Fleet::run) returns on your runtime. Cheap to clone.
///
/// What sharing guarantees (SPEC, "Shared state across replicas"):
/// - a closed call never touches the store (no I/O, no `.await`, no extra shared write);
/// - a trip on any replica opens the circuit on every replica (pushed, and read again every
///   [sync interval](FleetConfig::sync_interval) in case a push is lost); concurrent trips make
///   one fleet-wide Open (a compare-and-set on the fleet's epoch);
/// - the fleet trips on fleet-wide failures: each replica's consecutive-failure count is a
///   share the store sums, and the circuit opens when the sum reaches `failure_threshold`
///   (3 replicas with one failure each, threshold 3); shares of replicas that stop reporting
///   drop out after the [failure window](FleetConfig::failure_window). The count is sent only
///   when it changes, from the sync future ([opt out](FleetConfig::fleet_wide_failures));
///   breakers with a failure-rate window trip per replica;
/// - the open period is measured on the store's clock; each replica turns the time left into a
///   deadline on its own clock;
/// - half-open is fleet-wide: at most `half_open_retries` trials in flight across the fleet,
///   each holding a [lease](FleetConfig::lease); that many successes close it everywhere, the
///   first failure anywhere reopens it (with backoff);
/// - `force_open`, `disable` and `reset` reach every replica;
/// - joining never resets: a replica adopts what the store holds;
/// - while the store cannot be reached (or `run`'s future is not running) every breaker
///   behaves as a local breaker; when the store is back, each replica reads its state first.
///
/// ```no_run
/// # #[cfg(feature = "redis-tokio")]
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use protego_breaker::fleet::redis::{RedisConfig, RedisStore};
/// use protego_breaker::fleet::{Fleet, FleetConfig, TokioSleeper};
/// use protego_breaker::Registry;
///
/// let store = RedisStore::new(RedisConfig::new("redis://127.0.0.1/"), TokioSleeper)?;
/// let fleet = Fleet::new(Arc::new(store), FleetConfig::new(TokioSleeper))?;
/// let registry = Registry::new();
/// fleet.share(&registry);
/// tokio::spawn(fleet.run());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Fleet {
    inner: Arc<Inner>,
}

impl fmt::Debug for Fleet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fleet")
            .field("config", &self.inner.config)
            .field("online", &self.is_online())
            .finish_non_exhaustive()
    }
}

/// What the fleet's clones, its links and its sync future share.
pub(crate) struct Inner {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) config: FleetConfig,
    /// The store serves the sync future: the breakers use it.
    online: AtomicBool,
    /// Online, and what was decided while offline is published ([`Fleet::is_online`]).
    shared: AtomicBool,
    /// A sync future exists (commands are queued only then).
    running: AtomicBool,
    /// Times the store went away (for tests and metrics).
    pub(crate) outages: AtomicU32,
    /// Why the fleet is offline: the store-wide error that made it so (`None` while online).
    last_error: Mutex<Option<StoreError>>,
    /// Futures waiting for the fleet to be online ([`Fleet::online`]).
    waiters: Mutex<Waiters>,
    queue: Mutex<Queue>,
}

/// Work for the sync future.
#[derive(Default)]
pub(crate) struct Queue {
    pub(crate) commands: VecDeque<(Arc<Slot>, Command)>,
    /// Breakers joined and not yet taken by a sync future (all of them while none runs).
    pub(crate) joined: Vec<Arc<Slot>>,
    pub(crate) waker: Option<Waker>,
}

impl Inner {
    pub(crate) fn is_online(&self) -> bool {
        self.online.load(Ordering::Acquire)
    }

    /// Sets whether the store serves the sync future (the breakers use it); returns whether it
    /// did. Going offline also ends [`is_shared`](Self::is_shared).
    pub(crate) fn set_online(&self, online: bool) -> bool {
        if !online {
            self.shared.store(false, Ordering::Release);
        }
        self.online.swap(online, Ordering::AcqRel)
    }

    /// Online, and what this replica decided while offline is published: what
    /// [`Fleet::is_online`] says and [`Fleet::online`] waits for.
    pub(crate) fn is_shared(&self) -> bool {
        self.shared.load(Ordering::Acquire)
    }

    /// The resync sent what waited: the fleet is shared. Wakes every [`Fleet::online`] future.
    pub(crate) fn set_shared(&self) {
        if !self.shared.swap(true, Ordering::AcqRel) {
            Waiters::wake_all(&self.waiters);
        }
    }

    pub(crate) fn waiters(&self) -> std::sync::MutexGuard<'_, Waiters> {
        self.waiters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn set_last_error(&self, error: Option<StoreError>) {
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = error;
    }

    pub(crate) fn set_running(&self, running: bool) -> bool {
        self.running.swap(running, Ordering::AcqRel)
    }

    pub(crate) fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a command for the sync future and wakes it. Nothing is queued while no sync
    /// future runs: the breakers are local then.
    pub(crate) fn push(&self, slot: &Arc<Slot>, command: Command) {
        if !self.running.load(Ordering::Acquire) {
            return;
        }
        let waker = {
            let mut queue = self.queue();
            // Checked again under the lock: the sync future clears the queue under it as it ends.
            if !self.running.load(Ordering::Acquire) {
                return;
            }
            queue.commands.push_back((Arc::clone(slot), command));
            queue.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn joined(&self, slot: Arc<Slot>) {
        let waker = {
            let mut queue = self.queue();
            // Breakers dropped before any sync future took them (one that lost a registry's
            // creation race, say) are let go here, so the queue never holds them for long.
            queue
                .joined
                .retain(|waiting| waiting.member.strong_count() > 0);
            queue.joined.push(slot);
            queue.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// Marks a registry that shares its breakers with a fleet (one fleet per registry).
struct SharedBy;

impl Fleet {
    /// A fleet on `store`.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the [`FleetConfig`] knob that is out of range (a zero
    /// duration, a quorum of 0, an empty replica id).
    ///
    /// ```
    /// # #[cfg(feature = "redis-tokio")] {
    /// use std::sync::Arc;
    /// use protego_breaker::fleet::redis::{RedisConfig, RedisStore};
    /// use protego_breaker::fleet::{Fleet, FleetConfig, TokioSleeper};
    ///
    /// // No I/O until the sync future runs.
    /// let store = Arc::new(RedisStore::new(RedisConfig::new("redis://127.0.0.1:1/"), TokioSleeper).unwrap());
    /// let err = Fleet::new(store.clone(), FleetConfig::new(TokioSleeper).quorum(0)).unwrap_err();
    /// assert_eq!(err.to_string(), "quorum must be at least 1, got 0");
    /// assert!(Fleet::new(store, FleetConfig::new(TokioSleeper)).is_ok());
    /// # }
    /// ```
    pub fn new(store: Arc<dyn Store>, config: FleetConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Fleet {
            inner: Arc::new(Inner {
                store,
                config,
                online: AtomicBool::new(false),
                shared: AtomicBool::new(false),
                running: AtomicBool::new(false),
                outages: AtomicU32::new(0),
                last_error: Mutex::new(None),
                waiters: Mutex::new(Waiters::default()),
                queue: Mutex::new(Queue::default()),
            }),
        })
    }

    /// Shares every breaker of `registry`, those it holds now and those it creates later.
    /// Breakers of several registries may share one fleet. Returns `false` (and changes
    /// nothing) if the registry is already shared.
    ///
    /// A breaker created after the sync future started takes the fleet's state after one read
    /// (one round trip); until then it is the local breaker it was made as.
    ///
    /// ```
    /// # #[cfg(feature = "redis-tokio")] {
    /// # use std::sync::Arc;
    /// # use protego_breaker::fleet::redis::{RedisConfig, RedisStore};
    /// # use protego_breaker::fleet::{Fleet, FleetConfig, TokioSleeper};
    /// # let store = Arc::new(RedisStore::new(RedisConfig::new("redis://127.0.0.1:1/"), TokioSleeper).unwrap());
    /// let fleet = Fleet::new(store, FleetConfig::new(TokioSleeper))?;
    /// let registry = protego_breaker::Registry::new();
    /// assert!(fleet.share(&registry));
    /// assert!(!fleet.share(&registry));
    /// assert_eq!(registry.get_or_create("db").metrics().fleet_online, Some(false)); // not running yet
    /// # }
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn share<C: Clock + Clone + Send + Sync + 'static>(&self, registry: &Registry<C>) -> bool {
        if registry.insert_extension(SharedBy).is_err() {
            return false;
        }
        let fleet = self.clone();
        registry.on_create(move |breaker| {
            fleet.join(breaker);
        });
        true
    }

    /// Shares one breaker. It needs a name (the key in the store): returns `false` for an
    /// unnamed breaker or one that already shares its state.
    ///
    /// ```
    /// # #[cfg(feature = "redis-tokio")] {
    /// # use std::sync::Arc;
    /// # use protego_breaker::fleet::redis::{RedisConfig, RedisStore};
    /// # use protego_breaker::fleet::{Fleet, FleetConfig, TokioSleeper};
    /// # use protego_breaker::{Breaker, Config};
    /// # let store = Arc::new(RedisStore::new(RedisConfig::new("redis://127.0.0.1:1/"), TokioSleeper).unwrap());
    /// let fleet = Fleet::new(store, FleetConfig::new(TokioSleeper))?;
    /// assert!(fleet.join(&Arc::new(Breaker::new(Config::default()).named("db"))));
    /// assert!(!fleet.join(&Arc::new(Breaker::new(Config::default())))); // no name
    /// # }
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn join<C: Clock + Send + Sync + 'static>(&self, breaker: &Arc<Breaker<C>>) -> bool {
        let Some(name) = breaker.name() else {
            return false;
        };
        let weak = Arc::downgrade(breaker);
        let member: std::sync::Weak<dyn Member> = weak;
        let slot = Arc::new(Slot {
            name: Arc::from(name),
            member,
            budget: AtomicU32::new(0),
            fleet_round: AtomicBool::new(false),
            want: AtomicBool::new(false),
            failures_changed: AtomicBool::new(false),
        });
        let link = FleetLink {
            slot: Arc::clone(&slot),
            fleet: Arc::clone(&self.inner),
        };
        if breaker.companion().link.set(Box::new(link)).is_err() {
            return false;
        }
        self.inner.joined(slot);
        true
    }

    /// The sync future: subscribes to pushed changes, reads every shared breaker each sync
    /// interval, and carries trips, trial leases and manual states between the breakers and
    /// the store. Spawn it on your runtime (`tokio::spawn(fleet.run())`); it runs until
    /// dropped, and dropping it makes every breaker local again. The library spawns nothing.
    ///
    /// Only one sync future runs per fleet: another one made while it runs finishes at once.
    ///
    /// ```
    /// # #[cfg(feature = "redis-tokio")] {
    /// # use std::sync::Arc;
    /// # use protego_breaker::fleet::redis::{RedisConfig, RedisStore};
    /// # use protego_breaker::fleet::{Fleet, FleetConfig, TokioSleeper};
    /// # let store = Arc::new(RedisStore::new(RedisConfig::new("redis://127.0.0.1:1/"), TokioSleeper).unwrap());
    /// let fleet = Fleet::new(store, FleetConfig::new(TokioSleeper))?;
    /// let run = fleet.run(); // nothing happens until it is polled
    /// drop(run);
    /// assert!(!fleet.is_online());
    /// # }
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub fn run(&self) -> impl Future<Output = ()> + Send + 'static {
        let inner = Arc::clone(&self.inner);
        async move {
            if let Some(sync) = Run::start(inner) {
                sync.run().await;
            }
        }
    }

    /// Whether the sync future runs, the store serves it, and this replica's breakers share
    /// their state: `false` from the first store-wide error (unreachable, in transition, timed
    /// out, or refused, as `NOAUTH` is; see [`last_error`](Self::last_error)) until the
    /// fleet is back, in this order:
    /// 1. an attempt (on a short jittered backoff while offline, 5 to 50 ms apart, never on the
    ///    [sync interval](FleetConfig::sync_interval)) subscribes and reads every shared
    ///    breaker, adopting the store's state (the breakers use the store from here on);
    /// 2. what this replica decided while offline is sent: trips still in force, manual
    ///    states, and whatever the breakers queued until then (each taken by the store or
    ///    yielding to a newer state it holds);
    /// 3. only then is it `true`, and [`online`](Self::online) futures resolve.
    ///
    /// So a caller that sees `true` (or awaits [`online`](Self::online)) knows that its own
    /// trips and manual states are in the store, for every other replica to read. While
    /// `false`, every shared breaker behaves as a local one. Also in each breaker's
    /// [`Metrics::fleet_online`](crate::observe::Metrics::fleet_online).
    ///
    /// ```
    /// # #[cfg(feature = "redis-tokio")] {
    /// # use std::sync::Arc;
    /// # use protego_breaker::fleet::redis::{RedisConfig, RedisStore};
    /// # use protego_breaker::fleet::{Fleet, FleetConfig, TokioSleeper};
    /// # let store = Arc::new(RedisStore::new(RedisConfig::new("redis://127.0.0.1:1/"), TokioSleeper).unwrap());
    /// let fleet = Fleet::new(store, FleetConfig::new(TokioSleeper))?;
    /// assert!(!fleet.is_online());
    /// # }
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn is_online(&self) -> bool {
        self.inner.is_shared()
    }

    /// A future that resolves once the fleet is online ([`is_online`](Self::is_online)): at
    /// once if it is, otherwise when the sync future ([`run`](Self::run)) has reached the
    /// store, read every shared breaker, and published what this replica decided while
    /// offline (trips, manual states), in that order.
    /// It waits as long as that takes (a store that refuses every operation never lets it
    /// resolve: see [`last_error`](Self::last_error)); bound it with your runtime's timeout.
    /// Runtime-agnostic and cheap to drop.
    ///
    /// ```
    /// # #[cfg(feature = "redis-tokio")] {
    /// # use std::sync::Arc;
    /// # use protego_breaker::fleet::redis::{RedisConfig, RedisStore};
    /// # use protego_breaker::fleet::{Fleet, FleetConfig, TokioSleeper};
    /// # let store = Arc::new(RedisStore::new(RedisConfig::new("redis://127.0.0.1:1/"), TokioSleeper).unwrap());
    /// let fleet = Fleet::new(store, FleetConfig::new(TokioSleeper))?;
    /// let online = fleet.online(); // e.g. `tokio::time::timeout(Duration::from_secs(2), online)`
    /// drop(online); // nothing runs the sync future here: it would wait
    /// # }
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub fn online(&self) -> impl Future<Output = ()> + Send + Sync + Unpin + 'static {
        Online {
            inner: Arc::clone(&self.inner),
            id: None,
        }
    }

    /// How many times the store went away (or refused every operation) while the sync future
    /// ran: each stretch offline counts once, including the first one when the store was
    /// never reached at all.
    ///
    /// ```
    /// # #[cfg(feature = "redis-tokio")] {
    /// # use std::sync::Arc;
    /// # use protego_breaker::fleet::redis::{RedisConfig, RedisStore};
    /// # use protego_breaker::fleet::{Fleet, FleetConfig, TokioSleeper};
    /// # let store = Arc::new(RedisStore::new(RedisConfig::new("redis://127.0.0.1:1/"), TokioSleeper).unwrap());
    /// let fleet = Fleet::new(store, FleetConfig::new(TokioSleeper))?;
    /// assert_eq!(fleet.outages(), 0);
    /// # }
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn outages(&self) -> u32 {
        self.inner.outages.load(Ordering::Relaxed)
    }

    /// Why the fleet is offline: the last store-wide error the sync future met
    /// ([`StoreError::is_store_wide`]: unreachable, timed out, in transition during a failover
    /// or a slot migration, naming the node and its reply, or refused, such as `NOAUTH` when
    /// the store wants a password), kept until the store answers again. `None` while the
    /// fleet is online, and before the sync future first met an error. Errors about one
    /// breaker's keys ([`StoreError::Garbage`]) leave the fleet online and are not kept here.
    ///
    /// ```
    /// # #[cfg(feature = "redis-tokio")] {
    /// # use std::sync::Arc;
    /// # use protego_breaker::fleet::redis::{RedisConfig, RedisStore};
    /// # use protego_breaker::fleet::{Fleet, FleetConfig, TokioSleeper};
    /// # let store = Arc::new(RedisStore::new(RedisConfig::new("redis://127.0.0.1:1/"), TokioSleeper).unwrap());
    /// let fleet = Fleet::new(store, FleetConfig::new(TokioSleeper))?;
    /// assert_eq!(fleet.last_error(), None); // the sync future has not run
    /// # }
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn last_error(&self) -> Option<StoreError> {
        self.inner
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The fleet's config.
    ///
    /// ```
    /// # #[cfg(feature = "redis-tokio")] {
    /// # use std::sync::Arc;
    /// # use protego_breaker::fleet::redis::{RedisConfig, RedisStore};
    /// # use protego_breaker::fleet::{Fleet, FleetConfig, TokioSleeper};
    /// # let store = Arc::new(RedisStore::new(RedisConfig::new("redis://127.0.0.1:1/"), TokioSleeper).unwrap());
    /// let fleet = Fleet::new(store, FleetConfig::new(TokioSleeper).replica_id("a"))?;
    /// assert_eq!(fleet.config().get_replica_id(), "a");
    /// # }
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn config(&self) -> &FleetConfig {
        &self.inner.config
    }
}
