//! Reconfiguration in place, and the word's path bits that follow the config.
//!
//! Owns `reconfigure` (new knobs under the transition lock; state, counts, generation and start
//! times stay) and `refresh_paths`, the one place the out-of-line and count bits are derived
//! from the config and what the breaker holds beyond it (a trip rule, totals kept on for an
//! exporter). Keeps: the path bits change by compare-and-swap without touching the epoch, so
//! calls in flight keep their tickets; counting starts before a bit sends calls to be counted
//! and stops after.

use std::sync::Arc;

use crate::config::Config;
use crate::machine::open_period::seed_of;
use crate::machine::shed::Shed;
use crate::machine::window::WindowStore;
use crate::machine::word::{Word, COUNT, OUT_OF_LINE, PATHS};
use crate::machine::Machine;
use crate::sync::{lock, Ordering};

impl Machine {
    /// Replaces the knobs in place. State, counts, generation and start times stay as they are.
    pub(crate) fn reconfigure(&self, config: Config) {
        let mut current = lock(&self.transition_lock);
        self.knobs.store(&config);
        // A new window (empty) only when its rules change: other updates keep its counts.
        let rules = config.rules();
        let held = self.with_window(|window| window.rules);
        if rules != held {
            self.window
                .store(rules.map(|rules| Arc::new(WindowStore::new(rules))));
            self.swapped.store(true, Ordering::Release);
            self.windowed.store(rules.is_some(), Ordering::Relaxed);
            self.timed.store(
                rules.is_some_and(|rules| rules.slow_nanos > 0),
                Ordering::Relaxed,
            );
        }
        if let Some(shed) = self.shed() {
            shed.configure(&config);
        }
        if let Some(sensor) = self.sensor() {
            sensor.configure(&config);
        }
        // Counting starts before the out-of-line bit sends calls to be counted, and stops after.
        let totals = config.totals() || self.totals_kept();
        if totals {
            self.counters.set_on(true);
        }
        self.refresh_paths(&config);
        if !totals {
            self.counters.set_on(false);
        }
        if config.jitter_seed() != current.jitter_seed() {
            self.rng.store(seed_of(&config), Ordering::Relaxed);
        }
        **current = config;
    }

    /// Turns call totals on for good, whatever the config says now or later (see
    /// `Breaker::keep_totals`).
    pub(crate) fn keep_totals(&self) {
        let config = lock(&self.transition_lock);
        self.totals_kept.store(true, Ordering::Relaxed);
        self.counters.set_on(true);
        self.refresh_paths(&config);
    }

    #[inline]
    pub(super) fn totals_kept(&self) -> bool {
        self.totals_kept.load(Ordering::Relaxed)
    }

    /// The word's out-of-line and count bits: `out_of_line` with a window, a trip rule or a
    /// gate, `count`
    /// with totals.
    pub(super) fn paths(out_of_line: bool, count: bool) -> u32 {
        (if out_of_line { OUT_OF_LINE } else { 0 }) | if count { COUNT } else { 0 }
    }

    /// Sets the out-of-line and count bits for `config` and what the breaker holds beyond it (a
    /// trip rule, totals kept for an exporter), leaving epoch and payload as they are. Called
    /// under the
    /// transition lock, after whatever they depend on is stored.
    pub(super) fn refresh_paths(&self, config: &Config) {
        let paths = Self::paths(
            config.rules().is_some()
                || self.has_rule()
                || self.has_gate()
                || self.shed().is_some_and(Shed::active),
            config.totals() || self.totals_kept(),
        );
        let mut w = self.load();
        loop {
            let low = (w.low() & !PATHS) | paths;
            let next = Word((w.0 & !u64::from(u32::MAX)) | u64::from(low));
            if next == w {
                return;
            }
            match self.try_swap(w, next) {
                Ok(()) => return,
                Err(actual) => w = actual,
            }
        }
    }
}
