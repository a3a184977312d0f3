//! The gRPC layer against in-memory services: where the code is read (head, trailers, end of
//! body, body error, transport error), what a rejection looks like on the wire, and how a
//! permit held by a body behaves.
#![cfg(feature = "tonic")]

mod common;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use protego_breaker::integrations::tonic::{FailureCodes, GrpcCircuitBreakerLayer};
use protego_breaker::{Breaker, CircuitBreaker, ManualClock, Rejected, State};
use tonic::Code;
use tower::{service_fn, Layer, Service, ServiceExt};

type Frames =
    StreamBody<futures::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, &'static str>>>>;

/// A response with `status` and this body: data frames, then maybe trailers or an error.
fn response(
    status: u16,
    head: Option<&str>,
    frames: Vec<Result<Frame<Bytes>, &'static str>>,
) -> http::Response<Frames> {
    let mut builder = http::Response::builder().status(status);
    if let Some(code) = head {
        builder = builder.header("grpc-status", code);
    }
    builder
        .body(StreamBody::new(futures::stream::iter(frames)))
        .unwrap()
}

#[allow(clippy::unnecessary_wraps)] // a body's stream yields results
fn data() -> Result<Frame<Bytes>, &'static str> {
    Ok(Frame::data(Bytes::from_static(b"\0\0\0\0\x02hi")))
}

#[allow(clippy::unnecessary_wraps)]
fn trailers(code: &'static str) -> Result<Frame<Bytes>, &'static str> {
    let mut map = http::HeaderMap::new();
    map.insert("grpc-status", http::HeaderValue::from_static(code));
    Ok(Frame::trailers(map))
}

fn breaker(threshold: u32) -> (Arc<Breaker<ManualClock>>, ManualClock) {
    let clock = ManualClock::new();
    let config = common::cfg(threshold, Duration::from_secs(10), 1);
    (Arc::new(Breaker::with_clock(config, clock.clone())), clock)
}

/// Calls a service answering `make()` through the layer with `codes`, reads the whole body,
/// and says how many consecutive failures the breaker then has.
async fn failures_after(codes: FailureCodes, make: fn() -> http::Response<Frames>) -> u32 {
    let (breaker, _clock) = breaker(100);
    let svc = GrpcCircuitBreakerLayer::new(Arc::clone(&breaker))
        .classify(codes)
        .layer(service_fn(move |(): ()| async move {
            Ok::<_, Infallible>(make())
        }));
    let answer = svc.oneshot(()).await.unwrap();
    let _ = answer.into_body().collect().await;
    breaker.consecutive_failures()
}

#[test]
fn the_code_is_read_from_the_head_the_trailers_or_the_end_of_the_body() {
    futures::executor::block_on(async {
        let default = FailureCodes::DEFAULT;
        // Trailers-only.
        assert_eq!(
            failures_after(default, || response(200, Some("14"), vec![])).await,
            1
        );
        assert_eq!(
            failures_after(default, || response(200, Some("5"), vec![])).await,
            0
        );
        // In the trailers.
        assert_eq!(
            failures_after(default, || response(
                200,
                None,
                vec![data(), trailers("13")]
            ))
            .await,
            1
        );
        assert_eq!(
            failures_after(default, || response(200, None, vec![data(), trailers("0")])).await,
            0
        );
        // A non-200 head, read as gRPC reads it: 503 is UNAVAILABLE, 404 UNIMPLEMENTED.
        assert_eq!(
            failures_after(default, || response(503, None, vec![data()])).await,
            1
        );
        assert_eq!(
            failures_after(default, || response(404, None, vec![data()])).await,
            0
        );
        // A body that ends with no trailers is UNKNOWN: a failure only where UNKNOWN is one.
        assert_eq!(
            failures_after(default, || response(200, None, vec![data()])).await,
            0
        );
        let with_unknown = default.with(Code::Unknown);
        assert_eq!(
            failures_after(with_unknown, || response(200, None, vec![data()])).await,
            1
        );
        // A body that fails (a reset stream) is a failure whatever the codes.
        let none = FailureCodes::none();
        assert_eq!(
            failures_after(none, || response(200, None, vec![data(), Err("reset")])).await,
            1
        );
    });
}

#[test]
fn an_error_of_the_inner_service_is_a_failure_and_comes_back_as_it_was() {
    futures::executor::block_on(async {
        let (breaker, _clock) = breaker(1);
        let svc = GrpcCircuitBreakerLayer::new(Arc::clone(&breaker))
            .classify(FailureCodes::none())
            .layer(service_fn(|(): ()| async {
                Err::<http::Response<Frames>, _>("connection refused")
            }));
        assert_eq!(svc.oneshot(()).await.unwrap_err(), "connection refused");
        assert_eq!(breaker.state(), State::Open);
    });
}

#[test]
fn a_rejection_is_a_trailers_only_unavailable_with_pushback_and_an_empty_body() {
    futures::executor::block_on(async {
        let (breaker, clock) = breaker(1);
        breaker.force_open();
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = Arc::clone(&calls);
        let mut svc =
            GrpcCircuitBreakerLayer::new(Arc::clone(&breaker)).layer(service_fn(move |(): ()| {
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async { Ok::<_, Infallible>(response(200, None, vec![data(), trailers("0")])) }
            }));

        // Forced open: the time left is not known, so no pushback.
        let answer = svc.ready().await.unwrap().call(()).await.unwrap();
        let status = tonic::Status::from_header_map(answer.headers()).unwrap();
        assert_eq!(status.code(), Code::Unavailable);
        assert!(answer.headers().get("grpc-retry-pushback-ms").is_none());

        breaker.reset();
        let _ = svc
            .ready()
            .await
            .unwrap()
            .call(())
            .await
            .unwrap()
            .into_body()
            .collect()
            .await;
        breaker.try_acquire().unwrap().failure();
        clock.advance(Duration::from_millis(2_500));
        let answer = svc.ready().await.unwrap().call(()).await.unwrap();
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.headers()["content-type"], "application/grpc");
        assert_eq!(answer.headers()["grpc-status"], "14");
        assert_eq!(answer.headers()["grpc-retry-pushback-ms"], "7500");
        let rejected = answer
            .extensions()
            .get::<Rejected>()
            .expect("the rejection is in the extensions");
        assert_eq!(rejected.retry_after(), Some(Duration::from_millis(7_500)));
        let body = answer.into_body().collect().await.unwrap();
        assert!(body.trailers().is_none());
        assert!(body.to_bytes().is_empty());
        assert_eq!(
            calls.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "rejected calls never ran"
        );
    });
}

