//! End to end on loopback: the axum example's `/metrics` scraped by a real HTTP client, and the
//! admin service (snapshot, health, operator actions) mounted in an axum app.
#![cfg(all(feature = "admin", feature = "metrics"))]

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use protego_breaker::integrations::admin::AdminService;
use protego_breaker::{CircuitBreaker, Config, ManualClock, Registry, State};

#[allow(dead_code)] // its `main`
#[path = "../examples/axum.rs"]
mod example;

type Answer = (u16, String);

/// Serves `app` on a loopback port; the returned task is the server, aborted by the caller.
async fn serve(app: axum::Router) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, server)
}

async fn request(addr: std::net::SocketAddr, method: &str, path: &str) -> Answer {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let req = hyper::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .body(Full::new(Bytes::from_static(b"ignored")))
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(10), client.request(req))
        .await
        .expect("answered in time")
        .expect("the server answers");
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn the_example_serves_state_and_call_series_to_a_prometheus_scrape() {
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .unwrap();
    let registry = Arc::new(Registry::new());
    let (addr, server) = serve(example::app(&registry, prometheus)).await;

    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let quote = client
        .get(format!("http://{addr}/quote").parse().unwrap())
        .await
        .unwrap();
    assert_eq!(
        quote.status(),
        200,
        "the downstream is up for its first 5 s"
    );

    let (status, scrape) = request(addr, "GET", "/metrics").await;
    assert_eq!(status, 200);
    let lines: Vec<&str> = scrape.lines().collect();
    for series in [
        r#"protego_circuitbreaker_state{name="quote",state="closed"} 1"#,
        r#"protego_circuitbreaker_state{name="quote",state="open"} 0"#,
        r#"protego_circuitbreaker_state{name="quote",state="half_open"} 0"#,
        r#"protego_circuitbreaker_calls_total{name="quote",kind="successful"} 1"#,
        r#"protego_circuitbreaker_calls_total{name="quote",kind="not_permitted"} 0"#,
    ] {
        assert!(lines.contains(&series), "{series} missing from:\n{scrape}");
    }
    server.abort();
}

#[tokio::test]
async fn the_admin_service_shows_acts_and_answers_health_over_http() {
    let clock = ManualClock::new();
    let config = Config::builder()
        .failure_threshold(1)
        .totals(true)
        .build()
        .unwrap();
    let registry = Arc::new(Registry::with_clock(clock.clone()).with_default_config(config));
    registry.get_or_create("search");
    registry.get_or_create("pay ments"); // a name that needs escaping in a path
    let app = axum::Router::new()
        .nest_service("/admin", AdminService::new(Arc::clone(&registry)))
        .nest_service(
            "/ops",
            AdminService::new(Arc::clone(&registry)).allow_mutations(true),
        );
    let (addr, server) = serve(app).await;

    let (status, body) = request(addr, "GET", "/admin/breakers").await;
    assert_eq!(status, 200);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let names: Vec<&str> = json["breakers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["pay ments", "search"], "sorted by name");
    assert_eq!(json["breakers"][1]["state"], "closed");
    assert_eq!(json["breakers"][1]["totals"]["admitted"], 0);

    assert_eq!(
        request(addr, "GET", "/admin/health").await,
        (200, r#"{"status":"up","open":[]}"#.to_owned())
    );

    // The read-only mount refuses actions; the other one acts.
    let (status, _) = request(addr, "POST", "/admin/breakers/search/force-open").await;
    assert_eq!(status, 403);
    assert_eq!(registry.get("search").unwrap().state(), State::Closed);
    let (status, body) = request(addr, "POST", "/ops/breakers/pay%20ments/force-open").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""state":"forced_open""#), "{body}");

    // A real trip shows its time to half-open.
    registry
        .get("search")
        .unwrap()
        .try_acquire()
        .unwrap()
        .failure();
    clock.advance(Duration::from_secs(20));
    let (status, body) = request(addr, "GET", "/admin/breakers/search").await;
    assert_eq!(status, 200);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["state"], "open");
    assert_eq!(json["time_until_half_open_ms"], 40_000);

    assert_eq!(
        request(addr, "GET", "/admin/health").await,
        (
            503,
            r#"{"status":"down","open":["pay ments","search"]}"#.to_owned()
        )
    );

    let (status, _) = request(addr, "POST", "/ops/breakers/pay%20ments/close").await;
    assert_eq!(status, 200);
    let (status, _) = request(addr, "POST", "/ops/breakers/search/disable").await;
    assert_eq!(status, 200);
    assert_eq!(registry.get("search").unwrap().state(), State::Disabled);
    assert_eq!(request(addr, "GET", "/admin/health").await.0, 200);

    // Wrong requests: clear errors, never a panic.
    for (method, path, expected) in [
        ("GET", "/admin/breakers/nobody", 404),
        ("POST", "/ops/breakers/nobody/close", 404),
        ("POST", "/ops/breakers/search/explode", 400),
        ("POST", "/ops/breakers/bad%zzname/close", 400),
        ("GET", "/ops/breakers/search/close", 405),
        ("DELETE", "/admin/breakers", 405),
        ("GET", "/admin/elsewhere/deep/path", 404),
    ] {
        let (status, body) = request(addr, method, path).await;
        assert_eq!(status, expected, "{method} {path}: {body}");
        assert!(body.starts_with(r#"{"error":"#), "{body}");
    }
    server.abort();
}
