//! The sync future behind [`Fleet::run`](crate::fleet::Fleet::run): one loop that waits for
//! work (commands from the breakers, pushed changes, the sync tick) and does it, one store
//! operation at a time, each bounded by the op timeout.
//!
//! Rules it keeps:
//! - the store is only ever read or written here, never on a call's path;
//! - a state the store holds is adopted when its epoch is new to this replica (greater, or 0
//!   after the store lost the name: Closed);
//! - any operation that finds the store away marks the fleet offline (breakers go local); the
//!   next attempt, on a short jittered backoff of its own (`backoff.rs`), reads every breaker
//!   first, adopts, and only then acts on what happened meanwhile (a trip still to publish, a
//!   manual state); after that the fleet is shared again.
//!
//! Where each part lives:
//! - `run.rs`: the loop, its events, going offline and the resync;
//! - `backoff.rs`: how soon a fleet offline asks the store again;
//! - `tracked.rs`: what the sync future keeps per breaker;
//! - `reconcile.rs`: adopting what the store holds;
//! - `command.rs`: what each breaker command leads to;
//! - `trip.rs`, `failures.rs`, `manual.rs`, `leases.rs`: one per kind of store write.

mod backoff;
mod command;
mod failures;
mod leases;
mod manual;
mod reconcile;
mod run;
#[cfg(test)]
mod tests;
mod tracked;
mod trip;

pub(crate) use run::Run;
