//! The per-thread name caches in front of a registry's stripes: `.protect` finds its handle
//! here without a lock, without a shared write and without `SipHash`.
//!
//! Each thread keeps, per registry it has used, a map from name to a clone of its stripe's
//! [`BreakerHandle`]. Only the owning thread touches it, so reading it needs no
//! synchronisation at all; what a call still writes is the handle's reference count, which the
//! stripe shares only with the threads of one core.
//!
//! A cache is trusted only while its registry's *stamp* is the one it was filled under: a
//! number unique in the process, which [`Registry::remove`](super::Registry::remove) replaces
//! after sweeping the stripes, so the next call on any thread drops that thread's whole cache
//! of the registry and refills from the stripes. The stamp is read on every call (a shared
//! *read*, of a line written only by `remove`); it tells both which registry a cache belongs
//! to and whether it is current, in one compare. A cache of a dropped registry is dropped the
//! next time its thread misses a cache.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use super::hash::NameHasher;
use super::index::Index;
use super::BreakerHandle;
use crate::clock::{Clock, CoarseClock, ManualClock, SystemClock};

/// The registry's side of the caches: its current stamp, and its hash secret. The caches hold
/// it weakly, to find out that the registry is gone.
pub(super) struct Token {
    /// Unique among every stamp any registry of the process ever had: a cache filled under
    /// this stamp is this registry's, and current. Replaced by `remove`.
    stamp: AtomicU64,
    hasher: NameHasher,
}

/// Where stamps come from (0 is never one: it marks the empty cache).
static NEXT_STAMP: AtomicU64 = AtomicU64::new(1);

fn fresh_stamp() -> u64 {
    NEXT_STAMP.fetch_add(1, Ordering::Relaxed)
}

impl Token {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Token {
            stamp: AtomicU64::new(fresh_stamp()),
            hasher: NameHasher::random(),
        })
    }

    /// The stamp to record before looking a name up in the stripes.
    #[inline]
    pub(super) fn stamp(&self) -> u64 {
        self.stamp.load(Ordering::Acquire)
    }

    /// Invalidates every thread's cache of this registry. Call after the stripes are swept.
    pub(super) fn bump(&self) {
        self.stamp.store(fresh_stamp(), Ordering::Release);
    }
}

type Names<C> = Index<BreakerHandle<C>>;

/// A registry's names, by its clock type. The clocks of the crate have their own variants:
/// getting a `&Names<C>` out of a `dyn Any` made from a known type folds to a constant, where
/// one out of a `Box<dyn Any>` calls `type_id` through the vtable and compares the 16 bytes it
/// returns through memory (a store-forwarding stall measured at ~3 ns a call).
enum Cached {
    Empty,
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

    /// For the crate's clocks this is one compare of the variant: only their own variant can
    /// hold their names, and the other arms fold to `None`.
    #[inline]
    fn names<C: Clock + 'static>(&self) -> Option<&Names<C>> {
        match self {
            Cached::System(names) => (names as &dyn Any).downcast_ref(),
            Cached::Manual(names) => (names as &dyn Any).downcast_ref(),
            Cached::Coarse(names) => (names as &dyn Any).downcast_ref(),
            Cached::Other(names) if !is_known::<C>() => names.downcast_ref(),
            Cached::Other(_) | Cached::Empty => None,
        }
    }

    fn names_mut<C: Clock + 'static>(&mut self) -> Option<&mut Names<C>> {
        match self {
            Cached::Empty => None,
            Cached::System(names) => (names as &mut dyn Any).downcast_mut(),
            Cached::Manual(names) => (names as &mut dyn Any).downcast_mut(),
            Cached::Coarse(names) => (names as &mut dyn Any).downcast_mut(),
            Cached::Other(names) => names.downcast_mut(),
        }
    }
}

/// Whether `C` is one of the clocks with a variant of its own in [`Cached`].
#[inline]
fn is_known<C: 'static>() -> bool {
    let id = TypeId::of::<C>();
    id == TypeId::of::<SystemClock>()
        || id == TypeId::of::<ManualClock>()
        || id == TypeId::of::<CoarseClock>()
}

/// One thread's cache of one registry.
struct Slot {
    /// The registry's stamp when this cache was filled; 0 for the empty slot.
    stamp: u64,
    registry: Weak<Token>,
    names: Cached,
}

impl Slot {
    const EMPTY: Slot = Slot {
        stamp: 0,
        registry: Weak::new(),
        names: Cached::Empty,
    };
}

/// One thread's caches. The most recently filled one is kept in the thread-local block itself,
/// so a hit reads no memory between the thread's own block and the name's entry.
struct Caches {
    recent: Slot,
    older: Vec<Slot>,
}

thread_local! {
    static CACHES: RefCell<Caches> = const {
        RefCell::new(Caches {
            recent: Slot::EMPTY,
            older: Vec::new(),
        })
    };
}

/// This thread's cached handle for `name` in the registry of `token`, if it is current.
#[allow(clippy::inline_always)] // the hot half of `.protect`, see there
#[inline(always)]
pub(super) fn get<C: Clock + 'static>(token: &Token, name: &str) -> Option<BreakerHandle<C>> {
    // The look-up is a function of its own, so that `try_with` stays small enough to be
    // inlined and the token and the name reach it in registers, not through a closure's
    // captures in memory.
    CACHES
        .try_with(|caches| lookup(caches, token, name))
        .ok()
        .flatten()
}

#[inline(never)]
fn lookup<C: Clock + 'static>(
    caches: &RefCell<Caches>,
    token: &Token,
    name: &str,
) -> Option<BreakerHandle<C>> {
    let caches = caches.try_borrow().ok()?;
    // One compare checks both that this is the registry's cache and that no `remove` came
    // since it was filled: stamps are never reused.
    if caches.recent.stamp != token.stamp() {
        return None;
    }
    caches.recent.names.names::<C>()?.get(name).cloned()
}

/// Remembers `handle` for `name`, found in the stripes after reading `stamp`. Drops caches of
/// dropped registries, and this registry's cache if it is older than `stamp`.
#[cold]
pub(super) fn put<C: Clock + 'static>(
    token: &Arc<Token>,
    stamp: u64,
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
        let Caches { recent, older } = &mut *caches;
        if recent.stamp != 0 {
            older.insert(0, std::mem::replace(recent, Slot::EMPTY));
        }
        let mut i = 0;
        while i < older.len() {
            if older[i].registry.strong_count() == 0 {
                dropped.push(older.swap_remove(i));
            } else {
                i += 1;
            }
        }
        let at = older
            .iter()
            .position(|slot| std::ptr::eq(slot.registry.as_ptr(), Arc::as_ptr(token)));
        let mut slot = match at {
            Some(at) => older.remove(at),
            None => Slot {
                registry: Arc::downgrade(token),
                stamp,
                names: Cached::new::<C>(token.hasher),
            },
        };
        if slot.stamp != stamp || slot.names.names::<C>().is_none() {
            stale = Some(std::mem::replace(
                &mut slot.names,
                Cached::new::<C>(token.hasher),
            ));
            slot.stamp = stamp;
        }
        if let Some(names) = slot.names.names_mut::<C>() {
            names.insert(name, handle.clone());
        }
        *recent = slot;
    });
    drop(stale);
    drop(dropped);
}
