//! The values that cross the [`Store`](crate::fleet::Store) boundary.

use std::fmt;
use std::time::Duration;

/// The kind of a breaker's shared state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StateKind {
    /// Calls are admitted (also: a name the store does not hold).
    Closed,
    /// Calls are rejected until the open period, measured on the store's time, ends.
    Open,
    /// Trials are admitted against leases; see [`Store::acquire_lease`](crate::fleet::Store::acquire_lease).
    HalfOpen,
    /// Manually opened for the whole fleet until reset.
    ForcedOpen,
    /// Manually disabled for the whole fleet: every call admitted, nothing recorded.
    Disabled,
}

impl StateKind {
    /// The name used in the store and in pub/sub messages.
    ///
    /// ```
    /// use protego_breaker::fleet::StateKind;
    /// assert_eq!(StateKind::HalfOpen.as_str(), "half_open");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
            Self::ForcedOpen => "forced_open",
            Self::Disabled => "disabled",
        }
    }

    /// The inverse of [`as_str`](Self::as_str).
    ///
    /// ```
    /// use protego_breaker::fleet::StateKind;
    /// assert_eq!(StateKind::parse("open"), Some(StateKind::Open));
    /// assert_eq!(StateKind::parse("ajar"), None);
    /// ```
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "closed" => Self::Closed,
            "open" => Self::Open,
            "half_open" => Self::HalfOpen,
            "forced_open" => Self::ForcedOpen,
            "disabled" => Self::Disabled,
            _ => return None,
        })
    }
}

impl fmt::Display for StateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A fleet epoch: the shared generation. Every transition makes a new one, greater than all
/// earlier ones (on Redis: `max(epoch + 1, Redis time in ms)`, so epochs also grow across keys
/// expiring or Redis losing its data). `Epoch(0)` is "the store holds nothing for this name".
///
/// ```
/// use protego_breaker::fleet::Epoch;
/// assert!(Epoch(7) > Epoch::default());
/// assert_eq!(Epoch(7).to_string(), "7");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Epoch(pub u64);

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A breaker's state as the store holds it, read atomically.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedState {
    /// The fleet epoch of this state.
    pub epoch: Epoch,
    /// The state kind.
    pub kind: StateKind,
    /// For `Open`: the time left in the open period, measured on the store's clock when the
    /// store answered. Zero otherwise. Turn it into a local deadline on the replica's own clock.
    pub open_remaining: Duration,
    /// Reopens since the circuit last closed (trial failures), for the caller's backoff.
    pub reopens: u32,
    /// Unexpired trial leases (half-open).
    pub trials_in_flight: u32,
    /// Trial successes counted in this half-open epoch.
    pub trial_successes: u32,
}

impl SharedState {
    /// What the store means by a name it does not hold.
    ///
    /// ```
    /// use protego_breaker::fleet::{Epoch, SharedState, StateKind};
    /// assert_eq!((SharedState::ABSENT.epoch, SharedState::ABSENT.kind), (Epoch(0), StateKind::Closed));
    /// ```
    pub const ABSENT: Self = Self {
        epoch: Epoch(0),
        kind: StateKind::Closed,
        open_remaining: Duration::ZERO,
        reopens: 0,
        trials_in_flight: 0,
        trial_successes: 0,
    };
}

/// A replica's trip request.
#[derive(Debug, Clone, Copy)]
pub struct Trip<'a> {
    /// The epoch of the Closed state the replica tripped in (compare-and-set).
    pub expected_epoch: Epoch,
    /// This replica's id (distinct per process; counts as one vote for the quorum).
    pub replica_id: &'a str,
    /// The open period (store time).
    pub open_for: Duration,
    /// Distinct failing replicas needed before the fleet opens (1 = any): replicas that
    /// tripped within `quorum_window`, this one included, and replicas holding a live non-zero
    /// failure share (see [`Failures`]).
    pub quorum: u32,
    /// The quorum window (store time).
    pub quorum_window: Duration,
}

/// What a trip did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TripOutcome {
    /// This trip opened the circuit; `state` is the new Open state.
    Opened,
    /// The vote was recorded; the quorum is not reached. `state` is unchanged.
    Voted {
        /// Distinct replicas that voted within the window, this one included.
        votes: u32,
    },
    /// The expected epoch is not the current one, or the state is not Closed: nothing changed.
    Stale,
}

