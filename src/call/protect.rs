//! [`ProtectExt`]: `.protect(&registry, "name")` on any fallible future.

use std::future::Future;

use crate::call::circuit_breaker::CircuitBreaker;
use crate::call::classify::Classify;
use crate::call::protected::Protected;
use crate::clock::Clock;
use crate::registry::{Registry, RegistryHandle};

/// Protects any fallible future with a named breaker of a [`Registry`].
///
/// Implemented for every [`Future`]; `protect` is available when its output is a `Result`.
///
/// ```
/// use protego::{ProtectExt, Registry};
///
/// let registry = Registry::new();
/// # futures::executor::block_on(async {
/// let quote = async { Ok::<_, std::io::Error>(42) }.protect(&registry, "quotes").await;
/// assert_eq!(quote.unwrap(), 42);
/// # });
/// assert_eq!(registry.len(), 1);
/// ```
pub trait ProtectExt: Future + Sized {
    /// Runs this future through the registry's breaker called `name`, creating it with the
    /// registry's default config if it does not exist yet.
    ///
    /// The breaker is looked up here, not when the future is first polled; the future holds
    /// it, not the registry, so it is `'static` (and spawnable) whenever `self` is, even if the
    /// registry is not. The future holds a [`RegistryHandle`]: a per-stripe handle to the
    /// breaker, so threads calling the same name on different cores write no shared memory
    /// (see its docs). An existing name allocates nothing, except on a thread group's first call
    /// with that name, which makes the group's handle.
    ///
    /// ```
    /// use protego::{ProtectExt, Registry, State};
    ///
    /// let registry = Registry::new();
    /// let fut = async { Err::<(), _>("timeout") }.protect(&registry, "payments");
    /// drop(registry); // the future owns its breaker
    /// assert!(futures::executor::block_on(fut).is_err());
    /// ```
    fn protect<C, T, E>(
        self,
        registry: &Registry<C>,
        name: &str,
    ) -> Protected<Self, RegistryHandle<C>>
    where
        Self: Future<Output = Result<T, E>>,
        C: Clock + Clone,
    {
        registry.handle(name).call(self)
    }

    /// Like [`protect`](ProtectExt::protect), with `classifier` deciding which results count
    /// as successes, failures or neither (see [`Classify`](crate::Classify)).
    ///
    /// ```
    /// use protego::{Outcome, ProtectExt, Registry};
    ///
    /// let registry = Registry::new();
    /// let not_found_is_fine = |r: &Result<(), &str>| match r {
    ///     Err(e) if *e == "not found" => Outcome::Ignored,
    ///     Err(_) => Outcome::Failure,
    ///     Ok(()) => Outcome::Success,
    /// };
    /// # futures::executor::block_on(async {
    /// for _ in 0..10 {
    ///     let r = async { Err("not found") }.protect_classified(&registry, "users", not_found_is_fine).await;
    ///     assert!(!r.unwrap_err().is_rejected());
    /// }
    /// # });
    /// assert_eq!(registry.get("users").unwrap().consecutive_failures(), 0);
    /// ```
    fn protect_classified<C, T, E, K>(
        self,
        registry: &Registry<C>,
        name: &str,
        classifier: K,
    ) -> Protected<Self, RegistryHandle<C>, K>
    where
        Self: Future<Output = Result<T, E>>,
        C: Clock + Clone,
        K: Classify<T, E>,
    {
        registry.handle(name).call_classified(self, classifier)
    }
}

impl<F: Future> ProtectExt for F {}
