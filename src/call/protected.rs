//! [`Protected`]: the future that runs a call through a breaker.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::future::FusedFuture;
use pin_project::{pin_project, pinned_drop};

use crate::call::circuit_breaker::CircuitBreaker;
use crate::call::classify::{Classify, Outcome, Standard};
use crate::clock::Clock;
use crate::error::Error;
use crate::machine::word::Ticket;
use crate::Breaker;

/// A call protected by a breaker; made by [`CircuitBreaker::call`] or
/// [`ProtectExt::protect`](crate::ProtectExt::protect).
///
/// When first polled it asks the breaker for admission. If refused, it drops the inner future
/// without polling it and resolves to [`Error::Rejected`]. If admitted, it polls the inner
/// future and records `Ok` as a success and `Err` (or a panic, which keeps unwinding) as a
/// failure. Dropped before it completes, it records nothing and gives back a half-open trial
/// slot. Its size is the inner future's, plus the handle `B`, plus 8 bytes.
///
/// ```
/// use protego::{Breaker, CircuitBreaker, Config};
///
/// let breaker = Breaker::new(Config::default());
/// let fut = breaker.call(async { Ok::<_, std::io::Error>("pong") });
/// assert_eq!(futures::executor::block_on(fut).unwrap(), "pong");
/// ```
#[pin_project(PinnedDrop)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Protected<F, B: CircuitBreaker, K = Standard> {
    handle: B,
    classifier: K,
    phase: Phase,
    #[pin]
    inner: Inner<F>,
}

/// Where a call stands: a [`Ticket`] while it runs, or one of two tickets no call ever gets
/// (no enum: a tag next to the 16-byte ticket would grow every `Protected` by 8 bytes).
type Phase = Ticket;

#[pin_project(project = InnerProj)]
enum Inner<F> {
    Live(#[pin] F),
    Gone,
}

impl<F, B: CircuitBreaker, K> Protected<F, B, K> {
    pub(crate) fn new(handle: B, fut: F, classifier: K) -> Self {
        Protected {
            handle,
            classifier,
            phase: Ticket::START,
            inner: Inner::Live(fut),
        }
    }

    /// The breaker this call runs through.
    ///
    /// ```
    /// use protego::{Breaker, CircuitBreaker, Config, State};
    ///
    /// let breaker = Breaker::new(Config::default());
    /// let fut = breaker.call(async { Ok::<(), ()>(()) });
    /// assert_eq!(fut.breaker().state(), State::Closed);
    /// ```
    pub fn breaker(&self) -> &Breaker<B::Clock> {
        self.handle.breaker()
    }
}

#[cold]
#[inline(never)]
fn polled_after_completion() -> ! {
    panic!("`Protected` polled after completion")
}

/// Records a failure if the inner future panics: dropped only while unwinding out of `poll`.
struct PanicGuard<'a, C: Clock> {
    breaker: &'a Breaker<C>,
    phase: &'a mut Phase,
}

impl<C: Clock> Drop for PanicGuard<'_, C> {
    fn drop(&mut self) {
        let ticket = *self.phase;
        if ticket.is_call() {
            *self.phase = Ticket::DONE;
            self.breaker.record(ticket, Outcome::Failure);
        }
    }
}

impl<F, B, K, T, E> Future for Protected<F, B, K>
where
    F: Future<Output = Result<T, E>>,
    B: CircuitBreaker,
    K: Classify<T, E>,
{
    type Output = Result<T, Error<E>>;

    // Measured (benches/call.rs): left to the inliner, `poll` stays out of line and the
    // caller pays a store-forwarding stall on the output, tripling the closed-path cost.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let breaker = this.handle.breaker();
        let current = *this.phase;
        let ticket = if current.is_call() {
            current
        } else if current == Ticket::START {
            match breaker.admit() {
                Ok(ticket) => {
                    *this.phase = ticket;
                    ticket
                }
                Err(refusal) => {
                    *this.phase = Ticket::DONE;
                    this.inner.set(Inner::Gone);
                    return Poll::Ready(Err(Error::Rejected(breaker.rejected(refusal))));
                }
            }
        } else {
            polled_after_completion()
        };
        let InnerProj::Live(fut) = this.inner.as_mut().project() else {
            unreachable!("a running call keeps its inner future");
        };
        let guard = PanicGuard {
            breaker,
            phase: &mut *this.phase,
        };
        let output = fut.poll(cx);
        // Not unwinding: the guard must not record anything.
        std::mem::forget(guard);
        let Poll::Ready(output) = output else {
            return Poll::Pending;
        };
        *this.phase = Ticket::DONE;
        this.inner.set(Inner::Gone);
        breaker.record(ticket, this.classifier.classify(&output));
        Poll::Ready(output.map_err(Error::Inner))
    }
}

impl<F, B, K, T, E> FusedFuture for Protected<F, B, K>
where
    F: Future<Output = Result<T, E>>,
    B: CircuitBreaker,
    K: Classify<T, E>,
{
    fn is_terminated(&self) -> bool {
        self.phase == Ticket::DONE
    }
}

#[pinned_drop]
impl<F, B: CircuitBreaker, K> PinnedDrop for Protected<F, B, K> {
    fn drop(self: Pin<&mut Self>) {
        let this = self.project();
        let ticket = *this.phase;
        if ticket.is_call() {
            // Cancelled mid-flight: no verdict, and a half-open slot goes back.
            *this.phase = Ticket::DONE;
            this.handle.breaker().record(ticket, Outcome::Ignored);
        }
    }
}

impl<F, B: CircuitBreaker, K> fmt::Debug for Protected<F, B, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let phase = if self.phase.is_call() {
            "running"
        } else if self.phase == Ticket::START {
            "not started"
        } else {
            "done"
        };
        f.debug_struct("Protected")
            .field("breaker", &self.handle.breaker().name())
            .field("phase", &phase)
            .finish_non_exhaustive()
    }
}
