//! What the benches share: a no-op waker's context, one poll by hand, ready futures, and
//! costs measured in alternating batches.
#![allow(dead_code)]

use std::future::{ready, Future, Ready};
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll};

/// What every benched future resolves to.
pub(crate) type Out = Result<u64, u64>;

/// A context whose waker does nothing: futures are polled by hand, no executor is measured.
pub(crate) fn new_cx() -> Context<'static> {
    Context::from_waker(futures::task::noop_waker_ref())
}

/// Polls `fut` once.
#[allow(clippy::inline_always)] // the future's code belongs in the measured loop
#[inline(always)]
pub(crate) fn poll_once<F: Future>(fut: F, cx: &mut Context<'_>) -> Poll<F::Output> {
    pin!(fut).poll(cx)
}

/// A ready success.
#[inline]
pub(crate) fn ok() -> Ready<Out> {
    ready(Ok(black_box(1)))
}

/// A ready failure.
#[inline]
pub(crate) fn err() -> Ready<Out> {
    ready(Err(black_box(1)))
}

/// Per-call costs of `a` and of `b` measured in alternating batches (a busy shared machine
/// drifts; alternating keeps the two comparable), pushed to `samples`: (a, b, b - a).
pub(crate) fn alternate(
    a: &mut dyn FnMut() -> bool,
    b: &mut dyn FnMut() -> bool,
    rounds: usize,
    samples: &mut Vec<(f64, f64, f64)>,
) {
    const CALLS: u32 = 128;
    let batch = |svc: &mut dyn FnMut() -> bool| {
        let start = std::time::Instant::now();
        for _ in 0..CALLS {
            black_box(svc());
        }
        start.elapsed().as_secs_f64() * 1e9 / f64::from(CALLS)
    };
    // Warm both up first.
    for _ in 0..20 {
        batch(a);
        batch(b);
    }
    for _ in 0..rounds {
        let x = batch(a);
        let y = batch(b);
        samples.push((x, y, y - x));
    }
}

/// The medians of each of the three.
pub(crate) fn medians(samples: &[(f64, f64, f64)]) -> (f64, f64, f64) {
    let median = |f: fn(&(f64, f64, f64)) -> f64| {
        let mut v: Vec<f64> = samples.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (median(|s| s.0), median(|s| s.1), median(|s| s.2))
}
