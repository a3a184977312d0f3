//! What Redis answers, in the store's terms: a script's reply parsed into a status and a
//! [`SharedState`], and a Redis error mapped to a [`StoreError`].
//!
//! Nothing from the server is trusted: a reply that is not the eight typed items every script
//! returns (see `lua/common.lua`), or a number out of its range, is a [`StoreError::BadReply`]
//! naming the operation, never a panic or a default. Which error a failure becomes decides what
//! the sync future does with it (only [`StoreError::Unreachable`] and timeouts make the fleet
//! offline), so connection failures are told apart from refusals here.

use std::time::Duration;

use redis::{ErrorKind, RedisError, Value};

use crate::fleet::{Epoch, SharedState, StateKind, StoreError};

/// The replies of a store changing hands (a failover, a slot migration): asked again a moment
/// later, the same operation reaches the new owner.
const TRANSITION: [&str; 7] = [
    "MOVED",
    "ASK",
    "TRYAGAIN",
    "CLUSTERDOWN",
    "LOADING",
    "READONLY",
    "MASTERDOWN",
];

/// A Redis error as a [`StoreError`]: errors the scripts raise on purpose (`PROTEGO_GARBAGE`,
/// `PROTEGO_ARG`) and `WRONGTYPE` by their meaning, the replies of a failover or a slot
/// migration ([`TRANSITION`]) as [`StoreError::InTransition`] from `node` (or, for `MOVED` and
/// `ASK`, the node they point to), a lost or refused connection as
/// [`StoreError::Unreachable`], the rest by kind.
pub(super) fn map_err(op: &'static str, name: &str, node: &str, e: &RedisError) -> StoreError {
    let detail = || {
        let d = e.detail().unwrap_or_default();
        // Redis appends " script: <sha>, on @user_script:<line>." to errors raised in scripts.
        d.split(" script: ").next().unwrap_or(d).trim().to_owned()
    };
    match e.code() {
        Some("PROTEGO_GARBAGE") => {
            return StoreError::Garbage {
                name: name.to_owned(),
                detail: detail(),
            }
        }
        Some("WRONGTYPE") => {
            return StoreError::Garbage {
                name: name.to_owned(),
                detail: e.to_string(),
            }
        }
        Some("PROTEGO_ARG") => {
            return StoreError::Refused {
                op,
                detail: detail(),
            }
        }
        Some(code) if TRANSITION.contains(&code) => {
            let node = e
                .redirect_node()
                .map_or_else(|| node.to_owned(), |(to, _)| to.to_owned());
            let detail = detail();
            let reply = if detail.is_empty() {
                code.to_owned()
            } else {
                format!("{code} {detail}")
            };
            return StoreError::InTransition { op, node, reply };
        }
        _ => {}
    }
    if e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_unrecoverable_error()
    {
        return StoreError::Unreachable(e.to_string());
    }
    match e.kind() {
        ErrorKind::Parse | ErrorKind::UnexpectedReturnType => StoreError::BadReply {
            op,
            detail: e.to_string(),
        },
        _ => StoreError::Refused {
            op,
            detail: e.to_string(),
        },
    }
}

/// A script's reply: `{status, epoch, kind, open_remaining_ms, reopens, in_flight, successes, extra}`.
pub(super) struct Reply {
    pub(super) status: String,
    pub(super) state: SharedState,
    pub(super) extra: u64,
}

/// A [`StoreError::BadReply`] for `op`.
pub(super) fn bad(op: &'static str, detail: impl Into<String>) -> StoreError {
    StoreError::BadReply {
        op,
        detail: detail.into(),
    }
}

fn as_text(op: &'static str, what: &str, v: &Value) -> Result<String, StoreError> {
    match v {
        Value::BulkString(b) => {
            String::from_utf8(b.clone()).map_err(|_| bad(op, format!("{what} is not UTF-8")))
        }
        Value::SimpleString(s) => Ok(s.clone()),
        other => Err(bad(op, format!("{what} is not a string: {other:?}"))),
    }
}

fn as_u64(op: &'static str, what: &str, v: &Value) -> Result<u64, StoreError> {
    match v {
        Value::Int(i) => u64::try_from(*i).map_err(|_| bad(op, format!("{what} is negative: {i}"))),
        other => Err(bad(op, format!("{what} is not an integer: {other:?}"))),
    }
}

fn as_u32(op: &'static str, what: &str, v: &Value) -> Result<u32, StoreError> {
    let n = as_u64(op, what, v)?;
    u32::try_from(n).map_err(|_| bad(op, format!("{what} = {n} is out of range")))
}

