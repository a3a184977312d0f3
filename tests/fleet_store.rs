//! `RedisStore` against a real redis-server started by each test.
#![cfg(feature = "redis-tokio")]
#![allow(
    clippy::many_single_char_names,
    clippy::too_many_lines,
    clippy::cast_sign_loss
)]

#[path = "support/redis_server.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{store_for, RedisServer};
use futures::future::join_all;
use futures::StreamExt;
use protego_breaker::fleet::redis::{RedisStore, MAX_MS};
use protego_breaker::fleet::{
    Epoch, LeaseId, LeaseOutcome, Manual, StateKind, Store, StoreError, TrialOutcome, Trip,
    TripOutcome,
};

const NAME: &str = "payments";

fn trip(epoch: Epoch, replica: &str, open_for_ms: u64) -> Trip<'_> {
    Trip {
        expected_epoch: epoch,
        replica_id: replica,
        open_for: Duration::from_millis(open_for_ms),
        quorum: 1,
        quorum_window: Duration::from_secs(10),
    }
}

/// Trips `name` from its current Closed state and waits until it is half-open; returns that epoch.
async fn half_open(store: &RedisStore, name: &str) -> Epoch {
    let closed = store.read(name).await.unwrap();
    assert_eq!(closed.kind, StateKind::Closed);
    let r = store
        .trip(name, trip(closed.epoch, "r0", 40))
        .await
        .unwrap();
    assert_eq!(r.outcome, TripOutcome::Opened);
    tokio::time::sleep(Duration::from_millis(60)).await;
    let s = store.read(name).await.unwrap();
    assert_eq!(s.kind, StateKind::HalfOpen);
    s.epoch
}

async fn grant(store: &RedisStore, name: &str, epoch: Epoch, lease_ms: u64, max: u32) -> LeaseId {
    match store
        .acquire_lease(name, epoch, Duration::from_millis(lease_ms), max)
        .await
        .unwrap()
        .outcome
    {
        LeaseOutcome::Granted(id) => id,
        other => panic!("expected a lease, got {other:?}"),
    }
}

fn pttl(server: &RedisServer, key: &str) -> i64 {
    redis::cmd("PTTL")
        .arg(key)
        .query(&mut server.conn().unwrap())
        .unwrap()
}

