//! The fleet on a primary behind Redis Sentinel (issue #23): a primary, a replica and three
//! sentinels (`redis-server --sentinel`) on loopback, started and stopped by each test. The
//! primary is killed (SIGKILL); the sentinels promote the replica; the fleet finds the new
//! primary through them and coordinates again.
#![cfg(feature = "redis-tokio")]

#[path = "support/redis_server.rs"]
mod common;
#[path = "support/failover.rs"]
mod failover;
#[path = "support/sentinel.rs"]
mod sentinel;
#[path = "support/fleet.rs"]
mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use failover::time_failover;
use protego_breaker::fleet::redis::{RedisConfig, RedisStore};
use protego_breaker::fleet::{FleetConfig, StateKind, Store, TokioSleeper};
use protego_breaker::{CircuitBreaker, Clock, State};
use sentinel::{SentinelSetup, MASTER};
use support::{all_online, config, rejects, replicas, until, Replica, Setup, Sys, NAME};

const WAIT: Duration = Duration::from_secs(5);
/// How long the sentinels may take to promote the replica after the primary dies.
const FAILOVER: Duration = Duration::from_secs(20);

async fn fail<C: Clock + Clone + Send + Sync + 'static>(r: &Replica<C>) -> bool {
    let out = r.breaker().call(async { Err::<(), _>("down") }).await;
    out.is_err_and(|e| !e.is_rejected())
}

/// The sentinel setup, and two replicas online through it (300 ms sync interval; breakers
/// open on the first failure, for 60 s).
async fn started() -> (SentinelSetup, Vec<Sys>) {
    started_with(config(Duration::from_secs(60), 1)).await
}

/// [`started`] with breakers of `breakers`.
async fn started_with(breakers: protego_breaker::Config) -> (SentinelSetup, Vec<Sys>) {
    let s = tokio::task::spawn_blocking(|| SentinelSetup::start(Duration::from_secs(1)))
        .await
        .unwrap();
    let mut setup = Setup::new("redis://primary/".to_owned(), breakers);
    setup.sync_interval = Duration::from_millis(300);
    setup.sentinel = Some((MASTER.to_owned(), s.sentinel_urls()));
    let rs = replicas(&setup, 2);
    all_online(&rs, WAIT).await;
    (s, rs)
}

