//! The HTTP middleware (`http` feature): 5xx responses are failures, rejections answer 503 with
//! `Retry-After`.
#![cfg(feature = "http")]

mod common;

use std::convert::Infallible;
use std::sync::Arc;

use futures::executor::block_on;
use protego_breaker::integrations::http::{retry_after_secs, HttpCircuitBreakerLayer};
use protego_breaker::{Breaker, CircuitBreaker, ManualClock, State};
use tower::{service_fn, Layer, ServiceExt};

use common::*;

fn status(code: u16) -> http::Response<String> {
    http::Response::builder()
        .status(code)
        .body(String::new())
        .unwrap()
}

#[test]
fn server_errors_open_and_rejections_answer_503_with_retry_after() {
    let clock = ManualClock::new();
    let breaker = Arc::new(Breaker::with_clock(cfg(2, secs(30), 1), clock.clone()));
    let layer = HttpCircuitBreakerLayer::new(Arc::clone(&breaker));
    let answer = |code: u16| {
        layer
            .layer(service_fn(move |_: http::Request<()>| async move {
                Ok::<_, Infallible>(status(code))
            }))
            .oneshot(http::Request::new(()))
    };
    assert_eq!(block_on(answer(404)).unwrap().status(), 404);
    assert_eq!(
        breaker.consecutive_failures(),
        0,
        "a 4xx is not the downstream failing"
    );
    assert_eq!(block_on(answer(500)).unwrap().status(), 500);
    assert_eq!(block_on(answer(502)).unwrap().status(), 502);
    assert_eq!(breaker.state(), State::Open);
    clock.advance(std::time::Duration::from_millis(100));
    let rejected = block_on(answer(200)).unwrap();
    assert_eq!(rejected.status(), 503);
    assert_eq!(
        rejected.headers()["retry-after"],
        "30",
        "29.9 s, rounded up"
    );
}

#[test]
fn retry_after_is_absent_when_unknown() {
    let breaker = Breaker::with_clock(cfg(1, secs(30), 1), ManualClock::new());
    breaker.force_open();
    let rejected = breaker.try_acquire().unwrap_err();
    assert_eq!(retry_after_secs(&rejected), None);
    let response: http::Response<()> =
        protego_breaker::integrations::http::service_unavailable(&rejected);
    assert_eq!(response.status(), 503);
    assert!(response.headers().get("retry-after").is_none());
}
