//! The OpenTelemetry export end to end: a registry exported through the SDK's meter provider,
//! read by the SDK's in-memory exporter after every step of a full cycle of states (closed,
//! open, half-open, closed again, forced open, disabled, metrics-only), with the call counts,
//! the transition counters, the rates, and a balanced pool's endpoint labelled with its pool.
#![cfg(feature = "opentelemetry")]
#![allow(clippy::float_cmp)] // exact values by construction

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use opentelemetry::metrics::MeterProvider;
use opentelemetry_sdk::metrics::data::{
    AggregatedMetrics, MetricData, ResourceMetrics, ScopeMetrics,
};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use protego_breaker::integrations::opentelemetry::*;
use protego_breaker::{Breaker, CircuitBreaker, Config, ManualClock, Registry, State, Window};

/// A series: the instrument's name and its attributes, sorted.
type Series = (String, Vec<(String, String)>);

/// The SDK with the in-memory exporter; `scrape` flushes and reads what was exported last.
struct Sdk {
    provider: SdkMeterProvider,
    exporter: InMemoryMetricExporter,
}

impl Sdk {
    fn new() -> Sdk {
        let exporter = InMemoryMetricExporter::default();
        let provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(exporter.clone()).build())
            .build();
        Sdk { provider, exporter }
    }

    /// Every data point of the last export, by series; units by instrument.
    fn scrape(&self) -> (BTreeMap<Series, f64>, BTreeMap<String, String>) {
        self.exporter.reset();
        self.provider.force_flush().unwrap();
        let exported = self.exporter.get_finished_metrics().unwrap();
        let mut points = BTreeMap::new();
        let mut units = BTreeMap::new();
        for metric in exported
            .iter()
            .flat_map(ResourceMetrics::scope_metrics)
            .flat_map(ScopeMetrics::metrics)
        {
            units.insert(metric.name().to_owned(), metric.unit().to_owned());
            let mut put = |attributes: Vec<(String, String)>, value: f64| {
                let mut attributes = attributes;
                attributes.sort();
                points.insert((metric.name().to_owned(), attributes), value);
            };
            let attrs = |kvs: &mut dyn Iterator<Item = &opentelemetry::KeyValue>| {
                kvs.map(|kv| (kv.key.to_string(), kv.value.to_string()))
                    .collect::<Vec<_>>()
            };
            #[allow(clippy::cast_precision_loss)]
            match metric.data() {
                AggregatedMetrics::I64(MetricData::Gauge(g)) => {
                    for p in g.data_points() {
                        put(attrs(&mut p.attributes()), p.value() as f64);
                    }
                }
                AggregatedMetrics::U64(MetricData::Gauge(g)) => {
                    for p in g.data_points() {
                        put(attrs(&mut p.attributes()), p.value() as f64);
                    }
                }
                AggregatedMetrics::F64(MetricData::Gauge(g)) => {
                    for p in g.data_points() {
                        put(attrs(&mut p.attributes()), p.value());
                    }
                }
                AggregatedMetrics::U64(MetricData::Sum(s)) => {
                    assert!(s.is_monotonic(), "{} is a counter", metric.name());
                    for p in s.data_points() {
                        put(attrs(&mut p.attributes()), p.value() as f64);
                    }
                }
                other => panic!("unexpected data for {}: {other:?}", metric.name()),
            }
        }
        (points, units)
    }
}

fn series(name: &str, attributes: &[(&str, &str)]) -> Series {
    let mut attributes: Vec<(String, String)> = attributes
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    attributes.sort();
    (name.to_owned(), attributes)
}

/// The state gauge's six series of `breaker`: the one at 1.
fn current_state(points: &BTreeMap<Series, f64>, breaker: &str) -> String {
    let states: Vec<&str> = [
        "closed",
        "open",
        "half_open",
        "forced_open",
        "disabled",
        "metrics_only",
    ]
    .into_iter()
    .filter(|s| {
        let value = points[&series(STATE, &[(NAME, breaker), (STATE_ATTRIBUTE, s)])];
        assert!(value == 0.0 || value == 1.0);
        value == 1.0
    })
    .collect();
    assert_eq!(states.len(), 1, "{states:?}");
    states[0].to_owned()
}

fn calls(points: &BTreeMap<Series, f64>, breaker: &str, kind: &str) -> f64 {
    points[&series(CALLS, &[(NAME, breaker), (CALL_KIND, kind)])]
}

fn transitions(points: &BTreeMap<Series, f64>, breaker: &str, from: &str, to: &str) -> f64 {
    points[&series(
        TRANSITIONS,
        &[
            (NAME, breaker),
            (PREVIOUS_STATE, from),
            (STATE_ATTRIBUTE, to),
        ],
    )]
}

