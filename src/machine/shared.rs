//! What a fleet asks of the machine.

use crate::machine::link::Link;
use crate::machine::state::State;
use crate::machine::word::{kind_of, CLOSED, HALF_OPEN, OPEN};
use crate::machine::{Machine, Now};
use crate::observe::events::Reason;
use crate::sync::Ordering;

impl Machine {
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
}
