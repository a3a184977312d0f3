//! The state machine's one connection to shared state across replicas: a [`Link`] that a fleet
//! (the `fleet` module) attaches to a breaker. Without one (the default) nothing here runs.
//!
//! The machine stays synchronous and never waits on the link: it tells the link what happened
//! (a transition, a trial's end, a change of the closed failure count) and asks it one question (how many trials this replica may run
//! in the current half-open round). All store I/O happens in the fleet's own future.

use crate::machine::outcome::Outcome;
use crate::machine::reason::Reason;
use crate::machine::state::State;

/// What a breaker tells its fleet, and asks of it. Every method is called outside the
/// breaker's locks and must not block.
pub(crate) trait Link: Send + Sync {
    /// The breaker changed state by itself (its own policy, or a manual change). Not called
    /// for changes the fleet asked for ([`Reason::Fleet`]).
    fn transitioned(&self, from: State, to: State, reason: Reason);

    /// While the fleet is reachable: how many trials this replica may have taken in the
    /// current half-open round (trial leases it holds, plus those used by successes), and the
    /// round is decided by the fleet, not by local counts. `None` while the store is away: the
    /// breaker follows its local rules.
    fn trial_budget(&self) -> Option<u32>;

    /// A half-open call was refused because this replica holds no unused trial lease (the
    /// budget, not `half_open_retries`, was the limit): the fleet may get one more.
    fn trial_wanted(&self);

    /// A trial of the current half-open round ended with `outcome` (`Ignored` for a
    /// cancellation).
    fn trial_finished(&self, outcome: Outcome);

    /// The closed state's consecutive-failure count changed: a failure below the threshold,
    /// or a success that reset a non-zero count (never the success that finds none). The
    /// fleet reads the count itself when it writes it, so only the latest value travels.
    /// Not called while a failure-rate window decides.
    fn failures_changed(&self);

    /// Whether the fleet's store is reachable now (for the metrics snapshot).
    fn is_online(&self) -> bool;
}
