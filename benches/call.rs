//! Per-call cost of protection, against a bare future in the same run. Every future is polled
//! once by hand with a no-op waker, so no executor is measured.
//!
//! ```text
//! cargo bench --bench call                 # everything
//! cargo bench --bench call -- contention   # one group
//! cargo bench --bench call -- --test       # run each once (CI)
//! cargo bench --bench call --features quanta -- open_rejection   # with QuantaClock's rows
//! ```
#![allow(missing_docs, clippy::cast_possible_truncation, clippy::inline_always)]

mod common;
#[path = "call/floor.rs"]
mod floor;
#[path = "call/peers.rs"]
mod peers;

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::hint::black_box;
use std::sync::{Arc, Barrier, RwLock};
use std::task::Context;
use std::thread;
use std::time::{Duration, Instant};

use common::{err, new_cx, ok, poll_once, Out};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use peers::{open_failsafe, open_recloser};
use protego_breaker::{
    call::Outcome, clock::CoarseClock, registry::BreakerHandle, Breaker, CircuitBreaker, Clock,
    Config, ManualClock, ProtectExt, Registry, State, Window,
};

pub(crate) fn config(threshold: u32, trials: u32) -> Config {
    Config::builder()
        .failure_threshold(threshold)
        .half_open_retries(trials)
        .build()
        .expect("valid")
}

fn closed_success(c: &mut Criterion) {
    let mut cx = new_cx();
    let breaker = Breaker::new(Config::default());
    let registry = Registry::new();
    let resolved = registry.get_or_create("key");

    let mut g = c.benchmark_group("closed_success");
    g.bench_function("bare_future", |b| b.iter(|| poll_once(ok(), &mut cx)));
    g.bench_function("breaker_call", |b| {
        b.iter(|| poll_once(breaker.call(ok()), &mut cx));
    });
    g.bench_function("registry_protect", |b| {
        b.iter(|| poll_once(ok().protect(&registry, black_box("key")), &mut cx));
    });
    g.bench_function("registry_resolved_call", |b| {
        b.iter(|| poll_once(resolved.as_ref().call(ok()), &mut cx));
    });
    let handle = registry.handle("key");
    g.bench_function("registry_handle_clone_call", |b| {
        b.iter(|| poll_once(black_box(&handle).clone().call_owned(ok()), &mut cx));
    });
    g.finish();
}

fn closed_failure(c: &mut Criterion) {
    let mut cx = new_cx();
    // A threshold no run reaches: every failure is counted, none trips.
    let breaker = Breaker::new(config(u32::MAX, 2));
    let mut g = c.benchmark_group("closed_failure");
    g.bench_function("bare_future", |b| b.iter(|| poll_once(err(), &mut cx)));
    g.bench_function("breaker_call", |b| {
        b.iter(|| poll_once(breaker.call(err()), &mut cx));
    });
    g.finish();
}

