//! A timeout under the crate's tower layer is overload, not an outage: tower's own
//! `Timeout` (`ServiceBuilder::timeout`, its `Elapsed`) with feature `tower-timeout`, and an
//! `io::Error` that timed out with the `tower` feature alone. A real tower stack on tokio; the
//! inner service never answers (or answers an error at once), so each call's end is decided by
//! the stack, not by how long the test sleeps.
#![cfg(feature = "tower")]

use std::future::pending;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use protego_breaker::integrations::tower::{BoxError, CircuitBreakerLayer, RetryLayer};
use protego_breaker::retry::{Retrier, RetryPolicy, TpsBudget};
use protego_breaker::sleep::Sleep;
use protego_breaker::{Breaker, Config, ManualClock, State};
use std::sync::atomic::{AtomicUsize, Ordering};
use tower::{service_fn, Service, ServiceBuilder, ServiceExt};

/// A breaker that sheds overload (`Config::default()`) and opens at the first failure.
fn breaker() -> Arc<Breaker<ManualClock>> {
    let config = Config::builder().failure_threshold(1).build().unwrap();
    Arc::new(Breaker::with_clock(config, ManualClock::new()))
}

/// `ServiceBuilder` with the breaker's layer over tower's `Timeout` over a service that never
/// answers: each call ends in tower's `Elapsed` after 5 ms.
async fn call_into_a_timeout(breaker: &Arc<Breaker<ManualClock>>) -> BoxError {
    let mut svc = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(Arc::clone(breaker)))
        .timeout(Duration::from_millis(5))
        .service(service_fn(|_: u32| pending::<Result<u32, BoxError>>()));
    svc.ready().await.unwrap().call(1).await.unwrap_err()
}

#[cfg(feature = "tower-timeout")]
#[tokio::test]
async fn towers_elapsed_under_the_layer_is_overload_and_sheds() {
    let breaker = breaker();
    let err = call_into_a_timeout(&breaker).await;
    assert!(err.is::<tower::timeout::error::Elapsed>(), "{err}");
    assert!(protego_breaker::call::is_timeout(&*err));
    // An overload: the breaker sheds (a limit on calls in flight) and does not open, although
    // one failure would have opened it.
    assert_eq!(breaker.consecutive_failures(), 0);
    assert_eq!(breaker.state(), State::Closed);
    assert!(
        breaker.shed_limit().is_some(),
        "the first overload starts shedding"
    );
    for _ in 0..4 {
        call_into_a_timeout(&breaker).await;
    }
    assert_eq!(breaker.state(), State::Closed, "timeouts never open it");
}

#[cfg(not(feature = "tower-timeout"))]
#[tokio::test]
async fn without_tower_timeout_towers_elapsed_is_a_failure() {
    // The type is not recognised without the feature: a plain failure, as before.
    let breaker = breaker();
    let err = call_into_a_timeout(&breaker).await;
    assert_eq!(err.to_string(), "request timed out");
    assert!(!protego_breaker::call::is_timeout(&*err));
    assert_eq!(breaker.state(), State::Open);
}

#[tokio::test]
async fn an_io_error_that_timed_out_is_overload_and_a_refused_connection_a_failure() {
    let respond = |kind: io::ErrorKind| {
        service_fn(move |_: u32| async move {
            // Wrapped once, as a client library might: still found in the chain.
            Err::<u32, _>(io::Error::other(io::Error::from(kind)))
        })
    };
    let breaker = breaker();
    let mut timed_out = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(Arc::clone(&breaker)))
        .service(respond(io::ErrorKind::TimedOut));
    let err = timed_out.ready().await.unwrap().call(1).await.unwrap_err();
    assert!(err.is::<io::Error>());
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.consecutive_failures(), 0);
    assert!(breaker.shed_limit().is_some(), "shedding, not opened");

    let breaker = self::breaker();
    let mut refused = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(Arc::clone(&breaker)))
        .service(respond(io::ErrorKind::ConnectionRefused));
    refused.ready().await.unwrap().call(1).await.unwrap_err();
    assert_eq!(breaker.state(), State::Open, "an outage opens the circuit");
    assert!(breaker.shed_limit().is_none());
}

