//! Metrics export (feature `opentelemetry`) through the
//! [OpenTelemetry metrics API](https://docs.rs/opentelemetry): the instruments of the
//! [`metrics`](crate::integrations) feature (state, calls by kind, rejections among them,
//! transitions, window rates, slow calls; a pool's endpoints labelled with their pool),
//! named as OpenTelemetry's general semantic conventions name things.
//!
//! Give [`ExportOpenTelemetry::export_opentelemetry`] a [`Meter`] from your `MeterProvider`
//! (the SDK and its exporter are yours: OTLP, Prometheus, stdout), once, on a [`Registry`]
//! (every breaker it holds or will make) or on an `Arc<Breaker>`. The library spawns nothing
//! and needs no `publish` call: the state, call counts and rates are observable instruments,
//! read from the breaker when the SDK collects; the transition counter is added to as
//! transitions happen. No call ever touches an OpenTelemetry instrument (an exported breaker
//! counts its calls on its per-core totals, as with [`Config::totals`](crate::Config::totals)).
//!
//! # The mapping
//! Circuit breakers have no semantic conventions of their own yet. The names follow the
//! general ones: dotted lowercase names in a namespace of the library's
//! (`protego.circuit_breaker`), no `_total` suffix and no unit in the name, `.count` for
//! counts of discrete things with a `{curly}` annotation as their unit, UCUM units
//! otherwise; attributes namespaced the same way, the transition's target state under the
//! same key as the state gauge's. The values of the attributes are those of the `metrics`
//! feature's labels.
//!
//! | `metrics` feature | OpenTelemetry instrument | kind | unit | attributes |
//! | --- | --- | --- | --- | --- |
//! | `protego_circuitbreaker_state{name, state}` | [`STATE`] | gauge (observable, i64): 1 for the current state, 0 for the five others | `1` | [`NAME`], [`STATE_ATTRIBUTE`] |
//! | `protego_circuitbreaker_calls_total{name, kind}` | [`CALLS`] | counter (observable, cumulative) | `{call}` | [`NAME`], [`CALL_KIND`]: `successful`, `failed`, `ignored`, `not_permitted` (rejected) |
//! | `protego_circuitbreaker_transitions_total{name, from, to}` | [`TRANSITIONS`] | counter, every pair at 0 from the export | `{transition}` | [`NAME`], [`PREVIOUS_STATE`], [`STATE_ATTRIBUTE`] |
//! | `protego_circuitbreaker_failure_rate{name}` | [`FAILURE_RATE`] | gauge (observable, f64), with a window; -1 while it is empty | `%` | [`NAME`] |
//! | `protego_circuitbreaker_slow_call_rate{name}` | [`SLOW_CALL_RATE`] | gauge (observable, f64), likewise | `%` | [`NAME`] |
//! | `protego_circuitbreaker_slow_calls_total{name}` | [`SLOW_CALLS`] | counter (observable), with slow-call timing on | `{call}` | [`NAME`] |
//! | `protego_circuitbreaker_shed_limit{name}` | [`SHED_LIMIT`] | gauge (observable, u64), with overload shedding on: the limit on calls in flight while shedding, 0 while not | `{call}` | [`NAME`] |
//! | `protego_circuitbreaker_shed_calls_total{name}` | [`SHED_CALLS`] | counter (observable), with overload shedding on: of the rejected calls, those refused by shedding | `{call}` | [`NAME`] |
//! | label `endpoint` (a balanced pool's endpoint; `name` is then the pool) | | | | [`ENDPOINT`] |
//!
//! An ejection from a balanced pool (feature `balance`) is its endpoint breaker's transition
//! to `open`; a call shed by a breaker's throttle is a `not_permitted` call, as with the
//! `metrics` feature; a call refused by overload shedding is one too, and is also counted by
//! [`SHED_CALLS`].
//!
//! # Traces
//! With the `tracing` feature, every rejection emits a `DEBUG` event "call rejected" in the
//! caller's span, with the breaker's name in its `breaker` field (and `state`,
//! `retry_after_ms`): through `tracing-opentelemetry`, it is a span event of the caller's span,
//! and so shows in the trace which breaker refused the call.
//!
//! ```
//! use opentelemetry::metrics::MeterProvider;
//! use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
//! use protego_breaker::integrations::opentelemetry::{ExportOpenTelemetry, STATE};
//! use protego_breaker::Registry;
//!
//! let exporter = InMemoryMetricExporter::default();
//! let provider = SdkMeterProvider::builder()
//!     .with_reader(PeriodicReader::builder(exporter.clone()).build())
//!     .build();
//! let registry = Registry::new();
//! registry.export_opentelemetry(&provider.meter("protego"));
//! registry.get_or_create("payments");
//! provider.force_flush().unwrap();
//! let exported = exporter.get_finished_metrics().unwrap();
//! let names: Vec<String> = exported
//!     .iter()
//!     .flat_map(|r| r.scope_metrics())
//!     .flat_map(|s| s.metrics())
//!     .map(|m| m.name().to_owned())
//!     .collect();
//! assert!(names.iter().any(|n| n == STATE));
//! ```