fn open_rejection(c: &mut Criterion) {
    let mut cx = new_cx();
    let system = Breaker::new(config(1, 2));
    let _ = poll_once(system.call(err()), &mut cx);
    let named = Breaker::new(config(1, 2)).named("payments");
    let _ = poll_once(named.call(err()), &mut cx);
    let manual = Breaker::with_clock(config(1, 2), ManualClock::new()).named("key");
    let _ = poll_once(manual.call(err()), &mut cx);
    let unnamed = Breaker::with_clock(config(1, 2), ManualClock::new());
    let _ = poll_once(unnamed.call(err()), &mut cx);
    // Nothing ticks it here: reading it is the cost measured.
    let coarse = Breaker::with_clock(config(1, 2), CoarseClock::new()).named("payments");
    let _ = poll_once(coarse.call(err()), &mut cx);
    assert_eq!(coarse.state(), State::Open);
    #[cfg(feature = "quanta")]
    let quanta = {
        let quanta = Breaker::with_clock(config(1, 2), protego_breaker::clock::QuantaClock::new());
        let _ = poll_once(quanta.call(err()), &mut cx);
        assert_eq!(quanta.state(), State::Open);
        quanta
    };
    assert_eq!(system.state(), State::Open);
    assert_eq!(manual.state(), State::Open);

    // The peers, open on the system clock, polled through the same harness.
    let recloser = open_recloser();
    let failsafe = open_failsafe();

    let mut g = c.benchmark_group("open_rejection");
    g.bench_function("bare_future", |b| b.iter(|| poll_once(ok(), &mut cx)));
    g.bench_function("system_clock", |b| {
        b.iter(|| poll_once(system.call(ok()), &mut cx));
    });
    // The same rejection on the CPU's counter, beside the system clock's in one run.
    #[cfg(feature = "quanta")]
    g.bench_function("quanta_clock", |b| {
        b.iter(|| poll_once(quanta.call(ok()), &mut cx));
    });
    g.bench_function("system_clock_named", |b| {
        b.iter(|| poll_once(named.call(ok()), &mut cx));
    });
    g.bench_function("recloser_1_4", |b| {
        b.iter(|| poll_once(recloser.call(ok()), &mut cx));
    });
    g.bench_function("failsafe_1_3", |b| {
        b.iter(|| {
            poll_once(
                failsafe::futures::CircuitBreaker::call(&failsafe, ok()),
                &mut cx,
            )
        });
    });
    g.bench_function("coarse_clock_named", |b| {
        b.iter(|| poll_once(coarse.call(ok()), &mut cx));
    });
    g.bench_function("manual_clock_named", |b| {
        b.iter(|| poll_once(manual.call(ok()), &mut cx));
    });
    g.bench_function("manual_clock_unnamed", |b| {
        b.iter(|| poll_once(unnamed.call(ok()), &mut cx));
    });
    // The floor under a real rejection: one read of the system clock.
    g.bench_function("system_clock_read_alone", |b| {
        b.iter(|| protego_breaker::Clock::now(&protego_breaker::SystemClock));
    });
    #[cfg(feature = "quanta")]
    {
        let clock = protego_breaker::clock::QuantaClock::new();
        g.bench_function("quanta_clock_read_alone", |b| {
            b.iter(|| protego_breaker::Clock::now(&clock));
        });
    }
    g.finish();
}

fn half_open(c: &mut Criterion) {
    let mut cx = new_cx();
    let clock = ManualClock::new();
    let breaker = Breaker::with_clock(config(1, 1), clock.clone());
    let _ = poll_once(breaker.call(err()), &mut cx);
    clock.advance(Duration::from_secs(60));
    assert_eq!(breaker.state(), State::HalfOpen);

    let mut g = c.benchmark_group("half_open");
    g.bench_function("bare_future", |b| {
        b.iter(|| poll_once(std::future::pending::<Out>(), &mut cx));
    });
    // Admitted, polled once, then cancelled: the trial goes back, so every iteration is a trial.
    g.bench_function("trial_admit_and_cancel", |b| {
        b.iter(|| poll_once(breaker.call(std::future::pending::<Out>()), &mut cx));
    });
    // A full round: the trial succeeds and closes the circuit; setup re-opens and half-opens it.
    g.bench_function("trial_success_closes", |b| {
        b.iter_batched(
            || {
                let _ = poll_once(breaker.call(err()), &mut new_cx()); // closed -> open
                clock.advance(Duration::from_secs(60));
            },
            |()| poll_once(breaker.call(ok()), &mut new_cx()),
            BatchSize::PerIteration,
        );
    });
    g.finish();
}

fn registry(c: &mut Criterion) {
    let mut cx = new_cx();
    let mut g = c.benchmark_group("registry_lookup");
    for n in [1usize, 1_000, 100_000] {
        let registry = Registry::new();
        for i in 0..n {
            registry.get_or_create(&format!("svc-{i}"));
        }
        let key = format!("svc-{}", n / 2);
        g.bench_with_input(BenchmarkId::new("protect_existing", n), &key, |b, key| {
            b.iter(|| poll_once(ok().protect(&registry, key), &mut cx));
        });
    }
    // Two names in turn: the last name found is never the one asked for, so every call hashes
    // and probes.
    let registry = Registry::new();
    let pair = ["svc-1".to_string(), "svc-2".to_string()];
    for name in &pair {
        registry.get_or_create(name);
    }
    let mut turn = 0;
    g.bench_function("protect_alternating", |b| {
        b.iter(|| {
            turn ^= 1;
            poll_once(ok().protect(&registry, &pair[turn]), &mut cx)
        });
    });
    let names: Vec<String> = (0..1_000_000).map(|i| format!("new-{i}")).collect();
    let registry = Registry::new();
    let mut next = 0;
    g.bench_function("first_use_insert", |b| {
        b.iter(|| {
            let name = &names[next % names.len()];
            next += 1;
            registry.get_or_create(name)
        });
    });
    g.finish();
}

