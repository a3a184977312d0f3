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

pub const OK: u8 = 0;
pub const FAIL: u8 = 1;
pub const HANG: u8 = 2;

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
                count.seen.fetch_add(1, Ordering::SeqCst);
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
                        OK => StatusCode::OK,
                        FAIL => StatusCode::INTERNAL_SERVER_ERROR,
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

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}
