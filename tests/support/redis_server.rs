//! A real `redis-server` for tests and benches: a free loopback port, its own data dir, killed
//! on drop. Included with `#[path]` (it needs the `redis` feature, the other tests do not).
#![allow(dead_code, unreachable_pub)]

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use protego_breaker::fleet::redis::RedisConfig;
#[cfg(feature = "redis-tokio")]
use protego_breaker::fleet::redis::RedisStore;

/// The `redis-server` to run: `$REDIS_SERVER`, or the one on the `PATH`. On a fresh Debian
/// machine where the tests run as root (as CI does) it is installed from the distribution's
/// packages, once; anywhere else a missing server fails the test with one line saying what to
/// install. Never a silent skip.
pub fn redis_server_bin() -> String {
    static BIN: std::sync::OnceLock<Result<String, String>> = std::sync::OnceLock::new();
    let found = BIN.get_or_init(|| {
        if let Ok(bin) = std::env::var("REDIS_SERVER") {
            return Ok(bin);
        }
        let runs = || {
            Command::new("redis-server")
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if runs() {
            return Ok("redis-server".to_owned());
        }
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        let apt = |args: &[&str]| {
            Command::new("apt-get")
                .args(args)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if root {
            eprintln!("redis-server not found: installing Debian's redis-server package");
            let lock = "DPkg::Lock::Timeout=300";
            let installed = apt(&["install", "-y", "-qq", "-o", lock, "redis-server"])
                || (apt(&["update", "-qq", "-o", lock])
                    && apt(&["install", "-y", "-qq", "-o", lock, "redis-server"]));
            if installed && runs() {
                return Ok("redis-server".to_owned());
            }
        }
        Err(
            "redis-server not found and not installable here (needs root and apt-get): \
             install Redis (Debian: apt-get install -y redis-server) or set REDIS_SERVER"
                .to_owned(),
        )
    });
    match found {
        Ok(bin) => bin.clone(),
        Err(why) => panic!("{why}"),
    }
}

pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
    /// Extra `redis-server` arguments (kept for restarts).
    extra: Vec<String>,
}

pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

impl RedisServer {
    /// Starts a server on a free port (retrying if the port was taken meanwhile).
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// [`start`](Self::start) with extra `redis-server` arguments (`["--requirepass", "s"]`).
    /// The readiness check then only waits for the port: the server may refuse a plain PING.
    pub fn start_with(extra: &[&str]) -> Self {
        for _ in 0..5 {
            if let Some(s) = Self::try_start(free_port(), extra) {
                return s;
            }
        }
        panic!("redis-server did not start on any of 5 free ports");
    }

    fn try_start(port: u16, extra: &[&str]) -> Option<Self> {
        let dir = std::env::temp_dir().join(format!("protego-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create redis data dir");
        let mut server = Self {
            child: None,
            port,
            dir,
            extra: extra.iter().map(|a| (*a).to_owned()).collect(),
        };
        server.spawn().then_some(server)
    }

    fn spawn(&mut self) -> bool {
        let bin = redis_server_bin();
        let log = std::fs::File::create(self.dir.join("redis.log")).expect("create redis log");
        let child = Command::new(&bin)
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            // DEBUG SLEEP (a stalled server) in tests; Redis 7 refuses DEBUG by default.
            .args(["--enable-debug-command", "local"])
            .arg("--dir")
            .arg(&self.dir)
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log"))
            .stderr(log)
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) => panic!("cannot start `{bin}`: {e}"),
        };
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Some(Ok(Some(_))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None; // exited: port taken?
                return false;
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                if let Ok(mut c) = self.conn() {
                    if redis::cmd("PING").query::<String>(&mut c).is_ok() || !self.extra.is_empty()
                    {
                        return true;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop();
        false
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// A plain blocking connection for inspecting and spoiling keys.
    pub fn conn(&self) -> redis::RedisResult<redis::Connection> {
        redis::Client::open(self.url())?.get_connection_with_timeout(Duration::from_secs(2))
    }

    /// Sends `signal` (`"STOP"`, `"CONT"`) to the server process.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("server running").id();
        let ok = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{signal} {pid}");
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port (empty: no persistence).
    pub fn restart(&mut self) {
        self.stop();
        assert!(
            self.spawn(),
            "redis-server did not restart on port {}",
            self.port
        );
    }

    pub fn config(&self) -> RedisConfig {
        RedisConfig::new(self.url())
    }

    #[cfg(feature = "redis-tokio")]
    pub fn store(&self) -> RedisStore {
        store_for(self.config())
    }

    /// A store whose operations may take 2 s: for tests of the protocol, not of timeouts, which
    /// a loaded 2-core machine running a dozen servers would otherwise trip at 100 ms.
    #[cfg(feature = "redis-tokio")]
    #[allow(dead_code)] // not every test binary that shares this file uses it
    pub fn roomy_store(&self) -> RedisStore {
        let config = RedisConfig::builder(self.url())
            .op_timeout(std::time::Duration::from_secs(2))
            .build()
            .expect("a valid config");
        store_for(config)
    }
}

/// A store on tokio's timer.
#[cfg(feature = "redis-tokio")]
pub fn store_for(config: RedisConfig) -> RedisStore {
    RedisStore::new(
        config,
        std::sync::Arc::new(protego_breaker::fleet::TokioSleeper),
    )
    .expect("store")
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Commands the server has run, by name (`INFO commandstats`: `cmdstat_NAME:calls=N,...`),
/// without `info` itself (each sample counts).
pub fn command_calls(conn: &mut redis::Connection) -> std::collections::BTreeMap<String, u64> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(conn)
        .expect("INFO commandstats");
    info.lines()
        .filter_map(|line| {
            let (name, rest) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = rest
                .strip_prefix("calls=")?
                .split(',')
                .next()?
                .parse()
                .ok()?;
            (name != "info").then(|| (name.to_owned(), calls))
        })
        .collect()
}

/// What ran between two [`command_calls`] samples (only the commands whose count changed).
pub fn calls_between(
    before: &std::collections::BTreeMap<String, u64>,
    after: &std::collections::BTreeMap<String, u64>,
) -> std::collections::BTreeMap<String, u64> {
    after
        .iter()
        .filter_map(|(name, n)| {
            let was = before.get(name).copied().unwrap_or(0);
            (*n != was).then(|| (name.clone(), n - was))
        })
        .collect()
}