/// The plain alternative to the registry's per-thread name caches (issue #20): shards of
/// `RwLock<HashMap>` under foldhash, padded, the shard picked by the name's hash, each name's
/// one handle cloned per call. Built on the public API: a miss takes the registry's own slow
/// path (`Registry::handle`), so both sides of `registry_map` call the same breakers through
/// the same kind of handle, and differ only in how the name is found.
struct ShardedNames<'r, C: Clock> {
    registry: &'r Registry<C>,
    hasher: foldhash::fast::RandomState,
    shards: Box<[Shard<C>]>,
}

type Names<C> = HashMap<Arc<str>, BreakerHandle<C>, foldhash::fast::RandomState>;

#[repr(align(128))]
struct Shard<C: Clock>(RwLock<Names<C>>);

impl<'r, C: Clock + Clone + 'static> ShardedNames<'r, C> {
    /// `next_power_of_two(2 * cores)` shards.
    fn new(registry: &'r Registry<C>) -> Self {
        let cores = thread::available_parallelism().map_or(2, usize::from);
        let hasher = foldhash::fast::RandomState::default();
        let shards = (0..(2 * cores).next_power_of_two())
            .map(|_| Shard(RwLock::new(HashMap::with_hasher(hasher.clone()))))
            .collect();
        ShardedNames {
            registry,
            hasher,
            shards,
        }
    }

    #[inline(always)]
    fn handle(&self, name: &str) -> BreakerHandle<C> {
        // Bits above the ones the shard's own table indexes by.
        let shard = (self.hasher.hash_one(name) >> 32) as usize & (self.shards.len() - 1);
        let shard = &self.shards[shard].0;
        if let Some(handle) = shard.read().unwrap().get(name) {
            return handle.clone();
        }
        self.insert(shard, name)
    }

    #[cold]
    #[inline(never)]
    fn insert(&self, shard: &RwLock<Names<C>>, name: &str) -> BreakerHandle<C> {
        let handle = self.registry.handle(name);
        shard
            .write()
            .unwrap()
            .entry(Arc::from(name))
            .or_insert(handle)
            .clone()
    }
}

/// `.protect` (the per-thread caches) against the plain sharded map, row by row in one run, on
/// the same breakers: one name again and again, two names in turn, 64 names round-robin, and
/// two threads on one name. The figures, and why the caches stay: benches/README.md, "Against a
/// plain sharded map".
fn registry_map(c: &mut Criterion) {
    let mut cx = new_cx();
    let registry = Registry::new().with_default_config(config(u32::MAX, 2));
    let names: Vec<String> = (0..64).map(|i| format!("svc-{i}")).collect();
    let sharded = ShardedNames::new(&registry);
    for name in &names {
        registry.get_or_create(name);
        let _ = sharded.handle(name);
    }
    let unlocked: Names<_> = sharded
        .shards
        .iter()
        .flat_map(|shard| shard.0.read().unwrap().clone())
        .collect();
    let mut g = c.benchmark_group("registry_map");
    g.bench_function("bare_future", |b| b.iter(|| poll_once(ok(), &mut cx)));
    for (rows, count) in [("one_name", 1), ("alternating", 2), ("round_robin_64", 64)] {
        let names = &names[..count];
        let mut i = 0;
        g.bench_function(format!("{rows}/cache"), |b| {
            b.iter(|| {
                i = (i + 1) & (count - 1);
                poll_once(ok().protect(&registry, black_box(&names[i])), &mut cx)
            });
        });
        let mut i = 0;
        g.bench_function(format!("{rows}/sharded_foldhash"), |b| {
            b.iter(|| {
                i = (i + 1) & (count - 1);
                poll_once(
                    sharded.handle(black_box(&names[i])).call_owned(ok()),
                    &mut cx,
                )
            });
        });
        // The floor under any sharded map: the same look-up in a map only this thread reads,
        // so with no lock at all.
        let mut i = 0;
        g.bench_function(format!("{rows}/foldhash_unlocked"), |b| {
            b.iter(|| {
                i = (i + 1) & (count - 1);
                let handle = unlocked.get(black_box(names[i].as_str())).unwrap().clone();
                poll_once(handle.call_owned(ok()), &mut cx)
            });
        });
    }
    let name = names[1].as_str();
    g.bench_function("threads_2/cache", |b| {
        b.iter_custom(|iters| {
            contended(2, iters, &|n| {
                let mut cx = new_cx();
                for _ in 0..n {
                    let _ = black_box(poll_once(ok().protect(&registry, black_box(name)), &mut cx));
                }
            })
        });
    });
    g.bench_function("threads_2/sharded_foldhash", |b| {
        b.iter_custom(|iters| {
            contended(2, iters, &|n| {
                let mut cx = new_cx();
                for _ in 0..n {
                    let handle = sharded.handle(black_box(name));
                    let _ = black_box(poll_once(handle.call_owned(ok()), &mut cx));
                }
            })
        });
    });
    g.finish();
}

