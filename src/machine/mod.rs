//! The state machine: plain synchronous code over one atomic word (see [`word`]), taking the
//! time as an argument.
//!
//! # Who writes what
//! - Lock-free compare-and-swap on the payload, never changing the epoch: counting a failure
//!   below the threshold, resetting the count on a success, taking and giving back a trial,
//!   counting a trial success.
//! - Under the transition lock, compare-and-swap to a new epoch: every transition, and `reconfigure`. The lock
//!   serializes transitions, so exactly one caller wins each one; it is never held across user
//!   code or an `.await`.
//!
//! The closed-state success path is one load, plus one compare-and-swap only when there are
//! failures to reset. It takes no lock, reads no clock and writes nothing when nothing changes.
//! A shared breaker's fleet hears of the closed count only where it changes (a failure, or
//! the success that resets a non-zero count): never on the clean closed success.
//!
//! # Start times
//! A transition stamps when its new generation began in `since[gen & 1]` *before* publishing the
//! word (release), so a reader that sees a generation (acquire) sees its start. The two slots
//! alternate: writing the start of generation `g + 1` never touches the slot that readers of `g`
//! use. A reader delayed across two transitions may read a newer start; it only ever acts through
//! a compare-and-swap on the word it read, which then fails, so a stale read changes nothing.

pub(crate) mod backoff;
pub(crate) mod knobs;
pub(crate) mod link;
pub(crate) mod state;
pub(crate) mod window;
pub(crate) mod word;

use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwapOption;

use crate::call::classify::Outcome;
use crate::config::Config;
use crate::machine::backoff::{seed_of, splitmix, OpenPeriod};
use crate::machine::knobs::Knobs;
use crate::machine::link::Link;
use crate::machine::state::State;
use crate::machine::window::{Counts, Mark, Sums, Trip};
use crate::machine::word::{
    state_of, Ticket, Word, CLOSED, DISABLED, EXPLICIT_DEADLINE, FAST_MASK, FORCED_OPEN, HALF_OPEN,
    NOT_TIMED, OPEN, SLOW,
};
use crate::observe::events::{Events, Reason};
use crate::observe::metrics::Counters;
use crate::sync::{lock, AtomicBool, AtomicU32, AtomicU64, Mutex, Ordering};

/// A manual state change: see [`Machine::manual`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Manual {
    ForceOpen,
    Disable,
    Reset,
}

/// Why a call was not admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) state: State,
    /// Nanoseconds until the circuit lets trial calls through; `None` in half-open.
    pub(crate) retry_after: Option<u64>,
}

/// The time, read from the clock at most once and only if asked for.
pub(crate) struct Now<F> {
    read: F,
    nanos: Option<u64>,
}

impl<F: FnMut() -> u64> Now<F> {
    pub(crate) fn new(read: F) -> Self {
        Now { read, nanos: None }
    }

    fn get(&mut self) -> u64 {
        if let Some(t) = self.nanos {
            return t;
        }
        let t = (self.read)();
        self.nanos = Some(t);
        t
    }
}

/// The circuit's state and knobs. See the module docs for the layout and the rules.
pub(crate) struct Machine {
    word: AtomicU64,
    /// Clock reading (ns) at which the generation began, indexed by generation parity.
    since: [AtomicU64; 2],
    /// For an open generation, indexed like `since`: how many times the circuit reopened from
    /// half-open since it last closed (high half) and the jitter draw (low half).
    open_info: [AtomicU64; 2],
    /// Consecutive reopens since the circuit last closed. Written under the transition lock.
    reopens: AtomicU32,
    /// Jitter generator state (splitmix64). Advanced under the transition lock.
    rng: AtomicU64,
    /// The knobs the paths read, mirrored without a lock.
    knobs: Knobs,
    /// The transition lock, guarding the authoritative config. Held to commit a transition
    /// or a new config; never across user code or an `.await`. Boxed: read only by `config()`
    /// and the lock's users, so it stays off the cache lines the hot fields share.
    transition_lock: Mutex<Box<Config>>,
    name: Option<Arc<str>>,
    /// Made when the first listener is registered; a breaker without listeners queues nothing.
    events: OnceLock<Box<Events>>,
    /// Call totals, counted on the out-of-line paths while the word's slow bit is set.
    counters: Counters,
    /// The failure-rate window, if the config has one. Swapped whole when `reconfigure`
    /// changes its rules, so a call sees one set of rules; loaded without a lock.
    window: ArcSwapOption<Counts>,
    /// Whether `window` holds one: a plain load, so paths without a window skip the swap's.
    windowed: AtomicBool,
    /// Call totals kept on whatever the config says: a metrics export publishes them. Written
    /// under the transition lock.
    #[cfg(feature = "metrics")]
    totals_pinned: AtomicBool,
}

