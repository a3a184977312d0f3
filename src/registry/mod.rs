//! [`Registry`]: breakers shared across an application, keyed by name, and [`BreakerHandle`]s,
//! a registry breaker held by name.

mod cache;
mod handle;
mod hash;
mod hooks;
mod index;

pub use handle::BreakerHandle;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};

use crate::breaker::Breaker;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::extensions::Extensions;
use crate::machine::state::State;
use crate::observe::metrics::Metrics;
use crate::stripes::{stripe_count, thread_number, CachePadded};
use cache::Token;

type Map<C> = HashMap<Arc<str>, Arc<Breaker<C>>>;

/// One stripe of the `.protect` index: a copy of (part of) the name map whose handles are this
/// stripe's own allocations. Padded so two stripes never share a cache line.
type Stripe<C> = CachePadded<RwLock<HashMap<Arc<str>, BreakerHandle<C>>>>;

/// Named breakers, created on first use and shared by every caller that names them.
///
/// All breakers of a registry read one clock (clones of `C`). A name that is not there yet is
/// created with the registry's default config ([`Config::default`] unless you set another) by
/// [`get_or_create`](Registry::get_or_create) and [`ProtectExt::protect`](crate::ProtectExt),
/// or with an explicit config by [`breaker`](Registry::breaker), which also updates an existing
/// breaker in place when its config differs.
///
/// A registry is `Send + Sync`. Keep one for the whole application: in a `static`, or in an
/// `Arc` handed to the tasks that need it.
///
/// ```
/// use std::sync::OnceLock;
/// use std::time::Duration;
/// use protego_breaker::{Config, ProtectExt, Registry};
///
/// fn registry() -> &'static Registry {
///     static REGISTRY: OnceLock<Registry> = OnceLock::new();
///     REGISTRY.get_or_init(|| {
///         let registry = Registry::new();
///         let payments = Config::builder().failure_threshold(5).build().expect("valid config");
///         registry.breaker("payments", payments);
///         registry
///     })
/// }
///
/// # futures::executor::block_on(async {
/// let receipt = async { Ok::<_, std::io::Error>("paid") }.protect(registry(), "payments").await;
/// assert_eq!(receipt.unwrap(), "paid");
/// assert_eq!(registry().get("payments").unwrap().config().failure_threshold(), 5);
/// # });
/// ```
pub struct Registry<C: Clock = SystemClock> {
    breakers: RwLock<Map<C>>,
    stripes: Box<[Stripe<C>]>,
    default_config: RwLock<Config>,
    clock: C,
    /// Run on every breaker the registry holds or creates: see [`on_create`](Registry::on_create).
    hooks: RwLock<Vec<Hook<C>>>,
    /// Integrations' per-registry values: see [`extension`](Registry::extension).
    extensions: Extensions,
    /// Stamp (identity and generation) and hash secret of this registry for the per-thread caches.
    token: Arc<Token>,
}

use hooks::Hook;

impl Registry<SystemClock> {
    /// An empty registry on the system clock, with [`Config::default`] for new names.
    ///
    /// ```
    /// let registry = protego_breaker::Registry::new();
    /// assert!(registry.is_empty());
    /// ```
    pub fn new() -> Self {
        Self::with_clock(SystemClock)
    }
}

impl Default for Registry<SystemClock> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: Clock + Clone> Registry<C> {
    /// An empty registry whose breakers all read clones of `clock`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use protego_breaker::{ManualClock, Registry, State};
    ///
    /// let clock = ManualClock::new();
    /// let registry = Registry::with_clock(clock.clone());
    /// let breaker = registry.get_or_create("search");
    /// clock.advance(Duration::from_secs(1));
    /// assert_eq!(breaker.state(), State::Closed);
    /// ```
    pub fn with_clock(clock: C) -> Self {
        Registry {
            breakers: RwLock::new(HashMap::new()),
            stripes: (0..stripe_count())
                .map(|_| CachePadded(RwLock::new(HashMap::new())))
                .collect(),
            default_config: RwLock::new(Config::default()),
            hooks: RwLock::new(Vec::new()),
            extensions: Extensions::default(),
            clock,
            token: Token::new(),
        }
    }

    /// Sets the config that new names get, builder style.
    ///
    /// ```
    /// use protego_breaker::{Config, Registry};
    ///
    /// let strict = Config::builder().failure_threshold(1).build()?;
    /// let registry = Registry::new().with_default_config(strict.clone());
    /// assert_eq!(registry.get_or_create("search").config(), strict);
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    #[must_use]
    pub fn with_default_config(self, config: Config) -> Self {
        self.set_default_config(config);
        self
    }

    /// Sets the config that names created from now on get. Existing breakers keep theirs.
    ///
    /// ```
    /// use protego_breaker::{Config, Registry};
    ///
    /// let registry = Registry::new();
    /// let old = registry.get_or_create("a");
    /// registry.set_default_config(Config::builder().half_open_retries(5).build()?);
    /// assert_eq!(registry.get_or_create("b").config().half_open_retries(), 5);
    /// assert_eq!(old.config().half_open_retries(), 2);
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn set_default_config(&self, config: Config) {
        *self
            .default_config
            .write()
            .unwrap_or_else(PoisonError::into_inner) = config;
    }

