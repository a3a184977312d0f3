//! [`TpsBudget`]: retries as a share of recent requests, with a floor per second (tower's and
//! Finagle's semantics), lock-free.

use std::fmt;
use std::time::Duration;

use crate::config::saturating_nanos;
use crate::error::ConfigError;
use crate::retry::budget::Budget;
use crate::sync::{AtomicU64, Ordering};

/// Slots of the ring: the ttl in tenths.
const SLOTS: usize = 10;
/// A slot's word: the bucket it holds (low 24 bits of its index) above a 40-bit balance stored
/// with a bias of 2^39 (so the low 40 bits are never negative and a word of zero balance is
/// `BIAS`). A deposit is one `fetch_add` on the word: a slot's balance is kept at most
/// `SLOT_MAX` (plus one deposit), half the bias below the top of the field, so that an add cannot carry into the
/// tag unless 2^38 units (27 million deposits) are added between one thread's add and its
/// check of the word it added to.
const VALUE_BITS: u32 = 40;
const VALUE_MASK: u64 = (1 << VALUE_BITS) - 1;
const BIAS: i64 = 1 << (VALUE_BITS - 1);
const TAG_MASK: u64 = (1 << (64 - VALUE_BITS)) - 1;
/// The most units a slot holds: deposits beyond it are dropped (a tenth of the ttl with 27
/// million requests at 100 %: the window still grants more retries than anyone sends).
const SLOT_MAX: i64 = 1 << (VALUE_BITS - 2);
/// One retry costs this many units; a request deposits `percent * 100` of them.
const WITHDRAW: i64 = 10_000;

/// A retry budget after tower's `TpsBudget` and Finagle's `RetryBudget`: over the last `ttl`,
/// retries may be at most `retry_percent` % of the requests, plus `min_per_sec` retries per
/// second whatever the traffic. Defaults: ttl 10 s, 10 per second, 20 %.
///
/// Every request deposits `retry_percent` % of a retry, every retry withdraws a whole one, and
/// deposits older than `ttl` expire. The ring is ten atomic slots (one per tenth of the ttl),
/// and the nine tenths before the current one are summed once per tenth, so a decision is
/// three loads and one compare-and-swap (a deposit: one load and one `fetch_add`): no lock, no
/// allocation. Within one
/// tenth of the ttl no two threads can both spend the last retry; threads whose clock readings
/// fall in two different tenths can overspend by one.
///
/// ```
/// use std::time::Duration;
/// use protego_breaker::retry::{Budget, TpsBudget};
///
/// let budget = TpsBudget::builder().min_per_sec(0).retry_percent(20.0).build()?;
/// let now = Duration::ZERO;
/// for _ in 0..10 {
///     budget.deposit(now); // ten requests...
/// }
/// assert!(budget.withdraw(now)); // ...pay for two retries
/// assert!(budget.withdraw(now));
/// assert!(!budget.withdraw(now));
/// assert!(!budget.withdraw(now + Duration::from_secs(10))); // the deposits expired
/// # Ok::<(), protego_breaker::ConfigError>(())
/// ```
pub struct TpsBudget {
    slots: [AtomicU64; SLOTS],
    /// The bucket index last worked out, so that a decision divides only when a new bucket
    /// starts (a 64-bit division costs more than the rest of a decision).
    index: AtomicU64,
    /// The units of the nine buckets before the current one, worked out once per bucket and
    /// tagged with the bucket they precede, so that a decision reads two words, not ten. Only
    /// the current bucket's slot changes during a bucket (a thread whose clock reading lags
    /// into the previous bucket is the exception the type's docs allow for).
    older: AtomicU64,
    bucket: u64,
    deposit: i64,
    reserve: i64,
}

/// Builds a [`TpsBudget`]; every knob is checked by [`build`](TpsBudgetBuilder::build).
///
/// ```
/// use std::time::Duration;
/// use protego_breaker::retry::TpsBudget;
///
/// let err = TpsBudget::builder().retry_percent(120.0).build().unwrap_err();
/// assert_eq!(err.knob(), "retry_percent");
/// let err = TpsBudget::builder().ttl(Duration::ZERO).build().unwrap_err();
/// assert_eq!(err.knob(), "ttl");
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[must_use]
pub struct TpsBudgetBuilder {
    ttl: Duration,
    min_per_sec: u32,
    retry_percent: f64,
}

impl Default for TpsBudgetBuilder {
    fn default() -> Self {
        TpsBudgetBuilder {
            ttl: Duration::from_secs(10),
            min_per_sec: 10,
            retry_percent: 20.0,
        }
    }
}

