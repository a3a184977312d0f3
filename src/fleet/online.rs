//! Waiting for the fleet to be online: [`Waiters`] (the wakers of futures waiting, kept in the
//! fleet's shared state) and [`Online`], the future [`Fleet::online`](crate::fleet::Fleet::online)
//! returns.
//!
//! A future registers its waker under an id of its own and takes it out when it completes or
//! is dropped, so the list never holds more than the futures waiting now. Being shared again
//! (online, and what was decided offline published) wakes them all; each then checks again (the fleet may have gone offline before it was polled).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use crate::fleet::handle::Inner;

/// The wakers of the futures waiting for the fleet to be online.
#[derive(Default)]
pub(crate) struct Waiters {
    next_id: u64,
    waiting: Vec<(u64, Waker)>,
}

impl Waiters {
    /// Wakes every future waiting (the fleet just went online).
    pub(crate) fn wake_all(lock: &Mutex<Waiters>) {
        let woken =
            std::mem::take(&mut lock.lock().unwrap_or_else(PoisonError::into_inner).waiting);
        for (_, waker) in woken {
            waker.wake();
        }
    }
}

/// Resolves once the fleet is online.
pub(crate) struct Online {
    pub(crate) inner: Arc<Inner>,
    pub(crate) id: Option<u64>,
}

impl Online {
    fn forget(&mut self) {
        if let Some(id) = self.id.take() {
            let mut waiters = self.inner.waiters();
            waiters.waiting.retain(|(other, _)| *other != id);
        }
    }
}

impl Future for Online {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.inner.is_shared() {
            self.forget();
            return Poll::Ready(());
        }
        {
            let inner = Arc::clone(&self.inner);
            let mut waiters = inner.waiters();
            let id = *self.id.get_or_insert_with(|| {
                waiters.next_id += 1;
                waiters.next_id
            });
            match waiters.waiting.iter_mut().find(|(other, _)| *other == id) {
                Some((_, waker)) => waker.clone_from(cx.waker()),
                // New, or woken and taken out since: (again) in the list.
                None => waiters.waiting.push((id, cx.waker().clone())),
            }
        }
        // Checked again after registering: going online in between woke nobody.
        if self.inner.is_shared() {
            self.forget();
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

impl Drop for Online {
    fn drop(&mut self) {
        self.forget();
    }
}