/// The answer to [`Store::trip`](crate::fleet::Store::trip).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TripResult {
    /// What happened.
    pub outcome: TripOutcome,
    /// The state after the operation.
    pub state: SharedState,
}

/// A replica's share of the fleet-wide failure count: its consecutive failures in the
/// breaker's Closed state. The store keeps one share per replica (the latest), each counted
/// for `window` after it was written; when their sum reaches `threshold` the store opens the
/// circuit in the same atomic step (a compare-and-set on the epoch, like [`Trip`]).
#[derive(Debug, Clone, Copy)]
pub struct Failures<'a> {
    /// The epoch of the Closed state the failures were counted in (compare-and-set).
    pub expected_epoch: Epoch,
    /// This replica's id: the share's key, and one replica toward the quorum while non-zero.
    pub replica_id: &'a str,
    /// This replica's consecutive failures now; 0 (after a success) removes its share.
    pub failures: u32,
    /// The sum of the live shares that opens the circuit (this replica's `failure_threshold`).
    pub threshold: u32,
    /// How long a share counts after it was written (store time): a replica that stopped
    /// reporting (it died, or its calls stopped) drops out.
    pub window: Duration,
    /// The open period if this report opens the circuit (store time).
    pub open_for: Duration,
    /// Distinct failing replicas needed to open (see [`Trip::quorum`]): replicas with a live
    /// non-zero share and replicas that tripped within `quorum_window` count together.
    pub quorum: u32,
    /// The quorum window of the trips counted with the shares (store time).
    pub quorum_window: Duration,
}

/// What a failure report did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailuresOutcome {
    /// The share was stored; the circuit stays Closed. `total` is the sum of the live shares,
    /// this one included (at or above the threshold only when the quorum is short).
    Counted {
        /// The fleet-wide consecutive failures now.
        total: u32,
    },
    /// The sum reached the threshold (and the quorum): this report opened the circuit.
    Opened,
    /// The expected epoch is not the current one, or the state is not Closed: nothing changed.
    Stale,
}

/// The answer to [`Store::count_failures`](crate::fleet::Store::count_failures).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailuresResult {
    /// What happened.
    pub outcome: FailuresOutcome,
    /// The state after the operation.
    pub state: SharedState,
}

/// A trial lease's id, unique per breaker name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LeaseId(pub u64);

/// What a lease request got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseOutcome {
    /// A lease: this replica may admit one trial, and must report it.
    Granted(LeaseId),
    /// Half-open in this epoch, but max trials are in flight or already succeeded.
    Full,
    /// Not half-open in that epoch (still Open on store time, or moved on): see the state.
    Stale,
}

/// The answer to [`Store::acquire_lease`](crate::fleet::Store::acquire_lease).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseResult {
    /// What happened.
    pub outcome: LeaseOutcome,
    /// The state after the operation (its epoch is the one to report with).
    pub state: SharedState,
}

/// A trial's outcome, reported against its lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrialOutcome {
    /// Counts toward closing.
    Success,
    /// Reopens the circuit.
    Failure,
    /// The trial was dropped before it finished (or was ignored): frees the lease only.
    Cancelled,
}

impl TrialOutcome {
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Cancelled => "cancelled",
        }
    }
}

/// The answer to [`Store::report`](crate::fleet::Store::report).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportResult {
    /// False when the report changed nothing (stale epoch, unknown or expired lease).
    pub applied: bool,
    /// The state after the operation.
    pub state: SharedState,
}

/// A manual, fleet-wide state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manual {
    /// Open until reset.
    ForceOpen,
    /// Admit everything until reset.
    Disable,
    /// Closed, counts cleared; also repairs keys holding garbage.
    Reset,
}

impl Manual {
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::ForceOpen => "force_open",
            Self::Disable => "disable",
            Self::Reset => "reset",
        }
    }
}

/// A pushed change: a state-changing operation on some replica made `epoch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The breaker's name.
    pub name: String,
    /// The new epoch.
    pub epoch: Epoch,
    /// The new kind.
    pub kind: StateKind,
    /// For `Open`: the open period left when the change was made (store time).
    pub open_remaining: Duration,
}
