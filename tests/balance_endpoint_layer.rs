//! Each endpoint's own middleware through `OutlierLayer::endpoint_layer`, on loopback: a
//! per-endpoint timeout makes a hanging endpoint's calls failures (it is ejected), a
//! per-endpoint concurrency limit holds every server to its limit under concurrent callers
//! (p2c picks another endpoint), and a layer of the user's own sees every endpoint's calls.
#![cfg(all(feature = "balance", feature = "http"))]

#[path = "support/http_server.rs"]
mod http_server;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http_server::{endpoints, Server, HANG, OK};
use protego_breaker::integrations::balance::{OutlierDetection, OutlierDetector};
use protego_breaker::integrations::http::ServerErrorsAsFailures;
use protego_breaker::Registry;
use tower::balance::p2c::Balance;
use tower::load::{CompleteOnResponse, PendingRequestsDiscover};
use tower::{BoxError, Layer, Service, ServiceBuilder, ServiceExt};

/// A metrics layer of the user's own: counts the calls of every service it wraps.
#[derive(Clone, Default)]
struct CountCalls(Arc<AtomicUsize>);

impl<S> Layer<S> for CountCalls {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Counted<S> {
        Counted(inner, Arc::clone(&self.0))
    }
}

#[derive(Clone)]
struct Counted<S>(S, Arc<AtomicUsize>);

impl<S: Service<R>, R> Service<R> for Counted<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> S::Future {
        self.1.fetch_add(1, Ordering::SeqCst);
        self.0.call(req)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_per_endpoint_timeout_ejects_the_endpoint_that_hangs() {
    let servers = [
        Server::start(OK).await,
        Server::start(HANG).await,
        Server::start(OK).await,
        Server::start(OK).await,
    ];
    let detection = OutlierDetection::builder()
        .max_ejection_percent(25)
        .build()
        .unwrap();
    let detector = OutlierDetector::new(Arc::new(Registry::new()), "backend", detection);
    let counted = CountCalls::default();
    let per_endpoint = ServiceBuilder::new()
        .layer(counted.clone())
        .timeout(Duration::from_millis(100))
        .into_inner();
    let discover = detector
        .layer()
        .classify(ServerErrorsAsFailures)
        .endpoint_layer(per_endpoint)
        .discover(futures::stream::iter(endpoints(&servers)));
    let mut balance = Balance::new(PendingRequestsDiscover::new(
        discover,
        CompleteOnResponse::default(),
    ));
    let (mut ok, mut timed_out) = (0, 0);
    for _ in 0..200 {
        let call = async { balance.ready().await?.call(()).await };
        // Bounded: without the per-endpoint timeout, a call to the hanging one never ends.
        match tokio::time::timeout(Duration::from_secs(5), call).await {
            Ok(Ok(response)) if response.status() == 200 => ok += 1,
            Ok(Err(e)) if e.is::<tower::timeout::error::Elapsed>() => timed_out += 1,
            other => panic!("unexpected: {other:?}"),
        }
    }
    assert_eq!(detector.ejected(), ["1"]);
    assert_eq!(timed_out, 5, "five timeouts in a row eject it: {ok} ok");
    assert_eq!(ok, 195);
    assert_eq!(
        counted.0.load(Ordering::SeqCst),
        200,
        "the user's layer saw every call"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_per_endpoint_concurrency_limit_holds_each_server_to_it() {
    let delay = Duration::from_millis(30);
    let mut servers = Vec::new();
    for _ in 0..3 {
        servers.push(Server::with_delay(OK, delay).await);
    }
    let detector = OutlierDetector::new(
        Arc::new(Registry::new()),
        "backend",
        OutlierDetection::default(),
    );
    let discover = detector
        .layer()
        .classify(ServerErrorsAsFailures)
        .endpoint_layer(tower::limit::ConcurrencyLimitLayer::new(2))
        .discover(futures::stream::iter(endpoints(&servers)));
    let balance = Balance::new(PendingRequestsDiscover::new(
        discover,
        CompleteOnResponse::default(),
    ));
    let client = ServiceBuilder::new()
        .buffer(64)
        .service(detector.guard(balance));
    let calls: Vec<_> = (0..24)
        .map(|_| tokio::spawn(client.clone().oneshot(())))
        .collect();
    for call in calls {
        let response = tokio::time::timeout(Duration::from_secs(10), call)
            .await
            .expect("bounded")
            .unwrap()
            .map_err(|e: BoxError| e.to_string())
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    assert_eq!(servers.iter().map(Server::seen).sum::<usize>(), 24);
    for server in &servers {
        assert!(server.most_at_once() <= 2, "{}", server.most_at_once());
    }
    assert!(
        servers.iter().any(|s| s.most_at_once() == 2),
        "the callers did overlap"
    );
}
