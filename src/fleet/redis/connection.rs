//! The store's one multiplexed connection, and running a script on it.
//!
//! The connection is made on first use and cloned into every operation, so operations run
//! concurrently on one socket (a subscription takes its own). Its slot is locked only to clone
//! or replace the handle, never across an `.await`. No timer runs inside the `redis` crate:
//! every operation, connecting included, is bounded by the op timeout on the caller's sleeper.
//! The connection is dropped, and the next operation makes a new one, when it proves
//! unreachable or after [`TIMEOUTS_BEFORE_RECONNECT`] timeouts in a row (a connection that
//! hangs without failing); any other outcome resets that count.

use std::sync::atomic::Ordering;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Script, Value};

use super::reply::{map_err, Reply};
use super::script::Arg;
use super::RedisStore;
use crate::fleet::{with_timeout, StoreError};

/// After this many timeouts in a row the connection is dropped and a new one made.
const TIMEOUTS_BEFORE_RECONNECT: u32 = 3;

impl RedisStore {
    /// The connection slot; only ever held to clone or replace the handle, never across `.await`.
    fn lock_conn(&self) -> std::sync::MutexGuard<'_, Option<MultiplexedConnection>> {
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The shared connection, made first if there is none.
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

    /// Forgets the connection: the next operation makes a new one.
    fn drop_conn(&self) {
        self.lock_conn().take();
    }

    /// Runs one script within the op timeout and parses its reply.
    pub(super) async fn eval(
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
