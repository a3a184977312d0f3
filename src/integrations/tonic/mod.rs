//! gRPC clients over tonic (feature `tonic`): status codes classified, and a rejection answered
//! as `UNAVAILABLE` with `grpc-retry-pushback-ms`.
//!
//! [`GrpcCircuitBreakerLayer`] wraps a `tonic::transport::Channel`, or any service of
//! `http::Request`s that answers gRPC `http::Response`s, and goes under tonic's generated
//! client (`QuotesClient::new(service)`) or `tonic::client::Grpc`. Pick one breaker for the
//! channel ([`new`](GrpcCircuitBreakerLayer::new), [`named`](GrpcCircuitBreakerLayer::named)) or
//! one per method ([`keyed`](GrpcCircuitBreakerLayer::keyed) by `request.uri().path()`).
//!
//! # What is classified, and when
//! A gRPC call's outcome is its status code, and an error rarely looks like one in HTTP: it is
//! a `200 OK` whose `grpc-status` comes either in the response's head ("trailers-only", how
//! tonic, grpc-go and grpc-java answer a call that fails before any message: nearly every unary
//! error) or in the trailers after the messages (a stream that fails midway). The layer reads
//! both:
//! - a head with `grpc-status` (or a non-200 HTTP status, read as gRPC reads it: see
//!   [`head_code`]) is classified when the response arrives;
//! - otherwise the call's permit travels in the response's [`GrpcBody`], and the outcome is
//!   recorded when the trailers arrive (tonic's client reads them for every unary call). A body
//!   that fails (a reset stream) is a failure; one that ends without trailers is `UNKNOWN`, as
//!   tonic reads it; one dropped before its trailers (the caller stopped reading a stream) is
//!   not counted, like a cancelled call. A half-open trial on a long stream is decided when the
//!   stream ends.
//!
//! A failure whose answer carries `grpc-retry-pushback-ms` (gRFC A6's pushback, in the head of
//! a trailers-only answer or in the trailers; see [`pushback`]) is an
//! [overload](crate::call::Outcome::Overload): the server said it has no room, so the breaker
//! sheds rather than opening, as for an HTTP 5xx with `Retry-After`. The crate's retries never
//! retry an overload, so a pushback that says "do not retry" (a negative or malformed value) is
//! obeyed, and so is one that gives a delay (the call ends; the caller's next call is admitted
//! by the shedding limit, which grows back as the server completes calls).
//!
//! The code is classified by a [`ClassifyCode`]: by default [`FailureCodes::DEFAULT`], where
//! `UNAVAILABLE`, `DEADLINE_EXCEEDED`, `RESOURCE_EXHAUSTED` and `INTERNAL` are failures and every
//! other code, `OK`, `NOT_FOUND` or `INVALID_ARGUMENT` alike, a success (the server answered). An
//! error from the inner service (no response at all: the connection refused or reset, a
//! timeout inside the channel such as `Endpoint::timeout`) is always a failure. A timeout
//! *above* the layer drops the call instead, which counts as nothing: put the deadline below
//! the breaker (on the `Endpoint`, or a `tower::timeout` layer under this one) when a hanging
//! server must count against it.
//!
//! # Rejections
//! A rejected call never reaches the inner service. The layer answers it itself, as a server
//! would, with a trailers-only response: `grpc-status: 14` (`UNAVAILABLE`), the rejection as
//! `grpc-message`, and `grpc-retry-pushback-ms` with the time left, rounded up, when it is known
//! (see [`unavailable`]). tonic's client turns that head into the `Status` the caller gets, its
//! metadata included, exactly as it does a server's answer. So the layer keeps the inner
//! service's error type (a `Channel`'s `tonic::transport::Error`), the rejection never becomes a
//! transport error, and a layer or client above sees it as any other gRPC answer. The response
//! also carries the [`Rejected`](crate::Rejected) in its extensions, for tower layers above that
//! want to tell a rejection from a server's `UNAVAILABLE`.
//!
//! # Readiness
//! As for every layer of the crate, `poll_ready` is the inner service's: an open circuit is not
//! "not ready", it answers fast.
//!
//! ```
//! use std::sync::Arc;
//! use protego_breaker::integrations::tonic::GrpcCircuitBreakerLayer;
//! use protego_breaker::{Config, Registry};
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # futures::executor::block_on(async {
//! let config = Config::builder().failure_threshold(1).build().unwrap();
//! let registry = Arc::new(Registry::new().with_default_config(config));
//! // A server whose every answer is a trailers-only UNAVAILABLE (a `Channel` in real code).
//! let server = service_fn(|_: http::Request<tonic::body::Body>| async {
//!     Ok::<_, std::convert::Infallible>(tonic::Status::unavailable("overloaded").into_http::<tonic::body::Body>())
//! });
//! let svc = GrpcCircuitBreakerLayer::named(Arc::clone(&registry), "quotes").layer(server);
//!
//! let answer = svc.clone().oneshot(http::Request::default()).await.unwrap();
//! assert_eq!(tonic::Status::from_header_map(answer.headers()).unwrap().message(), "overloaded");
//! // The breaker saw UNAVAILABLE and opened: the next call is answered without the server.
//! let answer = svc.oneshot(http::Request::default()).await.unwrap();
//! let status = tonic::Status::from_header_map(answer.headers()).unwrap();
//! assert_eq!(status.code(), tonic::Code::Unavailable);
//! assert_eq!(status.metadata().get("grpc-retry-pushback-ms").unwrap(), "60000");
//! # });
//! ```
//!
//! Under a generated client:
//!
//! ```
//! use std::sync::Arc;
//! use protego_breaker::integrations::tonic::GrpcCircuitBreakerLayer;
//! use protego_breaker::Registry;
//! use tower::ServiceBuilder;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let registry = Arc::new(Registry::new());
//! let channel = tonic::transport::Endpoint::from_static("http://127.0.0.1:50051")
//!     .timeout(std::time::Duration::from_secs(2)) // below the breaker: a timeout counts
//!     .connect_lazy();
//! let service = ServiceBuilder::new()
//!     .layer(GrpcCircuitBreakerLayer::named(registry, "quotes"))
//!     .service(channel);
//! let client = tonic::client::Grpc::new(service); // or `QuotesClient::new(service)`
//! # drop(client);
//! # }
//! ```

