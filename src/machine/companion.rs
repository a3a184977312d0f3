//! The cold-path companion of a machine: everything a breaker keeps only when something asks
//! for it, in one box made on first use, so that a breaker nobody watches carries one empty
//! pointer for all of it and the closed path never looks inside.
//!
//! It holds:
//! - the listeners (transitions and rejections, `observe::events::Listeners`);
//! - the trip rule and the counts since the last transition it is asked with, kept only while
//!   a rule is set (`counting`);
//! - the tallies of a half-open round decided by rate (failed and slow trials);
//! - the [`Link`] a fleet attaches through (set once);
//! - [`Extensions`]: one value per type for integrations (the metrics export's instruments);
//! - the admission [`Gate`] (set once; see `gate.rs`);
//! - overload shedding ([`Shed`], made by the first overload; see `shed.rs`).
//!
//! Relies on: tallies are per generation ([`Tally`]), so a transition starts them at zero
//! without a write. Keeps: the trip rule is user code and runs under no lock; a panic in it
//! counts as "no". The word's out-of-line bit is set while a rule is, so the rule sees every
//! closed failure; counting starts before that bit is set and stops after it is cleared.

use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwapOption;

use crate::extensions::Extensions;
use crate::machine::gate::Gate;
use crate::machine::link::Link;
use crate::machine::outcome::Outcome;
use crate::machine::reason::Reason;
use crate::machine::sense::Sensor;
use crate::machine::shed::Shed;
use crate::machine::tally::Tally;
use crate::machine::word::Word;
use crate::machine::{Machine, Now};
use crate::observe::events::Listeners;
use crate::observe::metrics::{Counts as CallCounts, WindowCounts};
use crate::sync::{lock, AtomicBool, Ordering};

/// A custom trip rule: see [`Breaker::set_trip_rule`](crate::Breaker::set_trip_rule).
pub(crate) type TripRule = dyn Fn(&CallCounts, Option<&WindowCounts>) -> bool + Send + Sync;

/// The cold-path companion: see the module docs.
pub(crate) struct Companion {
    /// Transition and rejection listeners, and the queue of transitions not yet delivered.
    pub(crate) listeners: Listeners,
    /// The fleet this breaker shares its state with, if any.
    pub(crate) link: OnceLock<Box<dyn Link>>,
    /// Integrations' per-breaker values.
    pub(crate) extensions: Extensions,
    /// The admission gate, if one is attached (set once).
    pub(super) gate: OnceLock<Arc<dyn Gate>>,
    /// Overload shedding, made by the first overload (see `shed.rs`).
    pub(super) shed: OnceLock<Shed>,
    /// The latency sensor, made by the first timed success (see `sense.rs`).
    pub(super) sensor: OnceLock<Sensor>,
    /// The current half-open round's failed and slow trials, when rounds are decided by rate.
    pub(super) round_failures: Tally,
    pub(super) round_slow: Tally,
    /// Whether the counts since the last transition below are kept (while a trip rule is set).
    pub(super) counting: AtomicBool,
    pub(super) requests: Tally,
    pub(super) successes: Tally,
    pub(super) failures: Tally,
    pub(super) consecutive_successes: Tally,
    pub(super) consecutive_failures: Tally,
    /// The trip rule, if one is set. Written under the transition lock.
    pub(super) rule: ArcSwapOption<Box<TripRule>>,
    /// Whether `rule` holds one: a plain load for paths that have none.
    pub(super) ruled: AtomicBool,
}

impl Companion {
    pub(crate) fn new() -> Self {
        Companion {
            listeners: Listeners::new(),
            link: OnceLock::new(),
            extensions: Extensions::default(),
            gate: OnceLock::new(),
            shed: OnceLock::new(),
            sensor: OnceLock::new(),
            round_failures: Tally::new(),
            round_slow: Tally::new(),
            counting: AtomicBool::new(false),
            requests: Tally::new(),
            successes: Tally::new(),
            failures: Tally::new(),
            consecutive_successes: Tally::new(),
            consecutive_failures: Tally::new(),
            rule: ArcSwapOption::empty(),
            ruled: AtomicBool::new(false),
        }
    }

