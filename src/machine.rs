//! The state machine: plain synchronous code over one atomic word, taking the time as an argument.
//!
//! # Layout
//! Everything a call needs to be admitted or to record its outcome lives in one `AtomicU64`:
//!
//! ```text
//!  63                              32 31                 3 2      0
//! +----------------------------------+--------------------+--------+
//! |             payload              |     generation     |  kind  |
//! +----------------------------------+--------------------+--------+
//! kind 0 Closed    payload = consecutive failures
//! kind 1 Open      payload = 0
//! kind 2 HalfOpen  payload = successes << 16 | trials in flight
//! ```
//!
//! The low 32 bits (kind and generation) are the *epoch*. Every transition takes a fresh
//! generation, so an epoch names one stretch of one state; a call keeps the epoch that admitted it
//! (its [`Ticket`]) and its outcome counts only while the word still carries that epoch. The
//! generation is 29 bits wide: an outcome would have to arrive exactly 2^29 transitions late to be
//! mistaken for a current one.
//!
//! # Who writes what
//! - Lock-free compare-and-swap on the payload, never changing the epoch: counting a failure
//!   below the threshold, resetting the count on a success, taking and returning a trial slot,
//!   counting a trial success.
//! - Under `lock`, compare-and-swap to a new epoch: every transition, and `reconfigure`. The lock
//!   serializes transitions, so exactly one caller wins each one; it is never held across user
//!   code or an `.await`.
//!
//! The closed-state success path is one load, plus one compare-and-swap only when there are
//! failures to reset. It takes no lock, reads no clock and writes nothing when nothing changes.
//!
//! # Start times
//! A transition stamps when its new generation began in `since[gen & 1]` *before* publishing the
//! word (release), so a reader that sees a generation (acquire) sees its start. The two slots
//! alternate: writing the start of generation `g + 1` never touches the slot that readers of `g`
//! use. A reader delayed across two transitions may read a newer start; it only ever acts through
//! a compare-and-swap on the word it read, which then fails, so a stale read changes nothing.

use crate::config::Config;
use crate::state::State;
use crate::sync::{lock, AtomicU32, AtomicU64, Mutex, Ordering};

const KIND_MASK: u64 = 0b111;
const CLOSED: u64 = 0;
const OPEN: u64 = 1;
const HALF_OPEN: u64 = 2;
const GEN_SHIFT: u32 = 3;
const GEN_MASK: u32 = u32::MAX >> GEN_SHIFT;
const PAYLOAD_SHIFT: u32 = 32;
const SLOT_MASK: u32 = 0xFFFF;
const SUCCESS_SHIFT: u32 = 16;

/// One value of the state word.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Word(u64);

impl Word {
    #[inline]
    fn kind(self) -> u64 {
        self.0 & KIND_MASK
    }

    /// Kind and generation: which stretch of which state this is.
    #[inline]
    fn epoch(self) -> u32 {
        // Truncation intended: the epoch is the low half of the word.
        #[allow(clippy::cast_possible_truncation)]
        let epoch = self.0 as u32;
        epoch
    }

    #[inline]
    fn generation(self) -> u32 {
        self.epoch() >> GEN_SHIFT
    }

    #[inline]
    fn payload(self) -> u32 {
        // Truncation cannot happen: the high half of a u64 fits a u32.
        #[allow(clippy::cast_possible_truncation)]
        let payload = (self.0 >> PAYLOAD_SHIFT) as u32;
        payload
    }

    #[inline]
    fn with_payload(self, payload: u32) -> Word {
        Word(u64::from(self.epoch()) | (u64::from(payload) << PAYLOAD_SHIFT))
    }

    /// The first word of the next generation, in state `kind`, with an empty payload.
    fn next(self, kind: u64) -> Word {
        let generation = self.generation().wrapping_add(1) & GEN_MASK;
        Word((u64::from(generation) << GEN_SHIFT) | kind)
    }

    #[inline]
    fn in_flight(self) -> u32 {
        self.payload() & SLOT_MASK
    }

    #[inline]
    fn successes(self) -> u32 {
        self.payload() >> SUCCESS_SHIFT
    }

