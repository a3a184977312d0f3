//! Per-call cost of `GrpcCircuitBreakerLayer`, against the bare service in the same run. The
//! services answer at once, in memory; every future and body is polled by hand with a no-op
//! waker, so no executor and no network is measured.
//!
//! ```text
//! cargo bench --features tonic --bench grpc
//! cargo bench --features tonic --bench grpc -- --test   # run each once
//! ```
#![allow(missing_docs)]

use std::convert::Infallible;
use std::future::{ready, Future};
use std::hint::black_box;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use http_body::{Body, Frame};
use protego_breaker::integrations::tonic::GrpcCircuitBreakerLayer;
use protego_breaker::{Breaker, CircuitBreaker, Config};
use tower::{service_fn, Layer, Service};

/// A body with no data and its status in one trailers frame, as an `OK` gRPC answer ends.
struct Trailers(Option<http::HeaderMap>);

impl Body for Trailers {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.take().map(|t| Ok(Frame::trailers(t))))
    }
}

fn trailers_ok() -> Trailers {
    let mut map = http::HeaderMap::new();
    map.insert("grpc-status", http::HeaderValue::from_static("0"));
    Trailers(Some(map))
}

/// A trailers-only answer (`grpc-status` in the head), as most gRPC errors come.
fn head_only() -> http::Response<Trailers> {
    let mut response = http::Response::new(Trailers(None));
    response
        .headers_mut()
        .insert("grpc-status", http::HeaderValue::from_static("5"));
    response
}

/// Calls `svc`, polls the response once, then its body to the end.
fn call_through<S, B>(svc: &mut S, cx: &mut Context<'_>)
where
    S: Service<(), Response = http::Response<B>>,
    S::Error: std::fmt::Debug,
    B: Body,
{
    let Poll::Ready(Ok(response)) = pin!(svc.call(())).poll(cx) else {
        unreachable!("answers at once")
    };
    let mut body = pin!(response.into_body());
    while let Poll::Ready(Some(frame)) = body.as_mut().poll_frame(cx) {
        black_box(frame.is_ok());
    }
}

fn grpc_layer(c: &mut Criterion) {
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    let breaker = Arc::new(Breaker::new(Config::default()));
    let layer = GrpcCircuitBreakerLayer::new(Arc::clone(&breaker));
    let mut group = c.benchmark_group("grpc_layer");

    let trailers =
        || service_fn(|()| ready(Ok::<_, Infallible>(http::Response::new(trailers_ok()))));
    let mut bare = trailers();
    let mut layered = layer.layer(trailers());
    group.bench_function("status_in_trailers/bare", |b| {
        b.iter(|| call_through(&mut bare, &mut cx));
    });
    group.bench_function("status_in_trailers/layer", |b| {
        b.iter(|| call_through(&mut layered, &mut cx));
    });

    let heads = || service_fn(|()| ready(Ok::<_, Infallible>(head_only())));
    let mut bare = heads();
    let mut layered = layer.layer(heads());
    group.bench_function("trailers_only/bare", |b| {
        b.iter(|| call_through(&mut bare, &mut cx));
    });
    group.bench_function("trailers_only/layer", |b| {
        b.iter(|| call_through(&mut layered, &mut cx));
    });

    // Open: the layer answers `UNAVAILABLE` with `grpc-retry-pushback-ms` itself.
    for _ in 0..3 {
        breaker.try_acquire().expect("closed").failure();
    }
    group.bench_function("rejected/layer", |b| {
        b.iter(|| call_through(&mut layered, &mut cx));
    });
    group.finish();
}

criterion_group!(benches, grpc_layer);
criterion_main!(benches);
