//! Tower middleware (feature `tower`): protect any [`Service`] with a breaker or a registry.
//!
//! [`CircuitBreakerLayer`] wraps a service in a [`CircuitBreakerService`]. Each request picks
//! its breaker (one for the service, a registry name, or a name computed from the request),
//! asks it for admission *before* the inner service is called, and reports the response (or
//! error) to it. A rejected request never reaches the inner service and resolves at once to
//! [`Error::Rejected`]; the inner service's errors come back as [`Error::Inner`].
//!
//! # Readiness
//! `poll_ready` is the inner service's: it says nothing about the circuit (an open circuit is
//! not "not ready", it answers fast). A request rejected in `call` does not use the readiness
//! that `poll_ready` reserved, so the inner service is still ready for the next request, which
//! (per tower's contract) polls it again first.
//!
//! ```
//! use std::sync::Arc;
//! use protego_breaker::integrations::tower::CircuitBreakerLayer;
//! use protego_breaker::{Config, Error, Registry};
//! use tower::{service_fn, Layer, Service, ServiceExt};
//!
//! # futures::executor::block_on(async {
//! let config = Config::builder().failure_threshold(1).build().unwrap();
//! let registry = Arc::new(Registry::new().with_default_config(config));
//! let flaky = service_fn(|n: u32| async move { if n == 0 { Err("down") } else { Ok(n) } });
//! let mut svc = CircuitBreakerLayer::named(Arc::clone(&registry), "numbers").layer(flaky);
//!
//! assert_eq!(svc.ready().await.unwrap().call(7).await, Ok(7));
//! assert_eq!(svc.ready().await.unwrap().call(0).await, Err(Error::Inner("down")));
//! // Open: rejected without calling the inner service.
//! assert!(svc.ready().await.unwrap().call(7).await.unwrap_err().is_rejected());
//! # });
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::breaker::Breaker;
use crate::call::circuit_breaker::CircuitBreaker;
use crate::call::classify::{Classify, ErrorsAsFailures};
use crate::call::permit::Permit;
use crate::clock::Clock;
use crate::error::{Error, Rejected};
use crate::registry::{BreakerHandle, Registry};

/// Which breaker a request goes through.
///
/// Implemented by [`Single`] (one breaker for every request), [`Named`] (one registry name)
/// and [`Keyed`] (a registry name computed from the request); implement it to pick breakers
/// your own way.
///
/// ```
/// use std::sync::Arc;
/// use protego_breaker::integrations::tower::{Keyed, PickBreaker};
/// use protego_breaker::Registry;
///
/// let registry = Arc::new(Registry::new());
/// let by_host = Keyed::new(registry, |host: &&str| host.to_string());
/// let breaker = by_host.pick(&"api.example.com");
/// assert_eq!(breaker.name(), Some("api.example.com"));
/// ```
pub trait PickBreaker<Req> {
    /// The handle a picked breaker is held by while the request runs.
    type Handle: CircuitBreaker;

    /// The breaker for `req`.
    fn pick(&self, req: &Req) -> Self::Handle;
}

/// Every request through one breaker.
///
/// ```
/// use std::sync::Arc;
/// use protego_breaker::integrations::tower::{PickBreaker, Single};
/// use protego_breaker::{Breaker, Config};
///
/// let single = Single(Arc::new(Breaker::new(Config::default())));
/// let picked = PickBreaker::<()>::pick(&single, &());
/// assert!(Arc::ptr_eq(&picked, &single.0));
/// ```
#[derive(Debug)]
pub struct Single<C: Clock>(pub Arc<Breaker<C>>);

impl<C: Clock> Clone for Single<C> {
    fn clone(&self) -> Self {
        Single(Arc::clone(&self.0))
    }
}

impl<C: Clock, Req> PickBreaker<Req> for Single<C> {
    type Handle = Arc<Breaker<C>>;

    fn pick(&self, _: &Req) -> Arc<Breaker<C>> {
        Arc::clone(&self.0)
    }
}

