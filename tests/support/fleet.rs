//! Replicas for the fleet tests and benches: a registry, its own store connection, its own
//! fleet and sync task; a store wrapper that loses pushes and counts round trips; waiting for
//! a condition with a bounded deadline.
#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use protego_breaker::fleet::redis::{RedisConfig, RedisStore};
use protego_breaker::fleet::{
    Change, ChangeStream, Epoch, Failures, FailuresResult, Fleet, FleetConfig, LeaseId,
    LeaseResult, Manual, ReportResult, SharedState, Store, StoreError, TokioSleeper, TrialOutcome,
    Trip, TripResult,
};
use protego_breaker::{
    observe::Reason, observe::Transition, Breaker, CircuitBreaker, Clock, Config, Registry, State,
};

/// Counts every operation and, if `deaf`, never delivers a pushed change (lost pushes); trips
/// and manual states wait `write_delay` before they are sent (a slow link).
pub struct Wrapped {
    pub inner: RedisStore,
    pub deaf: bool,
    pub ops: Arc<Ops>,
    pub write_delay: Duration,
}

impl Wrapped {
    async fn slow_write(&self) {
        if !self.write_delay.is_zero() {
            tokio::time::sleep(self.write_delay).await;
        }
    }
}

/// Store round trips by kind.
#[derive(Default, Debug)]
pub struct Ops {
    pub read: AtomicU64,
    pub trip: AtomicU64,
    pub failures: AtomicU64,
    pub acquire: AtomicU64,
    pub report: AtomicU64,
    pub manual: AtomicU64,
    pub subscribe: AtomicU64,
}

impl Ops {
    pub fn total(&self) -> u64 {
        [
            &self.read,
            &self.trip,
            &self.failures,
            &self.acquire,
            &self.report,
            &self.manual,
            &self.subscribe,
        ]
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .sum()
    }

    /// Round trips other than the periodic reads and subscriptions.
    pub fn transitions(&self) -> u64 {
        self.trip.load(Ordering::Relaxed)
            + self.failures.load(Ordering::Relaxed)
            + self.acquire.load(Ordering::Relaxed)
            + self.report.load(Ordering::Relaxed)
            + self.manual.load(Ordering::Relaxed)
    }
}

#[async_trait::async_trait]
impl Store for Wrapped {
    async fn read(&self, name: &str) -> Result<SharedState, StoreError> {
        self.ops.read.fetch_add(1, Ordering::Relaxed);
        self.inner.read(name).await
    }
    async fn trip(&self, name: &str, trip: Trip<'_>) -> Result<TripResult, StoreError> {
        self.ops.trip.fetch_add(1, Ordering::Relaxed);
        self.slow_write().await;
        self.inner.trip(name, trip).await
    }
    async fn count_failures(
        &self,
        name: &str,
        failures: Failures<'_>,
    ) -> Result<FailuresResult, StoreError> {
        self.ops.failures.fetch_add(1, Ordering::Relaxed);
        self.inner.count_failures(name, failures).await
    }
    async fn acquire_lease(
        &self,
        name: &str,
        epoch: Epoch,
        lease: Duration,
        max_trials: u32,
    ) -> Result<LeaseResult, StoreError> {
        self.ops.acquire.fetch_add(1, Ordering::Relaxed);
        self.inner
            .acquire_lease(name, epoch, lease, max_trials)
            .await
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
        self.ops.report.fetch_add(1, Ordering::Relaxed);
        self.inner
            .report(name, epoch, lease, outcome, max_trials, next_open)
            .await
    }
    async fn set_manual(&self, name: &str, manual: Manual) -> Result<SharedState, StoreError> {
        self.ops.manual.fetch_add(1, Ordering::Relaxed);
        self.slow_write().await;
        self.inner.set_manual(name, manual).await
    }
    async fn subscribe(&self) -> Result<ChangeStream, StoreError> {
        self.ops.subscribe.fetch_add(1, Ordering::Relaxed);
        let changes = self.inner.subscribe().await?;
        if self.deaf {
            drop(changes);
            let never: ChangeStream =
                Box::pin(futures::stream::pending::<Result<Change, StoreError>>());
            return Ok(never);
        }
        Ok(changes)
    }
}

