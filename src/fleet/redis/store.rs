use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ErrorKind, RedisError, Script, Value};

use crate::fleet::{
    with_timeout, Change, ChangeStream, Epoch, Failures, FailuresOutcome, FailuresResult, LeaseId,
    LeaseOutcome, LeaseResult, Manual, ReportResult, SharedState, Sleeper, StateKind, Store,
    StoreError, TrialOutcome, Trip, TripOutcome, TripResult,
};

/// Longest duration sent to a script (1e15 ms, ~31,700 years); longer ones are clamped.
pub const MAX_MS: u64 = 1_000_000_000_000_000;

/// After this many timeouts in a row the connection is dropped and a new one made.
const TIMEOUTS_BEFORE_RECONNECT: u32 = 3;

/// How to reach Redis and lay out the keys.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RedisConfig {
    /// A `redis://` URL (`rediss://` needs a TLS feature of the `redis` crate).
    pub url: String,
    /// Key prefix: breaker `name` lives in `{prefix:name}:state|leases|votes|failures`; pushes go to
    /// channel `prefix:events`.
    pub key_prefix: String,
    /// Every operation gives up after this (default 100 ms).
    pub op_timeout: Duration,
    /// Keys expire this long after the last write (plus any open period left); reads refresh
    /// it once half of it has run (default 24 h).
    pub idle_ttl: Duration,
}

impl RedisConfig {
    /// Defaults for `url`: prefix `protego`, 100 ms op timeout, 24 h idle TTL.
    ///
    /// ```
    /// use protego_breaker::fleet::redis::RedisConfig;
    /// let mut config = RedisConfig::new("redis://127.0.0.1:6379/");
    /// config.key_prefix = "shop".to_owned();
    /// assert_eq!(config.op_timeout, std::time::Duration::from_millis(100));
    /// ```
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            key_prefix: "protego".to_owned(),
            op_timeout: Duration::from_millis(100),
            idle_ttl: Duration::from_secs(24 * 3600),
        }
    }
}

struct Scripts {
    read: Script,
    trip: Script,
    failures: Script,
    acquire: Script,
    report: Script,
    manual: Script,
}

macro_rules! lua {
    ($file:literal) => {
        concat!(
            include_str!("lua/common.lua"),
            "\n",
            include_str!(concat!("lua/", $file))
        )
    };
}

fn scripts() -> &'static Scripts {
    static SCRIPTS: OnceLock<Scripts> = OnceLock::new();
    SCRIPTS.get_or_init(|| Scripts {
        read: Script::new(lua!("read.lua")),
        trip: Script::new(lua!("trip.lua")),
        failures: Script::new(lua!("failures.lua")),
        acquire: Script::new(lua!("acquire.lua")),
        report: Script::new(lua!("report.lua")),
        manual: Script::new(lua!("manual.lua")),
    })
}

/// The Redis store. Cheap to share behind an `Arc`; connects lazily and reconnects after a
/// dropped connection or repeated timeouts. Owns no task of its own: the `redis` crate runs
/// one driver task per connection on the runtime of its feature (tokio or smol), which ends
/// when the connection (this store, or a subscription stream) is dropped.
pub struct RedisStore {
    client: redis::Client,
    prefix: String,
    channel: String,
    op_timeout: Duration,
    idle_ttl_ms: u64,
    sleeper: Arc<dyn Sleeper>,
    conn: Mutex<Option<MultiplexedConnection>>,
    timeouts_in_a_row: AtomicU32,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("op_timeout", &self.op_timeout)
            .field("idle_ttl_ms", &self.idle_ttl_ms)
            .finish_non_exhaustive()
    }
}

pub(crate) fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).min(MAX_MS)
}

