//! Failovers in the fleet tests (Sentinel and Cluster): timing one from the kill against a
//! plain client, the errors a fleet reports meanwhile, and the figures of a run of them.
//! Included with `#[path]` next to `fleet.rs` (as `support`).
#![allow(dead_code, unreachable_pub)]

use std::time::{Duration, Instant};

use protego_breaker::fleet::StoreError;

use crate::support::Sys;

/// The p50 and p99 of `samples` (sorted in place; nearest rank).
pub fn percentiles(samples: &mut [Duration]) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let i = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[i]
    };
    (at(0.50), at(0.99))
}

/// One failover as [`time_failover`] saw it, timed from the kill.
#[derive(Clone, Copy, Debug)]
pub struct Failover {
    /// The plain client's first acknowledged write.
    pub plain: Duration,
    /// Every replica of the fleet online (and shared) again.
    pub fleet: Duration,
    /// Store operations per second per replica while the fleet was away (from the kill until
    /// it was back).
    pub ops_per_sec: f64,
}

/// One failover, timed from `killed`, polling every 5 ms for at most `limit`: until the plain
/// client's `write` (one attempt, its own timeout) is first acknowledged, and until every
/// replica of `rs` went offline (more outages than `outages`) and is online again (shared:
/// what it decided offline is published). `ops` is the replicas' store operations counted at
/// the kill. Panics naming `round` when either never happens.
pub async fn time_failover<F, Fut>(
    rs: &[Sys],
    outages: &[u32],
    ops: u64,
    killed: Instant,
    limit: Duration,
    round: usize,
    mut write: F,
) -> Failover
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let (mut plain_at, mut fleet_at, mut rate) = (None, None, 0.0);
    loop {
        if let (Some(plain), Some(fleet)) = (plain_at, fleet_at) {
            return Failover {
                plain,
                fleet,
                ops_per_sec: rate,
            };
        }
        assert!(
            killed.elapsed() < limit,
            "round {round}: no failover within {limit:?} (plain {plain_at:?}, fleet {fleet_at:?})"
        );
        let back = rs
            .iter()
            .zip(outages)
            .all(|(r, before)| r.fleet.outages() > *before && r.fleet.is_online());
        if fleet_at.is_none() && back {
            let at = killed.elapsed();
            let made: u64 = rs.iter().map(|r| r.ops.total()).sum::<u64>() - ops;
            #[allow(clippy::cast_precision_loss)]
            {
                rate = made as f64 / at.as_secs_f64() / rs.len() as f64;
            }
            fleet_at = Some(at);
        }
        if plain_at.is_none() && write().await {
            plain_at = Some(killed.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The store operations `rs` made so far, all replicas together.
pub fn ops_of(rs: &[Sys]) -> u64 {
    rs.iter().map(|r| r.ops.total()).sum()
}

/// Prints one setting's failovers: p50 / p99 of the plain client and of the fleet, the fleet's
/// p99 lag behind the plain client's, and the store operations per second while away.
pub fn report(setting: &str, failovers: &[Failover]) {
    let (mut plain, mut fleet): (Vec<Duration>, Vec<Duration>) =
        failovers.iter().map(|f| (f.plain, f.fleet)).unzip();
    let mut lag: Vec<Duration> = failovers
        .iter()
        .map(|f| f.fleet.saturating_sub(f.plain))
        .collect();
    let mut rates: Vec<f64> = failovers.iter().map(|f| f.ops_per_sec).collect();
    rates.sort_by(f64::total_cmp);
    let (p50, p99) = percentiles(&mut plain);
    let (f50, f99) = percentiles(&mut fleet);
    let (l50, l99) = percentiles(&mut lag);
    println!("{setting}: {} failovers, from the SIGKILL", failovers.len());
    println!("  plain client, first acknowledged write: p50 {p50:?}, p99 {p99:?}");
    println!("  fleet online and shared again:          p50 {f50:?}, p99 {f99:?}");
    println!("  fleet after the plain client, per round: p50 {l50:?}, p99 {l99:?}");
    println!(
        "  store operations per second per replica while away: median {:.1}, max {:.1}",
        rates[rates.len() / 2],
        rates[rates.len() - 1]
    );
}

/// The distinct errors member 0 reports from the kill until every member is back online
/// (member 0 counted one more outage than `outages`), polled every 2 ms for at most 30 s;
/// each must be the store away or in transition (naming its node and a transition reply),
/// and at least one in transition.
pub async fn failover_errors(rs: &[Sys], outages: u32, killed: Instant) -> Vec<StoreError> {
    let mut seen = Vec::new();
    while !(rs[0].fleet.outages() > outages && rs.iter().all(|r| r.fleet.is_online())) {
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "no failover within 30 s; errors seen: {seen:?}"
        );
        if let Some(e) = rs[0].fleet.last_error() {
            if !seen.contains(&e) {
                seen.push(e);
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    for e in &seen {
        match e {
            StoreError::InTransition { node, reply, .. } => {
                assert!(!node.is_empty(), "{e}");
                let code = reply.split(' ').next().unwrap_or_default();
                let known = "MOVED ASK TRYAGAIN CLUSTERDOWN LOADING READONLY MASTERDOWN";
                assert!(known.split(' ').any(|k| k == code), "{e}");
            }
            StoreError::Unreachable(_) | StoreError::Timeout(_) => {}
            other => panic!("a failover reported as {other:?}; all seen: {seen:?}"),
        }
    }
    assert!(
        seen.iter().any(StoreError::is_in_transition),
        "no transition among {seen:?}"
    );
    seen
}
