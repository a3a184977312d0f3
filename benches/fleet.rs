//! Fleet-wide breakers against a local redis-server this bench starts (loopback):
//! - `closed_success`: a closed success with sharing off, and on with each store attached (one
//!   server, Sentinel, and Redis Cluster with `--features redis-tokio,redis-cluster`), same run
//!   (criterion);
//! - trip propagation p50/p99 from one replica to another, with pushes and by polling only;
//! - store round trips per trip, per half-open round and per closed call (counted);
//! - the headline: 20 replicas in front of a dependency that dies: calls that reach it until
//!   every replica is open, and trials in one half-open round: local breakers, a fleet whose
//!   replicas trip on their own failures, and a fleet tripping on fleet-wide failures.
//!
//! ```text
//! cargo bench --bench fleet --features redis-tokio
//! cargo bench --bench fleet --features redis-tokio -- --test   # short runs (CI)
//! ```
#![allow(
    missing_docs,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::inline_always,
    clippy::too_many_lines
)]

#[cfg(feature = "redis-cluster")]
#[path = "../tests/support/cluster.rs"]
mod cluster;
#[path = "../tests/support/redis_server.rs"]
mod common;
#[path = "../tests/support/sentinel.rs"]
mod sentinel;
#[path = "../tests/support/fleet.rs"]
mod support;

use std::future::{ready, Future, Ready};
use std::hint::black_box;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use common::RedisServer;
use criterion::Criterion;
use protego_breaker::{CircuitBreaker, Config, Registry, State, SystemClock};
use support::{config, Replica, Setup};

type Out = Result<u64, u64>;

fn ok() -> Ready<Out> {
    ready(Ok(black_box(1)))
}

#[inline(always)]
fn poll_once<F: Future>(fut: F, cx: &mut Context<'_>) -> Poll<F::Output> {
    pin!(fut).poll(cx)
}

fn quick() -> bool {
    std::env::args().any(|a| a == "--test")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A closed success through a registry breaker, shared (sync future running, store online)
/// and not, in the same run.
fn closed_success(c: &mut Criterion, rt: &tokio::runtime::Runtime, server: &RedisServer) {
    let setup = Setup::new(server.url(), Config::default());
    let shared = rt.block_on(async {
        let r = Replica::start(&setup, "bench", SystemClock);
        support::until("online", Duration::from_secs(5), || r.fleet.is_online()).await;
        r
    });
    // The same breaker behind Sentinel and (with `redis-cluster`) on a cluster: the closed
    // path does not touch the store, so what is attached should not matter.
    let sentinels = sentinel::SentinelSetup::start(Duration::from_secs(1));
    let mut sentinel_setup = Setup::new("redis://primary/".to_owned(), Config::default());
    sentinel_setup.sentinel = Some((sentinel::MASTER.to_owned(), sentinels.sentinel_urls()));
    #[cfg(feature = "redis-cluster")]
    let cluster = cluster::Cluster::start(3, 0, Duration::from_millis(500));
    #[cfg_attr(not(feature = "redis-cluster"), allow(unused_mut))]
    let mut others = vec![("shared_sentinel", sentinel_setup)];
    #[cfg(feature = "redis-cluster")]
    {
        let mut cluster_setup = Setup::new("redis://unused/".to_owned(), Config::default());
        cluster_setup.cluster = cluster.urls();
        cluster_setup.op_timeout = Duration::from_millis(500);
        others.push(("shared_cluster", cluster_setup));
    }
    let others: Vec<_> = others
        .into_iter()
        .map(|(label, setup)| {
            rt.block_on(async {
                let r = Replica::start(&setup, "bench", SystemClock);
                support::until("online", Duration::from_secs(10), || r.fleet.is_online()).await;
                (label, r)
            })
        })
        .collect();
    let local = Registry::new();
    let local_breaker = local.get_or_create(support::NAME);
    let shared_breaker = shared.breaker();
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    let mut g = c.benchmark_group("fleet_closed_success");
    g.bench_function("bare_future", |b| b.iter(|| poll_once(ok(), &mut cx)));
    g.bench_function("local", |b| {
        b.iter(|| poll_once(local_breaker.as_ref().call(ok()), &mut cx));
    });
    g.bench_function("shared", |b| {
        b.iter(|| poll_once(shared_breaker.as_ref().call(ok()), &mut cx));
    });
    for (label, replica) in &others {
        let breaker = replica.breaker();
        assert!(replica.fleet.is_online(), "{label} online");
        g.bench_function(*label, |b| {
            b.iter(|| poll_once(breaker.as_ref().call(ok()), &mut cx));
        });
    }
    g.finish();
    for (label, replica) in &others {
        assert!(
            replica.fleet.is_online(),
            "{label} still online after the run"
        );
    }
    // The same paths interleaved (A, B, C, ...; A, B, C, ...), robust to a machine whose load
    // drifts between criterion's groups: the median of per-batch ns/call.
    let batch = if quick() { 10_000 } else { 2_000_000 };
    let mut paths: Vec<Path<'_>> = vec![
        ("local", Arc::clone(&local_breaker), Vec::new()),
        ("shared", Arc::clone(&shared_breaker), Vec::new()),
    ];
    for (label, replica) in &others {
        paths.push((label, replica.breaker(), Vec::new()));
    }
    for _ in 0..if quick() { 3 } else { 21 } {
        for (_, breaker, out) in &mut paths {
            let start = Instant::now();
            for _ in 0..batch {
                let _ = black_box(poll_once(breaker.as_ref().call(ok()), &mut cx));
            }
            out.push(start.elapsed().as_secs_f64() * 1e9 / f64::from(batch));
        }
    }
    let medians: Vec<String> = paths
        .iter_mut()
        .map(|(label, _, v)| {
            v.sort_by(f64::total_cmp);
            format!("{label} {:.2}", v[v.len() / 2])
        })
        .collect();
    println!(
        "closed success, interleaved batches, median ns/call: {}",
        medians.join(", ")
    );
    let before = shared.ops.transitions();
    for _ in 0..100_000 {
        let _ = poll_once(shared_breaker.as_ref().call(ok()), &mut cx);
    }
    println!(
        "store round trips for 100000 closed calls (besides periodic reads): {}",
        shared.ops.transitions() - before
    );
}

