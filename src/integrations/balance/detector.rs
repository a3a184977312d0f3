//! [`OutlierDetector`]: a pool's endpoints, their breakers and ejection multipliers, and the
//! interval analysis, all on the registry's clock. It spawns nothing: the layer's own polls,
//! the [`EjectionGuard`](super::EjectionGuard), [`tick`](OutlierDetector::tick) or the
//! [`drive`](OutlierDetector::drive) future run it.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock, Weak};
use std::task::Waker;
use std::time::Duration;

use super::config::OutlierDetection;
use super::events::{OutlierEvent, OutlierEventKind, Rule};
use super::rules::{analyse, Sample};
use crate::breaker::Breaker;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::error::Rejected;
use crate::integrations::endpoint_labels::{EndpointLabel, EndpointLabels};
use crate::machine::state::State;
use crate::name::Name;
use crate::observe::metrics::Counters;
use crate::observe::{Reason, Transition};
use crate::registry::Registry;

mod probation;
mod shared;

type Listener = Arc<dyn Fn(&OutlierEvent) + Send + Sync>;

/// An endpoint's name and slot.
type Named<C> = (Arc<str>, Arc<Slot<C>>);

/// The outlier detection of one balanced pool: see the [module docs](super).
///
/// Each endpoint the [`OutlierLayer`](super::OutlierLayer) sees gets a breaker in `registry`,
/// named `"{pool}/{endpoint}"` (the endpoint as its discover key displays), labelled with the
/// pool and the endpoint in the snapshot, the admin view and the metrics. A clone is another
/// handle to the same pool.
///
/// ```
/// use std::sync::Arc;
/// use protego_breaker::integrations::balance::{OutlierDetection, OutlierDetector};
/// use protego_breaker::Registry;
///
/// let registry = Arc::new(Registry::new());
/// let detector = OutlierDetector::new(Arc::clone(&registry), "backend", OutlierDetection::default());
/// assert_eq!(detector.name(), "backend");
/// assert!(detector.ejected().is_empty());
/// ```
pub struct OutlierDetector<C: Clock + Clone + Send + Sync + 'static = SystemClock> {
    pub(crate) shared: Arc<Shared<C>>,
}

