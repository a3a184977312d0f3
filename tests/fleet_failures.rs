//! Fleet-wide failures: each replica's closed consecutive-failure count is a share the store
//! sums, and the fleet opens when the shares reach `failure_threshold`. Against a real
//! redis-server each test starts on a free loopback port and stops: the store's script first,
//! then replicas (separate registries, store connections, fleets and sync tasks).
#![cfg(feature = "redis-tokio")]
#![allow(clippy::too_many_lines)]

#[path = "support/redis_server.rs"]
mod common;
#[path = "support/fleet.rs"]
mod support;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::RedisServer;
use protego_breaker::fleet::redis::RedisStore;
use protego_breaker::fleet::{
    Epoch, Failures, FailuresOutcome, Manual, StateKind, Store, StoreError, Trip, TripOutcome,
};
use protego_breaker::{observe::Reason, CircuitBreaker, Clock, Config, State, SystemClock, Window};
use support::{until, Replica, Setup, NAME};

const WAIT: Duration = Duration::from_secs(5);

type Sys = Replica<SystemClock>;

fn share(epoch: Epoch, replica: &str, failures: u32, threshold: u32) -> Failures<'_> {
    Failures {
        expected_epoch: epoch,
        replica_id: replica,
        failures,
        threshold,
        window: Duration::from_secs(10),
        open_for: Duration::from_secs(60),
        quorum: 1,
        quorum_window: Duration::from_secs(10),
    }
}

async fn count(store: &RedisStore, f: Failures<'_>) -> FailuresOutcome {
    store.count_failures(NAME, f).await.unwrap().outcome
}

/// The failure shares the store holds for `NAME`: replica -> count (expired ones included until
/// a script drops them).
fn shares(server: &RedisServer) -> HashMap<String, u32> {
    let raw: HashMap<String, String> = redis::cmd("HGETALL")
        .arg(format!("protego{{{NAME}}}:failures"))
        .query(&mut server.conn().unwrap())
        .unwrap();
    raw.into_iter()
        .map(|(k, v)| (k, v.split(' ').next().unwrap().parse().unwrap()))
        .collect()
}

