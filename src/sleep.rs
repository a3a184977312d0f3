//! [`Sleeper`]: timers on the user's runtime, so the library needs none of its own. A retry
//! waits out its backoff with one, and the fleet's sync future (feature `fleet`) takes every
//! timer from one. `TokioSleeper` (feature `tokio`) and `AsyncIoSleeper` (feature
//! `async-io`) are the two this crate ships; any `Fn(Duration) -> Sleep` is one too, which is
//! how a test makes timers on a [`ManualClock`](crate::ManualClock).
//!
//! A sleeper only makes timer futures; it spawns nothing, and a [`Sleep`] dropped before it
//! completes is simply cancelled.
//!
//! ```
//! use std::time::Duration;
//! use protego_breaker::sleep::{Sleep, Sleeper};
//! use protego_breaker::{Clock, ManualClock};
//!
//! // Timers that move a manual clock and complete at once: a test that never sleeps.
//! let clock = ManualClock::new();
//! let time = clock.clone();
//! let sleeper = move |d: Duration| -> Sleep {
//!     time.advance(d);
//!     Box::pin(std::future::ready(()))
//! };
//! futures::executor::block_on(sleeper.sleep(Duration::from_millis(250)));
//! assert_eq!(clock.now(), Duration::from_millis(250));
//! ```

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A boxed timer future.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Makes timers on the user's runtime. Any `Fn(Duration) -> Sleep` is one:
///
/// ```
/// use std::time::Duration;
/// use protego_breaker::sleep::{Sleep, Sleeper};
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
/// use protego_breaker::sleep::{Sleep, Sleeper};
///
/// fn takes(sleeper: impl Sleeper) -> Sleep {
///     sleeper.sleep(std::time::Duration::ZERO)
/// }
/// let shared: Arc<dyn Sleeper> = Arc::new(|_| -> Sleep { Box::pin(async {}) });
/// futures::executor::block_on(takes(Arc::clone(&shared)));
/// ```
impl<S: Sleeper + ?Sized> Sleeper for std::sync::Arc<S> {
    fn sleep(&self, d: Duration) -> Sleep {
        (**self).sleep(d)
    }
}

/// `tokio::time::sleep` (feature `tokio`; needs a tokio runtime with time enabled).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use protego_breaker::sleep::{Sleeper, TokioSleeper};
/// TokioSleeper.sleep(std::time::Duration::from_millis(1)).await;
/// # }
/// ```
#[cfg(feature = "tokio")]
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleeper;

#[cfg(feature = "tokio")]
impl Sleeper for TokioSleeper {
    fn sleep(&self, d: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(d))
    }
}

/// `async_io::Timer` (feature `async-io`; runs on any executor, async-io drives it).
///
/// ```
/// use protego_breaker::sleep::{AsyncIoSleeper, Sleeper};
/// futures::executor::block_on(AsyncIoSleeper.sleep(std::time::Duration::from_millis(1)));
/// ```
#[cfg(feature = "async-io")]
#[derive(Debug, Clone, Copy, Default)]
pub struct AsyncIoSleeper;

#[cfg(feature = "async-io")]
impl Sleeper for AsyncIoSleeper {
    fn sleep(&self, d: Duration) -> Sleep {
        Box::pin(async move {
            async_io::Timer::after(d).await;
        })
    }
}
