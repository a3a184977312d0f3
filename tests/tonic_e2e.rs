//! End to end over gRPC: real tonic servers on loopback ports, real channels, the layer under
//! `tonic::client::Grpc` (what generated clients are made of), no protoc.
#![cfg(feature = "tonic")]

mod common;
#[path = "support/grpc.rs"]
mod grpc;

use std::sync::Arc;
use std::time::Duration;

use grpc::{channel, say_to, serve, stream_from, Answer};
use protego_breaker::call::Outcome;
use protego_breaker::integrations::tonic::{FailureCodes, GrpcCircuitBreakerLayer};
use protego_breaker::{ManualClock, Registry, State};
use tonic::Code;
use tower::Layer;

const TIMEOUT: Duration = Duration::from_secs(5);

fn registry(threshold: u32) -> (Arc<Registry<ManualClock>>, ManualClock) {
    let clock = ManualClock::new();
    let config = common::cfg(threshold, Duration::from_secs(30), 1);
    let registry = Arc::new(Registry::with_clock(clock.clone()).with_default_config(config));
    (registry, clock)
}

fn pushback(status: &tonic::Status) -> Option<&str> {
    status
        .metadata()
        .get("grpc-retry-pushback-ms")
        .map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn unavailable_trips_the_breaker_and_callers_get_unavailable_with_pushback() {
    let server = serve(Answer::Code(Code::Unavailable)).await;
    let (registry, clock) = registry(2);
    let layer = GrpcCircuitBreakerLayer::named(Arc::clone(&registry), "echo");
    let mut client = tonic::client::Grpc::new(layer.layer(channel(&server, TIMEOUT)));

    for _ in 0..2 {
        let status = say_to(&mut client, "hi").await.unwrap_err();
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(status.message(), "answered by the test server");
        assert_eq!(pushback(&status), None, "the server's own answer");
    }
    assert_eq!(registry.get("echo").unwrap().state(), State::Open);
    let calls = server.downstream.calls();

    let status = say_to(&mut client, "hi").await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(status.message(), "circuit `echo` is open, retry after 30s");
    assert_eq!(pushback(&status), Some("30000"));
    clock.advance(Duration::from_micros(10_500_500));
    let status = say_to(&mut client, "hi").await.unwrap_err();
    assert_eq!(pushback(&status), Some("19500"), "19 499.5 ms, rounded up");
    assert_eq!(server.downstream.calls(), calls, "rejected calls never ran");

    server.downstream.set(Answer::Code(Code::Ok));
    clock.advance(Duration::from_secs(20));
    assert_eq!(say_to(&mut client, "trial").await.unwrap(), "trial");
    assert_eq!(registry.get("echo").unwrap().state(), State::Closed);
    assert_eq!(server.downstream.calls(), calls + 1);
}

#[tokio::test]
async fn answers_that_are_not_failures_do_not_trip() {
    let server = serve(Answer::Code(Code::NotFound)).await;
    let (registry, _clock) = registry(1);
    let layer = GrpcCircuitBreakerLayer::named(Arc::clone(&registry), "echo");
    let mut client = tonic::client::Grpc::new(layer.layer(channel(&server, TIMEOUT)));

    let answers = [
        Code::NotFound,
        Code::InvalidArgument,
        Code::AlreadyExists,
        Code::PermissionDenied,
        Code::FailedPrecondition,
        Code::Unimplemented,
        Code::Unknown,
        Code::Ok,
    ];
    for code in answers {
        server.downstream.set(Answer::Code(code));
        for _ in 0..3 {
            let result = say_to(&mut client, "hi").await;
            assert_eq!(
                result.map_err(|s| s.code()).err(),
                (code != Code::Ok).then_some(code)
            );
        }
    }
    let breaker = registry.get("echo").unwrap();
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.consecutive_failures(), 0);
    assert_eq!(
        server.downstream.calls(),
        answers.len() * 3,
        "every call ran"
    );
}

#[tokio::test]
async fn each_default_failure_code_trips_and_each_overload_code_is_shed() {
    let server = serve(Answer::Code(Code::Ok)).await;
    let (registry, _clock) = registry(1);
    for (code, overload) in [
        (Code::Unavailable, false),
        (Code::DeadlineExceeded, true),
        (Code::ResourceExhausted, true),
        (Code::Internal, false),
    ] {
        let name = format!("{code:?}");
        let layer = GrpcCircuitBreakerLayer::named(Arc::clone(&registry), name.as_str());
        let mut client = tonic::client::Grpc::new(layer.layer(channel(&server, TIMEOUT)));
        server.downstream.set(Answer::Code(code));
        assert_eq!(say_to(&mut client, "hi").await.unwrap_err().code(), code);
        let breaker = registry.get(&name).unwrap();
        if overload {
            assert_eq!(breaker.state(), State::Closed, "{name}: shed, not open");
            assert!(breaker.shed_limit().is_some(), "{name}");
        } else {
            assert_eq!(breaker.state(), State::Open, "{name}");
        }
    }
}

