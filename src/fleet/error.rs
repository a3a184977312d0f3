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
    /// The store is changing hands: a failover or a slot migration is under way, and the node
    /// asked answered with one of the replies Redis gives in that window (`MOVED`, `ASK`,
    /// `TRYAGAIN`, `CLUSTERDOWN`, `LOADING`, `READONLY`, `MASTERDOWN`). Not a refusal: the
    /// same operation a moment later reaches the new owner, and a fleet asks again on its own
    /// short backoff (see [`Fleet`](crate::fleet::Fleet), "When the store is away").
    ///
    /// ```
    /// use protego_breaker::fleet::StoreError;
    /// let e = StoreError::InTransition {
    ///     op: "read",
    ///     node: "127.0.0.1:7001".into(),
    ///     reply: "CLUSTERDOWN The cluster is down".into(),
    /// };
    /// assert_eq!(e.to_string(), "store in transition: 127.0.0.1:7001 answered read with CLUSTERDOWN The cluster is down");
    /// assert!(e.is_in_transition() && e.is_unavailable() && e.is_store_wide());
    /// ```
    #[error("store in transition: {node} answered {op} with {reply}")]
    InTransition {
        /// The operation.
        op: &'static str,
        /// The node that answered (`host:port`; on a cluster, where a redirect pointed, or
        /// the slot's node when the reply names none).
        node: String,
        /// The node's reply, code first (`MOVED 3999 127.0.0.1:7002`).
        reply: String,
    },
    /// The store refused the operation (permissions, out of memory, busy, a bad argument,
    /// ...): what would be answered again if asked again now.
    #[error("store refused {op}: {detail}")]
    Refused {
        /// The operation.
        op: &'static str,
        /// The store's words.
        detail: String,
    },
}

impl StoreError {
    /// True for the errors that say the store is away, for now (unreachable, timed out, or
    /// [in transition](Self::InTransition)), as opposed to refusing or holding garbage.
    ///
    /// ```
    /// use std::time::Duration;
    /// use protego_breaker::fleet::StoreError;
    /// assert!(StoreError::Timeout(Duration::from_millis(100)).is_unavailable());
    /// assert!(!StoreError::Garbage { name: "db".into(), detail: "kind = ajar".into() }.is_unavailable());
    /// ```
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Self::Unreachable(_) | Self::Timeout(_) | Self::InTransition { .. }
        )
    }

    /// True for a store [in transition](Self::InTransition): a failover or a slot migration
    /// under way.
    ///
    /// ```
    /// use protego_breaker::fleet::StoreError;
    /// let moved = StoreError::InTransition {
    ///     op: "trip",
    ///     node: "127.0.0.1:7002".into(),
    ///     reply: "MOVED 3999 127.0.0.1:7002".into(),
    /// };
    /// assert!(moved.is_in_transition());
    /// assert!(!StoreError::Unreachable("connection refused".into()).is_in_transition());
    /// ```
    pub fn is_in_transition(&self) -> bool {
        matches!(self, Self::InTransition { .. })
    }

    /// True for the errors about the whole store rather than one breaker's keys: it is away
    /// or changing hands ([`is_unavailable`](Self::is_unavailable)) or it refuses the
    /// operation (`NOAUTH`, out of memory, ...). A [`Fleet`](crate::fleet::Fleet) is offline after one
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
        self.is_unavailable() || matches!(self, Self::Refused { .. })
    }
}