use std::sync::{Arc, Mutex, PoisonError, Weak};

use ::opentelemetry::metrics::{
    AsyncInstrument, Counter, Meter, ObservableCounter, ObservableGauge,
};
use ::opentelemetry::KeyValue;

use crate::breaker::Breaker;
use crate::clock::Clock;
use crate::integrations::endpoint_labels::{EndpointLabel, EndpointLabels};
use crate::integrations::labels::{index, snake_name, KINDS, STATES};
use crate::machine::state::State;
use crate::observe::events::shown;
use crate::observe::metrics::Metrics;
use crate::registry::Registry;

/// Gauge `protego.circuit_breaker.state`: 1 for the current state, 0 for the others.
///
/// ```
/// assert_eq!(protego_breaker::integrations::opentelemetry::STATE, "protego.circuit_breaker.state");
/// ```
pub const STATE: &str = "protego.circuit_breaker.state";

/// Counter `protego.circuit_breaker.call.count`: calls by fate ([`CALL_KIND`]).
///
/// ```
/// assert_eq!(protego_breaker::integrations::opentelemetry::CALLS, "protego.circuit_breaker.call.count");
/// ```
pub const CALLS: &str = "protego.circuit_breaker.call.count";

/// Counter `protego.circuit_breaker.transition.count`: transitions made, by state pair.
///
/// ```
/// assert_eq!(protego_breaker::integrations::opentelemetry::TRANSITIONS, "protego.circuit_breaker.transition.count");
/// ```
pub const TRANSITIONS: &str = "protego.circuit_breaker.transition.count";

/// Gauge `protego.circuit_breaker.failure_rate`, in percent; -1 while the window is empty.
///
/// ```
/// assert_eq!(protego_breaker::integrations::opentelemetry::FAILURE_RATE, "protego.circuit_breaker.failure_rate");
/// ```
pub const FAILURE_RATE: &str = "protego.circuit_breaker.failure_rate";

/// Gauge `protego.circuit_breaker.slow_call_rate`, in percent; -1 while the window is empty.
///
/// ```
/// assert_eq!(protego_breaker::integrations::opentelemetry::SLOW_CALL_RATE, "protego.circuit_breaker.slow_call_rate");
/// ```
pub const SLOW_CALL_RATE: &str = "protego.circuit_breaker.slow_call_rate";

/// Counter `protego.circuit_breaker.slow_call.count`: calls that took at least
/// `slow_call_duration`.
///
/// ```
/// assert_eq!(protego_breaker::integrations::opentelemetry::SLOW_CALLS, "protego.circuit_breaker.slow_call.count");
/// ```
pub const SLOW_CALLS: &str = "protego.circuit_breaker.slow_call.count";

/// Gauge `protego.circuit_breaker.shed_limit`: while the breaker sheds overload, its limit on
/// calls in flight ([`Breaker::shed_limit`]); 0 while it does not. Only for breakers with
/// [`Config::shed_overload`](crate::Config::shed_overload) on (the default).
///
/// ```
/// assert_eq!(protego_breaker::integrations::opentelemetry::SHED_LIMIT, "protego.circuit_breaker.shed_limit");
/// ```
pub const SHED_LIMIT: &str = "protego.circuit_breaker.shed_limit";

/// Counter `protego.circuit_breaker.shed_call.count`: of the calls counted as `not_permitted`
/// in [`CALLS`], those refused by overload shedding (a closed circuit at its limit on calls in
/// flight) rather than by an open circuit or the throttle. Only for breakers with
/// [`Config::shed_overload`](crate::Config::shed_overload) on (the default).
///
/// ```
/// assert_eq!(protego_breaker::integrations::opentelemetry::SHED_CALLS, "protego.circuit_breaker.shed_call.count");
/// ```
pub const SHED_CALLS: &str = "protego.circuit_breaker.shed_call.count";

