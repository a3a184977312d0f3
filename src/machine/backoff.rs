//! How long an open period lasts: backoff after reopens, and jitter (splitmix64 draws).

use crate::config::Config;

/// The knobs an open period's length depends on, read together.
pub(super) struct Period {
    pub(super) reset_timeout: u64,
    pub(super) backoff_milli: u32,
    pub(super) jitter_milli: u32,
    pub(super) max: u64,
}

impl Period {
    /// The length (ns) of an open period after `reopens` reopens, with jitter draw `draw`.
    pub(super) fn length(&self, reopens: u32, draw: u32) -> u64 {
        let mut length = self.reset_timeout;
        if reopens > 0 && self.backoff_milli > 1000 {
            // Float only off the default path; precision loss above 2^53 ns (104 days) is moot.
            #[allow(
                clippy::cast_precision_loss,
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_possible_wrap
            )]
            {
                let factor = (f64::from(self.backoff_milli) / 1000.0)
                    .powi(reopens.min(i32::MAX as u32) as i32);
                let grown = length as f64 * factor;
                length = if grown >= u64::MAX as f64 {
                    u64::MAX
                } else {
                    grown as u64
                };
            }
            length = length.max(self.reset_timeout);
        }
        length = length.min(self.max.max(self.reset_timeout));
        if self.jitter_milli > 0 {
            // Shorter by up to `jitter` of the length, never longer: the cap stays a cap.
            let cut = u128::from(length) * u128::from(self.jitter_milli) * u128::from(draw)
                / (1000u128 << 32);
            #[allow(clippy::cast_possible_truncation)]
            let cut = cut as u64;
            length = (length - cut).max(1);
        }
        length
    }
}

/// An open period's backoff state, worked out before it is committed.
#[derive(Clone, Copy)]
pub(super) struct OpenPeriod {
    /// Reopens before it (high half) and its jitter draw (low half).
    pub(super) info: u64,
    pub(super) reopens: u32,
    pub(super) rng: u64,
}

/// splitmix64: a small, well-mixed generator; enough for jitter.
pub(super) fn splitmix(state: u64) -> (u64, u32) {
    let next = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = next;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    #[allow(clippy::cast_possible_truncation)]
    let draw = (z >> 32) as u32;
    (next, draw)
}

pub(super) fn seed_of(config: &Config) -> u64 {
    config.jitter_seed().unwrap_or_else(|| {
        use std::hash::{BuildHasher, Hasher};
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
    })
}
