//! A balanced tonic channel whose endpoints are protected (features `tonic` and `balance`):
//! [`GrpcEjectionGuard`], the pool's guard answering in gRPC.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project::pin_project;
use tower_service::Service;

use super::rejection::trailers_only;
use crate::clock::Clock;
use crate::error::Error;
use crate::integrations::balance::{EjectionGuard, GuardFuture, OutlierDetector};
use crate::integrations::tower::BoxError;

/// [`EjectionGuard`] for gRPC: while every endpoint of the pool is ejected, a call is answered
/// at once, as the [single-channel layer](super::GrpcCircuitBreakerLayer) answers, with a
/// trailers-only `UNAVAILABLE` carrying `grpc-retry-pushback-ms` (the shortest time until an
/// endpoint takes trials); tonic's client hands the caller that `Status`. Errors are boxed, as
/// tower's balancer boxes them. Made by [`OutlierDetector::grpc_guard`]; see the
/// [module docs](super#a-balanced-channel-whose-endpoints-are-protected).
///
/// A balanced tonic channel whose endpoints are protected:
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use protego_breaker::integrations::balance::{OutlierDetection, OutlierDetector};
/// use protego_breaker::integrations::tonic::FailureCodes;
/// use protego_breaker::Registry;
/// use tower::balance::p2c::Balance;
/// use tower::discover::Change;
/// use tower::load::{CompleteOnResponse, PendingRequestsDiscover};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let registry = Arc::new(Registry::new());
/// let detector = OutlierDetector::new(registry, "quotes", OutlierDetection::default());
///
/// // A channel per endpoint, each with its deadline (so that a hanging endpoint counts).
/// let uris = ["http://quotes-0:50051", "http://quotes-1:50051", "http://quotes-2:50051"];
/// let endpoints = uris.map(|uri| {
///     let channel = tonic::transport::Endpoint::from_static(uri)
///         .timeout(Duration::from_secs(1))
///         .connect_lazy();
///     Ok::<_, std::convert::Infallible>(Change::Insert(uri, channel))
/// });
/// let discover = detector
///     .layer()
///     .classify(FailureCodes::DEFAULT) // UNAVAILABLE, DEADLINE_EXCEEDED, ... eject
///     .discover(futures::stream::iter(endpoints));
/// let balanced = Balance::new(PendingRequestsDiscover::new(discover, CompleteOnResponse::default()));
/// let channel = detector.grpc_guard(balanced);
/// let client = tonic::client::Grpc::new(channel); // or `QuotesClient::new(channel)`
/// // Optional: the pool's timer on your runtime (else its analysis runs on the balancer's polls).
/// tokio::spawn(detector.drive(tokio::time::sleep));
/// # drop(client);
/// # Ok(())
/// # }
/// ```
///
/// p2c's `Balance` is not `Clone`: share it through `tower::buffer::Buffer`, as tonic's own
/// `Channel` does.
pub struct GrpcEjectionGuard<S, C: Clock + Clone + Send + Sync + 'static> {
    inner: EjectionGuard<S, C>,
}

impl<C: Clock + Clone + Send + Sync + 'static> OutlierDetector<C> {
    /// Guards a gRPC `balancer` (tower's p2c `Balance` over this pool's tonic channels): see
    /// [`GrpcEjectionGuard`].
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use protego_breaker::integrations::balance::{OutlierDetection, OutlierDetector};
    /// let detector = OutlierDetector::new(Arc::new(protego_breaker::Registry::new()), "quotes", OutlierDetection::default());
    /// let guarded = detector.grpc_guard(());
    /// # drop(guarded);
    /// ```
    pub fn grpc_guard<S>(&self, balancer: S) -> GrpcEjectionGuard<S, C> {
        GrpcEjectionGuard {
            inner: self.guard(balancer),
        }
    }
}

impl<S: Clone, C: Clock + Clone + Send + Sync + 'static> Clone for GrpcEjectionGuard<S, C> {
    fn clone(&self) -> Self {
        GrpcEjectionGuard {
            inner: self.inner.clone(),
        }
    }
}

impl<S: fmt::Debug, C: Clock + Clone + Send + Sync + 'static> fmt::Debug
    for GrpcEjectionGuard<S, C>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("GrpcEjectionGuard")
            .field(&self.inner)
            .finish()
    }
}

impl<S, C: Clock + Clone + Send + Sync + 'static> GrpcEjectionGuard<S, C> {
    /// The guarded balancer.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use protego_breaker::integrations::balance::{OutlierDetection, OutlierDetector};
    /// let detector = OutlierDetector::new(Arc::new(protego_breaker::Registry::new()), "quotes", OutlierDetection::default());
    /// assert_eq!(*detector.grpc_guard(7_u8).get_ref(), 7);
    /// ```
    pub fn get_ref(&self) -> &S {
        self.inner.get_ref()
    }
}

impl<S, C, Req, B> Service<Req> for GrpcEjectionGuard<S, C>
where
    S: Service<Req, Response = http::Response<B>>,
    S::Error: Into<BoxError>,
    C: Clock + Clone + Send + Sync + 'static,
    B: Default,
{
    type Response = http::Response<B>;
    type Error = BoxError;
    type Future = GrpcGuardFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_guarded(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        GrpcGuardFuture {
            inner: self.inner.call_guarded(req),
        }
    }
}

/// The future of a [`GrpcEjectionGuard`] call: the balancer's response, or a trailers-only
/// `UNAVAILABLE`.
#[pin_project]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct GrpcGuardFuture<F> {
    #[pin]
    inner: GuardFuture<F>,
}

impl<F, B, E> Future for GrpcGuardFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
    E: Into<BoxError>,
    B: Default,
{
    type Output = Result<http::Response<B>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll_typed(cx).map(answered)
    }
}

/// A guarded call's result as a gRPC server answers it: a rejection becomes the trailers-only
/// `UNAVAILABLE`, the balancer's error is boxed.
fn answered<B: Default, E: Into<BoxError>>(
    result: Result<http::Response<B>, Error<E>>,
) -> Result<http::Response<B>, BoxError> {
    match result {
        Ok(response) => Ok(response),
        Err(Error::Rejected(rejected)) => Ok(trailers_only(rejected, B::default())),
        Err(Error::Inner(error)) => Err(error.into()),
    }
}

impl<F> fmt::Debug for GrpcGuardFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("GrpcGuardFuture").field(&self.inner).finish()
    }
}