/// Attribute `protego.circuit_breaker.name`: the breaker's name (a pool's, for its endpoints).
///
/// ```
/// assert_eq!(protego_breaker::integrations::opentelemetry::NAME, "protego.circuit_breaker.name");
/// ```
pub const NAME: &str = "protego.circuit_breaker.name";

/// Attribute `protego.circuit_breaker.endpoint`: the endpoint of a balanced pool.
///
/// ```
/// assert_eq!(protego_breaker::integrations::opentelemetry::ENDPOINT, "protego.circuit_breaker.endpoint");
/// ```
pub const ENDPOINT: &str = "protego.circuit_breaker.endpoint";

/// Attribute `protego.circuit_breaker.state`: a state (`closed`, `open`, `half_open`,
/// `forced_open`, `disabled`, `metrics_only`); on a transition, the state it went to.
///
/// ```
/// assert_eq!(protego_breaker::integrations::opentelemetry::STATE_ATTRIBUTE, "protego.circuit_breaker.state");
/// ```
pub const STATE_ATTRIBUTE: &str = "protego.circuit_breaker.state";

/// Attribute `protego.circuit_breaker.previous_state`: the state a transition left.
///
/// ```
/// assert_eq!(protego_breaker::integrations::opentelemetry::PREVIOUS_STATE, "protego.circuit_breaker.previous_state");
/// ```
pub const PREVIOUS_STATE: &str = "protego.circuit_breaker.previous_state";

/// Attribute `protego.circuit_breaker.call.kind`: `successful`, `failed`, `ignored` or
/// `not_permitted`.
///
/// ```
/// assert_eq!(protego_breaker::integrations::opentelemetry::CALL_KIND, "protego.circuit_breaker.call.kind");
/// ```
pub const CALL_KIND: &str = "protego.circuit_breaker.call.kind";

/// Exports a breaker's (or every breaker of a registry's) instruments through a [`Meter`]:
/// see the [module docs](self).
///
/// ```
/// use std::sync::Arc;
/// use opentelemetry::metrics::MeterProvider;
/// use protego_breaker::integrations::opentelemetry::ExportOpenTelemetry;
/// use protego_breaker::{Breaker, Config};
///
/// let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder().build();
/// let breaker = Arc::new(Breaker::new(Config::default()).named("search"));
/// breaker.export_opentelemetry(&provider.meter("protego"));
/// breaker.export_opentelemetry(&provider.meter("protego")); // a second time changes nothing
/// ```
pub trait ExportOpenTelemetry {
    /// Registers the instruments with `meter` and turns call counting on. Once per breaker:
    /// calling it again changes nothing. On a registry, it also exports every breaker the
    /// registry makes from now on, when it makes it. Each export registers its own callbacks
    /// with the meter provider, which keeps them as long as it lives (a dropped breaker's just
    /// observe nothing): export a registry, or long-lived breakers, not one short-lived breaker
    /// after another.
    ///
    /// ```
    /// use opentelemetry::metrics::MeterProvider;
    /// use protego_breaker::integrations::opentelemetry::ExportOpenTelemetry;
    /// use protego_breaker::Registry;
    ///
    /// let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder().build();
    /// let registry = Registry::new();
    /// registry.export_opentelemetry(&provider.meter("protego"));
    /// assert!(registry.get_or_create("later").metrics().totals.is_some());
    /// ```
    fn export_opentelemetry(&self, meter: &Meter);
}

impl<C: Clock + Send + Sync + 'static> ExportOpenTelemetry for Arc<Breaker<C>> {
    fn export_opentelemetry(&self, meter: &Meter) {
        if self.extension::<Exported>().is_some() {
            return;
        }
        let export = Export::new(meter);
        export.add(self, None);
        // Kept with the breaker: its observable instruments live as long as it does.
        let _ = self.insert_extension(Keep { _alive: export });
    }
}

impl<C: Clock + Clone + Send + Sync + 'static> ExportOpenTelemetry for Registry<C> {
    fn export_opentelemetry(&self, meter: &Meter) {
        if self.extension::<Keep>().is_some() {
            return;
        }
        let export = Export::new(meter);
        let Ok(kept) = self.insert_extension(Keep {
            _alive: Arc::clone(&export),
        }) else {
            return;
        };
        drop(kept);
        // A balanced pool labels an endpoint's breaker before it makes it: seen here.
        let endpoints = EndpointLabels::of(self);
        self.on_create(move |breaker| {
            export.add(breaker, endpoints.get(breaker.name().unwrap_or("")));
        });
    }
}

/// The export a registry or a breaker keeps alive.
struct Keep {
    _alive: Arc<Export>,
}

