//! Which gRPC status codes count against the downstream: [`ClassifyCode`], the default set
//! [`FailureCodes`], and where a response says its code ([`head_code`], [`trailers_code`]).

use std::fmt;

use tonic::Code;

use super::pushback::pushed_back;
use crate::call::classify::{Classify, Outcome};

/// Decides the [`Outcome`] of a gRPC call from its status code.
///
/// [`FailureCodes`] is the default; any `Fn(Code) -> Outcome` is one too, so a closure can also
/// ignore codes (an [`Outcome::Ignored`] call counts neither way).
///
/// ```
/// use protego_breaker::call::Outcome;
/// use protego_breaker::integrations::tonic::ClassifyCode;
/// use tonic::Code;
///
/// let classify = |code: Code| match code {
///     Code::Unavailable | Code::Internal => Outcome::Failure,
///     Code::Cancelled => Outcome::Ignored, // the caller gave up: says nothing of the server
///     _ => Outcome::Success,
/// };
/// assert_eq!(classify.classify_code(Code::Unavailable), Outcome::Failure);
/// assert_eq!(classify.classify_code(Code::Cancelled), Outcome::Ignored);
/// assert_eq!(classify.classify_code(Code::NotFound), Outcome::Success);
/// ```
pub trait ClassifyCode {
    /// The outcome of a call that ended with `code`.
    fn classify_code(&self, code: Code) -> Outcome;
}

impl<F: Fn(Code) -> Outcome> ClassifyCode for F {
    #[inline]
    fn classify_code(&self, code: Code) -> Outcome {
        self(code)
    }
}

/// A set of gRPC status codes that are failures; every other code is a success.
///
/// The [default](FailureCodes::DEFAULT) is the codes that say the server, not the request, is
/// in trouble: `UNAVAILABLE`, `DEADLINE_EXCEEDED`, `RESOURCE_EXHAUSTED` and `INTERNAL`. An
/// answer such as `NOT_FOUND` or `INVALID_ARGUMENT` is the caller's business and a sign that the
/// server works. The set is one word: copying and testing it cost nothing. Of the codes in
/// the set, `RESOURCE_EXHAUSTED` and `DEADLINE_EXCEEDED` are classified as
/// [`Outcome::Overload`] (the breaker sheds them rather than opening), the others as failures.
///
/// ```
/// use protego_breaker::call::Outcome;
/// use protego_breaker::integrations::tonic::{ClassifyCode, FailureCodes};
/// use tonic::Code;
///
/// let codes = FailureCodes::default();
/// assert_eq!(codes.classify_code(Code::Unavailable), Outcome::Failure);
/// assert_eq!(codes.classify_code(Code::ResourceExhausted), Outcome::Overload);
/// assert_eq!(codes.classify_code(Code::NotFound), Outcome::Success);
///
/// // `UNKNOWN` too, and a slow answer is not the server's fault here.
/// let codes = codes.with(Code::Unknown).without(Code::DeadlineExceeded);
/// assert_eq!(codes.classify_code(Code::Unknown), Outcome::Failure);
/// assert_eq!(codes.classify_code(Code::DeadlineExceeded), Outcome::Success);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FailureCodes {
    /// Bit `n` set: code `n` is a failure (codes are 0 to 16).
    bits: u32,
}

impl FailureCodes {
    /// `UNAVAILABLE`, `DEADLINE_EXCEEDED`, `RESOURCE_EXHAUSTED` and `INTERNAL`.
    ///
    /// ```
    /// use protego_breaker::integrations::tonic::FailureCodes;
    /// use tonic::Code;
    ///
    /// assert_eq!(
    ///     FailureCodes::DEFAULT,
    ///     FailureCodes::none()
    ///         .with(Code::Unavailable)
    ///         .with(Code::DeadlineExceeded)
    ///         .with(Code::ResourceExhausted)
    ///         .with(Code::Internal)
    /// );
    /// ```
    pub const DEFAULT: FailureCodes = FailureCodes::none()
        .with(Code::Unavailable)
        .with(Code::DeadlineExceeded)
        .with(Code::ResourceExhausted)
        .with(Code::Internal);

    /// No code is a failure (only errors with no response at all are).
    ///
    /// ```
    /// use protego_breaker::integrations::tonic::FailureCodes;
    ///
    /// assert!(!FailureCodes::none().contains(tonic::Code::Unavailable));
    /// ```
    pub const fn none() -> FailureCodes {
        FailureCodes { bits: 0 }
    }

    /// This set and `code`.
    ///
    /// ```
    /// use protego_breaker::integrations::tonic::FailureCodes;
    /// use tonic::Code;
    ///
    /// assert!(FailureCodes::DEFAULT.with(Code::Unknown).contains(Code::Unknown));
    /// ```
    #[must_use]
    pub const fn with(self, code: Code) -> FailureCodes {
        FailureCodes {
            bits: self.bits | bit(code),
        }
    }

    /// This set without `code`.
    ///
    /// ```
    /// use protego_breaker::integrations::tonic::FailureCodes;
    /// use tonic::Code;
    ///
    /// assert!(!FailureCodes::DEFAULT.without(Code::Internal).contains(Code::Internal));
    /// ```
    #[must_use]
    pub const fn without(self, code: Code) -> FailureCodes {
        FailureCodes {
            bits: self.bits & !bit(code),
        }
    }

    /// Whether `code` is a failure.
    ///
    /// ```
    /// use protego_breaker::integrations::tonic::FailureCodes;
    /// use tonic::Code;
    ///
    /// assert!(FailureCodes::DEFAULT.contains(Code::ResourceExhausted));
    /// assert!(!FailureCodes::DEFAULT.contains(Code::Ok));
    /// ```
    pub const fn contains(self, code: Code) -> bool {
        self.bits & bit(code) != 0
    }
}

