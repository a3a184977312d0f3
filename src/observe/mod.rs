//! Observation: transition and rejection listeners ([`events`]) and the metrics snapshot
//! ([`metrics`]). Fed by the state machine; it decides nothing.

pub(crate) mod events;
pub(crate) mod metrics;
