//! [`ResponseFuture`]: the inner service's future, holding the permit it reports to.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project::pin_project;

use crate::call::circuit_breaker::CircuitBreaker;
use crate::call::classify::{is_timeout, Classify, Outcome};
use crate::call::permit::Permit;
use crate::error::{Error, Rejected};
use crate::integrations::tower::BoxError;

/// The future of a [`CircuitBreakerService`](super::CircuitBreakerService) call.
#[pin_project]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct ResponseFuture<F, B: CircuitBreaker, K> {
    #[pin]
    state: State<F, B, K>,
}

impl<F, B: CircuitBreaker, K> ResponseFuture<F, B, K> {
    /// An admitted request: `fut` runs, and its output is reported through `permit`.
    pub(super) fn running(fut: F, permit: Permit<B>, classifier: K) -> Self {
        ResponseFuture {
            state: State::Running {
                fut,
                permit: Some(permit),
                classifier,
            },
        }
    }

    /// A rejected request: resolves to `rejected` at once.
    pub(super) fn rejected(rejected: Rejected) -> Self {
        ResponseFuture {
            state: State::Rejected {
                rejected: Some(rejected),
            },
        }
    }
}

#[pin_project(project = StateProj)]
enum State<F, B: CircuitBreaker, K> {
    Running {
        #[pin]
        fut: F,
        permit: Option<Permit<B>>,
        classifier: K,
    },
    Rejected {
        rejected: Option<Rejected>,
    },
}

impl<F, B: CircuitBreaker, K> ResponseFuture<F, B, K> {
    /// The call's result with its error unboxed: the layers that answer a rejection themselves
    /// (HTTP's 503) poll this.
    #[cfg(feature = "http")]
    pub(crate) fn poll_typed<T, E>(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<T, Error<E>>>
    where
        F: Future<Output = Result<T, E>>,
        K: Classify<T, E>,
    {
        self.poll_judged(cx, |outcome, output| (outcome, output))
    }

    /// The call's result, `judge` given the classifier's outcome and the inner result and
    /// returning the outcome to record and the result to return.
    #[inline]
    fn poll_judged<T, E, R>(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        judge: impl FnOnce(Outcome, Result<T, E>) -> (Outcome, Result<T, R>),
    ) -> Poll<Result<T, Error<R>>>
    where
        F: Future<Output = Result<T, E>>,
        K: Classify<T, E>,
    {
        match self.project().state.project() {
            StateProj::Running {
                fut,
                permit,
                classifier,
            } => {
                // A panic in `fut` drops the permit while unwinding: recorded as a failure.
                let output = std::task::ready!(fut.poll(cx));
                let (outcome, output) = judge(classifier.classify(&output), output);
                if let Some(permit) = permit.take() {
                    permit.record(outcome);
                }
                Poll::Ready(output.map_err(Error::Inner))
            }
            StateProj::Rejected { rejected } => Poll::Ready(Err(Error::Rejected(
                rejected
                    .take()
                    .expect("`ResponseFuture` polled after completion"),
            ))),
        }
    }
}

impl<F, B, K, T, E> Future for ResponseFuture<F, B, K>
where
    F: Future<Output = Result<T, E>>,
    B: CircuitBreaker,
    K: Classify<T, E>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    /// The error is boxed before the outcome is recorded, so that a failure that is a timeout
    /// ([`is_timeout`]: tower's `Elapsed` with feature `tower-timeout`, an `io::Error` that
    /// timed out) counts as an overload.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.poll_judged(cx, |outcome, output| {
            let output = output.map_err(Into::into);
            match &output {
                Err(e) if outcome == Outcome::Failure && is_timeout(&**e) => {
                    (Outcome::Overload, output)
                }
                _ => (outcome, output),
            }
        })
        .map_err(Error::into_box_error)
    }
}

impl<F, B: CircuitBreaker, K> fmt::Debug for ResponseFuture<F, B, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Running { .. } => "running",
            State::Rejected { .. } => "rejected",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}
