//! Which breaker a request goes through: [`PickBreaker`] and its three pickers, [`Single`],
//! [`Named`] and [`Keyed`].

use std::fmt;
use std::sync::Arc;

use crate::breaker::Breaker;
use crate::call::circuit_breaker::CircuitBreaker;
use crate::clock::Clock;
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
