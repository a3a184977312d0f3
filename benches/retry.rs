//! What a retry budget and the adaptive throttle cost per decision, and a retried call on the
//! happy path, against a bare future in the same run. Futures are polled once by hand with a
//! no-op waker, so no executor is measured.
//!
//! ```text
//! cargo bench --bench retry                 # everything
//! cargo bench --bench retry -- --test       # run each once (CI)
//! ```
#![allow(missing_docs, clippy::inline_always)]

mod common;

use std::future::ready;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use common::{alternate, medians, new_cx, ok, poll_once};
use criterion::{criterion_group, Criterion};
use protego_breaker::call::Outcome;
use protego_breaker::retry::{Budget, Retrier, RetryExt, RetryPolicy, TokenBudget, TpsBudget};
use protego_breaker::sleep::Sleep;
use protego_breaker::throttle::Throttle;
use protego_breaker::{Breaker, CircuitBreaker, Config, ManualClock};

fn budgets(c: &mut Criterion) {
    let mut cx = new_cx();
    let now = Duration::from_secs(5);
    let tps = TpsBudget::default();
    // Enough deposits that withdrawals keep succeeding for the whole run.
    let rich = TpsBudget::builder()
        .min_per_sec(1_000_000)
        .ttl(Duration::from_secs(60))
        .build()
        .unwrap();
    let tokens = TokenBudget::default();
    let mut g = c.benchmark_group("budget");
    g.bench_function("bare_future", |b| b.iter(|| poll_once(ok(), &mut cx)));
    g.bench_function("tps_deposit", |b| b.iter(|| tps.deposit(black_box(now))));
    g.bench_function("tps_withdraw_granted", |b| {
        b.iter(|| rich.withdraw(black_box(now)));
    });
    let empty = TpsBudget::builder().min_per_sec(0).build().unwrap();
    g.bench_function("tps_withdraw_refused", |b| {
        b.iter(|| empty.withdraw(black_box(now)));
    });
    g.bench_function("token_withdraw", |b| {
        b.iter(|| tokens.withdraw(black_box(now)));
    });
    g.bench_function("token_record_success", |b| {
        b.iter(|| tokens.record(black_box(Outcome::Success)));
    });
    g.finish();
}

fn throttle(c: &mut Criterion) {
    let mut cx = new_cx();
    let now = Duration::from_secs(5);
    // Healthy: the current tenth holds as many accepts as a tenth can count, so requests
    // (capped at the same ceiling) never outnumber K x accepts however long criterion runs:
    // probability 0, no draw. (A throttle that is only admitted to would shed after 10 calls.)
    let healthy = Throttle::builder().seed(1).build().unwrap();
    for _ in 0..1 << 22 {
        healthy.record(now, Outcome::Success);
    }
    assert!(healthy.rejection_probability(now) <= 0.0);
    // Shedding: every admitted call failed, so the decision draws.
    let shedding = Throttle::builder()
        .seed(1)
        .window(Duration::from_secs(600))
        .build()
        .unwrap();
    for _ in 0..1_000 {
        shedding.admit(now);
    }
    assert!(shedding.rejection_probability(now) > 0.99);
    let mut g = c.benchmark_group("throttle");
    g.bench_function("bare_future", |b| b.iter(|| poll_once(ok(), &mut cx)));
    g.bench_function("admit_healthy", |b| {
        b.iter(|| healthy.admit(black_box(now)));
    });
    g.bench_function("record_accept", |b| {
        b.iter(|| healthy.record(black_box(now), Outcome::Success));
    });
    g.bench_function("admit_shedding", |b| {
        b.iter(|| shedding.admit(black_box(now)));
    });
    let plain = Breaker::with_clock(Config::default(), ManualClock::new());
    g.bench_function("breaker_call", |b| {
        b.iter(|| poll_once(plain.call(ok()), &mut cx));
    });
    let throttled = Breaker::with_clock(Config::default(), ManualClock::new());
    Arc::new(Throttle::builder().seed(1).build().unwrap()).attach(&throttled);
    g.bench_function("throttled_breaker_call", |b| {
        b.iter(|| poll_once(throttled.call(ok()), &mut cx));
    });
    g.finish();
}

/// The `retry/` group's retrier (default policy and budget, a sleeper that is ready at once)
/// and breaker (defaults, `ManualClock`).
fn retry_setup() -> (Retrier, Breaker<ManualClock>) {
    let sleeper = |_: Duration| -> Sleep { Box::pin(ready(())) };
    let retrier = Retrier::new(
        RetryPolicy::default(),
        Arc::new(TpsBudget::default()),
        Arc::new(sleeper),
    );
    (
        retrier,
        Breaker::with_clock(Config::default(), ManualClock::new()),
    )
}