impl RedisStore {
    /// A store for `config`; no I/O until the first operation. `sleeper` makes the op-timeout
    /// timers on the user's runtime.
    ///
    /// # Errors
    /// [`StoreError::Refused`] when the URL does not parse.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use protego_breaker::fleet::redis::{RedisConfig, RedisStore};
    /// use protego_breaker::fleet::{Sleep, Sleeper};
    /// let sleeper: Arc<dyn Sleeper> = Arc::new(|_| -> Sleep { Box::pin(std::future::pending()) });
    /// assert!(RedisStore::new(RedisConfig::new("redis://127.0.0.1:6379/"), sleeper.clone()).is_ok());
    /// assert!(RedisStore::new(RedisConfig::new("nope://"), sleeper).is_err());
    /// ```
    pub fn new(config: RedisConfig, sleeper: Arc<dyn Sleeper>) -> Result<Self, StoreError> {
        let client = redis::Client::open(config.url.as_str()).map_err(|e| StoreError::Refused {
            op: "open",
            detail: format!("bad store address {:?}: {e}", config.url),
        })?;
        Ok(Self {
            client,
            channel: format!("{}:events", config.key_prefix),
            prefix: config.key_prefix,
            op_timeout: config.op_timeout,
            idle_ttl_ms: ms(config.idle_ttl).max(1),
            sleeper,
            conn: Mutex::new(None),
            timeouts_in_a_row: AtomicU32::new(0),
        })
    }

    /// The pub/sub channel of this store's prefix.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use protego_breaker::fleet::redis::{RedisConfig, RedisStore};
    /// # use protego_breaker::fleet::{Sleep, Sleeper};
    /// # let sleeper: Arc<dyn Sleeper> = Arc::new(|_| -> Sleep { Box::pin(std::future::pending()) });
    /// let store = RedisStore::new(RedisConfig::new("redis://127.0.0.1/"), sleeper)?;
    /// assert_eq!(store.channel(), "protego:events");
    /// # Ok::<(), protego_breaker::fleet::StoreError>(())
    /// ```
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// The four keys of breaker `name`, in script order: state (hash), leases (zset), votes
    /// (zset), failure shares (hash). One hash tag, so one Redis Cluster slot.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use protego_breaker::fleet::redis::{RedisConfig, RedisStore};
    /// # use protego_breaker::fleet::{Sleep, Sleeper};
    /// # let sleeper: Arc<dyn Sleeper> = Arc::new(|_| -> Sleep { Box::pin(std::future::pending()) });
    /// let store = RedisStore::new(RedisConfig::new("redis://127.0.0.1/"), sleeper)?;
    /// assert_eq!(store.keys("db")[0], "{protego:db}:state");
    /// # Ok::<(), protego_breaker::fleet::StoreError>(())
    /// ```
    pub fn keys(&self, name: &str) -> [String; 4] {
        let tag = format!("{{{}:{}}}", self.prefix, name);
        [
            format!("{tag}:state"),
            format!("{tag}:leases"),
            format!("{tag}:votes"),
            format!("{tag}:failures"),
        ]
    }