/// Where a gRPC response says its status code.
const GRPC_STATUS: http::HeaderName = http::HeaderName::from_static("grpc-status");

/// The bit of `code` (`Code` is `repr(i32)` with values 0 to 16).
const fn bit(code: Code) -> u32 {
    1 << (code as u32)
}

impl Default for FailureCodes {
    fn default() -> Self {
        FailureCodes::DEFAULT
    }
}

impl ClassifyCode for FailureCodes {
    #[inline]
    fn classify_code(&self, code: Code) -> Outcome {
        if self.contains(code) {
            // The server said it has no room, or ran out of time: shed, not an outage.
            if matches!(code, Code::ResourceExhausted | Code::DeadlineExceeded) {
                Outcome::Overload
            } else {
                Outcome::Failure
            }
        } else {
            Outcome::Success
        }
    }
}

/// A response classified by its head alone: the code of a trailers-only answer (see
/// [`head_code`]), a success when the status is still to come in the trailers, and a failure
/// for an error (no response at all).
///
/// For code that decides when the response arrives, through the crate's
/// [`Classify`] (a per-endpoint pool's layer, `integrations::balance`): most
/// gRPC errors, and every unary error tonic, grpc-go and grpc-java send, are trailers-only, so
/// the head sees them; a stream that fails after its first messages is not seen. The
/// single-channel [`GrpcCircuitBreakerLayer`](super::GrpcCircuitBreakerLayer) reads the
/// trailers too.
///
/// ```
/// use protego_breaker::call::{Classify, Outcome};
/// use protego_breaker::integrations::tonic::{ClassifyHead, FailureCodes};
/// use tonic::Code;
///
/// let by_head = ClassifyHead(|code: Code| if code == Code::NotFound { Outcome::Failure } else { Outcome::Success });
/// let not_found = Ok::<_, ()>(tonic::Status::not_found("gone").into_http::<()>());
/// assert_eq!(by_head.classify(&not_found), Outcome::Failure);
/// // `FailureCodes` is one too, on its own.
/// assert_eq!(FailureCodes::DEFAULT.classify(&not_found), Outcome::Success);
/// assert_eq!(FailureCodes::DEFAULT.classify(&Err::<http::Response<()>, _>(())), Outcome::Failure);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ClassifyHead<K>(pub K);

impl<K: ClassifyCode, B, E> Classify<http::Response<B>, E> for ClassifyHead<K> {
    fn classify(&self, result: &Result<http::Response<B>, E>) -> Outcome {
        match result {
            Ok(response) => head_code(response).map_or(Outcome::Success, |code| {
                pushed_back(self.0.classify_code(code), response.headers())
            }),
            Err(_) => Outcome::Failure,
        }
    }
}

/// [`FailureCodes`] on a response's head, as [`ClassifyHead`] reads it.
impl<B, E> Classify<http::Response<B>, E> for FailureCodes {
    #[inline]
    fn classify(&self, result: &Result<http::Response<B>, E>) -> Outcome {
        ClassifyHead(*self).classify(result)
    }
}

impl fmt::Debug for FailureCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries((0..=16).map(Code::from_i32).filter(|c| self.contains(*c)))
            .finish()
    }
}

/// The status code a response's head already decides, or `None` when it comes in the trailers.
///
/// A gRPC answer is an HTTP 200 whose status comes in `grpc-status`: in the trailers after the
/// messages, or, for an answer with no message (how servers send most errors), in the head
/// itself ("trailers-only"). A head with another HTTP status (a proxy's 503) has its code read
/// as tonic and gRPC read it: 400 is `INTERNAL`, 401 `UNAUTHENTICATED`, 403 `PERMISSION_DENIED`,
/// 404 `UNIMPLEMENTED`, 429, 502, 503 and 504 `UNAVAILABLE`, any other `UNKNOWN`.
///
/// ```
/// use protego_breaker::integrations::tonic::head_code;
/// use tonic::Code;
///
/// let trailers_only = tonic::Status::unavailable("down").into_http::<()>();
/// assert_eq!(head_code(&trailers_only), Some(Code::Unavailable));
///
/// let messages_follow = http::Response::new(());
/// assert_eq!(head_code(&messages_follow), None);
///
/// let proxy = http::Response::builder().status(503).body(()).unwrap();
/// assert_eq!(head_code(&proxy), Some(Code::Unavailable));
/// ```
pub fn head_code<B>(response: &http::Response<B>) -> Option<Code> {
    if let Some(status) = response.headers().get(GRPC_STATUS) {
        return Some(Code::from_bytes(status.as_bytes()));
    }
    Some(match response.status().as_u16() {
        200 => return None,
        400 => Code::Internal,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::Unimplemented,
        429 | 502..=504 => Code::Unavailable,
        _ => Code::Unknown,
    })
}

/// The status code in a gRPC response's trailers; `UNKNOWN` when they carry none (as tonic
/// reads a stream cut short).
///
/// ```
/// use protego_breaker::integrations::tonic::trailers_code;
/// use tonic::Code;
///
/// let mut trailers = http::HeaderMap::new();
/// assert_eq!(trailers_code(&trailers), Code::Unknown);
/// trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
/// assert_eq!(trailers_code(&trailers), Code::Ok);
/// ```
pub fn trailers_code(trailers: &http::HeaderMap) -> Code {
    trailers
        .get(GRPC_STATUS)
        .map_or(Code::Unknown, |status| Code::from_bytes(status.as_bytes()))
}
