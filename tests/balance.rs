//! The outlier detection of a balanced pool on the manual clock: ejection rules, multiplier
//! and cap, decay, `max_ejection_percent`, the guard, endpoints leaving and coming back, and
//! what the snapshot, admin view and metrics show. No network, no sleeps.
#![cfg(feature = "balance")]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::StreamExt;
use protego_breaker::integrations::balance::{
    FailurePercentageEjection, OutlierDetection, OutlierDetector, OutlierEventKind, Rule,
    SuccessRateEjection,
};
use protego_breaker::{Clock, ManualClock, Rejected, State};
use tower::Service;

#[path = "support/pool.rs"]
mod harness;
use harness::*;

#[test]
fn consecutive_failures_eject_at_once_for_the_base_ejection_time() {
    let mut p = pool(10, fast().build().unwrap());
    p.behaviour.set(3, 1);
    p.calls(3, 4);
    assert!(p.detector.ejected().is_empty(), "four failures: not yet");
    assert!(p.call(3).is_err());
    assert_eq!(p.detector.ejected(), ["3"]);
    assert_eq!(
        p.events(),
        [("3".to_owned(), ejected(Rule::ConsecutiveFailures, 30, 1))]
    );
    assert!(!p.ready(3), "an ejected endpoint is not ready");
    assert!(p.ready(4));
    let breaker = p.detector.breaker("3").unwrap();
    assert_eq!(
        breaker.metrics().time_until_half_open,
        Some(Duration::from_secs(30))
    );
    p.advance(Duration::from_secs(29));
    assert!(!p.ready(3));
    p.advance(Duration::from_secs(1));
    assert!(p.detector.ejected().is_empty());
    assert!(p.ready(3), "ejection over: a half-open trial");
}

#[test]
fn a_recovered_endpoint_returns_after_one_trial() {
    let mut p = pool(10, fast().build().unwrap());
    p.behaviour.set(0, 1);
    p.calls(0, 5);
    p.behaviour.set(0, 0);
    p.advance(Duration::from_secs(30));
    assert_eq!(p.state(0), State::HalfOpen);
    assert!(p.call(0).is_ok());
    assert_eq!(p.state(0), State::Closed);
    assert_eq!(
        p.events().last().unwrap(),
        &("0".to_owned(), OutlierEventKind::Returned)
    );
}

#[test]
fn ejection_time_grows_with_the_multiplier_and_stops_at_the_cap() {
    let detection = fast()
        .max_ejection_time(Duration::from_secs(75))
        .build()
        .unwrap();
    let mut p = pool(10, detection);
    p.behaviour.set(1, 1);
    p.calls(1, 5);
    for _ in 0..3 {
        let left = p
            .detector
            .breaker("1")
            .unwrap()
            .metrics()
            .time_until_half_open
            .unwrap();
        p.advance(left);
        assert!(p.call(1).is_err(), "the trial fails");
    }
    let times: Vec<OutlierEventKind> = p.events().into_iter().map(|(_, k)| k).collect();
    assert_eq!(
        times,
        [
            ejected(Rule::ConsecutiveFailures, 30, 1),
            ejected(Rule::FailedTrial, 60, 2),
            ejected(Rule::FailedTrial, 75, 3),
            ejected(Rule::FailedTrial, 75, 4),
        ]
    );
    assert_eq!(p.detector.multiplier("1"), Some(4));
}

