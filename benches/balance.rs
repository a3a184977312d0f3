//! Balanced pools: what the outlier layer buys and what it costs, in one run.
//!
//! 1. Ten in-process endpoints behind tower's p2c balancer, one failing every call, driven on
//!    the manual clock (1 call per simulated millisecond, 60 simulated seconds, default rules:
//!    10 s interval, 30 s base ejection): the success rate over the calls after two intervals,
//!    with the layer and without it.
//! 2. The same with an endpoint failing every *other* call (no consecutive-failure rule can
//!    see it; A50's success-rate rule does).
//! 3. Two of ten failing every call with `max_ejection_percent` 10: ejected endpoints sampled
//!    after every call; exactly one ejected, never more.
//! 4. The per-call cost of the layer on the system clock, in alternating batches over fresh
//!    pairs of services (median of the per-round differences): plain p2c against p2c with the
//!    layer and guard, and one bare endpoint against the same through `EndpointService`.
//! 5. Criterion: one call through plain p2c, and through p2c with the layer and the guard.
//! 6. The same under `tower::buffer::Buffer` (on a current-thread tokio runtime): a buffered
//!    bare p2c against a buffered p2c with the layer and guard, alternating batches and
//!    criterion. (The guard's error is a `BoxError`, so it goes under `Buffer` as it is.)
//! 7. Part 1 with an endpoint failing one call in five at random (a gray endpoint).
//!
//! `cargo bench --bench balance --features balance` (add `-- --test` to run each once).
//! `PROTEGO_BALANCE_ONLY=plain|layered|bare|endpoint` runs only calls of that one (for
//! `valgrind --tool=callgrind`; `PROTEGO_BALANCE_CALLS`, default 1,000,000).

mod common;

use std::future::{ready, Future, Ready};
use std::hint::black_box;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use common::{alternate, medians};
use criterion::{criterion_group, criterion_main, Criterion};
use protego_breaker::integrations::balance::{OutlierDetection, OutlierDetector};
use protego_breaker::{Clock, ManualClock, Registry, SystemClock};
use tower::balance::p2c::Balance;
use tower::discover::ServiceList;
use tower::load::{CompleteOnResponse, PendingRequestsDiscover};
use tower::Service;

/// An endpoint answering at once: every call fails when `fails(n)` says so for its nth call.
#[derive(Clone)]
struct Endpoint {
    fails: fn(u64) -> bool,
    calls: Arc<AtomicU64>,
}

impl Service<()> for Endpoint {
    type Response = ();
    type Error = &'static str;
    type Future = Ready<Result<(), &'static str>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, (): ()) -> Self::Future {
        let n = self.calls.fetch_add(1, Ordering::Relaxed);
        ready(if (self.fails)(n) { Err("down") } else { Ok(()) })
    }
}

/// Which endpoints fail, and how.
type Bad<'a> = &'a [(usize, fn(u64) -> bool)];

fn good(_: u64) -> bool {
    false
}

fn always(_: u64) -> bool {
    true
}

fn every_other(n: u64) -> bool {
    n % 2 == 1
}

/// One call in five, at (repeatable) random: splitmix64 of the call's number.
fn one_in_five(n: u64) -> bool {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) % 5 == 0
}

fn endpoints(bad: Bad<'_>) -> Vec<Endpoint> {
    (0..10)
        .map(|i| Endpoint {
            fails: bad.iter().find(|(b, _)| *b == i).map_or(good, |(_, f)| *f),
            calls: Arc::default(),
        })
        .collect()
}

/// One call: ready, called, and finished, all in one poll each (nothing here waits).
fn once<S: Service<()>>(svc: &mut S, cx: &mut Context<'_>) -> Result<S::Response, S::Error> {
    match svc.poll_ready(cx) {
        Poll::Ready(Ok(())) => {}
        Poll::Ready(Err(e)) => return Err(e),
        Poll::Pending => panic!("no endpoint ready"),
    }
    match pin!(svc.call(())).poll(cx) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("an in-process call waits"),
    }
}

fn plain(
    list: Vec<Endpoint>,
) -> impl Service<(), Response = (), Error = tower::BoxError, Future: Send> + Send + 'static {
    Balance::new(PendingRequestsDiscover::new(
        ServiceList::new(list),
        CompleteOnResponse::default(),
    ))
}

fn layered<C: Clock + Clone + Send + Sync + 'static>(
    detector: &OutlierDetector<C>,
    list: Vec<Endpoint>,
) -> impl Service<(), Response = (), Error = tower::BoxError, Future: Send> + Send + 'static {
    let discover = detector.layer().discover(ServiceList::new(list));
    detector.guard(Balance::new(PendingRequestsDiscover::new(
        discover,
        CompleteOnResponse::default(),
    )))
}

struct Run {
    after_two_intervals: f64,
    overall: f64,
    most_ejected: usize,
    ejected_at_end: Vec<String>,
}

