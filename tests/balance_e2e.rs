//! End to end on loopback: ten axum servers behind tower's p2c balancer with the outlier layer;
//! one answers 500, one hangs (the client times out). The bad ones are ejected within two
//! intervals, the good ones never, and a bad one that recovers returns after its ejection time.
#![cfg(all(feature = "balance", feature = "http"))]

#[path = "support/http_server.rs"]
mod http_server;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::stream::FuturesUnordered;
use futures::StreamExt;
use http_server::{endpoints, Server, FAIL, HANG, OK};
use hyper::body::Incoming;
use protego_breaker::integrations::balance::{OutlierDetection, OutlierDetector, OutlierEventKind};
use protego_breaker::integrations::http::ServerErrorsAsFailures;
use protego_breaker::Registry;
use tower::balance::p2c::Balance;
use tower::load::{CompleteOnResponse, PendingRequestsDiscover};
use tower::{Service, ServiceExt};

/// Aborts a spawned task when dropped.
struct Abort(tokio::task::JoinHandle<()>);

impl Drop for Abort {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// When, which endpoint, what.
type Event = (Instant, String, OutlierEventKind);

/// When `endpoint` first saw an event that `what` picks.
fn first(events: &[Event], endpoint: &str, what: fn(&OutlierEventKind) -> bool) -> Option<Instant> {
    events
        .iter()
        .find(|(_, e, k)| e == endpoint && what(k))
        .map(|(at, _, _)| *at)
}

fn ejected(kind: &OutlierEventKind) -> bool {
    matches!(kind, OutlierEventKind::Ejected { .. })
}

fn returned(kind: &OutlierEventKind) -> bool {
    *kind == OutlierEventKind::Returned
}

/// tower's p2c over the servers, with the detector's layer (5xx and errors are failures) and
/// each endpoint's calls timed out after `timeout` (its own middleware, through the layer).
fn p2c(
    detector: &OutlierDetector,
    servers: &[Server],
    timeout: Duration,
) -> impl Service<(), Response = http::Response<Incoming>, Error = tower::BoxError> {
    let discover = detector
        .layer()
        .classify(ServerErrorsAsFailures)
        .endpoint_layer(tower::timeout::TimeoutLayer::new(timeout))
        .discover(futures::stream::iter(endpoints(servers)));
    Balance::new(PendingRequestsDiscover::new(
        discover,
        CompleteOnResponse::default(),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p2c_with_the_layer_ejects_the_bad_endpoints_and_only_them() {
    let mut servers = Vec::new();
    for mode in [OK, FAIL, HANG, OK, OK, OK, OK, OK, OK, OK] {
        servers.push(Server::start(mode).await);
    }
    let interval = Duration::from_millis(300);
    let ejection = Duration::from_secs(1);
    let detection = OutlierDetection::builder()
        .interval(interval)
        .base_ejection_time(ejection)
        .max_ejection_percent(20)
        .build()
        .unwrap();
    let registry = Arc::new(Registry::new());
    let detector = OutlierDetector::new(Arc::clone(&registry), "backend", detection);
    let events: Arc<Mutex<Vec<Event>>> = Arc::default();
    let log = Arc::clone(&events);
    detector.on_event(move |e| {
        log.lock()
            .unwrap()
            .push((Instant::now(), e.endpoint().to_owned(), e.kind()));
    });
    let _driver = Abort(tokio::spawn(detector.drive(tokio::time::sleep)));

    let mut balancer = detector.guard(p2c(&detector, &servers, Duration::from_millis(100)));

    let start = Instant::now();
    let mut in_flight = FuturesUnordered::new();
    let (mut ok, mut failed) = (0_u32, 0_u32);
    let mut recovered = false;
    // Bounded: at most 6 s and 200,000 calls, 16 in flight.
    for _ in 0..200_000 {
        if start.elapsed() > Duration::from_secs(6) {
            break;
        }
        if !recovered && detector.ejected().contains(&"1".to_owned()) {
            servers[1].set(OK);
            recovered = true;
        }
        if first(&events.lock().unwrap(), "1", returned).is_some() {
            break;
        }
        while in_flight.len() >= 16 {
            match in_flight.next().await {
                Some(Ok(r)) if http::Response::status(&r).is_success() => ok += 1,
                _ => failed += 1,
            }
        }
        let ready = balancer.ready().await.expect("the balancer does not fail");
        in_flight.push(ready.call(()));
    }
    while let Some(done) = in_flight.next().await {
        if done.is_ok_and(|r| r.status().is_success()) {
            ok += 1;
        } else {
            failed += 1;
        }
    }

    let events = events.lock().unwrap().clone();
    let failing = first(&events, "1", ejected).expect("the endpoint answering 500 is ejected");
    let hanging = first(&events, "2", ejected).expect("the hanging endpoint is ejected");
    assert!(failing - start <= 2 * interval, "{:?}", failing - start);
    assert!(hanging - start <= 2 * interval, "{:?}", hanging - start);
    for (_, endpoint, kind) in &events {
        assert!(
            endpoint == "1" || endpoint == "2",
            "a good endpoint was touched: {endpoint} {kind:?}"
        );
    }
    let back = first(&events, "1", returned).expect("the recovered endpoint returns");
    assert!(
        back - failing >= ejection.saturating_sub(Duration::from_millis(10)),
        "returned after {:?}, before its ejection time",
        back - failing
    );
    let rate = f64::from(ok) / f64::from(ok + failed);
    assert!(
        rate > 0.99,
        "success rate {rate} ({ok} ok, {failed} failed)"
    );
    assert!(registry.get("backend/5").is_some());
    drop(servers);
}

#[tokio::test(flavor = "current_thread")]
async fn every_endpoint_ejected_answers_at_once_instead_of_hanging() {
    let servers = [Server::start(FAIL).await, Server::start(FAIL).await];
    let detection = OutlierDetection::builder()
        .consecutive_5xx(Some(1))
        .max_ejection_percent(100)
        .build()
        .unwrap();
    let detector = OutlierDetector::new(Arc::new(Registry::new()), "pair", detection);
    let mut balancer = detector.http_guard(tower::util::MapResponse::new(
        p2c(&detector, &servers, Duration::from_secs(2)),
        |r: http::Response<hyper::body::Incoming>| r.map(|_| String::new()),
    ));
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let answer = tokio::time::timeout(Duration::from_secs(2), async {
            balancer.ready().await.unwrap().call(()).await.unwrap()
        })
        .await
        .expect("never a hang");
        statuses.push((
            answer.status().as_u16(),
            answer.headers().get("retry-after").cloned(),
        ));
    }
    assert_eq!(statuses[0].0, 500);
    assert_eq!(statuses[1].0, 500);
    assert_eq!(statuses[2].0, 503, "{statuses:?}");
    // Ejected just after the pool's start, for 30 s: back at the first sweep after that, the
    // fourth (sweeps every 10 s from the start), so 40 s rounded up.
    assert_eq!(statuses[2].1.as_ref().unwrap(), "40");
    assert_eq!(statuses[3].0, 503);
}