/// What the observable instruments' callbacks read: a breaker, weakly, and its attributes.
trait Observe: Send + Sync {
    fn metrics(&self) -> Metrics;
    /// (a window, slow-call timing, overload shedding) in its config now.
    fn measures(&self) -> (bool, bool, bool);
}

impl<C: Clock + Send + Sync> Observe for Breaker<C> {
    fn metrics(&self) -> Metrics {
        Breaker::metrics(self)
    }

    fn measures(&self) -> (bool, bool, bool) {
        let config = self.config();
        (
            config.window().is_some(),
            config.slow_call_duration().is_some(),
            config.shed_overload(),
        )
    }
}

/// One breaker's attribute sets, made once at export.
struct Series {
    base: Vec<KeyValue>,
    states: [Vec<KeyValue>; 6],
    calls: [Vec<KeyValue>; 4],
}

impl Series {
    fn new(name: &str, endpoint: Option<EndpointLabel>) -> Self {
        let base = match endpoint {
            Some(label) => vec![
                KeyValue::new(NAME, label.pool.to_string()),
                KeyValue::new(ENDPOINT, label.endpoint.to_string()),
            ],
            None => vec![KeyValue::new(NAME, name.to_owned())],
        };
        let with = |more: &[(&'static str, &'static str)]| -> Vec<KeyValue> {
            let mut all = base.clone();
            all.extend(more.iter().map(|&(k, v)| KeyValue::new(k, v)));
            all
        };
        Series {
            states: STATES.map(|s| with(&[(STATE_ATTRIBUTE, snake_name(s))])),
            calls: KINDS.map(|kind| with(&[(CALL_KIND, kind)])),
            base,
        }
    }

    fn transition(&self, from: State, to: State) -> Vec<KeyValue> {
        let mut all = self.base.clone();
        all.push(KeyValue::new(PREVIOUS_STATE, snake_name(from)));
        all.push(KeyValue::new(STATE_ATTRIBUTE, snake_name(to)));
        all
    }
}

struct Observed {
    breaker: Weak<dyn Observe>,
    series: Series,
}

type Breakers = Arc<Mutex<Vec<Observed>>>;

/// The instruments of one export and the breakers they read.
struct Export {
    breakers: Breakers,
    transitions: Counter<u64>,
    _state: ObservableGauge<i64>,
    _calls: ObservableCounter<u64>,
    _slow_calls: ObservableCounter<u64>,
    _failure_rate: ObservableGauge<f64>,
    _slow_call_rate: ObservableGauge<f64>,
    _shed_limit: ObservableGauge<u64>,
    _shed_calls: ObservableCounter<u64>,
}

/// The instruments of overload shedding: the limit while shedding, and the calls it refused.
fn shed_instruments(
    meter: &Meter,
    breakers: &Breakers,
) -> (ObservableGauge<u64>, ObservableCounter<u64>) {
    let seen = Arc::clone(breakers);
    let shed_limit = meter
            .u64_observable_gauge(SHED_LIMIT)
            .with_unit("{call}")
            .with_description(
                "Limit on calls in flight while the circuit breaker sheds overload; 0 while it does not",
            )
            .with_callback(move |observer: &dyn AsyncInstrument<u64>| {
                each(&seen, |metrics, (_, _, sheds), series| {
                    if sheds {
                        observer.observe(metrics.shed_limit.unwrap_or(0), &series.base);
                    }
                });
            })
            .build();
    let seen = Arc::clone(breakers);
    let shed_calls = meter
        .u64_observable_counter(SHED_CALLS)
        .with_unit("{call}")
        .with_description("Calls refused by overload shedding (of the not_permitted calls)")
        .with_callback(move |observer: &dyn AsyncInstrument<u64>| {
            each(&seen, |metrics, (_, _, sheds), series| {
                if let (true, Some(t)) = (sheds, &metrics.totals) {
                    observer.observe(t.shed, &series.base);
                }
            });
        })
        .build();
    (shed_limit, shed_calls)
}

/// Calls `f` with each live breaker's metrics, its measures and its series; forgets the
/// dropped ones.
fn each(breakers: &Breakers, mut f: impl FnMut(&Metrics, (bool, bool, bool), &Series)) {
    let mut breakers = breakers.lock().unwrap_or_else(PoisonError::into_inner);
    breakers.retain(|observed| match observed.breaker.upgrade() {
        Some(breaker) => {
            f(&breaker.metrics(), breaker.measures(), &observed.series);
            true
        }
        None => false,
    });
}