/// Every request through one registry name.
///
/// ```
/// use std::sync::Arc;
/// use protego_breaker::integrations::tower::{Named, PickBreaker};
/// use protego_breaker::Registry;
///
/// let named = Named::new(Arc::new(Registry::new()), "payments");
/// assert_eq!(PickBreaker::<()>::pick(&named, &()).name(), Some("payments"));
/// ```
#[derive(Debug)]
pub struct Named<C: Clock + Clone> {
    registry: Arc<Registry<C>>,
    name: Arc<str>,
}

impl<C: Clock + Clone> Named<C> {
    /// The breaker called `name` in `registry`.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// let named = protego_breaker::integrations::tower::Named::new(Arc::new(protego_breaker::Registry::new()), "db");
    /// # drop(named);
    /// ```
    pub fn new(registry: Arc<Registry<C>>, name: impl Into<Arc<str>>) -> Self {
        Named {
            registry,
            name: name.into(),
        }
    }
}

impl<C: Clock + Clone> Clone for Named<C> {
    fn clone(&self) -> Self {
        Named {
            registry: Arc::clone(&self.registry),
            name: Arc::clone(&self.name),
        }
    }
}

impl<C: Clock + Clone + 'static, Req> PickBreaker<Req> for Named<C> {
    type Handle = BreakerHandle<C>;

    fn pick(&self, _: &Req) -> BreakerHandle<C> {
        self.registry.handle(&self.name)
    }
}

/// Each request through the registry breaker named by a function of the request: per route,
/// per host, per tenant.
///
/// ```
/// use std::sync::Arc;
/// use protego_breaker::integrations::tower::{Keyed, PickBreaker};
/// use protego_breaker::Registry;
///
/// struct Request { route: &'static str }
/// let keyed = Keyed::new(Arc::new(Registry::new()), |r: &Request| r.route);
/// assert_eq!(keyed.pick(&Request { route: "/quote" }).name(), Some("/quote"));
/// ```
pub struct Keyed<C: Clock + Clone, F> {
    registry: Arc<Registry<C>>,
    key: F,
}

impl<C: Clock + Clone, F> Keyed<C, F> {
    /// Names each request's breaker with `key(&request)`.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// let keyed = protego_breaker::integrations::tower::Keyed::new(Arc::new(protego_breaker::Registry::new()), |r: &String| r.clone());
    /// # drop(keyed);
    /// ```
    pub fn new(registry: Arc<Registry<C>>, key: F) -> Self {
        Keyed { registry, key }
    }
}

impl<C: Clock + Clone, F: Clone> Clone for Keyed<C, F> {
    fn clone(&self) -> Self {
        Keyed {
            registry: Arc::clone(&self.registry),
            key: self.key.clone(),
        }
    }
}

impl<C: Clock + Clone, F> fmt::Debug for Keyed<C, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyed")
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

impl<C, F, K, Req> PickBreaker<Req> for Keyed<C, F>
where
    C: Clock + Clone + 'static,
    F: Fn(&Req) -> K,
    K: AsRef<str>,
{
    type Handle = BreakerHandle<C>;

    fn pick(&self, req: &Req) -> BreakerHandle<C> {
        self.registry.handle((self.key)(req).as_ref())
    }
}

/// A [`Layer`] that protects a service with circuit breakers: see the [module docs](self).
///
/// ```
/// use std::sync::Arc;
/// use protego_breaker::integrations::tower::CircuitBreakerLayer;
/// use protego_breaker::{Breaker, Config, call::Outcome};
///
/// let one = CircuitBreakerLayer::new(Arc::new(Breaker::new(Config::default())));
/// let per_route = CircuitBreakerLayer::keyed(Arc::new(protego_breaker::Registry::new()), |path: &String| path.clone())
///     .classify(|r: &Result<u16, std::io::Error>| match r {
///         Ok(status) if *status >= 500 => Outcome::Failure,
///         Ok(_) => Outcome::Success,
///         Err(_) => Outcome::Failure,
///     });
/// # drop((one, per_route));
/// ```
#[derive(Debug, Clone)]
pub struct CircuitBreakerLayer<P, K = ErrorsAsFailures> {
    pick: P,
    classifier: K,
}

