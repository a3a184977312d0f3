//! A loopback HTTP server for the tower tests: `/` answers 200, 500 or never (as its mode says,
//! switchable while it runs), after an optional delay; it counts the requests it sees and the
//! most it held at once. Stopped when dropped.
#![allow(dead_code, unreachable_pub)] // each test file uses its part

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::get;
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::discover::Change;

pub const OK: u8 = 0;
pub const FAIL: u8 = 1;
pub const HANG: u8 = 2;
/// Fails one request in five, at (seeded, repeatable) random.
pub const GRAY: u8 = 3;

#[derive(Default)]
struct Counts {
    seen: AtomicUsize,
    in_flight: AtomicUsize,
    most: AtomicUsize,
}

pub struct Server {
    pub addr: SocketAddr,
    mode: Arc<AtomicU8>,
    counts: Arc<Counts>,
    task: tokio::task::JoinHandle<()>,
}

/// Counts a request in flight until dropped.
struct InFlight(Arc<Counts>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Server {
    /// A server answering as `mode` says, at once.
    pub async fn start(mode: u8) -> Server {
        Server::with_delay(mode, Duration::ZERO).await
    }

    /// A server answering as `mode` says, after `delay`.
    pub async fn with_delay(mode: u8, delay: Duration) -> Server {
        let mode = Arc::new(AtomicU8::new(mode));
        let counts = Arc::new(Counts::default());
        let (state, count) = (Arc::clone(&mode), Arc::clone(&counts));
        let app = axum::Router::new().route(
            "/",
            get(move || {
                let n = count.seen.fetch_add(1, Ordering::SeqCst) as u64;
                let now = count.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                count.most.fetch_max(now, Ordering::SeqCst);
                let held = InFlight(Arc::clone(&count));
                let mode = state.load(Ordering::SeqCst);
                async move {
                    let _held = held;
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    match mode {
                        FAIL => StatusCode::INTERNAL_SERVER_ERROR,
                        GRAY if one_in_five(n) => StatusCode::INTERNAL_SERVER_ERROR,
                        OK | GRAY => StatusCode::OK,
                        _ => std::future::pending().await,
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Server {
            addr,
            mode,
            counts,
            task,
        }
    }

    pub fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }

    /// Requests seen so far.
    pub fn seen(&self) -> usize {
        self.counts.seen.load(Ordering::SeqCst)
    }

    /// The most requests it held at once.
    pub fn most_at_once(&self) -> usize {
        self.counts.most.load(Ordering::SeqCst)
    }

    pub fn uri(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

/// A plain client per server, no middleware of its own (a pool adds it).
pub type Endpoint =
    tower::util::BoxService<(), http::Response<Incoming>, hyper_util::client::legacy::Error>;

/// Each server as a pool's endpoint, keyed by its place: a GET of its `/` per call.
pub fn endpoints(
    servers: &[Server],
) -> Vec<Result<Change<usize, Endpoint>, std::convert::Infallible>> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    servers
        .iter()
        .enumerate()
        .map(|(i, server)| {
            let (client, uri) = (client.clone(), server.uri());
            let svc = tower::service_fn(move |()| {
                client.request(http::Request::get(uri.as_str()).body(Empty::new()).unwrap())
            });
            Ok(Change::Insert(i, Endpoint::new(svc)))
        })
        .collect()
}

/// splitmix64 of `n` (and of `PROTEGO_LOOPBACK_SEED`, 0 unless set), one time in five.
fn one_in_five(n: u64) -> bool {
    let seed: u64 = std::env::var("PROTEGO_LOOPBACK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut z = (n ^ seed << 32).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) % 5 == 0
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}
