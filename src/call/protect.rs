//! [`ProtectExt`]: `.protect(&registry, "name")` on any fallible future.

use std::future::Future;

use crate::call::circuit_breaker::CircuitBreaker;
use crate::call::protected::Protected;
use crate::clock::Clock;
use crate::registry::{BreakerHandle, Registry};

/// Protects any fallible future with a named breaker of a [`Registry`].
///
/// Implemented for every [`Future`]; `protect` is available when its output is a `Result`.
///
/// ```
/// use protego_breaker::{ProtectExt, Registry};
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
    /// registry is not. The future holds a [`BreakerHandle`]: a per-stripe handle to the
    /// breaker, so threads calling the same name on different cores write no shared memory
    /// (see its docs). An existing name allocates nothing, except on a thread group's first call
    /// with that name, which makes the group's handle.
    ///
    /// ```
    /// use protego_breaker::{ProtectExt, Registry, State};
    ///
    /// let registry = Registry::new();
    /// let fut = async { Err::<(), _>("timeout") }.protect(&registry, "payments");
    /// drop(registry); // the future owns its breaker
    /// assert!(futures::executor::block_on(fut).is_err());
    /// ```
    // Measured (benches/call.rs): out of line, the call and the future returned through
    // memory cost ~1 ns of a ~10 ns call.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn protect<C, T, E>(
        self,
        registry: &Registry<C>,
        name: &str,
    ) -> Protected<Self, BreakerHandle<C>>
    where
        Self: Future<Output = Result<T, E>>,
        C: Clock + Clone + 'static,
    {
        registry.handle(name).call_owned(self)
    }
}

impl<F: Future> ProtectExt for F {}
