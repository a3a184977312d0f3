//! Observation: transition and rejection listeners ([`Transition`], [`Reason`]) and the metrics
//! snapshot ([`Metrics`], [`Totals`], [`Counts`], [`Rate`], [`WindowCounts`]). Fed by the state
//! machine; it decides nothing.
//!
//! ```
//! use protego_breaker::observe::Metrics;
//! use protego_breaker::{Breaker, Config, State};
//!
//! let breaker = Breaker::new(Config::default());
//! let metrics: Metrics = breaker.metrics();
//! assert_eq!(metrics.state, State::Closed);
//! ```

pub(crate) mod events;
pub(crate) mod metrics;
pub(crate) mod tap;

pub use events::{Reason, Transition};
pub use metrics::{Counts, Metrics, Rate, Totals, WindowCounts};
