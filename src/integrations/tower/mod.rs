//! Tower middleware (feature `tower`): protect any [`Service`](tower_service::Service) with a breaker or a registry.
//!
//! [`CircuitBreakerLayer`] wraps a service in a [`CircuitBreakerService`]. Each request picks
//! its breaker (one for the service, a registry name, or a name computed from the request),
//! asks it for admission *before* the inner service is called, and reports the response (or
//! error) to it. A rejected request never reaches the inner service.
//!
//! # Errors, as tower's middleware returns them
//! Like tower's own `Timeout`, `LoadShed` and `Buffer`, the layers here return [`BoxError`]
//! (the same type as `tower::BoxError`), so they compose in a `ServiceBuilder` stack with no
//! `map_err`, whatever sits above or below them. The inner service's errors come back as they
//! were (only boxed; an error that already is a `BoxError` is the same box), and a rejection is
//! a boxed [`Rejected`](crate::Rejected), recognised the way tower's `Elapsed` and `Overloaded`
//! are, by downcasting: `err.downcast_ref::<Rejected>()`, or
//! [`Rejected::find`](crate::Rejected::find), which also looks through errors that carry it as
//! their source. The inner service's error must convert into a `BoxError` (every
//! `std::error::Error + Send + Sync`, and `&str` and `String`, do). This holds for
//! [`CircuitBreakerLayer`], [`RetryLayer`] and the pool's
//! [`EjectionGuard`](crate::integrations::balance::EjectionGuard); the HTTP and gRPC layers
//! answer a rejection themselves (503, `UNAVAILABLE`) and keep the inner service's error type,
//! with the [`Rejected`](crate::Rejected) in the answer's extensions.
//!
//! # Timeouts are overload
//! A response future whose error the classifier calls a failure counts as an
//! [overload](crate::call::Outcome::Overload) when the error is a timeout
//! ([`is_timeout`](crate::call::is_timeout): an `io::Error` of kind `TimedOut` anywhere in its
//! source chain, and with feature `tower-timeout`, tower's `Elapsed` from a
//! `ServiceBuilder::timeout` under the layer): the breaker sheds it rather than opening. A
//! classifier that says otherwise (ignored, success) is obeyed. This holds for
//! [`CircuitBreakerLayer`] and [`RetryLayer`] (which so never retries a timeout: an overload is
//! not retried; its inner error must be a `BoxError` (what tower's `Timeout` returns), an
//! `io::Error` or tower's `Elapsed` itself). The HTTP and gRPC layers, and the balanced pool's
//! endpoints, count an error with no response as a failure, as before: an endpoint that hangs
//! must count against that endpoint.
//!
//! [`RetryLayer`] retries requests through a breaker, paid from a
//! [`Budget`](crate::retry::Budget): see [`crate::retry`].
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
//! use protego_breaker::{Config, Rejected, Registry};
//! use tower::{service_fn, Layer, Service, ServiceExt};
//!
//! # futures::executor::block_on(async {
//! let config = Config::builder().failure_threshold(1).build().unwrap();
//! let registry = Arc::new(Registry::new().with_default_config(config));
//! let flaky = service_fn(|n: u32| async move { if n == 0 { Err("down") } else { Ok(n) } });
//! let mut svc = CircuitBreakerLayer::named(Arc::clone(&registry), "numbers").layer(flaky);
//!
//! assert_eq!(svc.ready().await.unwrap().call(7).await.unwrap(), 7);
//! let failed = svc.ready().await.unwrap().call(0).await.unwrap_err();
//! assert_eq!(failed.to_string(), "down");
//! // Open: rejected without calling the inner service.
//! let rejected = svc.ready().await.unwrap().call(7).await.unwrap_err();
//! assert_eq!(rejected.downcast_ref::<Rejected>().unwrap().name(), Some("numbers"));
//! # });
//! ```

mod future;
mod layer;
mod pick;
mod retry;
mod service;
mod timeouts;

pub use future::ResponseFuture;
#[cfg(any(feature = "http", feature = "tonic"))]
pub(crate) use layer::picker_constructors;
pub use layer::CircuitBreakerLayer;
pub use pick::{Keyed, Named, PickBreaker, Single};
pub use retry::{Attempts, RetryFuture, RetryLayer, RetryService, ServiceCall};
pub use service::CircuitBreakerService;

/// The error of the crate's tower services: the same type as `tower::BoxError`, which tower's
/// `Buffer`, `Timeout`, `LoadShed` and p2c `Balance` return (see [Errors](self#errors-as-towers-middleware-returns-them)).
///
/// ```
/// use protego_breaker::integrations::tower::BoxError;
///
/// let err: BoxError = "down".into();
/// assert_eq!(err.to_string(), "down");
/// ```
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
