//! Soak: an axum app behind `HttpCircuitBreakerLayer` on a loopback port, 64 concurrent
//! clients for the whole run, and a downstream that goes down for 2 s and up for 3 s, again and
//! again, on the system clock. Asserts that half-open never lets more than `half_open_retries`
//! requests reach the downstream at once, that the circuit closes within `reset_timeout` plus
//! one trial round of each recovery, that every request ends in 200, 500 or 503 (with
//! `Retry-After` unless the circuit was half-open) with no hang and no reset connection, that
//! resident memory after the run is within a small bound of after the first cycle, and that the
//! registry holds only the route the clients use. Prints the latency the layer adds.
//!
//! Ignored by plain `cargo test` (it takes 20 s); `.ci/run` runs it:
//!
//! ```text
//! cargo test --release --features http --test soak -- --ignored --nocapture
//! PROTEGO_SOAK_SECS=300 cargo test --release --features http --test soak -- --ignored --nocapture
//! ```
#![cfg(feature = "http")]

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State as AxumState;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use http_body_util::Empty;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use protego_breaker::integrations::http::HttpCircuitBreakerLayer;
use protego_breaker::{Config, Registry, State};

const CLIENTS: usize = 64;
const DOWN: Duration = Duration::from_secs(2);
const UP: Duration = Duration::from_secs(3);
const RESET_TIMEOUT: Duration = Duration::from_millis(200);
const TRIALS: u32 = 3;
/// A failing downstream answers after this long (so trials overlap).
const FAILING_TAKES: Duration = Duration::from_millis(1);
/// Longest a request may take before it counts as hung.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// Scheduling slack on a loaded machine, added to the recovery bound.
const SLACK: Duration = Duration::from_millis(150);
/// Resident memory may grow this much between the end of the first cycle and the end.
const MEMORY_BOUND: u64 = 8 << 20;

/// The downstream: up or down, and how many requests it is serving now.
#[derive(Default)]
struct Downstream {
    down: AtomicBool,
    in_flight: AtomicUsize,
    /// The most requests in flight seen by a request that arrived while the circuit was
    /// half-open.
    max_in_flight_half_open: AtomicUsize,
    registry: Mutex<Option<Arc<Registry>>>,
}

