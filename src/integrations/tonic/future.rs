//! [`GrpcResponseFuture`]: the inner service's future, then the response's head classified or
//! its permit handed to the body.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project::pin_project;

use super::body::GrpcBody;
use super::codes::{head_code, ClassifyCode};
use super::pushback::pushed_back;
use super::rejection::trailers_only;
use crate::call::circuit_breaker::CircuitBreaker;
use crate::call::classify::Outcome;
use crate::call::permit::Permit;
use crate::error::Rejected;

/// The future of a [`GrpcCircuitBreakerService`](super::GrpcCircuitBreakerService) call: the
/// inner response with its body wrapped in a [`GrpcBody`], or, for a rejected call, a
/// trailers-only `UNAVAILABLE` answer (see [`unavailable`](super::unavailable)).
///
/// ```
/// use std::sync::Arc;
/// use protego_breaker::integrations::tonic::{GrpcCircuitBreakerLayer, GrpcResponseFuture};
/// use tower::{service_fn, Layer, Service};
///
/// let mut svc = GrpcCircuitBreakerLayer::new(Arc::new(protego_breaker::Breaker::new(Default::default())))
///     .layer(service_fn(|_: http::Request<()>| async {
///         Ok::<_, std::convert::Infallible>(http::Response::new(tonic::body::Body::empty()))
///     }));
/// let future = svc.call(http::Request::new(()));
/// # fn check<F, H: protego_breaker::CircuitBreaker, K>(_: &GrpcResponseFuture<F, H, K>) {}
/// check(&future);
/// ```
#[pin_project]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct GrpcResponseFuture<F, H: CircuitBreaker, K> {
    #[pin]
    state: State<F, H, K>,
}

impl<F, H: CircuitBreaker, K> GrpcResponseFuture<F, H, K> {
    /// An admitted call: `fut` runs, and its outcome is reported through `permit`.
    pub(super) fn running(fut: F, permit: Permit<H>, classifier: K) -> Self {
        GrpcResponseFuture {
            state: State::Running {
                fut,
                pending: Some((permit, classifier)),
            },
        }
    }

    /// A rejected call: answers at once.
    pub(super) fn rejected(rejected: Rejected) -> Self {
        GrpcResponseFuture {
            state: State::Rejected {
                rejected: Some(rejected),
            },
        }
    }
}

#[pin_project(project = StateProj)]
enum State<F, H: CircuitBreaker, K> {
    Running {
        #[pin]
        fut: F,
        pending: Option<(Permit<H>, K)>,
    },
    Rejected {
        rejected: Option<Rejected>,
    },
}

impl<F, H, K, B, E> Future for GrpcResponseFuture<F, H, K>
where
    F: Future<Output = Result<http::Response<B>, E>>,
    H: CircuitBreaker,
    K: ClassifyCode,
{
    type Output = Result<http::Response<GrpcBody<B, H, K>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Running { fut, pending } => {
                // A panic in `fut` drops the permit while unwinding: recorded as a failure.
                let output = std::task::ready!(fut.poll(cx));
                let (permit, classifier) = pending
                    .take()
                    .expect("`GrpcResponseFuture` polled after completion");
                Poll::Ready(match output {
                    // No response at all: the connection failed, or a timeout inside the service.
                    Err(e) => {
                        permit.record(Outcome::Failure);
                        Err(e)
                    }
                    Ok(response) => Ok(match head_code(&response) {
                        Some(code) => {
                            permit.record(pushed_back(
                                classifier.classify_code(code),
                                response.headers(),
                            ));
                            response.map(GrpcBody::decided)
                        }
                        None => response.map(|body| GrpcBody::pending(body, permit, classifier)),
                    }),
                })
            }
            StateProj::Rejected { rejected } => {
                let rejected = rejected
                    .take()
                    .expect("`GrpcResponseFuture` polled after completion");
                let response = trailers_only(rejected, GrpcBody::empty());
                Poll::Ready(Ok(response))
            }
        }
    }
}

impl<F, H: CircuitBreaker, K> fmt::Debug for GrpcResponseFuture<F, H, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Running { .. } => "running",
            State::Rejected { .. } => "rejected",
        };
        f.debug_struct("GrpcResponseFuture")
            .field("state", &state)
            .finish()
    }
}
