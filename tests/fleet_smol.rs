//! The same store on smol (feature `smol`): no tokio runtime anywhere.
#![cfg(feature = "redis-smol")]
#![allow(clippy::many_single_char_names)]

#[path = "support/redis_server.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::RedisServer;
use futures::StreamExt;
use protego_breaker::fleet::redis::RedisStore;
use protego_breaker::fleet::{
    AsyncIoSleeper, Epoch, StateKind, Store, StoreError, Trip, TripOutcome,
};

#[test]
fn trip_push_and_timeout_on_smol() {
    let mut server = RedisServer::start();
    smol::block_on(async {
        let a = RedisStore::new(server.config(), Arc::new(AsyncIoSleeper)).unwrap();
        let b = RedisStore::new(server.config(), Arc::new(AsyncIoSleeper)).unwrap();
        let mut changes = b.subscribe().await.unwrap();
        let trip = Trip {
            expected_epoch: Epoch(0),
            replica_id: "a",
            open_for: Duration::from_secs(5),
            quorum: 1,
            quorum_window: Duration::from_secs(1),
        };
        let t = a.trip("svc", trip).await.unwrap();
        assert_eq!(t.outcome, TripOutcome::Opened);
        let c = changes.next().await.unwrap().unwrap();
        assert_eq!((c.epoch, c.kind), (t.state.epoch, StateKind::Open));
        assert_eq!(b.read("svc").await.unwrap().kind, StateKind::Open);
        server.stop();
        let start = Instant::now();
        let e: StoreError = a.read("svc").await.unwrap_err();
        assert!(e.is_unavailable(), "{e:?}");
        assert!(start.elapsed() < Duration::from_millis(300));
    });
}