async fn serve(AxumState(down): AxumState<Arc<Downstream>>, protected: bool) -> StatusCode {
    let counted = if protected {
        let now = down.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        let registry = down.registry.lock().unwrap().clone();
        if registry.and_then(|r| r.get("/quote")).map(|b| b.state()) == Some(State::HalfOpen) {
            down.max_in_flight_half_open
                .fetch_max(now, Ordering::SeqCst);
        }
        true
    } else {
        false
    };
    let status = if down.down.load(Ordering::SeqCst) {
        tokio::time::sleep(FAILING_TAKES).await;
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        tokio::task::yield_now().await;
        StatusCode::OK
    };
    if counted {
        down.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
    status
}

/// What the clients saw.
#[derive(Default)]
struct Seen {
    ok: usize,
    failed: usize,
    rejected: usize,
    /// 503s without `Retry-After`: (sent, answered), to be matched with half-open stretches.
    rejected_without_header: Vec<(Instant, Instant)>,
    other_status: Vec<u16>,
    hung: usize,
    broken: Vec<String>,
}

/// A latency histogram allocated up front (so it does not grow with the run): 1 µs buckets up
/// to 4 ms, then 64 µs buckets up to about 70 ms, then one bucket for the rest.
struct Histogram(Vec<AtomicU64>);

const FINE: u64 = 4096;
const COARSE: u64 = 1024;

impl Histogram {
    fn new() -> Self {
        Histogram((0..=FINE + COARSE).map(|_| AtomicU64::new(0)).collect())
    }

    fn record(&self, us: u64) {
        let at = if us < FINE {
            us
        } else {
            FINE + ((us - FINE) / 64).min(COARSE)
        };
        self.0[usize::try_from(at).unwrap()].fetch_add(1, Ordering::Relaxed);
    }

    fn count(&self) -> u64 {
        self.0.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// The lower edge (µs) of the bucket holding the `p` quantile.
    fn percentile(&self, p: f64) -> u64 {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let rank = (self.count() as f64 * p).ceil() as u64;
        let mut seen = 0;
        for (at, c) in (0u64..).zip(&self.0) {
            seen += c.load(Ordering::Relaxed);
            if seen >= rank.max(1) {
                return if at < FINE {
                    at
                } else {
                    FINE + (at - FINE) * 64
                };
            }
        }
        0
    }
}

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm
        .split_whitespace()
        .nth(1)
        .and_then(|pages| pages.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// One client: requests until the deadline (and at most 10 million), one in four without
/// the layer; what it saw.
async fn client_loop(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>,
    addr: std::net::SocketAddr,
    n: usize,
    deadline: Instant,
    down: &Downstream,
    protected_us: &Histogram,
    plain_us: &Histogram,
) -> Seen {
    let mut mine = Seen::default();
    // Bounded in count as well as in time.
    for i in 0..10_000_000_u64 {
        if Instant::now() >= deadline {
            break;
        }
        let plain = (i + u64::try_from(n).unwrap()) % 4 == 0;
        let path = if plain { "/plain" } else { "/quote" };
        let uri = format!("http://{addr}{path}").parse().unwrap();
        let up_before = !down.down.load(Ordering::SeqCst);
        let sent = Instant::now();
        let answer = tokio::time::timeout(REQUEST_TIMEOUT, client.get(uri)).await;
        let answered = Instant::now();
        let response = match answer {
            Err(_) => {
                mine.hung += 1;
                continue;
            }
            Ok(Err(e)) => {
                mine.broken.push(e.to_string());
                continue;
            }
            Ok(Ok(response)) => response,
        };
        let up_after = !down.down.load(Ordering::SeqCst);
        match response.status().as_u16() {
            200 => {
                mine.ok += 1;
                if up_before && up_after {
                    let us = u64::try_from((answered - sent).as_micros()).unwrap();
                    if plain {
                        plain_us.record(us);
                    } else {
                        protected_us.record(us);
                    }
                }
            }
            500 => mine.failed += 1,
            503 => {
                mine.rejected += 1;
                if response.headers().get("retry-after").is_none() {
                    mine.rejected_without_header.push((sent, answered));
                }
                // A client that was told to come back later waits a little.
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            other => mine.other_status.push(other),
        }
    }
    mine
}

/// Every request ended in 200, 500 or 503; none hung, none lost its connection; a 503 without
/// `Retry-After` came only from a half-open circuit.
fn check_answers(seen: &Seen, log: &[(Instant, State)], deadline: Instant) {
    assert_eq!(
        seen.hung, 0,
        "requests with no answer in {REQUEST_TIMEOUT:?}"
    );
    assert!(
        seen.broken.is_empty(),
        "broken requests: {:?}",
        &seen.broken[..seen.broken.len().min(5)]
    );
    assert!(
        seen.other_status.is_empty(),
        "unexpected statuses: {:?}",
        seen.other_status
    );
    assert!(
        seen.ok > 0 && seen.failed > 0 && seen.rejected > 0,
        "every outcome happened"
    );

    let half_open: Vec<(Instant, Instant)> = log
        .iter()
        .enumerate()
        .filter(|(_, (_, to))| *to == State::HalfOpen)
        .map(|(i, (at, _))| (*at, log.get(i + 1).map_or(deadline + SLACK, |next| next.0)))
        .collect();
    for (sent, answered) in &seen.rejected_without_header {
        assert!(
            half_open
                .iter()
                .any(|(from, to)| from <= answered && sent <= to),
            "a 503 without Retry-After while the circuit was not half-open"
        );
    }
}

/// Each outage opened the circuit, and each recovery closed it within `reset_timeout` plus one
/// trial round.
fn check_recoveries(log: &[(Instant, State)], ups: &[Instant], deadline: Instant) {
    // Each outage opened the circuit, and each recovery closed it within reset_timeout plus
    // one trial round. At the recovery the circuit is open (at most `reset_timeout` left), or
    // half-open with trials that started before it and still fail (`FAILING_TAKES`), which
    // reopen it for one `reset_timeout`; then one round of trials closes it.
    for (i, up) in ups.iter().enumerate() {
        let bound = RESET_TIMEOUT + FAILING_TAKES + SLACK;
        if *up + bound * 2 > deadline {
            continue; // the run ended too soon after this recovery to judge it
        }
        let went_down = up.checked_sub(DOWN).unwrap();
        assert!(
            log.iter()
                .any(|(at, to)| *to == State::Open && *at >= went_down && at <= up),
            "outage {i} did not open the circuit"
        );
        let closed = log
            .iter()
            .find(|(at, to)| *to == State::Closed && at >= up)
            .map(|(at, _)| *at - *up)
            .expect("the circuit closed after the recovery");
        assert!(
            closed <= bound,
            "recovery {i}: closed {closed:?} after the downstream came back (bound {bound:?})"
        );
    }
}

/// The app on a loopback port: `/quote` behind the layer (keyed by path), `/plain` without it.
async fn start_app(
    registry: &Arc<Registry>,
    down: &Arc<Downstream>,
) -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let app = Router::new()
        .route("/quote", get(|s| serve(s, true)))
        // Keyed by path, so the per-thread registry caches are on the path under test.
        .route_layer(HttpCircuitBreakerLayer::keyed(
            Arc::clone(registry),
            |req: &axum::http::Request<axum::body::Body>| req.uri().path().to_owned(),
        ))
        .route("/plain", get(|s| serve(s, false)))
        .with_state(Arc::clone(down));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });

    (addr, stop, server)
}

/// Prints what the run did and the latency the layer adds (printed, not asserted).
fn report(
    secs: u64,
    seen: &Seen,
    transitions: usize,
    max_half_open: usize,
    protected_us: &Histogram,
    plain_us: &Histogram,
    (warm, end): (u64, u64),
) {
    let (p50, p99) = (protected_us.percentile(0.5), protected_us.percentile(0.99));
    let (q50, q99) = (plain_us.percentile(0.5), plain_us.percentile(0.99));
    println!(
        "soak {secs} s, {CLIENTS} clients: {} requests ({} 200, {} 500, {} 503 of which {} half-open), \
         {} transitions, max in flight while half-open {max_half_open}/{TRIALS}",
        seen.ok + seen.failed + seen.rejected,
        seen.ok,
        seen.failed,
        seen.rejected,
        seen.rejected_without_header.len(),
        transitions,
    );
    println!(
        "latency of 200s while up: with the layer p50 {p50} µs p99 {p99} µs ({} samples), \
         without p50 {q50} µs p99 {q99} µs ({} samples): added p50 {} µs p99 {} µs",
        protected_us.count(),
        plain_us.count(),
        i128::from(p50) - i128::from(q50),
        i128::from(p99) - i128::from(q99),
    );
    println!(
        "resident memory: {} KiB after the first cycle, {} KiB at the end",
        warm >> 10,
        end >> 10
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a 20 s load test: run by .ci/run with --ignored"]
async fn sixty_four_clients_through_outages() {
    let secs: u64 = std::env::var("PROTEGO_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20)
        .max(6);
    let run_for = Duration::from_secs(secs);
    let config = Config::builder()
        .failure_threshold(5)
        .reset_timeout(RESET_TIMEOUT)
        .half_open_retries(TRIALS)
        .build()
        .unwrap();
    let registry = Arc::new(Registry::new().with_default_config(config));
    let down = Arc::new(Downstream::default());
    *down.registry.lock().unwrap() = Some(Arc::clone(&registry));

    // Every transition of the route's breaker, with when it happened.
    let log: Arc<Mutex<Vec<(Instant, State)>>> = Arc::default();
    let sink = Arc::clone(&log);
    registry
        .get_or_create("/quote")
        .on_transition(move |t| sink.lock().unwrap().push((Instant::now(), t.to())));

    let (addr, stop, server) = start_app(&registry, &down).await;

    let start = Instant::now();
    let deadline = start + run_for;
    // The schedule: down for DOWN, up for UP, from the start; the times it went up.
    let ups: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let schedule = {
        let (down, ups) = (Arc::clone(&down), Arc::clone(&ups));
        tokio::spawn(async move {
            while Instant::now() < deadline {
                down.down.store(true, Ordering::SeqCst);
                tokio::time::sleep(DOWN).await;
                down.down.store(false, Ordering::SeqCst);
                ups.lock().unwrap().push(Instant::now());
                tokio::time::sleep(UP).await;
            }
        })
    };
    // Memory after the first cycle, when every path has been through once.
    let warm_memory = tokio::spawn(async {
        tokio::time::sleep(DOWN + UP).await;
        resident_bytes()
    });

    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let seen = Arc::new(Mutex::new(Seen::default()));
    // Round trips of 200s while the downstream was up, with and without the layer.
    let protected_us = Arc::new(Histogram::new());
    let plain_us = Arc::new(Histogram::new());
    let mut clients = Vec::new();
    for n in 0..CLIENTS {
        let (client, seen, down) = (client.clone(), Arc::clone(&seen), Arc::clone(&down));
        let (protected_us, plain_us) = (Arc::clone(&protected_us), Arc::clone(&plain_us));
        clients.push(tokio::spawn(async move {
            let mine =
                client_loop(&client, addr, n, deadline, &down, &protected_us, &plain_us).await;
            let mut all = seen.lock().unwrap();
            all.ok += mine.ok;
            all.failed += mine.failed;
            all.rejected += mine.rejected;
            all.rejected_without_header
                .extend(mine.rejected_without_header);
            all.other_status.extend(mine.other_status);
            all.hung += mine.hung;
            all.broken.extend(mine.broken);
        }));
    }
    for client in clients {
        client.await.unwrap();
    }
    schedule.await.unwrap();
    let warm = warm_memory.await.unwrap();
    let end = resident_bytes();
    let _ = stop.send(());
    server.await.unwrap();

    let seen = seen.lock().unwrap();
    let log = log.lock().unwrap().clone();
    let ups = ups.lock().unwrap().clone();

    check_answers(&seen, &log, deadline);
    // Half-open never let more than `half_open_retries` requests reach the downstream at once.
    let max_half_open = down.max_in_flight_half_open.load(Ordering::SeqCst);
    assert!(
        max_half_open <= TRIALS as usize,
        "{max_half_open} requests in flight at the downstream while half-open"
    );
    check_recoveries(&log, &ups, deadline);

    // State cycles leak nothing; the registry holds only the route the clients use.
    assert_eq!(registry.len(), 1);
    assert!(registry.get("/quote").is_some());
    let grown = end.saturating_sub(warm);
    assert!(
        grown <= MEMORY_BOUND,
        "resident memory grew by {grown} bytes"
    );

    report(
        secs,
        &seen,
        log.len(),
        max_half_open,
        &protected_us,
        &plain_us,
        (warm, end),
    );
}
