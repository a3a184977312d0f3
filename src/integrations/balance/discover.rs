//! [`OutlierLayer`] and [`EndpointDiscover`]: a `Discover` stream whose services each go
//! through their endpoint's breaker, and whose polls keep the pool's analysis running.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;
use pin_project::pin_project;
use tower::discover::{Change, Discover};
use tower_layer::Layer;

use super::detector::{OutlierDetector, Shared};
use super::endpoint::EndpointService;
use crate::call::classify::ErrorsAsFailures;
use crate::clock::Clock;

/// The balancer polls its discover stream on every `poll_ready`; one poll in this many reads
/// the clock to see whether the pool has work due (an analysis, an ejection that ended).
const CHECK_EVERY: u32 = 16;

/// A [`Layer`] over a [`Discover`] stream: each endpoint's service goes through a breaker of
/// the pool's [`OutlierDetector`]. Made by [`OutlierDetector::layer`].
///
/// The endpoint's key (what the stream's `Change`s carry, shown with `Display`) names its
/// breaker: `"{pool}/{key}"` in the registry. An endpoint removed from the stream loses its
/// breaker (taken out of the registry, with its ejection multiplier); one inserted again later
/// starts fresh, closed and never ejected. Inserting a key already present replaces the
/// service and keeps the breaker.
///
/// ```
/// use std::sync::Arc;
/// use protego_breaker::integrations::balance::{OutlierDetection, OutlierDetector};
/// use protego_breaker::Registry;
/// use tower::Layer;
///
/// let detector = OutlierDetector::new(Arc::new(Registry::new()), "backend", OutlierDetection::default());
/// let endpoints = tower::discover::ServiceList::new(vec![tower::service_fn(|x: u32| async move { Ok::<_, ()>(x) })]);
/// let discover = detector.layer().layer(endpoints);
/// # drop(discover);
/// ```
pub struct OutlierLayer<C: Clock + Clone + Send + Sync + 'static, K = ErrorsAsFailures> {
    detector: OutlierDetector<C>,
    classifier: K,
}

impl<C: Clock + Clone + Send + Sync + 'static, K: Clone> Clone for OutlierLayer<C, K> {
    fn clone(&self) -> Self {
        OutlierLayer {
            detector: self.detector.clone(),
            classifier: self.classifier.clone(),
        }
    }
}

impl<C: Clock + Clone + Send + Sync + 'static, K> fmt::Debug for OutlierLayer<C, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutlierLayer")
            .field("detector", &self.detector)
            .finish_non_exhaustive()
    }
}

impl<C: Clock + Clone + Send + Sync + 'static> OutlierDetector<C> {
    /// The layer that puts this pool's breakers on a discover stream's services; calls count
    /// as failures when they return `Err` (see [`OutlierLayer::classify`]).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use protego_breaker::integrations::balance::{OutlierDetection, OutlierDetector};
    /// let detector = OutlierDetector::new(Arc::new(protego_breaker::Registry::new()), "db", OutlierDetection::default());
    /// let layer = detector.layer();
    /// # drop(layer);
    /// ```
    pub fn layer(&self) -> OutlierLayer<C> {
        OutlierLayer {
            detector: self.clone(),
            classifier: ErrorsAsFailures,
        }
    }
}