    /// The config that new names get.
    ///
    /// ```
    /// assert_eq!(protego_breaker::Registry::new().default_config(), protego_breaker::Config::default());
    /// ```
    pub fn default_config(&self) -> Config {
        self.default_config
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The breaker called `name`, if there is one. Allocates nothing.
    ///
    /// ```
    /// let registry = protego_breaker::Registry::new();
    /// assert!(registry.get("payments").is_none());
    /// registry.get_or_create("payments");
    /// assert!(registry.get("payments").is_some());
    /// ```
    pub fn get(&self, name: &str) -> Option<Arc<Breaker<C>>> {
        self.read().get(name).cloned()
    }

    /// The breaker called `name`, created with the default config if there is none. Allocates
    /// only when it creates.
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let registry = protego_breaker::Registry::new();
    /// let a = registry.get_or_create("payments");
    /// let b = registry.get_or_create("payments");
    /// assert!(Arc::ptr_eq(&a, &b));
    /// ```
    pub fn get_or_create(&self, name: &str) -> Arc<Breaker<C>> {
        if let Some(found) = self.get(name) {
            return found;
        }
        let config = self.default_config();
        self.insert_or_get(name, config)
    }

    /// The breaker called `name` with `config`: created if there is none; if there is one with
    /// a different config, updated in place (same instance, same state, same counts, same
    /// the open period's start, see [`Breaker::reconfigure`]).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use protego_breaker::{Config, Registry};
    ///
    /// let registry = Registry::new();
    /// let first = registry.breaker("payments", Config::default());
    /// let relaxed = Config::builder().failure_threshold(10).build()?;
    /// let second = registry.breaker("payments", relaxed);
    /// assert!(Arc::ptr_eq(&first, &second));
    /// assert_eq!(first.config().failure_threshold(), 10);
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn breaker(&self, name: &str, config: Config) -> Arc<Breaker<C>> {
        if let Some(found) = self.get(name) {
            if found.config() != config {
                found.reconfigure(config);
            }
            return found;
        }
        let found = self.insert_or_get(name, config.clone());
        // Lost a race with another creator: apply our config to the winner.
        if found.config() != config {
            found.reconfigure(config);
        }
        found
    }

    fn insert_or_get(&self, name: &str, config: Config) -> Arc<Breaker<C>> {
        // Built before taking the lock: cloning the clock is the user's code.
        let key: Arc<str> = Arc::from(name);
        let created =
            Arc::new(Breaker::with_clock(config, self.clock.clone()).named(Arc::clone(&key)));
        // The hooks run before anyone can call it, so no call or transition goes unseen.
        let before = self.run_hooks(&created, 0);
        let mut map = self
            .breakers
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = map.get(name) {
            return Arc::clone(found); // lost a race: the other creator's breaker wins
        }
        map.insert(key, Arc::clone(&created));
        drop(map);
        // A hook added after the first run, whose sweep read the map before the insert above,
        // runs here (a hook is added before its sweep reads the map).
        self.run_hooks(&created, before);
        created
    }

    /// Every breaker with its name, sorted by name, copied out of the map (so no breaker is
    /// asked anything under its lock).
    pub(crate) fn breakers(&self) -> Vec<(Arc<str>, Arc<Breaker<C>>)> {
        let mut all: Vec<(Arc<str>, Arc<Breaker<C>>)> = self
            .read()
            .iter()
            .map(|(name, breaker)| (Arc::clone(name), Arc::clone(breaker)))
            .collect();
        all.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// Takes the breaker called `name` out of the registry. Calls already holding it finish
    /// on it; the next use of the name creates a fresh breaker.
    ///
    /// ```
    /// let registry = protego_breaker::Registry::new();
    /// registry.get_or_create("payments");
    /// assert!(registry.remove("payments").is_some());
    /// assert!(registry.remove("payments").is_none());
    /// assert!(registry.is_empty());
    /// ```
    pub fn remove(&self, name: &str) -> Option<Arc<Breaker<C>>> {
        let mut map = self
            .breakers
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let removed = map.remove(name)?;
        // Still under the map's write lock: no `.protect` can re-add the old breaker to a
        // stripe between these sweeps and the removal above.
        let mut stale = Vec::new();
        for stripe in &*self.stripes {
            let handle = stripe
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(name);
            stale.extend(handle);
        }
        // Every thread's cache was filled before these sweeps: none may be used any more.
        self.token.bump();
        drop(map);
        drop(stale); // dropped outside every lock
        Some(removed)
    }

    /// The breaker called `name` (created with the default config if absent), as the
    /// [`BreakerHandle`] that [`.protect`](crate::ProtectExt::protect) gives its future: a
    /// clone of this thread's stripe's handle, made on the stripe's first use of the name.
    /// Cloning a handle writes only the stripe's reference count, where cloning the `Arc` from
    /// [`get_or_create`](Registry::get_or_create) writes one count that every thread shares.
    ///
    /// Each thread remembers the handles it got, so a name it has used before is found without
    /// a lock and without writing anything but that reference count. A thread's memory of a
    /// registry is dropped on its first call after a [`remove`](Registry::remove), and after
    /// the registry is dropped, on its next first use of a name in any registry.
    ///
    /// ```
    /// use protego_breaker::{CircuitBreaker, Registry};
    ///
    /// let registry = Registry::new();
    /// let payments = registry.handle("payments");
    /// # futures::executor::block_on(async {
    /// let paid = payments.call(async { Ok::<_, std::io::Error>("paid") }).await;
    /// assert_eq!(paid.unwrap(), "paid");
    /// # });
    /// ```
    #[allow(clippy::inline_always)] // the hot half of `.protect`, see there
    #[inline(always)]
    pub fn handle(&self, name: &str) -> BreakerHandle<C>
    where
        C: 'static,
    {
        if let Some(handle) = cache::get(&self.token, name) {
            return handle;
        }
        self.handle_uncached(name)
    }

    #[cold]
    #[inline(never)]
    fn handle_uncached(&self, name: &str) -> BreakerHandle<C>
    where
        C: 'static,
    {
        // Read before the look-up: a `remove` after this makes the cache entry stale.
        let stamp = self.token.stamp();
        let handle = self.stripe_handle(name);
        cache::put(&self.token, stamp, name, &handle);
        handle
    }

    /// This thread's stripe's handle for `name`, made if the stripe has none.
    fn stripe_handle(&self, name: &str) -> BreakerHandle<C> {
        let stripe = &self.stripes[thread_number() & (self.stripes.len() - 1)];
        if let Some(handle) = stripe
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
        {
            return handle.clone();
        }
        loop {
            {
                // The map's read lock is held while the stripe is filled, so `remove` (which
                // takes it for writing) cannot interleave and leave a removed breaker here.
                let map = self.read();
                if let Some((key, breaker)) = map.get_key_value(name) {
                    let mut handles = stripe.write().unwrap_or_else(PoisonError::into_inner);
                    return handles
                        .entry(Arc::clone(key))
                        .or_insert_with(|| BreakerHandle::new(Arc::clone(breaker)))
                        .clone();
                }
            }
            // A `remove` may slip in between this insert and the next look; then go again.
            let _created = self.get_or_create(name);
        }
    }

    /// How many names the registry holds.
    ///
    /// ```
    /// let registry = protego_breaker::Registry::new();
    /// registry.get_or_create("a");
    /// registry.get_or_create("b");
    /// assert_eq!(registry.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether the registry holds no name.
    ///
    /// ```
    /// assert!(protego_breaker::Registry::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// Every name with its breaker's current state, sorted by name. Like
    /// [`Breaker::state`], this moves open circuits whose timeout has passed to half-open.
    ///
    /// ```
    /// use protego_breaker::{Registry, State};
    ///
    /// let registry = Registry::new();
    /// registry.get_or_create("search");
    /// registry.get_or_create("payments");
    /// assert_eq!(
    ///     registry.states(),
    ///     vec![("payments".to_string(), State::Closed), ("search".to_string(), State::Closed)],
    /// );
    /// ```
    pub fn states(&self) -> Vec<(String, State)> {
        self.each_sorted(Breaker::state)
    }

    /// Every breaker's [`Metrics`], sorted by name. Like [`states`](Registry::states), no
    /// breaker is asked anything under the registry's lock.
    ///
    /// ```
    /// use protego_breaker::{Config, Registry, State};
    ///
    /// let registry = Registry::new().with_default_config(Config::builder().totals(true).build()?);
    /// registry.get_or_create("search");
    /// registry.get_or_create("payments").force_open();
    /// let all = registry.metrics();
    /// assert_eq!(all[0].0, "payments");
    /// assert_eq!(all[0].1.state, State::ForcedOpen);
    /// assert_eq!(all[1].1.totals.unwrap().admitted, 0);
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn metrics(&self) -> Vec<(String, Metrics)> {
        self.each_sorted(Breaker::metrics)
    }

    /// `ask` of every breaker, by name, sorted. The handles are copied out first, so no
    /// breaker is asked anything under the map's lock.
    fn each_sorted<T>(&self, ask: impl Fn(&Breaker<C>) -> T) -> Vec<(String, T)> {
        self.breakers()
            .into_iter()
            .map(|(name, breaker)| (name.to_string(), ask(&breaker)))
            .collect()
    }

    fn read(&self) -> RwLockReadGuard<'_, Map<C>> {
        self.breakers.read().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<C: Clock + Clone> fmt::Debug for Registry<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("len", &self.len())
            .field("default_config", &self.default_config())
            .finish_non_exhaustive()
    }
}
