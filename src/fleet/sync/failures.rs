//! Fleet-wide failures: this replica's closed consecutive-failure count, sent as its share of
//! the sum the store keeps.
//!
//! The breaker's `failures_changed` flag is cleared before the count is read, so a change after
//! the read queues a new command instead of being lost. A share is sent only in a Closed epoch
//! this replica knows and not while it is open on its own; `stored_share` is what the store
//! holds, so an unchanged count sends nothing. A breaker with a failure-rate window has no
//! share: it trips per replica.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::run::{bounded, Run};
use crate::fleet::{Failures, FailuresOutcome, StateKind};

impl Run {
    /// Sends the store this replica's share of the fleet-wide failure count if it changed
    /// since the store last took it. The count is read from the breaker now, so a burst of
    /// failures makes one write of the latest count. The store opens the circuit when the
    /// shares reach the threshold; a stale epoch changes nothing (retried once with the
    /// store's, if it is Closed in a newer one).
    pub(super) async fn send_failures(&mut self, i: usize) {
        if !self.inner.config.fleet_wide_failures {
            return;
        }
        // Cleared before the count is read: a change after the read queues a new command.
        self.tracked[i]
            .slot
            .failures_changed
            .store(false, Ordering::Release);
        for attempt in 0..2 {
            let m = &self.tracked[i];
            let Some(known) = m.known else {
                return;
            };
            if known.kind != StateKind::Closed || m.own_open {
                return;
            }
            let Some(member) = m.slot.member.upgrade() else {
                return;
            };
            let Some((count, threshold)) = member.closed_failures() else {
                return; // a failure-rate window decides: it trips per replica
            };
            if count == m.stored_share {
                return;
            }
            let open_for = member.open_length(0);
            drop(member);
            let name = Arc::clone(&m.slot.name);
            let config = &self.inner.config;
            let failures = Failures {
                expected_epoch: known.epoch,
                replica_id: &config.replica_id,
                failures: count,
                threshold,
                window: config.failure_window,
                open_for,
                quorum: config.quorum,
                quorum_window: config.quorum_window,
            };
            let result = bounded(
                &self.inner,
                self.inner.store.count_failures(&name, failures),
            )
            .await;
            let r = match result {
                Ok(r) => r,
                Err(e) => {
                    self.failed(&e);
                    return;
                }
            };
            match r.outcome {
                FailuresOutcome::Counted { .. } => {
                    let m = &mut self.tracked[i];
                    m.stored_share = count;
                    m.known = Some(r.state);
                }
                FailuresOutcome::Opened => self.reconcile(i, r.state, false),
                FailuresOutcome::Stale => {
                    let newer_closed =
                        r.state.kind == StateKind::Closed && r.state.epoch > known.epoch;
                    self.reconcile(i, r.state, false);
                    if newer_closed && attempt == 0 {
                        continue;
                    }
                }
            }
            return;
        }
    }
}