/// 60 simulated seconds at one call per millisecond.
fn simulate(bad: Bad<'_>, layer: bool, detection: &OutlierDetection) -> Run {
    let clock = ManualClock::new();
    let registry = Arc::new(Registry::with_clock(clock.clone()));
    let detector = OutlierDetector::new(registry, "sim", detection.clone());
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    let two_intervals = 2 * detection.interval();
    let (mut ok, mut all, mut late_ok, mut late_all, mut most) = (0_u64, 0_u64, 0_u64, 0_u64, 0);
    let mut count = |success: bool, now: Duration| {
        all += 1;
        ok += u64::from(success);
        if now >= two_intervals {
            late_all += 1;
            late_ok += u64::from(success);
        }
    };
    if layer {
        let mut svc = layered(&detector, endpoints(bad));
        for _ in 0..60_000 {
            count(once(&mut svc, &mut cx).is_ok(), clock.now());
            most = most.max(detector.ejected().len());
            clock.advance(Duration::from_millis(1));
        }
    } else {
        let mut svc = plain(endpoints(bad));
        for _ in 0..60_000 {
            count(once(&mut svc, &mut cx).is_ok(), clock.now());
            clock.advance(Duration::from_millis(1));
        }
    }
    #[allow(clippy::cast_precision_loss)]
    Run {
        after_two_intervals: late_ok as f64 / late_all as f64 * 100.0,
        overall: ok as f64 / all as f64 * 100.0,
        most_ejected: most,
        ejected_at_end: detector.ejected(),
    }
}

fn figures() {
    let defaults = OutlierDetection::default();
    println!("balance: ten endpoints, 60 simulated s at 1 call/ms, A50 defaults (interval 10 s)");
    for (what, bad, goal) in [
        (
            "one failing every call",
            &[(3, always as fn(u64) -> bool)][..],
            99.5,
        ),
        (
            "one failing every other call",
            &[(3, every_other as fn(u64) -> bool)][..],
            0.0,
        ),
        (
            "one failing one call in five (gray)",
            &[(3, one_in_five as fn(u64) -> bool)][..],
            99.9,
        ),
    ] {
        let without = simulate(bad, false, &defaults);
        let with = simulate(bad, true, &defaults);
        println!(
            "  {what}: success after two intervals {:.3} % with the layer, {:.3} % plain p2c \
             (overall {:.3} % / {:.3} %); ejected at the end {:?}",
            with.after_two_intervals,
            without.after_two_intervals,
            with.overall,
            without.overall,
            with.ejected_at_end
        );
        assert!(with.after_two_intervals >= goal, "{what}");
    }
    let two = simulate(
        &[
            (3, always as fn(u64) -> bool),
            (7, always as fn(u64) -> bool),
        ],
        true,
        &defaults,
    );
    println!(
        "  two failing every call, max_ejection_percent 10: at most {} ejected at any sample \
         (60,000 samples), {:?} at the end; success after two intervals {:.3} %",
        two.most_ejected, two.ejected_at_end, two.after_two_intervals
    );
    assert_eq!(two.most_ejected, 1);
    assert_eq!(two.ejected_at_end.len(), 1);
}

/// Fresh pairs of services, this many times: each p2c balancer hashes its endpoints with a
/// new random seed and sits at new addresses, so no one layout decides the comparison.
const PAIRS: usize = 40;
/// Alternating rounds per pair.
const ROUNDS: usize = 200;

/// The layer's cost per call, isolated two ways in alternating batches: through p2c (plain p2c
/// against p2c with the layer and guard), and one endpoint alone (the bare service's
/// `poll_ready`, `call` and response against the same through `EndpointService`).
fn interleaved() {
    let detector = OutlierDetector::new(
        Arc::new(Registry::with_clock(SystemClock)),
        "interleaved",
        OutlierDetection::default(),
    );
    let (a, b, d) = compare(|| (plain(endpoints(&[])), layered(&detector, endpoints(&[]))));
    println!(
        "  per call, {PAIRS} x {ROUNDS} alternating batches: plain p2c {a:.1} ns, with the layer \
         and guard {b:.1} ns, median difference {d:.1} ns"
    );
    let (a, b, d) = compare(|| (endpoints(&[]).remove(0), one_endpoint(&detector)));
    println!(
        "  one endpoint, {PAIRS} x {ROUNDS} alternating batches: bare {a:.1} ns, \
         EndpointService {b:.1} ns, median difference {d:.1} ns"
    );
}

/// [`alternate`] over `PAIRS` fresh pairs from `make`: the medians of all their rounds.
fn compare<A: Service<()>, B: Service<()>>(mut make: impl FnMut() -> (A, B)) -> (f64, f64, f64) {
    let mut samples = Vec::new();
    for _ in 0..PAIRS {
        let (mut a, mut b) = make();
        alternate(
            &mut || once(&mut a, &mut noop_cx()).is_ok(),
            &mut || once(&mut b, &mut noop_cx()).is_ok(),
            ROUNDS,
            &mut samples,
        );
    }
    medians(&samples)
}

fn noop_cx() -> Context<'static> {
    Context::from_waker(futures::task::noop_waker_ref())
}

