//! [`TokenBudget`]: gRPC's retry throttling (gRFC A6).

use std::fmt;
use std::time::Duration;

use crate::error::ConfigError;
use crate::machine::outcome::Outcome;
use crate::retry::budget::Budget;
use crate::sync::{AtomicU64, Ordering};

/// Thousandths of a token per token.
const MILLI: u64 = 1000;

/// gRPC's retry throttling (gRFC A6): a bucket of `max_tokens` tokens, full at the start; every
/// failed attempt costs one token, every successful one earns `token_ratio`, and retries go out
/// only while more than half the tokens are left. Defaults: 10 tokens, ratio 0.1.
///
/// Unlike [`TpsBudget`](crate::retry::TpsBudget) it needs no time: it looks at how the
/// dependency answers, so a dependency that fails one attempt in ten or more soon gets no
/// retries at all. Tokens are kept in thousandths (A6 keeps three decimals) in one atomic.
///
/// ```
/// use std::time::Duration;
/// use protego_breaker::call::Outcome;
/// use protego_breaker::retry::{Budget, TokenBudget};
///
/// let budget = TokenBudget::default(); // 10 tokens, retries while more than 5
/// for _ in 0..5 {
///     budget.record(Outcome::Failure);
/// }
/// assert!(!budget.withdraw(Duration::ZERO)); // 5 left: no retry
/// budget.record(Outcome::Success); // 5.1
/// assert!(budget.withdraw(Duration::ZERO));
/// ```
pub struct TokenBudget {
    tokens: AtomicU64,
    max: u64,
    ratio: u64,
}

impl TokenBudget {
    /// A bucket of `max_tokens` (more than 0, at most 1000) earning `token_ratio` per success
    /// (more than 0, at most `max_tokens`; thousandths count).
    ///
    /// # Errors
    /// [`ConfigError`] naming `max_tokens` or `token_ratio`.
    ///
    /// ```
    /// use protego_breaker::retry::TokenBudget;
    ///
    /// assert!(TokenBudget::new(100.0, 0.5).is_ok());
    /// assert_eq!(TokenBudget::new(10.0, -0.1).unwrap_err().knob(), "token_ratio");
    /// assert_eq!(TokenBudget::new(0.0, 0.1).unwrap_err().knob(), "max_tokens");
    /// ```
    pub fn new(max_tokens: f64, token_ratio: f64) -> Result<Self, ConfigError> {
        if !(max_tokens > 0.0 && max_tokens <= 1000.0) {
            return Err(ConfigError::new(
                "max_tokens",
                "be more than 0 and at most 1000",
                max_tokens,
            ));
        }
        if !(token_ratio > 0.0 && token_ratio <= max_tokens) {
            return Err(ConfigError::new(
                "token_ratio",
                "be more than 0 and at most max_tokens",
                token_ratio,
            ));
        }
        // In range: checked above.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let (max, ratio) = (
            (max_tokens * 1000.0).round() as u64,
            ((token_ratio * 1000.0).round() as u64).max(1),
        );
        Ok(TokenBudget {
            tokens: AtomicU64::new(max),
            max,
            ratio,
        })
    }

    /// The tokens left.
    ///
    /// ```
    /// use protego_breaker::{call::Outcome, retry::{Budget, TokenBudget}};
    ///
    /// let budget = TokenBudget::default();
    /// budget.record(Outcome::Failure);
    /// assert_eq!(budget.tokens(), 9.0);
    /// ```
    pub fn tokens(&self) -> f64 {
        // Exact: at most 1e6.
        #[allow(clippy::cast_precision_loss)]
        let t = self.tokens.load(Ordering::Acquire) as f64 / 1000.0;
        t
    }
}

impl Default for TokenBudget {
    /// 10 tokens, ratio 0.1 (gRFC A6's example).
    fn default() -> Self {
        TokenBudget {
            tokens: AtomicU64::new(10 * MILLI),
            max: 10 * MILLI,
            ratio: MILLI / 10,
        }
    }
}

impl Budget for TokenBudget {
    #[inline]
    fn deposit(&self, _now: Duration) {}

    #[inline]
    fn withdraw(&self, _now: Duration) -> bool {
        self.tokens.load(Ordering::Acquire) * 2 > self.max
    }

    #[inline]
    fn record(&self, outcome: Outcome) {
        let (max, ratio) = (self.max, self.ratio);
        let step = |t: u64| match outcome {
            Outcome::Success => Some((t + ratio).min(max)),
            Outcome::Failure | Outcome::Overload => Some(t.saturating_sub(MILLI)),
            Outcome::Ignored => None,
        };
        let _ = self
            .tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, step);
    }
}

impl fmt::Debug for TokenBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenBudget")
            .field("tokens", &self.tokens())
            .field("max_tokens", &(self.max / MILLI))
            .finish_non_exhaustive()
    }
}
