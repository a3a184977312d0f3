//! [`CircuitBreakerLayer`]: the constructors every layer shares (one per picker), the
//! classifier, and the [`Layer`] that wraps a service.

use tower_layer::Layer;

use super::service::CircuitBreakerService;
use crate::call::classify::ErrorsAsFailures;

/// A [`Layer`] that protects a service with circuit breakers: see the [module docs](super).
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
/// and gRPC layers: `new`, `named` and `keyed` each build a picker and hand it to the layer's own
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
#[cfg(any(feature = "http", feature = "tonic"))]
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
    /// Decides outcomes with `classifier` (see [`Classify`](crate::call::Classify)) instead of `Ok` = success.
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
        CircuitBreakerService::new(inner, self.pick.clone(), self.classifier.clone())
    }
}
