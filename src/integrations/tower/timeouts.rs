//! Timeouts under the tower layers: a failure whose error is a timeout counts as overload.

use crate::call::classify::{is_timeout, Classify, Outcome};

/// Whether `error` is a timeout as [`is_timeout`] sees it, for an error type known only as a
/// type parameter: a [`BoxError`](crate::integrations::tower::BoxError)-like box, an
/// `io::Error`, or (feature `tower-timeout`) tower's `Elapsed` itself. Any other type is not
/// looked into. Decided by type at compile time: nothing is paid for other error types.
pub(crate) fn timed_out<E: 'static>(error: &E) -> bool {
    let any = error as &dyn std::any::Any;
    if let Some(e) = any.downcast_ref::<Box<dyn std::error::Error + Send + Sync>>() {
        return is_timeout(&**e);
    }
    if let Some(e) = any.downcast_ref::<Box<dyn std::error::Error + Send>>() {
        return is_timeout(&**e);
    }
    if let Some(e) = any.downcast_ref::<Box<dyn std::error::Error>>() {
        return is_timeout(&**e);
    }
    if let Some(e) = any.downcast_ref::<std::io::Error>() {
        return is_timeout(e);
    }
    #[cfg(feature = "tower-timeout")]
    if any.is::<tower::timeout::error::Elapsed>() {
        return true;
    }
    false
}

/// `K`'s outcome, with a failure whose error is a timeout ([`timed_out`]) an overload: what
/// the crate's tower layers classify with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TimeoutsShed<K>(pub(crate) K);

impl<T, E: 'static, K: Classify<T, E>> Classify<T, E> for TimeoutsShed<K> {
    #[inline]
    fn classify(&self, result: &Result<T, E>) -> Outcome {
        match (self.0.classify(result), result) {
            (Outcome::Failure, Err(e)) if timed_out(e) => Outcome::Overload,
            (outcome, _) => outcome,
        }
    }
}
