//! Metrics export (feature `metrics`): exact values in `metrics-util`'s debugging recorder after
//! scripted scenarios on a manual clock.
#![cfg(feature = "metrics")]
// Exact values are the point: counts and percentages of small whole numbers are exact in f64.
#![allow(clippy::float_cmp)]

use std::collections::BTreeMap;
use std::time::Duration;

use futures::executor::block_on;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use protego_breaker::integrations::metrics::{
    ExportMetrics, CALLS, FAILURE_RATE, SHED_CALLS, SHED_LIMIT, SLOW_CALLS, SLOW_CALL_RATE, STATE,
    TRANSITIONS,
};
use protego_breaker::{Breaker, CircuitBreaker, Config, ManualClock, Registry, State, Window};

/// Scrapes a debugging recorder: every series as `name{label=value,...}` (labels in recording
/// order) -> value.
///
/// The debugging recorder's snapshot drains what it reads (counters and gauges go back to 0).
/// The export sets all six state gauges at each transition and publishes call counts as
/// absolute totals, so a scrape after the step that set them reads them whole; transition
/// counters are incremented, so their drained deltas are summed here across scrapes.
struct Scraper {
    snapshotter: Snapshotter,
    transitions: BTreeMap<String, f64>,
}

fn scraper(recorder: &DebuggingRecorder) -> Scraper {
    Scraper {
        snapshotter: recorder.snapshotter(),
        transitions: BTreeMap::new(),
    }
}

fn series(scraper: &mut Scraper) -> BTreeMap<String, f64> {
    let mut all: BTreeMap<String, f64> = scraper
        .snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let labels: Vec<String> = key
                .key()
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            #[allow(clippy::cast_precision_loss)]
            let value = match value {
                DebugValue::Counter(n) => n as f64,
                DebugValue::Gauge(g) => g.into_inner(),
                DebugValue::Histogram(_) => panic!("no histogram is exported"),
            };
            (
                format!("{}{{{}}}", key.key().name(), labels.join(",")),
                value,
            )
        })
        .collect();
    for (key, value) in &mut all {
        if key.starts_with(TRANSITIONS) {
            let sum = scraper.transitions.entry(key.clone()).or_default();
            *sum += *value;
            *value = *sum;
        }
    }
    all
}

fn states_of(all: &BTreeMap<String, f64>, name: &str) -> Vec<(String, f64)> {
    let prefix = format!("{STATE}{{name={name},state=");
    all.iter()
        .filter_map(|(k, v)| {
            k.strip_prefix(&prefix)
                .map(|s| (s.trim_end_matches('}').to_owned(), *v))
        })
        .collect()
}

