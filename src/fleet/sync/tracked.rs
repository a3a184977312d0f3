//! [`Tracked`]: one shared breaker as the sync future keeps track of it (what the store last
//! said, what waits for the store, the trial leases this replica holds).
//!
//! The sync future alone reads and writes this; the breaker's side of the same state is the
//! [`Slot`]'s atomics. Two rules tie them: a fleet round is forgotten on both sides at once
//! ([`Tracked::reset_round`]), and a breaker taken in starts with its `failures_changed` flag
//! clear, since the next tick sends its failure count anyway.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::fleet::link::Slot;
use crate::fleet::{Epoch, LeaseId, Manual, SharedState};

/// One shared breaker, as the sync future tracks it.
pub(super) struct Tracked {
    pub(super) slot: Arc<Slot>,
    /// The last store state this replica took in (adopted, or noted from a reply).
    pub(super) known: Option<SharedState>,
    /// Open by its own policy while the fleet is not (a trip below the quorum, or made while
    /// the store was away): the fleet's Closed is not adopted over it.
    pub(super) own_open: bool,
    /// An own trip the store has not heard of yet.
    pub(super) pending_trip: bool,
    /// A manual state made while the store was away.
    pub(super) pending_manual: Option<Manual>,
    /// Trial leases held in the current fleet round, and that round's epoch.
    pub(super) leases: Vec<LeaseId>,
    pub(super) lease_epoch: Epoch,
    /// The leases of the local round this breaker last replaced as hung, in the same fleet
    /// round: a trial admitted on the old round's budget before the replacement reached the
    /// sync future reports against one of these (they stay live in the store until they
    /// expire), so its outcome is not lost. At most `half_open_retries`.
    pub(super) replaced: Vec<LeaseId>,
    /// The store said every trial slot is taken: ask again on the next push or tick.
    pub(super) full: bool,
    /// This replica's share of the fleet-wide failure count as the store holds it in the
    /// `known` epoch (0 after an epoch change: the store clears the shares with it).
    pub(super) stored_share: u32,
}

impl Tracked {
    /// A breaker taken in by the sync future.
    pub(super) fn new(slot: Arc<Slot>) -> Self {
        // Whatever was queued before this sync future is caught up on its first tick.
        slot.failures_changed.store(false, Ordering::Release);
        Tracked {
            slot,
            known: None,
            own_open: false,
            pending_trip: false,
            pending_manual: None,
            leases: Vec::new(),
            lease_epoch: Epoch(0),
            replaced: Vec::new(),
            full: false,
            stored_share: 0,
        }
    }

    /// The breaker replaced its local half-open round as hung; the fleet's round goes on. Its
    /// trials ask for leases afresh (budget 0), and the old leases are kept aside for a trial
    /// that the old budget let into the new round before this ran (see `replaced`).
    pub(super) fn replace_round(&mut self) {
        self.replaced = std::mem::take(&mut self.leases);
        self.full = false;
        self.slot.budget.store(0, Ordering::Release);
        self.slot.want.store(false, Ordering::Release);
    }

    /// The lease to report a finished trial against: one of this round's, else one of the
    /// round replaced before it.
    pub(super) fn take_lease(&mut self) -> Option<LeaseId> {
        self.leases.pop().or_else(|| self.replaced.pop())
    }

    /// Forgets the fleet round: its leases, and the slot's budget and pending ask.
    pub(super) fn reset_round(&mut self) {
        self.leases.clear();
        self.replaced.clear();
        self.full = false;
        self.slot.budget.store(0, Ordering::Release);
        // The next call that finds no lease asks again.
        self.slot.want.store(false, Ordering::Release);
    }
}