impl Reply {
    /// Parses a script's reply; anything but the eight typed items is a [`StoreError::BadReply`].
    pub(super) fn parse(op: &'static str, value: Value) -> Result<Self, StoreError> {
        let Value::Array(items) = value else {
            return Err(bad(op, format!("expected an array, got {value:?}")));
        };
        let [status, epoch, kind, remaining, reopens, in_flight, successes, extra] =
            items.as_slice()
        else {
            return Err(bad(op, format!("expected 8 items, got {}", items.len())));
        };
        let kind_text = as_text(op, "kind", kind)?;
        let kind = StateKind::parse(&kind_text)
            .ok_or_else(|| bad(op, format!("unknown kind {kind_text:?}")))?;
        Ok(Self {
            status: as_text(op, "status", status)?,
            state: SharedState {
                epoch: Epoch(as_u64(op, "epoch", epoch)?),
                kind,
                open_remaining: Duration::from_millis(as_u64(op, "open_remaining", remaining)?),
                reopens: as_u32(op, "reopens", reopens)?,
                trials_in_flight: as_u32(op, "trials_in_flight", in_flight)?,
                trial_successes: as_u32(op, "trial_successes", successes)?,
            },
            extra: as_u64(op, "extra", extra)?,
        })
    }

    /// The error for a status this operation does not know.
    pub(super) fn unexpected(self, op: &'static str) -> StoreError {
        bad(op, format!("unknown status {:?}", self.status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(items: Vec<Value>) -> Result<Reply, StoreError> {
        Reply::parse("test", Value::Array(items))
    }

    fn good() -> Vec<Value> {
        vec![
            Value::BulkString(b"ok".to_vec()),
            Value::Int(7),
            Value::BulkString(b"open".to_vec()),
            Value::Int(1500),
            Value::Int(1),
            Value::Int(0),
            Value::Int(0),
            Value::Int(0),
        ]
    }

    /// A server's error reply as the `redis` crate hands it over.
    fn server_error(reply: &str) -> RedisError {
        redis::parse_redis_value(format!("-{reply}\r\n").as_bytes())
            .expect("an error reply parses")
            .extract_error()
            .expect_err("an error reply is an error")
    }

    #[test]
    fn failover_and_migration_replies_are_a_store_in_transition_from_the_node_named() {
        let at = "127.0.0.1:7001";
        for (reply, node) in [
            ("MOVED 3999 127.0.0.1:7002", "127.0.0.1:7002"),
            ("ASK 3999 127.0.0.1:7003", "127.0.0.1:7003"),
            (
                "TRYAGAIN Multiple keys request during rehashing of slot",
                at,
            ),
            ("CLUSTERDOWN The cluster is down", at),
            ("LOADING Redis is loading the dataset in memory", at),
            ("READONLY You can't write against a read only replica.", at),
            (
                "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
                at,
            ),
        ] {
            let e = map_err("read", "db", at, &server_error(reply));
            assert_eq!(
                e,
                StoreError::InTransition {
                    op: "read",
                    node: node.to_owned(),
                    reply: reply.to_owned(),
                },
                "{reply}"
            );
            assert!(e.is_unavailable() && e.is_store_wide(), "{reply}");
            assert!(e.to_string().contains(node) && e.to_string().contains(reply));
        }
        // A script's error keeps its code: READONLY raised inside a script is a transition too.
        let e = map_err(
            "trip",
            "db",
            at,
            &server_error("READONLY You can't write against a read only replica. script: 1a2b, on @user_script:12."),
        );
        assert_eq!(
            e,
            StoreError::InTransition {
                op: "trip",
                node: at.to_owned(),
                reply: "READONLY You can't write against a read only replica.".to_owned(),
            }
        );
    }

    #[test]
    fn refusals_garbage_and_bad_arguments_are_not_transitions() {
        let at = "127.0.0.1:7001";
        for reply in [
            "NOAUTH Authentication required.",
            "OOM command not allowed when used memory > 'maxmemory'.",
            "BUSY Redis is busy running a script.",
            "ERR unknown command",
        ] {
            let e = map_err("read", "db", at, &server_error(reply));
            assert!(
                matches!(e, StoreError::Refused { op: "read", .. }),
                "{reply}: {e:?}"
            );
            assert!(e.is_store_wide() && !e.is_unavailable() && !e.is_in_transition());
        }
        let e = map_err(
            "read",
            "db",
            at,
            &server_error("WRONGTYPE Operation against a key"),
        );
        assert!(matches!(e, StoreError::Garbage { .. }), "{e:?}");
        let e = map_err(
            "read",
            "db",
            at,
            &server_error("PROTEGO_ARG lease must be > 0"),
        );
        assert_eq!(
            e,
            StoreError::Refused {
                op: "read",
                detail: "lease must be > 0".to_owned()
            }
        );
    }

    #[test]
    fn replies_parse_and_garbage_is_an_error() {
        let r = reply(good()).unwrap();
        assert_eq!(
            (r.state.epoch, r.state.kind, r.state.open_remaining),
            (Epoch(7), StateKind::Open, Duration::from_millis(1500))
        );
        let spoil = |i: usize, v: Value| {
            let mut items = good();
            items[i] = v;
            reply(items).err().expect("garbage must not parse")
        };
        spoil(1, Value::Int(-1));
        spoil(1, Value::BulkString(b"7".to_vec()));
        spoil(2, Value::BulkString(b"ajar".to_vec()));
        spoil(2, Value::BulkString(vec![0xff, 0xfe]));
        spoil(4, Value::Int(i64::from(u32::MAX) + 1));
        spoil(0, Value::Nil);
        assert!(reply(good()[..7].to_vec()).is_err());
        assert!(Reply::parse("test", Value::Int(1)).is_err());
        assert!(Reply::parse("test", Value::Nil).is_err());
    }
}