/// The constructors every layer shares, written once for [`CircuitBreakerLayer`] and the HTTP
/// layer: `new`, `named` and `keyed` each build a picker and hand it to the layer's own
/// `with_picker`. `$path` is the layer's public path and `$key` a key function over its
/// requests, both for the doc examples.
macro_rules! picker_constructors {
    ($layer:ident, $path:literal, $key:literal) => {
        impl<C: $crate::clock::Clock> $layer<$crate::integrations::tower::Single<C>> {
            /// Every request through `breaker`.
            ///
            /// ```
            /// # use std::sync::Arc;
            #[doc = concat!("let layer = ", $path, "::new(Arc::new(protego_breaker::Breaker::new(protego_breaker::Config::default())));")]
            /// # drop(layer);
            /// ```
            pub fn new(breaker: ::std::sync::Arc<$crate::breaker::Breaker<C>>) -> Self {
                Self::with_picker($crate::integrations::tower::Single(breaker))
            }
        }

        impl<C: $crate::clock::Clock + Clone> $layer<$crate::integrations::tower::Named<C>> {
            /// Every request through the registry's breaker called `name`.
            ///
            /// ```
            /// # use std::sync::Arc;
            #[doc = concat!("let layer = ", $path, "::named(Arc::new(protego_breaker::Registry::new()), \"db\");")]
            /// # drop(layer);
            /// ```
            pub fn named(
                registry: ::std::sync::Arc<$crate::registry::Registry<C>>,
                name: impl Into<::std::sync::Arc<str>>,
            ) -> Self {
                Self::with_picker($crate::integrations::tower::Named::new(registry, name))
            }
        }

        impl<C: $crate::clock::Clock + Clone, F> $layer<$crate::integrations::tower::Keyed<C, F>> {
            /// Each request through the registry's breaker called `key(&request)`.
            ///
            /// ```
            /// # use std::sync::Arc;
            #[doc = concat!("let layer = ", $path, "::keyed(Arc::new(protego_breaker::Registry::new()), ", $key, ");")]
            /// # drop(layer);
            /// ```
            pub fn keyed(registry: ::std::sync::Arc<$crate::registry::Registry<C>>, key: F) -> Self {
                Self::with_picker($crate::integrations::tower::Keyed::new(registry, key))
            }
        }
    };
}
#[cfg(feature = "http")]
pub(crate) use picker_constructors;

picker_constructors!(
    CircuitBreakerLayer,
    "protego_breaker::integrations::tower::CircuitBreakerLayer",
    "|r: &String| r.clone()"
);

impl<P> CircuitBreakerLayer<P> {
    /// Picks breakers with `pick`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use protego_breaker::integrations::tower::{CircuitBreakerLayer, Named};
    ///
    /// let layer = CircuitBreakerLayer::with_picker(Named::new(Arc::new(protego_breaker::Registry::new()), "db"));
    /// # drop(layer);
    /// ```
    pub fn with_picker(pick: P) -> CircuitBreakerLayer<P> {
        CircuitBreakerLayer {
            pick,
            classifier: ErrorsAsFailures,
        }
    }
}

impl<P, K> CircuitBreakerLayer<P, K> {
    /// Decides outcomes with `classifier` (see [`Classify`]) instead of `Ok` = success.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use protego_breaker::integrations::tower::CircuitBreakerLayer;
    /// use protego_breaker::call::Outcome;
    ///
    /// let layer = CircuitBreakerLayer::named(Arc::new(protego_breaker::Registry::new()), "db")
    ///     .classify(|r: &Result<(), std::io::Error>| if r.is_ok() { Outcome::Success } else { Outcome::Ignored });
    /// # drop(layer);
    /// ```
    pub fn classify<K2>(self, classifier: K2) -> CircuitBreakerLayer<P, K2> {
        CircuitBreakerLayer {
            pick: self.pick,
            classifier,
        }
    }
}

