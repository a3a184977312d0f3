//! What the benches share: a no-op waker's context, one poll by hand, and ready futures.
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
