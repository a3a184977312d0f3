//! [`Retrier`]: a policy, a budget, a sleeper and a random source, shared by every retried
//! call that uses them.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::call::circuit_breaker::CircuitBreaker;
use crate::call::classify::ErrorsAsFailures;
use crate::random::{Random, SplitMix};
use crate::retry::budget::Budget;
use crate::retry::ext::MakeAttempt;
use crate::retry::future::Retry;
use crate::retry::policy::RetryPolicy;
use crate::sleep::Sleeper;

/// What a retried call needs beyond its breaker: the [`RetryPolicy`], the [`Budget`] the
/// retries are paid from, the [`Sleeper`] that waits, and the [`Random`] source of jitter.
/// Cheap to clone (one `Arc`); share one per dependency, so its budget sees all its traffic.
///
/// # How a retried call goes
/// 1. The first attempt deposits in the budget, then asks the breaker (as
///    [`try_acquire`](CircuitBreaker::try_acquire) does) and runs a fresh future from the
///    factory with the permit. Its result is classified as the breaker classifies it, and the
///    outcome goes to the breaker and to the budget.
/// 2. A *failure* is retried if attempts are left and the budget grants a retry; the retry
///    waits the policy's backoff first. A success, an ignored outcome, an
///    [overload](crate::call::Outcome::Overload) (the dependency said it has no room: on the
///    storm simulation retrying timeouts cost 3 to 6 points of goodput), or a failure nobody
///    pays for ends the call with that result.
/// 3. A *rejection* by the breaker never reaches the dependency and never counts as its
///    failure. A call rejected by an open breaker whose `retry_after` is at most the policy's
///    `max_backoff` waits exactly that long (never less) and asks again, if attempts are left
///    and the budget grants it. A call refused by a closed breaker (one that sheds overload,
///    or its adaptive throttle) waits the policy's backoff and asks again on the same terms:
///    in overload a retry waits for admission, and the budget is what limits retries. Any
///    other rejection (a half-open round whose trials are taken, a forced-open circuit, a
///    longer open period) ends the call with [`Error::Rejected`](crate::Error::Rejected). So
///    no retry ever goes into an open breaker.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::time::Duration;
/// use protego_breaker::retry::{Retrier, RetryExt, RetryPolicy, TpsBudget};
/// use protego_breaker::sleep::Sleep;
/// use protego_breaker::{Breaker, Config, ManualClock};
///
/// let clock = ManualClock::new();
/// let time = clock.clone();
/// let sleeper = move |d: Duration| -> Sleep { time.advance(d); Box::pin(std::future::ready(())) };
/// let retrier = Retrier::new(RetryPolicy::default(), Arc::new(TpsBudget::default()), Arc::new(sleeper));
/// let breaker = Breaker::with_clock(Config::default(), clock.clone());
///
/// let tries = AtomicU32::new(0);
/// let flaky = || async {
///     let n = tries.fetch_add(1, Ordering::Relaxed);
///     if n == 0 { Err("blip") } else { Ok(n) }
/// };
/// let out = futures::executor::block_on(flaky.retry(&retrier, &breaker));
/// assert_eq!(out, Ok(1)); // the second attempt worked
/// ```
#[derive(Clone)]
pub struct Retrier {
    shared: Arc<Shared>,
}

struct Shared {
    policy: RetryPolicy,
    budget: Arc<dyn Budget>,
    sleeper: Arc<dyn Sleeper>,
    random: Arc<dyn Random>,
}

impl Retrier {
    /// A retrier with jitter drawn from a [`SplitMix`] seeded per process.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use protego_breaker::retry::{Retrier, RetryPolicy, TokenBudget};
    /// use protego_breaker::sleep::Sleep;
    ///
    /// let sleeper = |_: Duration| -> Sleep { Box::pin(std::future::ready(())) };
    /// let retrier = Retrier::new(RetryPolicy::default(), Arc::new(TokenBudget::default()), Arc::new(sleeper));
    /// assert_eq!(retrier.policy().max_attempts(), 3);
    /// ```
    pub fn new(policy: RetryPolicy, budget: Arc<dyn Budget>, sleeper: Arc<dyn Sleeper>) -> Self {
        Retrier {
            shared: Arc::new(Shared {
                policy,
                budget,
                sleeper,
                random: Arc::new(SplitMix::from_entropy()),
            }),
        }
    }

