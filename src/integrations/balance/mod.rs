//! Balanced pools (feature `balance`): a breaker per endpoint, and gRFC A50 / Envoy outlier
//! detection, for a tower balancer over a [`Discover`](tower::discover::Discover) stream.
//!
//! When one instance of ten goes bad, the answer is to take that instance out of rotation, not
//! to cut the whole dependency off, nor to keep sending it a tenth of the traffic.
//!
//! - [`OutlierDetector`] is the pool: its [`OutlierDetection`] rules, and a breaker per
//!   endpoint in your [`Registry`](crate::Registry) (named `"{pool}/{endpoint}"`, labelled
//!   with the pool and the endpoint in the snapshot, the admin view and the metrics).
//! - [`OutlierLayer`] (from [`OutlierDetector::layer`]) wraps the discover stream: each
//!   endpoint's service becomes an [`EndpointService`], **not ready while its breaker rejects**,
//!   so p2c picks another endpoint. When the ejection ends the endpoint takes a half-open
//!   trial; one success puts it back in rotation, a failure ejects it again for longer. Each
//!   endpoint's own middleware (a timeout, a concurrency limit, metrics) is a tower `Layer`
//!   given to [`OutlierLayer::endpoint_layer`].
//! - [`EjectionGuard`] (from [`OutlierDetector::guard`], or `OutlierDetector::http_guard`
//!   for a 503 + `Retry-After`) wraps the balancer: when **every** endpoint is ejected, p2c
//!   would stay pending; the guard answers the rejection at once instead.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use protego_breaker::integrations::balance::{OutlierDetection, OutlierDetector};
//! use protego_breaker::Registry;
//! use tower::balance::p2c::Balance;
//! use tower::load::{CompleteOnResponse, PendingRequestsDiscover};
//! use tower::{Service, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let registry = Arc::new(Registry::new());
//! let detection = OutlierDetection::builder().interval(Duration::from_secs(5)).build()?;
//! let detector = OutlierDetector::new(Arc::clone(&registry), "quotes", detection);
//!
//! // Ten endpoints, keyed by a displayable key; here, the third fails every call.
//! let endpoints = (0..10).map(|i: u32| {
//!     let svc = tower::service_fn(move |x: u32| async move {
//!         if i == 2 { Err("down") } else { Ok(x * 2) }
//!     });
//!     Ok::<_, std::convert::Infallible>(tower::discover::Change::Insert(i, svc))
//! });
//! let discover = detector.layer().discover(futures::stream::iter(endpoints));
//! let balance = Balance::new(PendingRequestsDiscover::new(discover, CompleteOnResponse::default()));
//! let mut client = detector.guard(balance);
//!
//! let mut ok = 0;
//! for x in 0..200 {
//!     let ready = client.ready().await.expect("the balancer never fails here");
//!     if ready.call(x).await.is_ok() { ok += 1; }
//! }
//! // Five failures in a row eject endpoint 2: it gets at most a handful of the 200 calls.
//! assert_eq!(detector.ejected(), ["2"]);
//! assert!(ok >= 195, "{ok}");
//! # Ok(())
//! # }
//! ```
//!
//! # The rules
//! As A50 names and defaults them (see [`OutlierDetection`]), plus Envoy's `consecutive_5xx`:
//! - **consecutive failures** (`consecutive_5xx`, 5): the endpoint's breaker trips on its own,
//!   at once, as any breaker does (its `failure_threshold`); the pool then makes it an ejection
//!   (or spares it, see below).
//! - **success rate**, every `interval` (10 s): among endpoints with at least
//!   `request_volume` (100) calls in the interval, if at least `minimum_hosts` (5), eject those
//!   whose success rate is below `mean - stdev * stdev_factor / 1000` (1900). This catches an
//!   endpoint that fails often but never twice in a row, which consecutive counts cannot.
//! - **failure percentage**, every interval: among endpoints with at least 50 calls, if at
//!   least 5, eject those with more than 85 % failures.
//! - **`max_ejection_percent`** (10): an outlier is ejected only while fewer than that share of
//!   the endpoints are ejected (A50's test, before each ejection: one of ten, or one of five
//!   with 10 %). A breaker that tripped on consecutive failures past that share is closed
//!   again ([`OutlierEventKind::Spared`]).
//! - **ejection time**: `base_ejection_time` (30 s) x the endpoint's multiplier, which grows by
//!   one per ejection and shrinks by one per interval spent out of ejection, capped at
//!   `max_ejection_time` (max(base, 300 s)).
//! - **return** (`return_at`, [`ReturnAt`]): as A50 and Envoy un-eject, at the first sweep (the
//!   interval's analysis) due at or after the end of the ejection time, so an endpoint ejected
//!   between sweeps stays out up to one interval longer; [`ReturnAt::Deadline`] brings it back
//!   as soon as its ejection time ends.
//!
//! # Where this differs from A50
//! - **Half-open return.** A50 puts an endpoint back in full rotation at its return. Here its
//!   breaker goes half-open: `return_trials` (1) trial calls; their success returns it
//!   ([`OutlierEventKind::Returned`]), a failure ejects it again at once with the next
//!   multiplier ([`Rule::FailedTrial`]), subject to `max_ejection_percent`.
//! - **Probation** (on by default): for its first interval back, a returned endpoint is judged
//!   against the failure rate of the endpoints in rotation over the last interval, on the
//!   pool's ticks (every hundredth of an interval), and ejected again at once
//!   ([`Rule::Probation`]) when it fails more than that rate explains (three standard
//!   deviations and one failure: two failures in its first ten calls against a pool that never
//!   fails). An endpoint that fails one call in five passes a single trial four times in five;
//!   A50 would give it a whole interval of traffic before the next sweep finds it, probation
//!   takes it out within a few calls. Chosen over more trials and a shorter interval by the
//!   simulation in `tests/balance_gray.rs` (see benches/README.md): with probation every one of
//!   100 seeds keeps 99.9 % of the calls of the second 30 s; 20 trials alone leave 2 of 100
//!   below, and more trials would hold back a recovered endpoint that fails as often as the rest
//!   of the pool.
//! - **Consecutive failures eject at once**, as in Envoy, not at the interval (A50 has no such
//!   rule).
//! - **Rules on by default.** A50 leaves both statistical rules off unless configured, Envoy
//!   enforces failure percentage at 0 % by default; here all three are on with A50's values.
//!   Turn one off with `None`.
//! - **What a request is.** Calls the classifier calls ignored (cancellations included) count
//!   for neither side; the rest are successes or failures as the classifier says (by default,
//!   `Err`).
//!
//! # Timers without a runtime
//! The library spawns nothing. The pool's due work (the interval's analysis, and waking an
//! endpoint whose ejection ended) runs on the balancer's own polls (one in sixteen reads the
//! clock), whenever the guard finds no endpoint ready, on [`OutlierDetector::tick`], or in
//! [`OutlierDetector::drive`], a future you spawn with your runtime's sleep. An idle pool
//! without the driver runs its analysis on the next call.
//!
//! # The registry
//! Endpoint breakers are ordinary registry breakers, so whatever the registry does to its
//! breakers it does to them: an exported registry exports them (labelled), the admin view
//! shows and controls them (an operator's force-open takes an endpoint out; the guard counts
//! it as ejected). A registry shared by a fleet (feature `fleet`) would share them across
//! replicas too, making one replica's ejection fleet-wide while each replica keeps its own
//! multipliers: give a pool a registry of its own unless that is what you want.
//!
//! # Endpoints that come and go
//! An endpoint removed from the stream loses its breaker (taken out of the registry, with its
//! multiplier). One inserted again starts fresh: closed, never ejected. A key inserted again
//! while present keeps its breaker.

mod config;
mod detector;
mod discover;
mod endpoint;
mod events;
mod guard;
mod rules;

pub use config::{
    FailurePercentageEjection, OutlierDetection, OutlierDetectionBuilder, ReturnAt,
    SuccessRateEjection,
};
pub use detector::OutlierDetector;
pub use discover::{EndpointDiscover, OutlierLayer};
pub use endpoint::{EndpointFuture, EndpointService};
pub use events::{OutlierEvent, OutlierEventKind, Rule};
pub use guard::{EjectionGuard, GuardFuture};
#[cfg(feature = "http")]
pub use guard::{HttpEjectionGuard, HttpGuardFuture};
