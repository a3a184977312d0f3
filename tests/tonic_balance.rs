//! A balanced tonic channel whose endpoints are protected, end to end: ten real tonic servers
//! on loopback ports, a tonic `Channel` per endpoint (with its timeout), the `balance`
//! feature's per-endpoint layer under tower's p2c, `OutlierDetector::grpc_guard` on top, and
//! `tonic::client::Grpc` as the caller. The pool's intervals run on the manual clock.
#![cfg(all(feature = "tonic", feature = "balance"))]

#[path = "support/grpc.rs"]
mod grpc;

use std::sync::Arc;
use std::time::Duration;

use grpc::{say_to, serve, Answer, Server, Transport};
use protego_breaker::integrations::balance::{OutlierDetection, OutlierDetector};
use protego_breaker::integrations::tonic::FailureCodes;
use protego_breaker::{ManualClock, Registry};
use tonic::Code;
use tower::balance::p2c::Balance;
use tower::discover::Change;
use tower::load::{CompleteOnResponse, PendingRequestsDiscover};

const INTERVAL: Duration = Duration::from_secs(10);
const EJECTION: Duration = Duration::from_secs(30);
/// The hanging endpoint's calls end here (the channel's own timeout).
const TIMEOUT: Duration = Duration::from_millis(200);

/// A protected balanced channel over `servers`, endpoint `i` keyed `i`.
fn balanced(
    servers: &[Server],
    detection: OutlierDetection,
) -> (
    OutlierDetector<ManualClock>,
    ManualClock,
    tonic::client::Grpc<impl Transport>,
) {
    let clock = ManualClock::new();
    let registry = Arc::new(Registry::with_clock(clock.clone()));
    let detector = OutlierDetector::new(registry, "echo", detection);
    let endpoints: Vec<_> = servers
        .iter()
        .enumerate()
        .map(|(i, server)| {
            let channel = grpc::channel(server, TIMEOUT);
            Ok::<_, std::convert::Infallible>(Change::Insert(i, channel))
        })
        .collect();
    let discover = detector
        .layer()
        .classify(FailureCodes::DEFAULT)
        .discover(futures::stream::iter(endpoints));
    let balance = Balance::new(PendingRequestsDiscover::new(
        discover,
        CompleteOnResponse::default(),
    ));
    let client = tonic::client::Grpc::new(detector.grpc_guard(balance));
    (detector, clock, client)
}

/// `calls` calls, one after another: how many succeeded.
async fn traffic(client: &mut tonic::client::Grpc<impl Transport>, calls: usize) -> usize {
    let mut ok = 0;
    for n in 0..calls {
        let call = tokio::time::timeout(Duration::from_secs(5), say_to(client, "hi"));
        let result = call.await.unwrap_or_else(|_| panic!("call {n} hung"));
        ok += usize::from(result.is_ok());
    }
    ok
}

#[tokio::test]
async fn a_bad_and_a_hanging_endpoint_are_ejected_the_good_never_and_a_recovered_one_returns() {
    let mut servers = Vec::new();
    for i in 0..10 {
        servers.push(
            serve(match i {
                3 => Answer::Code(Code::Unavailable),
                7 => Answer::Hang,
                _ => Answer::Code(Code::Ok),
            })
            .await,
        );
    }
    // Two bad of ten: 20 % may be ejected at once (A50's default of 10 % would spare one).
    let detection = OutlierDetection::builder()
        .interval(INTERVAL)
        .base_ejection_time(EJECTION)
        .max_ejection_percent(20)
        .build()
        .unwrap();
    let (detector, clock, mut client) = balanced(&servers, detection);
    let bad = ["3".to_owned(), "7".to_owned()];

    // Two intervals of traffic: both bad endpoints out by the end, no good one ever.
    for interval in 1..=2 {
        traffic(&mut client, 200).await;
        let ejected = detector.ejected();
        assert!(
            ejected.iter().all(|e| bad.contains(e)),
            "interval {interval}: {ejected:?}"
        );
        clock.advance(INTERVAL);
        detector.tick();
    }
    assert_eq!(detector.ejected(), bad);
    let calls = |i: usize| servers[i].downstream.calls();
    let (calls_3, calls_7) = (calls(3), calls(7));
    assert_eq!(traffic(&mut client, 50).await, 50, "every call succeeds");
    assert_eq!(
        (calls(3), calls(7)),
        (calls_3, calls_7),
        "ejected endpoints get no calls"
    );

    // Endpoint 3 recovers; after its ejection time it takes a trial, passes, and is back.
    servers[3].downstream.set(Answer::Code(Code::Ok));
    clock.advance(EJECTION);
    detector.tick();
    // Each takes its trial: 3 passes and is back in rotation; 7 still hangs, so its trial
    // times out and ejects it again, for longer.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while detector.ejected() != ["7"] || calls(3) < calls_3 + 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "ejected {:?}, endpoint 3 served {} calls since",
            detector.ejected(),
            calls(3) - calls_3
        );
        traffic(&mut client, 10).await;
    }
    assert_eq!(detector.multiplier("7"), Some(2));
    assert_eq!(traffic(&mut client, 50).await, 50);
}

#[tokio::test]
async fn with_every_endpoint_ejected_a_call_gets_unavailable_with_pushback_at_once() {
    let mut servers = Vec::new();
    for _ in 0..3 {
        servers.push(serve(Answer::Code(Code::Unavailable)).await);
    }
    let detection = OutlierDetection::builder()
        .base_ejection_time(EJECTION)
        .max_ejection_percent(100)
        .build()
        .unwrap();
    let (detector, _clock, mut client) = balanced(&servers, detection);

    for _ in 0..100 {
        if detector.ejected().len() == 3 {
            break;
        }
        let status = say_to(&mut client, "hi").await.unwrap_err();
        assert_eq!(status.code(), Code::Unavailable);
    }
    assert_eq!(detector.ejected().len(), 3);
    let served: usize = servers.iter().map(|s| s.downstream.calls()).sum();

    let status = say_to(&mut client, "hi").await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(
        status
            .metadata()
            .get("grpc-retry-pushback-ms")
            .map(|v| v.to_str().unwrap()),
        Some("30000"),
        "{status:?}"
    );
    let served_after: usize = servers.iter().map(|s| s.downstream.calls()).sum();
    assert_eq!(served_after, served, "answered without a server");
}
