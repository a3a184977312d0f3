//! [`EjectionGuard`]: the balancer, answering at once when every endpoint is ejected.
//!
//! A p2c balancer with no ready endpoint answers `Poll::Pending` to `poll_ready`, and stays
//! pending until an endpoint wakes it: with every endpoint ejected, a caller would wait out the
//! ejection. The guard asks the pool instead: when every endpoint's breaker rejects, the
//! guard is ready and the call resolves at once to the rejection (named after the pool, with
//! the shortest time left until an endpoint takes trials).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project::pin_project;
use tower_service::Service;

use super::detector::{OutlierDetector, Shared};
use crate::clock::Clock;
use crate::error::{Error, Rejected};
use crate::integrations::tower::BoxError;

/// A balancer (any service over the pool's endpoints) whose calls resolve at once to a
/// rejection while every endpoint is ejected. Made by [`OutlierDetector::guard`].
///
/// Its error is a [`BoxError`] (`tower::BoxError`), as the p2c balancer's is: it goes under
/// `tower::buffer::Buffer`, a timeout or a load-shed without `map_err`. The balancer's errors
/// come back as they were; a rejection is a boxed [`Rejected`] (named after the pool, with the
/// shortest time until an endpoint takes trials), found by `err.downcast_ref::<Rejected>()` or
/// [`Rejected::find`].
///
/// ```
/// use std::sync::Arc;
/// use protego_breaker::integrations::balance::{OutlierDetection, OutlierDetector};
/// use tower::{Service, ServiceExt};
///
/// # futures::executor::block_on(async {
/// let detector = OutlierDetector::new(Arc::new(protego_breaker::Registry::new()), "db", OutlierDetection::default());
/// let mut svc = detector.guard(tower::service_fn(|x: u32| async move { Ok::<_, &str>(x) }));
/// assert_eq!(svc.ready().await.unwrap().call(7).await.unwrap(), 7);
/// # });
/// ```
pub struct EjectionGuard<S, C: Clock + Clone + Send + Sync + 'static> {
    inner: S,
    shared: Arc<Shared<C>>,
    rejected: Option<Rejected>,
}

impl<C: Clock + Clone + Send + Sync + 'static> OutlierDetector<C> {
    /// Guards `balancer` (the p2c `Balance` over this pool's [`EndpointDiscover`](super::EndpointDiscover)):
    /// see [`EjectionGuard`].
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use protego_breaker::integrations::balance::{OutlierDetection, OutlierDetector};
    /// let detector = OutlierDetector::new(Arc::new(protego_breaker::Registry::new()), "db", OutlierDetection::default());
    /// let guarded = detector.guard(tower::service_fn(|x: u32| async move { Ok::<_, &str>(x) }));
    /// # drop(guarded);
    /// ```
    pub fn guard<S>(&self, balancer: S) -> EjectionGuard<S, C> {
        EjectionGuard {
            inner: balancer,
            shared: Arc::clone(&self.shared),
            rejected: None,
        }
    }
}

impl<S: Clone, C: Clock + Clone + Send + Sync + 'static> Clone for EjectionGuard<S, C> {
    fn clone(&self) -> Self {
        EjectionGuard {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
            rejected: None,
        }
    }
}

impl<S: fmt::Debug, C: Clock + Clone + Send + Sync + 'static> fmt::Debug for EjectionGuard<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EjectionGuard")
            .field("inner", &self.inner)
            .field("rejected", &self.rejected)
            .finish_non_exhaustive()
    }
}

impl<S, C: Clock + Clone + Send + Sync + 'static> EjectionGuard<S, C> {
    /// The guarded balancer.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use protego_breaker::integrations::balance::{OutlierDetection, OutlierDetector};
    /// let detector = OutlierDetector::new(Arc::new(protego_breaker::Registry::new()), "db", OutlierDetection::default());
    /// let guarded = detector.guard(7_u8);
    /// assert_eq!(*guarded.get_ref(), 7);
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// `poll_ready` of the balancer, or ready with a rejection in hand when every endpoint
    /// is ejected.
    pub(crate) fn poll_guarded<Req>(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>>
    where
        S: Service<Req>,
    {
        match self.inner.poll_ready(cx) {
            Poll::Ready(ready) => {
                self.rejected = None;
                Poll::Ready(ready)
            }
            Poll::Pending => match self.shared.all_ejected() {
                Some(rejected) => {
                    self.rejected = Some(rejected);
                    Poll::Ready(Ok(()))
                }
                None => Poll::Pending,
            },
        }
    }
}

impl<S, C: Clock + Clone + Send + Sync + 'static> EjectionGuard<S, C> {
    /// The balancer's call, or the rejection `poll_guarded` took in hand.
    pub(crate) fn call_guarded<Req>(&mut self, req: Req) -> GuardFuture<S::Future>
    where
        S: Service<Req>,
    {
        match self.rejected.take() {
            Some(rejected) => GuardFuture::Rejected(Some(rejected)),
            None => GuardFuture::Running(self.inner.call(req)),
        }
    }
}

