//! HTTP services (feature `http`): 5xx responses count as failures, and a rejection answers
//! `503 Service Unavailable` with `Retry-After`.
//!
//! [`HttpCircuitBreakerLayer`] is [`CircuitBreakerLayer`]
//! for services that answer [`http::Response`]s: by default it classifies responses with
//! [`ServerErrorsAsFailures`] (any 5xx is a failure), and it answers a rejected request itself, without
//! calling the inner service, with [`service_unavailable`]: status 503 and, when the time left
//! is known, `Retry-After` in whole seconds, rounded up. The service's error type stays the
//! inner one, so it drops into axum's `Router::route_layer` as is:
//!
//! ```
//! use std::sync::Arc;
//! use protego_breaker::integrations::http::HttpCircuitBreakerLayer;
//! use protego_breaker::Registry;
//!
//! let registry = Arc::new(Registry::new());
//! let app: axum::Router = axum::Router::new()
//!     .route("/quote", axum::routing::get(|| async { "42" }))
//!     .route_layer(HttpCircuitBreakerLayer::named(Arc::clone(&registry), "quote"));
//! # drop(app);
//! ```
//!
//! Naming breakers after raw request data (the path, the `Host` header) lets a client create as
//! many breakers as it sends distinct values: key by the matched route or a fixed set.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::call::circuit_breaker::CircuitBreaker;
use crate::call::classify::{Classify, Outcome};
use crate::error::{Error, Rejected};
use crate::integrations::tower::{
    picker_constructors, CircuitBreakerLayer, CircuitBreakerService, PickBreaker, ResponseFuture,
};

/// The default HTTP classifier: a 429 or 503 response, or any other 5xx that pushes back with
/// a `Retry-After` header, is an [overload](crate::call::Outcome::Overload) (shed, not an
/// outage), any other 5xx a failure, any other response a success, and an error (no response
/// at all, a timeout included) a failure: a balanced pool's endpoint that hangs must count
/// against that endpoint. For a single dependency whose timeouts are overload, classify with
/// [`overload_if`](crate::call::overload_if) and [`is_timeout`](crate::call::is_timeout), or
/// put [`CircuitBreakerLayer`] (which counts timeouts as overload) in the stack.
///
/// ```
/// use protego_breaker::integrations::http::ServerErrorsAsFailures;
/// use protego_breaker::{call::Classify, call::Outcome};
///
/// let response = |status: u16| http::Response::builder().status(status).body(()).unwrap();
/// assert_eq!(ServerErrorsAsFailures.classify(&Ok::<_, ()>(response(200))), Outcome::Success);
/// assert_eq!(ServerErrorsAsFailures.classify(&Ok::<_, ()>(response(404))), Outcome::Success);
/// assert_eq!(ServerErrorsAsFailures.classify(&Ok::<_, ()>(response(500))), Outcome::Failure);
/// assert_eq!(ServerErrorsAsFailures.classify(&Ok::<_, ()>(response(503))), Outcome::Overload);
/// assert_eq!(ServerErrorsAsFailures.classify(&Ok::<_, ()>(response(429))), Outcome::Overload);
/// // A 500 that says when to come back is pushback, not an outage.
/// let pushback = http::Response::builder().status(500).header("retry-after", "2").body(()).unwrap();
/// assert_eq!(ServerErrorsAsFailures.classify(&Ok::<_, ()>(pushback)), Outcome::Overload);
/// assert_eq!(ServerErrorsAsFailures.classify(&Err::<http::Response<()>, _>(())), Outcome::Failure);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ServerErrorsAsFailures;

impl<B, E> Classify<http::Response<B>, E> for ServerErrorsAsFailures {
    fn classify(&self, result: &Result<http::Response<B>, E>) -> Outcome {
        match result {
            Ok(response) if matches!(response.status().as_u16(), 429 | 503) => Outcome::Overload,
            Ok(response) if response.status().is_server_error() => {
                if response.headers().contains_key(http::header::RETRY_AFTER) {
                    Outcome::Overload
                } else {
                    Outcome::Failure
                }
            }
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::Failure,
        }
    }
}

