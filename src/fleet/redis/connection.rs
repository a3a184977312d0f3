//! The store's one multiplexed connection, and running a script on it.
//!
//! The connection is made on first use and cloned into every operation, so operations run
//! concurrently on one socket (a subscription takes its own). Its slot is locked only to clone
//! or replace the handle, never across an `.await`. No timer runs inside the `redis` crate:
//! every operation, connecting included, is bounded by the op timeout on the caller's sleeper.
//! The connection is dropped on the first store-wide failure of an operation on it (unreachable,
//! timed out, refused: [`StoreError::is_store_wide`]) and when a subscription cannot be made, so
//! the first attempt after the server returns makes a new connection instead of failing on the
//! dead one: a fleet is back on its first attempt after the store returns. An operation its
//! caller abandons (a fleet's own op timeout fired first) counts as timed out. A slow but
//! healthy connection dropped this way costs one reconnect.
//!
//! With Redis Cluster the shared handle is the `redis` crate's cluster connection: one
//! multiplexed socket per node, the slot map learnt from the nodes, each script sent to the
//! primary of its breaker's slot, `MOVED` and `ASK` followed (a few quick retries, within the
//! op timeout). Dropping it after a store-wide failure makes the next operation learn the slot
//! map again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Cmd, ErrorKind, RedisResult, ServerErrorKind, Value};

use super::reply::{map_err, Reply};
use super::script::{Arg, Lua};
use super::store::Target;
use super::RedisStore;
use crate::fleet::{with_timeout, StoreError};

impl RedisStore {
    /// The connection slot; only ever held to clone or replace the handle, never across `.await`.
    #[allow(clippy::type_complexity)]
    fn lock_conn(&self) -> std::sync::MutexGuard<'_, (Option<(u64, Conn)>, u64)> {
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The client of the server to use: the one `url` names, or the primary the sentinels
    /// name (asked again after a store-wide failure), once it says it is the primary.
    pub(super) async fn client(&self) -> Result<redis::Client, StoreError> {
        let (master, sentinels, node) = match &self.target {
            Target::Direct(client) => return Ok(client.clone()),
            #[cfg(feature = "redis-cluster")]
            Target::Cluster { nodes, .. } => return self.cluster_node(nodes).await,
            Target::Sentinel {
                master,
                sentinels,
                node,
            } => (master, sentinels, node),
        };
        if let Some(client) = self.lock_primary().clone() {
            return Ok(client);
        }
        let mut sentinel = redis::sentinel::Sentinel::build(sentinels.clone()).map_err(|e| {
            StoreError::Refused {
                op: "sentinel",
                detail: e.to_string(),
            }
        })?;
        let client = sentinel
            .async_master_for(master, Some(node))
            .await
            .map_err(|e| {
                StoreError::Unreachable(format!("no primary {master:?} from the sentinels: {e}"))
            })?;
        *self.lock_primary() = Some(client.clone());
        Ok(client)
    }

    /// The first of the cluster's seed nodes that answers `PING` within the op timeout: where
    /// the subscription goes (classic pub/sub reaches every node of a cluster).
    #[cfg(feature = "redis-cluster")]
    async fn cluster_node(&self, nodes: &[redis::Client]) -> Result<redis::Client, StoreError> {
        let mut last = String::from("no cluster node given");
        for node in nodes {
            let ping = async {
                let mut c = Box::pin(node.get_multiplexed_async_connection()).await?;
                redis::cmd("PING").query_async::<()>(&mut c).await
            };
            match with_timeout(
                async {
                    ping.await
                        .map_err(|e| StoreError::Unreachable(e.to_string()))
                },
                self.sleeper.sleep(self.op_timeout),
                self.op_timeout,
            )
            .await
            {
                Ok(()) => return Ok(node.clone()),
                Err(e) => last = e.to_string(),
            }
        }
        Err(StoreError::Unreachable(format!(
            "no cluster node answers: {last}"
        )))
    }

    fn lock_primary(&self) -> std::sync::MutexGuard<'_, Option<redis::Client>> {
        self.primary
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The shared connection and its generation, made first if there is none.
    async fn conn(&self) -> Result<(u64, Conn), StoreError> {
        let cached = self.lock_conn().0.clone();
        if let Some(c) = cached {
            return Ok(c);
        }
        let c = match &self.target {
            #[cfg(feature = "redis-cluster")]
            // Boxed: the cluster client's connect future is large (~18 KB).
            Target::Cluster { client, .. } => Conn::Cluster(
                Box::pin(client.get_async_connection())
                    .await
                    .map_err(|e| StoreError::Unreachable(e.to_string()))?,
            ),
            _ => {
                // No timers inside redis-rs: our own op timeout bounds connecting and every
                // request.
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(None)
                    .set_response_timeout(None);
                let client = self.client().await?;
                let node: Arc<str> = Arc::from(client.get_connection_info().addr().to_string());
                Conn::Single(
                    client
                        .get_multiplexed_async_connection_with_config(&config)
                        .await
                        .map_err(|e| StoreError::Unreachable(format!("{node}: {e}")))?,
                    node,
                )
            }
        };
        let mut slot = self.lock_conn();
        slot.1 += 1;
        let made = (slot.1, c);
        slot.0 = Some(made.clone());
        Ok(made)
    }

