//! The `Protected` future: admission at first poll, rejection without polling, outcomes,
//! cancellation and panics.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;

use common::*;
use futures::future::FusedFuture;
use protego_breaker::{Breaker, CircuitBreaker, Config, Error, State};

#[test]
fn rejection_never_polls_and_drops_the_inner_future_at_once() {
    let (_clock, breaker) = manual(cfg(1, secs(60), 1));
    fail_n(&breaker, 1);
    let (probe, inner) = controlled();
    let mut fut = Box::pin(breaker.call(inner));
    let out = poll_once(fut.as_mut());
    assert!(matches!(out, Poll::Ready(Err(Error::Rejected(_)))));
    assert_eq!(probe.polls.load(Ordering::SeqCst), 0);
    assert!(
        probe.dropped.load(Ordering::SeqCst),
        "dropped before the Protected is"
    );
    assert!(fut.is_terminated());
}

#[test]
fn terminated_only_once_resolved() {
    let (_clock, breaker) = manual(Config::default());
    let (_probe, inner) = controlled();
    let mut fut = Box::pin(breaker.call(inner));
    assert!(!fut.is_terminated(), "not started");
    assert!(poll_once(fut.as_mut()).is_pending());
    assert!(!fut.is_terminated(), "running");
    let mut done = Box::pin(breaker.call(async { Ok::<(), ()>(()) }));
    assert!(poll_once(done.as_mut()).is_ready());
    assert!(done.is_terminated());
}

#[test]
fn admission_is_decided_at_first_poll_not_at_construction() {
    let (_clock, breaker) = manual(cfg(1, secs(60), 1));
    let (_probe, inner) = controlled();
    let mut made_while_closed = Box::pin(breaker.call(inner));
    fail_n(&breaker, 1);
    assert!(matches!(
        poll_once(made_while_closed.as_mut()),
        Poll::Ready(Err(Error::Rejected(_)))
    ));
}

#[test]
fn an_unpolled_future_takes_no_trial() {
    let (clock, breaker) = manual(cfg(1, secs(60), 1));
    fail_n(&breaker, 1);
    clock.advance(secs(60));
    let never_polled = breaker.call(async { Ok::<(), ()>(()) });
    start(&breaker).expect("the slot is free").succeed();
    drop(never_polled);
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn ok_and_err_pass_through() {
    let breaker = Breaker::new(Config::default());
    let ok = futures::executor::block_on(breaker.call(async { Ok::<_, String>(5) }));
    assert_eq!(ok, Ok(5));
    let err = futures::executor::block_on(breaker.call(async { Err::<u8, _>("bad".to_string()) }));
    assert_eq!(err, Err(Error::Inner("bad".to_string())));
}

#[test]
fn inner_future_is_dropped_when_it_completes() {
    let (_clock, breaker) = manual(Config::default());
    let call = start(&breaker).unwrap();
    let probe = Arc::clone(&call.probe);
    call.succeed();
    assert!(probe.dropped.load(Ordering::SeqCst));
}

#[test]
fn pending_inner_future_is_polled_until_ready() {
    let (_clock, breaker) = manual(Config::default());
    let call = start(&breaker).unwrap();
    let probe = Arc::clone(&call.probe);
    assert_eq!(probe.polls.load(Ordering::SeqCst), 1);
    call.succeed();
    assert_eq!(probe.polls.load(Ordering::SeqCst), 2);
}

#[test]
fn panic_propagates_with_its_payload_and_counts_as_failure() {
    let breaker = Breaker::new(cfg(1, secs(60), 1));
    let explode = std::hint::black_box(true);
    let fut = breaker.call(async move {
        assert!(!explode, "downstream exploded");
        Ok::<(), ()>(())
    });
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        futures::executor::block_on(fut)
    }));
    let payload = caught.expect_err("the panic propagates");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"downstream exploded"));
    assert_eq!(breaker.state(), State::Open);
}

#[test]
fn polling_after_completion_panics_with_a_clear_message() {
    let breaker = Breaker::new(Config::default());
    let mut fut = Box::pin(breaker.call(async { Ok::<(), ()>(()) }));
    assert!(poll_once(fut.as_mut()).is_ready());
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| poll_once(fut.as_mut())));
    let payload = caught.expect_err("second poll panics");
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"`Protected` polled after completion")
    );
}

#[test]
fn call_works_on_a_breaker_a_reference_and_an_arc() {
    let owned = Breaker::new(Config::default());
    let by_ref: &Breaker = &owned;
    let shared = Arc::new(Breaker::new(Config::default()));
    futures::executor::block_on(async {
        assert_eq!(owned.call(async { Ok::<_, ()>(1) }).await, Ok(1));
        assert_eq!(by_ref.call(async { Ok::<_, ()>(2) }).await, Ok(2));
        assert_eq!(
            Arc::clone(&shared).call(async { Ok::<_, ()>(3) }).await,
            Ok(3)
        );
        assert_eq!(shared.call(async { Ok::<_, ()>(4) }).await, Ok(4));
    });
}

