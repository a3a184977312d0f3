//! What ties one breaker to its fleet: the breaker side ([`FleetLink`], the machine's `Link`) and
//! the fleet side ([`Member`], a breaker seen without its clock type).
//!
//! The link never waits and never does I/O: it queues a [`Command`] for the sync future and
//! reads two atomics. All store traffic happens in [`Fleet::run`](crate::fleet::Fleet::run).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::breaker::Breaker;
use crate::clock::Clock;
use crate::config::saturating_nanos;
use crate::fleet::handle::Inner;
use crate::machine::link::Link;
use crate::machine::open_period::Period;
use crate::machine::outcome::Outcome;
use crate::machine::reason::Reason;
use crate::machine::state::State;

/// What a breaker tells the sync future.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command {
    /// The breaker changed state by itself (its policy or a manual change).
    Transitioned {
        from: State,
        to: State,
        reason: Reason,
    },
    /// A half-open call found no trial lease left: get one if the fleet has one to give.
    NeedLeases,
    /// A trial of the current round ended.
    TrialFinished(Outcome),
    /// The closed consecutive-failure count changed: send the store the current one.
    Failures,
}

/// The part of a breaker's sync state both sides read: the breaker on its call path (atomics
/// only), the sync future when it acts.
pub(crate) struct Slot {
    pub(crate) name: Arc<str>,
    pub(crate) member: Weak<dyn Member>,
    /// Trial leases granted to this replica in the current round, minus cancelled trials.
    pub(crate) budget: AtomicU32,
    /// The fleet holds the round (the store is open or half-open and this replica follows it):
    /// half-open admits only what the leases allow. Cleared for a replica that is open on its
    /// own (a trip below the quorum, or while the store was away).
    pub(crate) fleet_round: AtomicBool,
    /// A call wanted a trial lease; set by the breaker, cleared by the sync future.
    pub(crate) want: AtomicBool,
    /// The closed failure count changed since the sync future last sent it: set by the
    /// breaker (queuing one [`Command::Failures`]), cleared by the sync future before it
    /// reads the count. Coalesces a burst of failures into one write of the latest count.
    pub(crate) failures_changed: AtomicBool,
}

/// The `Link` a fleet attaches to each breaker it shares.
pub(crate) struct FleetLink {
    pub(crate) slot: Arc<Slot>,
    pub(crate) fleet: Arc<Inner>,
}

impl Link for FleetLink {
    fn transitioned(&self, from: State, to: State, reason: Reason) {
        self.fleet
            .push(&self.slot, Command::Transitioned { from, to, reason });
    }

    fn trial_budget(&self) -> Option<u32> {
        if !self.fleet.is_online() || !self.slot.fleet_round.load(Ordering::Acquire) {
            return None;
        }
        Some(self.slot.budget.load(Ordering::Acquire))
    }

    fn trial_wanted(&self) {
        if !self.slot.want.swap(true, Ordering::AcqRel) {
            self.fleet.push(&self.slot, Command::NeedLeases);
        }
    }

    fn trial_finished(&self, outcome: Outcome) {
        if self.fleet.is_online() && self.slot.fleet_round.load(Ordering::Acquire) {
            self.fleet.push(&self.slot, Command::TrialFinished(outcome));
        }
    }

    fn failures_changed(&self) {
        if !self.fleet.config.fleet_wide_failures
            || self.slot.failures_changed.load(Ordering::Relaxed)
        {
            return;
        }
        if !self.slot.failures_changed.swap(true, Ordering::AcqRel) {
            self.fleet.push(&self.slot, Command::Failures);
        }
    }

    fn is_online(&self) -> bool {
        self.fleet.is_shared()
    }
}

/// A shared breaker as the sync future sees it, whatever its clock.
pub(crate) trait Member: Send + Sync {
    fn adopt(&self, state: State, open_remaining: Duration) -> bool;
    fn half_open_retries(&self) -> u32;
    fn max_half_open(&self) -> Duration;
    fn open_left(&self) -> Option<Duration>;
    fn open_length(&self, reopens: u32) -> Duration;
    fn closed_failures(&self) -> Option<(u32, u32)>;
}

impl<C: Clock + Send + Sync + 'static> Member for Breaker<C> {
    /// Takes the state the fleet holds: `state` (for Open, with `open_remaining` left of its
    /// period, turned into a deadline on this breaker's clock). A change of state, or of an open
    /// period's end, is a transition with [`Reason::Fleet`]; adopting the state the breaker is
    /// already in changes nothing, except that adopting half-open always starts a fresh round
    /// (the fleet adopts it only for a new fleet round: trials of the old one count for
    /// nothing). Returns whether it changed anything.
    fn adopt(&self, state: State, open_remaining: Duration) -> bool {
        let until = (state == State::Open).then(|| {
            saturating_nanos(self.clock().now()).saturating_add(saturating_nanos(open_remaining))
        });
        let always = state == State::HalfOpen;
        self.set_state(state, until, Reason::Fleet, always)
            .is_some()
    }

    fn half_open_retries(&self) -> u32 {
        self.config().half_open_retries()
    }

    /// How long a half-open round may go undecided before this breaker replaces it
    /// (`max_half_open_duration`, by default `reset_timeout`): the longest a trial lease may
    /// be, so a round replaced here has no lease left in the store.
    fn max_half_open(&self) -> Duration {
        Duration::from_nanos(self.config().max_half_open_nanos())
    }

    /// The time left of this breaker's open period, by its own clock, while it is Open with
    /// time left; `None` in any other state (an open period that has ended turns half-open
    /// here, as on the next call).
    fn open_left(&self) -> Option<Duration> {
        let m = self.metrics();
        if m.state != State::Open {
            return None;
        }
        m.time_until_half_open.filter(|left| !left.is_zero())
    }

    /// The open period this breaker's knobs give after `reopens` reopens (no jitter).
    fn open_length(&self, reopens: u32) -> Duration {
        Duration::from_nanos(Period::of(&self.config()).length(reopens, 0))
    }

    /// The closed consecutive-failure count and `failure_threshold`, or `None` when a
    /// failure-rate window decides (the window trips per replica) or the circuit is not closed.
    fn closed_failures(&self) -> Option<(u32, u32)> {
        // One read of the word, moving nothing (a sync future that only reads must not make
        // an open circuit half-open); the knobs from the config.
        let Some((State::Closed, failures)) = self.counted_failures() else {
            return None;
        };
        let config = self.config();
        if config.window().is_some() {
            return None;
        }
        Some((failures, config.failure_threshold()))
    }
}