    /// The same retrier drawing its jitter from `random`: a seeded one makes every run the
    /// same.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use std::time::Duration;
    /// use protego_breaker::random::SplitMix;
    /// # use protego_breaker::retry::{Retrier, RetryPolicy, TokenBudget};
    /// # let sleeper = |_: Duration| -> protego_breaker::sleep::Sleep { Box::pin(std::future::ready(())) };
    /// let retrier = Retrier::new(RetryPolicy::default(), Arc::new(TokenBudget::default()), Arc::new(sleeper))
    ///     .with_random(Arc::new(SplitMix::new(7)));
    /// # let _ = retrier;
    /// ```
    #[must_use]
    pub fn with_random(self, random: Arc<dyn Random>) -> Self {
        Retrier {
            shared: Arc::new(Shared {
                policy: self.shared.policy,
                budget: Arc::clone(&self.shared.budget),
                sleeper: Arc::clone(&self.shared.sleeper),
                random,
            }),
        }
    }

    /// The policy.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use protego_breaker::retry::{Retrier, RetryPolicy, TokenBudget};
    /// # let sleeper = |_: std::time::Duration| -> protego_breaker::sleep::Sleep { Box::pin(std::future::ready(())) };
    /// let retrier = Retrier::new(RetryPolicy::default(), Arc::new(TokenBudget::default()), Arc::new(sleeper));
    /// assert_eq!(*retrier.policy(), RetryPolicy::default());
    /// ```
    pub fn policy(&self) -> &RetryPolicy {
        &self.shared.policy
    }

    /// The budget retries are paid from.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use std::time::Duration;
    /// # use protego_breaker::retry::{Retrier, RetryPolicy, TokenBudget};
    /// # let sleeper = |_: Duration| -> protego_breaker::sleep::Sleep { Box::pin(std::future::ready(())) };
    /// let retrier = Retrier::new(RetryPolicy::default(), Arc::new(TokenBudget::default()), Arc::new(sleeper));
    /// assert!(retrier.budget().withdraw(Duration::ZERO));
    /// ```
    pub fn budget(&self) -> &dyn Budget {
        &*self.shared.budget
    }

    /// Runs fresh futures from `make` through `breaker` until one succeeds or the policy, the
    /// budget or the breaker says stop: the same as `make.retry(self, breaker)` (see
    /// [`RetryExt`](crate::retry::RetryExt)). `make` is any
    /// [`MakeAttempt`]: a closure, or a type of your own.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use protego_breaker::retry::{Retrier, RetryPolicy, TokenBudget};
    /// use protego_breaker::{Breaker, Config};
    /// # let sleeper = |_: std::time::Duration| -> protego_breaker::sleep::Sleep { Box::pin(std::future::ready(())) };
    /// let retrier = Retrier::new(RetryPolicy::default(), Arc::new(TokenBudget::default()), Arc::new(sleeper));
    /// let breaker = Breaker::new(Config::default());
    /// let out = futures::executor::block_on(retrier.call(&breaker, || async { Ok::<_, ()>(3) }));
    /// assert_eq!(out, Ok(3));
    /// ```
    pub fn call<F, B>(&self, breaker: B, make: F) -> Retry<F, F::Future, B, ErrorsAsFailures>
    where
        F: MakeAttempt,
        B: CircuitBreaker + Clone,
    {
        Retry::new(make, breaker, self.clone(), ErrorsAsFailures)
    }

    pub(crate) fn sleep(&self, d: Duration) -> crate::sleep::Sleep {
        self.shared.sleeper.sleep(d)
    }

    pub(crate) fn draw(&self) -> u32 {
        self.shared.random.next_u32()
    }
}

impl fmt::Debug for Retrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retrier")
            .field("policy", &self.shared.policy)
            .finish_non_exhaustive()
    }
}