    #[inline]
    fn with_trials(self, in_flight: u32, successes: u32) -> Word {
        self.with_payload(in_flight | (successes << SUCCESS_SHIFT))
    }

    #[inline]
    fn since_slot(self) -> usize {
        (self.generation() & 1) as usize
    }
}

/// The epoch that admitted a call. Its outcome counts only while that epoch is current.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ticket(u32);

/// What a finished call reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The call returned `Ok`.
    Success,
    /// The call returned `Err` or panicked.
    Failure,
    /// The call counts as neither: it was dropped before it finished.
    Ignored,
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
    /// Mirrors of the knobs, each read on its own by the decision that needs it.
    failure_threshold: AtomicU32,
    half_open_retries: AtomicU32,
    reset_timeout: AtomicU64,
    /// The authoritative config. Its lock is also the transition lock.
    config: Mutex<Config>,
}

impl Machine {
    pub(crate) fn new(config: Config) -> Self {
        Machine {
            word: AtomicU64::new(CLOSED),
            since: [AtomicU64::new(0), AtomicU64::new(0)],
            failure_threshold: AtomicU32::new(config.failure_threshold()),
            half_open_retries: AtomicU32::new(config.half_open_retries()),
            reset_timeout: AtomicU64::new(config.reset_timeout_nanos()),
            config: Mutex::new(config),
        }
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

    fn since(&self, w: Word) -> u64 {
        self.since[w.since_slot()].load(Ordering::Acquire)
    }

    /// The instant (ns) at which an epoch that began at `since` times out.
    fn deadline(&self, w: Word) -> u64 {
        self.since(w)
            .saturating_add(self.reset_timeout.load(Ordering::Relaxed))
    }

    /// Moves from `from`'s epoch to a fresh generation of `to`, if the word still carries that
    /// epoch and `ready` holds for its current payload. Returns the word as it is afterwards:
    /// the new one if this call made the transition, otherwise whatever is current.
    fn transition<F: FnMut() -> u64>(
        &self,
        from: Word,
        to: u64,
        now: &mut Now<F>,
        ready: impl Fn(Word) -> bool,
    ) -> Word {
        // Read the clock (which may be user code) before taking the lock: no user code ever
        // runs under a lock of the breaker. Closed needs no start time.
        let stamp = if to == CLOSED { 0 } else { now.get() };
        let _guard = lock(&self.config);
        let mut current = self.load();
        loop {
            // Epochs only change under the lock we hold, so a changed epoch means someone else
            // made this transition before we got the lock.
            if current.epoch() != from.epoch() || !ready(current) {
                return current;
            }
            let next = current.next(to);
            if to != CLOSED {
                self.since[next.since_slot()].store(stamp, Ordering::Release);
            }
            // The payload may still move under us (lock-free counting); retry on the new value.
            match self.try_swap(current, next) {
                Ok(()) => return next,
                Err(actual) => current = actual,
            }
        }
    }

    /// Admits a call, or says why not. Reads the clock only when the circuit is not closed.
    #[inline]
    pub(crate) fn admit<F: FnMut() -> u64>(&self, now: &mut Now<F>) -> Result<Ticket, Refusal> {
        // The closed path, inlined into the caller: one load, no write.
        let w = self.load();
        if w.kind() == CLOSED {
            return Ok(Ticket(w.epoch()));
        }
        self.admit_slow(w, now)
    }

    #[inline(never)]
    fn admit_slow<F: FnMut() -> u64>(
        &self,
        mut w: Word,
        now: &mut Now<F>,
    ) -> Result<Ticket, Refusal> {
        loop {
            match w.kind() {
                CLOSED => return Ok(Ticket(w.epoch())),
                OPEN => {
                    let t = now.get();
                    let deadline = self.deadline(w);
                    if t < deadline {
                        return Err(Refusal {
                            state: State::Open,
                            retry_after: Some(deadline - t),
                        });
                    }
                    w = self.transition(w, HALF_OPEN, now, |_| true);
                }
                _ => {
                    let t = now.get();
                    if t >= self.deadline(w) && t > self.since(w) {
                        // The round went undecided for a whole reset_timeout: replace it. (A
                        // round that began at `t` is never hung, even when time saturates.)
                        w = self.transition(w, HALF_OPEN, now, |_| true);
                        continue;
                    }
                    let slots = self.half_open_retries.load(Ordering::Relaxed);
                    if w.successes() >= slots {
                        // Enough trials succeeded for the current config (it may have shrunk).
                        w = self.transition(w, CLOSED, now, |c| c.successes() >= slots);
                        continue;
                    }
                    if w.in_flight() + w.successes() >= slots {
                        return Err(Refusal {
                            state: State::HalfOpen,
                            retry_after: None,
                        });
                    }
                    match self.try_swap(w, w.with_trials(w.in_flight() + 1, w.successes())) {
                        Ok(()) => return Ok(Ticket(w.epoch())),
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
        // write. (An epoch with a zero payload is exactly this closed stretch, clean.)
        let w = self.load();
        if outcome == Outcome::Success && w.0 == u64::from(ticket.0) && w.kind() == CLOSED {
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
        loop {
            if w.epoch() != ticket.0 {
                return;
            }
            let next = match (w.kind(), outcome) {
                (CLOSED, Outcome::Success) => {
                    if w.payload() == 0 {
                        return;
                    }
                    w.with_payload(0)
                }
                (CLOSED, Outcome::Failure) => {
                    let threshold = self.failure_threshold.load(Ordering::Relaxed);
                    let failures = w.payload().saturating_add(1);
                    if failures >= threshold {
                        w = self.transition(w, OPEN, now, |c| {
                            c.payload().saturating_add(1) >= threshold
                        });
                        continue;
                    }
                    w.with_payload(failures)
                }
                (HALF_OPEN, Outcome::Success) => {
                    let successes = w.successes() + 1;
                    let slots = self.half_open_retries.load(Ordering::Relaxed);
                    if successes >= slots {
                        w = self.transition(w, CLOSED, now, |c| c.successes() + 1 >= slots);
                        continue;
                    }
                    w.with_trials(w.in_flight().saturating_sub(1), successes)
                }
                (HALF_OPEN, Outcome::Failure) => {
                    w = self.transition(w, OPEN, now, |_| true);
                    continue;
                }
                (HALF_OPEN, Outcome::Ignored) => {
                    w.with_trials(w.in_flight().saturating_sub(1), w.successes())
                }
                // Closed ignores cancellations; no ticket is ever issued while Open.
                _ => return,
            };
            match self.try_swap(w, next) {
                Ok(()) => return,
                Err(actual) => w = actual,
            }
        }
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
                    w = self.transition(w, HALF_OPEN, now, |_| true);
                }
                _ => return State::HalfOpen,
            }
        }
    }

    /// A consistent copy of the config.
    pub(crate) fn config(&self) -> Config {
        lock(&self.config).clone()
    }

    /// Replaces the knobs in place. State, counts, generation and start times stay as they are.
    pub(crate) fn reconfigure(&self, config: Config) {
        let mut current = lock(&self.config);
        self.failure_threshold
            .store(config.failure_threshold(), Ordering::Relaxed);
        self.half_open_retries
            .store(config.half_open_retries(), Ordering::Relaxed);
        self.reset_timeout
            .store(config.reset_timeout_nanos(), Ordering::Relaxed);
        *current = config;
    }

    /// The current generation: how many transitions have happened (modulo 2^29).
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
        Machine::new(cfg)
    }

    #[test]
    fn generation_wraps_without_touching_kind_or_payload() {
        let w = Word((u64::from(GEN_MASK) << GEN_SHIFT) | HALF_OPEN);
        let next = w.next(OPEN);
        assert_eq!(next.generation(), 0);
        assert_eq!(next.kind(), OPEN);
        assert_eq!(next.payload(), 0);
    }

    #[test]
    fn trial_counts_round_trip_through_the_payload() {
        let w = Word(HALF_OPEN).with_trials(65_535, 65_535);
        assert_eq!(w.in_flight(), 65_535);
        assert_eq!(w.successes(), 65_535);
        assert_eq!(w.kind(), HALF_OPEN);
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
