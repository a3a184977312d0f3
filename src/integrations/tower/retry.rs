//! [`RetryLayer`]: retries through a breaker, paid from a budget, as tower middleware.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::timeouts::TimeoutsShed;
use crate::call::circuit_breaker::CircuitBreaker;
use crate::call::classify::{Classify, ErrorsAsFailures};
use crate::error::Error;
use crate::integrations::tower::BoxError;
use crate::retry::{MakeAttempt, Retrier, Retry};

/// A [`Layer`] that retries requests through a breaker with a [`Retrier`]: every attempt asks
/// the breaker first, failures are retried while the retrier's policy and budget allow, and
/// nothing is retried into an open circuit (see [`Retrier`] for the rules). Requests must be
/// `Clone` (each attempt sends a copy) and so must the inner service (each attempt drives a
/// clone of it to readiness, then calls it).
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use protego_breaker::integrations::tower::RetryLayer;
/// use protego_breaker::retry::{Retrier, RetryPolicy, TpsBudget};
/// use protego_breaker::{sleep::Sleep, Breaker, Config};
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// let sleeper = |_: std::time::Duration| -> Sleep { Box::pin(std::future::ready(())) };
/// let retrier = Retrier::new(RetryPolicy::default(), Arc::new(TpsBudget::default()), Arc::new(sleeper));
/// let breaker = Arc::new(Breaker::new(Config::default()));
/// let calls = Arc::new(AtomicU32::new(0));
/// let seen = Arc::clone(&calls);
/// let flaky = service_fn(move |n: u32| {
///     let first = seen.fetch_add(1, Ordering::Relaxed) == 0;
///     async move { if first { Err("blip") } else { Ok(n) } }
/// });
/// let mut svc = RetryLayer::new(retrier, breaker).layer(flaky);
/// # futures::executor::block_on(async {
/// assert_eq!(svc.ready().await.unwrap().call(7).await.unwrap(), 7);
/// # });
/// assert_eq!(calls.load(Ordering::Relaxed), 2);
/// ```
#[derive(Debug, Clone)]
pub struct RetryLayer<B, K = ErrorsAsFailures> {
    retrier: Retrier,
    breaker: B,
    classify: K,
}

impl<B: CircuitBreaker + Clone> RetryLayer<B> {
    /// Retries through `breaker` (an `Arc<Breaker>` or a registry's
    /// [`BreakerHandle`](crate::registry::BreakerHandle)) with `retrier`.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use protego_breaker::retry::{Retrier, RetryPolicy, TokenBudget};
    /// use protego_breaker::integrations::tower::RetryLayer;
    /// use protego_breaker::Registry;
    /// # let sleeper = |_: std::time::Duration| -> protego_breaker::sleep::Sleep { Box::pin(std::future::ready(())) };
    /// # let retrier = Retrier::new(RetryPolicy::default(), Arc::new(TokenBudget::default()), Arc::new(sleeper));
    /// let registry = Registry::new();
    /// let layer = RetryLayer::new(retrier, registry.handle("quotes"));
    /// # drop(layer);
    /// ```
    pub fn new(retrier: Retrier, breaker: B) -> Self {
        RetryLayer {
            retrier,
            breaker,
            classify: ErrorsAsFailures,
        }
    }
}

impl<B, K> RetryLayer<B, K> {
    /// Classifies responses with `classify`: only a failure is retried, and the breaker and the
    /// budget see the same outcome.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use protego_breaker::retry::{Retrier, RetryPolicy, TokenBudget};
    /// use protego_breaker::integrations::tower::RetryLayer;
    /// use protego_breaker::{call::Outcome, Breaker, Config};
    /// # let sleeper = |_: std::time::Duration| -> protego_breaker::sleep::Sleep { Box::pin(std::future::ready(())) };
    /// # let retrier = Retrier::new(RetryPolicy::default(), Arc::new(TokenBudget::default()), Arc::new(sleeper));
    /// let layer = RetryLayer::new(retrier, Arc::new(Breaker::new(Config::default())))
    ///     .classify(|r: &Result<u16, std::io::Error>| match r {
    ///         Ok(status) if *status >= 500 => Outcome::Failure,
    ///         Ok(_) => Outcome::Success,
    ///         Err(_) => Outcome::Failure,
    ///     });
    /// # drop(layer);
    /// ```
    pub fn classify<K2>(self, classify: K2) -> RetryLayer<B, K2> {
        RetryLayer {
            retrier: self.retrier,
            breaker: self.breaker,
            classify,
        }
    }
}

impl<S, B: Clone, K: Clone> Layer<S> for RetryLayer<B, K> {
    type Service = RetryService<S, B, K>;

    fn layer(&self, inner: S) -> Self::Service {
        RetryService {
            inner,
            retrier: self.retrier.clone(),
            breaker: self.breaker.clone(),
            classify: self.classify.clone(),
        }
    }
}

