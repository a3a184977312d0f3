//! Per-call cost of protection on the closed-state success path, against a bare future in the
//! same run. Every future is polled once by hand with a no-op waker, so no executor is measured.
//!
//! ```text
//! cargo bench --bench call
//! ```
#![allow(missing_docs)]

use std::future::{ready, Future};
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll};

use criterion::{criterion_group, criterion_main, Criterion};
use protego::{Breaker, CircuitBreaker, Config, ProtectExt, Registry};

fn poll_ready<F: Future>(fut: F, cx: &mut Context<'_>) -> Poll<F::Output> {
    pin!(fut).poll(cx)
}

fn closed_success(c: &mut Criterion) {
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    let breaker = Breaker::new(Config::default());
    let registry = Registry::new();
    let resolved = registry.get_or_create("key");

    let mut group = c.benchmark_group("closed_success");
    group.bench_function("bare_future", |b| {
        b.iter(|| poll_ready(ready(Ok::<u64, ()>(black_box(1))), &mut cx));
    });
    group.bench_function("breaker_call", |b| {
        b.iter(|| poll_ready(breaker.call(ready(Ok::<u64, ()>(black_box(1)))), &mut cx));
    });
    group.bench_function("registry_protect", |b| {
        b.iter(|| {
            poll_ready(
                ready(Ok::<u64, ()>(black_box(1))).protect(&registry, black_box("key")),
                &mut cx,
            )
        });
    });
    group.bench_function("registry_resolved_call", |b| {
        b.iter(|| {
            poll_ready(
                resolved.as_ref().call(ready(Ok::<u64, ()>(black_box(1)))),
                &mut cx,
            )
        });
    });
    group.finish();
}

criterion_group!(benches, closed_success);
criterion_main!(benches);