// --- the store's script ---

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shares_of_three_replicas_reach_the_threshold_and_open_in_the_same_step() {
    let server = RedisServer::start();
    let store = server.store();
    assert_eq!(
        count(&store, share(Epoch(0), "a", 1, 3)).await,
        FailuresOutcome::Counted { total: 1 }
    );
    assert_eq!(
        count(&store, share(Epoch(0), "b", 1, 3)).await,
        FailuresOutcome::Counted { total: 2 }
    );
    let r = store
        .count_failures(NAME, share(Epoch(0), "c", 1, 3))
        .await
        .unwrap();
    assert_eq!(r.outcome, FailuresOutcome::Opened);
    assert_eq!(r.state.kind, StateKind::Open);
    assert!(r.state.open_remaining > Duration::from_secs(59));
    assert!(
        shares(&server).is_empty(),
        "the new epoch starts with no shares"
    );
    // A share for the Closed epoch that is gone changes nothing.
    assert_eq!(
        count(&store, share(Epoch(0), "d", 5, 3)).await,
        FailuresOutcome::Stale
    );
    let now = store.read(NAME).await.unwrap();
    assert_eq!((now.epoch, now.kind), (r.state.epoch, StateKind::Open));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_is_the_replicas_latest_count_and_zero_removes_it() {
    let server = RedisServer::start();
    let store = server.store();
    count(&store, share(Epoch(0), "a", 1, 5)).await;
    assert_eq!(
        count(&store, share(Epoch(0), "a", 2, 5)).await,
        FailuresOutcome::Counted { total: 2 },
        "replaced, not added"
    );
    assert_eq!(
        count(&store, share(Epoch(0), "b", 2, 5)).await,
        FailuresOutcome::Counted { total: 4 }
    );
    assert_eq!(
        count(&store, share(Epoch(0), "a", 0, 5)).await,
        FailuresOutcome::Counted { total: 2 },
        "a success resets a's share"
    );
    assert_eq!(shares(&server), HashMap::from([("b".to_owned(), 2)]));
    assert_eq!(
        count(&store, share(Epoch(0), "c", 2, 5)).await,
        FailuresOutcome::Counted { total: 4 }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_older_than_its_window_counts_for_nothing() {
    let server = RedisServer::start();
    let store = server.store();
    let mut dead = share(Epoch(0), "dead", 2, 3);
    dead.window = Duration::from_millis(50);
    count(&store, dead).await;
    // The window runs on Redis time: let it pass.
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(
        count(&store, share(Epoch(0), "alive", 1, 3)).await,
        FailuresOutcome::Counted { total: 1 },
        "2 + 1 would have opened"
    );
    assert_eq!(shares(&server), HashMap::from([("alive".to_owned(), 1)]));
    assert_eq!(store.read(NAME).await.unwrap().kind, StateKind::Closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_with_a_stale_epoch_changes_nothing() {
    let server = RedisServer::start();
    let store = server.store();
    store.set_manual(NAME, Manual::Reset).await.unwrap();
    let before = store.read(NAME).await.unwrap();
    assert!(before.epoch > Epoch(0));
    let r = store
        .count_failures(NAME, share(Epoch(0), "late", 9, 1))
        .await
        .unwrap();
    assert_eq!(r.outcome, FailuresOutcome::Stale);
    assert_eq!(r.state, before);
    assert!(shares(&server).is_empty(), "the stale share was not stored");
    assert_eq!(store.read(NAME).await.unwrap(), before);
    // The same share with the current epoch opens.
    assert_eq!(
        count(&store, share(before.epoch, "late", 9, 1)).await,
        FailuresOutcome::Opened
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_quorum_shares_and_trips_count_one_failing_replica_each() {
    let server = RedisServer::start();
    let store = server.store();
    let quorum = |mut f: Failures<'static>| {
        f.quorum = 2;
        f
    };
    // One sick replica alone reaches the threshold: below the quorum, nothing opens.
    assert_eq!(
        count(&store, quorum(share(Epoch(0), "sick", 3, 3))).await,
        FailuresOutcome::Counted { total: 3 }
    );
    // A second failing replica makes the quorum.
    assert_eq!(
        count(&store, quorum(share(Epoch(0), "other", 1, 3))).await,
        FailuresOutcome::Opened
    );
    // A share counts for a trip's quorum too, and a trip for a share's.
    let closed = store.set_manual(NAME, Manual::Reset).await.unwrap();
    count(&store, quorum(share(closed.epoch, "a", 1, 3))).await;
    let trip = Trip {
        expected_epoch: closed.epoch,
        replica_id: "b",
        open_for: Duration::from_secs(60),
        quorum: 2,
        quorum_window: Duration::from_secs(10),
    };
    assert_eq!(
        store.trip(NAME, trip).await.unwrap().outcome,
        TripOutcome::Opened
    );
    // But not the same replica twice: a replica's share and its own trip are one replica.
    let closed = store.set_manual(NAME, Manual::Reset).await.unwrap();
    count(&store, quorum(share(closed.epoch, "a", 2, 3))).await;
    let trip = Trip {
        replica_id: "a",
        expected_epoch: closed.epoch,
        ..trip
    };
    assert_eq!(
        store.trip(NAME, trip).await.unwrap().outcome,
        TripOutcome::Voted { votes: 1 }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_threshold_is_refused_with_a_clear_error() {
    let server = RedisServer::start();
    let store = server.store();
    let err = store
        .count_failures(NAME, share(Epoch(0), "a", 1, 0))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Refused { .. }), "{err:?}");
    assert!(err.to_string().contains("threshold"), "{err}");
}

// --- replicas ---

async fn fail<C: Clock + Clone + Send + Sync + 'static>(r: &Replica<C>) -> bool {
    let out = r.breaker().call(async { Err::<(), _>("down") }).await;
    out.is_err_and(|e| !e.is_rejected())
}

async fn succeed<C: Clock + Clone + Send + Sync + 'static>(r: &Replica<C>) -> bool {
    r.breaker().call(async { Ok::<(), &str>(()) }).await.is_ok()
}

fn threshold(n: u32) -> Config {
    Config::builder()
        .failure_threshold(n)
        .reset_timeout(Duration::from_secs(60))
        .half_open_retries(1)
        .build()
        .unwrap()
}

async fn started(setup: &Setup, n: usize) -> Vec<Sys> {
    let rs: Vec<Sys> = (0..n)
        .map(|i| Replica::start(setup, &format!("r{i}"), SystemClock))
        .collect();
    until("every replica is online", WAIT, || {
        rs.iter().all(|r| r.fleet.is_online())
    })
    .await;
    rs
}

/// Waits until replica `r` has had at least one more periodic read: its sync future has gone
/// round its loop since (every queued command before it is done).
async fn synced(r: &Sys) {
    let reads = r.ops.read.load(Ordering::Relaxed);
    until("the replica read the store again", WAIT, || {
        r.ops.read.load(Ordering::Relaxed) > reads
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_with_one_failure_each_open_a_fleet_whose_threshold_is_three() {
    let server = RedisServer::start();
    let mut setup = Setup::new(server.url(), threshold(3));
    setup.sync_interval = Duration::from_secs(600); // pushes carry it, not polling
    let rs = started(&setup, 3).await;
    for r in &rs {
        assert!(fail(r).await);
    }
    until("every replica is open", WAIT, || {
        rs.iter().all(|r| r.state() == State::Open)
    })
    .await;
    assert_eq!(
        server.store().read(NAME).await.unwrap().kind,
        StateKind::Open
    );
    for r in &rs {
        let log = r.log.lock().unwrap();
        assert_eq!(log.len(), 1, "{log:?}");
        assert_eq!(
            log[0].reason(),
            Reason::Fleet,
            "no replica reached 3 on its own"
        );
    }
    let rejected = rs[0].breaker().call(async { Ok::<(), ()>(()) }).await;
    assert!(rejected.unwrap_err().is_rejected());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turned_off_the_same_failures_leave_every_replica_closed() {
    let server = RedisServer::start();
    let mut setup = Setup::new(server.url(), threshold(3));
    setup.fleet_wide_failures = false;
    let rs = started(&setup, 3).await;
    for r in &rs {
        assert!(fail(r).await);
    }
    for r in &rs {
        synced(r).await;
        assert_eq!(r.state(), State::Closed);
        assert_eq!(r.ops.failures.load(Ordering::Relaxed), 0);
    }
    assert!(shares(&server).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_success_resets_the_replicas_share() {
    let server = RedisServer::start();
    let mut setup = Setup::new(server.url(), threshold(3));
    setup.sync_interval = Duration::from_secs(600); // the success's own write, not a tick
    let rs = started(&setup, 2).await;
    assert!(fail(&rs[0]).await && fail(&rs[0]).await);
    until("r0's share is 2", WAIT, || {
        shares(&server).get("r0") == Some(&2)
    })
    .await;
    assert!(succeed(&rs[0]).await);
    until("r0's share is gone", WAIT, || shares(&server).is_empty()).await;
    // 2 + 1 would open the fleet; 0 + 1 does not.
    assert!(fail(&rs[1]).await);
    until("r1's share is 1", WAIT, || {
        shares(&server).get("r1") == Some(&1)
    })
    .await;
    assert_eq!(
        server.store().read(NAME).await.unwrap().kind,
        StateKind::Closed
    );
    assert_eq!(rs[0].state(), State::Closed);
    assert_eq!(rs[1].state(), State::Closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_replicas_count_ages_out_after_the_failure_window() {
    let server = RedisServer::start();
    let mut setup = Setup::new(server.url(), threshold(3));
    setup.failure_window = Duration::from_millis(200);
    let mut rs = started(&setup, 2).await;
    assert!(fail(&rs[0]).await && fail(&rs[0]).await);
    until("r0's share is 2", WAIT, || {
        shares(&server).get("r0") == Some(&2)
    })
    .await;
    rs[0].stop(); // dead: it never reports again
                  // The window runs on Redis time: let it pass.
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(fail(&rs[1]).await);
    until("r1's share is in", WAIT, || {
        shares(&server).get("r1") == Some(&1)
    })
    .await;
    assert!(!shares(&server).contains_key("r0"), "dropped by the script");
    assert_eq!(
        server.store().read(NAME).await.unwrap().kind,
        StateKind::Closed
    );
    assert_eq!(rs[1].state(), State::Closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_closed_success_sends_nothing_and_a_reset_sends_one_write() {
    let server = RedisServer::start();
    let setup = Setup::new(server.url(), threshold(100)); // ticks every 100 ms: none sends
    let rs = started(&setup, 1).await;
    for _ in 0..1000 {
        assert!(succeed(&rs[0]).await);
    }
    synced(&rs[0]).await;
    assert_eq!(rs[0].ops.failures.load(Ordering::Relaxed), 0);
    assert!(fail(&rs[0]).await);
    until("the failure is sent", WAIT, || {
        rs[0].ops.failures.load(Ordering::Relaxed) == 1
    })
    .await;
    for _ in 0..10 {
        assert!(succeed(&rs[0]).await);
    }
    until("the reset is sent", WAIT, || {
        rs[0].ops.failures.load(Ordering::Relaxed) == 2
    })
    .await;
    synced(&rs[0]).await;
    assert_eq!(
        rs[0].ops.failures.load(Ordering::Relaxed),
        2,
        "one write for the reset"
    );
    assert!(shares(&server).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breakers_with_a_failure_rate_window_trip_per_replica() {
    let server = RedisServer::start();
    // Consecutive failures decide nothing here: 50 % of the last 4 calls do.
    let windowed = Config::builder()
        .window(Window::Count(4))
        .failure_rate_threshold(50)
        .minimum_calls(4)
        .reset_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let setup = Setup::new(server.url(), windowed);
    let rs = started(&setup, 3).await;
    for r in &rs {
        assert!(fail(r).await);
    }
    for r in &rs {
        synced(r).await;
        assert_eq!(r.state(), State::Closed);
        assert_eq!(r.ops.failures.load(Ordering::Relaxed), 0, "no shares sent");
    }
    // One replica's window trips: its trip opens the fleet as before.
    for _ in 0..3 {
        let _ = fail(&rs[0]).await;
    }
    until("every replica is open", WAIT, || {
        rs.iter().all(|r| r.state() == State::Open)
    })
    .await;
    assert_eq!(rs[0].log.lock().unwrap()[0].reason(), Reason::FailureRate);
}
