//! Taking in what the store holds: a read, a reply or a push becomes the breaker's state.
//!
//! A state is adopted when its epoch is new to this replica: greater than the one it knows, or
//! 0 (the store lost the name: Closed). The same epoch only refreshes what is known, and an
//! older one (a late push) changes nothing. Two exceptions: a replica open on its own (a trip
//! below the quorum, or one the store has not heard of) does not take the fleet's Closed over
//! it, and `force` adopts what the store said when it answered that this replica acts on an
//! old round. Adopting ends this replica's round of leases and sets whether the fleet holds the
//! next one; a new epoch also starts with no failure share.
//!
//! Coming back after an outage ([`Run::back`]), one rule: **the store's state wins, except a
//! trip still in force.** Before the resync reads, each replica keeps, of what it decided
//! alone, only an own trip whose open period has time left on its own clock; everything else
//! (a trip whose period ended, the local half-open round that followed, a local close) yields.
//! The read adopts the store's state (whatever its epoch: what this replica knew may be from a
//! store that lost it); then a trip still in force is published as a compare-and-set on the
//! Closed epoch just read, for the time it has left, so concurrent ones make one fleet Open
//! that ends when the first one's would; if the store is not Closed, the trip yields to it.
//! Manual states made meanwhile are sent last and always win (a new epoch).

use std::sync::atomic::Ordering;

use super::run::Run;
use crate::fleet::{Change, Epoch, SharedState, StateKind};
use crate::machine::state::State;

/// The machine's state for a kind the store names.
fn state_of(kind: StateKind) -> State {
    match kind {
        StateKind::Closed => State::Closed,
        StateKind::Open => State::Open,
        StateKind::HalfOpen => State::HalfOpen,
        StateKind::ForcedOpen => State::ForcedOpen,
        StateKind::Disabled => State::Disabled,
    }
}

impl Run {
    /// Coming back after an outage, before breaker `i` is read: forgets what the store said
    /// before and what this replica decided alone, except an own trip still in force (the
    /// breaker Open with time left), which stays to be published after the read.
    pub(super) fn back(&mut self, i: usize) {
        let m = &mut self.tracked[i];
        m.known = None;
        m.reset_round();
        if !m.own_open {
            return;
        }
        let in_force = m
            .slot
            .member
            .upgrade()
            .is_some_and(|member| member.open_left().is_some());
        if !in_force {
            // Its period ended (half-open or closed alone since): the store's state wins.
            m.own_open = false;
            m.pending_trip = false;
        }
    }

    /// A pushed change: taken in like a read (trial counts are not in a push), then a call
    /// waiting for a lease may get one.
    pub(super) async fn pushed(&mut self, change: &Change) {
        for i in 0..self.tracked.len() {
            if *self.tracked[i].slot.name != *change.name {
                continue;
            }
            let reopens = match (change.kind, self.tracked[i].known) {
                (StateKind::Closed, _) | (_, None) => 0,
                (_, Some(known)) => known.reopens,
            };
            let state = SharedState {
                epoch: change.epoch,
                kind: change.kind,
                open_remaining: change.open_remaining,
                reopens,
                trials_in_flight: 0,
                trial_successes: 0,
            };
            self.reconcile(i, state, false);
            self.retry_lease(i).await;
        }
    }

    /// Takes in a state the store holds. Adopted when its epoch is new to this replica (or
    /// `force`: the store just said this replica acts on an old one).
    pub(super) fn reconcile(&mut self, i: usize, state: SharedState, force: bool) {
        let m = &mut self.tracked[i];
        if !force {
            if let Some(known) = m.known {
                if state.epoch == known.epoch {
                    m.known = Some(state);
                    return;
                }
                if state.epoch < known.epoch && state.epoch != Epoch(0) {
                    return; // older than what we hold (a late push)
                }
            }
        }
        let Some(member) = m.slot.member.upgrade() else {
            return;
        };
        if m.known.map(|k| k.epoch) != Some(state.epoch) {
            m.stored_share = 0; // a new epoch starts with no failure shares
        }
        m.known = Some(state);
        if state.kind == StateKind::Closed && m.own_open {
            // Open on our own below the quorum (or an unpublished trip): stay so.
            m.slot.fleet_round.store(false, Ordering::Release);
            return;
        }
        m.own_open = false;
        m.pending_trip = false;
        m.reset_round();
        m.slot.fleet_round.store(
            matches!(state.kind, StateKind::Open | StateKind::HalfOpen),
            Ordering::Release,
        );
        member.adopt(state_of(state.kind), state.open_remaining);
    }
}
