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