impl TpsBudgetBuilder {
    /// How long a request's deposit counts: more than zero, at most 60 s. Default 10 s.
    ///
    /// ```
    /// let b = protego_breaker::retry::TpsBudget::builder().ttl(std::time::Duration::from_secs(5)).build();
    /// assert!(b.is_ok());
    /// ```
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Retries per second allowed whatever the traffic (at most 1 000 000). Default 10.
    ///
    /// ```
    /// let b = protego_breaker::retry::TpsBudget::builder().min_per_sec(0).build();
    /// assert!(b.is_ok());
    /// ```
    pub fn min_per_sec(mut self, n: u32) -> Self {
        self.min_per_sec = n;
        self
    }

    /// Retries as a percentage of requests, from 0 to 100 (hundredths count). Default 20.
    ///
    /// ```
    /// let err = protego_breaker::retry::TpsBudget::builder().retry_percent(-1.0).build().unwrap_err();
    /// assert_eq!(err.to_string(), "retry_percent must be from 0 to 100, got -1");
    /// ```
    pub fn retry_percent(mut self, percent: f64) -> Self {
        self.retry_percent = percent;
        self
    }

    /// The budget, or the first knob out of range.
    ///
    /// # Errors
    /// [`ConfigError`] naming `ttl`, `min_per_sec` or `retry_percent`.
    ///
    /// ```
    /// assert!(protego_breaker::retry::TpsBudget::builder().build().is_ok());
    /// ```
    pub fn build(self) -> Result<TpsBudget, ConfigError> {
        if self.ttl.is_zero() || self.ttl > Duration::from_secs(60) {
            return Err(ConfigError::new(
                "ttl",
                "be more than 0 and at most 60 s",
                format_args!("{:?}", self.ttl),
            ));
        }
        if self.min_per_sec > 1_000_000 {
            return Err(ConfigError::new(
                "min_per_sec",
                "be at most 1000000",
                self.min_per_sec,
            ));
        }
        if !(0.0..=100.0).contains(&self.retry_percent) {
            return Err(ConfigError::new(
                "retry_percent",
                "be from 0 to 100",
                self.retry_percent,
            ));
        }
        let ttl = saturating_nanos(self.ttl);
        // In range: checked above.
        #[allow(clippy::cast_possible_truncation)]
        let deposit = (self.retry_percent * 100.0).round() as i64;
        let reserve = i64::from(self.min_per_sec) * WITHDRAW * i64::try_from(ttl).unwrap_or(0)
            / 1_000_000_000;
        Ok(TpsBudget {
            slots: std::array::from_fn(|_| AtomicU64::new(pack(0, 0))),
            index: AtomicU64::new(0),
            older: AtomicU64::new(pack(0, 0)),
            bucket: (ttl / SLOTS as u64).max(1),
            deposit,
            reserve,
        })
    }
}

impl TpsBudget {
    /// The knobs, at their defaults.
    ///
    /// ```
    /// let budget = protego_breaker::retry::TpsBudget::builder().min_per_sec(5).build()?;
    /// # let _ = budget;
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn builder() -> TpsBudgetBuilder {
        TpsBudgetBuilder::default()
    }

    /// How many retries the budget would allow now, spending none.
    ///
    /// ```
    /// use std::time::Duration;
    /// use protego_breaker::retry::{Budget, TpsBudget};
    ///
    /// let budget = TpsBudget::default(); // 10 per second over 10 s: 100 in reserve
    /// assert_eq!(budget.balance(Duration::ZERO), 100);
    /// budget.deposit(Duration::ZERO);
    /// assert_eq!(budget.balance(Duration::ZERO), 100); // a fifth of a retry: not a whole one yet
    /// ```
    pub fn balance(&self, now: Duration) -> u64 {
        let (g, older) = self.window(now);
        let (sum, _) = self.sum(g, older);
        u64::try_from(sum.max(0) / WITHDRAW).unwrap_or(0)
    }

    /// The current bucket and the units of the nine before it.
    #[inline]
    fn window(&self, now: Duration) -> (u64, i64) {
        let now = saturating_nanos(now);
        let g = self.index.load(Ordering::Acquire);
        if now.wrapping_sub(g.wrapping_mul(self.bucket)) < self.bucket {
            let older = self.older.load(Ordering::Acquire);
            if tag(older) == g & TAG_MASK {
                return (g, value(older));
            }
        }
        self.new_bucket(now / self.bucket)
    }

