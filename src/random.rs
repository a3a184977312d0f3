//! [`Random`]: where retry jitter and the adaptive throttle take their random draws from, so a
//! test (or the storm simulation) can make every run the same. [`SplitMix`] is the default: a
//! seeded splitmix64 over one atomic, lock-free and allocation-free.
//!
//! ```
//! use protego_breaker::random::{Random, SplitMix};
//!
//! let a = SplitMix::new(7);
//! let b = SplitMix::new(7);
//! assert_eq!(a.next_u32(), b.next_u32()); // same seed, same draws
//! ```

use crate::sync::{AtomicU64, Ordering};

/// A source of uniform random `u32` draws, shared by every thread that uses it.
///
/// Implement it to replay a recorded sequence or to plug in another generator:
///
/// ```
/// use protego_breaker::random::Random;
///
/// /// Always the same draw: a throttle on it rejects exactly when its probability is above
/// /// a half.
/// struct Half;
/// impl Random for Half {
///     fn next_u32(&self) -> u32 { u32::MAX / 2 }
/// }
/// assert_eq!(Half.next_u32(), u32::MAX / 2);
/// ```
pub trait Random: Send + Sync {
    /// The next draw, uniform over `u32`.
    fn next_u32(&self) -> u32;
}

/// A seeded splitmix64 generator on one atomic: each draw is one `fetch_add` and a few
/// multiplications. Threads share the sequence; one thread alone replays it exactly.
///
/// ```
/// use protego_breaker::random::{Random, SplitMix};
///
/// let rng = SplitMix::new(1);
/// let draws: Vec<u32> = (0..3).map(|_| rng.next_u32()).collect();
/// assert_ne!(draws[0], draws[1]);
/// ```
#[derive(Debug)]
pub struct SplitMix {
    state: AtomicU64,
}

const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

impl SplitMix {
    /// A generator seeded with `seed`.
    ///
    /// ```
    /// let rng = protego_breaker::random::SplitMix::new(42);
    /// # let _ = rng;
    /// ```
    pub fn new(seed: u64) -> Self {
        SplitMix {
            state: AtomicU64::new(seed),
        }
    }

    /// A generator seeded from the process's random hasher keys: a different sequence per
    /// process.
    ///
    /// ```
    /// use protego_breaker::random::{Random, SplitMix};
    /// let _ = SplitMix::from_entropy().next_u32();
    /// ```
    pub fn from_entropy() -> Self {
        use std::hash::{BuildHasher, Hasher};
        let seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        Self::new(seed)
    }
}

impl Random for SplitMix {
    #[inline]
    fn next_u32(&self) -> u32 {
        let mut z = self
            .state
            .fetch_add(GAMMA, Ordering::Relaxed)
            .wrapping_add(GAMMA);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        #[allow(clippy::cast_possible_truncation)]
        let draw = (z >> 32) as u32;
        draw
    }
}
