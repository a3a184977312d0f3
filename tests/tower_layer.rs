//! The tower middleware (`tower` feature): `CircuitBreakerLayer` with one breaker, a registry
//! name or a key per request; a rejected request never reaches the inner service.
#![cfg(feature = "tower")]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::executor::block_on;
use protego_breaker::integrations::tower::{BoxError, CircuitBreakerLayer};
use protego_breaker::{call::Outcome, ManualClock, Registry, Rejected, State};
use tower::{Layer, Service, ServiceExt};

use common::*;

/// A service that counts readiness checks and calls, and fails requests of 0.
#[derive(Clone, Default)]
struct Counting {
    ready: Arc<AtomicUsize>,
    calls: Arc<AtomicUsize>,
}

impl Service<u32> for Counting {
    type Response = u32;
    type Error = &'static str;
    type Future = std::future::Ready<Result<u32, &'static str>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.ready.fetch_add(1, Ordering::SeqCst);
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, n: u32) -> Self::Future {
        self.calls.fetch_add(1, Ordering::SeqCst);
        std::future::ready(if n == 0 { Err(BOOM) } else { Ok(n) })
    }
}

/// The rejection a layer's boxed error is, if it is one.
fn rejection(err: &BoxError) -> Option<&Rejected> {
    err.downcast_ref::<Rejected>()
}

fn registry(threshold: u32) -> Arc<Registry<ManualClock>> {
    Arc::new(
        Registry::with_clock(ManualClock::new()).with_default_config(cfg(threshold, secs(10), 1)),
    )
}

#[test]
fn a_rejected_request_never_reaches_the_inner_service() {
    let inner = Counting::default();
    let registry = registry(1);
    let mut svc = CircuitBreakerLayer::named(Arc::clone(&registry), "n").layer(inner.clone());
    block_on(async {
        let failed = svc.ready().await.unwrap().call(0).await.unwrap_err();
        assert_eq!(failed.to_string(), BOOM, "the inner error, boxed");
        assert!(rejection(&failed).is_none());
        let calls = inner.calls.load(Ordering::SeqCst);
        let r = svc.ready().await.unwrap().call(5).await.unwrap_err();
        assert_eq!(rejection(&r).unwrap().state(), State::Open);
        assert_eq!(inner.calls.load(Ordering::SeqCst), calls, "not called");
    });
}

#[test]
fn readiness_is_the_inner_services_and_a_rejection_does_not_use_it() {
    let inner = Counting::default();
    let registry = registry(1);
    registry.get_or_create("n").force_open();
    let mut svc = CircuitBreakerLayer::named(registry, "n").layer(inner.clone());
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    assert!(svc.poll_ready(&mut cx).is_ready());
    assert_eq!(
        inner.ready.load(Ordering::SeqCst),
        1,
        "asked the inner service"
    );
    assert!(rejection(&block_on(svc.call(1)).unwrap_err()).is_some());
    // The inner service's reserved readiness is unused: it is simply asked again.
    assert!(svc.poll_ready(&mut cx).is_ready());
    assert_eq!(inner.calls.load(Ordering::SeqCst), 0);
}

#[test]
fn keyed_layers_give_each_key_its_own_breaker() {
    let registry = registry(1);
    let mut svc = CircuitBreakerLayer::keyed(Arc::clone(&registry), |n: &u32| {
        if *n % 2 == 0 {
            "even"
        } else {
            "odd"
        }
    })
    .layer(Counting::default());
    block_on(async {
        assert!(svc.ready().await.unwrap().call(0).await.is_err()); // opens "even"
        let even = svc.ready().await.unwrap().call(2).await.unwrap_err();
        assert!(rejection(&even).is_some());
        assert_eq!(
            svc.ready().await.unwrap().call(3).await.unwrap(),
            3,
            "odd is closed"
        );
    });
    assert_eq!(registry.get("even").unwrap().state(), State::Open);
    assert_eq!(registry.get("odd").unwrap().state(), State::Closed);
}

#[test]
fn the_layer_classifies_responses() {
    let breaker = Arc::new(protego_breaker::Breaker::with_clock(
        cfg(1, secs(10), 1),
        ManualClock::new(),
    ));
    let big_is_bad = |r: &Result<u32, &'static str>| match r {
        Ok(n) if *n >= 500 => Outcome::Failure,
        Ok(_) => Outcome::Success,
        Err(_) => Outcome::Ignored,
    };
    let mut svc = CircuitBreakerLayer::new(Arc::clone(&breaker))
        .classify(big_is_bad)
        .layer(Counting::default());
    block_on(async {
        assert!(svc.ready().await.unwrap().call(0).await.is_err());
        assert_eq!(breaker.state(), State::Closed, "errors are ignored here");
        assert_eq!(svc.ready().await.unwrap().call(503).await.unwrap(), 503);
        assert_eq!(breaker.state(), State::Open);
    });
}

#[test]
fn a_panicking_inner_future_is_a_failure() {
    let breaker = Arc::new(protego_breaker::Breaker::with_clock(
        cfg(1, secs(10), 1),
        ManualClock::new(),
    ));
    let svc =
        CircuitBreakerLayer::new(Arc::clone(&breaker)).layer(tower::service_fn(|(): ()| async {
            panic!("inner future panicked");
            #[allow(unreachable_code)]
            Ok::<(), &str>(())
        }));
    let caught =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| block_on(svc.oneshot(()))));
    assert!(caught.is_err());
    assert_eq!(breaker.state(), State::Open);
}