/// The service [`RetryLayer`] makes. Always ready: each attempt drives its own clone of the
/// inner service to readiness.
///
/// ```
/// # use std::sync::Arc;
/// # use protego_breaker::retry::{Retrier, RetryPolicy, TokenBudget};
/// use protego_breaker::integrations::tower::{RetryLayer, RetryService};
/// use protego_breaker::{Breaker, Config};
/// use tower::{service_fn, Layer};
/// # let sleeper = |_: std::time::Duration| -> protego_breaker::sleep::Sleep { Box::pin(std::future::ready(())) };
/// # let retrier = Retrier::new(RetryPolicy::default(), Arc::new(TokenBudget::default()), Arc::new(sleeper));
/// let svc = RetryLayer::new(retrier, Arc::new(Breaker::new(Config::default())))
///     .layer(service_fn(|n: u32| async move { Ok::<_, ()>(n) }));
/// let inner = svc.get_ref();
/// # let _ = inner;
/// ```
#[derive(Debug, Clone)]
pub struct RetryService<S, B, K = ErrorsAsFailures> {
    inner: S,
    retrier: Retrier,
    breaker: B,
    classify: K,
}

impl<S, B, K> RetryService<S, B, K> {
    /// The inner service.
    ///
    /// See [`RetryService`] for an example.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, B, K, Req> Service<Req> for RetryService<S, B, K>
where
    S: Service<Req> + Clone,
    Req: Clone,
    B: CircuitBreaker + Clone,
    S::Error: Into<BoxError> + 'static,
    K: Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = RetryFuture<S, Req, B, K>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let attempts = Attempts {
            service: self.inner.clone(),
            req,
        };
        RetryFuture {
            retry: Retry::new(
                attempts,
                self.breaker.clone(),
                self.retrier.clone(),
                TimeoutsShed(self.classify.clone()),
            ),
        }
    }
}

/// The future of a [`RetryService`] call: the [`Retry`] of its attempts, its error boxed as
/// tower's middleware boxes errors (a rejection, by the breaker or for want of budget, is a
/// boxed [`Rejected`](crate::Rejected); see [`Error::into_box_error`]).
#[pin_project]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct RetryFuture<S: Service<Req>, Req, B: CircuitBreaker, K> {
    #[pin]
    retry: Retry<Attempts<S, Req>, ServiceCall<S, Req>, B, TimeoutsShed<K>>,
}

impl<S, Req, B, K> Future for RetryFuture<S, Req, B, K>
where
    S: Service<Req> + Clone,
    Req: Clone,
    S::Error: Into<BoxError> + 'static,
    B: CircuitBreaker + Clone,
    K: Classify<S::Response, S::Error>,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().retry.poll(cx).map_err(Error::into_box_error)
    }
}

impl<S: Service<Req>, Req, B: CircuitBreaker, K> fmt::Debug for RetryFuture<S, Req, B, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryFuture").finish_non_exhaustive()
    }
}

/// Makes each attempt of a [`RetryService`] request: a clone of the service and of the request.
#[derive(Clone)]
pub struct Attempts<S, Req> {
    service: S,
    req: Req,
}

impl<S, Req> MakeAttempt for Attempts<S, Req>
where
    S: Service<Req> + Clone,
    Req: Clone,
{
    type Future = ServiceCall<S, Req>;

    fn make_attempt(&mut self) -> ServiceCall<S, Req> {
        ServiceCall {
            state: CallState::Waiting {
                service: self.service.clone(),
                req: Some(self.req.clone()),
            },
        }
    }
}

impl<S, Req> fmt::Debug for Attempts<S, Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attempts").finish_non_exhaustive()
    }
}

/// One attempt of a [`RetryService`] request: waits for its clone of the service to be ready,
/// then calls it.
#[pin_project]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct ServiceCall<S: Service<Req>, Req> {
    #[pin]
    state: CallState<S, Req>,
}

#[pin_project(project = CallStateProj)]
enum CallState<S: Service<Req>, Req> {
    Waiting { service: S, req: Option<Req> },
    Calling(#[pin] S::Future),
}

impl<S: Service<Req>, Req> Future for ServiceCall<S, Req> {
    type Output = Result<S::Response, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            let fut = match state.as_mut().project() {
                CallStateProj::Calling(fut) => return fut.poll(cx),
                CallStateProj::Waiting { service, req } => {
                    match service.poll_ready(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        Poll::Ready(Ok(())) => {}
                    }
                    let Some(req) = req.take() else {
                        unreachable!("the request is taken once, then the state moves on")
                    };
                    service.call(req)
                }
            };
            state.set(CallState::Calling(fut));
        }
    }
}

impl<S: Service<Req>, Req> fmt::Debug for ServiceCall<S, Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let calling = matches!(self.state, CallState::Calling(_));
        f.debug_struct("ServiceCall")
            .field("calling", &calling)
            .finish_non_exhaustive()
    }
}
