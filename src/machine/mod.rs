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
//! With call totals on (and no window or trip rule) it also counts the admission and the success
//! inline, each with a plain load and store on a cache line the calling thread owns (see
//! `Counters`; a thread that owns none shares its group's line, with a read-modify-write).
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
pub(crate) mod tally;
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
use crate::machine::tally::Tally;
use crate::machine::window::{Counts, Mark, Sums, Trip};
use crate::machine::word::{
    counts_toward_trip, kind_of, state_of, Ticket, Word, CLOSED, COUNT, COUNTED_MASK, DISABLED,
    EXPLICIT_DEADLINE, FAST_MASK, FORCED_OPEN, HALF_OPEN, METRICS_ONLY, NOT_TIMED, OPEN, PATHS,
    SLOW,
};
use crate::name::Name;
use crate::observe::events::{shown, Events, Reason};
use crate::observe::metrics::{Counters, Counts as CallCounts, WindowCounts};
use crate::sync::{lock, AtomicBool, AtomicU32, AtomicU64, Mutex, Ordering};

/// A manual state change: see [`Machine::manual`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Manual {
    ForceOpen,
    Disable,
    Reset,
    HalfOpen,
    MetricsOnly,
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

    pub(crate) fn get(&mut self) -> u64 {
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
    /// The name, as rejections and transitions carry it.
    name: Name,
    /// Made when the first listener is registered; a breaker without listeners queues nothing.
    events: OnceLock<Box<Events>>,
    /// Call totals, counted while the word's count bit is set: inline on the closed path,
    /// else on the out-of-line paths.
    counters: Counters,
    /// The failure-rate window the breaker was made with. Never freed before the breaker, so calls
    /// read it with a plain load, where a load of `window` (an `ArcSwap`) costs ~6 ns of
    /// read-modify-writes on a thread-local slot per call.
    first: Option<Box<Counts>>,
    /// The current window once `reconfigure` has changed the rules of the first one: swapped
    /// whole, so a call sees one set of rules; loaded without a lock.
    window: ArcSwapOption<Counts>,
    /// Whether `window` rather than `first` holds the current window. Never goes back.
    swapped: AtomicBool,
    /// Whether there is a window: a plain load, so paths without one skip looking.
    windowed: AtomicBool,
    /// Call totals kept on whatever the config says: a metrics export publishes them. Written
    /// under the transition lock.
    #[cfg(feature = "metrics")]
    totals_pinned: AtomicBool,
    /// Whether the window times slow calls: a plain load, so admissions need not load the
    /// window (an `ArcSwap` load costs a few read-modify-writes of a thread-local slot).
    timed: AtomicBool,
}

/// A custom trip rule: see [`Breaker::set_trip_rule`](crate::Breaker::set_trip_rule).
pub(crate) type TripRule = dyn Fn(&CallCounts, Option<&WindowCounts>) -> bool + Send + Sync;

/// What a breaker keeps only when asked to: in the box made on first use that holds its
/// listeners (see [`Machine::extras`]), so that other breakers carry nothing for it.
pub(crate) struct Extras {
    /// The current half-open round's failed and slow trials, when rounds are decided by rate.
    round_failures: Tally,
    round_slow: Tally,
    /// Whether the counts since the last transition below are kept (while a trip rule is set).
    counting: AtomicBool,
    requests: Tally,
    successes: Tally,
    failures: Tally,
    consecutive_successes: Tally,
    consecutive_failures: Tally,
    /// The trip rule, if one is set. Written under the transition lock.
    rule: ArcSwapOption<Box<TripRule>>,
    /// Whether `rule` holds one: a plain load for paths that have none.
    ruled: AtomicBool,
}

