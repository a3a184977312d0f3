//! The knobs the state machine reads on its paths, mirrored from the [`Config`] in atomics so no
//! call takes a lock to read one.
//!
//! A decision that needs one knob loads it. One that needs several (the length of an open
//! period) reads them under a seqlock, so it never mixes two configs: `store` is the only writer
//! and runs under the machine's transition lock. Knobs read together by one decision share a
//! word (a half-open round's size and rule; backoff and jitter), which also keeps the breaker
//! within three cache lines.

use crate::config::Config;
use crate::machine::open_period::Period;
use crate::sync::{fence, spin_loop, AtomicU32, AtomicU64, Ordering};

pub(crate) struct Mirror {
    /// Seqlock sequence: odd while `store` is writing.
    seq: AtomicU32,
    pub(super) failure_threshold: AtomicU32,
    /// `half_open_retries` (low 16 bits), `BY_RATE`, and the failure and slow-call rate
    /// thresholds (percent, 7 bits each) at `FAILURE_RATE_SHIFT` and `SLOW_RATE_SHIFT`.
    half_open: AtomicU32,
    pub(super) reset_timeout: AtomicU64,
    /// Backoff multiplier (low 20 bits) and jitter (10 bits from `JITTER_SHIFT`), in
    /// thousandths.
    milli: AtomicU32,
    max_reset_timeout: AtomicU64,
    /// How long a half-open round may go undecided (ns).
    pub(super) max_half_open: AtomicU64,
}

/// In the `half_open` word: rounds are decided by rate.
const BY_RATE: u32 = 1 << 16;
const FAILURE_RATE_SHIFT: u32 = 17;
const SLOW_RATE_SHIFT: u32 = 24;
const JITTER_SHIFT: u32 = 20;

/// How a half-open round is decided, read in one load.
#[derive(Clone, Copy)]
pub(super) struct HalfOpenRule(u32);

impl HalfOpenRule {
    /// Trials per round.
    pub(super) fn trials(self) -> u32 {
        self.0 & 0xFFFF
    }

    pub(super) fn by_rate(self) -> bool {
        self.0 & BY_RATE != 0
    }

    /// The failure rate (percent) that reopens, by rate.
    pub(super) fn failure_rate(self) -> u64 {
        u64::from((self.0 >> FAILURE_RATE_SHIFT) & 0x7F)
    }

    /// The slow-call rate (percent) that reopens, by rate.
    pub(super) fn slow_rate(self) -> u64 {
        u64::from((self.0 >> SLOW_RATE_SHIFT) & 0x7F)
    }
}

fn half_open(config: &Config) -> u32 {
    config.half_open_retries()
        | if config.half_open_by_rate() {
            BY_RATE
        } else {
            0
        }
        | u32::from(config.failure_rate_threshold()) << FAILURE_RATE_SHIFT
        | u32::from(config.slow_call_rate_threshold()) << SLOW_RATE_SHIFT
}

fn milli(period: &Period) -> u32 {
    period.backoff_milli | period.jitter_milli << JITTER_SHIFT
}

impl Mirror {
    pub(super) fn new(config: &Config) -> Self {
        let period = Period::of(config);
        Mirror {
            seq: AtomicU32::new(0),
            failure_threshold: AtomicU32::new(config.failure_threshold()),
            half_open: AtomicU32::new(half_open(config)),
            reset_timeout: AtomicU64::new(period.reset_timeout),
            milli: AtomicU32::new(milli(&period)),
            max_reset_timeout: AtomicU64::new(period.max),
            max_half_open: AtomicU64::new(config.max_half_open_nanos()),
        }
    }

    #[inline]
    pub(super) fn half_open(&self) -> HalfOpenRule {
        HalfOpenRule(self.half_open.load(Ordering::Relaxed))
    }

    #[inline]
    pub(super) fn jitter_milli(&self) -> u32 {
        self.milli.load(Ordering::Relaxed) >> JITTER_SHIFT
    }

    /// The open-period knobs, all from one config.
    pub(super) fn period(&self) -> Period {
        loop {
            let before = self.seq.load(Ordering::Acquire);
            let milli = self.milli.load(Ordering::Relaxed);
            let period = Period {
                reset_timeout: self.reset_timeout.load(Ordering::Relaxed),
                backoff_milli: milli & ((1 << JITTER_SHIFT) - 1),
                jitter_milli: milli >> JITTER_SHIFT,
                max: self.max_reset_timeout.load(Ordering::Relaxed),
            };
            fence(Ordering::Acquire);
            if before & 1 == 0 && self.seq.load(Ordering::Relaxed) == before {
                return period;
            }
            spin_loop();
        }
    }

    /// Mirrors `config`. Only under the transition lock: the seqlock has one writer.
    pub(super) fn store(&self, config: &Config) {
        let period = Period::of(config);
        let seq = self.seq.load(Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        self.failure_threshold
            .store(config.failure_threshold(), Ordering::Relaxed);
        self.half_open.store(half_open(config), Ordering::Relaxed);
        self.reset_timeout
            .store(period.reset_timeout, Ordering::Relaxed);
        self.milli.store(milli(&period), Ordering::Relaxed);
        self.max_reset_timeout.store(period.max, Ordering::Relaxed);
        self.max_half_open
            .store(config.max_half_open_nanos(), Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(2), Ordering::Release);
    }
}