impl<C: Clock + Clone + Send + Sync + 'static, K> OutlierLayer<C, K> {
    /// Decides what counts as a failure with `classifier` (for HTTP,
    /// `integrations::http::ServerErrorsAsFailures`: 5xx and errors).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use protego_breaker::integrations::balance::{OutlierDetection, OutlierDetector};
    /// use protego_breaker::call::Outcome;
    /// let detector = OutlierDetector::new(Arc::new(protego_breaker::Registry::new()), "db", OutlierDetection::default());
    /// let layer = detector.layer().classify(|r: &Result<u16, ()>| match r {
    ///     Ok(status) if *status >= 500 => Outcome::Failure,
    ///     Ok(_) => Outcome::Success,
    ///     Err(()) => Outcome::Failure,
    /// });
    /// # drop(layer);
    /// ```
    pub fn classify<K2>(self, classifier: K2) -> OutlierLayer<C, K2> {
        OutlierLayer {
            detector: self.detector,
            classifier,
        }
    }

    /// Wraps `discover`: the same as [`Layer::layer`].
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use protego_breaker::integrations::balance::{OutlierDetection, OutlierDetector};
    /// let detector = OutlierDetector::new(Arc::new(protego_breaker::Registry::new()), "db", OutlierDetection::default());
    /// let discover = detector.layer().discover(tower::discover::ServiceList::new(Vec::<tower::util::BoxService<(), (), ()>>::new()));
    /// # drop(discover);
    /// ```
    pub fn discover<D>(&self, discover: D) -> EndpointDiscover<D, C, K>
    where
        K: Clone,
    {
        EndpointDiscover {
            inner: discover,
            shared: Arc::clone(&self.detector.shared),
            classifier: self.classifier.clone(),
            polls: 0,
            done: false,
        }
    }
}

impl<D, C: Clock + Clone + Send + Sync + 'static, K: Clone> Layer<D> for OutlierLayer<C, K> {
    type Service = EndpointDiscover<D, C, K>;

    fn layer(&self, discover: D) -> Self::Service {
        self.discover(discover)
    }
}

/// A [`Discover`] stream whose services are [`EndpointService`]s; made by [`OutlierLayer`].
/// Hand it to the balancer (through `tower::load`'s `PendingRequestsDiscover` or
/// `PeakEwmaDiscover` for p2c's load). Its polls run the pool's due work.
///
/// ```
/// use std::sync::Arc;
/// use protego_breaker::integrations::balance::{EndpointDiscover, OutlierDetection, OutlierDetector};
///
/// let detector = OutlierDetector::new(Arc::new(protego_breaker::Registry::new()), "db", OutlierDetection::default());
/// let discover: EndpointDiscover<_, _, _> = detector.layer().discover(tower::discover::ServiceList::new(Vec::<tower::util::BoxService<(), (), ()>>::new()));
/// # drop(discover);
/// ```
#[pin_project]
#[must_use = "streams do nothing unless polled"]
pub struct EndpointDiscover<D, C: Clock + Clone + Send + Sync + 'static, K> {
    #[pin]
    inner: D,
    shared: Arc<Shared<C>>,
    classifier: K,
    polls: u32,
    /// The inner stream ended: never poll it again.
    done: bool,
}

impl<D, C: Clock + Clone + Send + Sync + 'static, K> fmt::Debug for EndpointDiscover<D, C, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndpointDiscover")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

type Item<D, C, K> = Result<
    Change<<D as Discover>::Key, EndpointService<<D as Discover>::Service, C, K>>,
    <D as Discover>::Error,
>;

impl<D, C, K> Stream for EndpointDiscover<D, C, K>
where
    D: Discover,
    D::Key: fmt::Display,
    C: Clock + Clone + Send + Sync + 'static,
    K: Clone,
{
    type Item = Item<D, C, K>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        *this.polls = this.polls.wrapping_add(1);
        if *this.polls % CHECK_EVERY == 0 {
            this.shared.tick_if_due();
        }
        if *this.done {
            return Poll::Ready(None);
        }
        let change = match std::task::ready!(this.inner.poll_discover(cx)) {
            None => {
                *this.done = true;
                return Poll::Ready(None);
            }
            Some(Err(e)) => return Poll::Ready(Some(Err(e))),
            Some(Ok(change)) => change,
        };
        Poll::Ready(Some(Ok(match change {
            Change::Insert(key, service) => {
                let slot = this.shared.join(&key.to_string());
                Change::Insert(
                    key,
                    EndpointService::new(service, slot, this.classifier.clone()),
                )
            }
            Change::Remove(key) => {
                this.shared.leave(&key.to_string());
                Change::Remove(key)
            }
        })))
    }
}
