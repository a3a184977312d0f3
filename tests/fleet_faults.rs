//! The fleet against a single redis-server that misbehaves (issue #23, first part): bytes that
//! are not UTF-8 in one breaker's keys, key prefixes that must not collide, a server that
//! refuses every operation, and coming back within one sync interval. Each test starts its own
//! server on a free loopback port and stops it.
#![cfg(feature = "redis-tokio")]

#[path = "support/redis_server.rs"]
mod common;
#[path = "support/fleet.rs"]
mod support;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use common::RedisServer;
use protego_breaker::fleet::{StateKind, Store, StoreError};
use protego_breaker::{CircuitBreaker, Clock, ManualClock, State, SystemClock};
use support::{all_online, config, replicas, until, Replica, Setup, Sys, NAME};

const WAIT: Duration = Duration::from_secs(5);

async fn fail<C: Clock + Clone + Send + Sync + 'static>(r: &Replica<C>, name: &str) -> bool {
    let out = r
        .registry
        .get_or_create(name)
        .call(async { Err::<(), _>("down") })
        .await;
    out.is_err_and(|e| !e.is_rejected())
}

/// The issue's reproduction: `HSET {prefix:name}:state epoch "\xff\xfe\0" kind "\xc3\x28"`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_that_are_not_utf8_in_one_breakers_keys_spoil_that_breaker_alone() {
    let server = RedisServer::start();
    let store = server.store();
    let setup = Setup::new(server.url(), config(Duration::from_secs(60), 1));
    let rs = replicas(&setup, 2);
    for r in &rs {
        r.registry.get_or_create("clean");
    }
    all_online(&rs, WAIT).await;
    let [state, ..] = store.keys(NAME);
    let _: () = redis::cmd("HSET")
        .arg(&state)
        .arg("epoch")
        .arg(&b"\xff\xfe\0"[..])
        .arg("kind")
        .arg(&b"\xc3\x28"[..])
        .query(&mut server.conn().unwrap())
        .unwrap();
    // The store says garbage, for this breaker alone, and stays usable.
    for _ in 0..3 {
        match store.read(NAME).await {
            Err(StoreError::Garbage { name, detail }) => {
                assert_eq!(name, NAME);
                assert!(detail.contains(r"epoch = \xff\xfe\x00 is not"), "{detail}");
            }
            other => panic!("expected Garbage, got {other:?}"),
        }
        assert_eq!(store.read("clean").await.unwrap().kind, StateKind::Closed);
    }
    // The fleet stays online through several syncs, and a clean breaker's trip is shared.
    let reads = rs[1].ops.read.load(Ordering::Relaxed);
    until("replica 1 synced twice more", WAIT, || {
        rs[1].ops.read.load(Ordering::Relaxed) > reads + 4
    })
    .await;
    assert!(rs.iter().all(|r| r.fleet.is_online()));
    assert!(rs.iter().all(|r| r.fleet.outages() == 0));
    assert!(fail(&rs[0], "clean").await);
    until("replica 1 adopts the clean breaker's trip", WAIT, || {
        rs[1].registry.get_or_create("clean").state() == State::Open
    })
    .await;
    // A reset repairs the spoiled breaker fleet-wide.
    rs[0].breaker().reset();
    until("the store holds Closed again", WAIT, || {
        let mut c = server.conn().unwrap();
        redis::cmd("HGET")
            .arg(&state)
            .arg("kind")
            .query::<Option<String>>(&mut c)
            .ok()
            .flatten()
            .as_deref()
            == Some("closed")
    })
    .await;
    assert_eq!(store.read(NAME).await.unwrap().kind, StateKind::Closed);
    assert!(rs.iter().all(|r| r.fleet.is_online()));
}