/// Runs `per_thread` on `threads` threads at once, `iters` calls each; returns the wall time,
/// which criterion divides by `iters`: the per-call cost seen by each thread.
pub(crate) fn contended(threads: usize, iters: u64, per_thread: &(dyn Fn(u64) + Sync)) -> Duration {
    let barrier = Barrier::new(threads + 1);
    thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                barrier.wait();
                per_thread(iters);
                barrier.wait();
            });
        }
        barrier.wait();
        let start = Instant::now();
        barrier.wait();
        start.elapsed()
    })
}

/// The policies side by side on the system clock: the default (consecutive failures), a
/// count window, a time window (reads the clock per call), a count window timing slow calls
/// (reads it twice), call totals on, and a classifier.
fn policies(c: &mut Criterion) {
    let mut cx = new_cx();
    let never =
        |b: protego_breaker::ConfigBuilder| b.failure_rate_threshold(100).minimum_calls(100);
    let consecutive = Breaker::new(config(u32::MAX, 2));
    let count = Breaker::new(
        never(Config::builder().window(Window::Count(100)))
            .build()
            .unwrap(),
    );
    let time = Breaker::new(
        never(Config::builder().window(Window::time(Duration::from_secs(10))))
            .build()
            .unwrap(),
    );
    let time_coarse = Breaker::with_clock(
        never(Config::builder().window(Window::time(Duration::from_secs(10))))
            .build()
            .unwrap(),
        CoarseClock::new(),
    );
    let slow = Breaker::new(
        never(Config::builder().window(Window::Count(100)))
            .slow_call_duration(Duration::from_secs(1))
            .build()
            .unwrap(),
    );
    let totals = Breaker::new(
        config(u32::MAX, 2)
            .to_builder()
            .totals(true)
            .build()
            .unwrap(),
    );
    let classify = |r: &Out| match r {
        Ok(v) if *v >= 500 => Outcome::Failure,
        Ok(_) => Outcome::Success,
        Err(_) => Outcome::Failure,
    };

    let mut g = c.benchmark_group("policies");
    g.bench_function("bare_future", |b| b.iter(|| poll_once(ok(), &mut cx)));
    let cases: [(&str, &Breaker); 5] = [
        ("consecutive", &consecutive),
        ("count_window", &count),
        ("time_window", &time),
        ("count_window_slow_calls", &slow),
        ("consecutive_totals", &totals),
    ];
    for (name, breaker) in cases {
        policy_rows(&mut g, &mut cx, name, breaker);
    }
    policy_rows(&mut g, &mut cx, "time_window_coarse_clock", &time_coarse);
    g.bench_function("consecutive_classified/success", |b| {
        b.iter(|| poll_once(consecutive.call(ok()).classify(classify), &mut cx));
    });
    g.finish();
}

