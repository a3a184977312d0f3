//! The tower retry layer: retries a failed request through the breaker, and never calls the
//! inner service for a request the breaker rejects.
#![cfg(feature = "tower")]

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use protego_breaker::integrations::tower::RetryLayer;
use protego_breaker::retry::{Retrier, RetryPolicy, TpsBudget};
use protego_breaker::sleep::Sleep;
use protego_breaker::{ManualClock, Rejected, State};
use tower::{service_fn, Layer, Service, ServiceExt};

fn retrier(clock: &ManualClock) -> Retrier {
    let time = clock.clone();
    let sleeper = move |d: Duration| -> Sleep {
        time.advance(d);
        Box::pin(std::future::ready(()))
    };
    let policy = RetryPolicy::builder()
        .max_attempts(3)
        .jitter(0.0)
        .build()
        .unwrap();
    Retrier::new(policy, Arc::new(TpsBudget::default()), Arc::new(sleeper))
}

#[test]
fn a_failed_request_is_sent_again_until_it_succeeds() {
    let (clock, breaker) = manual(cfg(5, secs(60), 1));
    let calls = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&calls);
    let inner = service_fn(move |req: &'static str| {
        let n = seen.fetch_add(1, Ordering::Relaxed);
        async move {
            if n < 2 {
                Err("blip")
            } else {
                Ok(req)
            }
        }
    });
    let mut svc = RetryLayer::new(retrier(&clock), Arc::new(breaker)).layer(inner);
    let out = futures::executor::block_on(async { svc.ready().await.unwrap().call("hello").await });
    assert_eq!(out.unwrap(), "hello");
    assert_eq!(calls.load(Ordering::Relaxed), 3);
    assert_eq!(
        protego_breaker::Clock::now(&clock),
        Duration::from_millis(150),
        "50 ms then 100 ms of backoff"
    );
}

#[test]
fn the_inner_service_never_sees_a_request_the_breaker_rejects() {
    let (clock, breaker) = manual(cfg(1, secs(60), 1));
    let breaker = Arc::new(breaker);
    let calls = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&calls);
    let inner = service_fn(move |(): ()| {
        seen.fetch_add(1, Ordering::Relaxed);
        async { Err::<(), _>("down") }
    });
    let mut svc = RetryLayer::new(retrier(&clock), Arc::clone(&breaker)).layer(inner);
    let first = futures::executor::block_on(async { svc.ready().await.unwrap().call(()).await });
    let first = first.unwrap_err();
    let rejected = first
        .downcast_ref::<Rejected>()
        .expect("the retry met the open breaker");
    assert_eq!(rejected.state(), State::Open);
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    let second = futures::executor::block_on(async { svc.ready().await.unwrap().call(()).await });
    assert!(second.unwrap_err().downcast_ref::<Rejected>().is_some());
    assert_eq!(calls.load(Ordering::Relaxed), 1, "never called while open");
}