impl<S, P: Clone, K: Clone> Layer<S> for CircuitBreakerLayer<P, K> {
    type Service = CircuitBreakerService<S, P, K>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreakerService {
            inner,
            pick: self.pick.clone(),
            classifier: self.classifier.clone(),
        }
    }
}

/// A service protected by circuit breakers; made by [`CircuitBreakerLayer`].
///
/// ```
/// use std::sync::Arc;
/// use protego_breaker::integrations::tower::{CircuitBreakerService, CircuitBreakerLayer};
/// use tower::{service_fn, Layer};
///
/// let svc = CircuitBreakerLayer::named(Arc::new(protego_breaker::Registry::new()), "echo")
///     .layer(service_fn(|s: String| async move { Ok::<_, std::io::Error>(s) }));
/// # fn check<S, P, K>(_: &CircuitBreakerService<S, P, K>) {}
/// check(&svc);
/// ```
#[derive(Debug, Clone)]
pub struct CircuitBreakerService<S, P, K = ErrorsAsFailures> {
    inner: S,
    pick: P,
    classifier: K,
}

impl<S, P, K> CircuitBreakerService<S, P, K> {
    /// The inner service.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use tower::{service_fn, Layer};
    /// let svc = protego_breaker::integrations::tower::CircuitBreakerLayer::named(Arc::new(protego_breaker::Registry::new()), "x")
    ///     .layer(service_fn(|(): ()| async { Ok::<_, ()>(()) }));
    /// let _inner = svc.get_ref();
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use tower::{service_fn, Layer};
    /// let mut svc = protego_breaker::integrations::tower::CircuitBreakerLayer::named(Arc::new(protego_breaker::Registry::new()), "x")
    ///     .layer(service_fn(|(): ()| async { Ok::<_, ()>(()) }));
    /// let _inner = svc.get_mut();
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }
}

impl<S, P, K, Req> Service<Req> for CircuitBreakerService<S, P, K>
where
    S: Service<Req>,
    P: PickBreaker<Req>,
    K: Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = Error<S::Error>;
    type Future = ResponseFuture<S::Future, P::Handle, K>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Error::Inner)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        match self.pick.pick(&req).try_acquire_owned() {
            Ok(permit) => ResponseFuture {
                state: State::Running {
                    fut: self.inner.call(req),
                    permit: Some(permit),
                    classifier: self.classifier.clone(),
                },
            },
            Err(rejected) => ResponseFuture {
                state: State::Rejected {
                    rejected: Some(rejected),
                },
            },
        }
    }
}

/// The future of a [`CircuitBreakerService`] call.
#[pin_project]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct ResponseFuture<F, B: CircuitBreaker, K> {
    #[pin]
    state: State<F, B, K>,
}

#[pin_project(project = StateProj)]
enum State<F, B: CircuitBreaker, K> {
    Running {
        #[pin]
        fut: F,
        permit: Option<Permit<B>>,
        classifier: K,
    },
    Rejected {
        rejected: Option<Rejected>,
    },
}

impl<F, B, K, T, E> Future for ResponseFuture<F, B, K>
where
    F: Future<Output = Result<T, E>>,
    B: CircuitBreaker,
    K: Classify<T, E>,
{
    type Output = Result<T, Error<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Running {
                fut,
                permit,
                classifier,
            } => {
                // A panic in `fut` drops the permit while unwinding: recorded as a failure.
                let output = std::task::ready!(fut.poll(cx));
                if let Some(permit) = permit.take() {
                    permit.record(classifier.classify(&output));
                }
                Poll::Ready(output.map_err(Error::Inner))
            }
            StateProj::Rejected { rejected } => Poll::Ready(Err(Error::Rejected(
                rejected
                    .take()
                    .expect("`ResponseFuture` polled after completion"),
            ))),
        }
    }
}

impl<F, B: CircuitBreaker, K> fmt::Debug for ResponseFuture<F, B, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Running { .. } => "running",
            State::Rejected { .. } => "rejected",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}
