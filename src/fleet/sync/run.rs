//! [`Run`]: the sync future's loop. It waits for the next event (work the breakers queued, a
//! pushed change, the sync tick), does it to the end, and only then waits again: store
//! operations never overlap, and what the sync future tracks needs no lock.
//!
//! Only one runs per fleet ([`Run::start`] refuses a second). Every store operation is
//! [`bounded`] by the op timeout and every error goes through [`Run::failed`]: a store that is
//! away marks the fleet offline and asks for a resync, which the next attempt does before
//! anything else (read every breaker, adopt, then act on what waited). While offline the next
//! attempt comes on the fleet's own short, jittered [`Backoff`] (5 to 50 ms), not on the sync
//! interval. The fleet is [shared](crate::fleet::Fleet::is_online) once the resync has sent
//! what waited (trips, manual states, and the commands queued until then). Dropping the future
//! makes every breaker local again and hands the breakers back to the fleet's queue, for the
//! next sync future to take.

use std::future::{poll_fn, Future};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use super::backoff::Backoff;
use super::tracked::Tracked;
use crate::fleet::handle::Inner;
use crate::fleet::link::{Command, Slot};
use crate::fleet::{with_timeout, Change, ChangeStream, Sleep, StoreError};

/// The sync future's state. Dropping it makes every breaker local again.
pub(crate) struct Run {
    pub(super) inner: Arc<Inner>,
    pub(super) tracked: Vec<Tracked>,
    changes: Option<ChangeStream>,
    tick: Sleep,
    /// Every breaker must be read again before the fleet acts (start, or the store came back).
    resync: bool,
    /// The store failed since the fleet was last online (or since this future started): one
    /// outage, counted once.
    in_outage: bool,
    /// When to try again while the store is away.
    backoff: Backoff,
    /// A failure set the next tick on the backoff since the last tick.
    retry_set: bool,
    /// The breaker whose read failed last: the next attempt reads it first.
    failed_read: usize,
}

/// The store is away.
struct Away;

enum Event {
    Work(Vec<(Arc<Slot>, Command)>, Vec<Arc<Slot>>),
    Push(Change),
    BadPush(StoreError),
    PushesEnded,
    Tick,
}

/// Runs one store operation within the op timeout.
pub(super) async fn bounded<T>(
    inner: &Inner,
    op: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let limit = inner.config.op_timeout;
    with_timeout(op, inner.config.sleeper.sleep(limit), limit).await
}

impl Run {
    /// The sync future's state, or `None` if another sync future of this fleet runs.
    pub(crate) fn start(inner: Arc<Inner>) -> Option<Self> {
        if inner.set_running(true) {
            return None;
        }
        let joined = std::mem::take(&mut inner.queue().joined);
        let tick = inner.config.sleeper.sleep(Duration::ZERO);
        Some(Run {
            tracked: joined
                .into_iter()
                .filter(|slot| slot.member.strong_count() > 0)
                .map(Tracked::new)
                .collect(),
            inner,
            changes: None,
            tick,
            resync: true,
            in_outage: false,
            backoff: Backoff::new(crate::random::SplitMix::from_entropy()),
            retry_set: false,
            failed_read: 0,
        })
    }

    pub(crate) async fn run(mut self) {
        loop {
            match self.next_event().await {
                Event::Work(commands, joined) => self.work(commands, joined).await,
                Event::Push(change) => self.pushed(&change).await,
                Event::BadPush(error) => {
                    #[cfg(feature = "tracing")]
                    tracing::warn!(target: "protego_breaker::fleet", %error, "unreadable pushed change");
                    drop(error);
                }
                Event::PushesEnded => {
                    // The subscription is gone (the store went away?): find out now.
                    self.changes = None;
                    self.tick = self.inner.config.sleeper.sleep(Duration::ZERO);
                }
                Event::Tick => {
                    self.retry_set = false;
                    self.sync_all().await;
                    if !self.retry_set {
                        let next = if self.inner.is_online() {
                            self.inner.config.sync_interval
                        } else {
                            self.backoff.next_delay()
                        };
                        self.tick = self.inner.config.sleeper.sleep(next);
                    }
                }
            }
        }
    }

    /// Breakers joined and commands queued by the breakers.
    async fn work(&mut self, commands: Vec<(Arc<Slot>, Command)>, joined: Vec<Arc<Slot>>) {
        // A breaker already gone (one that lost a registry's creation race to another of the
        // same name) is not tracked.
        for slot in joined
            .into_iter()
            .filter(|slot| slot.member.strong_count() > 0)
        {
            self.tracked.push(Tracked::new(slot));
            if self.inner.is_online() {
                let i = self.tracked.len() - 1;
                let _ = self.read(i).await;
            }
        }
        for (slot, command) in commands {
            self.command(&slot, command).await;
        }
    }

