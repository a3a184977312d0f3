//! The pool's ejections and returns as `tracing` events. A test binary of its own: `tracing`
//! caches each callsite's interest process-wide, and a callsite first hit by another test's
//! thread (no subscriber) while this test's scoped subscriber is being made can be cached as
//! "never", which made this test drop the ejection line about 1 run in 20 inside
//! `tests/balance.rs`.
#![cfg(all(feature = "balance", feature = "tracing"))]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

mod common;

use common::Buffer;
use protego_breaker::integrations::balance::{OutlierDetection, OutlierDetector, OutlierEventKind};
use protego_breaker::{ManualClock, Registry};
use tower::balance::p2c::Balance;
use tower::discover::Change;
use tower::load::{CompleteOnResponse, PendingRequestsDiscover};
use tower::{Service, ServiceExt};

#[test]
fn ejections_and_returns_are_traced() {
    let buffer = Buffer::default();
    let sink = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let clock = ManualClock::new();
        let registry = Arc::new(Registry::with_clock(clock.clone()));
        let detection = OutlierDetection::builder()
            .interval(Duration::from_secs(10))
            .base_ejection_time(Duration::from_secs(30))
            .build()
            .unwrap();
        let detector = OutlierDetector::new(registry, "pool", detection);
        let returned = Arc::new(AtomicBool::new(false));
        let heard = Arc::clone(&returned);
        detector.on_event(move |e| {
            if matches!(e.kind(), OutlierEventKind::Returned) {
                heard.store(true, Ordering::Relaxed);
            }
        });
        let bad = Arc::new(AtomicBool::new(true));
        let endpoints = (0..10).map(|i: u32| {
            let bad = Arc::clone(&bad);
            let svc = tower::service_fn(move |(): ()| {
                let fail = i == 6 && bad.load(Ordering::Relaxed);
                async move {
                    if fail {
                        Err("down")
                    } else {
                        Ok(())
                    }
                }
            });
            Ok::<_, std::convert::Infallible>(Change::Insert(i, svc))
        });
        let discover = detector.layer().discover(futures::stream::iter(endpoints));
        let balance = Balance::new(PendingRequestsDiscover::new(
            discover,
            CompleteOnResponse::default(),
        ));
        let mut client = detector.guard(balance);
        futures::executor::block_on(async {
            // p2c sends endpoint 6 about one call in ten: five failures in a row eject it.
            for _ in 0..2_000 {
                if detector.ejected() == ["6"] {
                    break;
                }
                let _ = client.ready().await.unwrap().call(()).await;
            }
            assert_eq!(detector.ejected(), ["6"]);
            bad.store(false, Ordering::Relaxed);
            clock.advance(Duration::from_secs(30));
            // Its ejection over, its half-open trial succeeds and it is back.
            for _ in 0..2_000 {
                if returned.load(Ordering::Relaxed) {
                    break;
                }
                let _ = client.ready().await.unwrap().call(()).await;
            }
            assert!(returned.load(Ordering::Relaxed));
            assert!(detector.ejected().is_empty());
        });
    });
    let out = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert!(out.contains("endpoint ejected"), "{out}");
    assert!(
        out.contains("pool=pool") && out.contains("endpoint=6"),
        "{out}"
    );
    assert!(
        out.contains("rule=\"consecutive_failures\"") || out.contains("rule=consecutive_failures"),
        "{out}"
    );
    assert!(out.contains("endpoint back in rotation"), "{out}");
}