/// A path of the interleaved closed-path run: its label, its breaker, ns/call per batch.
type Path<'a> = (
    &'a str,
    Arc<protego_breaker::Breaker<SystemClock>>,
    Vec<f64>,
);

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// From a failing call on replica A until replica B rejects: `rounds` trips, each from a
/// fresh name. Returns sorted latencies, and the store round trips of each side per trip.
fn propagation(
    rt: &tokio::runtime::Runtime,
    server: &RedisServer,
    deaf: bool,
    rounds: usize,
) -> (Vec<Duration>, f64, f64) {
    rt.block_on(async {
        let mut setup = Setup::new(server.url(), config(Duration::from_secs(600), 1));
        setup.deaf = deaf;
        setup.sync_interval = if deaf {
            Duration::from_millis(100)
        } else {
            Duration::from_secs(600)
        };
        let a = Replica::start(&setup, "a", SystemClock);
        let b = Replica::start(&setup, "b", SystemClock);
        support::until("online", Duration::from_secs(5), || {
            a.fleet.is_online() && b.fleet.is_online()
        })
        .await;
        let mut took = Vec::new();
        let (a0, b0) = (a.ops.transitions(), b.ops.transitions());
        for i in 0..rounds {
            let name = format!("trip-{deaf}-{i}");
            let (ba, bb) = (
                a.registry.get_or_create(&name),
                b.registry.get_or_create(&name),
            );
            support::until("joined", Duration::from_secs(5), || {
                a.ops.read.load(Ordering::Relaxed) > 0 && b.ops.read.load(Ordering::Relaxed) > 0
            })
            .await;
            // Let both read the new name once (it is Closed).
            tokio::time::sleep(Duration::from_millis(5)).await;
            let start = Instant::now();
            let _ = ba.call(async { Err::<(), _>("down") }).await;
            while bb.state() != State::Open {
                assert!(start.elapsed() < Duration::from_secs(5), "never propagated");
                tokio::task::yield_now().await;
            }
            took.push(start.elapsed());
        }
        took.sort();
        let per = |n: u64| n as f64 / rounds as f64;
        (
            took,
            per(a.ops.transitions() - a0),
            per(b.ops.transitions() - b0),
        )
    })
}

