//! The knobs the state machine reads on its paths, mirrored from the [`Config`] in atomics so no
//! call takes a lock to read one.
//!
//! A decision that needs one knob loads it. One that needs several (the length of an open
//! period) reads them under a seqlock, so it never mixes two configs: `store` is the only writer
//! and runs under the machine's transition lock.

use crate::config::Config;
use crate::machine::backoff::Period;
use crate::sync::{fence, spin_loop, AtomicU32, AtomicU64, Ordering};

pub(crate) struct Knobs {
    /// Seqlock sequence: odd while `store` is writing.
    seq: AtomicU32,
    pub(super) failure_threshold: AtomicU32,
    pub(super) half_open_retries: AtomicU32,
    pub(super) reset_timeout: AtomicU64,
    backoff_milli: AtomicU32,
    pub(super) jitter_milli: AtomicU32,
    max_reset_timeout: AtomicU64,
}

impl Knobs {
    pub(super) fn new(config: &Config) -> Self {
        Knobs {
            seq: AtomicU32::new(0),
            failure_threshold: AtomicU32::new(config.failure_threshold()),
            half_open_retries: AtomicU32::new(config.half_open_retries()),
            reset_timeout: AtomicU64::new(config.reset_timeout_nanos()),
            backoff_milli: AtomicU32::new(config.backoff_milli()),
            jitter_milli: AtomicU32::new(config.jitter_milli()),
            max_reset_timeout: AtomicU64::new(config.max_reset_timeout_nanos()),
        }
    }

    /// The open-period knobs, all from one config.
    pub(super) fn period(&self) -> Period {
        loop {
            let before = self.seq.load(Ordering::Acquire);
            let period = Period {
                reset_timeout: self.reset_timeout.load(Ordering::Relaxed),
                backoff_milli: self.backoff_milli.load(Ordering::Relaxed),
                jitter_milli: self.jitter_milli.load(Ordering::Relaxed),
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
        let seq = self.seq.load(Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        self.failure_threshold
            .store(config.failure_threshold(), Ordering::Relaxed);
        self.half_open_retries
            .store(config.half_open_retries(), Ordering::Relaxed);
        self.reset_timeout
            .store(config.reset_timeout_nanos(), Ordering::Relaxed);
        self.backoff_milli
            .store(config.backoff_milli(), Ordering::Relaxed);
        self.jitter_milli
            .store(config.jitter_milli(), Ordering::Relaxed);
        self.max_reset_timeout
            .store(config.max_reset_timeout_nanos(), Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(2), Ordering::Release);
    }
}
