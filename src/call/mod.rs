//! The call layer: how a future or a caller goes through a breaker — the [`CircuitBreaker`]
//! handle trait, the [`Protected`] future, [`Permit`]s, and [`Classify`] for outcomes.

pub(crate) mod circuit_breaker;
pub(crate) mod classify;
pub(crate) mod permit;
pub(crate) mod protect;
pub(crate) mod protected;