impl<C: Clock + Clone + Send + Sync + 'static> Clone for OutlierDetector<C> {
    fn clone(&self) -> Self {
        OutlierDetector {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<C: Clock + Clone + Send + Sync + 'static> fmt::Debug for OutlierDetector<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutlierDetector")
            .field("pool", &self.shared.pool)
            .field("detection", &self.shared.detection)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Shared<C: Clock + Clone + Send + Sync + 'static> {
    registry: Arc<Registry<C>>,
    pool: Arc<str>,
    detection: OutlierDetection,
    endpoint_config: Config,
    labels: Arc<EndpointLabels>,
    state: Mutex<Pool<C>>,
    /// The registry's clock, as its first endpoint breaker reads it (the registry does not
    /// lend its own); until then the pool has nothing to time.
    clock: OnceLock<C>,
    /// When something is next due (the next analysis, or the end of the earliest ejection),
    /// in nanoseconds of the registry's clock: the polls' one-load test.
    due: AtomicU64,
    listeners: RwLock<Vec<Listener>>,
}

/// Never lock it while calling a breaker: a breaker's transition calls our listener, which
/// locks it (decide under the lock, act after: [`After`]).
struct Pool<C: Clock> {
    /// By endpoint, sorted: the analysis visits endpoints in a fixed order.
    endpoints: BTreeMap<Arc<str>, Entry<C>>,
    next_analysis: u64,
    /// xorshift state for `enforcement_percentage`.
    rng: u64,
    /// The failure rate of the endpoints in rotation over the last interval: what probation
    /// judges a returned endpoint against.
    baseline: f64,
    /// When the next probation check is due (`u64::MAX` with nobody on probation).
    probation_check: u64,
}

struct Entry<C: Clock> {
    slot: Arc<Slot<C>>,
    multiplier: u32,
    /// End of the current ejection, in clock nanoseconds.
    ejected_until: Option<u64>,
    /// The slot's (succeeded, failed) counts at the last analysis.
    seen: (u64, u64),
    /// Spared outliers not yet told (see `OutlierEventKind::Spared`).
    spared: Spared,
    /// Back from an ejection, in its first interval: until when, and its slot's (succeeded,
    /// failed) counts when it came back.
    probation: Option<(u64, (u64, u64))>,
}

/// An endpoint's spared outliers in the interval: the first is told at once, the rest are
/// counted and told in one event at the sweep, so a held-back endpoint makes at most one
/// `Spared` event per interval.
#[derive(Default)]
struct Spared {
    /// A `Spared` event was told in this interval.
    told: bool,
    /// Spared since, not yet told.
    pending: u32,
    /// The rule of the last one.
    rule: Option<Rule>,
}

/// What an endpoint's services share: its breaker, the outcomes its calls recorded, and the
/// wakers of those parked on it.
pub(crate) struct Slot<C: Clock> {
    pub(crate) breaker: Arc<Breaker<C>>,
    /// The succeeded and failed calls, for the rules: counted by the pool's own futures on
    /// per-thread stripes, so the breaker's call totals stay off (its admission and recording
    /// stay on their one-load paths) unless something else, a metrics export, keeps them.
    pub(crate) outcomes: Counters,
    wakers: Mutex<Vec<Waker>>,
}

impl<C: Clock> Slot<C> {
    /// Wakes `waker` on the endpoint's next transition or the pool's next check.
    pub(crate) fn park(&self, waker: &Waker) {
        let mut wakers = self.wakers.lock().unwrap_or_else(PoisonError::into_inner);
        if !wakers.iter().any(|w| w.will_wake(waker)) {
            wakers.push(waker.clone());
        }
    }

    fn wake(&self) {
        let wakers =
            std::mem::take(&mut *self.wakers.lock().unwrap_or_else(PoisonError::into_inner));
        for waker in wakers {
            waker.wake();
        }
    }
}

/// Work decided under the pool's lock, done after it is released (a breaker's transition
/// calls our listener, which takes the lock).
struct After<C: Clock> {
    open: Vec<(Arc<Breaker<C>>, u64)>,
    reset: Vec<Arc<Breaker<C>>>,
    wake: Vec<Arc<Slot<C>>>,
    events: Vec<OutlierEvent>,
}

impl<C: Clock> Default for After<C> {
    fn default() -> Self {
        After {
            open: Vec::new(),
            reset: Vec::new(),
            wake: Vec::new(),
            events: Vec::new(),
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl<C: Clock + Clone + Send + Sync + 'static> OutlierDetector<C> {
    /// A pool called `name` whose endpoint breakers live in `registry` and read its clock.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use protego_breaker::integrations::balance::{OutlierDetection, OutlierDetector};
    /// use protego_breaker::{ManualClock, Registry};
    ///
    /// let registry = Arc::new(Registry::with_clock(ManualClock::new()));
    /// let detector = OutlierDetector::new(registry, "search", OutlierDetection::default());
    /// # drop(detector);
    /// ```
    pub fn new(registry: Arc<Registry<C>>, name: &str, detection: OutlierDetection) -> Self {
        let endpoint_config = Config::builder()
            .failure_threshold(detection.consecutive_5xx().unwrap_or(u32::MAX))
            .reset_timeout(detection.base_ejection_time())
            .half_open_retries(detection.return_trials())
            .build()
            .unwrap_or_default();
        OutlierDetector {
            shared: Arc::new(Shared {
                labels: EndpointLabels::of(&registry),
                pool: Arc::from(name),
                state: Mutex::new(Pool {
                    endpoints: BTreeMap::new(),
                    next_analysis: u64::MAX,
                    rng: 0x9E37_79B9_7F4A_7C15,
                    baseline: 0.0,
                    probation_check: u64::MAX,
                }),
                clock: OnceLock::new(),
                due: AtomicU64::new(u64::MAX),
                listeners: RwLock::new(Vec::new()),
                registry,
                detection,
                endpoint_config,
            }),
        }
    }

    /// The pool's name.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use protego_breaker::integrations::balance::{OutlierDetection, OutlierDetector};
    /// let d = OutlierDetector::new(Arc::new(protego_breaker::Registry::new()), "db", OutlierDetection::default());
    /// assert_eq!(d.name(), "db");
    /// ```
    pub fn name(&self) -> &str {
        &self.shared.pool
    }

    /// The rules.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use protego_breaker::integrations::balance::{OutlierDetection, OutlierDetector};
    /// let d = OutlierDetector::new(Arc::new(protego_breaker::Registry::new()), "db", OutlierDetection::default());
    /// assert_eq!(d.detection().max_ejection_percent(), 10);
    /// ```
    pub fn detection(&self) -> &OutlierDetection {
        &self.shared.detection
    }

    /// The breaker of `endpoint` (as its key displays), while the endpoint is in the pool.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use protego_breaker::integrations::balance::{OutlierDetection, OutlierDetector};
    /// let d = OutlierDetector::new(Arc::new(protego_breaker::Registry::new()), "db", OutlierDetection::default());
    /// assert!(d.breaker("10.0.0.1:5432").is_none());
    /// ```
    pub fn breaker(&self, endpoint: &str) -> Option<Arc<Breaker<C>>> {
        self.shared
            .lock()
            .endpoints
            .get(endpoint)
            .map(|e| Arc::clone(&e.slot.breaker))
    }

    /// The endpoints in the pool now, sorted.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use protego_breaker::integrations::balance::{OutlierDetection, OutlierDetector};
    /// let d = OutlierDetector::new(Arc::new(protego_breaker::Registry::new()), "db", OutlierDetection::default());
    /// assert!(d.endpoints().is_empty());
    /// ```
    pub fn endpoints(&self) -> Vec<String> {
        self.shared
            .lock()
            .endpoints
            .keys()
            .map(ToString::to_string)
            .collect()
    }

    /// The endpoints ejected now (their ejection time not yet over), sorted.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use protego_breaker::integrations::balance::{OutlierDetection, OutlierDetector};
    /// let d = OutlierDetector::new(Arc::new(protego_breaker::Registry::new()), "db", OutlierDetection::default());
    /// assert!(d.ejected().is_empty());
    /// ```
    pub fn ejected(&self) -> Vec<String> {
        let now = self.shared.now();
        self.shared
            .lock()
            .endpoints
            .iter()
            .filter(|(_, e)| e.ejected_until.is_some_and(|until| now < until))
            .map(|(k, _)| k.to_string())
            .collect()
    }

    /// How many endpoints are ejected now: [`ejected`](Self::ejected)'s length, without
    /// allocating (for a gauge, or a health check run on every probe).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use protego_breaker::integrations::balance::{OutlierDetection, OutlierDetector};
    /// let d = OutlierDetector::new(Arc::new(protego_breaker::Registry::new()), "db", OutlierDetection::default());
    /// assert_eq!(d.ejected_count(), 0);
    /// ```
    pub fn ejected_count(&self) -> usize {
        let now = self.shared.now();
        self.shared
            .lock()
            .endpoints
            .values()
            .filter(|e| e.ejected_until.is_some_and(|until| now < until))
            .count()
    }

    /// An endpoint's ejection multiplier: how many ejections its next ejection time counts
    /// (it grows by one per ejection and decays by one per interval out of ejection).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use protego_breaker::integrations::balance::{OutlierDetection, OutlierDetector};
    /// let d = OutlierDetector::new(Arc::new(protego_breaker::Registry::new()), "db", OutlierDetection::default());
    /// assert_eq!(d.multiplier("a"), None);
    /// ```
    pub fn multiplier(&self, endpoint: &str) -> Option<u32> {
        self.shared
            .lock()
            .endpoints
            .get(endpoint)
            .map(|e| e.multiplier)
    }

    /// Calls `listener` on every ejection, spared outlier and return, outside every lock,
    /// on the thread that caused it.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use protego_breaker::integrations::balance::{OutlierDetection, OutlierDetector};
    /// let d = OutlierDetector::new(Arc::new(protego_breaker::Registry::new()), "db", OutlierDetection::default());
    /// d.on_event(|event| eprintln!("{} {:?}", event.endpoint(), event.kind()));
    /// ```
    pub fn on_event(&self, listener: impl Fn(&OutlierEvent) + Send + Sync + 'static) {
        self.shared
            .listeners
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::new(listener));
    }

    /// Runs what is due now: the interval's analysis when its time has come, and the end of
    /// ejections whose time is over (their parked services are woken, to take half-open
    /// trials). Returns how long until something is next due. The layer calls it from the
    /// balancer's polls; call it yourself on a timer, or await [`drive`](Self::drive), where
    /// the pool may sit idle.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use protego_breaker::integrations::balance::{OutlierDetection, OutlierDetector};
    /// use protego_breaker::{ManualClock, Registry};
    ///
    /// use futures::StreamExt;
    ///
    /// let clock = ManualClock::new();
    /// let registry = Arc::new(Registry::with_clock(clock.clone()));
    /// let d = OutlierDetector::new(registry, "db", OutlierDetection::default());
    /// let one = tower::discover::Change::Insert("a", tower::service_fn(|(): ()| async { Ok::<_, ()>(()) }));
    /// let mut discover = d.layer().discover(futures::stream::iter([Ok::<_, ()>(one)]));
    /// # futures::executor::block_on(async {
    /// let _endpoint = discover.next().await; // the first endpoint starts the first interval
    /// # });
    /// assert_eq!(d.tick(), Duration::from_secs(10));
    /// clock.advance(Duration::from_secs(4));
    /// assert_eq!(d.tick(), Duration::from_secs(6));
    /// ```
    pub fn tick(&self) -> Duration {
        self.shared.tick()
    }

    /// A future that runs [`tick`](Self::tick) whenever something is due, sleeping in between
    /// with `sleep` (your runtime's timer: `tokio::time::sleep`; a
    /// [`Sleeper`](crate::sleep::Sleeper) as `move |d| sleeper.sleep(d)`).
    /// It ends when every other handle to the pool is gone. Spawn it, or await it; the pool
    /// works without it, checked on the balancer's polls.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use protego_breaker::integrations::balance::{OutlierDetection, OutlierDetector};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let d = OutlierDetector::new(Arc::new(protego_breaker::Registry::new()), "db", OutlierDetection::default());
    /// let driver = d.drive(tokio::time::sleep);
    /// drop(d);
    /// driver.await; // no other handle: ends at once
    /// # }
    /// ```
    pub fn drive<F, S>(&self, sleep: F) -> impl Future<Output = ()> + Send + 'static
    where
        F: Fn(Duration) -> S + Send + 'static,
        S: Future<Output = ()> + Send,
    {
        let weak: Weak<Shared<C>> = Arc::downgrade(&self.shared);
        async move {
            loop {
                let wait = match weak.upgrade() {
                    Some(shared) if Arc::strong_count(&shared) > 1 => shared.tick(),
                    _ => return,
                };
                sleep(wait.max(Duration::from_millis(1))).await;
            }
        }
    }
}