#[tokio::test]
async fn a_classifier_that_ignores_a_timeout_is_obeyed() {
    // Only a failure is turned into an overload: the user's own verdict stands.
    let breaker = breaker();
    let mut svc = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(Arc::clone(&breaker)).classify(
            |r: &Result<u32, io::Error>| {
                if r.is_ok() {
                    protego_breaker::call::Outcome::Success
                } else {
                    protego_breaker::call::Outcome::Ignored
                }
            },
        ))
        .service(service_fn(|_: u32| async {
            Err::<u32, _>(io::Error::from(io::ErrorKind::TimedOut))
        }));
    svc.ready().await.unwrap().call(1).await.unwrap_err();
    assert_eq!(breaker.state(), State::Closed);
    assert!(
        breaker.shed_limit().is_none(),
        "ignored: neither overload nor failure"
    );
}

/// Requests through a `RetryLayer` (3 attempts, no waiting) over a service that answers each
/// with `answer`: how many reached the service, and the breaker.
async fn retried(answer: fn() -> io::Error) -> (usize, Arc<Breaker<ManualClock>>) {
    let sleeper = |_: Duration| -> Sleep { Box::pin(std::future::ready(())) };
    let retrier = Retrier::new(
        RetryPolicy::default(),
        Arc::new(TpsBudget::default()),
        Arc::new(sleeper),
    );
    let config = Config::builder().failure_threshold(10).build().unwrap();
    let breaker = Arc::new(Breaker::with_clock(config, ManualClock::new()));
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let mut svc = ServiceBuilder::new()
        .layer(RetryLayer::new(retrier, Arc::clone(&breaker)))
        .service(service_fn(move |_: u32| {
            seen.fetch_add(1, Ordering::Relaxed);
            async move { Err::<u32, BoxError>(answer().into()) }
        }));
    svc.ready().await.unwrap().call(1).await.unwrap_err();
    (calls.load(Ordering::Relaxed), breaker)
}

#[tokio::test]
async fn the_retry_layer_does_not_retry_a_timeout_and_sheds_it() {
    let (calls, breaker) = retried(|| io::Error::from(io::ErrorKind::ConnectionReset)).await;
    assert_eq!(calls, 3, "a failure is retried");
    assert_eq!(breaker.consecutive_failures(), 3);
    let (calls, breaker) = retried(|| io::Error::from(io::ErrorKind::TimedOut)).await;
    assert_eq!(calls, 1, "a timeout is overload: not retried");
    assert_eq!(breaker.consecutive_failures(), 0);
    assert!(breaker.shed_limit().is_some());
}

#[cfg(feature = "tower-timeout")]
#[tokio::test]
async fn the_retry_layer_over_towers_timeout_does_not_retry_elapsed() {
    let sleeper = |_: Duration| -> Sleep { Box::pin(std::future::ready(())) };
    let retrier = Retrier::new(
        RetryPolicy::default(),
        Arc::new(TpsBudget::default()),
        Arc::new(sleeper),
    );
    let breaker = self::breaker();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let mut svc = ServiceBuilder::new()
        .layer(RetryLayer::new(retrier, Arc::clone(&breaker)))
        .timeout(Duration::from_millis(5))
        .service(service_fn(move |_: u32| {
            seen.fetch_add(1, Ordering::Relaxed);
            pending::<Result<u32, BoxError>>()
        }));
    let err = svc.ready().await.unwrap().call(1).await.unwrap_err();
    assert!(err.is::<tower::timeout::error::Elapsed>(), "{err}");
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    assert_eq!(breaker.state(), State::Closed);
    assert!(breaker.shed_limit().is_some());
}