/// The 0.1.0 issue's snippet, as written: `.call` borrows an `Arc` from the registry, so it can
/// be called twice, and the future holds a borrow, not a clone (the count stays 1 while it runs:
/// no reference-count write per call).
#[test]
fn an_arc_from_the_registry_calls_twice_without_a_clone() {
    #[allow(clippy::unused_async)]
    async fn fetch(n: u32) -> Result<u32, std::io::Error> {
        Ok(n)
    }
    let registry = protego_breaker::Registry::new();
    let b = registry.get_or_create("users");
    futures::executor::block_on(async {
        let a = b.call(fetch(1)).await;
        let c = b.call(fetch(2)).await;
        assert_eq!((a.unwrap(), c.unwrap()), (1, 2));
    });
    let counted = Arc::strong_count(&b);
    let pending = b.call(std::future::pending::<Result<(), ()>>());
    let mut pending = Box::pin(pending);
    assert!(poll_once(pending.as_mut()).is_pending());
    assert_eq!(
        Arc::strong_count(&b),
        counted,
        "a running call holds no clone"
    );
}

#[test]
fn arc_breaker_futures_are_static_and_spawnable() {
    fn assert_static_send<F: Future + Send + 'static>(f: F) -> F {
        f
    }
    let shared = Arc::new(Breaker::new(cfg(1, secs(60), 1)));
    let fut = assert_static_send(Arc::clone(&shared).call_owned(async { Err::<(), _>("down") }));
    let joined = std::thread::spawn(move || futures::executor::block_on(fut))
        .join()
        .unwrap();
    assert_eq!(joined, Err(Error::Inner("down")));
    assert_eq!(shared.state(), State::Open);
}

#[test]
fn debug_output_names_the_phase() {
    let breaker = Breaker::new(Config::default()).named("quotes");
    let fut = breaker.call(async { Ok::<(), ()>(()) });
    let shown = format!("{fut:?}");
    assert!(
        shown.contains("quotes") && shown.contains("not started"),
        "{shown}"
    );
}

#[test]
fn protected_is_unpin_when_its_inner_future_is() {
    fn assert_unpin<T: Unpin>(_: &T) {}
    let breaker = Breaker::new(Config::default());
    let fut = breaker.call(futures::future::ready(Ok::<(), ()>(())));
    assert_unpin(&fut);
    let mut fut = fut;
    assert_eq!(poll_once(Pin::new(&mut fut)), Poll::Ready(Ok(())));
}

/// A handle that owns its breaker (an `Arc`, a registry handle) is released by value, with the
/// cancellation, when the future is dropped: a cancelled trial still goes back, and the handle
/// is released once.
#[test]
fn a_cancelled_owned_call_gives_its_trial_back_and_releases_its_handle() {
    let (clock, breaker) = manual(cfg(1, secs(60), 1));
    let shared = Arc::new(breaker);
    fail_n(&shared, 1);
    clock.advance(secs(60));
    let (probe, inner) = controlled();
    let mut trial = Box::pin(Arc::clone(&shared).call_owned(inner));
    assert!(
        poll_once(trial.as_mut()).is_pending(),
        "the round's one trial"
    );
    assert_eq!(Arc::strong_count(&shared), 2);
    assert!(start(&shared).is_err(), "the round is full");
    drop(trial);
    assert!(probe.dropped.load(Ordering::SeqCst));
    assert_eq!(Arc::strong_count(&shared), 1, "released once");
    start(&shared).expect("the trial went back").succeed();
    assert_eq!(shared.state(), State::Closed);
}

#[test]
fn a_cancelled_registry_call_gives_its_trial_back() {
    use protego_breaker::{ManualClock, ProtectExt, Registry};
    let clock = ManualClock::new();
    let registry = Registry::with_clock(clock.clone()).with_default_config(cfg(1, secs(60), 1));
    let breaker = registry.get_or_create("quotes");
    let out = poll_once(Box::pin(async { Err::<(), _>(()) }.protect(&registry, "quotes")).as_mut());
    assert!(matches!(out, Poll::Ready(Err(Error::Inner(())))));
    clock.advance(secs(60));
    let (probe, inner) = controlled();
    let mut trial = Box::pin(inner.protect(&registry, "quotes"));
    assert!(
        poll_once(trial.as_mut()).is_pending(),
        "the round's one trial"
    );
    let mut refused = Box::pin(async { Ok::<(), ()>(()) }.protect(&registry, "quotes"));
    assert!(matches!(
        poll_once(refused.as_mut()),
        Poll::Ready(Err(Error::Rejected(_)))
    ));
    drop(trial);
    assert!(probe.dropped.load(Ordering::SeqCst));
    let mut next = Box::pin(async { Ok::<(), ()>(()) }.protect(&registry, "quotes"));
    assert!(
        matches!(poll_once(next.as_mut()), Poll::Ready(Ok(()))),
        "the trial went back"
    );
    assert_eq!(breaker.state(), State::Closed);
}
