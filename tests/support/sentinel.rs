//! A Redis Sentinel setup for tests: a primary, one replica and three sentinels
//! (`redis-server --sentinel`), each on a free loopback port, every process stopped on drop.
//! Included with `#[path]` next to `redis_server.rs` (as `common`). Waits for states (roles,
//! replica offsets, the sentinels' view) with bounded deadlines, never for fixed sleeps.
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{free_port, redis_server_bin, RedisServer};

/// The name the sentinels watch the primary under.
pub const MASTER: &str = "mymaster";

/// One `redis-server --sentinel`.
pub struct Sentinel {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
}

impl Sentinel {
    fn start(primary: u16, down_after: Duration) -> Self {
        for _ in 0..5 {
            let port = free_port();
            let dir = std::env::temp_dir()
                .join(format!("protego-sentinel-{}-{port}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("sentinel dir");
            let conf = dir.join("sentinel.conf");
            std::fs::write(
                &conf,
                format!(
                    "port {port}\nbind 127.0.0.1\ndir {dir}\nsentinel resolve-hostnames no\n\
                     sentinel monitor {MASTER} 127.0.0.1 {primary} 2\n\
                     sentinel down-after-milliseconds {MASTER} {down}\n\
                     sentinel failover-timeout {MASTER} 5000\n\
                     sentinel parallel-syncs {MASTER} 1\n",
                    dir = dir.display(),
                    down = down_after.as_millis()
                ),
            )
            .expect("sentinel conf");
            let log = std::fs::File::create(dir.join("sentinel.log")).expect("sentinel log");
            let child = Command::new(redis_server_bin())
                .arg(&conf)
                .arg("--sentinel")
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log"))
                .stderr(log)
                .spawn()
                .expect("start redis-server --sentinel");
            let mut s = Sentinel {
                child: Some(child),
                port,
                dir,
            };
            if wait(Duration::from_secs(5), || {
                s.query::<String>(&mut redis::cmd("PING")).is_ok()
            }) {
                return s;
            }
            s.stop();
        }
        panic!("redis-server --sentinel did not start on any of 5 free ports");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn query<T: redis::FromRedisValue>(&self, cmd: &mut redis::Cmd) -> redis::RedisResult<T> {
        let mut c = redis::Client::open(self.url())?
            .get_connection_with_timeout(Duration::from_millis(500))?;
        c.set_read_timeout(Some(Duration::from_millis(500)))?;
        cmd.query(&mut c)
    }

    /// The primary's port as this sentinel names it.
    pub fn primary_port(&self) -> Option<u16> {
        let addr: Option<(String, u16)> = self
            .query(
                redis::cmd("SENTINEL")
                    .arg("GET-MASTER-ADDR-BY-NAME")
                    .arg(MASTER),
            )
            .ok()?;
        addr.map(|(_, port)| port)
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Polls `cond` every 20 ms for at most `limit` (blocking the thread).
pub fn wait(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `INFO replication` of `server` as `field:value` pairs.
pub fn replication(server: &RedisServer) -> Vec<(String, String)> {
    let Ok(mut c) = server.conn() else {
        return Vec::new();
    };
    let info: String = redis::cmd("INFO")
        .arg("replication")
        .query(&mut c)
        .unwrap_or_default();
    info.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
        .collect()
}

pub fn field(info: &[(String, String)], name: &str) -> Option<String> {
    info.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

/// A primary, a replica in sync with it, and three sentinels that see both and each other.
pub struct SentinelSetup {
    pub primary: RedisServer,
    pub replica: RedisServer,
    pub sentinels: Vec<Sentinel>,
}

impl SentinelSetup {
    pub fn start(down_after: Duration) -> Self {
        let primary = RedisServer::start();
        let port = primary.port.to_string();
        let replica = RedisServer::start_with(&["--replicaof", "127.0.0.1", &port]);
        assert!(
            wait(Duration::from_secs(10), || {
                field(&replication(&replica), "master_link_status").as_deref() == Some("up")
                    && field(&replication(&primary), "slave0")
                        .is_some_and(|s| s.contains("state=online"))
            }),
            "the replica never synced"
        );
        let sentinels: Vec<Sentinel> = (0..3)
            .map(|_| Sentinel::start(primary.port, down_after))
            .collect();
        let setup = SentinelSetup {
            primary,
            replica,
            sentinels,
        };
        assert!(
            wait(Duration::from_secs(15), || setup.sentinels.iter().all(
                |s| {
                    let replicas: Vec<redis::Value> = s
                        .query(redis::cmd("SENTINEL").arg("REPLICAS").arg(MASTER))
                        .unwrap_or_default();
                    let others: Vec<redis::Value> = s
                        .query(redis::cmd("SENTINEL").arg("SENTINELS").arg(MASTER))
                        .unwrap_or_default();
                    replicas.len() == 1 && others.len() == 2
                }
            )),
            "the sentinels never saw the replica and each other"
        );
        setup
    }

    pub fn sentinel_urls(&self) -> Vec<String> {
        self.sentinels.iter().map(Sentinel::url).collect()
    }

    /// Waits until the replica has every write the primary acknowledged (`WAIT 1`).
    pub fn replicated(&self) {
        let mut c = self.primary.conn().expect("primary");
        let n: i64 = redis::cmd("WAIT")
            .arg(1)
            .arg(2000)
            .query(&mut c)
            .expect("WAIT");
        assert_eq!(n, 1, "the replica did not acknowledge");
    }

    /// After a failover: the old primary restarted (empty) as a replica of the promoted one,
    /// in sync, and seen as a healthy replica by every sentinel; then the two swap names, so
    /// `primary` is the primary again.
    pub fn rejoin_and_swap(&mut self) {
        self.primary.restart();
        let port = self.replica.port;
        let _: redis::Value = redis::cmd("REPLICAOF")
            .arg("127.0.0.1")
            .arg(port)
            .query(&mut self.primary.conn().expect("restarted"))
            .expect("REPLICAOF");
        std::mem::swap(&mut self.primary, &mut self.replica);
        assert!(
            wait(Duration::from_secs(15), || {
                field(&replication(&self.replica), "master_link_status").as_deref() == Some("up")
                    && self.sentinels.iter().all(|s| {
                        let replicas: Vec<std::collections::HashMap<String, String>> = s
                            .query(redis::cmd("SENTINEL").arg("REPLICAS").arg(MASTER))
                            .unwrap_or_default();
                        s.primary_port() == Some(self.primary.port)
                            && replicas.iter().any(|r| {
                                r.get("port") == Some(&self.replica.port.to_string())
                                    && r.get("flags").is_some_and(|f| {
                                        !f.contains("s_down") && !f.contains("disconnected")
                                    })
                            })
                    })
            }),
            "the old primary never rejoined as a healthy replica"
        );
    }

    /// Whether every sentinel names the replica as the primary and it says it is one.
    pub fn promoted(&self) -> bool {
        self.sentinels
            .iter()
            .all(|s| s.primary_port() == Some(self.replica.port))
            && field(&replication(&self.replica), "role").as_deref() == Some("master")
    }
}
