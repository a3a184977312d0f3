//! [`Protected`]: the future that runs a call through a breaker.

use std::fmt;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::future::FusedFuture;
use pin_project::pin_project;

use crate::call::circuit_breaker::CircuitBreaker;
use crate::call::classify::{Classify, ErrorsAsFailures, Outcome};
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
/// failure. Dropped before it completes, it records nothing and gives its half-open trial back
/// to the round. Its size is the inner future's, plus the handle `B`, plus 16 bytes (the
/// call's generation and, for slow-call tracking, its start); a handle type of your own with no
/// spare bit pattern (no reference, `Arc` or other non-null pointer in it) takes 8 bytes more.
///
/// ```
/// use protego_breaker::{Breaker, CircuitBreaker, Config};
///
/// let breaker = Breaker::new(Config::default());
/// let fut = breaker.call(async { Ok::<_, std::io::Error>("pong") });
/// assert_eq!(futures::executor::block_on(fut).unwrap(), "pong");
/// ```
#[pin_project]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Protected<F, B: CircuitBreaker, K = ErrorsAsFailures> {
    /// Declared first, so that a cancelled call gives its trial back before the inner future
    /// is dropped.
    call: Call<B>,
    classifier: K,
    #[pin]
    inner: Inner<F>,
}

/// The handle and where the call stands. Its `Drop` (not `Protected`'s, so that
/// [`Protected::classify`] can move the fields) records a cancellation.
struct Call<B: CircuitBreaker> {
    /// `Some` until the call is dropped: a handle that needs dropping is moved out and dropped
    /// then, by value (see `Drop`). Never dropped in place: the field has no drop of its own,
    /// so that nothing can hand its address out of line after it was moved out.
    handle: ManuallyDrop<Option<B>>,
    phase: Phase,
}

impl<B: CircuitBreaker> Call<B> {
    #[inline]
    fn breaker(&self) -> &Breaker<B::Clock> {
        breaker_of(self.handle.as_ref())
    }
}

/// The breaker of a call's handle (a function of the field, so that `poll` can borrow it and
/// still write the phase).
#[inline]
fn breaker_of<B: CircuitBreaker>(handle: Option<&B>) -> &Breaker<B::Clock> {
    match handle {
        Some(handle) => handle.breaker(),
        None => unreachable!("a call keeps its handle until it is dropped"),
    }
}

impl<B: CircuitBreaker> Drop for Call<B> {
    fn drop(&mut self) {
        let ticket = self.phase;
        if std::mem::needs_drop::<B>() {
            // A handle that owns its breaker (an `Arc`, a registry handle) is moved out and
            // released by value: in place, `Arc`'s drop would hand the future's own address to
            // its out-of-line last-owner path, and the future would have to live on the stack
            // in the caller's loop (benches/README.md, #31, third pass).
            let handle = self.handle.take();
            if ticket.is_call() {
                finish(handle, ticket);
            } else {
                drop(handle);
            }
        } else if ticket.is_call() {
            // A reference: one out-of-line call, so that the drop stays small enough to be
            // inlined where the caller's loop unwinds.
            finish(self.handle.take(), ticket);
        }
    }
}

