//! The sync future behind [`Fleet::run`](crate::fleet::Fleet::run): one loop that waits for
//! work (commands from the breakers, pushed changes, the sync tick) and does it, one store
//! operation at a time, each bounded by the op timeout.
//!
//! Rules it keeps:
//! - the store is only ever read or written here, never on a call's path;
//! - a state the store holds is adopted when its epoch is new to this replica (greater, or 0
//!   after the store lost the name: Closed);
//! - any operation that finds the store away marks the fleet offline (breakers go local); the
//!   next tick that reaches it reads every breaker first, adopts, and only then acts on what
//!   happened meanwhile (a trip still to publish, a manual state).

use std::future::{poll_fn, Future};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use crate::call::classify::Outcome;
use crate::fleet::handle::Inner;
use crate::fleet::link::{Command, Slot};
use crate::fleet::{
    with_timeout, Change, ChangeStream, Epoch, Failures, FailuresOutcome, LeaseId, LeaseOutcome,
    Manual, SharedState, Sleep, StateKind, StoreError, TrialOutcome, Trip, TripOutcome,
};
use crate::machine::state::State;
use crate::observe::events::Reason;

/// One shared breaker, as the sync future tracks it.
struct Member {
    slot: Arc<Slot>,
    /// The last store state this replica took in (adopted, or noted from a reply).
    known: Option<SharedState>,
    /// Open by its own policy while the fleet is not (a trip below the quorum, or made while
    /// the store was away): the fleet's Closed is not adopted over it.
    own_open: bool,
    /// An own trip the store has not heard of yet.
    pending_trip: bool,
    /// A manual state made while the store was away.
    pending_manual: Option<Manual>,
    /// Trial leases held in the current fleet round, and that round's epoch.
    leases: Vec<LeaseId>,
    lease_epoch: Epoch,
    /// The store said every trial slot is taken: ask again on the next push or tick.
    full: bool,
    /// This replica's share of the fleet-wide failure count as the store holds it in the
    /// `known` epoch (0 after an epoch change: the store clears the shares with it).
    reported: u32,
}

impl Member {
    fn new(slot: Arc<Slot>) -> Self {
        // Whatever was queued before this sync future is caught up on its first tick.
        slot.failures_changed.store(false, Ordering::Release);
        Member {
            slot,
            known: None,
            own_open: false,
            pending_trip: false,
            pending_manual: None,
            leases: Vec::new(),
            lease_epoch: Epoch(0),
            full: false,
            reported: 0,
        }
    }

    fn reset_round(&mut self) {
        self.leases.clear();
        self.full = false;
        self.slot.budget.store(0, Ordering::Release);
        // The next call that finds no lease asks again.
        self.slot.want.store(false, Ordering::Release);
    }
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

/// The sync future's state. Dropping it makes every breaker local again.
pub(crate) struct Run {
    inner: Arc<Inner>,
    members: Vec<Member>,
    changes: Option<ChangeStream>,
    tick: Sleep,
    /// Every breaker must be read again before the fleet acts (start, or the store came back).
    resync: bool,
}

/// Runs one store operation within the op timeout.
async fn bounded<T>(
    inner: &Inner,
    op: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let limit = inner.config.op_timeout;
    with_timeout(op, inner.config.sleeper.sleep(limit), limit).await
}

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
    /// The sync future's state, or `None` if another sync future of this fleet runs.
    pub(crate) fn start(inner: Arc<Inner>) -> Option<Self> {
        if inner.set_running(true) {
            return None;
        }
        let joined = std::mem::take(&mut inner.queue().joined);
        let tick = inner.config.sleeper.sleep(Duration::ZERO);
        Some(Run {
            members: joined.into_iter().map(Member::new).collect(),
            inner,
            changes: None,
            tick,
            resync: true,
        })
    }

