//! The open period: when it ends (its deadline), how long it lasts after reopens (backoff),
//! and its jitter (splitmix64 draws).
//!
//! Invariants relied on: an open word's payload is 0 for the plain period (`reset_timeout`
//! from `since`), non-zero when `open_info[slot]` holds its reopen count and jitter draw, and
//! `EXPLICIT_DEADLINE` when `open_info[slot]` holds the deadline itself (adopted from the
//! fleet, or opened by hand until a time). `open_info` is written before the word is published.

use crate::config::Config;
use crate::machine::word::{Word, EXPLICIT_DEADLINE, HALF_OPEN, OPEN};
use crate::machine::Machine;
use crate::sync::Ordering;

impl Machine {
    /// The instant (ns) at which an epoch times out: an open period ends, or a half-open
    /// round counts as hung. Backoff and jitter apply to open periods only.
    #[inline]
    pub(super) fn deadline(&self, w: Word) -> u64 {
        let since = self.since(w);
        // Only an open period can back off or jitter; with no reopen and no jitter draw it is
        // `reset_timeout` whatever the other knobs say, so one knob (one load) decides it.
        let info = if w.kind() == OPEN && w.payload() != 0 {
            self.open_info[w.since_slot()].load(Ordering::Acquire)
        } else {
            0
        };
        if w.kind() == OPEN && w.payload() == EXPLICIT_DEADLINE {
            return info; // adopted from the fleet: the deadline itself
        }
        if info == 0 {
            return since.saturating_add(self.knobs.reset_timeout.load(Ordering::Relaxed));
        }
        since.saturating_add(self.backed_off(info))
    }

    /// The length of an open period that backs off or jitters.
    #[inline(never)]
    pub(super) fn backed_off(&self, info: u64) -> u64 {
        #[allow(clippy::cast_possible_truncation)]
        let (reopens, draw) = ((info >> 32) as u32, info as u32);
        self.knobs.period().length(reopens, draw)
    }

    /// The backoff state of an open period starting now, from state `from`: how many reopens
    /// precede it and its jitter draw (`info`), and the counters as they will be once it is
    /// committed. Under the transition lock; stores nothing.
    pub(super) fn open_period(&self, from: u64) -> OpenPeriod {
        let reopens = if from == HALF_OPEN {
            self.reopens.load(Ordering::Relaxed).saturating_add(1)
        } else {
            0
        };
        let mut rng = self.rng.load(Ordering::Relaxed);
        let draw = if self.knobs.jitter_milli() > 0 {
            let (state, draw) = splitmix(rng);
            rng = state;
            draw
        } else {
            0
        };
        OpenPeriod {
            info: (u64::from(reopens) << 32) | u64::from(draw),
            reopens,
            rng,
        }
    }
}

/// The knobs an open period's length depends on, read together.
pub(crate) struct Period {
    pub(super) reset_timeout: u64,
    pub(super) backoff_milli: u32,
    pub(super) jitter_milli: u32,
    pub(super) max: u64,
}

impl Period {
    /// The open-period knobs of `config`: what the machine mirrors, and what a fleet reads to
    /// ask the store for an open period.
    pub(crate) fn of(config: &Config) -> Self {
        Period {
            reset_timeout: config.reset_timeout_nanos(),
            backoff_milli: config.backoff_milli(),
            jitter_milli: config.jitter_milli(),
            max: config.max_reset_timeout_nanos(),
        }
    }

    /// A backoff of its own (a retry's): `base` ns grown by `backoff_milli` / 1000 per step,
    /// capped at `max` ns, shortened by up to `jitter_milli` / 1000 of itself.
    pub(crate) fn new(base: u64, backoff_milli: u32, jitter_milli: u32, max: u64) -> Self {
        Period {
            reset_timeout: base,
            backoff_milli,
            jitter_milli,
            max,
        }
    }

    /// The length (ns) of an open period after `reopens` reopens, with jitter draw `draw`.
    pub(crate) fn length(&self, reopens: u32, draw: u32) -> u64 {
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
