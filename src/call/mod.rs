//! The call layer: how a future or a caller goes through a breaker — the [`CircuitBreaker`]
//! handle trait, the [`Protected`] future, [`Permit`]s, and [`Classify`] for outcomes.
//!
//! [`CircuitBreaker`] and [`ProtectExt`] are also at the crate root; the rest is here for when
//! you name the future's type, hold a permit or classify results yourself.
//!
//! ```
//! use protego_breaker::call::{Classify, Outcome};
//!
//! /// Timeouts count against the dependency; "not found" answers do not.
//! struct NotFoundIsFine;
//!
//! impl Classify<u32, std::io::Error> for NotFoundIsFine {
//!     fn classify(&self, result: &Result<u32, std::io::Error>) -> Outcome {
//!         match result {
//!             Ok(_) => Outcome::Success,
//!             Err(e) if e.kind() == std::io::ErrorKind::NotFound => Outcome::Ignored,
//!             Err(_) => Outcome::Failure,
//!         }
//!     }
//! }
//! # let _ = NotFoundIsFine;
//! ```

pub(crate) mod circuit_breaker;
pub(crate) mod classify;
pub(crate) mod permit;
pub(crate) mod protect;
pub(crate) mod protected;

pub use circuit_breaker::CircuitBreaker;
pub use classify::{is_timeout, overload_if, Classify, ErrorsAsFailures, Outcome, OverloadIf};
pub use permit::Permit;
pub use protect::ProtectExt;
pub use protected::Protected;
