//! A rejection as gRPC says it: [`unavailable`], a `Status` with `grpc-retry-pushback-ms`.

use std::sync::Arc;

use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::Status;

use crate::error::Rejected;

/// The metadata key that tells a gRPC client how long to wait before it retries, in
/// milliseconds (gRFC A6, "pushback").
///
/// ```
/// assert_eq!(protego_breaker::integrations::tonic::RETRY_PUSHBACK_MS, "grpc-retry-pushback-ms");
/// ```
pub const RETRY_PUSHBACK_MS: &str = "grpc-retry-pushback-ms";

/// `grpc-retry-pushback-ms` for a rejection: the time left in whole milliseconds, rounded up;
/// `None` when it is not known (a half-open circuit whose round has every trial taken, or
/// forced open).
///
/// ```
/// # use protego_breaker::{Breaker, CircuitBreaker, Config, ManualClock};
/// # use std::time::Duration;
/// let clock = ManualClock::new();
/// let breaker = Breaker::with_clock(Config::builder().failure_threshold(1).build()?, clock.clone());
/// breaker.try_acquire().unwrap().failure();
/// clock.advance(Duration::from_micros(500));
/// let rejected = breaker.try_acquire().unwrap_err();
/// // 59 999.5 ms, rounded up
/// assert_eq!(protego_breaker::integrations::tonic::retry_pushback_ms(&rejected), Some(60_000));
/// # Ok::<(), protego_breaker::ConfigError>(())
/// ```
pub fn retry_pushback_ms(rejected: &Rejected) -> Option<u64> {
    rejected.retry_after().map(|d| {
        let ms = d.as_nanos().div_ceil(1_000_000);
        u64::try_from(ms).unwrap_or(u64::MAX)
    })
}

/// The status for a rejected call: `UNAVAILABLE`, the rejection as its message (and its
/// source), and `grpc-retry-pushback-ms` in its metadata when the time left is known.
///
/// `UNAVAILABLE` is the code gRPC gives a call that was not run and may be retried; a client
/// that honours pushback (gRFC A6) waits the time left before it retries.
///
/// ```
/// # use protego_breaker::{Breaker, CircuitBreaker, Config, ManualClock};
/// use protego_breaker::integrations::tonic::unavailable;
///
/// let config = Config::builder().failure_threshold(1).build()?;
/// let breaker = Breaker::with_clock(config, ManualClock::new()).named("quotes");
/// breaker.try_acquire().unwrap().failure();
/// let status = unavailable(&breaker.try_acquire().unwrap_err());
/// assert_eq!(status.code(), tonic::Code::Unavailable);
/// assert_eq!(status.message(), "circuit `quotes` is open, retry after 60s");
/// assert_eq!(status.metadata().get("grpc-retry-pushback-ms").unwrap(), "60000");
/// # Ok::<(), protego_breaker::ConfigError>(())
/// ```
pub fn unavailable(rejected: &Rejected) -> Status {
    let mut metadata = MetadataMap::new();
    if let Some(ms) = retry_pushback_ms(rejected) {
        metadata.insert(RETRY_PUSHBACK_MS, MetadataValue::from(ms));
    }
    let mut status =
        Status::with_metadata(tonic::Code::Unavailable, rejected.to_string(), metadata);
    status.set_source(Arc::new(rejected.clone()));
    status
}

/// The answer to a rejected call, as a server would send it: a trailers-only `UNAVAILABLE`
/// (see [`unavailable`]) with `body`, carrying the rejection in its extensions.
pub(super) fn trailers_only<B>(rejected: Rejected, body: B) -> http::Response<B> {
    let mut response = unavailable(&rejected).into_http::<()>().map(|()| body);
    response.extensions_mut().insert(rejected);
    response
}