#[test]
fn the_multiplier_decays_by_one_per_interval_out_of_ejection() {
    let mut p = pool(10, fast().build().unwrap());
    p.behaviour.set(2, 1);
    p.calls(2, 5); // ejected, multiplier 1
    p.advance(Duration::from_secs(30));
    assert!(p.call(2).is_err()); // multiplier 2, 60 s
    assert_eq!(p.detector.multiplier("2"), Some(2));
    p.advance(Duration::from_secs(60));
    p.behaviour.set(2, 0);
    assert!(p.call(2).is_ok(), "back");
    // Intervals fall due every 10 s from the first endpoint: the one at 100 s decays once.
    p.advance(Duration::from_secs(10));
    assert_eq!(p.detector.multiplier("2"), Some(1));
    p.advance(Duration::from_secs(10));
    assert_eq!(p.detector.multiplier("2"), Some(0));
    p.advance(Duration::from_secs(10));
    assert_eq!(p.detector.multiplier("2"), Some(0), "never below zero");
    // Fully decayed: the next ejection is a first one again.
    p.behaviour.set(2, 1);
    p.calls(2, 5);
    assert_eq!(
        p.events().last().unwrap().1,
        ejected(Rule::ConsecutiveFailures, 30, 1)
    );
}

#[test]
fn max_ejection_percent_with_two_bad_of_ten_ejects_one() {
    let mut p = pool(10, fast().build().unwrap());
    p.behaviour.set(4, 1);
    p.behaviour.set(8, 1);
    p.calls(4, 5);
    p.calls(8, 5);
    assert_eq!(p.detector.ejected(), ["4"]);
    assert_eq!(p.state(8), State::Closed, "spared: closed again");
    assert!(p.ready(8));
    assert_eq!(
        p.events(),
        [
            ("4".to_owned(), ejected(Rule::ConsecutiveFailures, 30, 1)),
            (
                "8".to_owned(),
                OutlierEventKind::Spared {
                    rule: Rule::ConsecutiveFailures,
                    times: 1
                }
            ),
        ]
    );
}

#[test]
fn success_rate_catches_an_endpoint_that_never_fails_twice_in_a_row() {
    let detection = fast().failure_percentage_ejection(None).build().unwrap();
    let mut p = pool(10, detection);
    p.behaviour.set(7, 2);
    for i in 0..10 {
        p.calls(i, 100);
    }
    assert!(
        p.detector.ejected().is_empty(),
        "consecutive failures never reach 5"
    );
    p.advance(Duration::from_secs(10));
    assert_eq!(p.detector.ejected(), ["7"]);
    assert_eq!(
        p.events(),
        [("7".to_owned(), ejected(Rule::SuccessRate, 30, 1))]
    );
}

#[test]
fn success_rate_needs_the_request_volume_and_enough_endpoints() {
    let detection = fast()
        .failure_percentage_ejection(None)
        .consecutive_5xx(None)
        .build()
        .unwrap();
    // 99 calls each: nobody qualifies.
    let mut p = pool(10, detection.clone());
    p.behaviour.set(5, 1);
    for i in 0..10 {
        p.calls(i, 99);
    }
    p.advance(Duration::from_secs(10));
    assert!(p.detector.ejected().is_empty());
    // The counts start over each interval: 100 more calls qualify.
    for i in 0..10 {
        p.calls(i, 100);
    }
    p.advance(Duration::from_secs(10));
    assert_eq!(p.detector.ejected(), ["5"]);

    // Four endpoints qualify: below minimum_hosts (5).
    let mut p = pool(10, detection);
    p.behaviour.set(0, 1);
    for i in 0..4 {
        p.calls(i, 100);
    }
    p.advance(Duration::from_secs(10));
    assert!(p.detector.ejected().is_empty());
}

#[test]
fn failure_percentage_ejects_above_its_threshold() {
    let detection = fast()
        .success_rate_ejection(None)
        .consecutive_5xx(None)
        .failure_percentage_ejection(Some(FailurePercentageEjection::default().threshold(40)))
        .build()
        .unwrap();
    let mut p = pool(6, detection);
    p.behaviour.set(1, 2); // 50 % failures
    for i in 0..6 {
        p.calls(i, 50);
    }
    p.advance(Duration::from_secs(10));
    assert_eq!(p.detector.ejected(), ["1"]);
    assert_eq!(p.events()[0].1, ejected(Rule::FailurePercentage, 30, 1));
}