/// Store round trips of one half-open round that closes (2 trials), fleet-wide.
fn half_open_round_trips(rt: &tokio::runtime::Runtime, server: &RedisServer) -> u64 {
    rt.block_on(async {
        let setup = Setup::new(server.url(), config(Duration::from_millis(200), 2));
        let rs: Vec<_> = (0..3)
            .map(|i| Replica::start(&setup, &format!("h{i}"), SystemClock))
            .collect();
        let wait = Duration::from_secs(5);
        support::until("online", wait, || rs.iter().all(|r| r.fleet.is_online())).await;
        let _ = rs[0].breaker().call(async { Err::<(), _>("down") }).await;
        support::until("open", wait, || rs.iter().all(|r| r.state() == State::Open)).await;
        let before: u64 = rs.iter().map(|r| r.ops.transitions()).sum();
        let start = Instant::now();
        while rs[1].state() != State::Closed {
            for r in &rs {
                let _ = r.breaker().call(async { Ok::<(), ()>(()) }).await;
            }
            assert!(start.elapsed() < wait, "never closed");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        rs.iter().map(|r| r.ops.transitions()).sum::<u64>() - before
    })
}

/// What one headline run measured.
struct Outcome {
    /// Calls that reached the dependency from its death until every replica was open.
    until_open: usize,
    /// Of those, calls that started after the first replica was open.
    late: usize,
    /// From the death until the first replica was open.
    first_open_after: Duration,
    /// Calls that reached it in the next `reset_timeout * 1.5`.
    round: usize,
    /// Failure-share writes (store round trips) until every replica was open.
    writes: u64,
}

/// How the replicas' breakers are set up in the headline.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// 20 local breakers.
    Local,
    /// One fleet; each replica trips on its own failures and publishes the trip.
    PerReplica,
    /// One fleet tripping on the sum of every replica's consecutive failures (the default).
    FleetWide,
}

