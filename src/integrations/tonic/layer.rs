//! [`GrpcCircuitBreakerLayer`]: the layer for tonic clients and any gRPC service.

use tower_layer::Layer;

use super::codes::FailureCodes;
use super::service::GrpcCircuitBreakerService;
use crate::integrations::tower::{picker_constructors, CircuitBreakerLayer};

/// A [`Layer`] that protects a gRPC client (a `tonic::transport::Channel`, or any service of
/// `http::Request`s answering gRPC responses) with circuit breakers: see the [module docs](super).
///
/// ```
/// use std::sync::Arc;
/// use protego_breaker::integrations::tonic::{FailureCodes, GrpcCircuitBreakerLayer};
/// use protego_breaker::{Breaker, Config, Registry};
///
/// // One breaker for the channel.
/// let per_channel = GrpcCircuitBreakerLayer::new(Arc::new(Breaker::new(Config::default())));
/// // One per gRPC method ("/quotes.Quotes/Get"), `UNKNOWN` a failure too.
/// let per_method = GrpcCircuitBreakerLayer::keyed(Arc::new(Registry::new()), |req: &http::Request<tonic::body::Body>| {
///     req.uri().path().to_owned()
/// })
/// .classify(FailureCodes::DEFAULT.with(tonic::Code::Unknown));
/// # drop((per_channel, per_method));
/// ```
#[derive(Debug, Clone)]
pub struct GrpcCircuitBreakerLayer<P, K = FailureCodes> {
    inner: CircuitBreakerLayer<P, K>,
}

picker_constructors!(
    GrpcCircuitBreakerLayer,
    "protego_breaker::integrations::tonic::GrpcCircuitBreakerLayer",
    "|r: &http::Request<tonic::body::Body>| r.uri().path().to_owned()"
);

impl<P> GrpcCircuitBreakerLayer<P> {
    /// Picks breakers with `pick`, classifying with [`FailureCodes::DEFAULT`].
    ///
    /// ```
    /// # use std::sync::Arc;
    /// use protego_breaker::integrations::tower::Named;
    /// let layer = protego_breaker::integrations::tonic::GrpcCircuitBreakerLayer::with_picker(Named::new(Arc::new(protego_breaker::Registry::new()), "quotes"));
    /// # drop(layer);
    /// ```
    pub fn with_picker(pick: P) -> Self {
        GrpcCircuitBreakerLayer {
            inner: CircuitBreakerLayer::with_picker(pick).classify(FailureCodes::DEFAULT),
        }
    }
}

impl<P, K> GrpcCircuitBreakerLayer<P, K> {
    /// Decides outcomes with `classifier` (a [`FailureCodes`] set, or any
    /// [`ClassifyCode`](super::ClassifyCode) such as a closure over the code).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use protego_breaker::call::Outcome;
    /// use protego_breaker::integrations::tonic::GrpcCircuitBreakerLayer;
    /// use tonic::Code;
    ///
    /// let layer = GrpcCircuitBreakerLayer::named(Arc::new(protego_breaker::Registry::new()), "quotes")
    ///     .classify(|code: Code| match code {
    ///         Code::Unavailable | Code::Unknown => Outcome::Failure,
    ///         Code::Cancelled => Outcome::Ignored,
    ///         _ => Outcome::Success,
    ///     });
    /// # drop(layer);
    /// ```
    pub fn classify<K2>(self, classifier: K2) -> GrpcCircuitBreakerLayer<P, K2> {
        GrpcCircuitBreakerLayer {
            inner: self.inner.classify(classifier),
        }
    }
}

impl<S, P: Clone, K: Clone> Layer<S> for GrpcCircuitBreakerLayer<P, K> {
    type Service = GrpcCircuitBreakerService<S, P, K>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcCircuitBreakerService::new(self.inner.layer(inner))
    }
}