#[test]
fn the_statistical_rules_respect_max_ejection_percent() {
    let detection = fast()
        .consecutive_5xx(None)
        .success_rate_ejection(Some(SuccessRateEjection::default().request_volume(50)))
        .build()
        .unwrap();
    let mut p = pool(10, detection);
    p.behaviour.set(3, 1);
    p.behaviour.set(6, 1);
    for i in 0..10 {
        p.calls(i, 60);
    }
    p.advance(Duration::from_secs(10));
    assert_eq!(p.detector.ejected().len(), 1, "{:?}", p.detector.ejected());
}

#[test]
fn the_guard_rejects_at_once_when_every_endpoint_is_ejected() {
    let detection = fast().max_ejection_percent(100).build().unwrap();
    let mut p = pool(2, detection);
    p.behaviour.set(0, 1);
    p.behaviour.set(1, 1);
    p.calls(0, 5);
    p.clock.advance(Duration::from_secs(10));
    p.calls(1, 5);
    assert_eq!(p.detector.ejected(), ["0", "1"]);
    // A balancer with no ready endpoint is pending: the guard answers instead.
    let pending = tower::service_fn(|()| std::future::pending::<Result<(), &'static str>>());
    let mut never_ready = PendingBalancer(pending);
    assert!(never_ready.poll_ready(&mut noop_cx()).is_pending());
    let mut guard = p.detector.guard(never_ready);
    assert!(matches!(
        guard.poll_ready(&mut noop_cx()),
        Poll::Ready(Ok(()))
    ));
    let err = futures::executor::block_on(guard.call(())).unwrap_err();
    // Boxed as tower's middleware boxes errors, and found again by downcasting.
    let rejected = err.downcast_ref::<Rejected>().expect("a rejection");
    assert_eq!(rejected.name(), Some("pool"));
    assert_eq!(rejected.state(), State::Open);
    assert_eq!(
        rejected.retry_after(),
        Some(Duration::from_secs(20)),
        "the soonest"
    );
    // Once one endpoint takes trials, the guard waits for the balancer again.
    p.clock.advance(Duration::from_secs(20));
    assert!(guard.poll_ready(&mut noop_cx()).is_pending());
}

/// A balancer that is never ready, as p2c is with no ready endpoint.
struct PendingBalancer<S>(S);

impl<S: Service<()>> Service<()> for PendingBalancer<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        Poll::Pending
    }

    fn call(&mut self, req: ()) -> S::Future {
        self.0.call(req)
    }
}

#[cfg(feature = "http")]
#[test]
fn the_http_guard_answers_503_with_retry_after() {
    let detection = fast().max_ejection_percent(100).build().unwrap();
    let mut p = pool(1, detection);
    p.behaviour.set(0, 1);
    p.calls(0, 5);
    p.clock.advance(Duration::from_millis(500));
    let balancer = PendingHttp;
    let mut guard = p.detector.http_guard(balancer);
    assert!(matches!(
        guard.poll_ready(&mut noop_cx()),
        Poll::Ready(Ok(()))
    ));
    let response = futures::executor::block_on(guard.call(http::Request::new(()))).unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "30"); // 29.5 s, rounded up
}

#[cfg(feature = "http")]
struct PendingHttp;

#[cfg(feature = "http")]
impl Service<http::Request<()>> for PendingHttp {
    type Response = http::Response<String>;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<http::Response<String>, std::convert::Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Pending
    }

    fn call(&mut self, _: http::Request<()>) -> Self::Future {
        unreachable!("never ready")
    }
}

#[test]
fn an_endpoint_that_leaves_drops_its_breaker_and_comes_back_fresh() {
    let mut p = pool(3, fast().build().unwrap());
    p.behaviour.set(1, 1);
    p.calls(1, 5);
    assert_eq!(p.detector.ejected(), ["1"]);
    assert!(p.registry.get("pool/1").is_some());
    p.remove(1);
    assert!(
        p.registry.get("pool/1").is_none(),
        "the breaker leaves the registry"
    );
    assert_eq!(p.detector.endpoints(), ["0", "2"]);
    assert!(p.detector.ejected().is_empty());
    p.insert(1);
    assert_eq!(p.state(1), State::Closed, "fresh");
    assert_eq!(p.detector.multiplier("1"), Some(0));
    assert!(p.ready(1));
}