//!
//! # A balanced channel whose endpoints are protected
//! tonic's own `Channel::balance_channel` and `balance_list` take endpoints and build their
//! channels inside, out of reach of a layer. Build the pool from tower's parts instead, as
//! tonic does inside: a tonic `Channel` per endpoint (each with its `timeout`, so a hanging
//! endpoint counts), the `balance` feature's per-endpoint layer over that list,
//! tower's p2c `Balance`, and `OutlierDetector::grpc_guard` on top (features `tonic` and
//! `balance`). With `FailureCodes` as the pool's classifier an endpoint answering
//! `UNAVAILABLE` is ejected (p2c stops picking it) while the others keep serving, and when
//! every endpoint is ejected a call gets `UNAVAILABLE` with `grpc-retry-pushback-ms` at once.
//! The pool's layer decides a call when its response arrives, so it reads the head (see
//! [`ClassifyHead`]): a status that comes only in the trailers, after messages, is not seen.
//! The example is on `GrpcEjectionGuard`.

mod body;
mod codes;
mod future;
mod layer;
#[cfg(feature = "balance")]
mod pool;
mod pushback;
mod rejection;
mod service;

pub use body::GrpcBody;
pub use codes::{head_code, trailers_code, ClassifyCode, ClassifyHead, FailureCodes};
pub use future::GrpcResponseFuture;
pub use layer::GrpcCircuitBreakerLayer;
#[cfg(feature = "balance")]
pub use pool::{GrpcEjectionGuard, GrpcGuardFuture};
pub use pushback::{pushback, Pushback};
pub use rejection::{retry_pushback_ms, unavailable, RETRY_PUSHBACK_MS};
pub use service::GrpcCircuitBreakerService;
