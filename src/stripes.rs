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
            .min(64)
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