    /// The current bucket, without the units before it (all a deposit needs).
    #[inline]
    fn current(&self, now: Duration) -> u64 {
        let now = saturating_nanos(now);
        let g = self.index.load(Ordering::Acquire);
        if now.wrapping_sub(g.wrapping_mul(self.bucket)) < self.bucket {
            return g;
        }
        self.new_bucket(now / self.bucket).0
    }

    /// Works out the units of the nine buckets before `g` and caches them: once per bucket.
    #[inline(never)]
    fn new_bucket(&self, g: u64) -> (u64, i64) {
        let older = self
            .slots
            .iter()
            .map(|slot| slot.load(Ordering::Acquire))
            .filter(|raw| (1..SLOTS as u64).contains(&(g.wrapping_sub(tag(*raw)) & TAG_MASK)))
            .map(value)
            .fold(0i64, i64::saturating_add);
        self.older.store(pack(g, older), Ordering::Release);
        self.index.store(g, Ordering::Release);
        (g, older)
    }

    /// Units in the window plus the reserve, and the current slot's word as counted.
    #[inline]
    fn sum(&self, g: u64, older: i64) -> (i64, u64) {
        let raw = self.slots[slot_of(g)].load(Ordering::Acquire);
        (self.reserve + older + held(raw, g), raw)
    }

    /// Adds `units` (positive, at most a whole retry) to bucket `g`'s slot: one `fetch_add`.
    /// If the word added to held another bucket, or a balance at the cap, the slow path puts
    /// it right.
    #[inline]
    fn put(&self, g: u64, units: i64) {
        let slot = &self.slots[slot_of(g)];
        // Positive and at most `WITHDRAW`: checked by the builder.
        #[allow(clippy::cast_sign_loss)]
        let prev = slot.fetch_add(units as u64, Ordering::AcqRel);
        // Bucket `g`'s tag with a biased balance below `SLOT_MAX`, in one comparison: the tag
        // is in the high bits, the field starts at 0 for a balance of -`BIAS`.
        #[allow(clippy::cast_sign_loss)]
        if prev.wrapping_sub(g << VALUE_BITS) >= (BIAS + SLOT_MAX) as u64 {
            self.put_slow(g, prev, units);
        }
    }

    /// The add of `put` went to a word holding another bucket (an expired one, which no window
    /// of `g` counts: the slot starts afresh with `units`) or took the balance to the cap
    /// (brought back to it).
    #[cold]
    #[inline(never)]
    fn put_slow(&self, g: u64, prev: u64, units: i64) {
        let slot = &self.slots[slot_of(g)];
        let counted = tag(prev) == g & TAG_MASK;
        let mut raw = slot.load(Ordering::Acquire);
        loop {
            let next = if counted {
                if held(raw, g) <= SLOT_MAX {
                    return;
                }
                pack(g, SLOT_MAX)
            } else {
                pack(g, held(raw, g).saturating_add(units).min(SLOT_MAX))
            };
            match slot.compare_exchange_weak(raw, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return,
                Err(actual) => raw = actual,
            }
        }
    }
}

impl Default for TpsBudget {
    /// Ttl 10 s, 10 retries per second, 20 % of requests.
    fn default() -> Self {
        TpsBudgetBuilder::default()
            .build()
            .unwrap_or_else(|_| unreachable!("the defaults are valid"))
    }
}

impl Budget for TpsBudget {
    #[inline]
    fn deposit(&self, now: Duration) {
        if self.deposit > 0 {
            self.put(self.current(now), self.deposit);
        }
    }

    #[inline]
    fn withdraw(&self, now: Duration) -> bool {
        let (g, older) = self.window(now);
        let slot = &self.slots[slot_of(g)];
        loop {
            let (sum, raw) = self.sum(g, older);
            if sum < WITHDRAW {
                return false;
            }
            let next = pack(g, held(raw, g).saturating_sub(WITHDRAW));
            // Only the current slot is written, so a changed one sends us round to sum again:
            // two threads cannot both spend the last retry of a tenth.
            if slot
                .compare_exchange(raw, next, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return true;
            }
        }
    }
}

impl fmt::Debug for TpsBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TpsBudget")
            .field("bucket_nanos", &self.bucket)
            .field("deposit", &self.deposit)
            .field("reserve", &self.reserve)
            .finish_non_exhaustive()
    }
}

#[inline]
fn slot_of(g: u64) -> usize {
    // Below `SLOTS`: no truncation.
    #[allow(clippy::cast_possible_truncation)]
    let slot = (g % SLOTS as u64) as usize;
    slot
}

#[inline]
fn tag(raw: u64) -> u64 {
    raw >> VALUE_BITS
}