/// How a test replica is made.
#[derive(Clone)]
pub struct Setup {
    pub url: String,
    pub config: Config,
    pub sync_interval: Duration,
    pub lease: Duration,
    pub quorum: u32,
    pub deaf: bool,
    pub op_timeout: Duration,
    pub fleet_wide_failures: bool,
    pub failure_window: Duration,
    /// The store's own op timeout (`RedisConfig::op_timeout`); `None`: `op_timeout`.
    pub store_op_timeout: Option<Duration>,
    /// Redis Sentinel: the primary's name and the sentinels' URLs (`url` then gives only the
    /// password and database).
    pub sentinel: Option<(String, Vec<String>)>,
    /// Redis Cluster: the nodes' URLs (`url` is then not used).
    pub cluster: Vec<String>,
    /// How long each trip and manual state waits before it is sent (`Wrapped::write_delay`).
    pub write_delay: Duration,
}

impl Setup {
    pub fn new(url: String, config: Config) -> Self {
        Setup {
            url,
            config,
            sync_interval: Duration::from_millis(100),
            lease: Duration::from_secs(5),
            quorum: 1,
            deaf: false,
            op_timeout: Duration::from_millis(100),
            fleet_wide_failures: true,
            failure_window: Duration::from_secs(10),
            store_op_timeout: None,
            sentinel: None,
            cluster: Vec::new(),
            write_delay: Duration::ZERO,
        }
    }
}

/// One replica: its own registry, store connection, fleet and sync task.
pub struct Replica<C: Clock + Clone + Send + Sync + 'static> {
    pub id: String,
    pub registry: Registry<C>,
    pub fleet: Fleet,
    pub ops: Arc<Ops>,
    pub task: Option<tokio::task::JoinHandle<()>>,
    pub log: Arc<Mutex<Vec<Transition>>>,
}

pub const NAME: &str = "payments";

impl<C: Clock + Clone + Send + Sync + 'static> Replica<C> {
    /// Made and started; the breaker `NAME` exists before the sync task starts.
    pub fn start(setup: &Setup, id: &str, clock: C) -> Self {
        Self::new(setup, id, clock).run()
    }

    pub fn new(setup: &Setup, id: &str, clock: C) -> Self {
        let mut redis = RedisConfig::new(setup.url.clone());
        redis.op_timeout = setup.store_op_timeout.unwrap_or(setup.op_timeout);
        if let Some((master, sentinels)) = &setup.sentinel {
            redis.sentinel_master = Some(master.clone());
            redis.sentinels.clone_from(sentinels);
        }
        redis.cluster_nodes.clone_from(&setup.cluster);
        let ops = Arc::new(Ops::default());
        let store = Wrapped {
            inner: RedisStore::new(redis, TokioSleeper).expect("store"),
            deaf: setup.deaf,
            ops: Arc::clone(&ops),
            write_delay: setup.write_delay,
        };
        let config = FleetConfig::new(TokioSleeper)
            .replica_id(id)
            .sync_interval(setup.sync_interval)
            .lease(setup.lease)
            .quorum(setup.quorum)
            .fleet_wide_failures(setup.fleet_wide_failures)
            .failure_window(setup.failure_window)
            .op_timeout(setup.op_timeout);
        let fleet = Fleet::new(Arc::new(store), config).expect("fleet config");
        let registry = Registry::with_clock(clock).with_default_config(setup.config.clone());
        assert!(fleet.share(&registry));
        let log = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&log);
        registry
            .get_or_create(NAME)
            .on_transition(move |t| seen.lock().unwrap().push(t.clone()));
        Replica {
            id: id.to_owned(),
            registry,
            fleet,
            ops,
            task: None,
            log,
        }
    }

    pub fn run(mut self) -> Self {
        self.task = Some(tokio::spawn(self.fleet.run()));
        self
    }

    pub fn breaker(&self) -> Arc<Breaker<C>> {
        self.registry.get_or_create(NAME)
    }

    pub fn state(&self) -> State {
        self.breaker().state()
    }

    /// Transitions this replica adopted from the fleet, to `to`.
    pub fn adopted(&self, to: State) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|t| t.reason() == Reason::Fleet && t.to() == to)
            .count()
    }

    /// Stops the sync task (the breakers go local).
    pub fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl<C: Clock + Clone + Send + Sync + 'static> Drop for Replica<C> {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits until `cond` holds, polling every 5 ms, for at most `limit`. Panics naming `what`.
pub async fn until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A config whose circuit opens on the first failure.
pub fn config(reset: Duration, trials: u32) -> Config {
    Config::builder()
        .failure_threshold(1)
        .reset_timeout(reset)
        .half_open_retries(trials)
        .build()
        .expect("config")
}

/// Polls `fut` once, in the current task.
pub async fn poll_once<F: std::future::Future + ?Sized>(
    mut fut: std::pin::Pin<&mut F>,
) -> std::task::Poll<F::Output> {
    std::future::poll_fn(|cx| std::task::Poll::Ready(fut.as_mut().poll(cx))).await
}

