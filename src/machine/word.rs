//! The state word: one `AtomicU64` holding everything a call needs to be admitted or to record
//! its outcome, and the [`Ticket`] a call keeps.
//!
//! ```text
//!  63                              32  31    30    29              3 2      0
//! +----------------------------------+----+-----+-----------------+--------+
//! |             payload              |ool |count|   generation    |  kind  |
//! +----------------------------------+----+-----+-----------------+--------+
//! kind 0 Closed    payload = consecutive failures
//! kind 1 Open      payload = 0 plain period; 1 backs off or jitters (see `open_info`);
//!                  2 (EXPLICIT_DEADLINE) `open_info` holds the deadline itself
//! kind 2 HalfOpen  payload = successes << 16 | trials in flight
//! kind 3 ForcedOpen  payload = 0   (set by hand: rejects everything)
//! kind 4 Disabled    payload = 0   (set by hand: admits everything, records nothing)
//! kind 5 MetricsOnly payload = consecutive failures (counts like Closed, never trips)
//! ```
//!
//! Kind and generation are the *epoch*. Every transition takes a fresh generation, so an epoch
//! names one stretch of one state; a call keeps the epoch that admitted it (its [`Ticket`]) and
//! its outcome counts only while the word still carries that epoch. The generation is 27 bits
//! wide: an outcome would have to arrive exactly 2^27 transitions late to be mistaken for a
//! current one.
//!
//! The `ool` (out-of-line, `OUT_OF_LINE`) and `count` bits are not part of the epoch. `ool`,
//! set while there is a window or a trip rule, sends every call down the out-of-line paths (the
//! admission and recording code kept out of the inlined fast path); it says nothing about slow
//! calls. `count`, set while call totals are on, sends a closed call to count its admission and
//! its success inline (a plain store on a stripe its thread owns, see `Counters`), and anything
//! else down the out-of-line paths (which count too). So the inlined closed fast path stays one
//! load and one compare whether the features exist or not. Transitions carry both over;
//! `reconfigure` sets or clears them without changing the epoch, so calls in flight keep
//! counting.

use crate::machine::state::State;

pub(super) const KIND_MASK: u64 = 0b111;
pub(super) const CLOSED: u64 = 0;
pub(super) const OPEN: u64 = 1;
pub(super) const HALF_OPEN: u64 = 2;
pub(super) const FORCED_OPEN: u64 = 3;
pub(super) const DISABLED: u64 = 4;
pub(super) const METRICS_ONLY: u64 = 5;
/// An open word's payload when its deadline was adopted from the fleet: `open_info` holds the
/// deadline itself.
pub(super) const EXPLICIT_DEADLINE: u32 = 2;
pub(super) const GEN_SHIFT: u32 = 3;
pub(super) const OUT_OF_LINE: u32 = 1 << 31;
pub(super) const COUNT: u32 = 1 << 30;
pub(super) const GEN_MASK: u32 = (COUNT - 1) >> GEN_SHIFT;
/// The bits of the low half that are not the epoch.
pub(super) const PATHS: u32 = OUT_OF_LINE | COUNT;
/// The low-half bits the closed fast path checks: kind (`KIND_MASK`), the out-of-line and the
/// count bits. Zero under this mask is Closed (kind 0) with no counting.
pub(super) const FAST_MASK: u32 = 0b111 | PATHS;
/// The low-half bits the closed counting path checks: zero under this mask is Closed with
/// nothing but totals to keep, and `OPEN` is Open with nothing but totals to keep.
pub(super) const COUNTED_MASK: u32 = 0b111 | OUT_OF_LINE;
/// The mark of a timed closed call's ticket (see `sense.rs`): the count bit, which no other
/// ticket's epoch carries, so that its recording misses the closed fast path.
pub(super) const SAMPLED: u32 = COUNT;
pub(super) const PAYLOAD_SHIFT: u32 = 32;
pub(super) const IN_FLIGHT_MASK: u32 = 0xFFFF;
pub(super) const SUCCESS_SHIFT: u32 = 16;

/// One value of the state word.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Word(pub(super) u64);

impl Word {
    #[inline]
    pub(super) fn kind(self) -> u64 {
        self.0 & KIND_MASK
    }

    /// Kind and generation: which stretch of which state this is.
    #[inline]
    pub(super) fn epoch(self) -> u32 {
        self.low() & !PATHS
    }

    /// The low half: epoch, out-of-line and count bits.
    #[inline]
    pub(super) fn low(self) -> u32 {
        // Truncation intended.
        #[allow(clippy::cast_possible_truncation)]
        let low = self.0 as u32;
        low
    }

    #[inline]
    pub(super) fn generation(self) -> u32 {
        self.epoch() >> GEN_SHIFT
    }

    #[inline]
    pub(super) fn payload(self) -> u32 {
        // Truncation cannot happen: the high half of a u64 fits a u32.
        #[allow(clippy::cast_possible_truncation)]
        let payload = (self.0 >> PAYLOAD_SHIFT) as u32;
        payload
    }

    #[inline]
    pub(super) fn with_payload(self, payload: u32) -> Word {
        Word(u64::from(self.low()) | (u64::from(payload) << PAYLOAD_SHIFT))
    }

    /// The first word of the next generation, in state `kind`, with an empty payload.
    pub(super) fn next(self, kind: u64) -> Word {
        let generation = self.generation().wrapping_add(1) & GEN_MASK;
        Word((u64::from(generation) << GEN_SHIFT) | kind | u64::from(self.low() & PATHS))
    }

    #[inline]
    pub(super) fn in_flight(self) -> u32 {
        self.payload() & IN_FLIGHT_MASK
    }