fn store(s: &SentinelSetup) -> RedisStore {
    let config = RedisConfig::builder("redis://primary/")
        .sentinel(MASTER, s.sentinel_urls())
        .build()
        .expect("config");
    RedisStore::new(config, TokioSleeper).expect("store")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_killed_in_an_open_period_the_fleet_follows_the_promoted_replica() {
    let (mut s, rs) = started().await;
    assert!(fail(&rs[0]).await);
    until("replica 1 adopts the trip", WAIT, || {
        rs[1].state() == State::Open
    })
    .await;
    let s2 = tokio::task::spawn_blocking(move || {
        s.replicated();
        s.primary.stop(); // SIGKILL
        s
    });
    let s = s2.await.unwrap();
    let killed = Instant::now();
    // While the sentinels fail over, no call fails because of the store and none waits on it.
    let calm: Vec<_> = rs
        .iter()
        .map(|r| r.registry.get_or_create("calm"))
        .collect();
    let mut slowest = Duration::ZERO;
    let mut checks = 0;
    loop {
        let promoted = tokio::task::block_in_place(|| s.promoted());
        if promoted {
            break;
        }
        assert!(
            killed.elapsed() < FAILOVER,
            "the sentinels never promoted the replica"
        );
        for (r, b) in rs.iter().zip(&calm) {
            let t = Instant::now();
            assert!(b.call(async { Ok::<(), ()>(()) }).await.is_ok());
            assert!(rejects(r).await);
            slowest = slowest.max(t.elapsed());
        }
        checks += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let promoted = Instant::now();
    assert!(
        checks > 0 && slowest < Duration::from_millis(50),
        "{slowest:?}"
    );
    until("both online on the promoted replica", WAIT, || {
        rs.iter().all(|r| r.fleet.is_online())
    })
    .await;
    let took = promoted.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "online {took:?} after the promotion"
    );
    eprintln!(
        "primary killed -> promoted {:?}, promoted -> fleet online {took:?}",
        promoted - killed
    );
    // The promoted replica holds the trip: the fleet is still open, on one epoch.
    let held = store(&s).read(NAME).await.unwrap();
    assert_eq!(held.kind, StateKind::Open);
    assert!(rs.iter().all(|r| r.state() == State::Open));
    // And they coordinate again: a reset on one reaches the other.
    rs[1].breaker().reset();
    until("replica 0 closed by replica 1's reset", WAIT, || {
        rs[0].state() == State::Closed
    })
    .await;
    assert_eq!(store(&s).read(NAME).await.unwrap().kind, StateKind::Closed);
}

/// The replica is cut off (SIGSTOP, its link closed) while the fleet trips, so the trip never
/// reaches it; the
/// primary is killed and the replica, resumed, is promoted without it. The promoted server's
/// state wins (the `fleet` module's docs, "When the store comes back"): every replica follows
/// it to Closed, on one state, instead of some keeping an Open the store no longer holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promoted_replica_that_lost_the_last_writes_wins_and_the_fleet_follows_it() {
    let (mut s, rs) = started().await;
    // Cut the replica off: stopped, and its link closed by the primary (bytes already in a
    // socket would still reach it once resumed).
    s.replica.signal("STOP");
    let _: redis::Value = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("replica")
        .query(&mut s.primary.conn().unwrap())
        .unwrap();
    assert!(fail(&rs[0]).await);
    until("replica 1 adopts the trip", WAIT, || {
        rs[1].state() == State::Open
    })
    .await;
    // The old primary acknowledged the trip (it holds it), at a replication offset the
    // replica never reached.
    let state_key = store(&s).keys(NAME)[0].clone();
    let kind_on = |server: &common::RedisServer| -> Option<String> {
        redis::cmd("HGET")
            .arg(&state_key)
            .arg("kind")
            .query(&mut server.conn().ok()?)
            .ok()?
    };
    let offset = |server: &common::RedisServer| -> Option<u64> {
        sentinel::field(&sentinel::replication(server), "master_repl_offset")?
            .parse()
            .ok()
    };
    let (held, acked) = tokio::task::block_in_place(|| (kind_on(&s.primary), offset(&s.primary)));
    assert_eq!(
        held.as_deref(),
        Some("open"),
        "the old primary holds the trip"
    );
    let acked = acked.expect("the primary's offset");
    let s = tokio::task::spawn_blocking(move || {
        s.primary.stop(); // SIGKILL: the trip dies with it
        s.replica.signal("CONT");
        s
    })
    .await
    .unwrap();
    let killed = Instant::now();
    // Resumed, the replica answers, behind the offset of the trip and without it.
    let mut behind = None;
    until("the resumed replica answers", WAIT, || {
        behind = tokio::task::block_in_place(|| offset(&s.replica));
        behind.is_some()
    })
    .await;
    let behind = behind.unwrap();
    assert!(
        behind < acked,
        "replica at offset {behind}, the trip at {acked}"
    );
    assert_ne!(
        tokio::task::block_in_place(|| kind_on(&s.replica)).as_deref(),
        Some("open"),
        "the replica must lack the trip"
    );
    while !tokio::task::block_in_place(|| s.promoted()) {
        assert!(
            killed.elapsed() < FAILOVER,
            "the sentinels never promoted the replica"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let promoted = Instant::now();
    let held = store(&s).read(NAME).await.unwrap();
    assert_eq!(
        held.kind,
        StateKind::Closed,
        "the promoted store lost the trip"
    );
    until("both follow the promoted server to Closed", WAIT, || {
        rs.iter()
            .all(|r| r.fleet.is_online() && r.state() == State::Closed)
    })
    .await;
    // No member stays divergent: a full sync interval later, both still hold the store's
    // state, and the store still holds the one it had after the promotion.
    let synced: Vec<u64> = rs
        .iter()
        .map(|r| r.ops.read.load(Ordering::Relaxed))
        .collect();
    until("both read the store again", WAIT, || {
        rs.iter()
            .zip(&synced)
            .all(|(r, before)| r.ops.read.load(Ordering::Relaxed) > *before)
    })
    .await;
    assert!(rs.iter().all(|r| r.state() == State::Closed));
    assert_eq!(store(&s).read(NAME).await.unwrap().epoch, held.epoch);
    assert!(
        promoted.elapsed() < Duration::from_secs(1),
        "{:?}",
        promoted.elapsed()
    );
    // And share again from there: the next trip reaches the other replica.
    assert!(fail(&rs[1]).await);
    until("replica 0 adopts the new trip", WAIT, || {
        rs[0].state() == State::Open
    })
    .await;
}

/// The primary dies while replica 0 holds the fleet's one trial lease of a half-open round.
/// The round is on the promoted replica too; once the fleet is back there, a trial on replica 1
/// closes the circuit everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_killed_in_a_half_open_round_the_round_goes_on_on_the_promoted_replica() {
    let (mut s, rs) = started_with(config(Duration::from_millis(500), 1)).await;
    assert!(fail(&rs[0]).await);
    until("both half-open", WAIT, || {
        rs.iter().all(|r| r.state() == State::HalfOpen)
    })
    .await;
    let b0 = rs[0].breaker();
    let trial = support::admitted_trial(&b0, WAIT).await;
    assert_eq!(store(&s).read(NAME).await.unwrap().trials_in_flight, 1);
    s = tokio::task::spawn_blocking(move || {
        s.replicated();
        s.primary.stop(); // SIGKILL
        s
    })
    .await
    .unwrap();
    let killed = Instant::now();
    let calm = rs[1].registry.get_or_create("calm");
    while !tokio::task::block_in_place(|| s.promoted()) {
        assert!(
            killed.elapsed() < FAILOVER,
            "the sentinels never promoted the replica"
        );
        assert!(calm.call(async { Ok::<(), ()>(()) }).await.is_ok());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let promoted = Instant::now();
    drop(trial);
    all_online(&rs, WAIT).await;
    assert!(
        promoted.elapsed() < Duration::from_secs(1),
        "{:?}",
        promoted.elapsed()
    );
    assert_eq!(
        store(&s).read(NAME).await.unwrap().kind,
        StateKind::HalfOpen
    );
    // The fleet's round goes on: replica 1's trial succeeds and closes it everywhere.
    let start = Instant::now();
    while rs[1]
        .breaker()
        .call(async { Ok::<(), ()>(()) })
        .await
        .is_err()
    {
        assert!(start.elapsed() < WAIT, "replica 1 never got a trial");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    until("both closed", WAIT, || {
        rs.iter().all(|r| r.state() == State::Closed)
    })
    .await;
    assert_eq!(store(&s).read(NAME).await.unwrap().kind, StateKind::Closed);
}

/// The figure in benches/README.md ("The fleet back with the store", #30): from a primary's
/// SIGKILL, the time until a plain client that follows the sentinels has its first write
/// acknowledged, and until the fleet (two replicas) is online and shared on the promoted
/// replica, over `PROTEGO_FAILOVERS` failovers (default 20) on the default sync interval and
/// on 100 ms, in the same run; with the store operations per second while away.
/// `cargo test --release --features redis-tokio --test fleet_sentinel -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: ~5 s per failover"]
async fn measure_failovers() {
    let rounds: usize = std::env::var("PROTEGO_FAILOVERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20);
    let mut s = tokio::task::spawn_blocking(|| SentinelSetup::start(Duration::from_secs(1)))
        .await
        .unwrap();
    let sentinels = s.sentinel_urls();
    let default = FleetConfig::new(TokioSleeper).get_sync_interval();
    for interval in [default, Duration::from_millis(100)] {
        let mut setup = Setup::new(
            "redis://primary/".to_owned(),
            config(Duration::from_secs(60), 1),
        );
        setup.sync_interval = interval;
        setup.sentinel = Some((MASTER.to_owned(), sentinels.clone()));
        let rs = replicas(&setup, 2);
        all_online(&rs, WAIT).await;
        let mut failovers = Vec::new();
        for round in 0..rounds {
            let outages: Vec<u32> = rs.iter().map(|r| r.fleet.outages()).collect();
            let ops = failover::ops_of(&rs);
            s = tokio::task::spawn_blocking(move || {
                s.primary.stop();
                s
            })
            .await
            .unwrap();
            let killed = Instant::now();
            let f = time_failover(&rs, &outages, ops, killed, FAILOVER, round, || {
                let sentinels = sentinels.clone();
                async move {
                    let write = async {
                        let mut sentinel = redis::sentinel::Sentinel::build(sentinels)?;
                        let client = sentinel.async_master_for(MASTER, None).await?;
                        let mut c = client.get_multiplexed_async_connection().await?;
                        redis::cmd("SET")
                            .arg("plain")
                            .arg(round)
                            .query_async::<()>(&mut c)
                            .await
                    };
                    let out = tokio::time::timeout(Duration::from_millis(100), write).await;
                    matches!(out, Ok(Ok(())))
                }
            })
            .await;
            failovers.push(f);
            s = tokio::task::spawn_blocking(move || {
                s.rejoin_and_swap();
                s
            })
            .await
            .unwrap();
            all_online(&rs, WAIT).await;
        }
        failover::report(
            &format!("Sentinel, down-after 1000 ms, sync interval {interval:?}"),
            &failovers,
        );
    }
}