    /// Generation `gen`'s counts.
    pub(super) fn counts(&self, gen: u32) -> CallCounts {
        CallCounts {
            requests: self.requests.get(gen),
            successes: self.successes.get(gen),
            failures: self.failures.get(gen),
            consecutive_successes: self.consecutive_successes.get(gen),
            consecutive_failures: self.consecutive_failures.get(gen),
        }
    }

    /// Counts a finished call of generation `gen`.
    pub(super) fn finished(&self, gen: u32, outcome: Outcome) {
        let (this, streak, other) = match outcome {
            Outcome::Success => (
                &self.successes,
                &self.consecutive_successes,
                &self.consecutive_failures,
            ),
            Outcome::Failure | Outcome::Overload => (
                &self.failures,
                &self.consecutive_failures,
                &self.consecutive_successes,
            ),
            Outcome::Ignored => return,
        };
        this.bump(gen);
        streak.bump(gen);
        other.clear(gen);
    }
}

impl Machine {
    /// The extras, if they count calls since the last transition.
    #[inline]
    pub(super) fn counting(&self) -> Option<&Companion> {
        self.companion_if_any()
            .filter(|extras| extras.counting.load(Ordering::Relaxed))
    }

    /// Sets or clears the trip rule.
    pub(crate) fn set_trip_rule(&self, rule: Option<Box<TripRule>>) {
        let config = lock(&self.transition_lock);
        let extras = self.companion();
        let ruled = rule.is_some();
        // Counting starts before the out-of-line bit sends calls to the rule, and stops after.
        if ruled {
            extras.counting.store(true, Ordering::Relaxed);
        }
        extras.rule.store(rule.map(Arc::new));
        extras.ruled.store(ruled, Ordering::Relaxed);
        self.refresh_paths(&config);
        extras.counting.store(ruled, Ordering::Relaxed);
    }

    /// Asks the trip rule, if one is set, whether generation `gen` opens: `None` without one.
    /// The rule is user code: it runs under no lock, and a panic in it counts as "no".
    pub(super) fn ask_rule(&self, gen: u32, window: Option<WindowCounts>) -> Option<bool> {
        let extras = self.companion_if_any()?;
        if !extras.ruled.load(Ordering::Relaxed) {
            return None;
        }
        let rule = extras.rule.load_full()?;
        let counts = extras.counts(gen);
        let verdict = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rule(&counts, window.as_ref())
        }));
        Some(verdict.unwrap_or(false))
    }

    /// Whether a trip rule is set.
    #[inline]
    pub(super) fn has_rule(&self) -> bool {
        self.companion_if_any()
            .is_some_and(|x| x.ruled.load(Ordering::Relaxed))
    }

    /// A closed (or metrics-only) failure with a trip rule and no window: counted in `w`
    /// first, so the rule sees it, then the rule decides. `Err(current word)` if the word
    /// moved before the count landed.
    pub(super) fn failure_by_rule<F: FnMut() -> u64>(
        &self,
        w: Word,
        failures: u32,
        now: &mut Now<F>,
    ) -> Result<(), Word> {
        let counted = w.with_payload(failures);
        self.try_swap(w, counted)?;
        if self.ask_rule(w.generation(), None) == Some(true) {
            let to = Self::trip_to(w.kind());
            self.transition(counted, to, now, Reason::TripRule, |_| true);
        }
        Ok(())
    }

    /// The counts since the last transition, if kept.
    pub(crate) fn counts(&self) -> Option<CallCounts> {
        let extras = self.counting()?;
        Some(extras.counts(self.load().generation()))
    }

    /// The companion, made on first use (off the closed path).
    pub(crate) fn companion(&self) -> &Companion {
        self.companion.get_or_init(|| Box::new(Companion::new()))
    }

    /// The companion, if anything ever asked for it.
    #[inline]
    pub(crate) fn companion_if_any(&self) -> Option<&Companion> {
        self.companion.get().map(|companion| &**companion)
    }

    /// The fleet this breaker shares its state with, if any. Read only off the closed path.
    #[inline]
    pub(super) fn link(&self) -> Option<&dyn Link> {
        self.companion.get()?.link.get().map(|link| &**link)
    }
}