/// `Retry-After` for a rejection: the time left in whole seconds, rounded up; `None` when it
/// is not known (a half-open circuit whose round has every trial taken, or forced open).
///
/// ```
/// # use protego_breaker::{Breaker, CircuitBreaker, Config, ManualClock};
/// # use std::time::Duration;
/// let clock = ManualClock::new();
/// let breaker = Breaker::with_clock(Config::builder().failure_threshold(1).build()?, clock.clone());
/// breaker.try_acquire().unwrap().failure();
/// clock.advance(Duration::from_millis(500));
/// let rejected = breaker.try_acquire().unwrap_err();
/// assert_eq!(protego_breaker::integrations::http::retry_after_secs(&rejected), Some(60)); // 59.5 s, rounded up
/// # Ok::<(), protego_breaker::ConfigError>(())
/// ```
pub fn retry_after_secs(rejected: &Rejected) -> Option<u64> {
    rejected
        .retry_after()
        .map(|d| d.as_secs() + u64::from(d.subsec_nanos() > 0))
}

/// The response for a rejected request: `503 Service Unavailable`, with `Retry-After` when the
/// time left is known, and an empty body.
///
/// ```
/// # use protego_breaker::{Breaker, CircuitBreaker, Config};
/// let breaker = Breaker::new(Config::builder().failure_threshold(1).build()?);
/// breaker.try_acquire().unwrap().failure();
/// let response: http::Response<String> =
///     protego_breaker::integrations::http::service_unavailable(&breaker.try_acquire().unwrap_err());
/// assert_eq!(response.status(), 503);
/// assert_eq!(response.headers()["retry-after"], "60");
/// # Ok::<(), protego_breaker::ConfigError>(())
/// ```
pub fn service_unavailable<B: Default>(rejected: &Rejected) -> http::Response<B> {
    let mut response = http::Response::new(B::default());
    *response.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
    if let Some(secs) = retry_after_secs(rejected) {
        response
            .headers_mut()
            .insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
    }
    response
}

/// A [`Layer`] that protects an HTTP service and answers rejections with 503: see the
/// [module docs](self).
///
/// ```
/// use std::sync::Arc;
/// use protego_breaker::integrations::http::HttpCircuitBreakerLayer;
/// use protego_breaker::{Breaker, Config};
///
/// let per_service = HttpCircuitBreakerLayer::new(Arc::new(Breaker::new(Config::default())));
/// let per_host = HttpCircuitBreakerLayer::keyed(Arc::new(protego_breaker::Registry::new()), |req: &http::Request<()>| {
///     req.uri().host().unwrap_or("unknown").to_owned()
/// });
/// # drop((per_service, per_host));
/// ```
#[derive(Debug, Clone)]
pub struct HttpCircuitBreakerLayer<P, K = ServerErrorsAsFailures> {
    inner: CircuitBreakerLayer<P, K>,
}

picker_constructors!(
    HttpCircuitBreakerLayer,
    "protego_breaker::integrations::http::HttpCircuitBreakerLayer",
    "|r: &http::Request<()>| r.method().to_string()"
);

impl<P> HttpCircuitBreakerLayer<P> {
    /// Picks breakers with `pick`, classifying with [`ServerErrorsAsFailures`].
    ///
    /// ```
    /// # use std::sync::Arc;
    /// use protego_breaker::integrations::tower::Named;
    /// let layer = protego_breaker::integrations::http::HttpCircuitBreakerLayer::with_picker(Named::new(Arc::new(protego_breaker::Registry::new()), "db"));
    /// # drop(layer);
    /// ```
    pub fn with_picker(pick: P) -> Self {
        HttpCircuitBreakerLayer {
            inner: CircuitBreakerLayer::with_picker(pick).classify(ServerErrorsAsFailures),
        }
    }
}