    fn lock_conn(&self) -> std::sync::MutexGuard<'_, Option<MultiplexedConnection>> {
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn conn(&self) -> Result<MultiplexedConnection, StoreError> {
        let cached = self.lock_conn().clone();
        if let Some(c) = cached {
            return Ok(c);
        }
        // No timers inside redis-rs: our own op timeout bounds connecting and every request.
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(None)
            .set_response_timeout(None);
        let c = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| StoreError::Unreachable(e.to_string()))?;
        *self.lock_conn() = Some(c.clone());
        Ok(c)
    }

    fn drop_conn(&self) {
        self.lock_conn().take();
    }

    /// Runs one script within the op timeout and parses its reply.
    async fn eval(
        &self,
        op: &'static str,
        name: &str,
        script: &'static Script,
        args: &[Arg<'_>],
    ) -> Result<Reply, StoreError> {
        let [state, leases, votes, failures] = self.keys(name);
        let mut inv = script.prepare_invoke();
        inv.key(state).key(leases).key(votes).key(failures);
        inv.arg(&self.channel).arg(name).arg(self.idle_ttl_ms);
        for a in args {
            match *a {
                Arg::Int(n) => inv.arg(n),
                Arg::Str(t) => inv.arg(t),
            };
        }
        let work = async {
            let mut conn = self.conn().await?;
            let value: Value = inv
                .invoke_async(&mut conn)
                .await
                .map_err(|e| map_err(op, name, &e))?;
            Reply::parse(op, value)
        };
        let result = with_timeout(work, self.sleeper.sleep(self.op_timeout), self.op_timeout).await;
        match &result {
            Err(StoreError::Timeout(_)) => {
                if self.timeouts_in_a_row.fetch_add(1, Ordering::Relaxed) + 1
                    >= TIMEOUTS_BEFORE_RECONNECT
                {
                    self.timeouts_in_a_row.store(0, Ordering::Relaxed);
                    self.drop_conn();
                }
            }
            Err(StoreError::Unreachable(_)) => {
                self.timeouts_in_a_row.store(0, Ordering::Relaxed);
                self.drop_conn();
            }
            _ => self.timeouts_in_a_row.store(0, Ordering::Relaxed),
        }
        result
    }
}

/// A script argument.
#[derive(Clone, Copy)]
enum Arg<'a> {
    Int(u64),
    Str(&'a str),
}

