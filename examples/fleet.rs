//! Five replicas in front of a downstream that dies for a while, run twice: with local breakers
//! and with one fleet-wide breaker shared through Redis. Prints both timelines and how many
//! calls reached the dead downstream.
//!
//! ```text
//! cargo run --example fleet --features redis-tokio
//! REDIS_URL=redis://127.0.0.1:6379/ cargo run --example fleet --features redis-tokio
//! ```
//! Without `REDIS_URL` it starts its own `redis-server` on a free loopback port (and stops it).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use protego_breaker::fleet::redis::{RedisConfig, RedisStore};
use protego_breaker::fleet::{Fleet, FleetConfig, TokioSleeper};
use protego_breaker::{CircuitBreaker, Config, Registry};

const REPLICAS: usize = 5;
const NAME: &str = "inventory";

/// A `redis-server` this example started; stopped when dropped.
struct OwnRedis(Child);

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn redis() -> Result<(String, Option<OwnRedis>), Box<dyn std::error::Error>> {
    if let Ok(url) = std::env::var("REDIS_URL") {
        return Ok((url, None));
    }
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start redis-server ({e}): install Redis or set REDIS_URL"))?;
    let own = OwnRedis(child);
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if start.elapsed() > Duration::from_secs(5) {
            return Err("redis-server did not start".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((format!("redis://127.0.0.1:{port}/"), Some(own)))
}

/// The downstream: healthy, dead from 300 ms to 1500 ms, healthy again.
struct Downstream {
    start: Instant,
    reached_while_dead: AtomicUsize,
}

impl Downstream {
    // Async on purpose: it runs (and counts) only if the breaker admits the call.
    #[allow(clippy::unused_async)]
    async fn call(&self) -> Result<(), &'static str> {
        let t = self.start.elapsed();
        if t >= Duration::from_millis(300) && t < Duration::from_millis(1500) {
            self.reached_while_dead.fetch_add(1, Ordering::Relaxed);
            return Err("connection refused");
        }
        Ok(())
    }
}

async fn run(url: &str, shared: bool) -> Result<(), Box<dyn std::error::Error>> {
    println!(
        "\n== {} ==",
        if shared {
            "shared: one breaker for the fleet"
        } else {
            "local: one breaker per replica"
        }
    );
    let config = Config::builder()
        .failure_threshold(3)
        .reset_timeout(Duration::from_millis(400))
        .half_open_retries(2)
        .build()?;
    let start = Instant::now();
    let timeline = Arc::new(Mutex::new(Vec::new()));
    let mut replicas = Vec::new();
    let mut sync_tasks = Vec::new();
    let prefix = format!("example-{}", std::process::id());
    for i in 0..REPLICAS {
        let registry = Registry::new().with_default_config(config.clone());
        if shared {
            let mut redis = RedisConfig::new(url);
            redis.key_prefix = prefix.clone();
            let store = RedisStore::new(redis, TokioSleeper)?;
            let fleet = Fleet::new(
                Arc::new(store),
                FleetConfig::new(TokioSleeper).replica_id(format!("replica-{i}")),
            )?;
            fleet.share(&registry);
            sync_tasks.push(tokio::spawn(fleet.run()));
            while !fleet.is_online() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        let log = Arc::clone(&timeline);
        registry.get_or_create(NAME).on_transition(move |t| {
            log.lock().unwrap().push(format!(
                "{:>6} ms  replica-{i}  {} -> {} ({})",
                start.elapsed().as_millis(),
                t.from(),
                t.to(),
                t.reason()
            ));
        });
        replicas.push(registry);
    }
    let downstream = Arc::new(Downstream {
        start: Instant::now(),
        reached_while_dead: AtomicUsize::new(0),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let mut callers = Vec::new();
    for (i, registry) in replicas.into_iter().enumerate() {
        let (downstream, stop) = (Arc::clone(&downstream), Arc::clone(&stop));
        // Uneven load, as behind a real balancer: replica i calls every 5 * (i + 1) ms.
        let pace = Duration::from_millis(5 * (i as u64 + 1));
        callers.push(tokio::spawn(async move {
            let breaker = registry.get_or_create(NAME);
            while !stop.load(Ordering::Relaxed) {
                let _ = breaker.call(downstream.call()).await;
                tokio::time::sleep(pace).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    stop.store(true, Ordering::Relaxed);
    for c in callers {
        c.await?;
    }
    for t in sync_tasks {
        t.abort();
    }
    for line in timeline.lock().unwrap().iter() {
        println!("{line}");
    }
    println!(
        "calls that reached the dead downstream: {}",
        downstream.reached_while_dead.load(Ordering::Relaxed)
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (url, own) = redis()?;
    println!(
        "{REPLICAS} replicas call `{NAME}` (replica i every 5 * (i + 1) ms); it is down from 300 ms to 1500 ms (redis at {url})"
    );
    run(&url, false).await?;
    run(&url, true).await?;
    drop(own);
    Ok(())
}