#[test]
fn a_parked_endpoint_is_woken_when_its_ejection_ends() {
    let mut p = pool(10, fast().build().unwrap());
    p.behaviour.set(0, 1);
    p.calls(0, 5);
    let woken = Arc::new(AtomicU32::new(0));
    let waker = futures::task::waker(Arc::new(Count(Arc::clone(&woken))));
    let svc = p.services[0].as_mut().unwrap();
    assert!(svc
        .poll_ready(&mut Context::from_waker(&waker))
        .is_pending());
    p.clock.advance(Duration::from_secs(29));
    p.detector.tick();
    assert_eq!(woken.load(Ordering::Relaxed), 0);
    p.clock.advance(Duration::from_secs(1));
    // The balancer's own polls of the discover stream run the pool's due work.
    for _ in 0..16 {
        let _ = futures::executor::block_on(futures::future::poll_fn(|cx| {
            Poll::Ready(p.discover.poll_next_unpin(cx).is_pending())
        }));
    }
    assert_eq!(woken.load(Ordering::Relaxed), 1);
}

struct Count(Arc<AtomicU32>);

impl futures::task::ArcWake for Count {
    fn wake_by_ref(me: &Arc<Self>) {
        me.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn the_drive_future_ends_with_the_pool() {
    let p = pool(1, fast().build().unwrap());
    let clock = p.clock.clone();
    let driver = p.detector.drive(move |d| {
        clock.advance(d);
        std::future::ready(())
    });
    let Pool {
        detector, discover, ..
    } = p;
    drop(detector);
    drop(discover);
    futures::executor::block_on(driver);
}

#[test]
fn bad_input_is_a_config_error() {
    let cases = [
        (
            fast().max_ejection_percent(101).build(),
            "max_ejection_percent",
        ),
        (
            fast()
                .success_rate_ejection(Some(SuccessRateEjection::default().stdev_factor(-1900)))
                .build(),
            "success_rate_ejection.stdev_factor",
        ),
        (
            fast()
                .success_rate_ejection(Some(
                    SuccessRateEjection::default().enforcement_percentage(200),
                ))
                .build(),
            "success_rate_ejection.enforcement_percentage",
        ),
        (
            fast()
                .failure_percentage_ejection(Some(
                    FailurePercentageEjection::default().threshold(101),
                ))
                .build(),
            "failure_percentage_ejection.threshold",
        ),
        (fast().interval(Duration::ZERO).build(), "interval"),
        (
            fast().base_ejection_time(Duration::ZERO).build(),
            "base_ejection_time",
        ),
        (
            fast().max_ejection_time(Duration::from_secs(29)).build(),
            "base_ejection_time",
        ),
        (fast().consecutive_5xx(Some(0)).build(), "consecutive_5xx"),
    ];
    for (built, knob) in cases {
        assert_eq!(built.unwrap_err().knob(), knob);
    }
    // Extremes are accepted and do not overflow.
    let wide = fast()
        .base_ejection_time(Duration::MAX)
        .interval(Duration::MAX)
        .build()
        .unwrap();
    assert_eq!(wide.ejection_time(u32::MAX), Duration::MAX);
}

#[cfg(feature = "serde")]
#[test]
fn the_snapshot_labels_endpoint_breakers_with_pool_and_endpoint() {
    use protego_breaker::integrations::serde::RegistrySnapshot;
    let p = pool(2, fast().build().unwrap());
    p.registry.get_or_create("plain");
    let json = serde_json::to_value(RegistrySnapshot::of(&p.registry)).unwrap();
    let breakers = json["breakers"].as_array().unwrap();
    assert_eq!(breakers[0]["name"], "plain");
    assert!(breakers[0].get("endpoint").is_none());
    assert_eq!(breakers[1]["name"], "pool/0");
    assert_eq!(breakers[1]["pool"], "pool");
    assert_eq!(breakers[1]["endpoint"], "0");
    assert_eq!(breakers[2]["endpoint"], "1");
}

#[cfg(feature = "admin")]
#[test]
fn admin_health_lists_ejected_endpoints_without_going_down_until_the_whole_pool_is() {
    use protego_breaker::integrations::admin::AdminService;
    let detection = fast().max_ejection_percent(100).build().unwrap();
    let mut p = pool(2, detection);
    let admin = AdminService::new(Arc::clone(&p.registry));
    p.behaviour.set(0, 1);
    p.calls(0, 5);
    let health = admin.answer(&http::Method::GET, "/health");
    assert_eq!(health.status(), 200);
    assert_eq!(
        health.body(),
        r#"{"status":"up","open":[],"ejected":["pool/0"]}"#
    );
    let one = admin.answer(&http::Method::GET, "/breakers/pool%2F0");
    assert!(
        one.body().contains(r#""pool":"pool","endpoint":"0""#),
        "{}",
        one.body()
    );
    p.behaviour.set(1, 1);
    p.calls(1, 5);
    let health = admin.answer(&http::Method::GET, "/health");
    assert_eq!(health.status(), 503);
    assert_eq!(
        health.body(),
        r#"{"status":"down","open":["pool"],"ejected":["pool/0","pool/1"]}"#
    );
}

#[cfg(feature = "metrics")]
#[test]
fn metrics_label_endpoint_breakers_with_the_pool_and_the_endpoint() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use protego_breaker::integrations::metrics::{ExportMetrics, STATE};
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let mut p = pool(0, fast().build().unwrap());
        p.registry.export_metrics();
        p.services = vec![None, None];
        p.behaviour.0.lock().unwrap().extend([1, 0]);
        p.insert(0);
        p.insert(1);
        p.calls(0, 5);
    });
    let series: Vec<(String, Vec<String>, DebugValue)> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let labels = key
                .key()
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            (key.key().name().to_owned(), labels, value)
        })
        .collect();
    let open: Vec<String> = ["name=pool", "endpoint=0", "state=open"]
        .map(String::from)
        .to_vec();
    assert!(
        series.contains(&(STATE.to_owned(), open, DebugValue::Gauge(1.0.into()))),
        "{series:?}"
    );
    let closed: Vec<String> = ["name=pool", "endpoint=1", "state=closed"]
        .map(String::from)
        .to_vec();
    assert!(series.contains(&(STATE.to_owned(), closed, DebugValue::Gauge(1.0.into()))));
}

