//! Transitions: the only way to a new epoch.
//!
//! Owns `commit` and `commit_until` (under the transition lock: stamp the new generation's start
//! in `since[gen & 1]` and its open period in `open_info`, *then* publish the word, so a reader
//! that sees the generation sees its start), `transition` (the policy's way in: only if the
//! epoch is still the one the caller saw), and the manual changes.
//!
//! Keeps: exactly one caller wins each transition; the lock is never held across user code (the
//! clock is read before it is taken, listeners run after it is released); listeners, the
//! built-in tap and the fleet link hear of a transition in the order transitions were made.

use crate::machine::open_period::OpenPeriod;
use crate::machine::reason::Reason;
use crate::machine::state::State;
use crate::machine::word::{
    kind_of, state_of, Word, CLOSED, DISABLED, EXPLICIT_DEADLINE, METRICS_ONLY, OPEN,
};
use crate::machine::{Machine, Now};
use crate::observe::events::shown;
use crate::observe::tap::Tap;
use crate::sync::{lock, Ordering};

impl Machine {
    /// Where a trip takes a circuit of `kind`: Closed opens; metrics-only only reports it, as a
    /// fresh metrics-only generation (counts start over as after a real trip).
    pub(super) fn trip_to(kind: u64) -> u64 {
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
    pub(super) fn transition<F: FnMut() -> u64>(
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
    pub(super) fn commit<F: FnMut() -> u64>(
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
    pub(super) fn commit_until<F: FnMut() -> u64>(
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
                        if let Some(companion) = self.companion.get() {
                            companion.listeners.push(&self.name, from, to, reason);
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
        if shown(from, to) {
            <crate::BuiltinTap as Tap>::transition(&self.name, from, to, reason);
        }
        if let Some(companion) = self.companion.get() {
            if shown(from, to) {
                companion.listeners.deliver();
            }
        }
        if reason != Reason::Fleet {
            if let Some(link) = self.link() {
                link.transitioned(from, to, reason);
            }
        }
        Ok(next)
    }

    /// Sets the state from outside the policy: by hand, or adopted from a fleet. Open lasts
    /// until `until` (ns on this breaker's clock; now if `None`). Unless `always`, setting the
    /// state the circuit is already in (for Open: with the same end) changes nothing and fires
    /// nothing. Returns the state it replaced, read from the transition itself, or `None` if
    /// nothing changed.
    pub(crate) fn set<F: FnMut() -> u64>(
        &self,
        to: State,
        until: Option<u64>,
        reason: Reason,
        always: bool,
        now: &mut Now<F>,
    ) -> Option<State> {
        let kind = kind_of(to);
        let until = (kind == OPEN).then(|| until.unwrap_or_else(|| now.get()));
        let mut replaced = None;
        let _ = self.commit_until(now, kind, reason, until, &mut |current| {
            let go = always
                || current.kind() != kind
                || (kind == OPEN && Some(self.deadline(current)) != until);
            replaced = go.then(|| state_of(current.kind()));
            go
        });
        replaced
    }
}
