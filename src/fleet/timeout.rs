//! Op timeouts without a runtime: race the operation against a timer future the caller brings.

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::task::Poll;
use std::time::Duration;

use crate::fleet::StoreError;

/// A boxed timer future.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Makes timers on the user's runtime. The fleet's sync future holds one. Any
/// `Fn(Duration) -> Sleep` is one:
///
/// ```
/// use std::time::Duration;
/// use protego_breaker::fleet::{Sleep, Sleeper};
///
/// let sleeper = |d: Duration| -> Sleep { Box::pin(async move { std::thread::sleep(d) }) };
/// futures::executor::block_on(sleeper.sleep(Duration::from_millis(1)));
/// ```
pub trait Sleeper: Send + Sync {
    /// A future that completes after `d`.
    fn sleep(&self, d: Duration) -> Sleep;
}

impl<F> Sleeper for F
where
    F: Fn(Duration) -> Sleep + Send + Sync,
{
    fn sleep(&self, d: Duration) -> Sleep {
        self(d)
    }
}

/// `tokio::time::sleep` (feature `redis-tokio`; needs a tokio runtime with time enabled).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use protego_breaker::fleet::{Sleeper, TokioSleeper};
/// TokioSleeper.sleep(std::time::Duration::from_millis(1)).await;
/// # }
/// ```
#[cfg(feature = "redis-tokio")]
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleeper;

#[cfg(feature = "redis-tokio")]
impl Sleeper for TokioSleeper {
    fn sleep(&self, d: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(d))
    }
}

/// `async_io::Timer` (feature `redis-smol`; runs on any executor, async-io drives it).
///
/// ```
/// use protego_breaker::fleet::{AsyncIoSleeper, Sleeper};
/// futures::executor::block_on(AsyncIoSleeper.sleep(std::time::Duration::from_millis(1)));
/// ```
#[cfg(feature = "redis-smol")]
#[derive(Debug, Clone, Copy, Default)]
pub struct AsyncIoSleeper;

#[cfg(feature = "redis-smol")]
impl Sleeper for AsyncIoSleeper {
    fn sleep(&self, d: Duration) -> Sleep {
        Box::pin(async move {
            async_io::Timer::after(d).await;
        })
    }
}

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