fn map_err(op: &'static str, name: &str, e: &RedisError) -> StoreError {
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
struct Reply {
    status: String,
    state: SharedState,
    extra: u64,
}

fn bad(op: &'static str, detail: impl Into<String>) -> StoreError {
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
    fn parse(op: &'static str, value: Value) -> Result<Self, StoreError> {
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

    fn unexpected(self, op: &'static str) -> StoreError {
        bad(op, format!("unknown status {:?}", self.status))
    }
}

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

#[async_trait::async_trait]
impl Store for RedisStore {
    async fn read(&self, name: &str) -> Result<SharedState, StoreError> {
        let r = self.eval("read", name, &scripts().read, &[]).await?;
        match r.status.as_str() {
            "ok" => Ok(r.state),
            _ => Err(r.unexpected("read")),
        }
    }

    async fn trip(&self, name: &str, trip: Trip<'_>) -> Result<TripResult, StoreError> {
        let args = [
            Arg::Int(trip.expected_epoch.0),
            Arg::Str(trip.replica_id),
            Arg::Int(ms(trip.open_for)),
            Arg::Int(u64::from(trip.quorum)),
            Arg::Int(ms(trip.quorum_window)),
        ];
        let r = self.eval("trip", name, &scripts().trip, &args).await?;
        let outcome = match r.status.as_str() {
            "opened" => TripOutcome::Opened,
            "voted" => TripOutcome::Voted {
                votes: u32::try_from(r.extra)
                    .map_err(|_| bad("trip", "vote count out of range"))?,
            },
            "stale" => TripOutcome::Stale,
            _ => return Err(r.unexpected("trip")),
        };
        Ok(TripResult {
            outcome,
            state: r.state,
        })
    }

    async fn count_failures(
        &self,
        name: &str,
        failures: Failures<'_>,
    ) -> Result<FailuresResult, StoreError> {
        let args = [
            Arg::Int(failures.expected_epoch.0),
            Arg::Str(failures.replica_id),
            Arg::Int(u64::from(failures.failures)),
            Arg::Int(u64::from(failures.threshold)),
            Arg::Int(ms(failures.window).max(1)),
            Arg::Int(ms(failures.open_for)),
            Arg::Int(u64::from(failures.quorum)),
            Arg::Int(ms(failures.quorum_window)),
        ];
        let r = self
            .eval("count_failures", name, &scripts().failures, &args)
            .await?;
        let outcome = match r.status.as_str() {
            "opened" => FailuresOutcome::Opened,
            "counted" => FailuresOutcome::Counted {
                total: u32::try_from(r.extra)
                    .map_err(|_| bad("count_failures", "failure sum out of range"))?,
            },
            "stale" => FailuresOutcome::Stale,
            _ => return Err(r.unexpected("count_failures")),
        };
        Ok(FailuresResult {
            outcome,
            state: r.state,
        })
    }

    async fn acquire_lease(
        &self,
        name: &str,
        epoch: Epoch,
        lease: Duration,
        max_trials: u32,
    ) -> Result<LeaseResult, StoreError> {
        let args = [
            Arg::Int(epoch.0),
            Arg::Int(ms(lease).max(1)),
            Arg::Int(u64::from(max_trials)),
        ];
        let r = self
            .eval("acquire_lease", name, &scripts().acquire, &args)
            .await?;
        let outcome = match r.status.as_str() {
            "granted" => LeaseOutcome::Granted(LeaseId(r.extra)),
            "full" => LeaseOutcome::Full,
            "stale" => LeaseOutcome::Stale,
            _ => return Err(r.unexpected("acquire_lease")),
        };
        Ok(LeaseResult {
            outcome,
            state: r.state,
        })
    }

    async fn report(
        &self,
        name: &str,
        epoch: Epoch,
        lease: LeaseId,
        outcome: TrialOutcome,
        max_trials: u32,
        next_open: Duration,
    ) -> Result<ReportResult, StoreError> {
        let args = [
            Arg::Int(epoch.0),
            Arg::Int(lease.0),
            Arg::Str(outcome.as_str()),
            Arg::Int(u64::from(max_trials)),
            Arg::Int(ms(next_open)),
        ];
        let r = self.eval("report", name, &scripts().report, &args).await?;
        let applied = match r.status.as_str() {
            "applied" => true,
            "stale" => false,
            _ => return Err(r.unexpected("report")),
        };
        Ok(ReportResult {
            applied,
            state: r.state,
        })
    }

    async fn set_manual(&self, name: &str, manual: Manual) -> Result<SharedState, StoreError> {
        let args = [Arg::Str(manual.as_str())];
        let r = self
            .eval("set_manual", name, &scripts().manual, &args)
            .await?;
        match r.status.as_str() {
            "applied" => Ok(r.state),
            _ => Err(r.unexpected("set_manual")),
        }
    }

    async fn subscribe(&self) -> Result<ChangeStream, StoreError> {
        let connect = async {
            let mut pubsub = self
                .client
                .get_async_pubsub()
                .await
                .map_err(|e| StoreError::Unreachable(e.to_string()))?;
            pubsub
                .subscribe(&self.channel)
                .await
                .map_err(|e| map_err("subscribe", "", &e))?;
            Ok(pubsub)
        };
        let pubsub = with_timeout(
            connect,
            self.sleeper.sleep(self.op_timeout),
            self.op_timeout,
        )
        .await?;
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

    #[test]
    fn keys_share_one_hash_tag_and_durations_clamp() {
        let store = RedisStore::new(
            RedisConfig::new("redis://127.0.0.1:1/"),
            Arc::new(|_| -> crate::fleet::Sleep { Box::pin(std::future::pending()) }),
        )
        .unwrap();
        assert_eq!(
            store.keys("x"),
            [
                "{protego:x}:state".to_owned(),
                "{protego:x}:leases".to_owned(),
                "{protego:x}:votes".to_owned(),
                "{protego:x}:failures".to_owned()
            ]
        );
        assert_eq!(store.channel(), "protego:events");
        assert_eq!(ms(Duration::MAX), MAX_MS);
        assert_eq!(ms(Duration::from_millis(5)), 5);
        assert!(RedisStore::new(
            RedisConfig::new("nope://"),
            Arc::new(|_| -> crate::fleet::Sleep { Box::pin(std::future::pending()) })
        )
        .is_err());
    }
}
