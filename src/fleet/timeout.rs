//! [`with_timeout`]: op timeouts without a runtime: race the operation against a timer future
//! the caller brings (from its [`Sleeper`](crate::fleet::Sleeper)).
//!
//! The operation is polled before the timer, so one that is ready wins a tie. One that loses is
//! dropped here but not undone in the store: a timed-out write may still be applied, and the
//! sync future learns of it on a later read or push.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use crate::fleet::StoreError;

/// Runs `op`, giving up with [`StoreError::Timeout`] once `timer` completes. `op` is polled
/// first, so an op that is ready wins a tie. Dropping `op` abandons it (the store may still
/// apply it).
///
/// # Errors
/// [`StoreError::Timeout`] when `timer` finishes first; otherwise whatever `op` returns.
///
/// ```
/// use std::time::Duration;
/// use protego_breaker::fleet::{with_timeout, StoreError};
///
/// # futures::executor::block_on(async {
/// let never = std::future::pending::<Result<(), StoreError>>();
/// let fired = std::future::ready(()); // a timer that already finished
/// let out = with_timeout(never, fired, Duration::from_millis(100)).await;
/// assert_eq!(out, Err(StoreError::Timeout(Duration::from_millis(100))));
/// # });
/// ```
pub async fn with_timeout<T>(
    op: impl Future<Output = Result<T, StoreError>>,
    timer: impl Future<Output = ()>,
    after: Duration,
) -> Result<T, StoreError> {
    let mut op = pin!(op);
    let mut timer = pin!(timer);
    poll_fn(|cx| {
        if let Poll::Ready(r) = op.as_mut().poll(cx) {
            return Poll::Ready(r);
        }
        if timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(StoreError::Timeout(after)));
        }
        Poll::Pending
    })
    .await
}