#[test]
fn the_clock_is_the_registry_clock() {
    let p = pool(1, fast().build().unwrap());
    let breaker = p.detector.breaker("0").unwrap();
    p.clock.advance(Duration::from_secs(3));
    assert_eq!(breaker.clock().now(), p.clock.now());
    assert_eq!(p.detector.tick(), Duration::from_secs(7));
}

#[test]
fn public_types_are_send_sync_and_static() {
    fn send_sync_static<T: Send + Sync + 'static>() {}
    fn send_static<T: Send + 'static>() {}
    send_sync_static::<OutlierDetector>();
    send_sync_static::<OutlierDetection>();
    send_sync_static::<protego_breaker::integrations::balance::OutlierEvent>();
    send_sync_static::<
        protego_breaker::integrations::balance::OutlierLayer<protego_breaker::SystemClock>,
    >();
    send_static::<Svc>();
    send_static::<Discover>();
    send_static::<
        protego_breaker::integrations::balance::EjectionGuard<Svc, protego_breaker::SystemClock>,
    >();
    send_static::<
        protego_breaker::integrations::balance::EndpointFuture<
            futures::future::Ready<Result<(), ()>>,
            ManualClock,
            protego_breaker::call::ErrorsAsFailures,
        >,
    >();
    send_static::<protego_breaker::integrations::balance::GuardFuture<futures::future::Ready<()>>>(
    );
}
