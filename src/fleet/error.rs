//! The one error type of every store.

use std::time::Duration;

/// Why a store operation gave no answer. A store never panics on what it reads.
///
/// ```
/// use protego_breaker::fleet::StoreError;
/// let e = StoreError::Unreachable("connection refused".into());
/// assert_eq!(e.to_string(), "store unreachable: connection refused");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store could not be reached (connect refused, connection dropped, I/O error).
    #[error("store unreachable: {0}")]
    Unreachable(String),
    /// The operation did not finish within the op timeout.
    #[error("store operation timed out after {0:?}")]
    Timeout(Duration),
    /// A key of this breaker holds something this library did not write (wrong type, a field
    /// that does not parse). `Manual::Reset` repairs it.
    #[error("store holds garbage for breaker {name:?}: {detail}")]
    Garbage {
        /// The breaker's name.
        name: String,
        /// What was wrong.
        detail: String,
    },
    /// The store answered something this library cannot read.
    #[error("unexpected reply to {op}: {detail}")]
    BadReply {
        /// The operation.
        op: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// The store refused the operation (permissions, read-only replica, out of memory, busy, ...).
    #[error("store refused {op}: {detail}")]
    Refused {
        /// The operation.
        op: &'static str,
        /// The store's words.
        detail: String,
    },
}

impl StoreError {
    /// True for the errors that say the store is away (as opposed to holding or saying garbage).
    ///
    /// ```
    /// use std::time::Duration;
    /// use protego_breaker::fleet::StoreError;
    /// assert!(StoreError::Timeout(Duration::from_millis(100)).is_unavailable());
    /// assert!(!StoreError::Garbage { name: "db".into(), detail: "kind = ajar".into() }.is_unavailable());
    /// ```
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unreachable(_) | Self::Timeout(_))
    }

    /// True for the errors about the whole store rather than one breaker's keys: it is away
    /// ([`is_unavailable`](Self::is_unavailable)) or it refuses the operation (`NOAUTH`,
    /// `READONLY`, out of memory, ...). A [`Fleet`](crate::fleet::Fleet) is offline after one
    /// of these until the store answers again; [`Garbage`](Self::Garbage) and
    /// [`BadReply`](Self::BadReply) concern one breaker and leave the others sharing.
    ///
    /// ```
    /// use protego_breaker::fleet::StoreError;
    /// let noauth = StoreError::Refused { op: "read", detail: "NOAUTH Authentication required".into() };
    /// assert!(noauth.is_store_wide() && !noauth.is_unavailable());
    /// assert!(!StoreError::Garbage { name: "db".into(), detail: "kind = ajar".into() }.is_store_wide());
    /// ```
    pub fn is_store_wide(&self) -> bool {
        matches!(
            self,
            Self::Unreachable(_) | Self::Timeout(_) | Self::Refused { .. }
        )
    }
}
