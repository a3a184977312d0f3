//! The one place the library takes its synchronization primitives from.
//!
//! Under `RUSTFLAGS="--cfg protego_loom"` these are loom's, so the loom models in `tests/loom.rs`
//! check the real state machine rather than a copy of it. The cfg is our own rather than the
//! customary `loom` because `--cfg loom` also switches dependencies of our dev-dependencies to
//! their own loom builds, which do not compile here (seen: `concurrent-queue`, under smol and
//! async-std, fails with "cannot find module or crate `loom`").

#[cfg(protego_loom)]
pub(crate) use loom::sync::{
    atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering},
    Arc, Mutex, MutexGuard,
};
#[cfg(not(protego_loom))]
pub(crate) use std::sync::{
    atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering},
    Arc, Mutex, MutexGuard,
};

/// Locks `mutex`, ignoring poisoning: nothing the crate does under its locks can panic, and a
/// user's panic elsewhere must not turn every later call into a panic.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // loom's `lock` returns std's `LockResult`, so one body serves both builds.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(protego_loom)]
pub(crate) use loom::{hint::spin_loop, sync::atomic::fence};
#[cfg(not(protego_loom))]
pub(crate) use std::{hint::spin_loop, sync::atomic::fence};
