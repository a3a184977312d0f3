//! The group `floor/`: each hot path next to its physical floor, in one run. A bare
//! `Instant::now()` and one `SystemClock` reading (the floor of a rejection on the system
//! clock), a native `Instant` compared with a deadline and the time left to it (what a rejection
//! in the clock's own units would still pay), a `CoarseClock` reading (and with
//! `--features quanta` a `QuantaClock` one and the raw counter under it), a bare future (the
//! floor of every call), then the closed call, `.protect`, the rejections on each
//! clock, the peers' rejections, and the closed call and the rejection on one and two threads.
//!
//! After criterion's rows it prints the same paths measured in alternating batches against
//! their floor (`common::alternate`: the medians of 2,000 pairs of 128-call batches) and the
//! two-thread ratios (medians of 15 alternating rounds), which a loaded machine moves less than
//! the criterion rows.
//!
//! `PROTEGO_CALL_ONLY=<row> [PROTEGO_CALL_CALLS=N]` runs N calls (default 1,000,000) of one row
//! and nothing else, for `valgrind --tool=callgrind`: the difference of two runs over the
//! difference of their N is the row's instructions per call.

use std::hint::black_box;
use std::task::Context;
use std::time::Instant;

use criterion::Criterion;
use protego_breaker::clock::CoarseClock;
use protego_breaker::{Breaker, CircuitBreaker, Clock, ProtectExt, Registry, SystemClock};

use super::common::{alternate, err, medians, new_cx, ok, poll_once};
use super::peers::{open_failsafe, open_recloser, Failsafe, Recloser};
use super::{config, contended};

/// Everything the rows call, set up once: closed and open breakers on each clock, a registry
/// with one name, and the peers, open.
struct Paths {
    closed: Breaker,
    registry: Registry,
    open_system: Breaker,
    coarse: CoarseClock,
    open_coarse: Breaker<CoarseClock>,
    #[cfg(feature = "quanta")]
    quanta: protego_breaker::clock::QuantaClock,
    #[cfg(feature = "quanta")]
    open_quanta: Breaker<protego_breaker::clock::QuantaClock>,
    recloser: Recloser,
    failsafe: Failsafe,
    /// An hour from set-up: what an open period's end would be as a native `Instant`.
    deadline: Instant,
    /// The counter `QuantaClock` reads, unscaled.
    #[cfg(feature = "quanta")]
    raw: quanta::Clock,
}

impl Paths {
    fn new() -> Self {
        let registry = Registry::new();
        registry.get_or_create("key");
        // Nothing ticks it here: reading it is the cost measured.
        let coarse = CoarseClock::new();
        #[cfg(feature = "quanta")]
        let quanta = protego_breaker::clock::QuantaClock::new();
        Paths {
            closed: Breaker::new(config(u32::MAX, 2)),
            registry,
            open_system: opened(Breaker::new(open_config()).named("payments")),
            open_coarse: opened(
                Breaker::with_clock(open_config(), coarse.clone()).named("payments"),
            ),
            coarse,
            #[cfg(feature = "quanta")]
            open_quanta: opened(
                Breaker::with_clock(open_config(), quanta.clone()).named("payments"),
            ),
            #[cfg(feature = "quanta")]
            quanta,
            recloser: open_recloser(),
            failsafe: open_failsafe(),
            deadline: Instant::now() + std::time::Duration::from_secs(3600),
            #[cfg(feature = "quanta")]
            raw: quanta::Clock::new(),
        }
    }
}

/// Opens on the first failure, for an hour (the whole run: a breaker that went half-open
/// would let the next calls through and close).
fn open_config() -> protego_breaker::Config {
    config(1, 2)
        .to_builder()
        .reset_timeout(std::time::Duration::from_secs(3600))
        .build()
        .expect("valid")
}

/// `breaker`, opened by one failure.
fn opened<C: Clock>(breaker: Breaker<C>) -> Breaker<C> {
    let mut cx = new_cx();
    let _ = poll_once(breaker.call(err()), &mut cx);
    assert!(matches!(
        poll_once(breaker.call(ok()), &mut cx),
        std::task::Poll::Ready(Err(protego_breaker::Error::Rejected(_)))
    ));
    breaker
}

