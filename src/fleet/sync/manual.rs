//! Manual states (`force_open`, `disable`, `reset`) sent to every replica through the store.
//!
//! The store always takes one, in a new epoch that every replica adopts. Made while the store
//! is away, the latest waits (`pending_manual`) and is sent after the resync's reads.

use std::sync::Arc;

use super::run::{bounded, Run};
use crate::fleet::Manual;

impl Run {
    /// Sends a manual state now, or keeps it for when the store is back.
    pub(super) async fn manual_or_later(&mut self, i: usize, manual: Manual, online: bool) {
        if online {
            self.manual(i, manual).await;
        } else {
            self.tracked[i].pending_manual = Some(manual);
        }
    }

    /// Sends a manual state; kept for later if the store is away.
    pub(super) async fn manual(&mut self, i: usize, manual: Manual) {
        let name = Arc::clone(&self.tracked[i].slot.name);
        match bounded(&self.inner, self.inner.store.set_manual(&name, manual)).await {
            Ok(state) => self.reconcile(i, state, false),
            Err(e) => {
                if self.failed(&e) {
                    self.tracked[i].pending_manual = Some(manual);
                }
            }
        }
    }
}
