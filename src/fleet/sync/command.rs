//! What a breaker's [`Command`] makes the sync future do: a transition by the breaker's own
//! policy is a trip to publish, a manual one a manual state for every replica; a trial wanted
//! or finished goes to the fleet's leases; a changed failure count is sent as a share.
//!
//! While the store is away, trips and manual states wait for it (sent after the resync's
//! reads), and trial and failure work is dropped: the breaker is local then. A command for a
//! breaker that is gone, or not tracked, does nothing.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::run::Run;
use crate::fleet::link::{Command, Slot};
use crate::fleet::Manual;
use crate::machine::reason::Reason;
use crate::machine::state::State;

impl Run {
    /// Acts on one command from the breaker of `slot`.
    pub(super) async fn command(&mut self, slot: &Arc<Slot>, command: Command) {
        let Some(i) = self.tracked.iter().position(|m| Arc::ptr_eq(&m.slot, slot)) else {
            return;
        };
        if slot.member.strong_count() == 0 {
            return;
        }
        let online = self.inner.is_online();
        match command {
            Command::Transitioned { from, to, reason } => match reason {
                Reason::FailureThreshold | Reason::FailureRate | Reason::SlowCallRate => {
                    self.own_trip(i, online).await;
                }
                Reason::TrialFailed if !slot.fleet_round.load(Ordering::Acquire) => {
                    self.own_trip(i, online).await;
                }
                Reason::OpenPeriodEnded if from == State::HalfOpen && to == State::HalfOpen => {
                    // A hung round replaced: its leases expire in the store on their own, and
                    // a trial the old budget let into the new round reports against one.
                    self.tracked[i].replace_round();
                }
                Reason::TrialsSucceeded if !slot.fleet_round.load(Ordering::Acquire) => {
                    let m = &mut self.tracked[i];
                    m.own_open = false;
                    m.pending_trip = false;
                }
                Reason::ForcedOpen => self.manual_or_later(i, Manual::ForceOpen, online).await,
                Reason::Disabled => self.manual_or_later(i, Manual::Disable, online).await,
                Reason::Reset => {
                    let m = &mut self.tracked[i];
                    m.own_open = false;
                    m.pending_trip = false;
                    self.manual_or_later(i, Manual::Reset, online).await;
                }
                _ => {}
            },
            Command::NeedLeases => {
                if online {
                    self.acquire(i).await;
                } else {
                    slot.want.store(false, Ordering::Release);
                }
            }
            Command::TrialFinished(outcome) => {
                if online {
                    self.report(i, outcome).await;
                }
            }
            Command::Failures => {
                if online {
                    self.send_failures(i).await;
                }
            }
        }
    }
}
