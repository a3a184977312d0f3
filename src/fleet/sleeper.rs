//! [`Sleeper`]: timers on the user's runtime, so the fleet needs none of its own. The sync
//! future (its tick and op timeouts) and the Redis store (its op timeouts) take every timer
//! from one, and the `redis` features ship one per runtime ([`TokioSleeper`],
//! [`AsyncIoSleeper`]).
//!
//! A sleeper only makes timer futures; it spawns nothing, and a [`Sleep`] dropped before it
//! completes is simply cancelled.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

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

/// A shared sleeper is one too, so an `Arc<dyn Sleeper>` goes wherever a sleeper does.
///
/// ```
/// use std::sync::Arc;
/// use protego_breaker::fleet::{FleetConfig, Sleep, Sleeper};
/// let shared: Arc<dyn Sleeper> = Arc::new(|_| -> Sleep { Box::pin(async {}) });
/// let _config = FleetConfig::new(Arc::clone(&shared));
/// futures::executor::block_on(shared.sleep(std::time::Duration::ZERO));
/// ```
impl<S: Sleeper + ?Sized> Sleeper for std::sync::Arc<S> {
    fn sleep(&self, d: Duration) -> Sleep {
        (**self).sleep(d)
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