/// The closed success path with the `metrics` feature: a breaker not exported (the feature adds
/// nothing to its path), an exported one (counting on, no `metrics` handle touched per call),
/// and `totals` on for comparison. Run with `--features metrics`; without it the group only
/// has the first two rows, and they are the same code.
fn metrics_export(c: &mut Criterion) {
    let mut cx = new_cx();
    let plain = Breaker::new(Config::default()).named("plain");
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    let exported = Breaker::new(Config::default()).named("exported");
    #[cfg(feature = "metrics")]
    protego_breaker::integrations::metrics::ExportMetrics::export_metrics(&exported);
    let mut g = c.benchmark_group("metrics");
    g.bench_function("bare_future", |b| b.iter(|| poll_once(ok(), &mut cx)));
    g.bench_function("not_exported", |b| {
        b.iter(|| poll_once(plain.call(ok()), &mut cx));
    });
    #[cfg(feature = "metrics")]
    g.bench_function("exported", |b| {
        b.iter(|| poll_once(exported.call(ok()), &mut cx));
    });
    g.finish();
}

/// A policy's success and 10 %-failure rows.
fn policy_rows<C: protego_breaker::Clock>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    cx: &mut Context<'_>,
    name: &str,
    breaker: &Breaker<C>,
) {
    g.bench_function(format!("{name}/success"), |b| {
        b.iter(|| poll_once(breaker.call(ok()), cx));
    });
    let mut i = 0u32;
    g.bench_function(format!("{name}/10pct_failures"), |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            let fut = if i % 10 == 0 { err() } else { ok() };
            poll_once(breaker.call(fut), cx)
        });
    });
}

fn contention(c: &mut Criterion) {
    let cores = thread::available_parallelism().map_or(2, usize::from);
    let mut counts = vec![1, 2, cores];
    counts.dedup();
    let breaker = Breaker::new(config(u32::MAX, 2));
    let totals = Breaker::new(
        config(u32::MAX, 2)
            .to_builder()
            .totals(true)
            .build()
            .unwrap(),
    );
    let registry = Registry::new().with_default_config(config(u32::MAX, 2));
    registry.get_or_create("key");
    let open = Breaker::new(config(1, 2)).named("payments");
    let _ = poll_once(open.call(err()), &mut new_cx());

    let mut g = c.benchmark_group("contention");
    for &t in &counts {
        // `calls(n)` is one thread's share: `n` futures polled once each.
        let mut bench = |name: &str, calls: &(dyn Fn(u64) + Sync)| {
            g.bench_with_input(BenchmarkId::new(name, t), &t, |b, &t| {
                b.iter_custom(|iters| contended(t, iters, calls));
            });
        };
        bench("bare_future", &|n| {
            let mut cx = new_cx();
            for _ in 0..n {
                let _ = black_box(poll_once(ok(), &mut cx));
            }
        });
        bench("breaker_success", &|n| {
            let mut cx = new_cx();
            for _ in 0..n {
                let _ = black_box(poll_once(breaker.call(ok()), &mut cx));
            }
        });
        bench("breaker_success_totals", &|n| {
            let mut cx = new_cx();
            for _ in 0..n {
                let _ = black_box(poll_once(totals.call(ok()), &mut cx));
            }
        });
        bench("breaker_10pct_failures", &|n| {
            let mut cx = new_cx();
            for i in 0..n {
                let fut = if i % 10 == 0 { err() } else { ok() };
                let _ = black_box(poll_once(breaker.call(fut), &mut cx));
            }
        });
        bench("rejection_named", &|n| {
            let mut cx = new_cx();
            for _ in 0..n {
                let _ = black_box(poll_once(open.call(ok()), &mut cx));
            }
        });
        bench("registry_success", &|n| {
            let mut cx = new_cx();
            for _ in 0..n {
                let _ = black_box(poll_once(ok().protect(&registry, "key"), &mut cx));
            }
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    floor::floor,
    closed_success,
    closed_failure,
    open_rejection,
    half_open,
    registry,
    registry_map,
    policies,
    metrics_export,
    contention
);
criterion_main!(benches);
