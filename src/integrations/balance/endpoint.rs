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
use crate::call::classify::Classify;
use crate::clock::Clock;
use crate::machine::outcome::Outcome;
use crate::machine::word::Ticket;

/// One admitted call of an endpoint, like a [`Permit`](crate::call::Permit) of its breaker
/// that also counts the outcome for the pool's rules: dropped without a verdict it is an
/// ignored outcome, dropped while its thread panics a failure.
struct Held<C: Clock> {
    slot: Arc<Slot<C>>,
    ticket: Ticket,
}

impl<C: Clock> Held<C> {
    #[inline]
    fn record(mut self, outcome: Outcome) {
        let ticket = std::mem::replace(&mut self.ticket, Ticket::DONE);
        record(&self.slot, ticket, outcome);
    }
}

impl<C: Clock> Drop for Held<C> {
    #[inline]
    fn drop(&mut self) {
        let ticket = std::mem::replace(&mut self.ticket, Ticket::DONE);
        if ticket.is_call() {
            abandon(&self.slot, ticket);
        }
    }
}

/// Records an admitted call's outcome with the endpoint's breaker and counts it for the rules.
// Always: inlined, a clean success is a few loads and one store (the breaker's `record` is
// inlined the same way); a call here cost ~1 ns measured.
#[allow(clippy::inline_always)]
#[inline(always)]
fn record<C: Clock>(slot: &Slot<C>, ticket: Ticket, outcome: Outcome) {
    slot.outcomes.finished(outcome);
    slot.breaker.record(ticket, outcome);
}

/// An admission given up without a verdict: ignored, or a failure while the thread panics.
#[cold]
#[inline(never)]
fn abandon<C: Clock>(slot: &Slot<C>, ticket: Ticket) {
    let outcome = if std::thread::panicking() {
        Outcome::Failure
    } else {
        Outcome::Ignored
    };
    record(slot, ticket, outcome);
}

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
    slot: Arc<Slot<C>>,
    classifier: K,
    /// The admission `poll_ready` took (`Ticket::DONE` when none): a ticket only, so the
    /// service p2c moves through its ready cache stays small; the call's future gets the
    /// slot with it.
    held: Ticket,
}

impl<S, C: Clock, K> EndpointService<S, C, K> {
    pub(crate) fn new(inner: S, slot: Arc<Slot<C>>, classifier: K) -> Self {
        EndpointService {
            inner,
            slot,
            classifier,
            held: Ticket::DONE,
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
        &self.slot.breaker
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
        if self.held.is_call() {
            return true;
        }
        if self.try_admit() {
            return true;
        }
        self.park(cx)
    }

    #[cold]
    #[inline(never)]
    fn park(&mut self, cx: &Context<'_>) -> bool {
        self.slot.park(cx.waker());
        // A transition between the refusal and the parking found no waker: look once more.
        self.try_admit()
    }

    #[inline]
    fn try_admit(&mut self) -> bool {
        match self.slot.breaker.admit() {
            Ok(ticket) => {
                self.held = ticket;
                true
            }
            Err(refusal) => {
                // Told to the breaker's rejection listeners, as any refused call is.
                drop(self.slot.breaker.rejected(refusal));
                false
            }
        }
    }
}

impl<S, C: Clock, K> Drop for EndpointService<S, C, K> {
    /// An admission taken and never used goes back, as a dropped permit's does.
    #[inline]
    fn drop(&mut self) {
        let ticket = std::mem::replace(&mut self.held, Ticket::DONE);
        if ticket.is_call() {
            abandon(&self.slot, ticket);
        }
    }
}

impl<S: fmt::Debug, C: Clock, K> fmt::Debug for EndpointService<S, C, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndpointService")
            .field("inner", &self.inner)
            .field("breaker", &*self.slot.breaker)
            .field("admitted", &self.held.is_call())
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
            permit: {
                let ticket = std::mem::replace(&mut self.held, Ticket::DONE);
                ticket.is_call().then(|| Held {
                    slot: Arc::clone(&self.slot),
                    ticket,
                })
            },
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
