//! A Redis Cluster for tests and benches: `redis-server --cluster-enabled yes` nodes on free
//! loopback ports, joined by `redis-cli --cluster create`, every node stopped on drop. Slots
//! can be moved from node to node the way `redis-cli --cluster reshard` does it.
#![allow(dead_code, unreachable_pub)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::common::RedisServer;

pub struct Cluster {
    pub nodes: Vec<RedisServer>,
}

/// Polls `cond` every 20 ms for at most `limit`.
pub fn wait(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

impl Cluster {
    /// `primaries` primaries with `replicas` replicas each, `node_timeout` as
    /// `cluster-node-timeout`; returns once every node says `cluster_state:ok`.
    pub fn start(primaries: usize, replicas: usize, node_timeout: Duration) -> Self {
        let timeout = node_timeout.as_millis().to_string();
        let args = [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            &timeout,
        ];
        let nodes: Vec<RedisServer> = (0..primaries * (1 + replicas))
            .map(|_| RedisServer::start_with(&args))
            .collect();
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        for n in &nodes {
            create.arg(format!("127.0.0.1:{}", n.port));
        }
        let out = create
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("run redis-cli --cluster create");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let cluster = Cluster { nodes };
        cluster.wait_ok(Duration::from_secs(20));
        let synced = wait(Duration::from_secs(20), || {
            (0..cluster.nodes.len())
                .filter(|n| cluster.synced_replica(*n))
                .count()
                == primaries * replicas
        });
        assert!(synced, "every replica is synced with its primary");
        cluster
    }

    /// Waits until every running node says `cluster_state:ok` (and sees every slot).
    pub fn wait_ok(&self, limit: Duration) {
        let ok = wait(limit, || {
            self.nodes.iter().all(|n| {
                n.conn().is_ok_and(|mut c| {
                    redis::cmd("CLUSTER")
                        .arg("INFO")
                        .query::<String>(&mut c)
                        .is_ok_and(|i| {
                            i.contains("cluster_state:ok") && i.contains("cluster_slots_ok:16384")
                        })
                })
            })
        });
        assert!(
            ok,
            "the cluster did not reach cluster_state:ok within {limit:?}"
        );
    }

    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    pub fn query<T: redis::FromRedisValue>(&self, node: usize, cmd: &redis::Cmd) -> T {
        let mut c = self.nodes[node].conn().expect("connect to a cluster node");
        cmd.query(&mut c).expect("cluster command")
    }

    pub fn id(&self, node: usize) -> String {
        self.query(node, redis::cmd("CLUSTER").arg("MYID"))
    }

    pub fn slot(&self, key: &str) -> u16 {
        self.query(
            self.any_node(),
            redis::cmd("CLUSTER").arg("KEYSLOT").arg(key),
        )
    }

    /// The first node that answers `PING` (some may be stopped).
    pub fn any_node(&self) -> usize {
        (0..self.nodes.len())
            .find(|n| {
                self.nodes[*n]
                    .conn()
                    .is_ok_and(|mut c| redis::cmd("PING").query::<String>(&mut c).is_ok())
            })
            .expect("a node answers")
    }

    /// Whether `node` is a replica whose link to its primary is up.
    pub fn synced_replica(&self, node: usize) -> bool {
        self.nodes[node].conn().is_ok_and(|mut c| {
            redis::cmd("INFO")
                .arg("replication")
                .query::<String>(&mut c)
                .is_ok_and(|i| i.contains("role:slave") && i.contains("master_link_status:up"))
        })
    }

    /// The node (index) serving `slot` as its primary, as the first node that answers sees it.
    pub fn owner(&self, slot: u16) -> usize {
        let slots: redis::Value = self.query(self.any_node(), redis::cmd("CLUSTER").arg("SLOTS"));
        let redis::Value::Array(ranges) = slots else {
            panic!("CLUSTER SLOTS: {slots:?}")
        };
        for range in ranges {
            let redis::Value::Array(r) = range else {
                continue;
            };
            let (redis::Value::Int(lo), redis::Value::Int(hi), redis::Value::Array(primary)) =
                (&r[0], &r[1], &r[2])
            else {
                continue;
            };
            if (*lo..=*hi).contains(&i64::from(slot)) {
                let redis::Value::Int(port) = primary[1] else {
                    panic!("port: {primary:?}")
                };
                return self
                    .nodes
                    .iter()
                    .position(|n| i64::from(n.port) == port)
                    .expect("owner is one of ours");
            }
        }
        panic!("slot {slot} has no owner")
    }

    /// First step of moving `slot` from `from` to `to`: `to` IMPORTING, `from` MIGRATING.
    pub fn begin_migration(&self, slot: u16, from: usize, to: usize) {
        let (from_id, to_id) = (self.id(from), self.id(to));
        let set = |node: usize, how: &str, id: &str| {
            let () = self.query(
                node,
                redis::cmd("CLUSTER")
                    .arg("SETSLOT")
                    .arg(slot)
                    .arg(how)
                    .arg(id),
            );
        };
        set(to, "IMPORTING", &from_id);
        set(from, "MIGRATING", &to_id);
    }

    /// Second step: MIGRATE every key of `slot` from `from` to `to` (returns how many).
    pub fn move_keys(&self, slot: u16, from: usize, to: usize) -> usize {
        let keys: Vec<String> = self.query(
            from,
            redis::cmd("CLUSTER")
                .arg("GETKEYSINSLOT")
                .arg(slot)
                .arg(1000),
        );
        if !keys.is_empty() {
            let () = self.query(
                from,
                redis::cmd("MIGRATE")
                    .arg("127.0.0.1")
                    .arg(self.nodes[to].port)
                    .arg("")
                    .arg(0)
                    .arg(5000)
                    .arg("KEYS")
                    .arg(&keys),
            );
        }
        keys.len()
    }

    /// Last step: every primary is told `to` owns `slot` (the importing node first).
    pub fn end_migration(&self, slot: u16, from: usize, to: usize) {
        let to_id = self.id(to);
        let mut order = vec![to, from];
        order.extend((0..self.nodes.len()).filter(|n| *n != to && *n != from));
        for node in order {
            let () = self.query(
                node,
                redis::cmd("CLUSTER")
                    .arg("SETSLOT")
                    .arg(slot)
                    .arg("NODE")
                    .arg(&to_id),
            );
        }
    }

    /// The replica of `primary` (the node whose `INFO replication` names its port).
    pub fn replica_of(&self, primary: usize) -> usize {
        let port = format!("master_port:{}", self.nodes[primary].port);
        (0..self.nodes.len())
            .find(|n| {
                self.nodes[*n].conn().is_ok_and(|mut c| {
                    redis::cmd("INFO")
                        .arg("replication")
                        .query::<String>(&mut c)
                        .is_ok_and(|i| i.contains("role:slave") && i.contains(&port))
                })
            })
            .expect("the primary has a replica")
    }

    /// `node`'s replication offset (`master_repl_offset`), if it answers.
    pub fn offset(&self, node: usize) -> Option<u64> {
        let mut c = self.nodes[node].conn().ok()?;
        let info: String = redis::cmd("INFO").arg("replication").query(&mut c).ok()?;
        info.lines()
            .find_map(|l| l.strip_prefix("master_repl_offset:"))?
            .trim()
            .parse()
            .ok()
    }

    /// Field `field` of hash `key` as `node` holds it (a replica is read with `READONLY`).
    pub fn hget(&self, node: usize, key: &str, field: &str) -> Option<String> {
        let mut c = self.nodes[node].conn().ok()?;
        redis::cmd("READONLY").query::<()>(&mut c).ok()?;
        redis::cmd("HGET").arg(key).arg(field).query(&mut c).ok()?
    }
}