/// Replicas on the system clock.
pub type Sys = Replica<protego_breaker::SystemClock>;

/// `n` replicas `r0`, `r1`, ... on the system clock, started.
pub fn replicas(setup: &Setup, n: usize) -> Vec<Sys> {
    (0..n)
        .map(|i| Replica::start(setup, &format!("r{i}"), protego_breaker::SystemClock))
        .collect()
}

/// Waits until every replica is online.
pub async fn all_online(rs: &[Sys], limit: Duration) {
    until("every replica is online", limit, || {
        rs.iter().all(|r| r.fleet.is_online())
    })
    .await;
}

/// Whether a call on the replica's breaker `NAME` is rejected.
pub async fn rejects<C: Clock + Clone + Send + Sync + 'static>(r: &Replica<C>) -> bool {
    r.breaker()
        .call(async { Ok::<(), ()>(()) })
        .await
        .is_err_and(|e| e.is_rejected())
}

/// A half-open trial on `breaker` that never ends: calls are tried every 2 ms, for at most
/// `limit`, until one is admitted (the fleet granted a lease); it holds its slot until dropped.
pub async fn admitted_trial<'a, C: Clock + Send + Sync + 'static>(
    breaker: &'a Breaker<C>,
    limit: Duration,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>> {
    let start = Instant::now();
    loop {
        assert!(
            start.elapsed() < limit,
            "no trial was admitted within {limit:?}"
        );
        let mut call = Box::pin(breaker.call(std::future::pending::<Result<(), ()>>()));
        if poll_once(call.as_mut()).await.is_pending() {
            return Box::pin(async move {
                let _ = call.await;
            });
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Samples every 100 ms until two samples in a row are equal (the server went quiet), for at
/// most `limit`; returns the last one. Panics naming `what`.
pub async fn until_stable<T: PartialEq>(
    what: &str,
    limit: Duration,
    mut sample: impl FnMut() -> T,
) -> T {
    let start = Instant::now();
    let mut last = sample();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = sample();
        if now == last {
            return now;
        }
        assert!(
            start.elapsed() < limit,
            "{what} never went quiet within {limit:?}"
        );
        last = now;
    }
}

/// The half-open trials [`race_trials`] got admitted; each holds its slot (parked in the
/// downstream) until [`Trials::release`].
pub struct Trials {
    pub admitted: Vec<tokio::task::JoinHandle<Result<(), protego_breaker::Error<()>>>>,
    gate: Arc<tokio::sync::Semaphore>,
    /// The most trials parked at once, across every replica.
    pub max_in_flight: Arc<AtomicUsize>,
}

impl Trials {
    /// Lets every parked trial succeed, and waits for each to end with `Ok`.
    pub async fn release(self) {
        self.gate.add_permits(1000);
        for t in self.admitted {
            t.await.unwrap().unwrap();
        }
    }
}

/// Once every replica is half-open (within `limit`): every replica keeps calling its breaker
/// `NAME` for `for_`, one call every 2 ms; a call that is admitted (a trial) parks in the
/// downstream until [`Trials::release`], one that is not must be a rejection.
pub async fn race_trials(rs: &Arc<Vec<Sys>>, for_: Duration, limit: Duration) -> Trials {
    until("every replica is half-open", limit, || {
        rs.iter().all(|r| r.state() == State::HalfOpen)
    })
    .await;
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max_in_flight = Arc::new(AtomicUsize::new(0));
    let mut callers = Vec::new();
    for i in 0..rs.len() {
        let rs = Arc::clone(rs);
        let (gate, in_flight, max) = (
            Arc::clone(&gate),
            Arc::clone(&in_flight),
            Arc::clone(&max_in_flight),
        );
        callers.push(tokio::spawn(async move {
            let start = Instant::now();
            let mut admitted = Vec::new();
            while start.elapsed() < for_ {
                let (gate, in_flight, max) =
                    (Arc::clone(&gate), Arc::clone(&in_flight), Arc::clone(&max));
                let call = rs[i].breaker().call_owned(async move {
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    max.fetch_max(now, Ordering::SeqCst);
                    let _permit = gate.acquire().await;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    Ok::<(), ()>(())
                });
                let mut call = Box::pin(call);
                if let std::task::Poll::Ready(out) = poll_once(call.as_mut()).await {
                    assert!(
                        out.unwrap_err().is_rejected(),
                        "only rejections end at once"
                    );
                } else {
                    admitted.push(tokio::spawn(call));
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            admitted
        }));
    }
    let mut admitted = Vec::new();
    for c in callers {
        admitted.extend(c.await.unwrap());
    }
    Trials {
        admitted,
        gate,
        max_in_flight,
    }
}