    #[inline]
    pub(super) fn successes(self) -> u32 {
        self.payload() >> SUCCESS_SHIFT
    }

    #[inline]
    pub(super) fn with_trials(self, in_flight: u32, successes: u32) -> Word {
        self.with_payload(in_flight | (successes << SUCCESS_SHIFT))
    }

    #[inline]
    pub(super) fn since_slot(self) -> usize {
        (self.generation() & 1) as usize
    }
}

/// The epoch that admitted a call. Its outcome counts only while that epoch is current.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ticket {
    pub(super) epoch: u32,
    /// When the call was admitted (ns), if slow calls are tracked; `NOT_TIMED` otherwise.
    pub(super) started: u64,
}

pub(super) const NOT_TIMED: u64 = u64::MAX;

impl Ticket {
    /// Not admitted yet. Its epoch has the out-of-line bit, which no admitted call's has; its
    /// `started` is an untimed ticket's, as `DONE`'s (see [`Ticket::finish`]).
    pub(crate) const START: Ticket = Ticket {
        epoch: u32::MAX,
        started: NOT_TIMED,
    };
    /// Finished, rejected or cancelled.
    pub(crate) const DONE: Ticket = Ticket {
        epoch: u32::MAX - 1,
        started: NOT_TIMED,
    };

    /// Whether this is an admitted call's ticket (not `START` or `DONE`).
    #[inline]
    pub(crate) fn is_call(self) -> bool {
        self.epoch & OUT_OF_LINE == 0
    }

    /// Sets a call's phase to [`Ticket::DONE`] from [`Ticket::START`] or from `ticket`,
    /// writing only what changes: `START`, `DONE` and an untimed ticket share `started`, so
    /// the closed path stores the epoch alone (each store counts in a tight loop,
    /// benches/README.md).
    #[inline]
    pub(crate) fn finish(&mut self, ticket: Ticket) {
        self.epoch = Ticket::DONE.epoch;
        if ticket.started != NOT_TIMED {
            self.started = NOT_TIMED;
        }
    }

    /// Sets a call's phase back from [`Ticket::DONE`] to `ticket`, writing only what changes,
    /// as [`Ticket::finish`].
    #[inline]
    pub(crate) fn resume(&mut self, ticket: Ticket) {
        self.epoch = ticket.epoch;
        if ticket.started != NOT_TIMED {
            self.started = ticket.started;
        }
    }

    #[inline]
    pub(super) fn new(epoch: u32) -> Self {
        Ticket {
            epoch,
            started: NOT_TIMED,
        }
    }
}

pub(super) fn state_of(kind: u64) -> State {
    match kind {
        CLOSED => State::Closed,
        OPEN => State::Open,
        HALF_OPEN => State::HalfOpen,
        FORCED_OPEN => State::ForcedOpen,
        DISABLED => State::Disabled,
        _ => State::MetricsOnly,
    }
}

/// The word kind of a state.
pub(super) fn kind_of(state: State) -> u64 {
    match state {
        State::Closed => CLOSED,
        State::Open => OPEN,
        State::HalfOpen => HALF_OPEN,
        State::ForcedOpen => FORCED_OPEN,
        State::Disabled => DISABLED,
        State::MetricsOnly => METRICS_ONLY,
    }
}

/// Whether a word of `kind` counts outcomes toward a trip (Closed does; metrics-only counts the
/// same way, but only reports a trip).
#[inline]
pub(super) fn counts_toward_trip(kind: u64) -> bool {
    kind == CLOSED || kind == METRICS_ONLY
}

#[cfg(all(test, not(protego_loom)))]
mod tests {
    use super::*;

    #[test]
    fn generation_wraps_without_touching_kind_or_payload() {
        let w = Word((u64::from(GEN_MASK) << GEN_SHIFT) | HALF_OPEN);
        let next = w.next(OPEN);
        assert_eq!(next.generation(), 0);
        assert_eq!(next.kind(), OPEN);
        assert_eq!(next.payload(), 0);
    }

    #[test]
    fn the_out_of_line_bit_survives_transitions_and_counting_but_is_not_epoch() {
        let w = Word(u64::from(OUT_OF_LINE) | (5 << GEN_SHIFT) | CLOSED);
        assert_eq!(w.epoch(), 5 << GEN_SHIFT);
        assert_eq!(w.with_payload(7).low() & OUT_OF_LINE, OUT_OF_LINE);
        assert_eq!(w.next(OPEN).low() & OUT_OF_LINE, OUT_OF_LINE);
        assert_eq!(w.next(OPEN).generation(), 6);
        assert_eq!(Word(5 << GEN_SHIFT).next(OPEN).low() & OUT_OF_LINE, 0);
    }

    #[test]
    fn the_count_bit_survives_transitions_and_counting_but_is_not_epoch() {
        let w = Word(u64::from(COUNT) | (u64::from(GEN_MASK) << GEN_SHIFT) | CLOSED);
        assert_eq!(w.epoch(), GEN_MASK << GEN_SHIFT);
        assert_eq!(w.with_payload(7).low() & PATHS, COUNT);
        let next = w.next(OPEN);
        assert_eq!((next.low() & PATHS, next.generation()), (COUNT, 0));
        assert_eq!(
            w.low() & COUNTED_MASK,
            0,
            "closed with totals only: the counting path"
        );
        assert_ne!(w.low() & FAST_MASK, 0, "not the plain fast path");
    }

    #[test]
    fn trial_counts_round_trip_through_the_payload() {
        let w = Word(HALF_OPEN).with_trials(65_535, 65_535);
        assert_eq!(w.in_flight(), 65_535);
        assert_eq!(w.successes(), 65_535);
        assert_eq!(w.kind(), HALF_OPEN);
    }
}
