//! The pub/sub side: a subscription to the store's channel, and the pushed messages parsed
//! into [`Change`]s.
//!
//! Every transition a script makes publishes `1 <epoch> <kind> <open_remaining_ms> <name>` on
//! `<prefix>:events` in the same atomic step (the leading `1` is the format's version; the
//! name is the rest of the line, spaces included). Pushes are a shortcut, not the source of
//! truth: Redis pub/sub delivers at most once, so the sync future reads every breaker each
//! sync interval anyway, and a message that does not parse is an error item in the stream,
//! never guessed at.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;

use super::reply::{bad, map_err};
use super::RedisStore;
use crate::fleet::{with_timeout, Change, ChangeStream, Epoch, StateKind, StoreError};

/// Parses a pushed message: `1 <epoch> <kind> <open_remaining_ms> <name>`.
///
/// # Errors
/// [`StoreError::BadReply`] saying what is wrong with the message.
///
/// ```
/// use protego_breaker::fleet::redis::parse_change;
/// use protego_breaker::fleet::StateKind;
/// let change = parse_change(b"1 42 open 1500 payments")?;
/// assert_eq!((change.name.as_str(), change.kind), ("payments", StateKind::Open));
/// assert!(parse_change(b"2 42 open 0 payments").is_err());
/// # Ok::<(), protego_breaker::fleet::StoreError>(())
/// ```
pub fn parse_change(payload: &[u8]) -> Result<Change, StoreError> {
    const OP: &str = "subscribe";
    let text = std::str::from_utf8(payload).map_err(|_| bad(OP, "message is not UTF-8"))?;
    let mut parts = text.splitn(5, ' ');
    let mut next = |what: &str| {
        parts
            .next()
            .ok_or_else(|| bad(OP, format!("message {text:?} has no {what}")))
    };
    let version = next("version")?;
    if version != "1" {
        return Err(bad(
            OP,
            format!("message {text:?}: unknown version {version:?}"),
        ));
    }
    let epoch = next("epoch")?;
    let kind = next("kind")?;
    let remaining = next("open_remaining")?;
    let name = next("name")?;
    Ok(Change {
        name: name.to_owned(),
        epoch: Epoch(
            epoch
                .parse()
                .map_err(|_| bad(OP, format!("message {text:?}: bad epoch")))?,
        ),
        kind: StateKind::parse(kind)
            .ok_or_else(|| bad(OP, format!("message {text:?}: bad kind")))?,
        open_remaining: Duration::from_millis(
            remaining
                .parse()
                .map_err(|_| bad(OP, format!("message {text:?}: bad open_remaining")))?,
        ),
    })
}

impl RedisStore {
    /// Subscribes on a connection of its own, within the op timeout.
    pub(super) async fn changes(&self) -> Result<ChangeStream, StoreError> {
        let connect = async {
            let client = self.client().await?;
            let node = client.get_connection_info().addr().to_string();
            let mut pubsub = client
                .get_async_pubsub()
                .await
                .map_err(|e| StoreError::Unreachable(format!("{node}: {e}")))?;
            pubsub
                .subscribe(&self.channel)
                .await
                .map_err(|e| map_err("subscribe", "", &node, &e))?;
            Ok(pubsub)
        };
        let pubsub = with_timeout(
            connect,
            self.sleeper.sleep(self.op_timeout),
            self.op_timeout,
        )
        .await
        .inspect_err(|e| {
            if e.is_store_wide() {
                // The server is away or refusing: the shared connection is suspect too, so the
                // first operation once it is back makes a new one.
                self.drop_conn(None);
            }
        })?;
        Ok(Box::pin(Changes {
            messages: pubsub.into_on_message(),
        }))
    }
}

/// The pushed messages of one subscription, parsed.
#[pin_project::pin_project]
struct Changes<S> {
    #[pin]
    messages: S,
}

impl<S: Stream<Item = redis::Msg>> Stream for Changes<S> {
    type Item = Result<Change, StoreError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.project()
            .messages
            .poll_next(cx)
            .map(|msg| msg.map(|msg| parse_change(msg.get_payload_bytes())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushed_messages_parse_and_garbage_is_an_error() {
        let c = parse_change(b"1 42 half_open 0 a b:c").unwrap();
        assert_eq!(
            (c.name.as_str(), c.epoch, c.kind),
            ("a b:c", Epoch(42), StateKind::HalfOpen)
        );
        for bad in [
            &b""[..],
            b"1",
            b"2 1 open 0 x",
            b"1 x open 0 n",
            b"1 1 ajar 0 n",
            b"1 1 open -5 n",
            b"1 1 open 0",
            &[0xff, 0x20],
        ] {
            assert!(parse_change(bad).is_err(), "{bad:?}");
        }
    }
}
