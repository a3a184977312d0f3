//! Optional integrations, each behind its feature. The core depends on none of them.
//!
//! They live here rather than at the crate root so that `use protego_breaker::*` never shadows
//! the crates they integrate with (`tower`, `http`, `tonic`, `metrics`, `opentelemetry`, `reqwest`, `serde`).
//!
//! | module | feature | what it gives |
//! | --- | --- | --- |
//! | `tower` | `tower` | a tower `Layer`/`Service` around any service |
//! | `balance` | `balance` | a breaker per endpoint of a balanced pool, with gRFC A50 outlier detection |
//! | `http` | `http` | HTTP classification (5xx = failure) and 503 + `Retry-After` rejections |
//! | `tonic` | `tonic` | gRPC status classification, `UNAVAILABLE` + `grpc-retry-pushback-ms` rejections, a layer for tonic clients |
//! | `reqwest` | `reqwest` | `reqwest-middleware` middleware, one breaker per host |
//! | `metrics` | `metrics` | export through the `metrics` facade |
//! | `opentelemetry` | `opentelemetry` | the same instruments through the OpenTelemetry metrics API |
//! | `serde` | `serde` | configs from files |
//! | `admin` | `admin` | a JSON admin view and operator actions as a tower service |
//! | (none) | `tracing` | `tracing` events for every transition and rejection |

#[cfg(feature = "admin")]
pub mod admin;
#[cfg(feature = "balance")]
pub mod balance;
#[cfg(any(
    feature = "balance",
    feature = "metrics",
    feature = "opentelemetry",
    feature = "serde"
))]
mod endpoint_labels;
#[cfg(feature = "http")]
pub mod http;
#[cfg(any(feature = "metrics", feature = "opentelemetry", feature = "serde"))]
mod labels;
#[cfg(feature = "metrics")]
pub mod metrics;
#[cfg(feature = "opentelemetry")]
pub mod opentelemetry;
#[cfg(feature = "reqwest")]
pub mod reqwest;
#[cfg(feature = "serde")]
pub mod serde;
#[cfg(feature = "serde")]
mod snapshot;
#[cfg(feature = "tonic")]
pub mod tonic;
#[cfg(feature = "tower")]
pub mod tower;
#[cfg(feature = "tracing")]
pub(crate) mod tracing;
