//! The sync future's retry schedule while the store is away, driven by a test sleeper that
//! records every timer asked for and a store that fails a given number of operations: no
//! runtime, no wall time, every assertion holds for any jitter draw.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Context;
use std::time::Duration;

use super::backoff::{FIRST_RETRY, MAX_RETRY};
use crate::fleet::{
    ChangeStream, Epoch, Failures, FailuresResult, Fleet, FleetConfig, LeaseId, LeaseResult,
    Manual, ReportResult, SharedState, Sleep, Store, StoreError, TrialOutcome, Trip, TripResult,
};

/// Fails its first `failures` operations (each one counted), then serves an empty store;
/// reads of breaker `down` (a part of the store still away) always fail.
struct Flaky {
    failures: AtomicU32,
    ops: AtomicU32,
    error: StoreError,
    down: Option<&'static str>,
}

impl Flaky {
    fn op(&self) -> Result<(), StoreError> {
        self.ops.fetch_add(1, Ordering::Relaxed);
        let left = self.failures.load(Ordering::Relaxed);
        if left > 0 {
            self.failures.store(left - 1, Ordering::Relaxed);
            return Err(self.error.clone());
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Store for Flaky {
    async fn read(&self, name: &str) -> Result<SharedState, StoreError> {
        self.op()?;
        if self.down == Some(name) {
            return Err(self.error.clone());
        }
        Ok(SharedState::ABSENT)
    }
    async fn trip(&self, _: &str, _: Trip<'_>) -> Result<TripResult, StoreError> {
        unreachable!("no breaker trips in these tests")
    }
    async fn count_failures(&self, _: &str, _: Failures<'_>) -> Result<FailuresResult, StoreError> {
        unreachable!("no breaker fails in these tests")
    }
    async fn acquire_lease(
        &self,
        _: &str,
        _: Epoch,
        _: Duration,
        _: u32,
    ) -> Result<LeaseResult, StoreError> {
        unreachable!("no trial in these tests")
    }
    async fn report(
        &self,
        _: &str,
        _: Epoch,
        _: LeaseId,
        _: TrialOutcome,
        _: u32,
        _: Duration,
    ) -> Result<ReportResult, StoreError> {
        unreachable!("no trial in these tests")
    }
    async fn set_manual(&self, _: &str, _: Manual) -> Result<SharedState, StoreError> {
        unreachable!("no manual state in these tests")
    }
    async fn subscribe(&self) -> Result<ChangeStream, StoreError> {
        self.op()?;
        Ok(Box::pin(futures::stream::pending()))
    }
}

const OP_TIMEOUT: Duration = Duration::from_secs(7);
const SYNC_INTERVAL: Duration = Duration::from_secs(3600);

/// Runs a fleet sharing one breaker on a store failing `failures` operations with `error`, as
/// far as it goes without wall time: every timer but the op timeout and the sync interval
/// fires at once (the op timeouts never fire: the store answers first). Returns the timers
/// the sync future asked for (op timeouts left out), the store operations made, and whether
/// the fleet ended online.
fn run(failures: u32, error: StoreError) -> (Vec<Duration>, u32, bool) {
    run_on(failures, error, None, &["db"])
}

/// [`run`] with breakers `names`, the reads of `down` failing.
fn run_on(
    failures: u32,
    error: StoreError,
    down: Option<&'static str>,
    names: &[&str],
) -> (Vec<Duration>, u32, bool) {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&asked);
    let sleeper = move |d: Duration| -> Sleep {
        if d == OP_TIMEOUT {
            return Box::pin(std::future::pending());
        }
        let mut seen = seen.lock().unwrap();
        seen.push(d);
        // A bound on the test, not on the fleet: stop after 1,000 timers.
        if d >= SYNC_INTERVAL || seen.len() > 1000 {
            return Box::pin(std::future::pending());
        }
        Box::pin(std::future::ready(()))
    };
    let store = Arc::new(Flaky {
        failures: AtomicU32::new(failures),
        ops: AtomicU32::new(0),
        error,
        down,
    });
    let config = FleetConfig::new(sleeper)
        .op_timeout(OP_TIMEOUT)
        .sync_interval(SYNC_INTERVAL);
    let fleet = Fleet::new(Arc::clone(&store) as Arc<dyn Store>, config).unwrap();
    let breakers: Vec<_> = names
        .iter()
        .map(|name| Arc::new(crate::Breaker::new(crate::Config::default()).named(*name)))
        .collect();
    for breaker in &breakers {
        assert!(fleet.join(breaker));
    }
    let mut sync = Box::pin(fleet.run());
    let waker = futures::task::noop_waker();
    assert!(sync
        .as_mut()
        .poll(&mut Context::from_waker(&waker))
        .is_pending());
    let asked = asked.lock().unwrap().clone();
    (asked, store.ops.load(Ordering::Relaxed), fleet.is_online())
}

/// The schedule's step for the `n`th retry (0-based).
fn step(n: usize) -> Duration {
    [FIRST_RETRY, FIRST_RETRY * 2, FIRST_RETRY * 4]
        .get(n)
        .copied()
        .unwrap_or(MAX_RETRY)
        .min(MAX_RETRY)
}

#[test]
fn a_store_that_stays_away_is_asked_again_on_the_backoff_never_on_the_sync_interval() {
    for error in [
        StoreError::Unreachable("connection refused".into()),
        StoreError::InTransition {
            op: "subscribe",
            node: "127.0.0.1:7001".into(),
            reply: "CLUSTERDOWN The cluster is down".into(),
        },
        StoreError::Timeout(OP_TIMEOUT),
    ] {
        let (asked, ops, online) = run(u32::MAX, error.clone());
        assert!(!online);
        // The first attempt at once, then one retry timer per failed attempt.
        assert_eq!(asked[0], Duration::ZERO, "{error}");
        let retries = &asked[1..];
        assert!(retries.len() >= 1000, "{error}: {}", retries.len());
        for (n, d) in retries.iter().enumerate() {
            assert!(
                *d >= step(n) / 2 && *d <= step(n),
                "{error}: retry {n} after {d:?}, outside [{:?}, {:?}]",
                step(n) / 2,
                step(n)
            );
        }
        // One store operation per attempt while it stays away (the subscription fails first).
        assert_eq!(ops as usize, retries.len(), "{error}");
        // The bound the docs give: at most 40 attempts in any second past the first three.
        let steady: Duration = retries[3..43].iter().sum();
        assert!(steady >= Duration::from_secs(1), "{error}: {steady:?}");
    }
}

#[test]
fn back_with_the_store_the_fleet_is_online_and_syncs_on_its_interval_again() {
    let (asked, ops, online) = run(5, StoreError::Unreachable("connection refused".into()));
    assert!(online);
    // The first attempt, five retries on the backoff, then the sync interval.
    assert_eq!(asked.len(), 7, "{asked:?}");
    for (n, d) in asked[1..6].iter().enumerate() {
        assert!(*d >= step(n) / 2 && *d <= step(n), "retry {n}: {d:?}");
    }
    assert_eq!(asked[6], SYNC_INTERVAL);
    // Five failed subscriptions, then a subscription and a read.
    assert_eq!(ops, 7);
}

#[test]
fn a_part_of_the_store_still_away_costs_two_operations_an_attempt_however_many_breakers() {
    let names = ["a", "b", "c", "d", "e", "f", "g", "h"];
    let error = StoreError::InTransition {
        op: "read",
        node: "the primary of slot 15495".into(),
        reply: "CLUSTERDOWN The cluster is down".into(),
    };
    let (asked, ops, online) = run_on(0, error, Some("f"), &names);
    assert!(!online);
    let attempts = asked.len() - 1; // the first attempt's timer, then one per failed attempt
    assert!(attempts >= 1000, "{attempts}");
    // The first attempt reads a..f (a subscription and six reads); every later one starts at
    // `f`: the subscription and that read.
    assert_eq!(ops as usize, 7 + 2 * (attempts - 1));
}