/// Every key of `name` that exists has a TTL.
fn assert_ttls(server: &RedisServer, store: &RedisStore, name: &str) -> usize {
    let mut present = 0;
    for key in store.keys(name) {
        let t = pttl(server, &key);
        assert!(t == -2 || t > 0, "key {key} has PTTL {t}");
        if t > 0 {
            present += 1;
        }
    }
    present
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absent_name_is_closed_epoch_zero_and_reading_creates_nothing() {
    let server = RedisServer::start();
    let store = server.roomy_store();
    let s = store.read("nobody").await.unwrap();
    assert_eq!(s, protego_breaker::fleet::SharedState::ABSENT);
    assert_eq!(assert_ttls(&server, &store, "nobody"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn epoch_cas_concurrent_trips_open_exactly_once() {
    let server = RedisServer::start();
    let stores: Vec<RedisStore> = (0..10).map(|_| server.roomy_store()).collect();
    // Two replicas, same expected epoch.
    let results = join_all(stores[..2].iter().enumerate().map(|(i, s)| async move {
        s.trip(NAME, trip(Epoch(0), if i == 0 { "a" } else { "b" }, 10_000))
            .await
            .unwrap()
    }))
    .await;
    let opened: Vec<_> = results
        .iter()
        .filter(|r| r.outcome == TripOutcome::Opened)
        .collect();
    assert_eq!(opened.len(), 1, "{results:?}");
    assert_eq!(
        results
            .iter()
            .filter(|r| r.outcome == TripOutcome::Stale)
            .count(),
        1
    );
    let open = stores[0].read(NAME).await.unwrap();
    assert_eq!(open.kind, StateKind::Open);
    assert_eq!(open.epoch, opened[0].state.epoch);
    assert!(open.epoch > Epoch(0));
    // Ten replicas on another name.
    let ids: Vec<String> = (0..10).map(|i| format!("r{i}")).collect();
    let results = join_all(
        stores
            .iter()
            .zip(&ids)
            .map(|(s, id)| s.trip("other", trip(Epoch(0), id, 10_000))),
    )
    .await;
    let opened = results
        .iter()
        .filter(|r| r.as_ref().unwrap().outcome == TripOutcome::Opened)
        .count();
    assert_eq!(opened, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_epoch_changes_nothing() {
    let server = RedisServer::start();
    let store = server.roomy_store();
    let he = half_open(&store, NAME).await;
    let lease = grant(&store, NAME, he, 5_000, 2).await;
    // A failure reopens: a new epoch.
    let reopened = store
        .report(
            NAME,
            he,
            lease,
            TrialOutcome::Failure,
            2,
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    assert!(reopened.applied);
    let before = store.read(NAME).await.unwrap();
    assert_eq!(before.kind, StateKind::Open);
    assert!(before.epoch > he);
    // Late writes carrying older epochs.
    let t = store.trip(NAME, trip(Epoch(0), "late", 1)).await.unwrap();
    assert_eq!(t.outcome, TripOutcome::Stale);
    assert_eq!(t.state.epoch, before.epoch);
    let t = store.trip(NAME, trip(he, "late", 1)).await.unwrap();
    assert_eq!(t.outcome, TripOutcome::Stale);
    let r = store
        .report(NAME, he, lease, TrialOutcome::Success, 1, Duration::ZERO)
        .await
        .unwrap();
    assert!(!r.applied);
    let l = store
        .acquire_lease(NAME, he, Duration::from_secs(1), 2)
        .await
        .unwrap();
    assert_eq!(l.outcome, LeaseOutcome::Stale);
    let after = store.read(NAME).await.unwrap();
    assert_eq!(
        (after.epoch, after.kind, after.reopens),
        (before.epoch, before.kind, before.reopens)
    );
    assert!(after.open_remaining <= before.open_remaining);
    // Trip with the current epoch while Open: also stale (only Closed trips).
    let t = store.trip(NAME, trip(after.epoch, "x", 1)).await.unwrap();
    assert_eq!(t.outcome, TripOutcome::Stale);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_period_on_redis_time_turns_half_open() {
    let server = RedisServer::start();
    let a = server.roomy_store();
    let b = server.roomy_store();
    let t = a.trip(NAME, trip(Epoch(0), "a", 300)).await.unwrap();
    let open_epoch = t.state.epoch;
    assert_eq!(t.state.kind, StateKind::Open);
    assert!(t.state.open_remaining <= Duration::from_millis(300));
    assert!(
        t.state.open_remaining >= Duration::from_millis(250),
        "{t:?}"
    );
    // Too early (a replica whose clock runs fast): stale, with the time left.
    let early = b
        .acquire_lease(NAME, open_epoch, Duration::from_secs(1), 1)
        .await
        .unwrap();
    assert_eq!(early.outcome, LeaseOutcome::Stale);
    assert_eq!(early.state.kind, StateKind::Open);
    assert!(early.state.open_remaining > Duration::ZERO);
    tokio::time::sleep(Duration::from_millis(330)).await;
    // Asking with the Open epoch once it ended on Redis time: HalfOpen in a new epoch, granted.
    let l = b
        .acquire_lease(NAME, open_epoch, Duration::from_secs(1), 1)
        .await
        .unwrap();
    assert!(matches!(l.outcome, LeaseOutcome::Granted(_)), "{l:?}");
    assert_eq!(l.state.kind, StateKind::HalfOpen);
    assert!(l.state.epoch > open_epoch);
    let s = a.read(NAME).await.unwrap();
    assert_eq!(
        (s.kind, s.epoch, s.trials_in_flight),
        (StateKind::HalfOpen, l.state.epoch, 1)
    );
    // Reading alone also turns it half-open.
    let t = a.trip("n2", trip(Epoch(0), "a", 50)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(70)).await;
    let s = b.read("n2").await.unwrap();
    assert_eq!(s.kind, StateKind::HalfOpen);
    assert!(s.epoch > t.state.epoch);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_never_exceed_max_trials_with_ten_acquirers() {
    let server = RedisServer::start();
    let stores: Vec<RedisStore> = (0..10).map(|_| server.roomy_store()).collect();
    let he = half_open(&stores[0], NAME).await;
    let race = || {
        join_all(
            stores
                .iter()
                .map(|s| s.acquire_lease(NAME, he, Duration::from_secs(10), 2)),
        )
    };
    let results = race().await;
    let granted: Vec<LeaseId> = results
        .iter()
        .filter_map(|r| match r.as_ref().unwrap().outcome {
            LeaseOutcome::Granted(id) => Some(id),
            _ => None,
        })
        .collect();
    assert_eq!(granted.len(), 2, "{results:?}");
    assert!(results
        .iter()
        .all(|r| r.as_ref().unwrap().state.trials_in_flight <= 2));
    assert_eq!(
        results
            .iter()
            .filter(|r| r.as_ref().unwrap().outcome == LeaseOutcome::Full)
            .count(),
        8
    );
    // Cancelling one frees exactly one slot.
    let c = stores[3]
        .report(
            NAME,
            he,
            granted[0],
            TrialOutcome::Cancelled,
            2,
            Duration::ZERO,
        )
        .await
        .unwrap();
    assert!(c.applied);
    assert_eq!(c.state.trials_in_flight, 1);
    let results = race().await;
    let n = results
        .iter()
        .filter(|r| matches!(r.as_ref().unwrap().outcome, LeaseOutcome::Granted(_)))
        .count();
    assert_eq!(n, 1);
    // A success holds its slot for the round: success + 1 live lease = 2, so nobody else.
    let s = stores[0]
        .report(
            NAME,
            he,
            granted[1],
            TrialOutcome::Success,
            2,
            Duration::ZERO,
        )
        .await
        .unwrap();
    assert!(s.applied);
    assert_eq!((s.state.trial_successes, s.state.trials_in_flight), (1, 1));
    let results = race().await;
    assert!(results
        .iter()
        .all(|r| r.as_ref().unwrap().outcome == LeaseOutcome::Full));
    assert_eq!(stores[0].read(NAME).await.unwrap().trials_in_flight, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_lease_frees_its_slot_and_its_report_is_stale() {
    let server = RedisServer::start();
    let store = server.roomy_store();
    let he = half_open(&store, NAME).await;
    let first = grant(&store, NAME, he, 200, 1).await;
    let full = store
        .acquire_lease(NAME, he, Duration::from_millis(200), 1)
        .await
        .unwrap();
    assert_eq!(full.outcome, LeaseOutcome::Full);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(store.read(NAME).await.unwrap().trials_in_flight, 0);
    let second = grant(&store, NAME, he, 5_000, 1).await;
    assert_ne!(first, second);
    // The dead replica's late report: nothing changes.
    let r = store
        .report(NAME, he, first, TrialOutcome::Success, 1, Duration::ZERO)
        .await
        .unwrap();
    assert!(!r.applied);
    assert_eq!(
        (
            r.state.kind,
            r.state.trial_successes,
            r.state.trials_in_flight
        ),
        (StateKind::HalfOpen, 0, 1)
    );
    let r = store
        .report(
            NAME,
            he,
            first,
            TrialOutcome::Failure,
            1,
            Duration::from_secs(9),
        )
        .await
        .unwrap();
    assert!(!r.applied);
    assert_eq!(r.state.kind, StateKind::HalfOpen);
    // Unknown lease id: same.
    let r = store
        .report(
            NAME,
            he,
            LeaseId(999),
            TrialOutcome::Failure,
            1,
            Duration::from_secs(9),
        )
        .await
        .unwrap();
    assert!(!r.applied);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn successes_across_replicas_close() {
    let server = RedisServer::start();
    let a = server.roomy_store();
    let b = server.roomy_store();
    let he = half_open(&a, NAME).await;
    let la = grant(&a, NAME, he, 5_000, 2).await;
    let lb = grant(&b, NAME, he, 5_000, 2).await;
    let r = a
        .report(NAME, he, la, TrialOutcome::Success, 2, Duration::ZERO)
        .await
        .unwrap();
    assert!(r.applied);
    assert_eq!(
        (r.state.kind, r.state.epoch, r.state.trial_successes),
        (StateKind::HalfOpen, he, 1)
    );
    let r = b
        .report(NAME, he, lb, TrialOutcome::Success, 2, Duration::ZERO)
        .await
        .unwrap();
    assert!(r.applied);
    assert_eq!(r.state.kind, StateKind::Closed);
    assert!(r.state.epoch > he);
    assert_eq!(
        (
            r.state.reopens,
            r.state.trials_in_flight,
            r.state.trial_successes
        ),
        (0, 0, 0)
    );
    // The new Closed epoch trips as usual.
    let t = a.trip(NAME, trip(r.state.epoch, "a", 1000)).await.unwrap();
    assert_eq!(t.outcome, TripOutcome::Opened);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failure_reopens_with_reopens_plus_one() {
    let server = RedisServer::start();
    let a = server.roomy_store();
    let b = server.roomy_store();
    let he = half_open(&a, NAME).await;
    let la = grant(&a, NAME, he, 5_000, 2).await;
    let lb = grant(&b, NAME, he, 5_000, 2).await;
    let r = b
        .report(
            NAME,
            he,
            lb,
            TrialOutcome::Failure,
            2,
            Duration::from_millis(80),
        )
        .await
        .unwrap();
    assert!(r.applied);
    assert_eq!(
        (r.state.kind, r.state.reopens, r.state.trials_in_flight),
        (StateKind::Open, 1, 0)
    );
    assert!(
        r.state.open_remaining <= Duration::from_millis(80)
            && r.state.open_remaining >= Duration::from_millis(50)
    );
    // The other replica's success arrives late: stale.
    let late = a
        .report(NAME, he, la, TrialOutcome::Success, 2, Duration::ZERO)
        .await
        .unwrap();
    assert!(!late.applied);
    assert_eq!(late.state.kind, StateKind::Open);
    // Second round fails too: reopens 2 (the caller computes the backoff from it).
    tokio::time::sleep(Duration::from_millis(100)).await;
    let s = a.read(NAME).await.unwrap();
    assert_eq!((s.kind, s.reopens), (StateKind::HalfOpen, 1));
    let l = grant(&a, NAME, s.epoch, 5_000, 2).await;
    let r = a
        .report(
            NAME,
            s.epoch,
            l,
            TrialOutcome::Failure,
            2,
            Duration::from_millis(40),
        )
        .await
        .unwrap();
    assert_eq!((r.state.kind, r.state.reopens), (StateKind::Open, 2));
    // A round that closes resets reopens.
    tokio::time::sleep(Duration::from_millis(60)).await;
    let s = a.read(NAME).await.unwrap();
    let l = grant(&a, NAME, s.epoch, 5_000, 1).await;
    let r = a
        .report(NAME, s.epoch, l, TrialOutcome::Success, 1, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!((r.state.kind, r.state.reopens), (StateKind::Closed, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_states_are_new_epochs_and_block_trips_and_leases() {
    let server = RedisServer::start();
    let a = server.roomy_store();
    let b = server.roomy_store();
    let f = a.set_manual(NAME, Manual::ForceOpen).await.unwrap();
    assert_eq!(f.kind, StateKind::ForcedOpen);
    assert!(f.epoch > Epoch(0));
    assert_eq!(
        b.trip(NAME, trip(f.epoch, "b", 10)).await.unwrap().outcome,
        TripOutcome::Stale
    );
    assert_eq!(
        b.acquire_lease(NAME, f.epoch, Duration::from_secs(1), 1)
            .await
            .unwrap()
            .outcome,
        LeaseOutcome::Stale
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(b.read(NAME).await.unwrap().kind, StateKind::ForcedOpen);
    let d = b.set_manual(NAME, Manual::Disable).await.unwrap();
    assert_eq!(d.kind, StateKind::Disabled);
    assert!(d.epoch > f.epoch);
    assert_eq!(
        a.trip(NAME, trip(d.epoch, "a", 10)).await.unwrap().outcome,
        TripOutcome::Stale
    );
    let r = a.set_manual(NAME, Manual::Reset).await.unwrap();
    assert_eq!((r.kind, r.reopens), (StateKind::Closed, 0));
    assert!(r.epoch > d.epoch);
    assert_eq!(
        a.trip(NAME, trip(r.epoch, "a", 10_000))
            .await
            .unwrap()
            .outcome,
        TripOutcome::Opened
    );
    // Reset from Open (with a reopen count) clears everything.
    let r2 = b.set_manual(NAME, Manual::Reset).await.unwrap();
    assert_eq!(
        (r2.kind, r2.open_remaining),
        (StateKind::Closed, Duration::ZERO)
    );
    assert_ttls(&server, &a, NAME);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quorum_of_two_ignores_one_voter() {
    let server = RedisServer::start();
    let a = server.roomy_store();
    let b = server.roomy_store();
    let q = |id: &'static str, epoch: Epoch, window_ms: u64| Trip {
        expected_epoch: epoch,
        replica_id: id,
        open_for: Duration::from_secs(10),
        quorum: 2,
        quorum_window: Duration::from_millis(window_ms),
    };
    let r = a.trip(NAME, q("sick", Epoch(0), 5_000)).await.unwrap();
    assert_eq!(r.outcome, TripOutcome::Voted { votes: 1 });
    assert_eq!((r.state.kind, r.state.epoch), (StateKind::Closed, Epoch(0)));
    // The same replica again: still one distinct voter.
    let r = a.trip(NAME, q("sick", Epoch(0), 5_000)).await.unwrap();
    assert_eq!(r.outcome, TripOutcome::Voted { votes: 1 });
    assert_eq!(a.read(NAME).await.unwrap().kind, StateKind::Closed);
    assert_eq!(assert_ttls(&server, &a, NAME), 1, "votes key with a TTL");
    // A second replica within the window opens it.
    let r = b.trip(NAME, q("other", Epoch(0), 5_000)).await.unwrap();
    assert_eq!(r.outcome, TripOutcome::Opened);
    assert_eq!(r.state.kind, StateKind::Open);
    // Votes further apart than the window do not add up.
    let r = a.trip("n2", q("sick", Epoch(0), 100)).await.unwrap();
    assert_eq!(r.outcome, TripOutcome::Voted { votes: 1 });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let r = b.trip("n2", q("other", Epoch(0), 100)).await.unwrap();
    assert_eq!(r.outcome, TripOutcome::Voted { votes: 1 });
    assert_eq!(b.read("n2").await.unwrap().kind, StateKind::Closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttls_on_every_key() {
    let server = RedisServer::start();
    let mut config = server.config();
    config.idle_ttl = Duration::from_secs(3600);
    let store = store_for(config.clone());
    let hour = 3_600_000;
    // votes
    let v = Trip {
        quorum: 2,
        ..trip(Epoch(0), "a", 1)
    };
    store.trip(NAME, v).await.unwrap();
    let votes_ttl = pttl(&server, &store.keys(NAME)[2]);
    assert!(votes_ttl > hour - 5_000 && votes_ttl <= hour, "{votes_ttl}");
    // state (open for 48 h: the keys outlive the open period)
    let t = store
        .trip("long", trip(Epoch(0), "a", 48 * hour as u64))
        .await
        .unwrap();
    assert_eq!(t.outcome, TripOutcome::Opened);
    let st = pttl(&server, &store.keys("long")[0]);
    assert!(
        st > 49 * hour - 5_000,
        "state TTL {st} must cover the open period + idle TTL"
    );
    assert_eq!(assert_ttls(&server, &store, "long"), 1);
    // leases
    let he = half_open(&store, "leased").await;
    grant(&store, "leased", he, 5_000, 2).await;
    assert_eq!(assert_ttls(&server, &store, "leased"), 2);
    // after close, manual states
    store.set_manual("leased", Manual::ForceOpen).await.unwrap();
    assert_ttls(&server, &store, "leased");
    // Reads refresh the TTL of a held name once half of it has run.
    config.idle_ttl = Duration::from_secs(1);
    let short = store_for(config);
    short.set_manual("short", Manual::Disable).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    short.read("short").await.unwrap();
    let t = pttl(&server, &short.keys("short")[0]);
    assert!(t > 900, "read did not refresh: {t}");
    // And an unused name expires: back to Closed, epoch 0.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(
        short.read("short").await.unwrap(),
        protego_breaker::fleet::SharedState::ABSENT
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_in_keys_gives_errors_not_panics_and_reset_repairs() {
    let server = RedisServer::start();
    let store = server.roomy_store();
    let mut c = server.conn().unwrap();
    let [state, leases, _votes, _failures] = store.keys(NAME);
    let garbage = |e: StoreError, needle: &str| match e {
        StoreError::Garbage { name, detail } => {
            assert_eq!(name, NAME);
            assert!(detail.contains(needle), "{detail:?} lacks {needle:?}");
        }
        other => panic!("expected Garbage, got {other:?}"),
    };
    let _: () = redis::cmd("SET")
        .arg(&state)
        .arg("hello")
        .query(&mut c)
        .unwrap();
    garbage(store.read(NAME).await.unwrap_err(), "holds a string");
    garbage(
        store.trip(NAME, trip(Epoch(0), "a", 10)).await.unwrap_err(),
        "holds a string",
    );
    garbage(
        store
            .acquire_lease(NAME, Epoch(0), Duration::from_secs(1), 1)
            .await
            .unwrap_err(),
        "holds a string",
    );
    garbage(
        store
            .report(
                NAME,
                Epoch(0),
                LeaseId(1),
                TrialOutcome::Success,
                1,
                Duration::ZERO,
            )
            .await
            .unwrap_err(),
        "holds a string",
    );
    garbage(
        store.set_manual(NAME, Manual::ForceOpen).await.unwrap_err(),
        "holds a string",
    );
    let _: () = redis::cmd("DEL").arg(&state).query(&mut c).unwrap();
    let _: () = redis::cmd("HSET")
        .arg(&state)
        .arg("epoch")
        .arg("abc")
        .arg("kind")
        .arg("open")
        .query(&mut c)
        .unwrap();
    garbage(store.read(NAME).await.unwrap_err(), "epoch");
    let _: () = redis::cmd("HSET")
        .arg(&state)
        .arg("epoch")
        .arg("-1")
        .query(&mut c)
        .unwrap();
    garbage(store.read(NAME).await.unwrap_err(), "epoch");
    let _: () = redis::cmd("HSET")
        .arg(&state)
        .arg("epoch")
        .arg("7")
        .arg("kind")
        .arg("weird")
        .query(&mut c)
        .unwrap();
    garbage(store.read(NAME).await.unwrap_err(), "kind");
    let _: () = redis::cmd("HDEL")
        .arg(&state)
        .arg("kind")
        .query(&mut c)
        .unwrap();
    garbage(store.read(NAME).await.unwrap_err(), "kind");
    let _: () = redis::cmd("HSET")
        .arg(&state)
        .arg("kind")
        .arg("closed")
        .arg("reopens")
        .arg("1.5")
        .query(&mut c)
        .unwrap();
    garbage(store.read(NAME).await.unwrap_err(), "reopens");
    let _: () = redis::cmd("HSET")
        .arg(&state)
        .arg("reopens")
        .arg("0")
        .query(&mut c)
        .unwrap();
    assert_eq!(store.read(NAME).await.unwrap().epoch, Epoch(7));
    let _: () = redis::cmd("HSET")
        .arg(&leases)
        .arg("x")
        .arg("y")
        .query(&mut c)
        .unwrap();
    garbage(store.read(NAME).await.unwrap_err(), "holds a hash");
    // Reset repairs whatever is there.
    let r = store.set_manual(NAME, Manual::Reset).await.unwrap();
    assert_eq!(r.kind, StateKind::Closed);
    assert_eq!(store.read(NAME).await.unwrap().kind, StateKind::Closed);
    assert_ttls(&server, &store, NAME);
    // A name that is not garbage is unaffected throughout.
    assert_eq!(store.read("fine").await.unwrap().kind, StateKind::Closed);
}

async fn next(
    s: &mut protego_breaker::fleet::ChangeStream,
) -> Option<Result<protego_breaker::fleet::Change, StoreError>> {
    tokio::time::timeout(Duration::from_secs(2), s.next())
        .await
        .expect("a push within 2 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_carry_changes_and_garbage_messages_are_errors() {
    let server = RedisServer::start();
    let a = server.roomy_store();
    let b = server.roomy_store();
    let mut changes = b.subscribe().await.unwrap();
    let t = a.trip(NAME, trip(Epoch(0), "a", 5_000)).await.unwrap();
    let c = next(&mut changes).await.unwrap().unwrap();
    assert_eq!(
        (c.name.as_str(), c.epoch, c.kind),
        (NAME, t.state.epoch, StateKind::Open)
    );
    assert!(c.open_remaining > Duration::from_secs(4));
    // A name with spaces and colons survives the format.
    let odd = "svc: GET /a b";
    let f = a.set_manual(odd, Manual::ForceOpen).await.unwrap();
    let c = next(&mut changes).await.unwrap().unwrap();
    assert_eq!(
        (c.name.as_str(), c.epoch, c.kind),
        (odd, f.epoch, StateKind::ForcedOpen)
    );
    // Garbage on the channel: an error item, and the stream goes on.
    let _: () = redis::cmd("PUBLISH")
        .arg(a.channel())
        .arg("2 what")
        .query(&mut server.conn().unwrap())
        .unwrap();
    assert!(matches!(
        next(&mut changes).await.unwrap(),
        Err(StoreError::BadReply { .. })
    ));
    a.set_manual(NAME, Manual::Reset).await.unwrap();
    assert_eq!(
        next(&mut changes).await.unwrap().unwrap().kind,
        StateKind::Closed
    );
    // Server gone: the stream ends (the caller resubscribes and reads).
    let mut server = server;
    server.stop();
    assert!(next(&mut changes).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_server_errors_within_the_timeout_and_restart_reconnects() {
    let mut server = RedisServer::start();
    let store = server.store();
    assert_eq!(store.read(NAME).await.unwrap().kind, StateKind::Closed);
    server.stop();
    for i in 0..5 {
        let start = Instant::now();
        let e = store.read(NAME).await.unwrap_err();
        let took = start.elapsed();
        assert!(e.is_unavailable(), "{e:?}");
        assert!(took < Duration::from_millis(300), "op {i} took {took:?}");
    }
    let start = Instant::now();
    assert!(store.subscribe().await.is_err());
    assert!(start.elapsed() < Duration::from_millis(300));
    // Nothing listening at all.
    let nobody = store_for(protego_breaker::fleet::redis::RedisConfig::new(
        "redis://127.0.0.1:1/",
    ));
    let start = Instant::now();
    assert!(matches!(
        nobody.read(NAME).await.unwrap_err(),
        StoreError::Unreachable(_) | StoreError::Timeout(_)
    ));
    assert!(start.elapsed() < Duration::from_millis(300));
    // Back (empty): the same store reconnects and sees what the new server holds.
    server.restart();
    let mut ok = None;
    for _ in 0..3 {
        if let Ok(s) = store.read(NAME).await {
            ok = Some(s);
            break;
        }
    }
    assert_eq!(
        ok.expect("reconnected within 3 ops").kind,
        StateKind::Closed
    );
    assert_eq!(
        store
            .trip(NAME, trip(Epoch(0), "a", 100))
            .await
            .unwrap()
            .outcome,
        TripOutcome::Opened
    );
}

async fn assert_stalled_then_recovers(
    store: &RedisStore,
    stall: std::thread::JoinHandle<redis::RedisResult<()>>,
) {
    tokio::time::sleep(Duration::from_millis(50)).await;
    for i in 0..4 {
        let start = Instant::now();
        let e = store.read(NAME).await.unwrap_err();
        assert_eq!(e, StoreError::Timeout(Duration::from_millis(100)), "op {i}");
        assert!(
            start.elapsed() < Duration::from_millis(300),
            "{:?}",
            start.elapsed()
        );
    }
    stall.join().unwrap().unwrap();
    // Possibly one more timeout while a replaced connection handshakes, then fine.
    let mut ok = false;
    for _ in 0..3 {
        if store.read(NAME).await.is_ok() {
            ok = true;
            break;
        }
    }
    assert!(ok, "no recovery after the stall");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_server_times_out_then_recovers() {
    let server = RedisServer::start();
    let store = server.store();
    store.read(NAME).await.unwrap();
    // CLIENT PAUSE: the server answers nobody for 600 ms.
    let mut c = server.conn().unwrap();
    let stall = std::thread::spawn(move || {
        redis::cmd("CLIENT")
            .arg("PAUSE")
            .arg(600)
            .arg("ALL")
            .query::<()>(&mut c)?;
        std::thread::sleep(Duration::from_millis(650));
        Ok(())
    });
    assert_stalled_then_recovers(&store, stall).await;
    // DEBUG SLEEP: the server itself is stuck for 600 ms.
    let mut c = server.conn().unwrap();
    let stall = std::thread::spawn(move || {
        redis::cmd("DEBUG")
            .arg("SLEEP")
            .arg("0.6")
            .query::<()>(&mut c)
    });
    assert_stalled_then_recovers(&store, stall).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_reload_after_script_flush() {
    let server = RedisServer::start();
    let store = server.roomy_store();
    store.read(NAME).await.unwrap();
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query(&mut server.conn().unwrap())
        .unwrap();
    let t = store.trip(NAME, trip(Epoch(0), "a", 100)).await.unwrap();
    assert_eq!(t.outcome, TripOutcome::Opened);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_durations_are_clamped_not_overflowed() {
    let server = RedisServer::start();
    let store = server.roomy_store();
    let t = store
        .trip(
            NAME,
            Trip {
                open_for: Duration::MAX,
                quorum_window: Duration::MAX,
                ..trip(Epoch(0), "a", 0)
            },
        )
        .await
        .unwrap();
    assert_eq!(t.state.kind, StateKind::Open);
    assert!(t.state.open_remaining > Duration::from_millis(MAX_MS - 10_000));
    let l = store
        .acquire_lease(NAME, t.state.epoch, Duration::MAX, u32::MAX)
        .await
        .unwrap();
    assert_eq!(l.outcome, LeaseOutcome::Stale);
    assert_ttls(&server, &store, NAME);
    let he = half_open(&store, "n2").await;
    let id = grant(&store, "n2", he, u64::MAX, u32::MAX).await;
    let r = store
        .report("n2", he, id, TrialOutcome::Failure, u32::MAX, Duration::MAX)
        .await
        .unwrap();
    assert!(r.applied);
    assert!(r.state.open_remaining > Duration::from_millis(MAX_MS - 10_000));
}