#[tokio::test]
async fn a_custom_classification_trips_on_its_own_codes() {
    let server = serve(Answer::Code(Code::Unavailable)).await;
    let (registry, _clock) = registry(1);

    // A set: NOT_FOUND is a failure here, UNAVAILABLE is not.
    let codes = FailureCodes::DEFAULT
        .with(Code::NotFound)
        .without(Code::Unavailable);
    let layer = GrpcCircuitBreakerLayer::named(Arc::clone(&registry), "set").classify(codes);
    let mut client = tonic::client::Grpc::new(layer.layer(channel(&server, TIMEOUT)));
    for _ in 0..3 {
        assert_eq!(
            say_to(&mut client, "hi").await.unwrap_err().code(),
            Code::Unavailable
        );
    }
    assert_eq!(registry.get("set").unwrap().state(), State::Closed);
    server.downstream.set(Answer::Code(Code::NotFound));
    assert_eq!(
        say_to(&mut client, "hi").await.unwrap_err().code(),
        Code::NotFound
    );
    assert_eq!(registry.get("set").unwrap().state(), State::Open);

    // A closure: ABORTED is a failure, UNAVAILABLE ignored (it neither trips nor resets).
    let layer =
        GrpcCircuitBreakerLayer::named(Arc::clone(&registry), "closure").classify(|code: Code| {
            match code {
                Code::Aborted => Outcome::Failure,
                Code::Unavailable => Outcome::Ignored,
                _ => Outcome::Success,
            }
        });
    let mut client = tonic::client::Grpc::new(layer.layer(channel(&server, TIMEOUT)));
    let breaker = registry.breaker("closure", common::cfg(2, Duration::from_secs(30), 1));
    server.downstream.set(Answer::Code(Code::Aborted));
    let _ = say_to(&mut client, "hi").await;
    assert_eq!(breaker.consecutive_failures(), 1);
    server.downstream.set(Answer::Code(Code::Unavailable));
    let _ = say_to(&mut client, "hi").await;
    assert_eq!(breaker.consecutive_failures(), 1, "ignored: no reset");
    server.downstream.set(Answer::Code(Code::Aborted));
    let _ = say_to(&mut client, "hi").await;
    assert_eq!(breaker.state(), State::Open);
}

#[tokio::test]
async fn a_status_in_the_trailers_counts_when_the_stream_ends() {
    let server = serve(Answer::Code(Code::Unavailable)).await;
    let (registry, _clock) = registry(2);
    let layer = GrpcCircuitBreakerLayer::named(Arc::clone(&registry), "echo");
    let mut client = tonic::client::Grpc::new(layer.layer(channel(&server, TIMEOUT)));
    let breaker = registry.get_or_create("echo");

    let mut stream = stream_from(&mut client, "first").await.unwrap();
    assert_eq!(
        breaker.consecutive_failures(),
        0,
        "a 200 head says nothing yet"
    );
    assert_eq!(stream.message().await.unwrap().as_deref(), Some("first"));
    let status = stream.message().await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(
        breaker.consecutive_failures(),
        1,
        "the trailers said UNAVAILABLE"
    );

    // A stream the caller drops before its status counts as nothing, like a cancelled call.
    let mut stream = stream_from(&mut client, "dropped").await.unwrap();
    assert_eq!(stream.message().await.unwrap().as_deref(), Some("dropped"));
    drop(stream);
    assert_eq!(breaker.consecutive_failures(), 1);

    // A stream that ends with OK in its trailers is a success.
    server.downstream.set(Answer::Code(Code::Ok));
    let mut stream = stream_from(&mut client, "only").await.unwrap();
    assert_eq!(stream.message().await.unwrap().as_deref(), Some("only"));
    assert_eq!(breaker.consecutive_failures(), 1, "not ended yet");
    assert_eq!(stream.message().await.unwrap(), None);
    assert_eq!(breaker.consecutive_failures(), 0);
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test]
async fn a_hanging_server_counts_through_the_channels_timeout() {
    let server = serve(Answer::Hang).await;
    let (registry, _clock) = registry(1);
    let layer = GrpcCircuitBreakerLayer::named(Arc::clone(&registry), "echo");
    let mut client =
        tonic::client::Grpc::new(layer.layer(channel(&server, Duration::from_millis(100))));

    let status = say_to(&mut client, "hi").await.unwrap_err();
    assert_eq!(
        status.code(),
        Code::Cancelled,
        "tonic's timeout: {status:?}"
    );
    assert_eq!(registry.get("echo").unwrap().state(), State::Open);
    let status = say_to(&mut client, "hi").await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(pushback(&status), Some("30000"), "rejected at once");
    assert_eq!(server.downstream.calls(), 1);
}

#[tokio::test]
async fn a_stopped_server_counts_as_a_failure() {
    let server = serve(Answer::Code(Code::Ok)).await;
    let (registry, _clock) = registry(1);
    let layer = GrpcCircuitBreakerLayer::named(Arc::clone(&registry), "echo");
    let mut client = tonic::client::Grpc::new(layer.layer(channel(&server, TIMEOUT)));
    assert_eq!(say_to(&mut client, "hi").await.unwrap(), "hi");

    let addr = server.addr;
    drop(server);
    // The connection closes a moment after the server stops; bounded by a deadline.
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while registry.get("echo").unwrap().state() == State::Closed {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{addr} still answers"
        );
        let _ = say_to(&mut client, "hi").await;
    }
    assert_eq!(
        say_to(&mut client, "hi").await.unwrap_err().code(),
        Code::Unavailable
    );
}