impl Machine {
    pub(crate) fn new(config: Config, name: Option<Arc<str>>) -> Self {
        let totals = config.totals();
        let rules = config.rules();
        let slow = totals || rules.is_some();
        Machine {
            word: AtomicU64::new(if slow {
                CLOSED | u64::from(SLOW)
            } else {
                CLOSED
            }),
            since: [AtomicU64::new(0), AtomicU64::new(0)],
            open_info: [AtomicU64::new(0), AtomicU64::new(0)],
            reopens: AtomicU32::new(0),
            rng: AtomicU64::new(seed_of(&config)),
            knobs: Knobs::new(&config),
            transition_lock: Mutex::new(Box::new(config)),
            name,
            events: OnceLock::new(),
            counters: Counters::new(totals),
            window: ArcSwapOption::new(rules.map(|rules| Arc::new(Counts::new(rules)))),
            windowed: AtomicBool::new(rules.is_some()),
            #[cfg(feature = "metrics")]
            totals_pinned: AtomicBool::new(false),
        }
    }

    pub(crate) fn name(&self) -> Option<&Arc<str>> {
        self.name.as_ref()
    }

    pub(crate) fn set_name(&mut self, name: Arc<str>) {
        self.name = Some(name);
    }

    #[inline]
    fn load(&self) -> Word {
        Word(self.word.load(Ordering::Acquire))
    }

    #[inline]
    fn try_swap(&self, current: Word, new: Word) -> Result<(), Word> {
        self.word
            .compare_exchange_weak(current.0, new.0, Ordering::AcqRel, Ordering::Acquire)
            .map(drop)
            .map_err(Word)
    }

    #[inline]
    fn since(&self, w: Word) -> u64 {
        self.since[w.since_slot()].load(Ordering::Acquire)
    }

