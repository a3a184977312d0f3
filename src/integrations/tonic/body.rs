//! [`GrpcBody`]: a response body that reports the call's outcome when its trailers arrive.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};
use pin_project::pin_project;
use tonic::Code;

use super::codes::{trailers_code, ClassifyCode};
use super::pushback::pushed_back;
use crate::call::circuit_breaker::CircuitBreaker;
use crate::call::classify::Outcome;
use crate::call::permit::Permit;

/// The body of a response from a [`GrpcCircuitBreakerService`](super::GrpcCircuitBreakerService).
///
/// It yields the inner body's frames unchanged. When the response's head did not carry the
/// call's status, the body holds the call's permit and reports the outcome when the status
/// arrives: the code in the trailers, a failure if the body fails (a reset stream), `UNKNOWN`
/// if it ends without trailers. A body dropped before that (the caller stopped reading a
/// stream) reports nothing, like a cancelled call. A rejected call's body is empty.
///
/// ```
/// use protego_breaker::integrations::tonic::GrpcCircuitBreakerLayer;
/// use tower::{service_fn, Layer, ServiceExt};
/// # use std::sync::Arc;
///
/// # futures::executor::block_on(async {
/// let server = service_fn(|_: http::Request<()>| async {
///     Ok::<_, std::convert::Infallible>(tonic::Status::not_found("no such quote").into_http::<tonic::body::Body>())
/// });
/// let svc = GrpcCircuitBreakerLayer::new(Arc::new(protego_breaker::Breaker::new(Default::default())))
///     .layer(server);
/// let response = svc.oneshot(http::Request::new(())).await.unwrap();
/// let _body: &protego_breaker::integrations::tonic::GrpcBody<tonic::body::Body, _, _> = response.body();
/// # });
/// ```
#[pin_project]
pub struct GrpcBody<B, H: CircuitBreaker, K> {
    /// `None`: the empty body of a rejection.
    #[pin]
    inner: Option<B>,
    /// The permit and classifier while the status is still to come.
    pending: Option<(Permit<H>, K)>,
}

impl<B, H: CircuitBreaker, K> GrpcBody<B, H, K> {
    /// A body whose call is decided: its frames pass through.
    pub(super) fn decided(inner: B) -> Self {
        GrpcBody {
            inner: Some(inner),
            pending: None,
        }
    }

    /// A body whose call is decided by its trailers.
    pub(super) fn pending(inner: B, permit: Permit<H>, classifier: K) -> Self {
        GrpcBody {
            inner: Some(inner),
            pending: Some((permit, classifier)),
        }
    }

    /// The empty body of a rejection.
    pub(super) fn empty() -> Self {
        GrpcBody {
            inner: None,
            pending: None,
        }
    }
}

impl<B, H, K> Body for GrpcBody<B, H, K>
where
    B: Body,
    H: CircuitBreaker,
    K: ClassifyCode,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let Some(inner) = this.inner.as_pin_mut() else {
            return Poll::Ready(None);
        };
        let frame = std::task::ready!(inner.poll_frame(cx));
        if let Some((_, classifier)) = this.pending.as_ref() {
            let outcome = match &frame {
                Some(Ok(frame)) => frame.trailers_ref().map(|trailers| {
                    pushed_back(classifier.classify_code(trailers_code(trailers)), trailers)
                }),
                Some(Err(_)) => Some(Outcome::Failure),
                None => Some(classifier.classify_code(Code::Unknown)),
            };
            if let Some(outcome) = outcome {
                if let Some((permit, _)) = this.pending.take() {
                    permit.record(outcome);
                }
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().map_or(true, Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

impl<B, H: CircuitBreaker, K> fmt::Debug for GrpcBody<B, H, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match (&self.inner, &self.pending) {
            (None, _) => "rejected",
            (Some(_), Some(_)) => "pending",
            (Some(_), None) => "decided",
        };
        f.debug_struct("GrpcBody").field("state", &state).finish()
    }
}
