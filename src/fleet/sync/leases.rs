//! The fleet's half-open round: trial leases got for this replica's calls, and each trial's
//! outcome reported against one.
//!
//! At most `half_open_retries` trials are in flight across the fleet, each holding a lease the
//! store lets expire if its replica goes quiet. A call that finds no lease asks once (`want`)
//! and the sync future asks the store for one lease at a time; a full round is asked again on
//! the next push or tick. The breaker admits what the slot's `budget` allows: leases granted in
//! this round, less trials cancelled. A trial admitted while the store was away holds no lease
//! and is not reported.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::run::{bounded, Run};
use crate::fleet::{Epoch, LeaseOutcome, TrialOutcome};
use crate::machine::outcome::Outcome;

impl Run {
    /// After a push or a tick: a call that found every slot taken may find one now.
    pub(super) async fn retry_lease(&mut self, i: usize) {
        let m = &mut self.tracked[i];
        if m.slot.want.load(Ordering::Acquire) {
            m.full = false;
            self.acquire(i).await;
        }
    }

    /// A call wanted a trial: one more lease, if the fleet's round has a slot.
    pub(super) async fn acquire(&mut self, i: usize) {
        let m = &self.tracked[i];
        if m.full {
            return; // asked again on the next push or tick
        }
        let Some(member) = m.slot.member.upgrade() else {
            return;
        };
        let retries = member.half_open_retries();
        // Never longer than the breaker's round may hang: a round it replaces holds no lease.
        let lease = self.inner.config.lease.min(member.max_half_open());
        drop(member);
        if !m.slot.fleet_round.load(Ordering::Acquire)
            || m.slot.budget.load(Ordering::Acquire) >= retries
        {
            m.slot.want.store(false, Ordering::Release);
            return;
        }
        let name = Arc::clone(&m.slot.name);
        let epoch = m.known.map_or(Epoch(0), |k| k.epoch);
        let result = bounded(
            &self.inner,
            self.inner.store.acquire_lease(&name, epoch, lease, retries),
        )
        .await;
        let r = match result {
            Ok(r) => r,
            Err(e) => {
                self.tracked[i].slot.want.store(false, Ordering::Release);
                self.failed(&e);
                return;
            }
        };
        let m = &mut self.tracked[i];
        match r.outcome {
            LeaseOutcome::Granted(id) => {
                if r.state.epoch != m.lease_epoch {
                    m.reset_round();
                    m.lease_epoch = r.state.epoch;
                }
                m.known = Some(r.state);
                m.leases.push(id);
                m.slot.budget.fetch_add(1, Ordering::AcqRel);
                m.slot.want.store(false, Ordering::Release);
            }
            LeaseOutcome::Full => {
                m.full = true;
                m.known = Some(r.state);
            }
            LeaseOutcome::Stale => {
                m.slot.want.store(false, Ordering::Release);
                // Still Open on the store's time (this replica's clock ran ahead), or moved on.
                self.reconcile(i, r.state, true);
            }
        }
    }

    /// A trial of the fleet's round ended: report it against one of our leases.
    pub(super) async fn report(&mut self, i: usize, outcome: Outcome) {
        let m = &mut self.tracked[i];
        let Some(lease) = m.take_lease() else {
            return; // not a leased trial (admitted while the store was away)
        };
        let Some(member) = m.slot.member.upgrade() else {
            return;
        };
        let retries = member.half_open_retries();
        let reopens = m.known.map_or(0, |k| k.reopens).saturating_add(1);
        let (outcome, next_open) = match outcome {
            Outcome::Success => (TrialOutcome::Success, Duration::ZERO),
            Outcome::Failure | Outcome::Overload => {
                (TrialOutcome::Failure, member.open_length(reopens))
            }
            Outcome::Ignored => {
                let _ = m
                    .slot
                    .budget
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| b.checked_sub(1));
                (TrialOutcome::Cancelled, Duration::ZERO)
            }
        };
        drop(member);
        let name = Arc::clone(&m.slot.name);
        let epoch = m.lease_epoch;
        let result = bounded(
            &self.inner,
            self.inner
                .store
                .report(&name, epoch, lease, outcome, retries, next_open),
        )
        .await;
        match result {
            Ok(r) => self.reconcile(i, r.state, false),
            Err(e) => {
                self.failed(&e);
            }
        }
    }
}
