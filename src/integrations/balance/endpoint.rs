//! [`EndpointService`]: one endpoint's service behind its breaker. Not ready while the breaker
//! rejects, so the balancer picks another endpoint; its calls report to the breaker.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project::pin_project;
use tower_service::Service;

use super::detector::Slot;
use crate::breaker::Breaker;
use crate::call::circuit_breaker::CircuitBreaker;
use crate::call::classify::Classify;
use crate::call::permit::Permit;
use crate::clock::Clock;

type Held<C> = Permit<Arc<Breaker<C>>>;

/// An endpoint's service protected by the endpoint's breaker, as the
/// [`OutlierLayer`](super::OutlierLayer) hands it to the balancer.
///
/// `poll_ready` is the inner service's readiness *and* the breaker's admission: while the
/// breaker rejects (the endpoint is ejected, or its half-open trial is taken) the service is
/// not ready, and is woken on the breaker's next transition or the pool's next check. A ready
/// service holds its admission (a half-open trial slot included) until it is called or
/// dropped. Errors and responses are the inner service's, unchanged; the classifier decides
/// what the breaker records.
///
/// ```
/// use std::sync::Arc;
/// use protego_breaker::integrations::balance::{EndpointService, OutlierDetection, OutlierDetector};
/// use protego_breaker::Registry;
/// use tower::discover::Change;
/// use futures::StreamExt;
///
/// # futures::executor::block_on(async {
/// let detector = OutlierDetector::new(Arc::new(Registry::new()), "pool", OutlierDetection::default());
/// let endpoints = futures::stream::iter([Ok::<_, std::convert::Infallible>(Change::Insert(1, tower::service_fn(|x: u32| async move { Ok::<_, ()>(x) })))]);
/// let mut discover = detector.layer().discover(endpoints);
/// let Some(Ok(Change::Insert(1, svc))) = discover.next().await else { unreachable!() };
/// fn protected<S, C: protego_breaker::Clock, K>(_: &EndpointService<S, C, K>) {}
/// protected(&svc);
/// # });
/// ```
pub struct EndpointService<S, C: Clock, K> {
    inner: S,
    /// The slot's breaker, held directly: one pointer less per call.
    breaker: Arc<Breaker<C>>,
    slot: Arc<Slot<C>>,
    classifier: K,
    /// The admission `poll_ready` took.
    held: Option<Held<C>>,
}

impl<S, C: Clock, K> EndpointService<S, C, K> {
    pub(crate) fn new(inner: S, slot: Arc<Slot<C>>, classifier: K) -> Self {
        EndpointService {
            inner,
            breaker: Arc::clone(&slot.breaker),
            slot,
            classifier,
            held: None,
        }
    }

    /// The endpoint's breaker.
    ///
    /// ```
    /// # use protego_breaker::integrations::balance::EndpointService;
    /// fn state<S, K>(svc: &EndpointService<S, protego_breaker::SystemClock, K>) -> protego_breaker::State {
    ///     svc.breaker().state()
    /// }
    /// ```
    pub fn breaker(&self) -> &Breaker<C> {
        &self.breaker
    }

    /// The inner service.
    ///
    /// ```
    /// # use protego_breaker::integrations::balance::EndpointService;
    /// fn inner<S, K>(svc: &EndpointService<S, protego_breaker::SystemClock, K>) -> &S { svc.get_ref() }
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Takes an admission from the breaker, or parks the task on the endpoint.
    #[inline]
    fn admit(&mut self, cx: &Context<'_>) -> bool {
        if self.held.is_some() {
            return true;
        }
        if let Ok(permit) = Arc::clone(&self.breaker).try_acquire_owned() {
            self.held = Some(permit);
            return true;
        }
        self.park(cx)
    }

    #[cold]
    #[inline(never)]
    fn park(&mut self, cx: &Context<'_>) -> bool {
        self.slot.park(cx.waker());
        // A transition between the refusal and the parking found no waker: look once more.
        if let Ok(permit) = Arc::clone(&self.breaker).try_acquire_owned() {
            self.held = Some(permit);
            return true;
        }
        false
    }
}

impl<S: fmt::Debug, C: Clock, K> fmt::Debug for EndpointService<S, C, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndpointService")
            .field("inner", &self.inner)
            .field("breaker", &*self.breaker)
            .field("admitted", &self.held.is_some())
            .finish_non_exhaustive()
    }
}

impl<S, C, K, Req> Service<Req> for EndpointService<S, C, K>
where
    S: Service<Req>,
    C: Clock,
    K: Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = EndpointFuture<S::Future, C, K>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        std::task::ready!(self.inner.poll_ready(cx))?;
        if self.admit(cx) {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        EndpointFuture {
            fut: self.inner.call(req),
            permit: self.held.take(),
            classifier: self.classifier.clone(),
        }
    }
}

/// The future of an [`EndpointService`] call: the inner future, whose output is recorded with
/// the endpoint's breaker and returned unchanged.
#[pin_project]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct EndpointFuture<F, C: Clock, K> {
    #[pin]
    fut: F,
    permit: Option<Held<C>>,
    classifier: K,
}

impl<F, C, K, T, E> Future for EndpointFuture<F, C, K>
where
    F: Future<Output = Result<T, E>>,
    C: Clock,
    K: Classify<T, E>,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // A panic in `fut` drops the permit while unwinding: recorded as a failure.
        let output = std::task::ready!(this.fut.poll(cx));
        if let Some(permit) = this.permit.take() {
            permit.record(this.classifier.classify(&output));
        }
        Poll::Ready(output)
    }
}

impl<F, C: Clock, K> fmt::Debug for EndpointFuture<F, C, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndpointFuture")
            .field("admitted", &self.permit.is_some())
            .finish_non_exhaustive()
    }
}