/// One endpoint through the layer, as the balancer gets it.
fn one_endpoint(
    detector: &OutlierDetector<SystemClock>,
) -> impl Service<(), Response = (), Error = &'static str> {
    use futures::StreamExt;
    let mut discover = detector
        .layer()
        .discover(ServiceList::new(endpoints(&[]).into_iter().take(1)));
    match futures::executor::block_on(discover.next()) {
        Some(Ok(tower::discover::Change::Insert(_, svc))) => svc,
        _ => unreachable!("a list yields its services"),
    }
}

/// `PROTEGO_BALANCE_ONLY=plain|layered|endpoint|bare [N]`: N calls (default 1,000,000) of one
/// of them and nothing else, for instruction counts under `valgrind --tool=callgrind` (the
/// difference of two runs over N is the layer's instructions per call).
fn only(which: &str) {
    let n: u32 = std::env::var("PROTEGO_BALANCE_CALLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    let detector = OutlierDetector::new(
        Arc::new(Registry::with_clock(SystemClock)),
        "only",
        OutlierDetection::default(),
    );
    let mut run = |svc: &mut dyn FnMut(&mut Context<'_>) -> bool| {
        for _ in 0..n {
            black_box(svc(&mut cx));
        }
    };
    match which {
        "plain" => {
            let mut s = plain(endpoints(&[]));
            run(&mut |cx| once(&mut s, cx).is_ok());
        }
        "layered" => {
            let mut s = layered(&detector, endpoints(&[]));
            run(&mut |cx| once(&mut s, cx).is_ok());
        }
        "bare" => {
            let mut s = endpoints(&[]).remove(0);
            run(&mut |cx| once(&mut s, cx).is_ok());
        }
        "endpoint" => {
            let mut s = one_endpoint(&detector);
            run(&mut |cx| once(&mut s, cx).is_ok());
        }
        other => panic!("PROTEGO_BALANCE_ONLY={other}: plain, layered, bare or endpoint"),
    }
}

/// One call through a buffered service, on `rt`.
fn buffered_once<S>(rt: &tokio::runtime::Runtime, svc: &mut S) -> bool
where
    S: Service<(), Response = ()>,
{
    rt.block_on(async {
        std::future::poll_fn(|cx| svc.poll_ready(cx)).await.is_ok() && svc.call(()).await.is_ok()
    })
}

/// `Buffer` over p2c, bare and with the layer and guard, on one current-thread runtime.
fn buffered_pair(
    rt: &tokio::runtime::Runtime,
    detector: &OutlierDetector<SystemClock>,
) -> (
    impl Service<(), Response = (), Error = tower::BoxError>,
    impl Service<(), Response = (), Error = tower::BoxError>,
) {
    let _entered = rt.enter(); // `Buffer::new` spawns its worker on the current runtime
    (
        tower::buffer::Buffer::new(plain(endpoints(&[])), 64),
        tower::buffer::Buffer::new(layered(detector, endpoints(&[])), 64),
    )
}

/// Buffered p2c against buffered p2c with the layer and guard, alternating batches.
fn buffered(rt: &tokio::runtime::Runtime, detector: &OutlierDetector<SystemClock>) {
    let mut samples = Vec::new();
    for _ in 0..PAIRS / 4 {
        let (mut a, mut b) = buffered_pair(rt, detector);
        alternate(
            &mut || buffered_once(rt, &mut a),
            &mut || buffered_once(rt, &mut b),
            ROUNDS / 4,
            &mut samples,
        );
    }
    let (a, b, d) = medians(&samples);
    println!(
        "  under Buffer, {} x {} alternating batches: buffered p2c {a:.1} ns, buffered with the \
         layer and guard {b:.1} ns, median difference {d:.1} ns ({:.3}x)",
        PAIRS / 4,
        ROUNDS / 4,
        b / a
    );
}

fn per_call(c: &mut Criterion) {
    if let Ok(which) = std::env::var("PROTEGO_BALANCE_ONLY") {
        only(&which);
        return;
    }
    figures();
    interleaved();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
    let buffer_detector = OutlierDetector::new(
        Arc::new(Registry::with_clock(SystemClock)),
        "buffered",
        OutlierDetection::default(),
    );
    buffered(&rt, &buffer_detector);
    let mut group = c.benchmark_group("balance");
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    let mut bare = plain(endpoints(&[]));
    group.bench_function("p2c, ten endpoints", |b| {
        b.iter(|| black_box(once(&mut bare, &mut cx)).is_ok());
    });
    let detector = OutlierDetector::new(
        Arc::new(Registry::with_clock(SystemClock)),
        "bench",
        OutlierDetection::default(),
    );
    let mut protected = layered(&detector, endpoints(&[]));
    group.bench_function("p2c with the outlier layer and guard", |b| {
        b.iter(|| black_box(once(&mut protected, &mut cx)).is_ok());
    });
    let (mut bare_buffered, mut guarded_buffered) = buffered_pair(&rt, &buffer_detector);
    group.bench_function("buffered p2c", |b| {
        b.iter(|| black_box(buffered_once(&rt, &mut bare_buffered)));
    });
    group.bench_function("buffered p2c with the outlier layer and guard", |b| {
        b.iter(|| black_box(buffered_once(&rt, &mut guarded_buffered)));
    });
    group.finish();
}

criterion_group!(benches, per_call);
criterion_main!(benches);
