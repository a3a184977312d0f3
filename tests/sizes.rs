//! Memory footprint of the public types on 64-bit targets, as documented in the README.
#![cfg(target_pointer_width = "64")]

use std::mem::size_of;
use std::sync::Arc;

use protego_breaker::{call::Protected, Breaker, ManualClock};

type Inner = std::future::Ready<Result<u64, u64>>;

#[test]
fn breaker_fits_three_cache_lines_plus_its_clock() {
    // Listeners and call totals live behind pointers, allocated only when used. The name is
    // kept inline (rejections copy it rather than write a shared reference count).
    assert!(size_of::<Breaker>() <= 192, "{}", size_of::<Breaker>());
    assert!(
        size_of::<Breaker<ManualClock>>() <= 192 + size_of::<ManualClock>(),
        "{}",
        size_of::<Breaker<ManualClock>>()
    );
}

#[test]
fn protected_adds_a_handle_and_two_words() {
    // The handle, and the ticket: epoch and (for slow-call tracking) admission time.
    let over_ref = size_of::<Protected<Inner, &Breaker>>() - size_of::<Inner>();
    let over_arc = size_of::<Protected<Inner, Arc<Breaker>>>() - size_of::<Inner>();
    assert!(over_ref <= 24, "{over_ref}");
    assert!(over_arc <= 24, "{over_arc}");
}