    /// The instant (ns) at which an epoch times out: an open period ends, or a half-open
    /// round counts as hung. Backoff and jitter apply to open periods only.
    #[inline]
    fn deadline(&self, w: Word) -> u64 {
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
    fn backed_off(&self, info: u64) -> u64 {
        #[allow(clippy::cast_possible_truncation)]
        let (reopens, draw) = ((info >> 32) as u32, info as u32);
        self.knobs.period().length(reopens, draw)
    }

    /// Whether the half-open round `w` went undecided for a whole `reset_timeout` by `t`: then
    /// it is replaced by a fresh round, and its trials' outcomes no longer count. (A round that
    /// began at `t` is never hung, even when time saturates.)
    fn hung(&self, w: Word, t: u64) -> bool {
        t >= self.deadline(w) && t > self.since(w)
    }

    /// Moves from `from`'s epoch to a fresh generation of `to`, if the word still carries that
    /// epoch and `ready` holds for its current payload. Returns the word as it is afterwards:
    /// the new one if this call made the transition, otherwise whatever is current.
    #[cold]
    #[inline(never)]
    fn transition<F: FnMut() -> u64>(
        &self,
        from: Word,
        to: u64,
        now: &mut Now<F>,
        reason: Reason,
        ready: impl Fn(Word) -> bool,
    ) -> Word {
        let after = self.commit(now, to, reason, |current| {
            // Epochs only change under the lock, so a changed epoch means someone else made
            // this transition before we got the lock.
            current.epoch() == from.epoch() && ready(current)
        });
        after.unwrap_or_else(|current| current)
    }

    /// Under the transition lock: moves the current word to a fresh generation of `to` if
    /// `go` says so. `Ok(new word)` if this call made the change, `Err(current word)` if not.
    /// Delivers the transition to listeners after the lock is released.
    fn commit<F: FnMut() -> u64>(
        &self,
        now: &mut Now<F>,
        to: u64,
        reason: Reason,
        mut go: impl FnMut(Word) -> bool,
    ) -> Result<Word, Word> {
        self.commit_until(now, to, reason, None, &mut go)
    }

    /// [`commit`](Machine::commit), with an open period that ends at `deadline` (ns on this
    /// breaker's clock) instead of one worked out from the knobs.
    fn commit_until<F: FnMut() -> u64>(
        &self,
        now: &mut Now<F>,
        to: u64,
        reason: Reason,
        deadline: Option<u64>,
        go: &mut impl FnMut(Word) -> bool,
    ) -> Result<Word, Word> {
        // Read the clock (which may be user code) before taking the lock: no user code ever
        // runs under a lock of the breaker. Closed needs no start time.
        let stamp = if to == CLOSED { 0 } else { now.get() };
        let result = {
            let _guard = lock(&self.transition_lock);
            let mut current = self.load();
            // An open period's backoff and jitter, worked out once: the loop below may retry.
            let mut period: Option<OpenPeriod> = None;
            loop {
                if !go(current) {
                    break Err(current);
                }
                let mut next = current.next(to);
                if to != CLOSED {
                    self.since[next.since_slot()].store(stamp, Ordering::Release);
                }
                if let (OPEN, Some(deadline)) = (to, deadline) {
                    self.open_info[next.since_slot()].store(deadline, Ordering::Release);
                    next = next.with_payload(EXPLICIT_DEADLINE);
                } else if to == OPEN {
                    let p = *period.get_or_insert_with(|| self.open_period(current.kind()));
                    self.open_info[next.since_slot()].store(p.info, Ordering::Release);
                    if p.info != 0 {
                        // Tells `deadline` to look at `open_info`; the default period does
                        // not need that load.
                        next = next.with_payload(1);
                    }
                }
                // The payload may still move under us (lock-free counting); retry on it.
                match self.try_swap(current, next) {
                    Ok(()) => {
                        if let Some(p) = period {
                            self.reopens.store(p.reopens, Ordering::Relaxed);
                            self.rng.store(p.rng, Ordering::Relaxed);
                        }
                        if matches!(to, CLOSED | DISABLED) || reason == Reason::Reset {
                            self.reopens.store(0, Ordering::Relaxed);
                        }
                        let (from, to) = (state_of(current.kind()), state_of(to));
                        if let Some(events) = self.events.get() {
                            events.push(self.name.as_ref(), from, to, reason);
                        }
                        break Ok((next, from, to));
                    }
                    Err(actual) => current = actual,
                }
            }
        };
        let Ok((next, from, to)) = result else {
            return result.map(|(w, ..)| w);
        };
        // Outside the lock, like every other callback.
        #[cfg(feature = "tracing")]
        if from != to {
            tracing::info!(
                target: "protego_breaker",
                breaker = self.name.as_deref().unwrap_or(""),
                %from,
                %to,
                %reason,
                "circuit state changed"
            );
        }
        if let Some(events) = self.events.get() {
            if from != to {
                events.deliver();
            }
        }
        if reason != Reason::Fleet {
            if let Some(link) = self.link() {
                link.transitioned(from, to, reason);
            }
        }
        Ok(next)
    }

    /// The fleet this breaker shares its state with, if any. Read only off the closed path.
    #[inline]
    fn link(&self) -> Option<&dyn Link> {
        self.events.get()?.link.get().map(|link| &**link)
    }

    /// While shared with a reachable fleet: this replica's trial budget for the round.
    #[inline]
    fn shared_budget(&self) -> Option<u32> {
        self.link().and_then(Link::trial_budget)
    }

    /// Tells the fleet that a half-open call found no trial lease. Out of line: rare.
    #[cold]
    #[inline(never)]
    fn want_trial(&self) {
        if let Some(link) = self.link() {
            link.trial_wanted();
        }
    }

    /// Attaches the fleet this breaker shares its state with. Returns `false` if it already
    /// has one.
    #[cfg_attr(not(feature = "fleet"), allow(dead_code))]
    pub(crate) fn set_link(&self, link: Box<dyn Link>) -> bool {
        self.events().link.set(link).is_ok()
    }

    /// Takes the state the fleet holds: `to` (for Open, until `deadline` on this breaker's
    /// clock). A change of state, or of an open period's end, is a transition with
    /// [`Reason::Fleet`]; adopting the state the breaker is already in (an open period with the
    /// same end) changes nothing, except that adopting half-open always starts a fresh round (the
    /// fleet adopts it only for a new fleet round: trials of the old one count for nothing).
    /// Returns whether it changed anything.
    #[cfg_attr(not(feature = "fleet"), allow(dead_code))]
    pub(crate) fn adopt<F: FnMut() -> u64>(
        &self,
        to: State,
        deadline: Option<u64>,
        now: &mut Now<F>,
    ) -> bool {
        let kind = match to {
            State::Closed => CLOSED,
            State::Open => OPEN,
            State::HalfOpen => HALF_OPEN,
            State::ForcedOpen => FORCED_OPEN,
            _ => DISABLED,
        };
        let deadline = if kind == OPEN {
            Some(deadline.unwrap_or_else(|| now.get()))
        } else {
            None
        };
        self.commit_until(now, kind, Reason::Fleet, deadline, &mut |current| {
            current.kind() != kind
                || kind == HALF_OPEN
                || (kind == OPEN && Some(self.deadline(current)) != deadline)
        })
        .is_ok()
    }

    /// The length of an open period after `reopens` reopens, from the current knobs, without
    /// jitter: what a fleet asks the store for when this breaker reopens the fleet's circuit.
    #[cfg_attr(not(feature = "fleet"), allow(dead_code))]
    pub(crate) fn open_length(&self, reopens: u32) -> u64 {
        self.knobs.period().length(reopens, 0)
    }

    /// The current `half_open_retries`.
    #[cfg_attr(not(feature = "fleet"), allow(dead_code))]
    pub(crate) fn half_open_retries(&self) -> u32 {
        self.knobs.half_open_retries.load(Ordering::Relaxed)
    }

    /// For the fleet-wide failure count: the consecutive failures of the current closed
    /// stretch and the `failure_threshold`, or `None` when a failure-rate window decides
    /// (the window trips per replica) or the circuit is not closed.
    #[cfg_attr(not(feature = "fleet"), allow(dead_code))]
    pub(crate) fn closed_failures(&self) -> Option<(u32, u32)> {
        let w = self.load();
        if w.kind() != CLOSED || self.windowed.load(Ordering::Relaxed) {
            return None;
        }
        Some((
            w.payload(),
            self.knobs.failure_threshold.load(Ordering::Relaxed),
        ))
    }

    /// Whether the fleet's store is reachable: `None` when the breaker shares nothing.
    pub(crate) fn fleet_online(&self) -> Option<bool> {
        self.link().map(Link::is_online)
    }

    /// The backoff state of an open period starting now, from state `from`: how many reopens
    /// precede it and its jitter draw (`info`), and the counters as they will be once it is
    /// committed. Under the transition lock; stores nothing.
    fn open_period(&self, from: u64) -> OpenPeriod {
        let reopens = if from == HALF_OPEN {
            self.reopens.load(Ordering::Relaxed).saturating_add(1)
        } else {
            0
        };
        let mut rng = self.rng.load(Ordering::Relaxed);
        let draw = if self.knobs.jitter_milli.load(Ordering::Relaxed) > 0 {
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

    /// A state change made by hand. Returns the state it replaced, read from the transition
    /// itself, or `None` if nothing changed: forcing a state the circuit is already in changes
    /// nothing (and fires nothing); `Reset` always starts a fresh closed generation with clean
    /// counts.
    pub(crate) fn manual<F: FnMut() -> u64>(
        &self,
        change: Manual,
        now: &mut Now<F>,
    ) -> Option<State> {
        let (to, reason) = match change {
            Manual::ForceOpen => (FORCED_OPEN, Reason::ForcedOpen),
            Manual::Disable => (DISABLED, Reason::Disabled),
            Manual::Reset => (CLOSED, Reason::Reset),
        };
        let mut replaced = None;
        let _ = self.commit(now, to, reason, |current| {
            let go = change == Manual::Reset || current.kind() != to;
            replaced = go.then(|| state_of(current.kind()));
            go
        });
        replaced
    }

    /// Admits a call, or says why not. Reads the clock only when the circuit is not closed.
    #[inline]
    pub(crate) fn admit<F: FnMut() -> u64>(&self, now: &mut Now<F>) -> Result<Ticket, Refusal> {
        // The closed path, inlined into the caller: one load, no write.
        let w = self.load();
        if w.low() & FAST_MASK == 0 {
            return Ok(Ticket::new(w.low()));
        }
        self.admit_slow(w, now)
    }

    #[inline(never)]
    fn admit_slow<F: FnMut() -> u64>(&self, w: Word, now: &mut Now<F>) -> Result<Ticket, Refusal> {
        let mut admitted = self.decide(w, now);
        if w.low() & SLOW == 0 {
            return admitted; // no totals, no window: nothing more to do
        }
        if let Ok(ticket) = &mut admitted {
            self.counters.admitted();
            if self.windowed.load(Ordering::Relaxed)
                && self
                    .window
                    .load()
                    .as_ref()
                    .is_some_and(|window| window.rules.slow_nanos > 0)
            {
                ticket.started = now.get();
            }
        } else {
            self.counters.rejected();
        }
        admitted
    }

    fn decide<F: FnMut() -> u64>(&self, mut w: Word, now: &mut Now<F>) -> Result<Ticket, Refusal> {
        loop {
            match w.kind() {
                CLOSED | DISABLED => return Ok(Ticket::new(w.epoch())),
                OPEN => {
                    let t = now.get();
                    let deadline = self.deadline(w);
                    if t < deadline {
                        return Err(Refusal {
                            state: State::Open,
                            retry_after: Some(deadline - t),
                        });
                    }
                    w = self.transition(w, HALF_OPEN, now, Reason::OpenPeriodEnded, |_| true);
                }
                FORCED_OPEN => {
                    return Err(Refusal {
                        state: State::ForcedOpen,
                        retry_after: None,
                    })
                }
                _ => {
                    if self.hung(w, now.get()) {
                        w = self.transition(w, HALF_OPEN, now, Reason::OpenPeriodEnded, |_| true);
                        continue;
                    }
                    let mut trials = self.knobs.half_open_retries.load(Ordering::Relaxed);
                    let shared = self.shared_budget();
                    if let Some(budget) = shared {
                        // The fleet decides the round: admit only what its leases allow.
                        trials = trials.min(budget);
                    } else if w.successes() >= trials {
                        // Enough trials succeeded for the current config (it may have shrunk).
                        w = self.transition(w, CLOSED, now, Reason::TrialsSucceeded, |c| {
                            c.successes() >= trials
                        });
                        continue;
                    }
                    if w.in_flight() + w.successes() >= trials {
                        if shared.is_some_and(|budget| {
                            budget < self.knobs.half_open_retries.load(Ordering::Relaxed)
                        }) {
                            self.want_trial();
                        }
                        return Err(Refusal {
                            state: State::HalfOpen,
                            retry_after: None,
                        });
                    }
                    match self.try_swap(w, w.with_trials(w.in_flight() + 1, w.successes())) {
                        Ok(()) => return Ok(Ticket::new(w.epoch())),
                        Err(actual) => w = actual,
                    }
                }
            }
        }
    }

    /// Records the outcome of a call admitted with `ticket`. An outcome from an epoch that is no
    /// longer current changes nothing.
    #[inline]
    pub(crate) fn record<F: FnMut() -> u64>(
        &self,
        ticket: Ticket,
        outcome: Outcome,
        now: &mut Now<F>,
    ) {
        // The closed success path with nothing to reset, inlined into the caller: one load, no
        // write. (A ticket's epoch with a zero payload and no slow bit is exactly this closed
        // stretch, clean.)
        let w = self.load();
        if outcome == Outcome::Success && w.0 == u64::from(ticket.epoch) && w.kind() == CLOSED {
            return;
        }
        self.record_slow(w, ticket, outcome, now);
    }

    #[inline(never)]
    fn record_slow<F: FnMut() -> u64>(
        &self,
        mut w: Word,
        ticket: Ticket,
        outcome: Outcome,
        now: &mut Now<F>,
    ) {
        // Totals or a window: with both off (the default) this is one test of a register.
        if w.low() & SLOW != 0 && self.record_counted(w, ticket, outcome, now) {
            return;
        }
        let mut told_fleet = false;
        loop {
            if w.epoch() != ticket.epoch {
                return;
            }
            if w.kind() == HALF_OPEN {
                if self.hung(w, now.get()) {
                    // Nobody called since the round hung: replace it now, so this late outcome
                    // (of a trial of the old round) counts for nothing.
                    w = self.transition(w, HALF_OPEN, now, Reason::OpenPeriodEnded, |_| true);
                    continue;
                }
                if !told_fleet {
                    told_fleet = true;
                    if let Some(link) = self.link() {
                        link.trial_finished(outcome);
                    }
                }
            }
            let next = match (w.kind(), outcome) {
                (CLOSED, Outcome::Success) => {
                    if w.payload() == 0 {
                        return;
                    }
                    w.with_payload(0)
                }
                (CLOSED, Outcome::Failure) => {
                    let threshold = self.knobs.failure_threshold.load(Ordering::Relaxed);
                    let failures = w.payload().saturating_add(1);
                    if failures >= threshold {
                        w = self.transition(w, OPEN, now, Reason::FailureThreshold, |c| {
                            c.payload().saturating_add(1) >= threshold
                        });
                        continue;
                    }
                    w.with_payload(failures)
                }
                (HALF_OPEN, Outcome::Success) => {
                    let successes = w.successes() + 1;
                    let trials = self.knobs.half_open_retries.load(Ordering::Relaxed);
                    // Shared: the fleet closes the round when enough trials succeeded anywhere.
                    if successes >= trials && self.shared_budget().is_none() {
                        w = self.transition(w, CLOSED, now, Reason::TrialsSucceeded, |c| {
                            c.successes() + 1 >= trials
                        });
                        continue;
                    }
                    w.with_trials(w.in_flight().saturating_sub(1), successes)
                }
                (HALF_OPEN, Outcome::Failure) => {
                    w = self.transition(w, OPEN, now, Reason::TrialFailed, |_| true);
                    continue;
                }
                (HALF_OPEN, Outcome::Ignored) => {
                    w.with_trials(w.in_flight().saturating_sub(1), w.successes())
                }
                // Closed ignores cancellations; no ticket is ever issued while Open or forced
                // open; Disabled records nothing.
                _ => return,
            };
            match self.try_swap(w, next) {
                Ok(()) => {
                    if w.kind() == CLOSED {
                        self.failures_changed();
                    }
                    return;
                }
                Err(actual) => w = actual,
            }
        }
    }

    /// The closed state's consecutive-failure count changed (a failure below the threshold,
    /// or the success that reset a non-zero count): tells the fleet, if the breaker has one.
    /// Off the clean closed path; without a fleet, one load of the listeners pointer.
    #[inline]
    fn failures_changed(&self) {
        if let Some(link) = self.link() {
            link.failures_changed();
        }
    }

    /// The slow bit's part of recording: counts the outcome (a slow one too, whatever the
    /// state, the classification or the epoch: every admitted call that took at least
    /// `slow_call_duration` is slow), and records it in the window if there is one and the
    /// circuit is closed. Returns whether the window took it. Out of line, so that the default
    /// failure path stays small.
    #[inline(never)]
    fn record_counted<F: FnMut() -> u64>(
        &self,
        w: Word,
        ticket: Ticket,
        outcome: Outcome,
        now: &mut Now<F>,
    ) -> bool {
        self.counters.finished(outcome);
        if !self.windowed.load(Ordering::Relaxed) {
            return false;
        }
        let guard = self.window.load();
        let Some(window) = &*guard else {
            return false;
        };
        let rules = window.rules;
        let slow = rules.slow_nanos > 0
            && ticket.started != NOT_TIMED
            && now.get().saturating_sub(ticket.started) >= rules.slow_nanos;
        if slow {
            self.counters.slow();
        }
        if w.kind() != CLOSED || outcome == Outcome::Ignored {
            return false;
        }
        self.record_in_window(w, window, ticket, outcome, slow, now);
        true
    }

    /// Closed with a failure-rate window: the outcome goes into the window, which may call for
    /// opening. The word's consecutive-failure count is kept too, for
    /// [`consecutive_failures`](Machine::consecutive_failures), but decides nothing.
    fn record_in_window<F: FnMut() -> u64>(
        &self,
        mut w: Word,
        window: &Counts,
        ticket: Ticket,
        outcome: Outcome,
        slow: bool,
        now: &mut Now<F>,
    ) {
        let failed = outcome == Outcome::Failure;
        loop {
            if w.epoch() != ticket.epoch {
                return;
            }
            let failures = if failed {
                w.payload().saturating_add(1)
            } else {
                0
            };
            if failures == w.payload() {
                break;
            }
            match self.try_swap(w, w.with_payload(failures)) {
                Ok(()) => break,
                Err(actual) => w = actual,
            }
        }
        let t = if window.needs_time() { now.get() } else { 0 };
        if let Some(trip) = window.record(w.generation(), t, Mark { failed, slow }) {
            let reason = match trip {
                Trip::FailureRate => Reason::FailureRate,
                Trip::SlowCallRate => Reason::SlowCallRate,
            };
            self.transition(w, OPEN, now, reason, |_| true);
        }
    }

    /// The failure and slow-call rates (percent) of the current window, if there is a window
    /// and it holds any outcome.
    pub(crate) fn window_rates<F: FnMut() -> u64>(&self, now: &mut Now<F>) -> Option<(f64, f64)> {
        let w = self.load();
        let guard = self.window.load();
        let window = guard.as_ref()?;
        let t = if window.needs_time() { now.get() } else { 0 };
        let sums = if w.kind() == CLOSED {
            window.sums(w.generation(), t)
        } else {
            Sums::default()
        };
        if sums.calls == 0 {
            return None;
        }
        // Counts of at most a few million: exact in f64.
        #[allow(clippy::cast_precision_loss)]
        let rate = |n: u64| n as f64 * 100.0 / sums.calls as f64;
        Some((rate(sums.failures), rate(sums.slow)))
    }

    /// The current state, moving an open circuit whose `reset_timeout` has passed to half-open.
    pub(crate) fn state<F: FnMut() -> u64>(&self, now: &mut Now<F>) -> State {
        let mut w = self.load();
        loop {
            match w.kind() {
                CLOSED => return State::Closed,
                OPEN => {
                    if now.get() < self.deadline(w) {
                        return State::Open;
                    }
                    w = self.transition(w, HALF_OPEN, now, Reason::OpenPeriodEnded, |_| true);
                }
                kind => return state_of(kind),
            }
        }
    }

    /// A consistent copy of the config.
    pub(crate) fn config(&self) -> Config {
        Config::clone(&lock(&self.transition_lock))
    }

    /// The listeners, made on first use.
    pub(crate) fn events(&self) -> &Events {
        self.events.get_or_init(|| Box::new(Events::new()))
    }

    /// The listeners, if any were ever registered.
    #[inline]
    pub(crate) fn events_if_any(&self) -> Option<&Events> {
        self.events.get().map(|events| &**events)
    }

    /// Replaces the knobs in place. State, counts, generation and start times stay as they are.
    pub(crate) fn reconfigure(&self, config: Config) {
        let mut current = lock(&self.transition_lock);
        self.knobs.store(&config);
        // A new window (empty) only when its rules change: other updates keep its counts.
        let rules = config.rules();
        let held = self.window.load().as_ref().map(|window| window.rules);
        if rules != held {
            self.window
                .store(rules.map(|rules| Arc::new(Counts::new(rules))));
            self.windowed.store(rules.is_some(), Ordering::Relaxed);
        }
        // Counting starts before the slow bit sends calls to be counted, and stops after.
        let totals = config.totals() || self.totals_pinned();
        if totals {
            self.counters.set_on(true);
        }
        self.set_slow(totals || rules.is_some());
        if !totals {
            self.counters.set_on(false);
        }
        if config.jitter_seed() != current.jitter_seed() {
            self.rng.store(seed_of(&config), Ordering::Relaxed);
        }
        **current = config;
    }

    /// Turns call totals on for good, whatever the config says now or later: a metrics export
    /// publishes them (feature `metrics`). The hook the export needs in the core.
    #[cfg(feature = "metrics")]
    pub(crate) fn pin_totals(&self) {
        let _guard = lock(&self.transition_lock);
        self.totals_pinned.store(true, Ordering::Relaxed);
        self.counters.set_on(true);
        self.set_slow(true);
    }

    #[inline]
    fn totals_pinned(&self) -> bool {
        #[cfg(feature = "metrics")]
        return self.totals_pinned.load(Ordering::Relaxed);
        #[cfg(not(feature = "metrics"))]
        false
    }

    /// Sets or clears the slow bit, leaving epoch and payload as they are.
    fn set_slow(&self, on: bool) {
        let mut w = self.load();
        loop {
            let low = if on { w.low() | SLOW } else { w.low() & !SLOW };
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

    /// The call totals, if counting is on.
    pub(crate) fn totals(&self) -> Option<crate::observe::metrics::Totals> {
        self.counters.totals()
    }

    /// Nanoseconds until an open circuit lets trial calls through: `Some` only when Open.
    pub(crate) fn until_half_open<F: FnMut() -> u64>(&self, now: &mut Now<F>) -> Option<u64> {
        let w = self.load();
        if w.kind() != OPEN {
            return None;
        }
        Some(self.deadline(w).saturating_sub(now.get()))
    }

    /// The current generation: how many transitions have happened (modulo 2^28).
    #[cfg(protego_loom)]
    pub(crate) fn generation(&self) -> u32 {
        self.load().generation()
    }

    /// Consecutive failures counted in the current closed stretch (0 in other states).
    pub(crate) fn consecutive_failures(&self) -> u32 {
        let w = self.load();
        if w.kind() == CLOSED {
            w.payload()
        } else {
            0
        }
    }
}

#[cfg(all(test, not(protego_loom)))]
mod tests {
    use super::*;

    fn now(t: u64) -> Now<impl FnMut() -> u64> {
        Now::new(move || t)
    }

    fn machine(threshold: u32, timeout_ns: u64, trials: u32) -> Machine {
        let cfg = Config::builder()
            .failure_threshold(threshold)
            .reset_timeout(std::time::Duration::from_nanos(timeout_ns))
            .half_open_retries(trials)
            .build()
            .unwrap();
        Machine::new(cfg, None)
    }

    #[test]
    fn turning_totals_on_keeps_the_epoch_of_calls_in_flight() {
        let m = machine(2, 10, 1);
        let t = m.admit(&mut now(0)).unwrap();
        let totals_on = Config::builder()
            .failure_threshold(2)
            .totals(true)
            .build()
            .unwrap();
        m.reconfigure(totals_on);
        m.record(t, Outcome::Failure, &mut now(0));
        assert_eq!(m.consecutive_failures(), 1, "the failure still counts");
        let t = m.admit(&mut now(0)).unwrap();
        m.record(t, Outcome::Failure, &mut now(0));
        assert_eq!(m.state(&mut now(0)), State::Open);
        let totals = m.totals().unwrap();
        assert_eq!(
            (totals.admitted, totals.failed),
            (1, 2),
            "counted from the switch on"
        );
    }

    #[test]
    fn closed_success_with_no_failures_leaves_the_word_untouched() {
        let m = machine(3, 10, 1);
        let before = m.word.load(Ordering::Relaxed);
        let t = m.admit(&mut now(0)).unwrap();
        m.record(t, Outcome::Success, &mut Now::new(|| panic!("clock read")));
        assert_eq!(m.word.load(Ordering::Relaxed), before);
    }

    #[test]
    fn closed_path_never_reads_the_clock() {
        let m = machine(3, 10, 1);
        let mut no_clock = Now::new(|| -> u64 { panic!("clock read on the closed path") });
        let t = m.admit(&mut no_clock).unwrap();
        m.record(t, Outcome::Failure, &mut no_clock);
        let t = m.admit(&mut no_clock).unwrap();
        m.record(t, Outcome::Success, &mut no_clock);
        assert_eq!(m.consecutive_failures(), 0);
    }

    /// A link that counts `failures_changed` calls.
    struct Counting(Arc<std::sync::atomic::AtomicU32>);

    impl Link for Counting {
        fn transitioned(&self, _: State, _: State, _: Reason) {}
        fn trial_budget(&self) -> Option<u32> {
            None
        }
        fn trial_wanted(&self) {}
        fn trial_finished(&self, _: Outcome) {}
        fn failures_changed(&self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
        fn is_online(&self) -> bool {
            true
        }
    }

    #[test]
    fn the_fleet_hears_of_the_closed_count_only_when_it_changes() {
        let m = machine(3, 10, 1);
        let heard = Arc::new(std::sync::atomic::AtomicU32::new(0));
        assert!(m.set_link(Box::new(Counting(Arc::clone(&heard)))));
        let call = |outcome| {
            let t = m.admit(&mut now(0)).unwrap();
            m.record(t, outcome, &mut now(0));
            heard.load(Ordering::Relaxed)
        };
        assert_eq!(call(Outcome::Success), 0, "a clean success: nothing");
        assert_eq!(call(Outcome::Failure), 1);
        assert_eq!(m.closed_failures(), Some((1, 3)));
        assert_eq!(call(Outcome::Failure), 2);
        assert_eq!(call(Outcome::Success), 3, "the reset");
        assert_eq!(m.closed_failures(), Some((0, 3)));
        assert_eq!(call(Outcome::Success), 3, "clean again: nothing");
        call(Outcome::Failure);
        call(Outcome::Failure);
        assert_eq!(
            call(Outcome::Failure),
            5,
            "the tripping failure is a transition"
        );
        assert_eq!(m.closed_failures(), None, "open");
    }

    #[test]
    fn the_tripping_failure_stamps_the_open_generation() {
        let m = machine(1, 100, 1);
        let t = m.admit(&mut now(7)).unwrap();
        m.record(t, Outcome::Failure, &mut now(7));
        assert_eq!(
            m.admit(&mut now(50)),
            Err(Refusal {
                state: State::Open,
                retry_after: Some(57)
            })
        );
    }
}
