//! The store trait: narrow atomic operations, each one round trip.

use std::pin::Pin;
use std::time::Duration;

use futures_core::Stream;

use crate::fleet::{
    Change, Epoch, Failures, FailuresResult, LeaseId, LeaseResult, Manual, ReportResult,
    SharedState, StoreError, TrialOutcome, Trip, TripResult,
};

/// Pushed changes. The stream ends when the subscription is lost: subscribe again (and read,
/// since messages may have been missed). An item that cannot be read is an `Err`; the stream
/// goes on after it.
pub type ChangeStream = Pin<Box<dyn Stream<Item = Result<Change, StoreError>> + Send>>;

/// Where a fleet keeps its shared breaker state. Every operation is atomic in the store, and
/// operations never wait on each other. Callers bound each with a timeout
/// ([`with_timeout`](crate::fleet::with_timeout)); a store may give up earlier, never later.
///
/// Operations may have taken effect even when the caller timed out; each is safe to repeat or
/// to abandon (a CAS on the epoch rejects a repeat, an abandoned lease expires).
#[async_trait::async_trait]
pub trait Store: Send + Sync {
    /// The breaker's state; a name the store does not hold is [`SharedState::ABSENT`].
    /// An Open state whose period has ended on the store's time is returned as half-open (and
    /// stored so: a new epoch).
    async fn read(&self, name: &str) -> Result<SharedState, StoreError>;

    /// Opens the circuit fleet-wide iff it is Closed in `trip.expected_epoch` (and the quorum
    /// is reached); otherwise records the vote or changes nothing.
    async fn trip(&self, name: &str, trip: Trip<'_>) -> Result<TripResult, StoreError>;

    /// Stores this replica's share of the fleet-wide failure count (replacing its last one;
    /// 0 removes it) iff the breaker is Closed in `failures.expected_epoch`, drops shares
    /// older than their window, and opens the circuit iff the live shares sum to
    /// `failures.threshold` and the quorum holds: all one atomic step.
    async fn count_failures(
        &self,
        name: &str,
        failures: Failures<'_>,
    ) -> Result<FailuresResult, StoreError>;

    /// A trial lease of length `lease`, granted only while the breaker is half-open in `epoch`
    /// (or `epoch` is the Open one whose period just ended) and fewer than `max_trials` leases
    /// are live or trials already succeeded.
    async fn acquire_lease(
        &self,
        name: &str,
        epoch: Epoch,
        lease: Duration,
        max_trials: u32,
    ) -> Result<LeaseResult, StoreError>;

    /// Reports a leased trial. Success counts (`max_trials` successes close: new epoch);
    /// failure reopens for `next_open` (new epoch, reopens + 1); cancelled frees the lease. A
    /// stale epoch or an unknown or expired lease changes nothing.
    async fn report(
        &self,
        name: &str,
        epoch: Epoch,
        lease: LeaseId,
        outcome: TrialOutcome,
        max_trials: u32,
        next_open: Duration,
    ) -> Result<ReportResult, StoreError>;

    /// A manual state for the whole fleet (always a new epoch).
    async fn set_manual(&self, name: &str, manual: Manual) -> Result<SharedState, StoreError>;

    /// Subscribes to the changes of every breaker under this store's key prefix.
    async fn subscribe(&self) -> Result<ChangeStream, StoreError>;
}
