//! [`OutlierLayer`] and [`EndpointDiscover`]: a `Discover` stream whose services each go
//! through their endpoint's breaker, and whose polls keep the pool's analysis running.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;
use pin_project::pin_project;
use tower::discover::{Change, Discover};
use tower_layer::{Identity, Layer};

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
///
/// Each endpoint's own middleware (a timeout, a concurrency limit, a metrics layer) goes in
/// with [`endpoint_layer`](Self::endpoint_layer), under the endpoint's breaker.
pub struct OutlierLayer<
    C: Clock + Clone + Send + Sync + 'static,
    K = ErrorsAsFailures,
    L = Identity,
> {
    detector: OutlierDetector<C>,
    classifier: K,
    endpoint_layer: L,
}

impl<C: Clock + Clone + Send + Sync + 'static, K: Clone, L: Clone> Clone for OutlierLayer<C, K, L> {
    fn clone(&self) -> Self {
        OutlierLayer {
            detector: self.detector.clone(),
            classifier: self.classifier.clone(),
            endpoint_layer: self.endpoint_layer.clone(),
        }
    }
}

impl<C: Clock + Clone + Send + Sync + 'static, K, L> fmt::Debug for OutlierLayer<C, K, L> {
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
            endpoint_layer: Identity::new(),
        }
    }
}

impl<C: Clock + Clone + Send + Sync + 'static, K, L> OutlierLayer<C, K, L> {
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
    pub fn classify<K2>(self, classifier: K2) -> OutlierLayer<C, K2, L> {
        OutlierLayer {
            detector: self.detector,
            classifier,
            endpoint_layer: self.endpoint_layer,
        }
    }

    /// Wraps each endpoint's service in `layer` as the endpoint joins the pool, under its
    /// breaker: the endpoint's own middleware, with no `Discover` adapter to write. A tower
    /// `Layer` (a `ServiceBuilder` stacks several). What it makes of a call is what the
    /// classifier judges and the breaker records: a per-endpoint timeout's error is a failure
    /// of that endpoint (so an endpoint that hangs is ejected), and an endpoint that a
    /// concurrency limit holds back is not ready, so p2c picks another.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use protego_breaker::integrations::balance::{OutlierDetection, OutlierDetector};
    /// use tower::ServiceBuilder;
    ///
    /// let detector = OutlierDetector::new(Arc::new(protego_breaker::Registry::new()), "db", OutlierDetection::default());
    /// let layer = detector.layer().endpoint_layer(
    ///     ServiceBuilder::new()
    ///         .layer(tower::timeout::TimeoutLayer::new(Duration::from_secs(1)))
    ///         .layer(tower::limit::ConcurrencyLimitLayer::new(64))
    ///         .into_inner(),
    /// );
    /// # drop(layer);
    /// ```
    pub fn endpoint_layer<L2>(self, layer: L2) -> OutlierLayer<C, K, L2> {
        OutlierLayer {
            detector: self.detector,
            classifier: self.classifier,
            endpoint_layer: layer,
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
    pub fn discover<D>(&self, discover: D) -> EndpointDiscover<D, C, K, L>
    where
        K: Clone,
        L: Clone,
    {
        EndpointDiscover {
            inner: discover,
            shared: Arc::clone(&self.detector.shared),
            classifier: self.classifier.clone(),
            endpoint_layer: self.endpoint_layer.clone(),
            polls: 0,
            done: false,
        }
    }
}

impl<D, C: Clock + Clone + Send + Sync + 'static, K: Clone, L: Clone> Layer<D>
    for OutlierLayer<C, K, L>
{
    type Service = EndpointDiscover<D, C, K, L>;

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
pub struct EndpointDiscover<D, C: Clock + Clone + Send + Sync + 'static, K, L = Identity> {
    #[pin]
    inner: D,
    shared: Arc<Shared<C>>,
    classifier: K,
    endpoint_layer: L,
    polls: u32,
    /// The inner stream ended: never poll it again.
    done: bool,
}

impl<D, C: Clock + Clone + Send + Sync + 'static, K, L> fmt::Debug
    for EndpointDiscover<D, C, K, L>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndpointDiscover")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

type Item<D, C, K, L> = Result<
    Change<
        <D as Discover>::Key,
        EndpointService<<L as Layer<<D as Discover>::Service>>::Service, C, K>,
    >,
    <D as Discover>::Error,
>;

impl<D, C, K, L> Stream for EndpointDiscover<D, C, K, L>
where
    D: Discover,
    D::Key: fmt::Display,
    C: Clock + Clone + Send + Sync + 'static,
    K: Clone,
    L: Layer<D::Service>,
{
    type Item = Item<D, C, K, L>;

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
                    EndpointService::new(
                        this.endpoint_layer.layer(service),
                        slot,
                        this.classifier.clone(),
                    ),
                )
            }
            Change::Remove(key) => {
                this.shared.leave(&key.to_string());
                Change::Remove(key)
            }
        })))
    }
}
