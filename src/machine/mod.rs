//! The state machine: plain synchronous code over one atomic word (see [`word`]), taking the
//! time as an argument.
//!
//! # Who writes what
//! - Lock-free compare-and-swap on the payload, never changing the epoch: counting a failure
//!   below the threshold, resetting the count on a success, taking and giving back a trial,
//!   counting a trial success.
//! - Under the transition lock, compare-and-swap to a new epoch: every transition. The lock
//!   serializes transitions, so exactly one caller wins each one; it is never held across user
//!   code or an `.await`.
//! - Under the transition lock, compare-and-swap of the path bits only (never the epoch or the
//!   payload): `reconfigure`, `keep_totals` and `set_trip_rule`, through `refresh_paths`.
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

//!
//! # Where each part lives
//! | file | owns |
//! | --- | --- |
//! | `word.rs` | the state word's layout and the [`Ticket`](word::Ticket) a call keeps |
//! | `admit.rs` | admission: the closed fast path, the open rejection, half-open trial slots |
//! | `record.rs` | recording an outcome: closed counts, trial successes and failures |
//! | `round.rs` | half-open rounds: hung rounds, verdicts, a fleet's trial budget |
//! | `transition.rs` | the transition lock and every change of epoch, manual ones included |
//! | `open_period.rs` | an open period's deadline, backoff and jitter |
//! | `windowed.rs`, `window/` | failure-rate windows: the machine's use of them, and the windows |
//! | `companion.rs` | the cold-path companion: listeners, trip rule, counts, fleet link, extensions |
//! | `gate.rs` | the admission gate hook (the adaptive throttle attaches through it) |
//! | `shed.rs` | overload shedding: the controller behind `Outcome::Overload` |
//! | `sense.rs` | hearing overload before the first timeout: sampled latencies of closed calls |
//! | `reconfigure.rs` | new knobs in place, and the path bits derived from them |
//! | `mirror.rs`, `tally.rs` | the knobs mirrored for lock-free reads; per-generation tallies |
//! | `link.rs` | the [`Link`](link::Link) a fleet attaches through |
//! | `state.rs`, `outcome.rs`, `reason.rs` | the public [`State`](state::State), [`Outcome`](outcome::Outcome) and [`Reason`](reason::Reason) |

use std::sync::{Arc, OnceLock};

pub(crate) mod admit;
pub(crate) mod companion;
pub(crate) mod gate;
pub(crate) mod link;
pub(crate) mod mirror;
pub(crate) mod open_period;
pub(crate) mod outcome;
pub(crate) mod reason;
pub(crate) mod reconfigure;
pub(crate) mod record;
pub(crate) mod round;
pub(crate) mod sense;
pub(crate) mod shed;
pub(crate) mod state;
pub(crate) mod tally;
#[cfg(all(test, not(protego_loom)))]
mod tests;
pub(crate) mod transition;
pub(crate) mod window;
pub(crate) mod windowed;
pub(crate) mod word;

use arc_swap::ArcSwapOption;

use crate::config::Config;
use crate::machine::companion::Companion;
use crate::machine::link::Link;
use crate::machine::mirror::Mirror;
use crate::machine::open_period::seed_of;
use crate::machine::reason::Reason;
use crate::machine::state::State;
use crate::machine::window::WindowStore;
use crate::machine::word::{counts_toward_trip, kind_of, state_of, Word, CLOSED, HALF_OPEN, OPEN};
use crate::name::Name;
use crate::observe::metrics::Counters;
use crate::sync::{lock, AtomicBool, AtomicU32, AtomicU64, Mutex, Ordering};

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

    /// A reader whose time was already read at `nanos`, if `Some`.
    pub(crate) fn read_at(read: F, nanos: Option<u64>) -> Self {
        Now { read, nanos }
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
    knobs: Mirror,
    /// The transition lock, guarding the authoritative config. Held to commit a transition
    /// or a new config; never across user code or an `.await`. Boxed: read only by `config()`
    /// and the lock's users, so it stays off the cache lines the hot fields share.
    transition_lock: Mutex<Box<Config>>,
    /// The name, as rejections and transitions carry it.
    name: Name,
    /// The cold-path companion, made by the first thing that needs it (a listener, a trip rule,
    /// an extension, a fleet link, a half-open round decided by rate); a breaker that needs
    /// none of them carries one empty pointer.
    companion: OnceLock<Box<Companion>>,
    /// Call totals, counted while the word's count bit is set: inline on the closed path,
    /// else on the out-of-line paths.
    counters: Counters,
    /// The failure-rate window the breaker was made with. Never freed before the breaker, so calls
    /// read it with a plain load, where a load of `window` (an `ArcSwap`) costs ~6 ns of
    /// read-modify-writes on a thread-local slot per call.
    first: Option<Box<WindowStore>>,
    /// The current window once `reconfigure` has changed the rules of the first one: swapped
    /// whole, so a call sees one set of rules; loaded without a lock.
    window: ArcSwapOption<WindowStore>,
    /// Whether `window` rather than `first` holds the current window. Never goes back.
    swapped: AtomicBool,
    /// Whether there is a window: a plain load, so paths without one skip looking.
    windowed: AtomicBool,
    /// Call totals kept on whatever the config says: a metrics export publishes them. Written
    /// under the transition lock.
    totals_kept: AtomicBool,
    /// Whether the window times slow calls: a plain load, so admissions need not load the
    /// window (an `ArcSwap` load costs a few read-modify-writes of a thread-local slot).
    timed: AtomicBool,
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
            knobs: Mirror::new(&config),
            transition_lock: Mutex::new(Box::new(config)),
            name: Name::new(name),
            companion: OnceLock::new(),
            counters: Counters::new(totals),
            first: rules.map(|rules| Box::new(WindowStore::new(rules))),
            window: ArcSwapOption::empty(),
            swapped: AtomicBool::new(false),
            windowed: AtomicBool::new(rules.is_some()),
            totals_kept: AtomicBool::new(false),
            timed: AtomicBool::new(rules.is_some_and(|rules| rules.slow_nanos > 0)),
        }
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

    /// Whether the fleet's store is reachable: `None` when the breaker shares nothing.
    pub(crate) fn fleet_online(&self) -> Option<bool> {
        self.link().map(Link::is_online)
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
        self.counted_failures().map_or(0, |(_, failures)| failures)
    }

    /// The consecutive-failure count and the state that keeps it (Closed or metrics-only),
    /// from one read of the word; `None` in the states that count nothing. Moves nothing:
    /// unlike [`state`](Machine::state), an open circuit stays open.
    pub(crate) fn counted_failures(&self) -> Option<(State, u32)> {
        let w = self.load();
        counts_toward_trip(w.kind()).then(|| (state_of(w.kind()), w.payload()))
    }
}
