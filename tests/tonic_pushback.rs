//! A server's pushback (gRFC A6, `grpc-retry-pushback-ms`) is overload: over real tonic
//! servers on loopback, the layer sheds a failure that carries it rather than opening, in the
//! head or in the trailers, whatever its value; and the crate's retries stop on it.
#![cfg(feature = "tonic")]

mod common;
#[path = "support/grpc.rs"]
mod grpc;

use std::sync::Arc;
use std::time::Duration;

use grpc::{channel, say_to, serve, stream_from, Answer};
use protego_breaker::integrations::tonic::{
    pushback, FailureCodes, GrpcCircuitBreakerLayer, Pushback,
};
use protego_breaker::retry::{Retrier, RetryPolicy, TpsBudget};
use protego_breaker::sleep::Sleep;
use protego_breaker::{Breaker, Config, ManualClock, Registry, State};
use tonic::Code;
use tower::Layer;

const TIMEOUT: Duration = Duration::from_secs(5);

/// A registry whose breakers shed overload (the default) and open at the first failure.
fn registry() -> Arc<Registry<ManualClock>> {
    let config = Config::builder().failure_threshold(1).build().unwrap();
    Arc::new(Registry::with_clock(ManualClock::new()).with_default_config(config))
}

#[tokio::test]
async fn a_failure_with_pushback_in_the_head_is_shed_whatever_its_value() {
    for value in ["250", "0", "-1", "soon", "99999999999999999999999", ""] {
        let server = serve(Answer::PushedBack(Code::Unavailable, value)).await;
        let registry = registry();
        let layer = GrpcCircuitBreakerLayer::named(Arc::clone(&registry), "echo");
        let mut client = tonic::client::Grpc::new(layer.layer(channel(&server, TIMEOUT)));
        let breaker = registry.get_or_create("echo");
        for _ in 0..3 {
            let status = say_to(&mut client, "hi").await.unwrap_err();
            assert_eq!(status.code(), Code::Unavailable, "{value:?}");
            assert_eq!(
                status.metadata().get("grpc-retry-pushback-ms").unwrap(),
                value,
                "the server's pushback reaches the caller"
            );
        }
        assert_eq!(
            breaker.state(),
            State::Closed,
            "{value:?}: shed, not opened"
        );
        assert_eq!(breaker.consecutive_failures(), 0, "{value:?}");
        assert!(breaker.shed_limit().is_some(), "{value:?}: shedding");
    }
}

#[tokio::test]
async fn the_same_failure_without_pushback_opens_the_circuit() {
    let server = serve(Answer::Code(Code::Unavailable)).await;
    let registry = registry();
    let layer = GrpcCircuitBreakerLayer::named(Arc::clone(&registry), "echo");
    let mut client = tonic::client::Grpc::new(layer.layer(channel(&server, TIMEOUT)));
    say_to(&mut client, "hi").await.unwrap_err();
    let breaker = registry.get_or_create("echo");
    assert_eq!(breaker.state(), State::Open);
    assert!(breaker.shed_limit().is_none());
}

#[tokio::test]
async fn pushback_in_the_trailers_is_shed_when_the_stream_ends() {
    let server = serve(Answer::PushedBack(Code::Internal, "100")).await;
    let registry = registry();
    let layer = GrpcCircuitBreakerLayer::named(Arc::clone(&registry), "echo");
    let mut client = tonic::client::Grpc::new(layer.layer(channel(&server, TIMEOUT)));
    let breaker = registry.get_or_create("echo");

    let mut stream = stream_from(&mut client, "first").await.unwrap();
    assert_eq!(stream.message().await.unwrap().as_deref(), Some("first"));
    assert!(
        breaker.shed_limit().is_none(),
        "a 200 head says nothing yet"
    );
    let status = stream.message().await.unwrap_err();
    assert_eq!(status.code(), Code::Internal);
    assert_eq!(
        pushback(status.metadata().as_ref()),
        Some(Pushback::RetryAfter(Duration::from_millis(100)))
    );
    assert_eq!(breaker.state(), State::Closed, "the trailers pushed back");
    assert!(breaker.shed_limit().is_some());
}

#[tokio::test]
async fn a_success_code_with_pushback_stays_a_success() {
    // Only a failure becomes an overload (as a 404 with Retry-After stays a success in HTTP).
    let server = serve(Answer::PushedBack(Code::NotFound, "100")).await;
    let registry = registry();
    let layer = GrpcCircuitBreakerLayer::named(Arc::clone(&registry), "echo");
    let mut client = tonic::client::Grpc::new(layer.layer(channel(&server, TIMEOUT)));
    say_to(&mut client, "hi").await.unwrap_err();
    let breaker = registry.get_or_create("echo");
    assert!(breaker.shed_limit().is_none());
    assert_eq!(breaker.state(), State::Closed);
}

/// Retried calls (up to 3 attempts, `TpsBudget::default()`, no waiting) to `server` through
/// `breaker`, classified by the status as a generated client returns it: how many reached the
/// server.
async fn retried(answer: Answer) -> usize {
    let server = serve(answer).await;
    let config = Config::builder().failure_threshold(10).build().unwrap();
    let breaker = Breaker::with_clock(config, ManualClock::new());
    let sleeper = |_: Duration| -> Sleep { Box::pin(std::future::ready(())) };
    let retrier = Retrier::new(
        RetryPolicy::default(),
        Arc::new(TpsBudget::default()),
        Arc::new(sleeper),
    );
    let client = tonic::client::Grpc::new(channel(&server, TIMEOUT));
    let make = || {
        let mut client = client.clone();
        async move { say_to(&mut client, "hi").await.map(tonic::Response::new) }
    };
    let out = retrier
        .call(&breaker, make)
        .classify(FailureCodes::DEFAULT)
        .await;
    let Err(protego_breaker::Error::Inner(status)) = out else {
        panic!("the server's answer, not {out:?}");
    };
    assert_eq!(status.message(), "answered by the test server");
    server.downstream.calls()
}

#[tokio::test]
async fn retries_stop_on_pushback_and_go_on_without_it() {
    assert_eq!(
        retried(Answer::Code(Code::Unavailable)).await,
        3,
        "a failure is retried"
    );
    // "Do not retry" (negative, malformed): one attempt.
    assert_eq!(
        retried(Answer::PushedBack(Code::Unavailable, "-1")).await,
        1
    );
    assert_eq!(
        retried(Answer::PushedBack(Code::Unavailable, "later")).await,
        1
    );
    // A delay: an overload, which the crate's retries never retry (the caller's next call is
    // let in by the shedding limit).
    assert_eq!(
        retried(Answer::PushedBack(Code::Unavailable, "20")).await,
        1
    );
}