    /// Forgets connection `generation` (any one with `None`) if it is still the shared one:
    /// the next operation makes a new one (and, with Sentinel, asks for the primary again).
    pub(super) fn drop_conn(&self, generation: Option<u64>) {
        let mut slot = self.lock_conn();
        if generation.is_none() || slot.0.as_ref().map(|c| c.0) == generation {
            slot.0 = None;
            drop(slot);
            self.lock_primary().take();
        }
    }

    /// Runs one script within the op timeout and parses its reply.
    pub(super) async fn eval(
        &self,
        op: &'static str,
        name: &str,
        script: &'static Lua,
        args: &[Arg<'_>],
    ) -> Result<Reply, StoreError> {
        let keys = self.keys(name);
        let command = |verb: &str, script: &str| {
            let mut cmd = redis::cmd(verb);
            cmd.arg(script).arg(keys.len()).arg(&keys[..]);
            cmd.arg(&self.channel).arg(name).arg(self.idle_ttl_ms);
            for a in args {
                match *a {
                    Arg::Int(n) => cmd.arg(n),
                    Arg::Str(t) => cmd.arg(t),
                };
            }
            cmd
        };
        let mut guard = Abandoned {
            store: self,
            generation: AtomicU64::new(0),
            armed: true,
        };
        let used = &guard.generation;
        let work = async {
            let (generation, mut conn) = self.conn().await?;
            used.store(generation, Ordering::Relaxed);
            let value = match conn.query(&command("EVALSHA", &script.hash)).await {
                // Not cached on the node that owns the slot: send it whole, to that node.
                Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                    conn.query(&command("EVAL", script.code)).await
                }
                other => other,
            }
            .map_err(|e| map_err(op, name, &conn.node(&keys[0]), &e))?;
            Reply::parse(op, value)
        };
        let result = with_timeout(work, self.sleeper.sleep(self.op_timeout), self.op_timeout).await;
        guard.armed = false;
        if result.as_ref().is_err_and(StoreError::is_store_wide) {
            guard.drop_conn();
        }
        result
    }
}

/// The shared connection: to one server (and its `host:port`), or to a Redis Cluster.
#[derive(Clone)]
pub(super) enum Conn {
    Single(MultiplexedConnection, Arc<str>),
    #[cfg(feature = "redis-cluster")]
    Cluster(redis::cluster_async::ClusterConnection),
}

impl Conn {
    /// Sends `cmd` (routed by its first key on a cluster) and reads the reply.
    async fn query(&mut self, cmd: &Cmd) -> RedisResult<Value> {
        match self {
            Conn::Single(c, _) => cmd.query_async(c).await,
            #[cfg(feature = "redis-cluster")]
            Conn::Cluster(c) => cmd.query_async(c).await,
        }
    }

    /// The node a command on `key` went to, for errors: the server's address, or on a cluster
    /// the slot's primary (the cluster client does not say which node answered; a `MOVED` or
    /// `ASK` names its own, see `map_err`).
    #[cfg_attr(not(feature = "redis-cluster"), allow(unused_variables))]
    fn node(&self, key: &str) -> String {
        match self {
            Conn::Single(_, node) => node.to_string(),
            #[cfg(feature = "redis-cluster")]
            Conn::Cluster(_) => format!("the primary of slot {}", slot(key)),
        }
    }
}

/// The Redis Cluster slot of `key`: CRC16 (XMODEM) of its hash tag (the part between the first
/// `{` and the next `}`, if not empty), modulo 16384.
#[cfg(feature = "redis-cluster")]
pub(super) fn slot(key: &str) -> u16 {
    let bytes = key.as_bytes();
    let tagged = key.find('{').and_then(|open| {
        let rest = &bytes[open + 1..];
        let close = rest.iter().position(|&b| b == b'}')?;
        (close > 0).then(|| &rest[..close])
    });
    let mut crc: u16 = 0;
    for &b in tagged.unwrap_or(bytes) {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 == 0 {
                crc << 1
            } else {
                (crc << 1) ^ 0x1021
            };
        }
    }
    crc % 16384
}

#[cfg(all(test, feature = "redis-cluster"))]
mod tests {
    #[test]
    fn slots_are_redis_clusters() {
        // Values from `CLUSTER KEYSLOT` on Redis 7.0.
        assert_eq!(super::slot("foo"), 12182);
        assert_eq!(super::slot("{foo}:state"), 12182);
        assert_eq!(
            super::slot("protego{user1000}.following"),
            super::slot("user1000")
        );
        assert_eq!(super::slot("123456789"), 0x31c3); // CRC16-XMODEM check value, below 16384
    }
}

/// One operation's hold on the connection it used. Dropped while still armed, the operation
/// was abandoned by its caller (a [`Fleet`](crate::fleet::Fleet) whose own op timeout fired
/// first): that counts as a timeout, so the connection is dropped as after one.
struct Abandoned<'a> {
    store: &'a RedisStore,
    /// The connection's generation; 0 before one was had.
    generation: AtomicU64,
    armed: bool,
}

impl Abandoned<'_> {
    fn drop_conn(&self) {
        match self.generation.load(Ordering::Relaxed) {
            0 => self.store.drop_conn(None),
            generation => self.store.drop_conn(Some(generation)),
        }
    }
}

impl Drop for Abandoned<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.drop_conn();
        }
    }
}
