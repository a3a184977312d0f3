//! A measurement on loopback (ignored: 3 minutes), quoted in benches/README.md: ten axum
//! servers behind p2c with the pool's layer (a 1 s timeout per endpoint) and guard under
//! `Buffer`; one endpoint fails every call, hangs, or fails one call in five (gray); 400
//! calls/s for 60 s, each its own task, the default rules (interval 10 s). Prints the success
//! rate of the calls started in the second 30 s, and over the whole run.
//! `PROTEGO_LOOPBACK_BEFORE=1` runs the gray endpoint alone with the pool's rules before #29
//! (one trial, back at the deadline, no probation); `PROTEGO_LOOPBACK_SEED=N` changes which
//! calls the gray endpoint fails; `PROTEGO_LOOPBACK_GRAY=1` runs the gray endpoint alone.
//! `cargo test --release --features balance,http --test balance_loopback -- --ignored --nocapture`
#![cfg(all(feature = "balance", feature = "http"))]

#[path = "support/http_server.rs"]
mod http_server;

use std::sync::Arc;
use std::time::{Duration, Instant};

use http_server::{endpoints, Server, FAIL, GRAY, HANG, OK};
use protego_breaker::integrations::balance::{OutlierDetection, OutlierDetector, ReturnAt};
use protego_breaker::integrations::http::ServerErrorsAsFailures;
use protego_breaker::Registry;
use tower::balance::p2c::Balance;
use tower::load::{CompleteOnResponse, PendingRequestsDiscover};
use tower::{ServiceBuilder, ServiceExt};

/// (ok, all) of the calls started in the second half, and over the run.
async fn run(bad: u8, seconds: u64, detection: OutlierDetection) -> ((u32, u32), (u32, u32)) {
    let mut servers = Vec::new();
    for i in 0..10 {
        servers.push(Server::start(if i == 3 { bad } else { OK }).await);
    }
    let detector = OutlierDetector::new(Arc::new(Registry::new()), "loopback", detection);
    let driver = tokio::spawn(detector.drive(tokio::time::sleep));
    let discover = detector
        .layer()
        .classify(ServerErrorsAsFailures)
        .endpoint_layer(tower::timeout::TimeoutLayer::new(Duration::from_secs(1)))
        .discover(futures::stream::iter(endpoints(&servers)));
    let balance = Balance::new(PendingRequestsDiscover::new(
        discover,
        CompleteOnResponse::default(),
    ));
    let pool = ServiceBuilder::new()
        .buffer(1024)
        .service(detector.guard(balance));
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_micros(2_500));
    let mut calls = Vec::new();
    while start.elapsed() < Duration::from_secs(seconds) {
        tick.tick().await;
        let late = start.elapsed() >= Duration::from_secs(seconds / 2);
        // The call's own future spawned (an async block around a `Buffer` call trips rustc's
        // higher-ranked `Send` check on `E: Into<BoxError>`, tower's as much as ours).
        calls.push((late, tokio::spawn(pool.clone().oneshot(()))));
    }
    let (mut late_ok, mut late_all, mut ok, mut all) = (0, 0, 0, 0);
    for (late, call) in calls {
        let answer = tokio::time::timeout(Duration::from_secs(5), call)
            .await
            .expect("bounded");
        let success = matches!(answer.unwrap(), Ok(r) if r.status() == 200);
        (ok, all) = (ok + u32::from(success), all + 1);
        if late {
            (late_ok, late_all) = (late_ok + u32::from(success), late_all + 1);
        }
    }
    driver.abort();
    ((late_ok, late_all), (ok, all))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement on loopback: 3 minutes"]
async fn loopback_figures() {
    let seconds = std::env::var("PROTEGO_LOOPBACK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let before = std::env::var("PROTEGO_LOOPBACK_BEFORE").is_ok();
    let scenarios: &[(&str, u8)] = if before {
        &[("failing one call in five (rules before #29)", GRAY)]
    } else if std::env::var("PROTEGO_LOOPBACK_GRAY").is_ok() {
        &[("failing one call in five", GRAY)]
    } else {
        &[
            ("failing every call", FAIL),
            ("hanging", HANG),
            ("failing one call in five", GRAY),
        ]
    };
    for &(what, bad) in scenarios {
        let detection = if before {
            OutlierDetection::builder()
                .return_at(ReturnAt::Deadline)
                .probation(false)
                .build()
                .unwrap()
        } else {
            OutlierDetection::default()
        };
        let ((late_ok, late), (ok, all)) = run(bad, seconds, detection).await;
        println!(
            "one endpoint {what}: second half {:.3} % ({late_ok} of {late}), whole run {:.3} % ({ok} of {all})",
            f64::from(late_ok) / f64::from(late) * 100.0,
            f64::from(ok) / f64::from(all) * 100.0,
        );
    }
}
