//! One flaky-service scenario, run to the same timeline on every executor.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use common::*;
use protego_breaker::{Error, ManualClock, ProtectExt, Registry, State};

/// A downstream that fails its first `failures` calls, then succeeds.
struct Flaky {
    calls: AtomicU32,
    failures: u32,
}

impl Flaky {
    async fn call(&self) -> Result<u32, &'static str> {
        futures::future::ready(()).await; // a real call would await the network here
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if n < self.failures {
            Err("unavailable")
        } else {
            Ok(n)
        }
    }
}

/// Drives the scenario and returns its timeline: one line per call.
async fn scenario(clock: ManualClock, registry: Arc<Registry<ManualClock>>) -> Vec<String> {
    registry.breaker("flaky", cfg(2, secs(30), 1));
    let flaky = Flaky {
        calls: AtomicU32::new(0),
        failures: 3,
    };
    let mut timeline = Vec::new();
    for step in 0..7 {
        if step == 3 || step == 5 {
            clock.advance(secs(30));
        }
        let out = flaky.call().protect(&registry, "flaky").await;
        let state = registry.get("flaky").unwrap().state();
        let line = match out {
            Ok(n) => format!("ok({n}) {state}"),
            Err(Error::Inner(e)) => format!("err({e}) {state}"),
            Err(Error::Rejected(r)) => format!("rejected({:?}) {state}", r.retry_after()),
        };
        timeline.push(line);
    }
    timeline
}

fn expected() -> Vec<String> {
    [
        "err(unavailable) closed",
        "err(unavailable) open",
        "rejected(Some(30s)) open",
        "err(unavailable) open", // the trial fails: open again
        "rejected(Some(30s)) open",
        "ok(3) closed", // the next trial succeeds
        "ok(4) closed",
    ]
    .map(String::from)
    .to_vec()
}

fn fresh() -> (ManualClock, Arc<Registry<ManualClock>>) {
    let clock = ManualClock::new();
    (clock.clone(), Arc::new(Registry::with_clock(clock)))
}

#[test]
fn futures_executor() {
    let (clock, registry) = fresh();
    assert_eq!(
        futures::executor::block_on(scenario(clock, registry)),
        expected()
    );
}

#[test]
fn tokio_current_thread() {
    let (clock, registry) = fresh();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(scenario(clock, registry)), expected());
}

#[test]
fn tokio_multi_thread_spawned() {
    let (clock, registry) = fresh();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let timeline =
        rt.block_on(async move { tokio::spawn(scenario(clock, registry)).await.unwrap() });
    assert_eq!(timeline, expected());
}

#[test]
fn async_std_spawned() {
    let (clock, registry) = fresh();
    let timeline = async_std::task::block_on(async_std::task::spawn(scenario(clock, registry)));
    assert_eq!(timeline, expected());
}

#[test]
fn smol_spawned() {
    let (clock, registry) = fresh();
    let timeline = smol::block_on(smol::spawn(scenario(clock, registry)));
    assert_eq!(timeline, expected());
}

#[test]
fn smol_local_executor() {
    let (clock, registry) = fresh();
    let ex = smol::LocalExecutor::new();
    let timeline = smol::block_on(ex.run(ex.spawn(scenario(clock, registry))));
    assert_eq!(timeline, expected());
}

#[test]
fn the_final_state_is_closed_everywhere() {
    let (clock, registry) = fresh();
    futures::executor::block_on(scenario(clock, Arc::clone(&registry)));
    assert_eq!(
        registry.states(),
        vec![("flaky".to_string(), State::Closed)]
    );
}
