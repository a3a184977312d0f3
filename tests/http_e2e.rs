//! End to end: an axum app on a loopback port, a real HTTP client, and a route going
//! 200 -> 500 -> 503 with `Retry-After` -> (the manual clock moves) trial -> 200.
#![cfg(feature = "http")]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use http_body_util::Empty;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use protego_breaker::integrations::http::HttpCircuitBreakerLayer;
use protego_breaker::{Config, ManualClock, Registry};

#[derive(Default)]
struct Downstream {
    failing: AtomicBool,
    calls: AtomicUsize,
}

async fn quote(State(down): State<Arc<Downstream>>) -> StatusCode {
    down.calls.fetch_add(1, Ordering::SeqCst);
    if down.failing.load(Ordering::SeqCst) {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

#[tokio::test]
async fn a_route_goes_from_200_to_503_with_retry_after_and_back() {
    let clock = ManualClock::new();
    let config = Config::builder()
        .failure_threshold(2)
        .reset_timeout(Duration::from_secs(30))
        .half_open_retries(1)
        .build()
        .unwrap();
    let registry = Arc::new(Registry::with_clock(clock.clone()).with_default_config(config));
    let down = Arc::new(Downstream::default());
    let app = Router::new()
        .route("/quote", get(quote))
        .route_layer(HttpCircuitBreakerLayer::named(
            Arc::clone(&registry),
            "quote",
        ))
        .route("/other", get(|| async { "fine" }))
        .with_state(Arc::clone(&down));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let get = |path: &'static str| {
        let client = client.clone();
        async move {
            let uri = format!("http://{addr}{path}").parse().unwrap();
            let response = client.get(uri).await.expect("the server answers");
            let retry_after = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            (response.status().as_u16(), retry_after)
        }
    };

    assert_eq!(get("/quote").await, (200, None));
    down.failing.store(true, Ordering::SeqCst);
    assert_eq!(get("/quote").await, (500, None));
    assert_eq!(
        get("/quote").await,
        (500, None),
        "the second failure opens the circuit"
    );
    let calls = down.calls.load(Ordering::SeqCst);

    assert_eq!(get("/quote").await, (503, Some("30".to_owned())));
    clock.advance(Duration::from_millis(10_500));
    assert_eq!(
        get("/quote").await,
        (503, Some("20".to_owned())),
        "19.5 s, rounded up"
    );
    assert_eq!(
        down.calls.load(Ordering::SeqCst),
        calls,
        "rejected requests never ran"
    );
    assert_eq!(
        get("/other").await,
        (200, None),
        "other routes are not protected by it"
    );

    down.failing.store(false, Ordering::SeqCst);
    clock.advance(Duration::from_millis(19_500));
    assert_eq!(
        get("/quote").await,
        (200, None),
        "the half-open trial succeeds"
    );
    assert_eq!(down.calls.load(Ordering::SeqCst), calls + 1);
    assert_eq!(get("/quote").await, (200, None), "closed again");
    assert_eq!(
        registry.get("quote").unwrap().state(),
        protego_breaker::State::Closed
    );
    server.abort();
}

/// A 500 that pushes back with `Retry-After` is overload: the breaker sheds (closed, with a
/// shedding limit) and does not open, where a plain 500 at the same threshold opens it.
#[tokio::test]
async fn a_server_error_with_retry_after_is_overload_not_an_outage() {
    let config = Config::builder().failure_threshold(1).build().unwrap();
    let registry = Arc::new(Registry::with_clock(ManualClock::new()).with_default_config(config));
    let app = Router::new()
        .route(
            "/busy",
            get(|| async {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    [("retry-after", "1")],
                    "busy",
                )
            }),
        )
        .route_layer(HttpCircuitBreakerLayer::named(
            Arc::clone(&registry),
            "busy",
        ))
        .route(
            "/broken",
            get(|| async { StatusCode::INTERNAL_SERVER_ERROR }).route_layer(
                HttpCircuitBreakerLayer::named(Arc::clone(&registry), "broken"),
            ),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    for path in ["/busy", "/broken"] {
        let uri = format!("http://{addr}{path}").parse().unwrap();
        let response = client.get(uri).await.expect("the server answers");
        assert_eq!(response.status().as_u16(), 500, "{path}");
    }
    let busy = registry.get("busy").unwrap();
    assert_eq!(busy.state(), protego_breaker::State::Closed);
    assert!(busy.shed_limit().is_some(), "the pushback made it shed");
    assert_eq!(
        registry.get("broken").unwrap().state(),
        protego_breaker::State::Open,
        "a plain 500 at the same threshold is a failure"
    );
    server.abort();
}
