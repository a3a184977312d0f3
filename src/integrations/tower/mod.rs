//! Tower middleware (feature `tower`): protect any [`Service`](tower_service::Service) with a breaker or a registry.
//!
//! [`CircuitBreakerLayer`] wraps a service in a [`CircuitBreakerService`]. Each request picks
//! its breaker (one for the service, a registry name, or a name computed from the request),
//! asks it for admission *before* the inner service is called, and reports the response (or
//! error) to it. A rejected request never reaches the inner service and resolves at once to
//! [`Error::Rejected`](crate::Error::Rejected); the inner service's errors come back as
//! [`Error::Inner`](crate::Error::Inner).
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

mod future;
mod layer;
mod pick;
mod retry;
mod service;

pub use future::ResponseFuture;
#[cfg(any(feature = "http", feature = "tonic"))]
pub(crate) use layer::picker_constructors;
pub use layer::CircuitBreakerLayer;
pub use pick::{Keyed, Named, PickBreaker, Single};
pub use retry::{Attempts, RetryLayer, RetryService, ServiceCall};
pub use service::CircuitBreakerService;
