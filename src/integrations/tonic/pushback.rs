//! A server's pushback (gRFC A6, `grpc-retry-pushback-ms`) read from an answer: [`pushback`],
//! [`Pushback`], and why an answer carrying it is an overload.

use std::time::Duration;

use crate::call::classify::{Classify, Outcome};
use crate::integrations::tonic::codes::{ClassifyCode, FailureCodes};
use crate::integrations::tonic::rejection::RETRY_PUSHBACK_MS;

/// What a server's `grpc-retry-pushback-ms` says (gRFC A6): wait that long before retrying,
/// or do not retry at all.
///
/// ```
/// use std::time::Duration;
/// use protego_breaker::integrations::tonic::{pushback, Pushback};
///
/// let status = tonic::Status::unavailable("busy");
/// assert_eq!(pushback(status.metadata().as_ref()), None);
/// let mut status = tonic::Status::resource_exhausted("busy");
/// status.metadata_mut().insert("grpc-retry-pushback-ms", "250".parse().unwrap());
/// assert_eq!(
///     pushback(status.metadata().as_ref()),
///     Some(Pushback::RetryAfter(Duration::from_millis(250)))
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pushback {
    /// A non-negative integer: retry after this long, no sooner.
    RetryAfter(Duration),
    /// A negative or malformed value: the server asks the client not to retry.
    DoNotRetry,
}

/// The pushback in a gRPC answer's metadata (its head for a trailers-only answer, else its
/// trailers), or `None` when it carries none. Read as gRFC A6 reads it: a non-negative decimal
/// integer is a number of milliseconds to wait; anything else (a negative number, a sign,
/// spaces, letters, a value too large for 64 bits, bytes that are not ASCII) asks the client
/// not to retry. Never panics.
///
/// ```
/// use std::time::Duration;
/// use protego_breaker::integrations::tonic::{pushback, Pushback};
///
/// let with = |value: &'static str| {
///     let mut headers = http::HeaderMap::new();
///     headers.insert("grpc-retry-pushback-ms", http::HeaderValue::from_static(value));
///     pushback(&headers)
/// };
/// assert_eq!(with("0"), Some(Pushback::RetryAfter(Duration::ZERO)));
/// assert_eq!(with("1500"), Some(Pushback::RetryAfter(Duration::from_millis(1500))));
/// assert_eq!(with("-1"), Some(Pushback::DoNotRetry));
/// assert_eq!(with("soon"), Some(Pushback::DoNotRetry));
/// assert_eq!(with("99999999999999999999999"), Some(Pushback::DoNotRetry));
/// assert_eq!(pushback(&http::HeaderMap::new()), None);
/// ```
pub fn pushback(metadata: &http::HeaderMap) -> Option<Pushback> {
    let value = metadata.get(RETRY_PUSHBACK_MS)?.as_bytes();
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Some(Pushback::DoNotRetry);
    }
    let ms = value.iter().try_fold(0u64, |ms, digit| {
        ms.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
    });
    Some(ms.map_or(Pushback::DoNotRetry, |ms| {
        Pushback::RetryAfter(Duration::from_millis(ms))
    }))
}

/// `outcome` of an answer whose status is in `metadata`: a failure that carries a pushback is
/// an overload (the server said it has no room), as an HTTP 5xx with `Retry-After` is.
#[inline]
pub(super) fn pushed_back(outcome: Outcome, metadata: &http::HeaderMap) -> Outcome {
    if outcome == Outcome::Failure && metadata.contains_key(RETRY_PUSHBACK_MS) {
        Outcome::Overload
    } else {
        outcome
    }
}

/// [`FailureCodes`] on the result of a tonic client call (`client.method(req).await`): `Ok` is
/// a success, an error [`Status`](tonic::Status) is classified by its code, and a failure that
/// carries `grpc-retry-pushback-ms` is an [overload](Outcome::Overload). For calls protected
/// one by one (`.protect(&registry, name).classify(FailureCodes::DEFAULT)`), where the layer
/// is not used.
///
/// ```
/// use protego_breaker::call::{Classify, Outcome};
/// use protego_breaker::integrations::tonic::FailureCodes;
///
/// let answer = |status: tonic::Status| Err::<tonic::Response<()>, _>(status);
/// let codes = FailureCodes::DEFAULT;
/// assert_eq!(codes.classify(&answer(tonic::Status::unavailable("down"))), Outcome::Failure);
/// let mut busy = tonic::Status::unavailable("busy");
/// busy.metadata_mut().insert("grpc-retry-pushback-ms", "100".parse().unwrap());
/// assert_eq!(codes.classify(&answer(busy)), Outcome::Overload);
/// assert_eq!(codes.classify(&answer(tonic::Status::not_found("no"))), Outcome::Success);
/// assert_eq!(codes.classify(&Ok(tonic::Response::new(()))), Outcome::Success);
/// ```
impl<T> Classify<tonic::Response<T>, tonic::Status> for FailureCodes {
    fn classify(&self, result: &Result<tonic::Response<T>, tonic::Status>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(status) => pushed_back(
                self.classify_code(status.code()),
                status.metadata().as_ref(),
            ),
        }
    }
}
