//! A seeded, randomized fault schedule against four replicas sharing one redis-server through a
//! TCP proxy the test owns (issue #23): the server is killed and restarted empty, paused
//! (SIGSTOP/SIGCONT), restarted at once, flushed (FLUSHALL); the proxy adds latency below and
//! above the op timeout and drops every connection. The downstream always fails, so the
//! breakers keep tripping and running half-open rounds. After every step:
//! - no user call failed because of the store: every call ends as the downstream's error or a
//!   rejection, and none waits on the store much longer than the op timeout;
//! - while the store is healthy, the fleet makes at most one Open per epoch (no Open follows an
//!   Open in the pushed changes: each Open follows a Closed or a half-open round) and at most
//!   `half_open_retries` trials run at once fleet-wide;
//! - while the store is away, every replica protects itself (each is seen Open).
//!
//! The seed is printed; `PROTEGO_FAULT_SEED=N` replays the same schedule (the faults, their
//! order and their durations; thread timing is the machine's). `PROTEGO_FAULT_STEPS=N` for
//! another length (default 10, about 25 s).
#![cfg(feature = "redis-tokio")]
#![allow(clippy::too_many_lines, clippy::similar_names)]

#[path = "support/redis_server.rs"]
mod common;
#[path = "support/proxy.rs"]
mod proxy;
#[path = "support/fleet.rs"]
mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::RedisServer;
use futures::StreamExt;
use protego_breaker::fleet::{ChangeStream, StateKind, Store};
use protego_breaker::{CircuitBreaker, State};
use support::{config, replicas, until, Setup, Sys};

const WAIT: Duration = Duration::from_secs(10);
const OP_TIMEOUT: Duration = Duration::from_millis(100);
const TRIALS: u32 = 2;

/// splitmix64: small, seedable, good enough to pick faults.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.below(hi - lo))
    }
}

#[derive(Debug, Clone, Copy)]
enum Fault {
    /// SIGKILL, down for the hold, then started again empty.
    Kill,
    /// SIGSTOP for the hold, then SIGCONT.
    Pause,
    /// Killed and started again at once, empty.
    RestartEmpty,
    /// FLUSHALL.
    Flush,
    /// Every chunk through the proxy delayed by this many ms (each way) for the hold.
    Latency(u64),
    /// Every connection through the proxy dropped.
    DropConnections,
}

impl Fault {
    fn pick(rng: &mut Rng) -> Self {
        match rng.below(6) {
            0 => Fault::Kill,
            1 => Fault::Pause,
            2 => Fault::RestartEmpty,
            3 => Fault::Flush,
            4 => Fault::Latency(if rng.below(2) == 0 { 15 } else { 150 }),
            _ => Fault::DropConnections,
        }
    }

    /// Whether the store is away for the replicas during the hold.
    fn away(self) -> bool {
        match self {
            Fault::Kill | Fault::Pause => true,
            Fault::Latency(ms) => Duration::from_millis(2 * ms) >= OP_TIMEOUT,
            _ => false,
        }
    }
}

/// What the callers saw.
#[derive(Default)]
struct Seen {
    /// Admitted calls in flight that were made while the replica's breaker was half-open.
    trials: AtomicUsize,
    /// The most such calls at once, since the last reset.
    max_trials: AtomicUsize,
    /// Calls that ended in neither the downstream's error nor a rejection.
    bad: Mutex<Vec<String>>,
    /// The longest wait on the breaker (the call's time less the downstream's), in ms.
    slowest_ms: AtomicUsize,
    stop: AtomicBool,
}

