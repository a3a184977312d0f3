//! The registry's extension points: hooks run on every breaker it holds or creates, and
//! per-registry extensions. How the metrics export and a fleet plug into a whole registry, and
//! how a user gives every breaker a listener, without the registry knowing any of them.
//!
//! Keeps: a hook sees every breaker of the registry. One added before a breaker's creation
//! starts sees it before any call can reach it; one added while a breaker is being created sees
//! it right after it is inserted (a hook is added before its sweep reads the map, and a creator
//! runs the hooks added since its first run after it inserts, so such a breaker is seen by one
//! or both: hooks are idempotent). Hooks run under no lock of the registry.

use std::any::Any;
use std::sync::{Arc, PoisonError};

use super::Registry;
use crate::breaker::Breaker;
use crate::clock::Clock;

/// A hook, as the registry keeps it.
pub(super) type Hook<C> = Arc<dyn Fn(&Arc<Breaker<C>>) + Send + Sync>;

impl<C: Clock + Clone> Registry<C> {
    /// Runs the hooks from the `from`th on `breaker`, outside every lock; returns how many
    /// there are.
    pub(super) fn run_hooks(&self, breaker: &Arc<Breaker<C>>, from: usize) -> usize {
        let hooks: Vec<Hook<C>> = self
            .hooks
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(from..)
            .map(<[_]>::to_vec)
            .unwrap_or_default();
        for hook in &hooks {
            hook(breaker);
        }
        from + hooks.len()
    }

    /// Runs `hook` on every breaker of the registry: now on each one it holds, and from now on
    /// on each one it creates, before any call can reach it (a breaker whose creation was
    /// already under way when the hook was added is seen right after it is inserted). How an integration plugs into a
    /// whole registry (the metrics export and a fleet register here), and how you give every
    /// breaker a listener.
    ///
    /// A hook may run more than once on one breaker (when it is added while that breaker is
    /// being created), and on a breaker that lost a creation race and is dropped at once:
    /// make it idempotent. It runs on the thread that creates the breaker, under no lock.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use protego_breaker::Registry;
    ///
    /// let registry = Registry::new();
    /// registry.get_or_create("before");
    /// let trips = Arc::new(AtomicUsize::new(0));
    /// let count = Arc::clone(&trips);
    /// registry.on_create(move |breaker| {
    ///     let count = Arc::clone(&count);
    ///     breaker.on_transition(move |_| {
    ///         count.fetch_add(1, Ordering::Relaxed);
    ///     });
    /// });
    /// registry.get_or_create("after").force_open();
    /// registry.get("before").unwrap().force_open();
    /// assert_eq!(trips.load(Ordering::Relaxed), 2);
    /// ```
    pub fn on_create(&self, hook: impl Fn(&Arc<Breaker<C>>) + Send + Sync + 'static) {
        let hook: Hook<C> = Arc::new(hook);
        self.hooks
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::clone(&hook));
        // Added first, then the sweep: a breaker created meanwhile is seen by one or both.
        let breakers: Vec<Arc<Breaker<C>>> = self.read().values().cloned().collect();
        for breaker in &breakers {
            hook(breaker);
        }
    }

    /// The value of type `T` kept with this registry by
    /// [`insert_extension`](Registry::insert_extension), if any: per-registry state of an
    /// integration (a fleet marks the registry it shares), one value per type.
    ///
    /// ```
    /// use protego_breaker::Registry;
    ///
    /// struct Team(&'static str);
    ///
    /// let registry = Registry::new();
    /// registry.insert_extension(Team("checkout")).ok();
    /// assert_eq!(registry.extension::<Team>().unwrap().0, "checkout");
    /// ```
    pub fn extension<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.extensions.get()
    }

    /// Keeps `value` with this registry, one value per type, set once: `Ok` with it, or `Err`
    /// with the value already kept (and `value` dropped).
    ///
    /// # Errors
    /// `Err` with the value of type `T` already kept, if there is one.
    ///
    /// ```
    /// use protego_breaker::Registry;
    ///
    /// struct Exported;
    ///
    /// let registry = Registry::new();
    /// assert!(registry.insert_extension(Exported).is_ok());
    /// assert!(registry.insert_extension(Exported).is_err());
    /// ```
    pub fn insert_extension<T: Any + Send + Sync>(&self, value: T) -> Result<Arc<T>, Arc<T>> {
        self.extensions.insert(value)
    }
}