impl Export {
    fn new(meter: &Meter) -> Arc<Self> {
        let breakers: Breakers = Arc::default();
        let seen = Arc::clone(&breakers);
        let state = meter
            .i64_observable_gauge(STATE)
            .with_unit("1")
            .with_description("Circuit breaker state: 1 for the current state, else 0")
            .with_callback(move |observer: &dyn AsyncInstrument<i64>| {
                each(&seen, |metrics, _, series| {
                    for (state, attributes) in STATES.iter().zip(&series.states) {
                        observer.observe(i64::from(*state == metrics.state), attributes);
                    }
                });
            })
            .build();
        let seen = Arc::clone(&breakers);
        let calls = meter
            .u64_observable_counter(CALLS)
            .with_unit("{call}")
            .with_description("Calls through the circuit breaker, by fate")
            .with_callback(move |observer: &dyn AsyncInstrument<u64>| {
                each(&seen, |metrics, _, series| {
                    if let Some(t) = &metrics.totals {
                        let counts = [t.succeeded, t.failed, t.ignored, t.rejected];
                        for (count, attributes) in counts.iter().zip(&series.calls) {
                            observer.observe(*count, attributes);
                        }
                    }
                });
            })
            .build();
        let seen = Arc::clone(&breakers);
        let slow_calls = meter
            .u64_observable_counter(SLOW_CALLS)
            .with_unit("{call}")
            .with_description("Calls that took at least slow_call_duration")
            .with_callback(move |observer: &dyn AsyncInstrument<u64>| {
                each(&seen, |metrics, (_, timed, _), series| {
                    if let (true, Some(t)) = (timed, &metrics.totals) {
                        observer.observe(t.slow, &series.base);
                    }
                });
            })
            .build();
        let rate =
            |name: &'static str, description: &'static str, pick: fn(&Metrics) -> Option<f64>| {
                let seen = Arc::clone(&breakers);
                meter
                    .f64_observable_gauge(name)
                    .with_unit("%")
                    .with_description(description)
                    .with_callback(move |observer: &dyn AsyncInstrument<f64>| {
                        each(&seen, |metrics, (window, _, _), series| {
                            if window {
                                observer.observe(pick(metrics).unwrap_or(-1.0), &series.base);
                            }
                        });
                    })
                    .build()
            };
        let failure_rate = rate(
            FAILURE_RATE,
            "Failure rate in the circuit breaker's window; -1 while it is empty",
            |m| m.failure_rate,
        );
        let slow_call_rate = rate(
            SLOW_CALL_RATE,
            "Slow-call rate in the circuit breaker's window; -1 while it is empty",
            |m| m.slow_call_rate,
        );
        let (shed_limit, shed_calls) = shed_instruments(meter, &breakers);
        let transitions = meter
            .u64_counter(TRANSITIONS)
            .with_unit("{transition}")
            .with_description("Circuit breaker state transitions")
            .build();
        Arc::new(Export {
            breakers,
            transitions,
            _state: state,
            _calls: calls,
            _slow_calls: slow_calls,
            _failure_rate: failure_rate,
            _slow_call_rate: slow_call_rate,
            _shed_limit: shed_limit,
            _shed_calls: shed_calls,
        })
    }

    /// Exports `breaker` through this export, once per breaker.
    fn add<C: Clock + Send + Sync + 'static>(
        &self,
        breaker: &Arc<Breaker<C>>,
        endpoint: Option<EndpointLabel>,
    ) {
        if breaker.insert_extension(Exported).is_err() {
            return;
        }
        breaker.keep_totals();
        let series = Series::new(breaker.name().unwrap_or(""), endpoint);
        // Every pair a listener can see, at 0 until it happens; its attributes made once.
        let mut pairs: Vec<Vec<Option<Vec<KeyValue>>>> = vec![vec![None; 6]; 6];
        for from in STATES {
            for to in STATES {
                if shown(from, to) {
                    let attributes = series.transition(from, to);
                    self.transitions.add(0, &attributes);
                    pairs[index(from)][index(to)] = Some(attributes);
                }
            }
        }
        let counter = self.transitions.clone();
        breaker.on_transition(move |t| {
            if let Some(attributes) = &pairs[index(t.from())][index(t.to())] {
                counter.add(1, attributes);
            }
        });
        let weak: Weak<dyn Observe> = Arc::downgrade(breaker) as Weak<dyn Observe>;
        self.breakers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Observed {
                breaker: weak,
                series,
            });
    }
}

/// Marks a breaker exported through OpenTelemetry.
struct Exported;
