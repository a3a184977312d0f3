//! [`GrpcCircuitBreakerService`]: asks the picked breaker for admission before calling the
//! inner gRPC service.

use std::task::{Context, Poll};

use tower_service::Service;

use super::body::GrpcBody;
use super::codes::{ClassifyCode, FailureCodes};
use super::future::GrpcResponseFuture;
use crate::integrations::tower::{CircuitBreakerService, PickBreaker};

/// A gRPC service protected by circuit breakers; made by
/// [`GrpcCircuitBreakerLayer`](super::GrpcCircuitBreakerLayer): see the [module docs](super).
///
/// ```
/// use std::sync::Arc;
/// use protego_breaker::integrations::tonic::{GrpcCircuitBreakerLayer, GrpcCircuitBreakerService};
/// use tower::{service_fn, Layer};
///
/// let svc = GrpcCircuitBreakerLayer::named(Arc::new(protego_breaker::Registry::new()), "quotes")
///     .layer(service_fn(|_: http::Request<()>| async {
///         Ok::<_, std::convert::Infallible>(http::Response::new(tonic::body::Body::empty()))
///     }));
/// # fn check<S, P, K>(_: &GrpcCircuitBreakerService<S, P, K>) {}
/// check(&svc);
/// ```
#[derive(Debug, Clone)]
pub struct GrpcCircuitBreakerService<S, P, K = FailureCodes> {
    inner: CircuitBreakerService<S, P, K>,
}

impl<S, P, K> GrpcCircuitBreakerService<S, P, K> {
    pub(super) fn new(inner: CircuitBreakerService<S, P, K>) -> Self {
        GrpcCircuitBreakerService { inner }
    }

    /// The inner service.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use tower::{service_fn, Layer};
    /// let svc = protego_breaker::integrations::tonic::GrpcCircuitBreakerLayer::named(Arc::new(protego_breaker::Registry::new()), "x")
    ///     .layer(service_fn(|_: http::Request<()>| async { Ok::<_, ()>(http::Response::new(())) }));
    /// let _inner = svc.get_ref();
    /// ```
    pub fn get_ref(&self) -> &S {
        self.inner.get_ref()
    }

    /// The inner service, mutably.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use tower::{service_fn, Layer};
    /// let mut svc = protego_breaker::integrations::tonic::GrpcCircuitBreakerLayer::named(Arc::new(protego_breaker::Registry::new()), "x")
    ///     .layer(service_fn(|_: http::Request<()>| async { Ok::<_, ()>(http::Response::new(())) }));
    /// let _inner = svc.get_mut();
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        self.inner.get_mut()
    }
}

impl<S, P, K, Req, B> Service<Req> for GrpcCircuitBreakerService<S, P, K>
where
    S: Service<Req, Response = http::Response<B>>,
    P: PickBreaker<Req>,
    K: ClassifyCode + Clone,
{
    type Response = http::Response<GrpcBody<B, P::Handle, K>>;
    type Error = S::Error;
    type Future = GrpcResponseFuture<S::Future, P::Handle, K>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Readiness is the inner service's (see `protego_breaker::integrations::tower`).
        self.inner.get_mut().poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        match self.inner.admit(req) {
            Ok((fut, permit, classifier)) => GrpcResponseFuture::running(fut, permit, classifier),
            Err(rejected) => GrpcResponseFuture::rejected(rejected),
        }
    }
}