/// One call of a row, through a pointer (the alternating batches and `PROTEGO_CALL_ONLY`):
/// the same indirection on both sides of every pair. Its output goes through `black_box`, as
/// criterion's does.
type Row<'a> = Box<dyn Fn(&mut Context<'_>) + Sync + 'a>;

/// The rows, once: `name => |paths, cx| one call`. Makes `bench_rows` (criterion, each call
/// inlined into its loop) and `rows` (the same calls behind [`Row`]).
macro_rules! rows {
    ($($(#[$attr:meta])* $name:literal => |$p:ident, $cx:ident| $call:expr,)*) => {
        fn bench_rows(
            g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
            paths: &Paths,
        ) {
            let mut cx = new_cx();
            $(
                $(#[$attr])*
                g.bench_function($name, |b| {
                    let $p = paths;
                    let _ = &$p;
                    b.iter(|| {
                        let $cx = &mut cx;
                        let _ = &$cx;
                        $call
                    });
                });
            )*
        }

        fn rows(paths: &Paths) -> Vec<(&'static str, Row<'_>)> {
            let mut rows: Vec<(&'static str, Row<'_>)> = Vec::new();
            $(
                $(#[$attr])*
                rows.push((
                    $name,
                    Box::new(move |$cx: &mut Context<'_>| {
                        let $p = paths;
                        let _ = (&$p, &$cx);
                        let _ = black_box($call);
                    }),
                ));
            )*
            rows
        }
    };
}

rows! {
    "instant_now" => |p, cx| Instant::now(),
    "system_clock_read" => |p, cx| SystemClock.now(),
    // What a rejection in the clock's own units would still pay: a native `Instant` compared
    // with a native deadline, and the time left to it (its `retry_after`) in std's arithmetic.
    "instant_before_deadline" => |p, cx| Instant::now() < black_box(p.deadline),
    "instant_until_deadline" => |p, cx| black_box(p.deadline).saturating_duration_since(Instant::now()),
    "coarse_clock_read" => |p, cx| p.coarse.now(),
    #[cfg(feature = "quanta")]
    "quanta_raw" => |p, cx| p.raw.raw(),
    #[cfg(feature = "quanta")]
    "quanta_clock_read" => |p, cx| p.quanta.now(),
    "bare_future" => |p, cx| poll_once(ok(), cx),
    "closed_call" => |p, cx| poll_once(p.closed.call(ok()), cx),
    "registry_protect" => |p, cx| poll_once(ok().protect(&p.registry, black_box("key")), cx),
    "rejection_system_clock" => |p, cx| poll_once(p.open_system.call(ok()), cx),
    "rejection_coarse_clock" => |p, cx| poll_once(p.open_coarse.call(ok()), cx),
    #[cfg(feature = "quanta")]
    "rejection_quanta_clock" => |p, cx| poll_once(p.open_quanta.call(ok()), cx),
    "rejection_recloser_1_4" => |p, cx| poll_once(p.recloser.call(ok()), cx),
    "rejection_failsafe_1_3" => |p, cx| {
        poll_once(failsafe::futures::CircuitBreaker::call(&p.failsafe, ok()), cx)
    },
}

/// The pairs measured in alternating batches: (floor, path).
const PAIRS: &[(&str, &str)] = &[
    ("bare_future", "closed_call"),
    ("bare_future", "registry_protect"),
    ("instant_now", "system_clock_read"),
    ("instant_now", "instant_before_deadline"),
    ("instant_now", "instant_until_deadline"),
    ("quanta_raw", "quanta_clock_read"),
    ("instant_now", "rejection_system_clock"),
    ("system_clock_read", "rejection_system_clock"),
    ("instant_now", "rejection_failsafe_1_3"),
    ("instant_now", "rejection_recloser_1_4"),
    ("bare_future", "rejection_coarse_clock"),
    ("bare_future", "rejection_quanta_clock"),
    ("quanta_clock_read", "rejection_quanta_clock"),
];

/// The rows measured on two threads against one (`threads_1/`, `threads_2/`).
const THREADED: &[&str] = &["bare_future", "closed_call", "rejection_system_clock"];

pub(crate) fn floor(criterion: &mut Criterion) {
    let paths = Paths::new();
    let rows = rows(&paths);
    if let Ok(which) = std::env::var("PROTEGO_CALL_ONLY") {
        only(&rows, &which);
        std::process::exit(0); // nothing else: not the other groups either
    }
    let mut g = criterion.benchmark_group("floor");
    bench_rows(&mut g, &paths);
    for name in THREADED {
        let row = &find(&rows, name);
        for threads in [1, 2] {
            g.bench_function(format!("threads_{threads}/{name}"), |b| {
                b.iter_custom(|iters| {
                    contended(threads, iters, &|n| {
                        let mut cx = new_cx();
                        for _ in 0..n {
                            row(&mut cx);
                        }
                    })
                });
            });
        }
    }
    g.finish();
    if std::env::args().any(|arg| arg == "--test") {
        return; // `cargo bench -- --test` runs each row once; skip the long passes
    }
    alternating(&rows);
    two_threads(&rows);
}

/// The pairs of [`PAIRS`], each in alternating batches.
fn alternating(rows: &[(&'static str, Row<'_>)]) {
    println!("floor, in alternating batches (medians, ns per call):");
    for (floor, path) in PAIRS {
        let (Some(under), Some(over)) = (lookup(rows, floor), lookup(rows, path)) else {
            continue; // a `quanta` row without the feature
        };
        let mut samples = Vec::new();
        let (mut cx_a, mut cx_b) = (new_cx(), new_cx());
        alternate(
            &mut || {
                under(&mut cx_a);
                true
            },
            &mut || {
                over(&mut cx_b);
                true
            },
            2_000,
            &mut samples,
        );
        let (x, y, d) = medians(&samples);
        println!("  {path:<24} {y:>7.2}   {floor:<18} {x:>7.2}   difference {d:>6.2}");
    }
}

/// The rows of [`THREADED`], on two threads against one, in alternating rounds.
fn two_threads(rows: &[(&'static str, Row<'_>)]) {
    println!("two threads on one breaker against one thread (medians of 15 rounds, ns per call):");
    for name in THREADED {
        let row = find(rows, name);
        let per_call = |threads: usize| {
            let calls: u32 = 200_000;
            let took = contended(threads, u64::from(calls), &|n| {
                let mut cx = new_cx();
                for _ in 0..n {
                    row(&mut cx);
                }
            });
            took.as_secs_f64() * 1e9 / f64::from(calls)
        };
        let mut rounds: Vec<(f64, f64, f64)> = (0..15)
            .map(|_| {
                let (one, two) = (per_call(1), per_call(2));
                (one, two, two / one)
            })
            .collect();
        rounds.sort_by(|a, b| a.2.total_cmp(&b.2));
        let (one, two, _) = medians(&rounds);
        println!(
            "  {name:<24} 1 thread {one:>7.2}   2 threads {two:>7.2}   ratio {:.2}",
            rounds[rounds.len() / 2].2
        );
    }
}

fn lookup<'r, 'a>(rows: &'r [(&'static str, Row<'a>)], name: &str) -> Option<&'r Row<'a>> {
    rows.iter().find(|(n, _)| *n == name).map(|(_, row)| row)
}

fn find<'r, 'a>(rows: &'r [(&'static str, Row<'a>)], name: &str) -> &'r Row<'a> {
    lookup(rows, name).unwrap_or_else(|| panic!("no row {name}"))
}

/// N calls of one row and nothing else (see the module docs).
fn only(rows: &[(&'static str, Row<'_>)], which: &str) {
    let n: u64 = std::env::var("PROTEGO_CALL_CALLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let Some(row) = lookup(rows, which) else {
        let names: Vec<&str> = rows.iter().map(|(n, _)| *n).collect();
        panic!("PROTEGO_CALL_ONLY={which}: one of {names:?}");
    };
    let mut cx = new_cx();
    for _ in 0..n {
        row(&mut cx);
    }
}