impl<S, C, Req> Service<Req> for EjectionGuard<S, C>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    C: Clock + Clone + Send + Sync + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = GuardFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.poll_guarded(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        self.call_guarded(req)
    }
}

/// The future of an [`EjectionGuard`] call: the balancer's, or a rejection at once.
#[pin_project(project = GuardProj)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub enum GuardFuture<F> {
    /// The balancer's call.
    Running(#[pin] F),
    /// Every endpoint ejected.
    Rejected(Option<Rejected>),
}

impl<F> GuardFuture<F> {
    /// The call's result with its error unboxed: the guards that answer a rejection themselves
    /// (HTTP's 503, gRPC's `UNAVAILABLE`) poll this.
    pub(crate) fn poll_typed<T, E>(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<T, Error<E>>>
    where
        F: Future<Output = Result<T, E>>,
    {
        match self.project() {
            GuardProj::Running(fut) => fut.poll(cx).map_err(Error::Inner),
            GuardProj::Rejected(rejected) => Poll::Ready(Err(Error::Rejected(
                rejected
                    .take()
                    .expect("`GuardFuture` polled after completion"),
            ))),
        }
    }
}

impl<F, T, E> Future for GuardFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.poll_typed(cx).map_err(Error::into_box_error)
    }
}

impl<F> fmt::Debug for GuardFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GuardFuture::Running(_) => "GuardFuture::Running",
            GuardFuture::Rejected(_) => "GuardFuture::Rejected",
        })
    }
}

/// [`EjectionGuard`] for HTTP: while every endpoint is ejected, a call is answered `503
/// Service Unavailable` with `Retry-After` (as
/// [`integrations::http`](crate::integrations::http) answers), and the balancer's error type
/// stays its own. Made by [`OutlierDetector::http_guard`].
///
/// ```
/// use std::sync::Arc;
/// use protego_breaker::integrations::balance::{OutlierDetection, OutlierDetector};
/// use tower::ServiceExt;
///
/// # futures::executor::block_on(async {
/// let detector = OutlierDetector::new(Arc::new(protego_breaker::Registry::new()), "web", OutlierDetection::default());
/// let svc = detector.http_guard(tower::service_fn(|_: http::Request<()>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(String::from("hi")))
/// }));
/// assert_eq!(svc.oneshot(http::Request::new(())).await.unwrap().body(), "hi");
/// # });
/// ```
#[cfg(feature = "http")]
pub struct HttpEjectionGuard<S, C: Clock + Clone + Send + Sync + 'static> {
    inner: EjectionGuard<S, C>,
}

#[cfg(feature = "http")]
impl<C: Clock + Clone + Send + Sync + 'static> OutlierDetector<C> {
    /// Guards an HTTP `balancer`: see [`HttpEjectionGuard`].
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use protego_breaker::integrations::balance::{OutlierDetection, OutlierDetector};
    /// let detector = OutlierDetector::new(Arc::new(protego_breaker::Registry::new()), "web", OutlierDetection::default());
    /// let guarded = detector.http_guard(());
    /// # drop(guarded);
    /// ```
    pub fn http_guard<S>(&self, balancer: S) -> HttpEjectionGuard<S, C> {
        HttpEjectionGuard {
            inner: self.guard(balancer),
        }
    }
}

#[cfg(feature = "http")]
impl<S: Clone, C: Clock + Clone + Send + Sync + 'static> Clone for HttpEjectionGuard<S, C> {
    fn clone(&self) -> Self {
        HttpEjectionGuard {
            inner: self.inner.clone(),
        }
    }
}

#[cfg(feature = "http")]
impl<S: fmt::Debug, C: Clock + Clone + Send + Sync + 'static> fmt::Debug
    for HttpEjectionGuard<S, C>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("HttpEjectionGuard")
            .field(&self.inner)
            .finish()
    }
}

#[cfg(feature = "http")]
impl<S, C, Req, B> Service<Req> for HttpEjectionGuard<S, C>
where
    S: Service<Req, Response = http::Response<B>>,
    C: Clock + Clone + Send + Sync + 'static,
    B: Default,
{
    type Response = http::Response<B>;
    type Error = S::Error;
    type Future = HttpGuardFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_guarded(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        HttpGuardFuture {
            inner: self.inner.call_guarded(req),
        }
    }
}

/// The future of an [`HttpEjectionGuard`] call: the balancer's response, or a 503.
#[cfg(feature = "http")]
#[pin_project]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct HttpGuardFuture<F> {
    #[pin]
    inner: GuardFuture<F>,
}

#[cfg(feature = "http")]
impl<F, B, E> Future for HttpGuardFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
    B: Default,
{
    type Output = Result<http::Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project()
            .inner
            .poll_typed(cx)
            .map(crate::integrations::http::answered)
    }
}

#[cfg(feature = "http")]
impl<F> fmt::Debug for HttpGuardFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("HttpGuardFuture").field(&self.inner).finish()
    }
}