fn one_hot(current: &str) -> Vec<(String, f64)> {
    let mut all: Vec<(String, f64)> = [
        "closed",
        "disabled",
        "forced_open",
        "half_open",
        "metrics_only",
        "open",
    ]
    .iter()
    .map(|s| ((*s).to_owned(), if *s == current { 1.0 } else { 0.0 }))
    .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

fn succeed<B: CircuitBreaker>(b: &B) {
    let _ = block_on(b.call(async { Ok::<_, ()>(()) }));
}

fn fail<B: CircuitBreaker>(b: &B) {
    let _ = block_on(b.call(async { Err::<(), _>(()) }));
}

fn config(threshold: u32, trials: u32) -> Config {
    Config::builder()
        .failure_threshold(threshold)
        .half_open_retries(trials)
        .reset_timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[test]
fn a_closed_open_half_open_closed_cycle_leaves_every_series_exact() {
    let recorder = DebuggingRecorder::new();
    let mut snapshotter = scraper(&recorder);
    let _guard = metrics::set_default_local_recorder(&recorder);
    let clock = ManualClock::new();
    let breaker = Breaker::with_clock(config(2, 1), clock.clone()).named("payments");
    breaker.export_metrics();
    assert_eq!(
        states_of(&series(&mut snapshotter), "payments"),
        one_hot("closed")
    );

    for _ in 0..3 {
        succeed(&breaker);
    }
    fail(&breaker);
    fail(&breaker);
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(
        states_of(&series(&mut snapshotter), "payments"),
        one_hot("open"),
        "the old state's series goes back to 0"
    );
    succeed(&breaker); // rejected
    succeed(&breaker); // rejected

    clock.advance(Duration::from_secs(10));
    breaker.publish_metrics(); // asks the state: the open period has passed
    assert_eq!(
        states_of(&series(&mut snapshotter), "payments"),
        one_hot("half_open")
    );
    succeed(&breaker); // the trial closes the circuit
    breaker.publish_metrics();

    let all = series(&mut snapshotter);
    assert_eq!(states_of(&all, "payments"), one_hot("closed"));
    let calls = |kind: &str| all[&format!("{CALLS}{{name=payments,kind={kind}}}")];
    assert_eq!(
        (
            calls("successful"),
            calls("failed"),
            calls("ignored"),
            calls("not_permitted")
        ),
        (4.0, 2.0, 0.0, 2.0)
    );
    assert_eq!(
        all.keys().filter(|k| k.starts_with(TRANSITIONS)).count(),
        31,
        "every pair a listener can see is registered at export: 30 changes and metrics-only's own"
    );
    let transitions: Vec<(&String, &f64)> = all
        .iter()
        .filter(|(k, v)| k.starts_with(TRANSITIONS) && **v != 0.0)
        .collect();
    let expected = [
        format!("{TRANSITIONS}{{name=payments,from=closed,to=open}}"),
        format!("{TRANSITIONS}{{name=payments,from=half_open,to=closed}}"),
        format!("{TRANSITIONS}{{name=payments,from=open,to=half_open}}"),
    ];
    assert_eq!(
        transitions,
        expected.iter().map(|k| (k, &1.0)).collect::<Vec<_>>()
    );
    assert!(
        !all.keys().any(|k| k.starts_with(FAILURE_RATE)),
        "no window, no rate"
    );
    assert!(!all.keys().any(|k| k.starts_with(SLOW_CALLS)));
}

#[test]
fn manual_states_are_series_too() {
    let recorder = DebuggingRecorder::new();
    let mut snapshotter = scraper(&recorder);
    let _guard = metrics::set_default_local_recorder(&recorder);
    let breaker = Breaker::new(config(3, 1)).named("db");
    breaker.export_metrics();
    breaker.force_open();
    assert_eq!(
        states_of(&series(&mut snapshotter), "db"),
        one_hot("forced_open")
    );
    breaker.disable();
    assert_eq!(
        states_of(&series(&mut snapshotter), "db"),
        one_hot("disabled")
    );
    breaker.reset();
    let all = series(&mut snapshotter);
    assert_eq!(states_of(&all, "db"), one_hot("closed"));
    for (from, to) in [
        ("closed", "forced_open"),
        ("forced_open", "disabled"),
        ("disabled", "closed"),
    ] {
        assert_eq!(
            all[&format!("{TRANSITIONS}{{name=db,from={from},to={to}}}")],
            1.0
        );
    }
}

#[test]
fn exporting_twice_registers_and_counts_once() {
    let recorder = DebuggingRecorder::new();
    let mut snapshotter = scraper(&recorder);
    let _guard = metrics::set_default_local_recorder(&recorder);
    let breaker = Breaker::new(config(1, 1)).named("once");
    breaker.export_metrics();
    breaker.export_metrics();
    fail(&breaker);
    assert_eq!(
        series(&mut snapshotter)[&format!("{TRANSITIONS}{{name=once,from=closed,to=open}}")],
        1.0,
        "one listener, not two"
    );
}

#[test]
fn an_exported_breaker_keeps_counting_across_a_reconfigure_without_totals() {
    let recorder = DebuggingRecorder::new();
    let mut snapshotter = scraper(&recorder);
    let _guard = metrics::set_default_local_recorder(&recorder);
    let breaker = Breaker::new(config(5, 1)).named("counted");
    breaker.export_metrics();
    succeed(&breaker);
    breaker.reconfigure(config(6, 1)); // totals off in the config
    succeed(&breaker);
    breaker.publish_metrics();
    assert_eq!(
        series(&mut snapshotter)[&format!("{CALLS}{{name=counted,kind=successful}}")],
        2.0
    );
}

#[test]
fn an_exported_breaker_keeps_counting_after_its_trip_rule_is_cleared() {
    let recorder = DebuggingRecorder::new();
    let mut snapshotter = scraper(&recorder);
    let _guard = metrics::set_default_local_recorder(&recorder);
    let breaker = Breaker::new(config(5, 1)).named("ruled");
    breaker.export_metrics();
    breaker.set_trip_rule(|counts, _| counts.consecutive_failures >= 10);
    succeed(&breaker);
    breaker.clear_trip_rule(); // totals off in the config, but the export still counts
    succeed(&breaker);
    fail(&breaker);
    breaker.publish_metrics();
    let all = series(&mut snapshotter);
    assert_eq!(all[&format!("{CALLS}{{name=ruled,kind=successful}}")], 2.0);
    assert_eq!(all[&format!("{CALLS}{{name=ruled,kind=failed}}")], 1.0);
}

#[test]
fn window_rates_are_published_and_minus_one_while_empty() {
    let recorder = DebuggingRecorder::new();
    let mut snapshotter = scraper(&recorder);
    let _guard = metrics::set_default_local_recorder(&recorder);
    let clock = ManualClock::new();
    let cfg = Config::builder()
        .window(Window::Count(10))
        .minimum_calls(10)
        .failure_rate_threshold(50)
        .slow_call_duration(Duration::from_secs(1))
        .build()
        .unwrap();
    let breaker = Breaker::with_clock(cfg, clock.clone()).named("rated");
    breaker.export_metrics();
    breaker.publish_metrics();
    let all = series(&mut snapshotter);
    assert_eq!(all[&format!("{FAILURE_RATE}{{name=rated}}")], -1.0);
    assert_eq!(all[&format!("{SLOW_CALL_RATE}{{name=rated}}")], -1.0);

    fail(&breaker);
    succeed(&breaker);
    succeed(&breaker);
    let slow = breaker.call(async {
        clock.advance(Duration::from_secs(2));
        Ok::<_, ()>(())
    });
    let _ = block_on(slow);
    breaker.publish_metrics();
    let all = series(&mut snapshotter);
    assert_eq!(all[&format!("{FAILURE_RATE}{{name=rated}}")], 25.0);
    assert_eq!(all[&format!("{SLOW_CALL_RATE}{{name=rated}}")], 25.0);
    assert_eq!(all[&format!("{SLOW_CALLS}{{name=rated}}")], 1.0);
}

#[test]
fn a_registry_exports_breakers_it_makes_later_and_nothing_before_it_is_asked() {
    let recorder = DebuggingRecorder::new();
    let mut snapshotter = scraper(&recorder);
    let _guard = metrics::set_default_local_recorder(&recorder);
    let registry = Registry::new().with_default_config(config(1, 1));
    registry.get_or_create("early");
    fail(&registry.handle("early"));
    assert!(
        series(&mut snapshotter).is_empty(),
        "nothing is registered until asked"
    );

    registry.export_metrics();
    let all = series(&mut snapshotter);
    assert_eq!(states_of(&all, "early"), one_hot("open"));

    fail(&registry.handle("later")); // made after the export: exported when made
    registry.publish_metrics();
    let all = series(&mut snapshotter);
    assert_eq!(states_of(&all, "later"), one_hot("open"));
    assert_eq!(
        all[&format!("{TRANSITIONS}{{name=later,from=closed,to=open}}")],
        1.0
    );
    assert_eq!(all[&format!("{CALLS}{{name=later,kind=failed}}")], 1.0);
    assert_eq!(
        all[&format!("{CALLS}{{name=early,kind=failed}}")],
        0.0,
        "calls before the export were not counted"
    );
}

#[test]
fn a_trip_on_another_thread_reaches_the_recorder_in_effect_at_export() {
    let recorder = DebuggingRecorder::new();
    let mut snapshotter = scraper(&recorder);
    let breaker = std::sync::Arc::new(Breaker::new(config(1, 1)).named("remote"));
    // The recorder is this thread's, and only while the export runs.
    metrics::with_local_recorder(&recorder, || breaker.export_metrics());

    let remote = std::sync::Arc::clone(&breaker);
    std::thread::spawn(move || {
        fail(&remote); // trips the circuit: a transition made on this thread
        succeed(&remote); // rejected
        remote.publish_metrics();
    })
    .join()
    .unwrap();
    assert_eq!(breaker.state(), State::Open);

    let all = series(&mut snapshotter);
    assert_eq!(
        all.get(&format!("{TRANSITIONS}{{name=remote,from=closed,to=open}}")),
        Some(&1.0),
        "{all:#?}"
    );
    assert_eq!(states_of(&all, "remote"), one_hot("open"));
    assert_eq!(all[&format!("{CALLS}{{name=remote,kind=failed}}")], 1.0);
    assert_eq!(
        all[&format!("{CALLS}{{name=remote,kind=not_permitted}}")],
        1.0
    );
}

#[test]
fn a_registry_exported_under_a_local_recorder_keeps_it_for_its_breakers_on_other_threads() {
    let recorder = DebuggingRecorder::new();
    let mut snapshotter = scraper(&recorder);
    let registry = std::sync::Arc::new(Registry::new().with_default_config(config(1, 1)));
    registry.get_or_create("made-before");
    metrics::with_local_recorder(&recorder, || registry.export_metrics());

    let remote = std::sync::Arc::clone(&registry);
    std::thread::spawn(move || fail(&remote.handle("made-before")))
        .join()
        .unwrap();

    let all = series(&mut snapshotter);
    assert_eq!(
        all.get(&format!(
            "{TRANSITIONS}{{name=made-before,from=closed,to=open}}"
        )),
        Some(&1.0),
        "{all:#?}"
    );
    assert_eq!(states_of(&all, "made-before"), one_hot("open"));
}

#[test]
fn a_window_added_after_the_export_gets_its_rates_at_the_next_publish() {
    let recorder = DebuggingRecorder::new();
    let mut snapshotter = scraper(&recorder);
    let _guard = metrics::set_default_local_recorder(&recorder);
    let breaker = Breaker::new(config(3, 1)).named("widened");
    breaker.export_metrics();
    assert!(!series(&mut snapshotter)
        .keys()
        .any(|k| k.starts_with(FAILURE_RATE)));
    breaker.reconfigure(
        Config::builder()
            .window(Window::Count(4))
            .minimum_calls(4)
            .build()
            .unwrap(),
    );
    fail(&breaker);
    breaker.publish_metrics();
    let all = series(&mut snapshotter);
    assert_eq!(all[&format!("{FAILURE_RATE}{{name=widened}}")], 100.0);
    assert_eq!(all[&format!("{SLOW_CALL_RATE}{{name=widened}}")], 0.0);
}

#[test]
fn the_shedding_limit_is_a_gauge_zero_while_not_shedding() {
    let recorder = DebuggingRecorder::new();
    let mut snapshotter = scraper(&recorder);
    let _guard = metrics::set_default_local_recorder(&recorder);
    let breaker = Breaker::with_clock(Config::default(), ManualClock::new()).named("shedder");
    breaker.export_metrics();
    breaker.publish_metrics();
    let key = format!("{SHED_LIMIT}{{name=shedder}}");
    assert_eq!(series(&mut snapshotter)[&key], 0.0, "not shedding");

    breaker.try_acquire().unwrap().overload();
    for _ in 0..4 {
        succeed(&breaker);
    }
    let limit = breaker.shed_limit().expect("an overload starts shedding");
    breaker.publish_metrics();
    #[allow(clippy::cast_precision_loss)]
    let expected = limit as f64;
    assert!(expected >= 1.0);
    assert_eq!(series(&mut snapshotter)[&key], expected);

    // Shedding off: no gauge at all.
    let off = Config::builder().shed_overload(false).build().unwrap();
    let plain = Breaker::with_clock(off, ManualClock::new()).named("plain");
    plain.export_metrics();
    plain.publish_metrics();
    assert!(!series(&mut snapshotter).contains_key(&format!("{SHED_LIMIT}{{name=plain}}")));
}

#[test]
fn calls_refused_by_shedding_are_counted_apart_from_open_circuit_rejections() {
    let recorder = DebuggingRecorder::new();
    let mut snapshotter = scraper(&recorder);
    let _guard = metrics::set_default_local_recorder(&recorder);
    let config = Config::builder()
        .failure_threshold(1)
        .reset_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let breaker = Breaker::with_clock(config, ManualClock::new()).named("shedder");
    breaker.export_metrics();
    breaker.publish_metrics();
    let shed = format!("{SHED_CALLS}{{name=shedder}}");
    let rejected = format!("{CALLS}{{name=shedder,kind=not_permitted}}");
    assert_eq!(series(&mut snapshotter)[&shed], 0.0);

    // Shedding at a limit of one call: two refused while one runs.
    breaker.try_acquire().unwrap().overload();
    assert_eq!(breaker.shed_limit(), Some(1));
    let running = breaker.try_acquire().unwrap();
    assert!(breaker.try_acquire().is_err());
    assert!(breaker.try_acquire().is_err());
    running.failure(); // an error at once: an outage, the circuit opens
    assert_eq!(breaker.state(), State::Open);
    // Rejected by the open circuit: not_permitted, not shed.
    assert!(breaker.try_acquire().is_err());
    breaker.publish_metrics();
    let all = series(&mut snapshotter);
    assert_eq!(all[&rejected], 3.0, "every refusal is not_permitted");
    assert_eq!(all[&shed], 2.0, "of which two by shedding");

    // Shedding off: no counter.
    let off = Config::builder().shed_overload(false).build().unwrap();
    let plain = Breaker::with_clock(off, ManualClock::new()).named("plain");
    plain.export_metrics();
    plain.publish_metrics();
    assert!(!series(&mut snapshotter).contains_key(&format!("{SHED_CALLS}{{name=plain}}")));
}