/// The headline: `n` replicas, replica `i` calling a dependency every `pace(i)`; it dies.
/// Returns the calls that reached it from its death until every replica was open (and how
/// many of them started after the first replica was open), in the
/// next `reset_timeout * 1.5` (one half-open round, still dead), and the failure-share writes
/// (store round trips) until every replica was open.
fn dies(
    rt: &tokio::runtime::Runtime,
    server: &RedisServer,
    mode: Mode,
    n: usize,
    pace: fn(usize) -> Duration,
) -> Outcome {
    let shared = mode != Mode::Local;
    rt.block_on(async {
        let reset = Duration::from_millis(400);
        let cfg = Config::builder()
            .failure_threshold(3)
            .reset_timeout(reset)
            .half_open_retries(2)
            .build()
            .unwrap();
        let mut setup = Setup::new(server.url(), cfg);
        setup.fleet_wide_failures = mode == Mode::FleetWide;
        let name = format!("dies-{mode:?}-{:?}", pace(1));
        // Set when the first replica opens (by its own policy or the fleet's): calls that
        // start later and still reach the dependency are the ones propagation did not stop.
        let first_open = Arc::new(AtomicBool::new(false));
        let epoch = Instant::now();
        let opened_at = Arc::new(std::sync::atomic::AtomicU64::new(u64::MAX));
        let rs: Arc<Vec<Replica<SystemClock>>> = Arc::new(
            (0..n)
                .map(|i| {
                    let r = Replica::new(&setup, &format!("d{i}"), SystemClock);
                    let (seen, at) = (Arc::clone(&first_open), Arc::clone(&opened_at));
                    r.registry.get_or_create(&name).on_transition(move |t| {
                        if t.to() == State::Open {
                            seen.store(true, Ordering::Relaxed);
                            at.fetch_min(epoch.elapsed().as_micros() as u64, Ordering::Relaxed);
                        }
                    });
                    if shared {
                        r.run()
                    } else {
                        r
                    }
                })
                .collect(),
        );
        if shared {
            support::until("online", Duration::from_secs(5), || {
                rs.iter().all(|r| r.fleet.is_online())
            })
            .await;
        }
        let dead = Arc::new(AtomicBool::new(false));
        let reached = Arc::new(AtomicUsize::new(0));
        let late = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for i in 0..n {
            let (rs, dead, reached, stop, name) = (
                Arc::clone(&rs),
                Arc::clone(&dead),
                Arc::clone(&reached),
                Arc::clone(&stop),
                name.clone(),
            );
            let (first_open, late) = (Arc::clone(&first_open), Arc::clone(&late));
            tasks.push(tokio::spawn(async move {
                let breaker = rs[i].registry.get_or_create(&name);
                while !stop.load(Ordering::Relaxed) {
                    let after_first_open = first_open.load(Ordering::Relaxed);
                    let _ = breaker
                        .call(async {
                            if dead.load(Ordering::Relaxed) {
                                reached.fetch_add(1, Ordering::Relaxed);
                                if after_first_open {
                                    late.fetch_add(1, Ordering::Relaxed);
                                }
                                Err("dead")
                            } else {
                                Ok(())
                            }
                        })
                        .await;
                    tokio::time::sleep(pace(i)).await;
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let died = epoch.elapsed().as_micros() as u64;
        dead.store(true, Ordering::Relaxed);
        let all_open = || {
            rs.iter()
                .all(|r| r.registry.get_or_create(&name).state() == State::Open)
        };
        support::until("all open", Duration::from_secs(10), all_open).await;
        let until_open = reached.swap(0, Ordering::Relaxed);
        let late = late.load(Ordering::Relaxed);
        let first_open_after =
            Duration::from_micros(opened_at.load(Ordering::Relaxed).saturating_sub(died));
        let writes = rs
            .iter()
            .map(|r| r.ops.failures.load(Ordering::Relaxed))
            .sum();
        tokio::time::sleep(reset.mul_f64(1.5)).await;
        let round = reached.load(Ordering::Relaxed);
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await.unwrap();
        }
        Outcome {
            until_open,
            late,
            first_open_after,
            round,
            writes,
        }
    })
}

fn main() {
    let server = RedisServer::start();
    let rt = runtime();
    let mut c = Criterion::default().configure_from_args();
    closed_success(&mut c, &rt, &server);

    let rounds = if quick() { 5 } else { 200 };
    println!("\ntrip propagation, replica A's tripping call -> replica B rejects (loopback):");
    for deaf in [false, true] {
        let (took, a, b) = propagation(
            &rt,
            &server,
            deaf,
            if deaf { rounds.min(40) } else { rounds },
        );
        println!(
            "  {:<32} n={:<4} p50 {:>9.3?}  p99 {:>9.3?}  round trips per trip: tripping replica {a:.1}, other {b:.1}",
            if deaf { "polling only (sync every 100 ms)" } else { "push" },
            took.len(),
            percentile(&took, 0.5),
            percentile(&took, 0.99)
        );
    }
    println!(
        "store round trips of one half-open round that closes (half_open_retries 2, 3 replicas): {}",
        half_open_round_trips(&rt, &server)
    );

    println!("\n20 replicas; the dependency dies (failure_threshold 3, half_open_retries 2, reset_timeout 400 ms):");
    println!("| load | breakers | calls that reach it until every replica is open | calls that reach it in one half-open round |");
    println!("| --- | --- | --- | --- |");
    let even: fn(usize) -> Duration = |_| Duration::from_millis(5);
    let uneven: fn(usize) -> Duration = |i| Duration::from_millis(5 * (i as u64 + 1));
    for (load, pace) in [
        ("even: every replica calls every 5 ms", even),
        ("uneven: replica i calls every 5(i+1) ms", uneven),
    ] {
        for mode in [Mode::Local, Mode::PerReplica, Mode::FleetWide] {
            let Outcome {
                until_open: open,
                late,
                first_open_after,
                round,
                writes,
            } = dies(&rt, &server, mode, 20, pace);
            let breakers = match mode {
                Mode::Local => "local (20 breakers)".to_owned(),
                Mode::PerReplica => "shared, `fleet_wide_failures(false)`".to_owned(),
                Mode::FleetWide => {
                    format!("shared, fleet-wide failures (default; {writes} share writes)")
                }
            };
            println!(
                "| {load} | {breakers} | {open} ({late} started after the first replica opened, {first_open_after:.1?} after the death) | {round} |"
            );
        }
    }
    c.final_summary();
}