#[test]
fn a_full_cycle_of_states_scraped_through_the_sdk() {
    let sdk = Sdk::new();
    let clock = ManualClock::new();
    let config = Config::builder()
        .failure_threshold(1)
        .reset_timeout(Duration::from_secs(10))
        .half_open_retries(1)
        .build()
        .unwrap();
    let registry = Registry::with_clock(clock.clone()).with_default_config(config);
    registry.export_opentelemetry(&sdk.provider.meter("protego"));
    let payments = registry.handle("payments");
    let breaker = registry.get("payments").unwrap();

    let (points, units) = sdk.scrape();
    assert_eq!(current_state(&points, "payments"), "closed");
    assert_eq!(calls(&points, "payments", "successful"), 0.0);
    assert_eq!(
        transitions(&points, "payments", "closed", "open"),
        0.0,
        "every pair from the export"
    );
    assert_eq!(units[STATE], "1");
    assert_eq!(units[CALLS], "{call}");
    assert_eq!(units[TRANSITIONS], "{transition}");

    futures::executor::block_on(async {
        assert!(payments.call(async { Ok::<_, &str>(()) }).await.is_ok());
        assert!(payments.call(async { Err::<(), _>(BOOM) }).await.is_err()); // trips
        assert!(payments
            .call(async { Ok::<_, &str>(()) })
            .await
            .unwrap_err()
            .is_rejected());
    });
    let (points, _) = sdk.scrape();
    assert_eq!(current_state(&points, "payments"), "open");
    assert_eq!(calls(&points, "payments", "successful"), 1.0);
    assert_eq!(calls(&points, "payments", "failed"), 1.0);
    assert_eq!(
        calls(&points, "payments", "not_permitted"),
        1.0,
        "the rejection"
    );
    assert_eq!(transitions(&points, "payments", "closed", "open"), 1.0);

    clock.advance(Duration::from_secs(10));
    let (points, _) = sdk.scrape(); // the collection reads the state: half-open now
    assert_eq!(current_state(&points, "payments"), "half_open");
    assert_eq!(transitions(&points, "payments", "open", "half_open"), 1.0);

    futures::executor::block_on(async {
        assert!(payments.call(async { Ok::<_, &str>(()) }).await.is_ok());
    });
    let (points, _) = sdk.scrape();
    assert_eq!(current_state(&points, "payments"), "closed");
    assert_eq!(transitions(&points, "payments", "half_open", "closed"), 1.0);
    assert_eq!(calls(&points, "payments", "successful"), 2.0);

    for (act, state) in [
        (
            Breaker::force_open as fn(&Breaker<ManualClock>) -> bool,
            "forced_open",
        ),
        (Breaker::disable, "disabled"),
        (Breaker::metrics_only, "metrics_only"),
    ] {
        assert!(act(&breaker));
        let (points, _) = sdk.scrape();
        assert_eq!(current_state(&points, "payments"), state);
    }
    let (points, _) = sdk.scrape();
    assert_eq!(
        transitions(&points, "payments", "closed", "forced_open"),
        1.0
    );
    assert_eq!(
        transitions(&points, "payments", "forced_open", "disabled"),
        1.0
    );
    assert_eq!(
        transitions(&points, "payments", "disabled", "metrics_only"),
        1.0
    );
    assert_eq!(breaker.state(), State::MetricsOnly);
}

#[test]
fn window_rates_are_percentages_and_minus_one_while_empty() {
    let sdk = Sdk::new();
    let config = windowed(Window::Count(10), 50, 10)
        .to_builder()
        .slow_call_duration(Duration::from_secs(1))
        .build()
        .unwrap();
    let breaker = Arc::new(Breaker::with_clock(config, ManualClock::new()).named("search"));
    breaker.export_opentelemetry(&sdk.provider.meter("protego"));
    let (points, units) = sdk.scrape();
    assert_eq!(points[&series(FAILURE_RATE, &[(NAME, "search")])], -1.0);
    assert_eq!(units[FAILURE_RATE], "%");
    futures::executor::block_on(async {
        let _ = breaker.call(async { Ok::<_, &str>(()) }).await;
        let _ = breaker.call(async { Err::<(), _>(BOOM) }).await;
    });
    let (points, _) = sdk.scrape();
    assert_eq!(points[&series(FAILURE_RATE, &[(NAME, "search")])], 50.0);
    assert_eq!(points[&series(SLOW_CALL_RATE, &[(NAME, "search")])], 0.0);
    assert_eq!(points[&series(SLOW_CALLS, &[(NAME, "search")])], 0.0);
}