fn trip(epoch: protego_breaker::fleet::Epoch) -> protego_breaker::fleet::Trip<'static> {
    protego_breaker::fleet::Trip {
        expected_epoch: epoch,
        replica_id: "r0",
        open_for: Duration::from_secs(60),
        quorum: 1,
        quorum_window: Duration::from_secs(10),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_prefixes_are_isolated_whatever_the_breakers_are_named() {
    let server = RedisServer::start();
    let store_for = |prefix: &str| {
        let mut config = server.config();
        config.key_prefix = prefix.to_owned();
        common::store_for(config)
    };
    let team = store_for("team");
    let team_a = store_for("team:a");
    assert_ne!(team.keys("a:db"), team_a.keys("db"));
    let r = team
        .trip("a:db", trip(protego_breaker::fleet::Epoch(0)))
        .await;
    assert_eq!(r.unwrap().state.kind, StateKind::Open);
    assert_eq!(team.read("a:db").await.unwrap().kind, StateKind::Open);
    assert_eq!(
        team_a.read("db").await.unwrap().kind,
        StateKind::Closed,
        "a trip in one fleet must not open the other"
    );
    // And the other way round, with the empty prefix against names holding braces.
    let empty = store_for("");
    let r = empty
        .trip("x}{y", trip(protego_breaker::fleet::Epoch(0)))
        .await;
    assert_eq!(r.unwrap().state.kind, StateKind::Open);
    assert_eq!(
        store_for("x").read("y").await.unwrap().kind,
        StateKind::Closed
    );
    // A prefix with a brace could reach into the hash tag: refused, naming the prefix.
    for bad in ["team{", "}", "a{b}c"] {
        let mut config = server.config();
        config.key_prefix = bad.to_owned();
        let e = protego_breaker::fleet::redis::RedisStore::new(
            config,
            Arc::new(protego_breaker::fleet::TokioSleeper),
        )
        .unwrap_err();
        assert!(matches!(e, StoreError::Refused { .. }), "{e:?}");
        assert!(e.to_string().contains("brace"), "{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_refuses_every_operation_is_not_online_and_says_why() {
    let server = RedisServer::start_with(&["--requirepass", "s3cret"]);
    let setup = Setup::new(server.url(), config(Duration::from_secs(60), 1));
    let r = Replica::start(&setup, "r0", SystemClock);
    until("the fleet saw the store refuse", WAIT, || {
        r.fleet.last_error().is_some()
    })
    .await;
    // Several sync intervals later it is still offline, and counted as one outage.
    let reads = r.ops.read.load(Ordering::Relaxed) + r.ops.subscribe.load(Ordering::Relaxed);
    until("the fleet tried again twice", WAIT, || {
        r.ops.read.load(Ordering::Relaxed) + r.ops.subscribe.load(Ordering::Relaxed) >= reads + 2
    })
    .await;
    assert!(!r.fleet.is_online());
    assert_eq!(r.breaker().metrics().fleet_online, Some(false));
    assert_eq!(
        r.fleet.outages(),
        1,
        "a fleet that never connected had one outage"
    );
    let why = r.fleet.last_error().expect("the reason is kept");
    assert!(why.is_store_wide(), "{why:?}");
    assert!(why.to_string().contains("NOAUTH"), "{why}");
    // Local protection meanwhile.
    assert!(fail(&r, NAME).await);
    assert_eq!(r.state(), State::Open);
    // With the password in the URL (`redis://:password@host:port/`), the fleet is online.
    let mut setup = setup.clone();
    setup.url = format!("redis://:s3cret@127.0.0.1:{}/", server.port);
    let ok = Replica::start(&setup, "r1", SystemClock);
    until("online with the password", WAIT, || ok.fleet.is_online()).await;
    assert_eq!(ok.fleet.last_error(), None);
    assert_eq!(ok.fleet.outages(), 0);
}

/// Store operations this replica has attempted (every kind).
fn attempts(r: &Sys) -> u64 {
    r.ops.total()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_is_online_again_within_one_sync_interval_after_redis_returns() {
    let mut server = RedisServer::start();
    let mut setup = Setup::new(server.url(), config(Duration::from_secs(60), 1));
    setup.sync_interval = Duration::from_millis(500);
    let r = Replica::start(&setup, "r0", SystemClock);
    for round in 0..2 {
        until("online", WAIT, || r.fleet.is_online()).await;
        // Let the replica hold a warm connection: a few operations on it.
        let before = r.ops.read.load(Ordering::Relaxed);
        until("a sync on the warm connection", WAIT, || {
            r.ops.read.load(Ordering::Relaxed) > before
        })
        .await;
        server.stop();
        until("offline", WAIT, || !r.fleet.is_online()).await;
        // The store stays away for two more attempts.
        let tried = attempts(&r);
        until("two more attempts while redis is down", WAIT, || {
            attempts(&r) >= tried + 2
        })
        .await;
        server.restart();
        let back = std::time::Instant::now();
        until("online again", WAIT, || r.fleet.is_online()).await;
        let took = back.elapsed();
        assert!(
            took < setup.sync_interval + Duration::from_millis(150),
            "round {round}: online again after {took:?}, more than one sync interval"
        );
    }
}

#[path = "support/proxy.rs"]
mod proxy;

/// The fleet's op timeout is the one that applies: with the store's own at 10 s, a connection
/// that goes silent (a dead link, through a proxy) is given up after the fleet's 100 ms, and the
/// store drops it, so the fleet is back through a new connection within one sync interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleets_op_timeout_applies_and_a_silent_connection_is_replaced() {
    let server = RedisServer::start();
    let proxy = proxy::Proxy::start(server.port);
    let mut setup = Setup::new(
        format!("redis://127.0.0.1:{}/", proxy.port),
        config(Duration::from_secs(60), 1),
    );
    setup.sync_interval = Duration::from_millis(300);
    setup.store_op_timeout = Some(Duration::from_secs(10));
    let r = Replica::start(&setup, "r0", SystemClock);
    until("online", WAIT, || r.fleet.is_online()).await;
    proxy.freeze();
    until("offline: the fleet's op timeout fired", WAIT, || {
        !r.fleet.is_online()
    })
    .await;
    assert!(
        matches!(r.fleet.last_error(), Some(StoreError::Timeout(d)) if d == setup.op_timeout),
        "{:?}",
        r.fleet.last_error()
    );
    let offline = std::time::Instant::now();
    until("online again through a new connection", WAIT, || {
        r.fleet.is_online()
    })
    .await;
    assert!(
        offline.elapsed() < setup.sync_interval * 2,
        "{:?}",
        offline.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trial_leases_are_capped_at_the_breakers_reset_timeout() {
    let server = RedisServer::start();
    let store = server.store();
    let mut setup = Setup::new(server.url(), config(Duration::from_millis(200), 1));
    setup.lease = Duration::from_secs(10); // the default: longer than the reset timeout
    let r = Replica::start(&setup, "r0", SystemClock);
    until("online", WAIT, || r.fleet.is_online()).await;
    assert!(fail(&r, NAME).await);
    until("half-open", WAIT, || r.breaker().state() == State::HalfOpen).await;
    // A trial that hangs holds a lease; how long the store gives it:
    let breaker = r.breaker();
    let _trial = support::admitted_trial(&breaker, WAIT).await;
    let mut conn = server.conn().unwrap();
    let [_, leases, ..] = store.keys(NAME);
    let expiries: Vec<(String, i64)> = redis::cmd("ZRANGE")
        .arg(&leases)
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query(&mut conn)
        .unwrap();
    let (secs, micros): (i64, i64) = redis::cmd("TIME").query(&mut conn).unwrap();
    let left = expiries.first().expect("the trial holds a lease").1 - (secs * 1000 + micros / 1000);
    assert!(
        left <= 200,
        "a lease of {left} ms outlives the 200 ms reset timeout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_online_future_resolves_once_the_fleet_is_online() {
    let server = RedisServer::start_with(&["--requirepass", "pw"]);
    let setup = Setup::new(server.url(), config(Duration::from_secs(60), 1));
    let r = Replica::new(&setup, "r0", SystemClock);
    let waiting = r.fleet.online();
    let r = r.run();
    // Refused: it does not resolve.
    let mut refused = Box::pin(r.fleet.online());
    until("refused", WAIT, || r.fleet.last_error().is_some()).await;
    assert!(support::poll_once(refused.as_mut()).await.is_pending());
    drop(refused);
    // With the password it does, and the fleet is online then.
    let mut setup = setup.clone();
    setup.url = format!("redis://:pw@127.0.0.1:{}/", server.port);
    let ok = Replica::new(&setup, "r1", SystemClock);
    let online = ok.fleet.online();
    let ok = ok.run();
    tokio::time::timeout(WAIT, online)
        .await
        .expect("online within the deadline");
    assert!(ok.fleet.is_online());
    // Already online: at once.
    assert!(support::poll_once(std::pin::pin!(ok.fleet.online()))
        .await
        .is_ready());
    drop(waiting);
}

/// The rule when the store comes back (the `fleet` module's docs, "When the store comes
/// back"): the store's state wins, except a trip still in force, which is published for the
/// time it has left. Replica 0 trips breaker `payments` alone while Redis is away and still
/// has 400 ms of its 1 s period left when Redis returns; replica 1 tripped breaker `b` alone
/// earlier, its period ended and it is in a local half-open round. Within one sync interval of
/// Redis' return every replica holds `payments` Open (ending when replica 0's period would) and
/// `b` Closed (the store's state).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coming_back_the_store_wins_except_a_trip_still_in_force() {
    let mut server = RedisServer::start();
    let store = server.store();
    let mut setup = Setup::new(server.url(), config(Duration::from_secs(1), 1));
    setup.sync_interval = Duration::from_millis(300);
    let (c0, c1) = (ManualClock::new(), ManualClock::new());
    let r0 = Replica::start(&setup, "r0", c0.clone());
    let r1 = Replica::start(&setup, "r1", c1.clone());
    let r2 = Replica::start(&setup, "r2", SystemClock);
    let states = |name: &str| {
        [
            r0.registry.get_or_create(name).state(),
            r1.registry.get_or_create(name).state(),
            r2.registry.get_or_create(name).state(),
        ]
    };
    until("all online", WAIT, || {
        r0.fleet.is_online() && r1.fleet.is_online() && r2.fleet.is_online()
    })
    .await;
    server.stop();
    until("all offline", WAIT, || {
        !r0.fleet.is_online() && !r1.fleet.is_online() && !r2.fleet.is_online()
    })
    .await;
    // Replica 1: `b` trips alone, its period ends, a local trial hangs in half-open.
    assert!(fail(&r1, "b").await);
    c1.advance(Duration::from_millis(1100));
    let b1 = r1.registry.get_or_create("b");
    let mut hanging = Box::pin(b1.call(std::future::pending::<Result<(), ()>>()));
    assert!(support::poll_once(hanging.as_mut()).await.is_pending());
    assert_eq!(b1.state(), State::HalfOpen);
    // Replica 0: `payments` trips alone; 600 ms of its 1 s pass on its clock.
    assert!(fail(&r0, NAME).await);
    c0.advance(Duration::from_millis(600));
    assert_eq!(r0.state(), State::Open);
    server.restart();
    let back = std::time::Instant::now();
    until("one state everywhere", WAIT, || {
        states(NAME) == [State::Open; 3] && states("b") == [State::Closed; 3]
    })
    .await;
    let took = back.elapsed();
    assert!(
        took < setup.sync_interval + Duration::from_millis(200),
        "converged after {took:?}"
    );
    // The fleet's open period is what replica 0 had left, not a fresh one.
    let held = store.read(NAME).await.unwrap();
    assert_eq!(held.kind, StateKind::Open);
    assert!(
        held.open_remaining <= Duration::from_millis(400),
        "{:?}",
        held.open_remaining
    );
    assert_eq!(store.read("b").await.unwrap().kind, StateKind::Closed);
    // It stays so: a few syncs later nothing moved.
    let reads = r2.ops.read.load(Ordering::Relaxed);
    until("replica 2 synced again", WAIT, || {
        r2.ops.read.load(Ordering::Relaxed) >= reads + 4
    })
    .await;
    assert_eq!(states("b"), [State::Closed; 3]);
    drop(hanging);
}

/// Issue #30: the sync interval no longer delays the fleet's return. With a 30 s interval
/// (the old fleet asked a store that was away once per interval, so it came back up to 30 s
/// after Redis), the fleet is back within a couple of backoff steps of Redis' return, and while
/// Redis is away it asks on its backoff (5 to 50 ms apart), a bounded number of times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sync_interval_does_not_delay_the_return_and_retries_are_bounded() {
    let mut server = RedisServer::start();
    let mut setup = Setup::new(server.url(), config(Duration::from_secs(60), 1));
    setup.sync_interval = Duration::from_secs(30);
    let r = Replica::start(&setup, "r0", SystemClock);
    until("online", WAIT, || r.fleet.is_online()).await;
    server.stop();
    until("offline", WAIT, || !r.fleet.is_online()).await;
    // Away for a measured window: asked again, never more than the documented bound (40
    // attempts a second, two operations each), whatever the load of the machine.
    let window = std::time::Instant::now();
    let tried = attempts(&r);
    until("three more attempts while redis is down", WAIT, || {
        attempts(&r) >= tried + 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await; // a window to count in, not a wait
    let (made, away) = (attempts(&r) - tried, window.elapsed());
    let bound = 2 * (3 + u64::try_from(away.as_millis() / 25).unwrap());
    assert!(
        made <= bound,
        "{made} operations in {away:?}, bound {bound}"
    );
    server.restart();
    let back = std::time::Instant::now();
    until("online again", WAIT, || r.fleet.is_online()).await;
    let took = back.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "online again {took:?} after redis returned, with a 30 s sync interval"
    );
    eprintln!("online again {took:?} after redis returned; {made} operations in {away:?} away");
}

/// Issue #30: `online()` means shared. Trips and a manual state made while Redis is away are
/// in the store when `online()` resolves (each write is slowed by 40 ms, so publishing them
/// takes ~240 ms after the reads: the old fleet resolved `online()` before).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_resolves_once_what_was_decided_offline_is_in_the_store() {
    let mut server = RedisServer::start();
    let mut setup = Setup::new(server.url(), config(Duration::from_secs(60), 1));
    setup.sync_interval = Duration::from_millis(300);
    setup.write_delay = Duration::from_millis(40);
    let r = Replica::new(&setup, "r0", SystemClock);
    let names: Vec<String> = (0..5).map(|i| format!("b{i}")).collect();
    for name in &names {
        r.registry.get_or_create(name);
    }
    r.registry.get_or_create("manual");
    let r = r.run();
    until("online", WAIT, || r.fleet.is_online()).await;
    server.stop();
    until("offline", WAIT, || !r.fleet.is_online()).await;
    for name in &names {
        assert!(fail(&r, name).await, "{name}");
    }
    assert!(r.registry.get_or_create("manual").force_open());
    server.restart();
    tokio::time::timeout(Duration::from_secs(10), r.fleet.online())
        .await
        .expect("online again");
    assert!(r.fleet.is_online());
    // At once: every decision made offline is in the store.
    let store = server.store();
    for name in names.iter().rev() {
        let held = store.read(name).await.unwrap();
        assert_eq!(held.kind, StateKind::Open, "{name} when online() resolved");
    }
    let held = store.read("manual").await.unwrap();
    assert_eq!(held.kind, StateKind::ForcedOpen);
}