impl Extras {
    pub(crate) fn new() -> Self {
        Extras {
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
    fn counts(&self, gen: u32) -> CallCounts {
        CallCounts {
            requests: self.requests.get(gen),
            successes: self.successes.get(gen),
            failures: self.failures.get(gen),
            consecutive_successes: self.consecutive_successes.get(gen),
            consecutive_failures: self.consecutive_failures.get(gen),
        }
    }

    /// Counts a finished call of generation `gen`.
    fn finished(&self, gen: u32, outcome: Outcome) {
        let (this, streak, other) = match outcome {
            Outcome::Success => (
                &self.successes,
                &self.consecutive_successes,
                &self.consecutive_failures,
            ),
            Outcome::Failure => (
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
    /// A machine in the config's initial state; an initial open period starts at `created`
    /// (ns).
    pub(crate) fn new(config: Config, name: Option<&Arc<str>>, created: u64) -> Self {
        let totals = config.totals();
        let rules = config.rules();
        let kind = kind_of(config.initial_state());
        let paths = Self::paths(rules.is_some(), totals);
        Machine {
            word: AtomicU64::new(kind | u64::from(paths)),
            since: [AtomicU64::new(created), AtomicU64::new(0)],
            open_info: [AtomicU64::new(0), AtomicU64::new(0)],
            reopens: AtomicU32::new(0),
            rng: AtomicU64::new(seed_of(&config)),
            knobs: Knobs::new(&config),
            transition_lock: Mutex::new(Box::new(config)),
            name: Name::new(name),
            events: OnceLock::new(),
            counters: Counters::new(totals),
            first: rules.map(|rules| Box::new(Counts::new(rules))),
            window: ArcSwapOption::empty(),
            swapped: AtomicBool::new(false),
            windowed: AtomicBool::new(rules.is_some()),
            #[cfg(feature = "metrics")]
            totals_pinned: AtomicBool::new(false),
            timed: AtomicBool::new(rules.is_some_and(|rules| rules.slow_nanos > 0)),
        }
    }

    /// The extra counts, made on first use (off the closed path: only by breakers that keep
    /// them).
    fn extras(&self) -> &Extras {
        &self.events().extras
    }

    /// The extra counts, if made.
    #[inline]
    fn extras_if_any(&self) -> Option<&Extras> {
        self.events.get().map(|events| &events.extras)
    }

    /// The extras, if they count calls since the last transition.
    #[inline]
    fn counting(&self) -> Option<&Extras> {
        self.extras_if_any()
            .filter(|extras| extras.counting.load(Ordering::Relaxed))
    }

    /// Sets or clears the trip rule.
    pub(crate) fn set_trip_rule(&self, rule: Option<Box<TripRule>>) {
        let config = lock(&self.transition_lock);
        let extras = self.extras();
        let ruled = rule.is_some();
        // Counting starts before the slow bit sends calls to the rule, and stops after.
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
    fn ask_rule(&self, gen: u32, window: Option<WindowCounts>) -> Option<bool> {
        let extras = self.extras_if_any()?;
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
    fn has_rule(&self) -> bool {
        self.extras_if_any()
            .is_some_and(|x| x.ruled.load(Ordering::Relaxed))
    }

    /// A closed (or metrics-only) failure with a trip rule and no window: counted in `w`
    /// first, so the rule sees it, then the rule decides. `Err(current word)` if the word
    /// moved before the count landed.
    fn failure_by_rule<F: FnMut() -> u64>(
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

    /// The window's own numbers, if there is a window.
    pub(crate) fn window_counts<F: FnMut() -> u64>(
        &self,
        now: &mut Now<F>,
    ) -> Option<WindowCounts> {
        let w = self.load();
        self.with_window(|window| {
            let minimum = window.rules.minimum_calls;
            if !counts_toward_trip(w.kind()) {
                return WindowCounts::new(0, 0, 0, 0, minimum);
            }
            let t = if window.needs_time() { now.get() } else { 0 };
            let sums = window.sums(w.generation(), t);
            let slow_failed = window.slow_failed(w.generation(), t);
            WindowCounts::new(sums.calls, sums.failures, sums.slow, slow_failed, minimum)
        })
    }

    pub(crate) fn name(&self) -> Option<&str> {
        self.name.as_str()
    }

    pub(crate) fn set_name(&mut self, name: &Arc<str>) {
        self.name = Name::new(Some(name));
    }

    /// The name as a rejection carries it.
    #[inline]
    pub(crate) fn carried_name(&self) -> &Name {
        &self.name
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

    /// Whether the half-open round `w` went undecided for a whole `max_half_open_duration`
    /// (by default `reset_timeout`) by `t`: then it is replaced by a fresh round, and its
    /// trials' outcomes no longer count. (A round that began at `t` is never hung, even when
    /// time saturates.)
    fn hung(&self, w: Word, t: u64) -> bool {
        let since = self.since(w);
        t >= since.saturating_add(self.knobs.max_half_open.load(Ordering::Relaxed)) && t > since
    }

    /// How a half-open round of generation `gen` with `finished` trials decided ends: the
    /// state it goes to, and why. Without the rate rule every trial must have succeeded (a
    /// failure counted while the rule was on still reopens).
    fn round_verdict(&self, gen: u32, finished: u32) -> (u64, Reason) {
        let extras = self.extras_if_any();
        let failures = extras.map_or(0, |x| x.round_failures.get(gen));
        let rule = self.knobs.half_open();
        if !rule.by_rate() {
            return if failures == 0 {
                (CLOSED, Reason::TrialsSucceeded)
            } else {
                (OPEN, Reason::TrialFailed)
            };
        }
        let n = u64::from(finished.max(1));
        let (failure_rate, slow_rate) = (rule.failure_rate(), rule.slow_rate());
        if failures * 100 >= failure_rate * n {
            return (OPEN, Reason::FailureRate);
        }
        // Without slow-call tracking no trial is ever slow, so this cannot fire.
        if extras.map_or(0, |x| x.round_slow.get(gen)) * 100 >= slow_rate * n {
            return (OPEN, Reason::SlowCallRate);
        }
        (CLOSED, Reason::TrialsSucceeded)
    }

    /// Whether half-open rounds are decided by rate here (a fleet decides by its own rule).
    fn rounds_by_rate(&self) -> bool {
        self.knobs.half_open().by_rate() && self.shared_budget().is_none()
    }

    /// By rate, every trial runs to an outcome and the last one decides the round. A trial's
    /// failed and slow marks are counted before the word says it finished, so whoever sees
    /// the round finished sees them.
    #[cold]
    fn count_in_round(&self, w: Word, outcome: Outcome, slow: bool) {
        if outcome == Outcome::Failure {
            self.extras().round_failures.bump(w.generation());
        }
        if slow {
            self.extras().round_slow.bump(w.generation());
        }
    }

    /// Where a trip takes a circuit of `kind`: Closed opens; metrics-only only reports it, as a
    /// fresh metrics-only generation (counts start over as after a real trip).
    fn trip_to(kind: u64) -> u64 {
        if kind == METRICS_ONLY {
            METRICS_ONLY
        } else {
            OPEN
        }
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
        let timed = !matches!(to, CLOSED | METRICS_ONLY);
        let stamp = if timed { now.get() } else { 0 };
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
                if timed {
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
                        if matches!(to, CLOSED | DISABLED | METRICS_ONLY) || reason == Reason::Reset
                        {
                            self.reopens.store(0, Ordering::Relaxed);
                        }
                        let (from, to) = (state_of(current.kind()), state_of(to));
                        if let Some(events) = self.events.get() {
                            events.push(&self.name, from, to, reason);
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
        if shown(from, to) {
            tracing::info!(
                target: "protego_breaker",
                breaker = self.name.as_str().unwrap_or(""),
                %from,
                %to,
                %reason,
                "circuit state changed"
            );
        }
        if let Some(events) = self.events.get() {
            if shown(from, to) {
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
        let kind = kind_of(to);
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
        self.knobs.half_open().trials()
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
            Manual::HalfOpen => (HALF_OPEN, Reason::HalfOpenedByHand),
            Manual::MetricsOnly => (METRICS_ONLY, Reason::MetricsOnly),
        };
        let mut replaced = None;
        let _ = self.commit(now, to, reason, |current| {
            let go = change == Manual::Reset || current.kind() != to;
            replaced = go.then(|| state_of(current.kind()));
            go
        });
        replaced
    }

    /// Opens the circuit by hand until `deadline` (ns on this breaker's clock), from any state;
    /// then it goes half-open as usual. Returns the state it replaced.
    pub(crate) fn open_until<F: FnMut() -> u64>(&self, deadline: u64, now: &mut Now<F>) -> State {
        let mut replaced = State::Open;
        let _ = self.commit_until(
            now,
            OPEN,
            Reason::OpenedByHand,
            Some(deadline),
            &mut |current| {
                replaced = state_of(current.kind());
                true
            },
        );
        replaced
    }

    /// Admits a call, or says why not. Reads the clock only when the circuit is not closed.
    // Always: the counting path makes the body too big for the inliner, and a call here costs
    // the default closed path ~4 ns (4.7 -> 8.6 ns measured).
    #[allow(clippy::inline_always)]
    #[inline(always)]
    pub(crate) fn admit<F: FnMut() -> u64>(&self, now: &mut Now<F>) -> Result<Ticket, Refusal> {
        // The closed path, inlined into the caller: one load, no write.
        let w = self.load();
        if w.low() & FAST_MASK == 0 {
            return Ok(Ticket::new(w.low()));
        }
        // Closed with totals (and no window or rule): counted inline, on this thread's stripe.
        if w.low() & COUNTED_MASK == 0 {
            self.counters.admitted();
            return Ok(Ticket::new(w.epoch()));
        }
        // Open with no window or rule: the rejection path, decided in a small function of its
        // own that answers in registers.
        if u64::from(w.low() & COUNTED_MASK) == OPEN {
            if let Some(left) = self.open_left(w, now) {
                return Err(Refusal {
                    state: State::Open,
                    retry_after: Some(left),
                });
            }
        }
        self.admit_slow(w, now)
    }

    /// For an open word: the time left of its open period, counting the rejection if totals
    /// are on; `None` once the period is over (`admit_slow` then moves to half-open).
    #[inline(never)]
    fn open_left<F: FnMut() -> u64>(&self, w: Word, now: &mut Now<F>) -> Option<u64> {
        let t = now.get();
        let deadline = self.deadline(w);
        if t >= deadline {
            return None;
        }
        if w.low() & COUNT != 0 {
            self.counters.rejected();
        }
        Some(deadline - t)
    }

    #[inline(never)]
    fn admit_slow<F: FnMut() -> u64>(&self, w: Word, now: &mut Now<F>) -> Result<Ticket, Refusal> {
        let mut admitted = self.decide(w, now);
        if w.low() & PATHS == 0 {
            return admitted; // no totals, no window: nothing more to do
        }
        if let Ok(ticket) = &mut admitted {
            self.counters.admitted();
            let admitted_in = Word(u64::from(ticket.epoch));
            if let Some(extras) = self.counting() {
                if admitted_in.kind() != DISABLED {
                    extras.requests.bump(admitted_in.generation());
                }
            }
            if self.timed.load(Ordering::Relaxed) {
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
                CLOSED | DISABLED | METRICS_ONLY => return Ok(Ticket::new(w.epoch())),
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
                    let mut slots = self.knobs.half_open().trials();
                    let shared = self.shared_budget();
                    if let Some(budget) = shared {
                        // The fleet decides the round: admit only what its leases allow.
                        slots = slots.min(budget);
                    } else if w.successes() >= slots {
                        // Enough trials decided for the current config (it may have shrunk).
                        let (to, reason) = self.round_verdict(w.generation(), w.successes());
                        w = self.transition(w, to, now, reason, |c| c.successes() >= slots);
                        continue;
                    }
                    if w.in_flight() + w.successes() >= slots {
                        if shared.is_some_and(|budget| budget < self.knobs.half_open().trials()) {
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
    // Always: as `admit`.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    pub(crate) fn record<F: FnMut() -> u64>(
        &self,
        ticket: Ticket,
        outcome: Outcome,
        now: &mut Now<F>,
    ) {
        // The closed success path with nothing to reset, inlined into the caller: one load, no
        // write. (A ticket's epoch with a zero payload and no slow or count bit is exactly this
        // closed stretch, clean.)
        let w = self.load();
        if outcome == Outcome::Success && w.kind() == CLOSED {
            if w.0 == u64::from(ticket.epoch) {
                return;
            }
            // The same with totals (and no window or rule): counted inline.
            if w.0 == u64::from(ticket.epoch | COUNT) {
                self.counters.finished(Outcome::Success);
                return;
            }
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
        let mut slow = false;
        if w.low() & PATHS != 0 {
            match self.record_counted(w, ticket, outcome, now) {
                Some(is_slow) => slow = is_slow,
                None => return,
            }
        }
        let mut told_fleet = false;
        let mut counted_in_round = false;
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
                (CLOSED | METRICS_ONLY, Outcome::Success) => {
                    if w.payload() == 0 {
                        return;
                    }
                    w.with_payload(0)
                }
                (CLOSED | METRICS_ONLY, Outcome::Failure) => {
                    let failures = w.payload().saturating_add(1);
                    // A trip rule sets the slow bit: without it this is one test of a register.
                    if w.low() & SLOW != 0 && self.has_rule() {
                        match self.failure_by_rule(w, failures, now) {
                            Ok(()) => return,
                            Err(actual) => {
                                w = actual;
                                continue;
                            }
                        }
                    }
                    let threshold = self.knobs.failure_threshold.load(Ordering::Relaxed);
                    if failures >= threshold {
                        let to = Self::trip_to(w.kind());
                        w = self.transition(w, to, now, Reason::FailureThreshold, |c| {
                            c.payload().saturating_add(1) >= threshold
                        });
                        continue;
                    }
                    w.with_payload(failures)
                }
                (HALF_OPEN, Outcome::Success | Outcome::Failure) if self.rounds_by_rate() => {
                    if !counted_in_round {
                        counted_in_round = true;
                        self.count_in_round(w, outcome, slow);
                    }
                    let finished = w.successes() + 1;
                    let slots = self.knobs.half_open().trials();
                    if finished >= slots {
                        let (to, reason) = self.round_verdict(w.generation(), finished);
                        w = self.transition(w, to, now, reason, |c| c.successes() + 1 >= slots);
                        continue;
                    }
                    w.with_trials(w.in_flight().saturating_sub(1), finished)
                }
                (HALF_OPEN, Outcome::Success) => {
                    let successes = w.successes() + 1;
                    let slots = self.knobs.half_open().trials();
                    // Shared: the fleet closes the round when enough trials succeeded anywhere.
                    if successes >= slots && self.shared_budget().is_none() {
                        let (to, reason) = self.round_verdict(w.generation(), successes);
                        w = self.transition(w, to, now, reason, |c| c.successes() + 1 >= slots);
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
    /// circuit is closed (or metrics-only). Returns `None` if the window took it, otherwise
    /// whether the call was slow. Out of line, so that the default failure path stays small.
    #[inline(never)]
    fn record_counted<F: FnMut() -> u64>(
        &self,
        w: Word,
        ticket: Ticket,
        outcome: Outcome,
        now: &mut Now<F>,
    ) -> Option<bool> {
        self.counters.finished(outcome);
        let admitted_in = Word(u64::from(ticket.epoch));
        if let Some(extras) = self.counting() {
            if admitted_in.kind() != DISABLED {
                extras.finished(admitted_in.generation(), outcome);
            }
        }
        self.with_window(|window| self.record_counted_in(w, window, ticket, outcome, now))
            .unwrap_or(Some(false))
    }

    /// `f` of the current window, if there is one.
    #[inline]
    fn with_window<R>(&self, f: impl FnOnce(&Counts) -> R) -> Option<R> {
        if !self.windowed.load(Ordering::Relaxed) {
            return None;
        }
        if self.swapped.load(Ordering::Acquire) {
            return self.window.load().as_deref().map(f);
        }
        self.first.as_deref().map(f)
    }

    /// [`record_counted`](Machine::record_counted)'s part with a window.
    fn record_counted_in<F: FnMut() -> u64>(
        &self,
        w: Word,
        window: &Counts,
        ticket: Ticket,
        outcome: Outcome,
        now: &mut Now<F>,
    ) -> Option<bool> {
        let rules = window.rules;
        let slow = rules.slow_nanos > 0
            && ticket.started != NOT_TIMED
            && now.get().saturating_sub(ticket.started) >= rules.slow_nanos;
        if slow {
            self.counters.slow();
        }
        if !counts_toward_trip(w.kind()) || outcome == Outcome::Ignored {
            return Some(slow);
        }
        self.record_in_window(w, window, ticket, outcome, slow, now);
        None
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
        let gen = w.generation();
        let Some(sums) = window.record(gen, t, Mark { failed, slow }) else {
            return; // this generation's window is gone
        };
        let reason = if self.has_rule() {
            // The rule decides, and only on a failed or slow outcome.
            let counts = WindowCounts::new(
                sums.calls,
                sums.failures,
                sums.slow,
                window.slow_failed(gen, t),
                window.rules.minimum_calls,
            );
            let trips = (failed || slow) && self.ask_rule(gen, Some(counts)) == Some(true);
            trips.then_some(Reason::TripRule)
        } else {
            sums.verdict(&window.rules).map(|trip| match trip {
                Trip::FailureRate => Reason::FailureRate,
                Trip::SlowCallRate => Reason::SlowCallRate,
            })
        };
        if let Some(reason) = reason {
            self.transition(w, Self::trip_to(w.kind()), now, reason, |_| true);
        }
    }

    /// The failure and slow-call rates (percent) of the current window, if there is a window
    /// and it holds any outcome.
    pub(crate) fn window_rates<F: FnMut() -> u64>(&self, now: &mut Now<F>) -> Option<(f64, f64)> {
        let w = self.load();
        let sums = self.with_window(|window| {
            let t = if window.needs_time() { now.get() } else { 0 };
            if counts_toward_trip(w.kind()) {
                window.sums(w.generation(), t)
            } else {
                Sums::default()
            }
        })?;
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
        let held = self.with_window(|window| window.rules);
        if rules != held {
            self.window
                .store(rules.map(|rules| Arc::new(Counts::new(rules))));
            self.swapped.store(true, Ordering::Release);
            self.windowed.store(rules.is_some(), Ordering::Relaxed);
            self.timed.store(
                rules.is_some_and(|rules| rules.slow_nanos > 0),
                Ordering::Relaxed,
            );
        }
        // Counting starts before the slow bit sends calls to be counted, and stops after.
        let totals = config.totals() || self.totals_pinned();
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

    /// Turns call totals on for good, whatever the config says now or later: a metrics export
    /// publishes them (feature `metrics`). The hook the export needs in the core.
    #[cfg(feature = "metrics")]
    pub(crate) fn pin_totals(&self) {
        let config = lock(&self.transition_lock);
        self.totals_pinned.store(true, Ordering::Relaxed);
        self.counters.set_on(true);
        self.refresh_paths(&config);
    }

    #[inline]
    #[cfg_attr(not(feature = "metrics"), allow(clippy::unused_self))]
    fn totals_pinned(&self) -> bool {
        #[cfg(feature = "metrics")]
        return self.totals_pinned.load(Ordering::Relaxed);
        #[cfg(not(feature = "metrics"))]
        false
    }

    /// The word's slow and count bits: `slow` with a window or a trip rule, `count` with totals.
    fn paths(slow: bool, count: bool) -> u32 {
        (if slow { SLOW } else { 0 }) | if count { COUNT } else { 0 }
    }

    /// Sets the slow and count bits for `config` and what the breaker holds beyond it (a trip
    /// rule, a metrics export), leaving epoch and payload as they are. Called under the
    /// transition lock, after whatever they depend on is stored.
    fn refresh_paths(&self, config: &Config) {
        let paths = Self::paths(
            config.rules().is_some() || self.has_rule(),
            config.totals() || self.totals_pinned(),
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

    /// The current generation: how many transitions have happened (modulo 2^27).
    #[cfg(protego_loom)]
    pub(crate) fn generation(&self) -> u32 {
        self.load().generation()
    }

    /// Consecutive failures counted in the current closed stretch (0 in other states).
    pub(crate) fn consecutive_failures(&self) -> u32 {
        let w = self.load();
        if counts_toward_trip(w.kind()) {
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
        Machine::new(cfg, None, 0)
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