#[test]
fn the_shedding_limit_is_a_gauge_zero_while_not_shedding() {
    let sdk = Sdk::new();
    let breaker =
        Arc::new(Breaker::with_clock(Config::default(), ManualClock::new()).named("shedder"));
    breaker.export_opentelemetry(&sdk.provider.meter("protego"));
    let key = series(SHED_LIMIT, &[(NAME, "shedder")]);
    let (points, units) = sdk.scrape();
    assert_eq!(points[&key], 0.0, "not shedding");
    assert_eq!(units[SHED_LIMIT], "{call}");
    breaker.try_acquire().unwrap().overload();
    for _ in 0..4 {
        breaker.try_acquire().unwrap().success();
    }
    let limit = breaker.shed_limit().expect("an overload starts shedding");
    #[allow(clippy::cast_precision_loss)]
    let expected = limit as f64;
    assert_eq!(sdk.scrape().0[&key], expected);
    // Shedding off: no series.
    let off = Config::builder().shed_overload(false).build().unwrap();
    let plain = Arc::new(Breaker::with_clock(off, ManualClock::new()).named("plain"));
    plain.export_opentelemetry(&sdk.provider.meter("protego"));
    assert!(!sdk
        .scrape()
        .0
        .contains_key(&series(SHED_LIMIT, &[(NAME, "plain")])));
}

#[test]
fn a_dropped_breaker_is_no_longer_exported() {
    let sdk = Sdk::new();
    let breaker = Arc::new(Breaker::new(Config::default()).named("gone"));
    breaker.export_opentelemetry(&sdk.provider.meter("protego"));
    let (points, _) = sdk.scrape();
    assert!(points.contains_key(&series(
        STATE,
        &[(NAME, "gone"), (STATE_ATTRIBUTE, "closed")]
    )));
    drop(breaker);
    let (points, _) = sdk.scrape();
    assert!(!points.keys().any(|(name, _)| name == STATE), "{points:?}");
}

#[cfg(feature = "balance")]
#[test]
fn a_pools_endpoint_is_labelled_with_its_pool_and_its_ejection_shows() {
    use futures::StreamExt;
    use protego_breaker::integrations::balance::{OutlierDetection, OutlierDetector};
    use tower::{Service, ServiceExt};

    let sdk = Sdk::new();
    let registry = Arc::new(Registry::with_clock(ManualClock::new()));
    registry.export_opentelemetry(&sdk.provider.meter("protego"));
    let detector = OutlierDetector::new(
        Arc::clone(&registry),
        "backend",
        OutlierDetection::default(),
    );
    let down = tower::service_fn(|()| async { Err::<(), _>(BOOM) });
    let change = tower::discover::Change::Insert("10.0.0.7:80", down);
    let mut discover = detector
        .layer()
        .discover(futures::stream::iter([Ok::<_, ()>(change)]));
    let Some(Ok(tower::discover::Change::Insert(_, mut endpoint))) =
        futures::executor::block_on(discover.next())
    else {
        panic!("the endpoint")
    };
    let labels = |state| {
        [
            (NAME, "backend"),
            (ENDPOINT, "10.0.0.7:80"),
            (STATE_ATTRIBUTE, state),
        ]
    };
    let (points, _) = sdk.scrape();
    assert_eq!(points[&series(STATE, &labels("closed"))], 1.0);
    futures::executor::block_on(async {
        for _ in 0..5 {
            let _ = endpoint.ready().await.unwrap().call(()).await;
        }
    });
    assert_eq!(detector.ejected(), ["10.0.0.7:80"]);
    let (points, _) = sdk.scrape();
    assert_eq!(points[&series(STATE, &labels("open"))], 1.0, "the ejection");
    let failed = [
        (NAME, "backend"),
        (ENDPOINT, "10.0.0.7:80"),
        (CALL_KIND, "failed"),
    ];
    assert_eq!(points[&series(CALLS, &failed)], 5.0);
}

#[test]
fn calls_refused_by_shedding_are_counted_apart_from_open_circuit_rejections() {
    let sdk = Sdk::new();
    let config = Config::builder()
        .failure_threshold(1)
        .reset_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let breaker = Arc::new(Breaker::with_clock(config, ManualClock::new()).named("shedder"));
    breaker.export_opentelemetry(&sdk.provider.meter("protego"));
    let key = series(SHED_CALLS, &[(NAME, "shedder")]);
    let (points, units) = sdk.scrape();
    assert_eq!(points[&key], 0.0);
    assert_eq!(units[SHED_CALLS], "{call}");

    // Shedding at a limit of one call: two refused while one runs.
    breaker.try_acquire().unwrap().overload();
    assert_eq!(breaker.shed_limit(), Some(1));
    let running = breaker.try_acquire().unwrap();
    assert!(breaker.try_acquire().is_err());
    assert!(breaker.try_acquire().is_err());
    running.failure(); // an error at once: an outage, the circuit opens
    assert_eq!(breaker.state(), State::Open);
    assert!(breaker.try_acquire().is_err()); // the open circuit's: not shed
    let (points, _) = sdk.scrape();
    assert_eq!(calls(&points, "shedder", "not_permitted"), 3.0);
    assert_eq!(points[&key], 2.0);

    // Shedding off: no series.
    let off = Config::builder().shed_overload(false).build().unwrap();
    let plain = Arc::new(Breaker::with_clock(off, ManualClock::new()).named("plain"));
    plain.export_opentelemetry(&sdk.provider.meter("protego"));
    assert!(!sdk
        .scrape()
        .0
        .contains_key(&series(SHED_CALLS, &[(NAME, "plain")])));
}
