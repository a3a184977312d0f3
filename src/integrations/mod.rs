//! Optional integrations, each behind its feature. The core depends on none of them.

#[cfg(feature = "admin")]
pub mod admin;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "metrics")]
pub mod metrics;
#[cfg(feature = "reqwest")]
pub mod reqwest;
#[cfg(feature = "serde")]
pub mod serde;
#[cfg(feature = "serde")]
mod snapshot;
#[cfg(feature = "tower")]
pub mod tower;