impl<P, K> HttpCircuitBreakerLayer<P, K> {
    /// Decides outcomes with `classifier` instead of [`ServerErrorsAsFailures`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// use protego_breaker::integrations::http::HttpCircuitBreakerLayer;
    /// use protego_breaker::call::Outcome;
    ///
    /// // 429 Too Many Requests counts against the downstream too.
    /// let layer = HttpCircuitBreakerLayer::named(Arc::new(protego_breaker::Registry::new()), "api")
    ///     .classify(|r: &Result<http::Response<()>, std::io::Error>| match r {
    ///         Ok(res) if res.status().is_server_error() || res.status() == 429 => Outcome::Failure,
    ///         Ok(_) => Outcome::Success,
    ///         Err(_) => Outcome::Failure,
    ///     });
    /// # drop(layer);
    /// ```
    pub fn classify<K2>(self, classifier: K2) -> HttpCircuitBreakerLayer<P, K2> {
        HttpCircuitBreakerLayer {
            inner: self.inner.classify(classifier),
        }
    }
}

impl<S, P: Clone, K: Clone> Layer<S> for HttpCircuitBreakerLayer<P, K> {
    type Service = HttpCircuitBreakerService<S, P, K>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpCircuitBreakerService {
            inner: self.inner.layer(inner),
        }
    }
}

/// An HTTP service protected by circuit breakers; made by [`HttpCircuitBreakerLayer`].
///
/// ```
/// use std::sync::Arc;
/// use protego_breaker::integrations::http::HttpCircuitBreakerLayer;
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # futures::executor::block_on(async {
/// let svc = HttpCircuitBreakerLayer::named(Arc::new(protego_breaker::Registry::new()), "hello")
///     .layer(service_fn(|_: http::Request<()>| async {
///         Ok::<_, std::convert::Infallible>(http::Response::new(String::from("hi")))
///     }));
/// let response = svc.oneshot(http::Request::new(())).await.unwrap();
/// assert_eq!(response.body(), "hi");
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct HttpCircuitBreakerService<S, P, K = ServerErrorsAsFailures> {
    inner: CircuitBreakerService<S, P, K>,
}

impl<S, P, K, Req, B> Service<Req> for HttpCircuitBreakerService<S, P, K>
where
    S: Service<Req, Response = http::Response<B>>,
    P: PickBreaker<Req>,
    K: Classify<S::Response, S::Error> + Clone,
    B: Default,
{
    type Response = http::Response<B>;
    type Error = S::Error;
    type Future = HttpResponseFuture<S::Future, P::Handle, K>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Readiness is the inner service's (see `protego_breaker::integrations::tower`).
        self.inner.get_mut().poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        HttpResponseFuture {
            inner: self.inner.call_admitted(req),
        }
    }
}

/// The future of an [`HttpCircuitBreakerService`] call: the inner response, or a 503.
#[pin_project]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct HttpResponseFuture<F, H: CircuitBreaker, K> {
    #[pin]
    inner: ResponseFuture<F, H, K>,
}

impl<F, H, K, B, E> Future for HttpResponseFuture<F, H, K>
where
    F: Future<Output = Result<http::Response<B>, E>>,
    H: CircuitBreaker,
    K: Classify<http::Response<B>, E>,
    B: Default,
{
    type Output = Result<http::Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll_typed(cx).map(answered)
    }
}

/// A protected call's result as an HTTP service answers it: a rejection becomes the 503.
pub(crate) fn answered<B: Default, E>(
    result: Result<http::Response<B>, Error<E>>,
) -> Result<http::Response<B>, E> {
    match result {
        Ok(response) => Ok(response),
        Err(Error::Inner(e)) => Err(e),
        Err(Error::Rejected(rejected)) => {
            let mut response = service_unavailable(&rejected);
            // Layers above recognise the rejection by it (as the gRPC layer's answer carries it).
            response.extensions_mut().insert(rejected);
            Ok(response)
        }
    }
}

impl<F, H: CircuitBreaker, K> fmt::Debug for HttpResponseFuture<F, H, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("HttpResponseFuture")
            .field(&self.inner)
            .finish()
    }
}
