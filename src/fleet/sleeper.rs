//! The fleet's timers: [`Sleeper`] and its runtime sleepers live in [`crate::sleep`] (a retry
//! needs them too); they are re-exported under `fleet` so that fleet code reads as before.

#[cfg(feature = "redis-smol")]
pub use crate::sleep::AsyncIoSleeper;
#[cfg(feature = "redis-tokio")]
pub use crate::sleep::TokioSleeper;
pub use crate::sleep::{Sleep, Sleeper};
