//! [`BreakerHandle`]: a registry's per-core handle to one breaker.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use crate::breaker::Breaker;
use crate::call::circuit_breaker::CircuitBreaker;
use crate::clock::{Clock, SystemClock};
use crate::stripes::CachePadded;

/// A registry breaker as `.protect` hands it to its future: derefs to the [`Breaker`].
///
/// Cloning the breaker's own `Arc` on every call would make every thread write the same
/// reference count, a cache line that then bounces between cores. A registry instead keeps one
/// handle per breaker per *stripe* (a group of threads: as many stripes as cores, up to 64), and
/// a call clones its own stripe's handle, so threads on different cores write different memory.
/// A handle keeps its breaker alive, like an `Arc<Breaker>`; it stays valid after the name is
/// removed from the registry, and after the registry is dropped.
///
/// ```
/// use protego_breaker::{Registry, State};
///
/// let registry = Registry::new();
/// let handle = registry.handle("payments");
/// assert_eq!(handle.state(), State::Closed); // Breaker's methods, through Deref
/// assert_eq!(handle.name(), Some("payments"));
/// ```
pub struct BreakerHandle<C: Clock = SystemClock> {
    /// Padded, so that two handles' reference counts never share a cache line.
    inner: Arc<CachePadded<Arc<Breaker<C>>>>,
}

impl<C: Clock> BreakerHandle<C> {
    pub(super) fn new(breaker: Arc<Breaker<C>>) -> Self {
        BreakerHandle {
            inner: Arc::new(CachePadded(breaker)),
        }
    }

    /// The breaker as a plain `Arc`, for code that stores breakers.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use protego_breaker::Registry;
    ///
    /// let registry = Registry::new();
    /// let breaker = registry.handle("payments").to_arc();
    /// assert!(Arc::ptr_eq(&breaker, &registry.get("payments").unwrap()));
    /// ```
    #[must_use]
    pub fn to_arc(&self) -> Arc<Breaker<C>> {
        Arc::clone(&self.inner.0)
    }
}

impl<C: Clock> Clone for BreakerHandle<C> {
    /// Clones the handle; the copy writes the same (per-stripe) reference count.
    ///
    /// ```
    /// let registry = protego_breaker::Registry::new();
    /// let copy = registry.handle("payments").clone();
    /// assert_eq!(copy.name(), Some("payments"));
    /// ```
    #[inline]
    fn clone(&self) -> Self {
        BreakerHandle {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<C: Clock> Deref for BreakerHandle<C> {
    type Target = Breaker<C>;

    #[inline]
    fn deref(&self) -> &Breaker<C> {
        &self.inner.0
    }
}

impl<C: Clock> CircuitBreaker for BreakerHandle<C> {
    type Clock = C;

    #[inline]
    fn breaker(&self) -> &Breaker<C> {
        &self.inner.0
    }
}

impl<C: Clock> fmt::Debug for BreakerHandle<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("BreakerHandle")
            .field(&*self.inner.0)
            .finish()
    }
}
