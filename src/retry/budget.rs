//! [`Budget`]: the trait every retry budget implements.

use std::time::Duration;

use crate::machine::outcome::Outcome;

/// Decides whether a retry may go out, from what the calls before it did.
///
/// A [`Retrier`](crate::retry::Retrier) calls [`deposit`](Budget::deposit) once per logical
/// call (its first attempt), [`withdraw`](Budget::withdraw) before every retry the dependency
/// would see, and [`record`](Budget::record) with the outcome of every attempt the breaker
/// admitted, classified as the breaker classified it. A rejection by the breaker is never
/// recorded: it says nothing about the dependency. `now` is the breaker's clock.
///
/// [`TpsBudget`](crate::retry::TpsBudget) (a share of recent requests) and
/// [`TokenBudget`](crate::retry::TokenBudget) (gRPC's retry throttling) are the two the crate
/// ships; a budget of your own is a few atomics too:
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::time::Duration;
/// use protego_breaker::retry::Budget;
///
/// /// At most `left` retries, ever.
/// struct Fixed { left: AtomicU32 }
///
/// impl Budget for Fixed {
///     fn deposit(&self, _now: Duration) {}
///     fn withdraw(&self, _now: Duration) -> bool {
///         self.left.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1)).is_ok()
///     }
/// }
///
/// let budget = Fixed { left: AtomicU32::new(1) };
/// assert!(budget.withdraw(Duration::ZERO));
/// assert!(!budget.withdraw(Duration::ZERO));
/// ```
pub trait Budget: Send + Sync {
    /// A logical call starts (its first attempt).
    fn deposit(&self, now: Duration);

    /// Asks for one retry: `true` spends it, `false` refuses it.
    fn withdraw(&self, now: Duration) -> bool;

    /// An admitted attempt finished with `outcome`. Does nothing unless the budget earns from
    /// outcomes.
    fn record(&self, outcome: Outcome) {
        let _ = outcome;
    }
}
