//! Ten local HTTP endpoints behind tower's p2c balancer; one starts answering 500 at t = 2 s.
//! Two clients send the same traffic, one through plain p2c and one with the outlier layer,
//! and the success rate of each is printed every second for six seconds.
//!
//! `cargo run --example balance --features balance,http`

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::routing::get;
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use http_body_util::Empty;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use protego_breaker::integrations::balance::{OutlierDetection, OutlierDetector};
use protego_breaker::integrations::http::ServerErrorsAsFailures;
use protego_breaker::Registry;
use tower::balance::p2c::Balance;
use tower::discover::ServiceList;
use tower::load::{CompleteOnResponse, PendingRequestsDiscover};
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};

/// Calls that succeeded and calls made in the current second.
#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    all: AtomicU64,
}

impl Tally {
    fn take(&self) -> f64 {
        let ok = self.ok.swap(0, Ordering::Relaxed);
        let all = self.all.swap(0, Ordering::Relaxed).max(1);
        #[allow(clippy::cast_precision_loss)]
        let rate = ok as f64 / all as f64 * 100.0;
        rate
    }
}

/// Sends calls through `client`, 16 in flight, until `until`.
async fn traffic<S, R, E>(mut client: S, tally: Arc<Tally>, until: Instant)
where
    S: Service<(), Response = http::Response<R>, Error = E>,
    E: std::fmt::Debug,
{
    let mut in_flight = FuturesUnordered::new();
    let count = |done: Result<http::Response<R>, E>| {
        tally.all.fetch_add(1, Ordering::Relaxed);
        if done.is_ok_and(|r| r.status().is_success()) {
            tally.ok.fetch_add(1, Ordering::Relaxed);
        }
    };
    while Instant::now() < until {
        while in_flight.len() >= 16 {
            if let Some(done) = in_flight.next().await {
                count(done);
            }
        }
        let ready = client.ready().await.expect("the balancer does not fail");
        in_flight.push(ready.call(()));
    }
    while let Some(done) = in_flight.next().await {
        count(done);
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // Ten servers on loopback; server 3 fails once `bad` is set.
    let bad = Arc::new(AtomicBool::new(false));
    let mut addrs = Vec::new();
    let mut servers = Vec::new();
    for i in 0..10 {
        let bad = Arc::clone(&bad);
        let app = axum::Router::new().route(
            "/",
            get(move || async move {
                if i == 3 && bad.load(Ordering::Relaxed) {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        addrs.push(listener.local_addr()?);
        servers.push(tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        }));
    }

    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let endpoints = || {
        addrs
            .iter()
            .map(|addr| {
                let client = client.clone();
                let uri = format!("http://{addr}/");
                ServiceBuilder::new()
                    .timeout(Duration::from_millis(500))
                    .service_fn(move |()| {
                        client.request(http::Request::get(uri.as_str()).body(Empty::new()).unwrap())
                    })
            })
            .collect::<Vec<_>>()
    };

    // Plain p2c.
    let plain = Balance::new(PendingRequestsDiscover::new(
        ServiceList::new(endpoints()),
        CompleteOnResponse::default(),
    ));

    // p2c with a breaker per endpoint and A50's rules (a 1 s interval for the demo).
    let registry = Arc::new(Registry::new());
    let detection = OutlierDetection::builder()
        .interval(Duration::from_secs(1))
        .base_ejection_time(Duration::from_secs(30))
        .build()?;
    let detector = OutlierDetector::new(Arc::clone(&registry), "backend", detection);
    detector.on_event(|e| println!("      event: endpoint {} {:?}", e.endpoint(), e.kind()));
    let discover = detector
        .layer()
        .classify(ServerErrorsAsFailures)
        .discover(ServiceList::new(endpoints()));
    let protected = detector.guard(Balance::new(PendingRequestsDiscover::new(
        discover,
        CompleteOnResponse::default(),
    )));
    let driver = tokio::spawn(detector.drive(tokio::time::sleep));

    let start = Instant::now();
    let until = start + Duration::from_secs(6);
    let (without, with) = (Arc::new(Tally::default()), Arc::new(Tally::default()));
    let a = tokio::spawn(traffic(plain, Arc::clone(&without), until));
    let b = tokio::spawn(traffic(protected, Arc::clone(&with), until));

    println!("  t   plain p2c   with ejection   (endpoint 3 answers 500 from t = 2 s)");
    for second in 1..=6 {
        tokio::time::sleep_until((start + Duration::from_secs(second)).into()).await;
        if second == 2 {
            bad.store(true, Ordering::Relaxed);
        }
        println!(
            "{second:>3} s  {:>8.2} %  {:>12.2} %",
            without.take(),
            with.take()
        );
    }
    a.await?;
    b.await?;
    println!("ejected now: {:?}", detector.ejected());
    driver.abort();
    for server in servers {
        server.abort();
    }
    Ok(())
}
