//! Optional integrations, each behind its feature. The core depends on none of them.

#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "serde")]
pub mod serde;
#[cfg(feature = "tower")]
pub mod tower;