/// Ends a call cancelled mid-flight (no verdict, and a half-open trial goes back), then drops
/// its handle.
#[inline(never)]
fn finish<B: CircuitBreaker>(handle: Option<B>, ticket: Ticket) {
    if let Some(handle) = handle {
        handle.breaker().record(ticket, Outcome::Ignored);
    }
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
            call: Call {
                handle: ManuallyDrop::new(Some(handle)),
                phase: Ticket::START,
            },
            classifier,
            inner: Inner::Live(fut),
        }
    }

    /// Decides with `classifier` which results count as successes, failures or neither (see
    /// [`Classify`]). The caller gets the result unchanged. The same builder exists on every
    /// layer of the crate (`tower`, `http`, `reqwest`).
    ///
    /// ```
    /// use protego_breaker::{Breaker, CircuitBreaker, Config, call::Outcome, State};
    ///
    /// let breaker = Breaker::new(Config::builder().failure_threshold(1).build()?);
    /// // An HTTP-like status: 5xx is the downstream failing, even though the call "worked".
    /// let by_status = |r: &Result<u16, std::io::Error>| match r {
    ///     Ok(status) if *status >= 500 => Outcome::Failure,
    ///     Ok(_) => Outcome::Success,
    ///     Err(_) => Outcome::Failure,
    /// };
    /// # futures::executor::block_on(async {
    /// let status = breaker.call(async { Ok(502) }).classify(by_status).await.unwrap();
    /// assert_eq!(status, 502);
    /// # });
    /// assert_eq!(breaker.state(), State::Open);
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn classify<K2>(self, classifier: K2) -> Protected<F, B, K2> {
        let Protected { call, inner, .. } = self;
        Protected {
            call,
            classifier,
            inner,
        }
    }

    /// The breaker this call runs through.
    ///
    /// ```
    /// use protego_breaker::{Breaker, CircuitBreaker, Config, State};
    ///
    /// let breaker = Breaker::new(Config::default());
    /// let fut = breaker.call(async { Ok::<(), ()>(()) });
    /// assert_eq!(fut.breaker().state(), State::Closed);
    /// ```
    pub fn breaker(&self) -> &Breaker<B::Clock> {
        self.call.breaker()
    }
}

#[cold]
#[inline(never)]
fn polled_after_completion() -> ! {
    panic!("`Protected` polled after completion")
}

/// Records a failure if the inner future panics: dropped only while unwinding out of `poll`.
/// It holds the running call's ticket while the call's phase says done (so that the call's
/// `Drop` records nothing more), and no pointer into the future: inlined into a caller's loop,
/// the future can then live in registers (benches/README.md).
struct PanicGuard<'a, C: Clock> {
    breaker: &'a Breaker<C>,
    ticket: Ticket,
}

impl<C: Clock> Drop for PanicGuard<'_, C> {
    fn drop(&mut self) {
        self.breaker.record(self.ticket, Outcome::Failure);
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
        let call = this.call;
        let breaker = breaker_of(call.handle.as_ref());
        let current = call.phase;
        let ticket = if current.is_call() {
            current
        } else if current == Ticket::START {
            match breaker.admit() {
                Ok(ticket) => ticket,
                Err(refusal) => {
                    call.phase = Ticket::DONE;
                    this.inner.set(Inner::Gone);
                    // Built here, inlined: out of line (even cold), the two exits' outputs
                    // are merged and the admitted call copied stale stack bytes over the
                    // fresh stores of the guard of the time, a store-forwarding stall (closed
                    // call 5.4 -> 7.7 ns measured, benches/README.md).
                    return Poll::Ready(Err(Error::Rejected(breaker.rejected(refusal))));
                }
            }
        } else {
            polled_after_completion()
        };
        let InnerProj::Live(fut) = this.inner.as_mut().project() else {
            unreachable!("a running call keeps its inner future");
        };
        // While the inner future runs the ticket is the guard's, and the phase says done: a
        // panic is recorded once, as a failure, by the guard. One store on the closed path.
        call.phase.finish(ticket);
        let guard = PanicGuard { breaker, ticket };
        let output = fut.poll(cx);
        // Not unwinding: the guard must not record anything.
        std::mem::forget(guard);
        let Poll::Ready(output) = output else {
            call.phase.resume(ticket);
            return Poll::Pending;
        };
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
        self.call.phase == Ticket::DONE
    }
}

impl<F, B: CircuitBreaker, K> fmt::Debug for Protected<F, B, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let phase = if self.call.phase.is_call() {
            "running"
        } else if self.call.phase == Ticket::START {
            "not started"
        } else {
            "done"
        };
        f.debug_struct("Protected")
            .field("breaker", &self.call.breaker().name())
            .field("phase", &phase)
            .finish_non_exhaustive()
    }
}
