//! Own trips: a breaker that opened by its own policy, told to the store.
//!
//! A trip is a compare-and-set from the Closed epoch this replica knows, so concurrent trips
//! make one fleet-wide Open; if the store is still Closed in a newer epoch, the trip is tried
//! once more with that one. Below the quorum the store only counts a vote and the breaker stays
//! open on its own (`own_open`); a trip made while the store is away waits (`pending_trip`)
//! until the resync has read the store, and is published then only if the breaker is still
//! open, for the time it has left (see `reconcile.rs`, "coming back").

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::run::{bounded, Run};
use crate::fleet::{Epoch, StateKind, Trip, TripOutcome};

impl Run {
    /// The breaker opened by its own policy: it stays open on its own until the store answers.
    pub(super) async fn own_trip(&mut self, i: usize, online: bool) {
        let m = &mut self.tracked[i];
        m.own_open = true;
        m.pending_trip = true;
        m.slot.fleet_round.store(false, Ordering::Release);
        if online {
            self.publish_trip(i).await;
        }
    }

    /// Tells the store of an own trip: compare-and-set from the Closed epoch this replica
    /// knows (once more with the store's, if the store is still Closed in a newer one).
    pub(super) async fn publish_trip(&mut self, i: usize) {
        let Some(member) = self.tracked[i].slot.member.upgrade() else {
            return;
        };
        // For the time this replica has left (all of it for a trip just made; less for one made
        // while the store was away), so the fleet's open period ends when the trip's would.
        let open_for = member.open_left().unwrap_or_else(|| member.open_length(0));
        drop(member);
        self.tracked[i].pending_trip = false;
        let name = Arc::clone(&self.tracked[i].slot.name);
        let mut expected = self.tracked[i].known.map_or(Epoch(0), |k| k.epoch);
        for attempt in 0..2 {
            let config = &self.inner.config;
            let trip = Trip {
                expected_epoch: expected,
                replica_id: &config.replica_id,
                open_for,
                quorum: config.quorum,
                quorum_window: config.quorum_window,
            };
            let result = bounded(&self.inner, self.inner.store.trip(&name, trip)).await;
            let r = match result {
                Ok(r) => r,
                Err(e) => {
                    if self.failed(&e) {
                        self.tracked[i].pending_trip = true;
                    }
                    return;
                }
            };
            match r.outcome {
                TripOutcome::Voted { .. } => self.tracked[i].known = Some(r.state),
                TripOutcome::Stale if r.state.kind == StateKind::Closed => {
                    if attempt == 0 {
                        expected = r.state.epoch;
                        continue;
                    }
                    self.tracked[i].known = Some(r.state);
                }
                // Opened here, or by another replica first: the fleet's Open.
                TripOutcome::Opened | TripOutcome::Stale => {
                    self.tracked[i].own_open = false;
                    self.reconcile(i, r.state, false);
                }
            }
            return;
        }
    }
}