/// One replica's caller: a failing call every 3 ms, the downstream taking 20 ms.
async fn caller(rs: Arc<Vec<Sys>>, i: usize, seen: Arc<Seen>) {
    while !seen.stop.load(Ordering::Relaxed) {
        let breaker = rs[i].breaker();
        let trial = breaker.state() == State::HalfOpen;
        let start = Instant::now();
        let reached = Arc::new(Mutex::new(None::<Duration>));
        let (r, s) = (Arc::clone(&reached), Arc::clone(&seen));
        let out = breaker
            .call(async move {
                let t = Instant::now();
                if trial {
                    let now = s.trials.fetch_add(1, Ordering::SeqCst) + 1;
                    s.max_trials.fetch_max(now, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                if trial {
                    s.trials.fetch_sub(1, Ordering::SeqCst);
                }
                *r.lock().unwrap() = Some(t.elapsed());
                Err::<(), _>("down")
            })
            .await;
        let downstream = reached.lock().unwrap().unwrap_or_default();
        let waited = start.elapsed().saturating_sub(downstream);
        seen.slowest_ms.fetch_max(
            usize::try_from(waited.as_millis()).unwrap_or(usize::MAX),
            Ordering::Relaxed,
        );
        match out {
            Err(e) if e.is_rejected() => {}
            Err(protego_breaker::Error::Inner("down")) => {}
            other => seen.bad.lock().unwrap().push(format!("{other:?}")),
        }
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
}

/// Changes pushed since `changes` was made, drained without waiting past `for_`.
async fn drain(changes: &mut ChangeStream, for_: Duration) -> Vec<StateKind> {
    let mut kinds = Vec::new();
    let end = tokio::time::Instant::now() + for_;
    while let Ok(Some(Ok(change))) = tokio::time::timeout_at(end, changes.next()).await {
        if change.name == support::NAME {
            kinds.push(change.kind);
        }
    }
    kinds
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_fault_schedule_keeps_every_invariant() {
    let seed = std::env::var("PROTEGO_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_secs() ^ u64::from(d.subsec_nanos()))
        });
    let steps: usize = std::env::var("PROTEGO_FAULT_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    eprintln!("fault schedule: PROTEGO_FAULT_SEED={seed} PROTEGO_FAULT_STEPS={steps}");
    let mut rng = Rng(seed);
    let mut server = RedisServer::start();
    let proxy = proxy::Proxy::start(server.port);
    let mut setup = Setup::new(
        format!("redis://127.0.0.1:{}/", proxy.port),
        config(Duration::from_millis(300), TRIALS),
    );
    setup.op_timeout = OP_TIMEOUT;
    setup.sync_interval = Duration::from_millis(100);
    let rs = Arc::new(replicas(&setup, 4));
    let seen = Arc::new(Seen::default());
    let callers: Vec<_> = (0..rs.len())
        .map(|i| tokio::spawn(caller(Arc::clone(&rs), i, Arc::clone(&seen))))
        .collect();
    for step in 0..steps {
        // Healthy: every replica online, then a settling margin (local rounds from the last
        // fault end, the store's state is adopted), then a window where the invariants hold.
        until("every replica is online", WAIT, || {
            rs.iter().all(|r| r.fleet.is_online())
        })
        .await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        let watcher = server.store();
        let mut changes = watcher.subscribe().await.expect("subscribe");
        seen.max_trials
            .store(seen.trials.load(Ordering::SeqCst), Ordering::SeqCst);
        let kinds = drain(&mut changes, rng.millis(600, 1200)).await;
        let max_trials = seen.max_trials.load(Ordering::SeqCst);
        assert!(
            max_trials <= TRIALS as usize,
            "seed {seed} step {step}: {max_trials} trials at once while healthy"
        );
        for pair in kinds.windows(2) {
            assert!(
                !(pair[0] == StateKind::Open && pair[1] == StateKind::Open),
                "seed {seed} step {step}: two fleet Opens in a row: {kinds:?}"
            );
        }
        // The fault.
        let fault = Fault::pick(&mut rng);
        let hold = rng.millis(300, 900);
        let held = matches!(fault, Fault::Kill | Fault::Pause | Fault::Latency(_));
        eprintln!(
            "step {step}: {fault:?}{} (healthy before: {max_trials} trials at most at once, pushes {kinds:?})",
            if held { format!(" for {hold:?}") } else { String::new() }
        );
        let protected = async {
            if fault.away() {
                until("every replica is offline", WAIT, || {
                    rs.iter().all(|r| !r.fleet.is_online())
                })
                .await;
                let mut open = vec![false; rs.len()];
                until("every replica protects itself (seen Open)", WAIT, || {
                    for (i, r) in rs.iter().enumerate() {
                        open[i] |= r.state() == State::Open;
                    }
                    open.iter().all(|o| *o)
                })
                .await;
            }
        };
        match fault {
            Fault::Kill => {
                server.stop();
                protected.await;
                tokio::time::sleep(hold).await;
                server = tokio::task::spawn_blocking(move || {
                    server.restart();
                    server
                })
                .await
                .unwrap();
            }
            Fault::Pause => {
                server.signal("STOP");
                protected.await;
                tokio::time::sleep(hold).await;
                server.signal("CONT");
            }
            Fault::RestartEmpty => {
                server = tokio::task::spawn_blocking(move || {
                    server.restart();
                    server
                })
                .await
                .unwrap();
            }
            Fault::Flush => {
                let () = redis::cmd("FLUSHALL")
                    .query(&mut server.conn().unwrap())
                    .unwrap();
            }
            Fault::Latency(ms) => {
                proxy.set_delay(Duration::from_millis(ms));
                protected.await;
                tokio::time::sleep(hold).await;
                proxy.set_delay(Duration::ZERO);
            }
            Fault::DropConnections => proxy.drop_connections(),
        }
        let bad = seen.bad.lock().unwrap().clone();
        assert!(
            bad.is_empty(),
            "seed {seed} step {step}: calls failed: {bad:?}"
        );
    }
    seen.stop.store(true, Ordering::Relaxed);
    for c in callers {
        c.await.unwrap();
    }
    let slowest = seen.slowest_ms.load(Ordering::Relaxed);
    // A half-open admission waits on the store for a lease, within the op timeout (and the
    // proxy's added latency); nothing else does. The margin is for the shared 2-core machine.
    assert!(
        slowest < 1000,
        "seed {seed}: a call waited {slowest} ms on the breaker"
    );
    assert!(seen.bad.lock().unwrap().is_empty());
}