#[inline]
fn value(raw: u64) -> i64 {
    // The low 40 bits, less the bias: no wrap.
    #[allow(clippy::cast_possible_wrap)]
    let v = (raw & VALUE_MASK) as i64 - BIAS;
    v
}

/// The units `raw` holds for bucket `g`: none if it holds another bucket.
#[inline]
fn held(raw: u64, g: u64) -> i64 {
    if tag(raw) == g & TAG_MASK {
        value(raw)
    } else {
        0
    }
}

#[inline]
fn pack(g: u64, units: i64) -> u64 {
    // Clamped to the field: not negative once biased.
    #[allow(clippy::cast_sign_loss)]
    let v = (units.clamp(-BIAS, BIAS - 1) + BIAS) as u64;
    ((g & TAG_MASK) << VALUE_BITS) | v
}

#[cfg(all(test, not(protego_loom)))]
mod tests {
    use super::*;

    fn all_requests() -> TpsBudget {
        TpsBudget::builder()
            .min_per_sec(0)
            .retry_percent(100.0)
            .build()
            .unwrap()
    }

    #[test]
    fn the_word_packs_a_biased_balance_under_the_tag() {
        for units in [-BIAS, -WITHDRAW, -1, 0, 1, WITHDRAW, SLOT_MAX, BIAS - 1] {
            let raw = pack(12_345, units);
            assert_eq!(tag(raw), 12_345);
            assert_eq!(value(raw), units);
        }
        // Out of the field: clamped, never carried into the tag.
        assert_eq!(value(pack(7, i64::MAX)), BIAS - 1);
        assert_eq!(value(pack(7, i64::MIN)), -BIAS);
        assert_eq!(tag(pack(7, i64::MAX)), 7);
        // A new budget's words hold bucket 0 with nothing in it.
        assert_eq!(all_requests().slots[0].load(Ordering::Relaxed), pack(0, 0));
    }

    #[test]
    fn a_deposit_stops_at_the_slot_cap_and_never_reaches_the_tag() {
        let budget = all_requests();
        let now = Duration::from_millis(1_500); // bucket 1
        let g = budget.current(now);
        assert_eq!(g, 1);
        budget.slots[slot_of(g)].store(pack(g, SLOT_MAX - 1), Ordering::Relaxed);
        budget.deposit(now); // added below the cap: counted whole, past it by less than a deposit
        let raw = budget.slots[slot_of(g)].load(Ordering::Relaxed);
        assert_eq!(value(raw), SLOT_MAX - 1 + WITHDRAW);
        budget.deposit(now); // added at the cap: brought back to it
        let raw = budget.slots[slot_of(g)].load(Ordering::Relaxed);
        assert_eq!((tag(raw), value(raw)), (g, SLOT_MAX));
        budget.deposit(now);
        let raw = budget.slots[slot_of(g)].load(Ordering::Relaxed);
        assert_eq!((tag(raw), value(raw)), (g, SLOT_MAX));
        // A withdrawal from a capped slot spends from the cap.
        assert!(budget.withdraw(now));
        assert_eq!(
            value(budget.slots[slot_of(g)].load(Ordering::Relaxed)),
            SLOT_MAX - WITHDRAW
        );
    }

    #[test]
    fn a_deposit_into_an_expired_slot_starts_it_afresh() {
        let budget = all_requests();
        for _ in 0..3 {
            budget.deposit(Duration::from_millis(500)); // bucket 0: three retries
        }
        assert_eq!(budget.balance(Duration::from_millis(500)), 3);
        // Bucket 10 uses bucket 0's slot: its deposits expired.
        let later = Duration::from_millis(10_500);
        budget.deposit(later);
        assert_eq!(budget.balance(later), 1);
        let raw = budget.slots[0].load(Ordering::Relaxed);
        assert_eq!((tag(raw), value(raw)), (10, WITHDRAW));
        // A negative balance in the current slot (withdrawals paid by older deposits) takes the
        // fetch_add path's slow arm and still counts the deposit once.
        let budget = all_requests();
        budget.deposit(Duration::from_millis(500));
        budget.deposit(Duration::from_millis(500));
        let now = Duration::from_millis(1_500);
        assert!(budget.withdraw(now));
        assert!(budget.withdraw(now));
        assert_eq!(
            value(budget.slots[1].load(Ordering::Relaxed)),
            -2 * WITHDRAW
        );
        budget.deposit(now);
        assert_eq!(value(budget.slots[1].load(Ordering::Relaxed)), -WITHDRAW);
        assert_eq!(budget.balance(now), 1);
    }
}
