//! [`CircuitBreakerService`]: asks the picked breaker for admission before calling the inner
//! service.

use std::task::{Context, Poll};

use tower_service::Service;

use super::future::ResponseFuture;
use super::pick::PickBreaker;
use crate::call::circuit_breaker::CircuitBreaker;
use crate::call::classify::{Classify, ErrorsAsFailures};
use crate::call::permit::Permit;
use crate::error::Rejected;
use crate::integrations::tower::BoxError;

/// A service protected by circuit breakers; made by [`CircuitBreakerLayer`](super::CircuitBreakerLayer).
///
/// ```
/// use std::sync::Arc;
/// use protego_breaker::integrations::tower::{CircuitBreakerService, CircuitBreakerLayer};
/// use tower::{service_fn, Layer};
///
/// let svc = CircuitBreakerLayer::named(Arc::new(protego_breaker::Registry::new()), "echo")
///     .layer(service_fn(|s: String| async move { Ok::<_, std::io::Error>(s) }));
/// # fn check<S, P, K>(_: &CircuitBreakerService<S, P, K>) {}
/// check(&svc);
/// ```
#[derive(Debug, Clone)]
pub struct CircuitBreakerService<S, P, K = ErrorsAsFailures> {
    inner: S,
    pick: P,
    classifier: K,
}

impl<S, P, K> CircuitBreakerService<S, P, K> {
    pub(super) fn new(inner: S, pick: P, classifier: K) -> Self {
        CircuitBreakerService {
            inner,
            pick,
            classifier,
        }
    }

    /// The inner service.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use tower::{service_fn, Layer};
    /// let svc = protego_breaker::integrations::tower::CircuitBreakerLayer::named(Arc::new(protego_breaker::Registry::new()), "x")
    ///     .layer(service_fn(|(): ()| async { Ok::<_, ()>(()) }));
    /// let _inner = svc.get_ref();
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use tower::{service_fn, Layer};
    /// let mut svc = protego_breaker::integrations::tower::CircuitBreakerLayer::named(Arc::new(protego_breaker::Registry::new()), "x")
    ///     .layer(service_fn(|(): ()| async { Ok::<_, ()>(()) }));
    /// let _inner = svc.get_mut();
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }
}

/// An admitted request: the inner service's future, the permit its outcome goes to, and the
/// classifier that decides that outcome.
pub(crate) type Admitted<F, H, K> = (F, Permit<H>, K);

impl<S, P, K: Clone> CircuitBreakerService<S, P, K> {
    /// The first step of every layer's `call`: the picked breaker's admission, then, if
    /// admitted, the inner service's call with the permit and classifier its outcome goes to.
    #[inline]
    pub(crate) fn admit<Req>(
        &mut self,
        req: Req,
    ) -> Result<Admitted<S::Future, P::Handle, K>, Rejected>
    where
        S: Service<Req>,
        P: PickBreaker<Req>,
    {
        let permit = self.pick.pick(&req).try_acquire_owned()?;
        Ok((self.inner.call(req), permit, self.classifier.clone()))
    }

    /// The call: the inner service's future reporting to the permit, or the rejection.
    #[inline]
    pub(crate) fn call_admitted<Req>(&mut self, req: Req) -> ResponseFuture<S::Future, P::Handle, K>
    where
        S: Service<Req>,
        P: PickBreaker<Req>,
    {
        match self.admit(req) {
            Ok((fut, permit, classifier)) => ResponseFuture::running(fut, permit, classifier),
            Err(rejected) => ResponseFuture::rejected(rejected),
        }
    }
}

impl<S, P, K, Req> Service<Req> for CircuitBreakerService<S, P, K>
where
    S: Service<Req>,
    P: PickBreaker<Req>,
    S::Error: Into<BoxError>,
    K: Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, P::Handle, K>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        self.call_admitted(req)
    }
}
