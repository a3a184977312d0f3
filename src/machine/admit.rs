//! Admission: whether a call may run now, and the [`Ticket`] it runs with.
//!
//! Owns `admit` (inlined into every call: the closed fast path is one load of the word and one
//! test of its low half against `FAST_MASK`), the open rejection (`open_left`, in the one
//! out-of-line function that every other admission goes through), and `decide`, the loop over
//! the word for every other state.
//!
//! Relies on: the epoch (kind and generation) changes only under the transition lock, so a
//! ticket's epoch names one stretch of one state. Keeps: half-open never admits more trials
//! than its round's slots — a trial is taken by a compare-and-swap of the payload's in-flight
//! count, and a round that is full refuses with no `retry_after`. Reads the clock only when the
//! circuit is not closed.

use crate::machine::reason::Reason;
use crate::machine::sense;
use crate::machine::state::State;
use crate::machine::word::{
    Ticket, Word, CLOSED, COUNT, COUNTED_MASK, DISABLED, FAST_MASK, FORCED_OPEN, HALF_OPEN,
    METRICS_ONLY, OPEN, OUT_OF_LINE, PATHS, SAMPLED,
};
use crate::machine::{Machine, Now, Refusal};
use crate::sync::Ordering;

impl Machine {
    /// Admits a call, or says why not, reading the clock through `read` only when the circuit is
    /// not closed.
    ///
    /// The clock's reader is taken by value (one pointer, in a register): the closed path
    /// inlined into the caller stores nothing but its ticket, and the [`Now`] that the other
    /// paths share is made in `admit_slow`.
    // Always: the counting path makes the body too big for the inliner, and a call here costs
    // the default closed path ~4 ns (4.7 -> 8.6 ns measured).
    #[allow(clippy::inline_always)]
    #[inline(always)]
    pub(crate) fn admit<F: FnMut() -> u64 + Copy>(&self, read: F) -> Result<Ticket, Refusal> {
        // The closed path, inlined into the caller: one load, no write.
        let w = self.load();
        if w.low() & FAST_MASK == 0 {
            // One in so many closed calls a thread makes is timed, out of line (`sense.rs`).
            if sense::due() {
                return Ok(Self::sampled(w, read));
            }
            return Ok(Ticket::new(w.low()));
        }
        // Closed with totals (and no window or rule): counted inline, on this thread's stripe.
        if w.low() & COUNTED_MASK == 0 {
            self.counters.admitted();
            return Ok(Ticket::new(w.epoch()));
        }
        // Open with no window or rule: the rejection, decided in a small function of its own
        // that answers in registers.
        let mut read_at = None;
        if u64::from(w.low() & COUNTED_MASK) == OPEN {
            match self.open_left(w, read) {
                Ok(left) => {
                    return Err(Refusal {
                        state: State::Open,
                        retry_after: Some(left),
                    })
                }
                Err(t) => read_at = Some(t),
            }
        }
        self.admit_slow(w, read, read_at)
    }

    /// A closed admission that the thread's countdown picked to be timed: its ticket carries its
    /// start and the `SAMPLED` mark, so that its recording goes out of line and is heard by the
    /// sensor (`sense.rs`).
    #[cold]
    #[inline(never)]
    fn sampled<F: FnMut() -> u64>(w: Word, mut read: F) -> Ticket {
        let now = read();
        sense::rearm(now);
        Ticket {
            epoch: w.low() | SAMPLED,
            started: now,
        }
    }

    /// Every admission off the closed and open paths, with the clock already read at `read_at`
    /// if the open period just ended.
    #[inline(never)]
    fn admit_slow<F: FnMut() -> u64>(
        &self,
        w: Word,
        read: F,
        read_at: Option<u64>,
    ) -> Result<Ticket, Refusal> {
        self.admit_out_of_line(w, &mut Now::read_at(read, read_at))
    }

    /// For an open word: `Ok` with the time left of its open period (counting the rejection if
    /// totals are on), or `Err` with the time read once the period is over
    /// (`admit_out_of_line` then moves to half-open). Reads the clock once; takes the reader
    /// by value and answers in two registers, so that nothing goes through memory.
    #[inline(never)]
    fn open_left<F: FnMut() -> u64>(&self, w: Word, mut read: F) -> Result<u64, u64> {
        let t = read();
        let deadline = self.deadline(w);
        if t >= deadline {
            return Err(t);
        }
        if w.low() & COUNT != 0 {
            self.count_rejected();
        }
        Ok(deadline - t)
    }

    /// A rejection counted in the totals; out of line, so that `open_left` stays a leaf.
    #[cold]
    #[inline(never)]
    fn count_rejected(&self) {
        self.counters.rejected();
    }

    #[inline(never)]
    pub(super) fn admit_out_of_line<F: FnMut() -> u64>(
        &self,
        w: Word,
        now: &mut Now<F>,
    ) -> Result<Ticket, Refusal> {
        let mut admitted = self.decide(w, now);
        if w.low() & PATHS == 0 {
            return admitted; // no totals, no window: nothing more to do
        }
        // The admission gate and overload shedding (see `gate.rs`) set the out-of-line bit.
        if w.low() & OUT_OF_LINE != 0
            && admitted
                .as_mut()
                .is_ok_and(|ticket| !self.gate_admits(ticket, now))
        {
            admitted = Err(Refusal {
                state: State::Closed,
                retry_after: None,
            });
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

    pub(super) fn decide<F: FnMut() -> u64>(
        &self,
        mut w: Word,
        now: &mut Now<F>,
    ) -> Result<Ticket, Refusal> {
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
}