#[test]
fn a_streaming_trial_holds_its_slot_until_its_status_or_its_drop() {
    futures::executor::block_on(async {
        let (breaker, clock) = breaker(1);
        let mut svc =
            GrpcCircuitBreakerLayer::new(Arc::clone(&breaker)).layer(service_fn(|(): ()| async {
                Ok::<_, Infallible>(response(200, None, vec![data(), trailers("0")]))
            }));
        breaker.try_acquire().unwrap().failure();
        clock.advance(Duration::from_secs(10));

        // The trial's head has arrived; its status has not: the round's one slot is taken.
        let trial = svc.ready().await.unwrap().call(()).await.unwrap();
        assert_eq!(breaker.state(), State::HalfOpen);
        let second = svc.ready().await.unwrap().call(()).await.unwrap();
        assert_eq!(second.headers()["grpc-status"], "14", "every trial taken");
        assert!(second.headers().get("grpc-retry-pushback-ms").is_none());

        // Dropped before its trailers: counts as nothing and gives the slot back.
        drop(trial);
        assert_eq!(breaker.state(), State::HalfOpen);
        let trial = svc.ready().await.unwrap().call(()).await.unwrap();
        assert_eq!(breaker.state(), State::HalfOpen);
        let _ = trial.into_body().collect().await.unwrap();
        assert_eq!(breaker.state(), State::Closed, "its trailers said OK");
    });
}

#[test]
fn readiness_is_the_inner_services() {
    let (breaker, _clock) = breaker(1);
    breaker.force_open();
    let mut svc = GrpcCircuitBreakerLayer::new(breaker).layer(tower::service_fn(|(): ()| async {
        Ok::<_, Infallible>(response(200, Some("0"), vec![]))
    }));
    let waker = futures::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    assert!(
        svc.poll_ready(&mut cx).is_ready(),
        "open is not \"not ready\""
    );
}
