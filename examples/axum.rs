//! The Rust twin of the Django view in Protego's README: an axum app whose handler calls a
//! flaky downstream, protected per route by a registry breaker.
//!
//! ```sh
//! cargo run --example axum --features admin,metrics
//! # in another terminal, once a second:
//! while true; do curl -s -o /dev/null -w '%{http_code} %header{retry-after}\n' localhost:3000/quote; sleep 1; done
//! ```
//!
//! The downstream is up for 5 s, down for the next 10 s, then up again. Watch `/quote` answer
//! 200, then 500 three times (the failures that open the circuit), then 503 with `Retry-After`
//! counting down from 10 without the downstream being called, then (one trial) 200 again.
//! `/breakers` shows every breaker's state; `/metrics` is the Prometheus scrape
//! (`protego_circuitbreaker_state`, `..._calls_total`, `..._transitions_total`); `/admin/breakers`
//! and `/admin/health` are the read-only admin view.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use protego_breaker::integrations::admin::AdminService;
use protego_breaker::integrations::http::HttpCircuitBreakerLayer;
use protego_breaker::integrations::metrics::ExportMetrics;
use protego_breaker::{Config, Registry};

/// A downstream service that is down between 5 s and 15 s after the app starts.
struct Downstream {
    started: Instant,
}

impl Downstream {
    async fn quote(&self) -> Result<u32, &'static str> {
        tokio::task::yield_now().await; // a real call would go over the network here
        let t = self.started.elapsed();
        if t >= Duration::from_secs(5) && t < Duration::from_secs(15) {
            Err("downstream unavailable")
        } else {
            Ok(42)
        }
    }
}

type Shared = (Arc<Downstream>, Arc<Registry>);

async fn quote(State((downstream, _)): State<Shared>) -> (StatusCode, String) {
    match downstream.quote().await {
        Ok(q) => (StatusCode::OK, format!("quote: {q}\n")),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
    }
}

async fn breakers(State((_, registry)): State<Shared>) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for (name, m) in registry.metrics() {
        let _ = writeln!(
            out,
            "{name}: {} (consecutive failures {})",
            m.state, m.consecutive_failures
        );
    }
    out
}

/// The Prometheus scrape: call counts and rates brought up to date, then rendered.
fn scrape(registry: &Registry, prometheus: &PrometheusHandle) -> String {
    registry.publish_metrics();
    prometheus.render()
}

/// The app: `/quote` behind the `quote` breaker, `/breakers`, `/metrics` and the read-only
/// admin view under `/admin`. Metrics are exported for every breaker of `registry`.
pub(crate) fn app(registry: &Arc<Registry>, prometheus: PrometheusHandle) -> Router {
    registry.export_metrics();
    let state: Shared = (
        Arc::new(Downstream {
            started: Instant::now(),
        }),
        Arc::clone(registry),
    );
    let metrics_registry = Arc::clone(registry);
    Router::new()
        .route("/quote", get(quote))
        .route_layer(HttpCircuitBreakerLayer::named(
            Arc::clone(registry),
            "quote",
        ))
        .route("/breakers", get(breakers))
        .route(
            "/metrics",
            get(move || std::future::ready(scrape(&metrics_registry, &prometheus))),
        )
        .nest_service("/admin", AdminService::new(Arc::clone(registry)))
        .with_state(state)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::builder()
        .failure_threshold(3)
        .reset_timeout(Duration::from_secs(10))
        .half_open_retries(1)
        .build()?;
    let registry = Arc::new(Registry::new().with_default_config(config));
    let prometheus = PrometheusBuilder::new().install_recorder()?;
    let app = app(&registry, prometheus);

    let addr = std::env::var("PROTEGO_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!(
        "listening on http://{addr}: GET /quote once a second; /breakers, /metrics, /admin/health"
    );
    axum::serve(listener, app).await?;
    Ok(())
}