    pub(crate) async fn run(mut self) {
        loop {
            match self.next_event().await {
                Event::Work(commands, joined) => {
                    for slot in joined {
                        self.members.push(Member::new(slot));
                        if self.inner.is_online() {
                            let i = self.members.len() - 1;
                            let _ = self.read(i).await;
                        }
                    }
                    for (slot, command) in commands {
                        self.command(&slot, command).await;
                    }
                }
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
                    self.tick = self
                        .inner
                        .config
                        .sleeper
                        .sleep(self.inner.config.sync_interval);
                    self.sync_all().await;
                }
            }
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

    /// A store error: an unavailable store makes the fleet offline. Returns whether it did.
    fn failed(&mut self, error: &StoreError) -> bool {
        if !error.is_unavailable() {
            #[cfg(feature = "tracing")]
            tracing::warn!(target: "protego_breaker::fleet", %error, "fleet store error");
            return false;
        }
        self.changes = None;
        self.resync = true;
        if self.inner.set_online(false) {
            self.inner.outages.fetch_add(1, Ordering::Relaxed);
            #[cfg(feature = "tracing")]
            tracing::warn!(
                target: "protego_breaker::fleet",
                %error,
                "fleet store unreachable: breakers are local until it is back"
            );
        }
        true
    }

    /// Every sync interval: subscribe if not subscribed, read every breaker, and after an
    /// outage act on what waited for the store.
    async fn sync_all(&mut self) {
        self.members.retain(|m| m.slot.member.strong_count() > 0);
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
        for i in 0..self.members.len() {
            if recovering {
                // Read first, adopt, then act: whatever this replica knew may be stale.
                self.members[i].known = None;
                self.members[i].reset_round();
            }
            if self.read(i).await.is_err() {
                return; // the store went away: try again next tick
            }
        }
        if recovering {
            self.resync = false;
            if !self.inner.set_online(true) {
                #[cfg(feature = "tracing")]
                tracing::info!(target: "protego_breaker::fleet", "fleet store reachable: breakers share their state");
            }
        }
        for i in 0..self.members.len() {
            if !self.inner.is_online() {
                return;
            }
            if let Some(manual) = self.members[i].pending_manual.take() {
                self.manual(i, manual).await;
            }
            if self.members[i].pending_trip {
                self.publish_trip(i).await;
            }
            self.retry_lease(i).await;
            // A share changed while the store was away (or a queued one was lost): send it.
            self.send_failures(i).await;
        }
    }

    /// Reads breaker `i` and adopts what the store holds. `Err` when the store is away.
    async fn read(&mut self, i: usize) -> Result<(), Away> {
        let name = Arc::clone(&self.members[i].slot.name);
        match bounded(&self.inner, self.inner.store.read(&name)).await {
            Ok(state) => {
                self.reconcile(i, state, false);
                Ok(())
            }
            Err(e) if self.failed(&e) => Err(Away),
            Err(_) => Ok(()), // this breaker's keys hold garbage: it stays as it is
        }
    }

    /// After a push or a tick: a call that found every slot taken may find one now.
    async fn retry_lease(&mut self, i: usize) {
        let m = &mut self.members[i];
        if m.slot.want.load(Ordering::Acquire) {
            m.full = false;
            self.acquire(i).await;
        }
    }

    async fn pushed(&mut self, change: &Change) {
        for i in 0..self.members.len() {
            if *self.members[i].slot.name != *change.name {
                continue;
            }
            let reopens = match (change.kind, self.members[i].known) {
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
    fn reconcile(&mut self, i: usize, state: SharedState, force: bool) {
        let m = &mut self.members[i];
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
            m.reported = 0; // a new epoch starts with no failure shares
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

    async fn command(&mut self, slot: &Arc<Slot>, command: Command) {
        let Some(i) = self.members.iter().position(|m| Arc::ptr_eq(&m.slot, slot)) else {
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
                    // A hung round replaced: its leases expire in the store on their own.
                    self.members[i].reset_round();
                }
                Reason::TrialsSucceeded if !slot.fleet_round.load(Ordering::Acquire) => {
                    let m = &mut self.members[i];
                    m.own_open = false;
                    m.pending_trip = false;
                }
                Reason::ForcedOpen => self.manual_or_later(i, Manual::ForceOpen, online).await,
                Reason::Disabled => self.manual_or_later(i, Manual::Disable, online).await,
                Reason::Reset => {
                    let m = &mut self.members[i];
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

    async fn own_trip(&mut self, i: usize, online: bool) {
        let m = &mut self.members[i];
        m.own_open = true;
        m.pending_trip = true;
        m.slot.fleet_round.store(false, Ordering::Release);
        if online {
            self.publish_trip(i).await;
        }
    }

    async fn manual_or_later(&mut self, i: usize, manual: Manual, online: bool) {
        if online {
            self.manual(i, manual).await;
        } else {
            self.members[i].pending_manual = Some(manual);
        }
    }

    async fn manual(&mut self, i: usize, manual: Manual) {
        let name = Arc::clone(&self.members[i].slot.name);
        match bounded(&self.inner, self.inner.store.set_manual(&name, manual)).await {
            Ok(state) => self.reconcile(i, state, false),
            Err(e) => {
                if self.failed(&e) {
                    self.members[i].pending_manual = Some(manual);
                }
            }
        }
    }

    /// Tells the store of an own trip: compare-and-set from the Closed epoch this replica
    /// knows (once more with the store's, if the store is still Closed in a newer one).
    async fn publish_trip(&mut self, i: usize) {
        let Some(member) = self.members[i].slot.member.upgrade() else {
            return;
        };
        let open_for = member.open_length(0);
        drop(member);
        self.members[i].pending_trip = false;
        let name = Arc::clone(&self.members[i].slot.name);
        let mut expected = self.members[i].known.map_or(Epoch(0), |k| k.epoch);
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
                        self.members[i].pending_trip = true;
                    }
                    return;
                }
            };
            match r.outcome {
                TripOutcome::Voted { .. } => self.members[i].known = Some(r.state),
                TripOutcome::Stale if r.state.kind == StateKind::Closed => {
                    if attempt == 0 {
                        expected = r.state.epoch;
                        continue;
                    }
                    self.members[i].known = Some(r.state);
                }
                // Opened here, or by another replica first: the fleet's Open.
                TripOutcome::Opened | TripOutcome::Stale => {
                    self.members[i].own_open = false;
                    self.reconcile(i, r.state, false);
                }
            }
            return;
        }
    }

    /// Sends the store this replica's share of the fleet-wide failure count if it changed
    /// since the store last took it. The count is read from the breaker now, so a burst of
    /// failures makes one write of the latest count. The store opens the circuit when the
    /// shares reach the threshold; a stale epoch changes nothing (retried once with the
    /// store's, if it is Closed in a newer one).
    async fn send_failures(&mut self, i: usize) {
        if !self.inner.config.fleet_wide_failures {
            return;
        }
        // Cleared before the count is read: a change after the read queues a new command.
        self.members[i]
            .slot
            .failures_changed
            .store(false, Ordering::Release);
        for attempt in 0..2 {
            let m = &self.members[i];
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
            if count == m.reported {
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
                    let m = &mut self.members[i];
                    m.reported = count;
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

    /// A call wanted a trial: one more lease, if the fleet's round has a slot.
    async fn acquire(&mut self, i: usize) {
        let m = &self.members[i];
        if m.full {
            return; // asked again on the next push or tick
        }
        let Some(member) = m.slot.member.upgrade() else {
            return;
        };
        let retries = member.half_open_retries();
        drop(member);
        if !m.slot.fleet_round.load(Ordering::Acquire)
            || m.slot.budget.load(Ordering::Acquire) >= retries
        {
            m.slot.want.store(false, Ordering::Release);
            return;
        }
        let name = Arc::clone(&m.slot.name);
        let epoch = m.known.map_or(Epoch(0), |k| k.epoch);
        let lease = self.inner.config.lease;
        let result = bounded(
            &self.inner,
            self.inner.store.acquire_lease(&name, epoch, lease, retries),
        )
        .await;
        let r = match result {
            Ok(r) => r,
            Err(e) => {
                self.members[i].slot.want.store(false, Ordering::Release);
                self.failed(&e);
                return;
            }
        };
        let m = &mut self.members[i];
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
    async fn report(&mut self, i: usize, outcome: Outcome) {
        let m = &mut self.members[i];
        let Some(lease) = m.leases.pop() else {
            return; // not a leased trial (admitted while the store was away)
        };
        let Some(member) = m.slot.member.upgrade() else {
            return;
        };
        let retries = member.half_open_retries();
        let reopens = m.known.map_or(0, |k| k.reopens).saturating_add(1);
        let (outcome, next_open) = match outcome {
            Outcome::Success => (TrialOutcome::Success, Duration::ZERO),
            Outcome::Failure => (TrialOutcome::Failure, member.open_length(reopens)),
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

impl Drop for Run {
    fn drop(&mut self) {
        self.inner.set_online(false);
        let mut queue = self.inner.queue();
        self.inner.set_running(false);
        queue.commands.clear();
        for m in self.members.drain(..) {
            m.slot.budget.store(0, Ordering::Release);
            m.slot.fleet_round.store(false, Ordering::Release);
            m.slot.want.store(false, Ordering::Release);
            m.slot.failures_changed.store(false, Ordering::Release);
            queue.joined.push(m.slot);
        }
    }
}
