//! The per-thread name caches in front of a registry's stripes: `.protect` finds its handle
//! here without a lock, without a shared write and without `SipHash`.
//!
//! Each thread keeps, per registry it has used, a map from name to a clone of its stripe's
//! [`BreakerHandle`]. Only the owning thread touches it, so reading it needs no
//! synchronisation at all; what a call still writes is the handle's reference count, which the
//! stripe shares only with the threads of one core.
//!
//! A cache is trusted only while its registry's *epoch* is the one it was filled under:
//! [`Registry::remove`](super::Registry::remove) bumps the epoch after sweeping the stripes, so
//! the next call on any thread drops that thread's whole cache of the registry and refills from
//! the stripes. The epoch is read on every call (a shared *read*, of a line written only by
//! `remove`). A cache of a dropped registry is dropped the next time its thread misses a cache.

use std::any::Any;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use super::hash::NameHasher;
use super::index::Index;
use super::BreakerHandle;
use crate::clock::{Clock, CoarseClock, ManualClock, SystemClock};

/// What identifies a registry to the caches: its address (kept from reuse by the caches'
/// `Weak`s), its epoch and its hash secret.
pub(super) struct Token {
    epoch: AtomicU64,
    hasher: NameHasher,
}

impl Token {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Token {
            epoch: AtomicU64::new(0),
            hasher: NameHasher::random(),
        })
    }

    /// The epoch to record before looking a name up in the stripes.
    #[inline]
    pub(super) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Invalidates every thread's cache of this registry. Call after the stripes are swept.
    pub(super) fn bump(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }
}

type Names<C> = Index<BreakerHandle<C>>;

/// A registry's names, by its clock type. The clocks of the crate have their own variants:
/// getting a `&Names<C>` out of a `dyn Any` made from a known type folds to a constant, where
/// one out of a `Box<dyn Any>` calls `type_id` through the vtable and compares the 16 bytes it
/// returns through memory (a store-forwarding stall measured at ~3 ns a call).
enum Cached {
    System(Names<SystemClock>),
    Manual(Names<ManualClock>),
    Coarse(Names<CoarseClock>),
    Other(Box<dyn Any>),
}

impl Cached {
    fn new<C: Clock + 'static>(hasher: NameHasher) -> Self {
        let any: Box<dyn Any> = Box::new(Names::<C>::new(hasher));
        let any = match any.downcast::<Names<SystemClock>>() {
            Ok(names) => return Cached::System(*names),
            Err(any) => any,
        };
        let any = match any.downcast::<Names<ManualClock>>() {
            Ok(names) => return Cached::Manual(*names),
            Err(any) => any,
        };
        match any.downcast::<Names<CoarseClock>>() {
            Ok(names) => Cached::Coarse(*names),
            Err(any) => Cached::Other(any),
        }
    }

    #[inline]
    fn names<C: Clock + 'static>(&self) -> Option<&Names<C>> {
        match self {
            Cached::System(names) => (names as &dyn Any).downcast_ref(),
            Cached::Manual(names) => (names as &dyn Any).downcast_ref(),
            Cached::Coarse(names) => (names as &dyn Any).downcast_ref(),
            Cached::Other(names) => names.downcast_ref(),
        }
    }

    fn names_mut<C: Clock + 'static>(&mut self) -> Option<&mut Names<C>> {
        match self {
            Cached::System(names) => (names as &mut dyn Any).downcast_mut(),
            Cached::Manual(names) => (names as &mut dyn Any).downcast_mut(),
            Cached::Coarse(names) => (names as &mut dyn Any).downcast_mut(),
            Cached::Other(names) => names.downcast_mut(),
        }
    }
}

/// One thread's cache of one registry.
struct Slot {
    registry: Weak<Token>,
    epoch: u64,
    names: Cached,
}

thread_local! {
    /// Most recently filled registry first.
    static CACHES: RefCell<Vec<Slot>> = const { RefCell::new(Vec::new()) };
}

/// This thread's cached handle for `name` in the registry of `token`, if it is current.
#[inline]
pub(super) fn get<C: Clock + 'static>(token: &Arc<Token>, name: &str) -> Option<BreakerHandle<C>> {
    CACHES
        .try_with(|caches| {
            let caches = caches.try_borrow().ok()?;
            let slot = caches.first()?;
            if !std::ptr::eq(slot.registry.as_ptr(), Arc::as_ptr(token))
                || slot.epoch != token.epoch()
            {
                return None;
            }
            slot.names.names::<C>()?.get(name).cloned()
        })
        .ok()
        .flatten()
}

/// Remembers `handle` for `name`, found in the stripes after reading `epoch`. Drops caches of
/// dropped registries, and this registry's cache if it is older than `epoch`.
#[cold]
pub(super) fn put<C: Clock + 'static>(
    token: &Arc<Token>,
    epoch: u64,
    name: &str,
    handle: &BreakerHandle<C>,
) {
    // Whatever is dropped here is dropped after the borrow ends: dropping a handle can drop a
    // breaker, and with it the user's clock and listeners.
    let mut dropped: Vec<Slot> = Vec::new();
    let mut stale: Option<Cached> = None;
    let _ = CACHES.try_with(|caches| {
        let Ok(mut caches) = caches.try_borrow_mut() else {
            return;
        };
        let mut i = 0;
        while i < caches.len() {
            if caches[i].registry.strong_count() == 0 {
                dropped.push(caches.swap_remove(i));
            } else {
                i += 1;
            }
        }
        let at = caches
            .iter()
            .position(|slot| std::ptr::eq(slot.registry.as_ptr(), Arc::as_ptr(token)));
        let mut slot = match at {
            Some(at) => caches.remove(at),
            None => Slot {
                registry: Arc::downgrade(token),
                epoch,
                names: Cached::new::<C>(token.hasher),
            },
        };
        if slot.epoch != epoch || slot.names.names::<C>().is_none() {
            stale = Some(std::mem::replace(
                &mut slot.names,
                Cached::new::<C>(token.hasher),
            ));
            slot.epoch = epoch;
        }
        if let Some(names) = slot.names.names_mut::<C>() {
            names.insert(name, handle.clone());
        }
        caches.insert(0, slot);
    });
    drop(stale);
    drop(dropped);
}
