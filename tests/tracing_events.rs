//! `tracing` events (`tracing` feature): one for every state change and rejection.
#![cfg(feature = "tracing")]

mod common;

use protego_breaker::{Breaker, CircuitBreaker, ManualClock};

use common::*;

#[test]
fn transitions_and_rejections_are_traced() {
    let buffer = Buffer::default();
    let sink = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let breaker = Breaker::with_clock(cfg(1, secs(10), 1), ManualClock::new()).named("db");
        breaker.try_acquire().unwrap().failure();
        // In the caller's span: what `tracing-opentelemetry` makes a span event of that span,
        // so a trace shows which breaker refused the call.
        tracing::info_span!("checkout", order = 7).in_scope(|| {
            assert!(breaker.try_acquire().is_err());
        });
    });
    let out = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert!(out.contains("circuit state changed"), "{out}");
    assert!(
        out.contains("breaker=\"db\"") || out.contains("breaker=db"),
        "{out}"
    );
    assert!(
        out.contains("from=closed") && out.contains("to=open"),
        "{out}"
    );
    assert!(out.contains("reason=failure threshold reached"), "{out}");
    assert!(
        out.contains("call rejected") && out.contains("state=open"),
        "{out}"
    );
    let rejected = out.lines().find(|l| l.contains("call rejected")).unwrap();
    assert!(
        rejected.contains("checkout{order=7}") && rejected.contains("breaker=\"db\""),
        "{rejected}"
    );
}
