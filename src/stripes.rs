//! Thread groups ("stripes") for counters that every thread writes: one per core, so threads
//! on different cores write different cache lines.

use std::cell::Cell;
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// The stripe count: the machine's parallelism rounded up to a power of two, at most 64.
pub(crate) fn stripe_count() -> usize {
    static COUNT: OnceLock<usize> = OnceLock::new();
    *COUNT.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, std::num::NonZeroUsize::get)
            .next_power_of_two()
            .min(MAX_STRIPES)
    })
}

/// This thread's number, handed out round-robin on first use; mask it with a stripe count.
pub(crate) fn thread_number() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static NUMBER: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    NUMBER.with(|number| {
        let mut n = number.get();
        if n == usize::MAX {
            n = NEXT.fetch_add(1, Ordering::Relaxed) & (usize::MAX >> 1);
            number.set(n);
        }
        n
    })
}

/// A value on cache lines of its own: 128 bytes, the pair of lines that adjacent-line
/// prefetchers fetch together, so two padded values never share one.
#[repr(align(128))]
pub(crate) struct CachePadded<T>(pub(crate) T);

impl<T> Deref for CachePadded<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        &self.0
    }
}

/// A counting slot's bit: this thread owns its stripe's owned cells (see [`counting_slot`]).
pub(crate) const OWNED: usize = 1;

/// This thread's counting slot: `stripe << 1 | OWNED` if it owns stripe `stripe`, or
/// `stripe << 1` if it shares it. Mask the stripe with a stripe count.
///
/// At most one live thread owns a stripe, claimed on its first counted call (the first free
/// stripe from its thread number on) and given back when the thread exits. The owner of a
/// stripe is then the only writer of that stripe's owned cells, in every breaker: it bumps
/// them with a plain load and store, where a shared cell takes a locked read-modify-write
/// (several ns with stores pending). A thread that finds every stripe owned shares the stripe
/// of its thread number, through the shared cells. Ownership passes on with a release store
/// and an acquiring compare-and-swap, so the next owner sees every count the last one wrote.
#[cfg(not(protego_loom))]
#[inline]
pub(crate) fn counting_slot() -> usize {
    CLAIM
        .try_with(|claim| match claim.0.get() {
            UNCLAIMED => claim.claim(),
            slot => slot,
        })
        // The thread is exiting and has given its stripe back: share one.
        .unwrap_or_else(|_| (thread_number() & (MAX_STRIPES - 1)) << 1)
}

/// Under loom, whose threads share one OS thread (and its thread locals): every thread shares
/// stripe 0, so the models check the shared cells' read-modify-writes.
#[cfg(protego_loom)]
#[inline]
pub(crate) fn counting_slot() -> usize {
    0
}

/// The most stripes there are (`stripe_count` caps at this).
const MAX_STRIPES: usize = 64;

#[cfg(not(protego_loom))]
const UNCLAIMED: usize = usize::MAX;

/// Which stripes a live thread owns.
#[cfg(not(protego_loom))]
static OWNERS: [std::sync::atomic::AtomicBool; MAX_STRIPES] =
    [const { std::sync::atomic::AtomicBool::new(false) }; MAX_STRIPES];

/// This thread's counting slot; gives an owned stripe back when the thread exits.
#[cfg(not(protego_loom))]
struct Claim(Cell<usize>);

#[cfg(not(protego_loom))]
thread_local! {
    static CLAIM: Claim = const { Claim(Cell::new(UNCLAIMED)) };
}

#[cfg(not(protego_loom))]
impl Claim {
    #[cold]
    fn claim(&self) -> usize {
        let count = stripe_count();
        let first = thread_number();
        let slot = (0..count)
            .map(|i| (first + i) & (count - 1))
            .find(|&stripe| {
                OWNERS[stripe]
                    .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            })
            .map_or((first & (count - 1)) << 1, |stripe| (stripe << 1) | OWNED);
        self.0.set(slot);
        slot
    }
}

#[cfg(not(protego_loom))]
impl Drop for Claim {
    fn drop(&mut self) {
        let slot = self.0.get();
        if slot != UNCLAIMED && slot & OWNED != 0 {
            // Release: the next owner's acquiring claim sees every count written here.
            OWNERS[slot >> 1].store(false, Ordering::Release);
        }
    }
}