    fn next_event(&mut self) -> impl Future<Output = Event> + '_ {
        poll_fn(move |cx| {
            {
                let mut queue = self.inner.queue();
                if !queue.commands.is_empty() || !queue.joined.is_empty() {
                    let commands = queue.commands.drain(..).collect();
                    let joined = std::mem::take(&mut queue.joined);
                    return Poll::Ready(Event::Work(commands, joined));
                }
                queue.waker = Some(cx.waker().clone());
            }
            if let Some(changes) = &mut self.changes {
                match changes.as_mut().poll_next(cx) {
                    Poll::Ready(Some(Ok(change))) => return Poll::Ready(Event::Push(change)),
                    Poll::Ready(Some(Err(e))) => return Poll::Ready(Event::BadPush(e)),
                    Poll::Ready(None) => return Poll::Ready(Event::PushesEnded),
                    Poll::Pending => {}
                }
            }
            if self.tick.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Event::Tick);
            }
            Poll::Pending
        })
    }

    /// A store error: one about the whole store (away, in transition, or refusing) makes the
    /// fleet offline, is kept as its [`last_error`](crate::fleet::Fleet::last_error), and puts
    /// the next attempt on the [`Backoff`] schedule; the first one since the fleet was last
    /// online, or since this sync future started, counts one outage. Returns whether the fleet
    /// is offline because of it.
    pub(super) fn failed(&mut self, error: &StoreError) -> bool {
        if !error.is_store_wide() {
            #[cfg(feature = "tracing")]
            tracing::warn!(target: "protego_breaker::fleet", %error, "fleet store error");
            return false;
        }
        self.changes = None;
        self.resync = true;
        self.inner.set_online(false);
        self.inner.set_last_error(Some(error.clone()));
        self.tick = self.inner.config.sleeper.sleep(self.backoff.next_delay());
        self.retry_set = true;
        #[cfg(feature = "tracing")]
        if self.in_outage {
            tracing::debug!(target: "protego_breaker::fleet", %error, "fleet store still away");
        }
        if !self.in_outage {
            self.in_outage = true;
            self.inner.outages.fetch_add(1, Ordering::Relaxed);
            #[cfg(feature = "tracing")]
            if let StoreError::InTransition { op, node, reply } = error {
                tracing::warn!(
                    target: "protego_breaker::fleet",
                    op,
                    node = %node,
                    reply = %reply,
                    "fleet store in transition (a failover or a slot migration): breakers are local until it is back"
                );
            } else {
                tracing::warn!(
                    target: "protego_breaker::fleet",
                    %error,
                    "fleet store unreachable or refusing: breakers are local until it is back"
                );
            }
        }
        true
    }

    /// Every sync interval (and, while the store is away, on the [`Backoff`] schedule):
    /// subscribe if not subscribed, read every breaker, and after an outage act on what
    /// waited for the store; then the fleet is shared.
    async fn sync_all(&mut self) {
        self.tracked.retain(|m| m.slot.member.strong_count() > 0);
        if self.changes.is_none() {
            match bounded(&self.inner, self.inner.store.subscribe()).await {
                Ok(changes) => self.changes = Some(changes),
                Err(e) => {
                    if self.failed(&e) {
                        return;
                    }
                }
            }
        }
        let recovering = self.resync;
        // Recovering, the reads start at the breaker whose read failed last: while that part
        // of the store (a cluster's slot range) stays away, an attempt makes two operations.
        let (n, first) = (self.tracked.len(), self.failed_read);
        for k in 0..n {
            let i = if recovering { (first + k) % n } else { k };
            if recovering {
                // Read first, adopt, then act: whatever this replica knew may be stale.
                self.back(i);
            }
            if self.read(i).await.is_err() {
                self.failed_read = i;
                return; // the store went away: try again on the backoff
            }
        }
        if recovering {
            self.resync = false;
            self.in_outage = false;
            self.inner.set_last_error(None);
            self.backoff.reset();
            if !self.inner.set_online(true) {
                #[cfg(feature = "tracing")]
                tracing::info!(target: "protego_breaker::fleet", "fleet store reachable: breakers share their state");
            }
        }
        for i in 0..self.tracked.len() {
            if !self.inner.is_online() {
                return;
            }
            if let Some(manual) = self.tracked[i].pending_manual.take() {
                self.manual(i, manual).await;
            }
            if self.tracked[i].pending_trip {
                self.publish_trip(i).await;
            }
            self.retry_lease(i).await;
            // A share changed while the store was away (or a queued one was lost): send it.
            self.send_failures(i).await;
        }
        if recovering {
            // What the breakers queued until now was decided offline, or while the above ran:
            // done before the fleet says it is shared.
            let (commands, joined) = {
                let mut queue = self.inner.queue();
                (
                    queue.commands.drain(..).collect(),
                    std::mem::take(&mut queue.joined),
                )
            };
            self.work(commands, joined).await;
        }
        if self.inner.is_online() {
            self.inner.set_shared();
        }
    }

    /// Reads breaker `i` and adopts what the store holds. `Err` when the store is away.
    async fn read(&mut self, i: usize) -> Result<(), Away> {
        let name = Arc::clone(&self.tracked[i].slot.name);
        match bounded(&self.inner, self.inner.store.read(&name)).await {
            Ok(state) => {
                self.reconcile(i, state, false);
                Ok(())
            }
            Err(e) if self.failed(&e) => Err(Away),
            Err(_) => Ok(()), // this breaker's keys hold garbage: it stays as it is
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        self.inner.set_online(false);
        let mut queue = self.inner.queue();
        self.inner.set_running(false);
        queue.commands.clear();
        for m in self.tracked.drain(..) {
            m.slot.budget.store(0, Ordering::Release);
            m.slot.fleet_round.store(false, Ordering::Release);
            m.slot.want.store(false, Ordering::Release);
            m.slot.failures_changed.store(false, Ordering::Release);
            queue.joined.push(m.slot);
        }
    }
}
