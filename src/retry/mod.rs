//! Retries that cannot become a retry storm: a [`Budget`] pays for them, a [`RetryPolicy`]
//! spaces them, and they go through the breaker, so none goes into an open circuit.
//!
//! Three layers that each retry three times send the bottom one up to 64 times the load; in
//! the metastable failures studied by Bronson et al. (`HotOS` 2021) and Huang et al. (`OSDI` 2022)
//! retries are the most common effect that keeps a system down after its trigger has gone. A
//! breaker alone cuts retries only once it trips. Here every retry is paid from a budget shared
//! by all the calls to a dependency, and coupled to its breaker:
//!
//! - [`TpsBudget`]: retries at most `retry_percent` % of recent requests (tower's and
//!   Finagle's semantics: ttl 10 s, at least 10 per second, 20 %);
//! - [`TokenBudget`]: gRPC's retry throttling (gRFC A6: 10 tokens, ratio 0.1, retries only
//!   while more than half are left);
//! - never into an open breaker or a full half-open round; never sooner than a rejection's
//!   `retry_after`; a rejection is not a failure of the dependency; the breaker's
//!   [`Classify`](crate::call::Classify) decides what is a failure, for the breaker and the
//!   budget alike.
//!
//! The retry waits on a [`Sleeper`](crate::sleep::Sleeper) you pass in (`TokioSleeper` with
//! feature `tokio`, `AsyncIoSleeper` with `async-io`): the library sets no timer of its own.
//! The retried call is [`RetryExt::retry`] on a closure that makes the call's future, or (feature
//! `tower`) `integrations::tower::RetryLayer`. For the client-side
//! throttling of the SRE book, see [`throttle`](crate::throttle).
//!
//! ```
//! use std::sync::Arc;
//! use protego_breaker::retry::{Retrier, RetryExt, RetryPolicy, TpsBudget};
//! use protego_breaker::{Registry, sleep::Sleep};
//!
//! # async fn fetch_quote() -> Result<u32, std::io::Error> { Ok(7) }
//! # let sleeper = |_: std::time::Duration| -> Sleep { Box::pin(std::future::ready(())) };
//! let registry = Registry::new();
//! let retrier = Retrier::new(RetryPolicy::default(), Arc::new(TpsBudget::default()), Arc::new(sleeper));
//! # futures::executor::block_on(async {
//! let quote = fetch_quote.retry(&retrier, registry.handle("quotes")).await;
//! assert_eq!(quote.unwrap(), 7);
//! # });
//! ```

mod budget;
mod ext;
mod future;
mod policy;
mod retrier;
mod tokens;
mod tps;

pub use budget::Budget;
pub use ext::{MakeAttempt, RetryExt};
pub use future::Retry;
pub use policy::{RetryPolicy, RetryPolicyBuilder};
pub use retrier::Retrier;
pub use tokens::TokenBudget;
pub use tps::{TpsBudget, TpsBudgetBuilder};