fn retried(c: &mut Criterion) {
    let mut cx = new_cx();
    let (retrier, breaker) = retry_setup();
    let mut g = c.benchmark_group("retry");
    g.bench_function("bare_future", |b| b.iter(|| poll_once(ok(), &mut cx)));
    g.bench_function("breaker_call", |b| {
        b.iter(|| poll_once(breaker.call(ok()), &mut cx));
    });
    g.bench_function("retried_success", |b| {
        b.iter(|| poll_once(ok.retry(&retrier, &breaker), &mut cx));
    });
    g.finish();
    if std::env::args().any(|a| a == "--test") {
        return;
    }
    // The same rows in alternating batches against the bare future (medians of 2,000 pairs).
    let rows: [(&str, &mut dyn FnMut() -> bool); 2] = [
        ("breaker_call", &mut || {
            poll_once(breaker.call(ok()), &mut new_cx()).is_ready()
        }),
        ("retried_success", &mut || {
            poll_once(ok.retry(&retrier, &breaker), &mut new_cx()).is_ready()
        }),
    ];
    for (name, row) in rows {
        let mut samples = Vec::new();
        let mut bare = || poll_once(ok(), &mut new_cx()).is_ready();
        alternate(&mut bare, row, 2_000, &mut samples);
        let (bare_ns, row_ns, diff_ns) = medians(&samples);
        println!(
            "retry/{name} alternating: bare {bare_ns:.2} ns, row {row_ns:.2} ns, difference {diff_ns:.2} ns"
        );
    }
}

/// `PROTEGO_RETRY_ONLY=<row> [PROTEGO_RETRY_CALLS=N]`: N calls (default 1,000,000) of one row
/// of the `retry/` group and nothing else, for `valgrind --tool=callgrind` (the difference of
/// two runs over the difference of their N is the row's instructions per call).
fn retried_only(which: &str, retrier: &Retrier, breaker: &Breaker<ManualClock>) {
    let calls: u64 = std::env::var("PROTEGO_RETRY_CALLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let mut cx = new_cx();
    for _ in 0..calls {
        let ready = match which {
            "bare_future" => poll_once(ok(), &mut cx).is_ready(),
            "breaker_call" => poll_once(breaker.call(ok()), &mut cx).is_ready(),
            "retried_success" => poll_once(ok.retry(retrier, breaker), &mut cx).is_ready(),
            other => panic!("no row {other} in retry/"),
        };
        black_box(ready);
    }
}

/// Overload shedding (issue #28): a healthy call on a breaker that can shed (every breaker,
/// by default), a call let in while shedding, and one refused while shedding.
fn shed(c: &mut Criterion) {
    let mut cx = new_cx();
    let clock = ManualClock::new();
    // A breaker that sheds: one overload, then calls one at a time (slow start takes the limit
    // to 3, where one call in flight no longer uses it and it stops growing).
    let shedding = || {
        let breaker = Arc::new(Breaker::with_clock(Config::default(), clock.clone()));
        breaker.try_acquire().unwrap().overload();
        for _ in 0..8 {
            breaker.try_acquire().unwrap().success();
        }
        breaker
    };
    let healthy = Breaker::with_clock(Config::default(), clock.clone());
    // Room: a limit of 3, nothing in flight.
    let room = shedding();
    assert_eq!(room.shed_limit(), Some(3));
    // Full: 3 calls held over the same limit.
    let full = shedding();
    let _held: Vec<_> = (0..3)
        .map(|_| Arc::clone(&full).try_acquire_owned().unwrap())
        .collect();
    assert!(full.try_acquire().is_err());
    let mut g = c.benchmark_group("shed");
    g.bench_function("bare_future", |b| b.iter(|| poll_once(ok(), &mut cx)));
    g.bench_function("healthy_call", |b| {
        b.iter(|| poll_once(healthy.call(ok()), &mut cx));
    });
    g.bench_function("admitted_while_shedding", |b| {
        b.iter(|| poll_once(room.call(ok()), &mut cx));
    });
    g.bench_function("refused_while_shedding", |b| {
        b.iter(|| poll_once(full.call(ok()), &mut cx));
    });
    g.finish();
}

criterion_group!(benches, budgets, throttle, retried, shed);

fn main() {
    if let Ok(which) = std::env::var("PROTEGO_RETRY_ONLY") {
        let (retrier, breaker) = retry_setup();
        retried_only(&which, &retrier, &breaker);
        return; // nothing else: no group is set up
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
