//! Metrics export (feature `metrics`) through the [`metrics`](https://docs.rs/metrics) facade,
//! with resilience4j's instruments in Prometheus style.
//!
//! Install any `metrics` recorder (a Prometheus exporter, an OpenTelemetry bridge), then call
//! [`ExportMetrics::export_metrics`] on a [`Registry`] (every breaker it holds or will make) or
//! on a [`Breaker`], once. Call [`ExportMetrics::publish_metrics`] before each scrape (in the
//! `/metrics` handler, before rendering) or on a timer of your own: it brings call counts and
//! rates up to date. The library spawns nothing, so nothing publishes behind your back.
//!
//! | instrument | type | labels | value |
//! | --- | --- | --- | --- |
//! | [`STATE`] | gauge | `name`, `state` | one series per state ([`state_label`]): 1 for the current state, 0 for the five others, all six set on every transition |
//! | [`CALLS`] | counter | `name`, `kind` | calls by fate: `successful`, `failed`, `ignored`, `not_permitted` ([`KINDS`]) |
//! | [`TRANSITIONS`] | counter | `name`, `from`, `to` | transitions made, by state pair: a series for each of the 31 pairs a listener can see (every change of state, and `metrics_only` to `metrics_only`), 0 until it happens |
//! | [`FAILURE_RATE`] | gauge | `name` | with a window: percentage of failures in it, -1 while it is empty |
//! | [`SLOW_CALL_RATE`] | gauge | `name` | with a window: percentage of slow calls in it, -1 while it is empty |
//! | [`SLOW_CALLS`] | counter | `name` | with slow-call timing on: calls that took at least `slow_call_duration` |
//! | [`SHED_LIMIT`] | gauge | `name` | with overload shedding on: the limit on calls in flight while the breaker sheds ([`Breaker::shed_limit`]), 0 while it does not |
//! | [`SHED_CALLS`] | counter | `name` | with overload shedding on: of the `not_permitted` calls, those refused by shedding (a closed circuit at its limit) rather than by an open circuit or the throttle ([`Totals::shed`](crate::observe::Totals::shed)) |
//!
//! The breaker of an endpoint of a balanced pool (feature `balance`) is labelled `name` = the
//! pool and `endpoint` = the endpoint on every instrument, so `sum by (name)` adds up a pool.
//!
//! The state gauges and transition counters are pushed as transitions happen, in the order they
//! were made (through a transition listener, see [`Breaker::on_transition`]); an open circuit
//! whose period has passed turns half-open when it is next asked, and `publish_metrics` asks.
//! Call counts and rates are published by `publish_metrics`, from the breaker's own per-core
//! totals: an exported breaker counts its calls (as with [`Config::totals`](crate::Config::totals)
//! on), and no call ever touches a `metrics` handle. Call durations are not exported: the
//! closed path never reads the clock; with slow-call timing on, [`SLOW_CALLS`] counts the slow
//! ones.
//!
//! # Which recorder
//! A breaker's handles are registered once, when it is exported, with the recorder in effect
//! where and when `export_metrics` is called: the thread's local recorder
//! ([`metrics::with_local_recorder`]) if it has one, else the
//! global one. They are kept: a transition, or a `publish_metrics`, on any other thread later
//! updates those handles and registers nothing, so a thread-local recorder sees trips made on
//! other threads. Two handles may come later, with the recorder in effect then:
//! - a breaker a registry makes after the registry was exported is exported when it is made,
//!   on the thread that makes it (the first call to a new name); with a thread-local recorder,
//!   make the names up front, or install the recorder globally;
//! - the rate gauges and the slow-call counter of a breaker that had no window (or no
//!   slow-call duration) when it was exported and gains one later
//!   ([`Breaker::reconfigure`]) are registered by the next `publish_metrics`.
//!
//! ```
//! use metrics_util::debugging::{DebugValue, DebuggingRecorder};
//! use protego_breaker::integrations::metrics::{ExportMetrics, CALLS, STATE};
//! use protego_breaker::{CircuitBreaker, Registry};
//!
//! let recorder = DebuggingRecorder::new();
//! let snapshotter = recorder.snapshotter();
//! metrics::with_local_recorder(&recorder, || {
//!     let registry = Registry::new();
//!     registry.export_metrics();
//!     let payments = registry.handle("payments");
//!     # futures::executor::block_on(async {
//!     let _ = payments.call(async { Ok::<_, ()>(()) }).await;
//!     # });
//!     registry.publish_metrics();
//! });
//! let values: Vec<(String, Vec<String>, DebugValue)> = snapshotter
//!     .snapshot()
//!     .into_vec()
//!     .into_iter()
//!     .map(|(key, _, _, value)| {
//!         let labels = key.key().labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
//!         (key.key().name().to_owned(), labels, value)
//!     })
//!     .collect();
//! let closed = vec!["name=payments".to_owned(), "state=closed".to_owned()];
//! assert!(values.contains(&(STATE.to_owned(), closed, DebugValue::Gauge(1.0.into()))));
//! let successful = vec!["name=payments".to_owned(), "kind=successful".to_owned()];
//! assert!(values.contains(&(CALLS.to_owned(), successful, DebugValue::Counter(1))));
//! ```

use std::sync::{Arc, OnceLock};

use ::metrics::{Counter, Gauge, Label, SharedString, Unit};

use crate::breaker::Breaker;
use crate::clock::Clock;
use crate::config::Config;
use crate::integrations::endpoint_labels::{EndpointLabel, EndpointLabels};
use crate::integrations::labels::{index, STATES};
use crate::machine::state::State;
use crate::observe::events::shown;
use crate::observe::metrics::Metrics;
use crate::registry::Registry;

/// Gauge `protego_circuitbreaker_state{name, state}`: 1 for the current state, 0 for the others.
///
/// ```
/// assert_eq!(protego_breaker::integrations::metrics::STATE, "protego_circuitbreaker_state");
/// ```
pub const STATE: &str = "protego_circuitbreaker_state";

/// Counter `protego_circuitbreaker_calls_total{name, kind}`: calls by fate (see [`KINDS`]).
///
/// ```
/// assert_eq!(protego_breaker::integrations::metrics::CALLS, "protego_circuitbreaker_calls_total");
/// ```
pub const CALLS: &str = "protego_circuitbreaker_calls_total";

/// Counter `protego_circuitbreaker_transitions_total{name, from, to}`.
///
/// ```
/// assert_eq!(protego_breaker::integrations::metrics::TRANSITIONS, "protego_circuitbreaker_transitions_total");
/// ```
pub const TRANSITIONS: &str = "protego_circuitbreaker_transitions_total";

/// Gauge `protego_circuitbreaker_failure_rate{name}`, in percent; only for breakers with a
/// window; -1 while the window holds no outcome (resilience4j's convention).
///
/// ```
/// assert_eq!(protego_breaker::integrations::metrics::FAILURE_RATE, "protego_circuitbreaker_failure_rate");
/// ```
pub const FAILURE_RATE: &str = "protego_circuitbreaker_failure_rate";

/// Gauge `protego_circuitbreaker_slow_call_rate{name}`, in percent; like [`FAILURE_RATE`].
///
/// ```
/// assert_eq!(protego_breaker::integrations::metrics::SLOW_CALL_RATE, "protego_circuitbreaker_slow_call_rate");
/// ```
pub const SLOW_CALL_RATE: &str = "protego_circuitbreaker_slow_call_rate";

/// Counter `protego_circuitbreaker_slow_calls_total{name}`: calls that took at least
/// `slow_call_duration`; only for breakers that time calls (a window and a slow-call duration).
///
/// ```
/// assert_eq!(protego_breaker::integrations::metrics::SLOW_CALLS, "protego_circuitbreaker_slow_calls_total");
/// ```
pub const SLOW_CALLS: &str = "protego_circuitbreaker_slow_calls_total";

/// Gauge `protego_circuitbreaker_shed_limit{name}`: while the breaker sheds overload, its limit
/// on calls in flight ([`Breaker::shed_limit`]); 0 while it does not. Only for breakers with
/// [`Config::shed_overload`] on (the default); set by `publish_metrics`.
///
/// ```
/// assert_eq!(protego_breaker::integrations::metrics::SHED_LIMIT, "protego_circuitbreaker_shed_limit");
/// ```
pub const SHED_LIMIT: &str = "protego_circuitbreaker_shed_limit";

/// Counter `protego_circuitbreaker_shed_calls_total{name}`: of the calls counted as
/// `not_permitted` in [`CALLS`], those refused by overload shedding (a closed circuit at its
/// limit on calls in flight), so that a dashboard tells shedding from an open circuit. Only
/// for breakers with [`Config::shed_overload`] on (the default); set by `publish_metrics`.
///
/// ```
/// use protego_breaker::integrations::metrics::ExportMetrics;
/// use protego_breaker::{Breaker, CircuitBreaker, Config, ManualClock};
///
/// assert_eq!(protego_breaker::integrations::metrics::SHED_CALLS, "protego_circuitbreaker_shed_calls_total");
/// let breaker = Breaker::with_clock(Config::default(), ManualClock::new()).named("search");
/// breaker.export_metrics();
/// let first = breaker.try_acquire().unwrap();
/// first.overload(); // shedding starts: one call in flight at a time
/// let running = breaker.try_acquire().unwrap();
/// assert!(breaker.try_acquire().is_err()); // refused by shedding
/// drop(running);
/// breaker.publish_metrics();
/// assert_eq!(breaker.metrics().totals.unwrap().shed, 1);
/// ```
pub const SHED_CALLS: &str = "protego_circuitbreaker_shed_calls_total";

/// The `kind` label values of [`CALLS`], in this order: admitted calls that succeeded, failed
/// (panics included) or were ignored (cancellations included), and calls rejected without
/// running.
///
/// ```
/// assert_eq!(protego_breaker::integrations::metrics::KINDS, ["successful", "failed", "ignored", "not_permitted"]);
/// ```
pub const KINDS: [&str; 4] = super::labels::KINDS;

/// The `state`, `from` and `to` label value of a state: resilience4j's spelling.
///
/// ```
/// use protego_breaker::{integrations::metrics::state_label, State};
///
/// assert_eq!(state_label(State::HalfOpen), "half_open");
/// assert_eq!(state_label(State::ForcedOpen), "forced_open");
/// ```
pub fn state_label(state: State) -> &'static str {
    super::labels::snake_name(state)
}

/// Exports a breaker's (or every breaker of a registry's) instruments: see the
/// [module docs](self).
///
/// ```
/// use protego_breaker::integrations::metrics::ExportMetrics;
/// use protego_breaker::{Breaker, Config};
///
/// let breaker = Breaker::new(Config::default()).named("search");
/// breaker.export_metrics(); // registers its instruments with the installed recorder
/// breaker.export_metrics(); // a second time changes nothing
/// breaker.publish_metrics(); // e.g. in the /metrics handler, before rendering
/// ```
pub trait ExportMetrics {
    /// Registers the instruments with the recorder in effect, sets the state gauges and keeps
    /// them up to date from now on, and turns call counting on. Once per breaker: calling it
    /// again changes nothing. On a registry, it also exports every breaker the registry makes
    /// from now on, when it makes it.
    ///
    /// ```
    /// use protego_breaker::integrations::metrics::ExportMetrics;
    /// use protego_breaker::Registry;
    ///
    /// let registry = Registry::new();
    /// registry.export_metrics();
    /// // Counting is on for every breaker of the registry, config or not.
    /// assert!(registry.get_or_create("later").metrics().totals.is_some());
    /// ```
    fn export_metrics(&self);

    /// Brings call counts ([`CALLS`], [`SLOW_CALLS`]) and rates ([`FAILURE_RATE`],
    /// [`SLOW_CALL_RATE`]) up to date, and lets an open circuit whose period has passed turn
    /// half-open (as [`Breaker::state`] does). Exports first what is not exported yet.
    ///
    /// ```
    /// use protego_breaker::integrations::metrics::ExportMetrics;
    /// use protego_breaker::Registry;
    ///
    /// let registry = Registry::new();
    /// registry.get_or_create("payments");
    /// registry.publish_metrics(); // exports "payments" too
    /// ```
    fn publish_metrics(&self);
}

impl<C: Clock> ExportMetrics for Breaker<C> {
    fn export_metrics(&self) {
        export_breaker(self);
    }

    fn publish_metrics(&self) {
        publish_breaker(self);
    }
}

impl<C: Clock + Clone> ExportMetrics for Registry<C> {
    fn export_metrics(&self) {
        exporting(self);
    }

    fn publish_metrics(&self) {
        exporting(self);
        for (_, breaker) in self.breakers() {
            publish_breaker(&breaker);
        }
    }
}

/// Marks a registry whose breakers export themselves.
struct Exporting;

/// Makes every breaker of `registry` export itself, those it holds now and those it creates
/// later (before any call reaches them). Once per registry.
fn exporting<C: Clock + Clone>(registry: &Registry<C>) {
    if registry.insert_extension(Exporting).is_ok() {
        // A balanced pool labels an endpoint's breaker before it makes it: seen here.
        let endpoints = EndpointLabels::of(registry);
        registry.on_create(move |breaker| {
            export_labelled(breaker, endpoints.get(breaker.name().unwrap_or("")));
        });
    }
}

/// One breaker's handles, registered when it is exported (see "Which recorder" in the
/// [module docs](self)) and only updated after that.
pub(crate) struct Instruments {
    /// `name`, and `endpoint` for an endpoint of a balanced pool.
    labels: Vec<Label>,
    states: [Gauge; 6],
    calls: [Counter; 4],
    /// By `[from][to]`: a counter for every pair listeners see, `None` for the others.
    transitions: [[Option<Counter>; 6]; 6],
    /// Registered at export if the config then times slow calls, else by the first publish
    /// that finds it does.
    slow_calls: OnceLock<Counter>,
    /// Likewise, with a window.
    failure_rate: OnceLock<Gauge>,
    slow_call_rate: OnceLock<Gauge>,
    /// Likewise, with overload shedding on.
    shed_limit: OnceLock<Gauge>,
    shed_calls: OnceLock<Counter>,
}

impl Instruments {
    /// Registers every handle `config` calls for with the recorder in effect now; an endpoint
    /// of a balanced pool is labelled `name` = its pool and `endpoint` = itself.
    fn new(name: Arc<str>, endpoint: Option<EndpointLabel>, config: &Config) -> Self {
        describe();
        let labels = match endpoint {
            Some(label) => vec![
                Label::new("name", SharedString::from(label.pool)),
                Label::new("endpoint", SharedString::from(label.endpoint)),
            ],
            None => vec![Label::new("name", SharedString::from(name))],
        };
        let with = |more: &[(&'static str, &'static str)]| -> Vec<Label> {
            let mut all = labels.clone();
            all.extend(more.iter().map(|&(k, v)| Label::new(k, v)));
            all
        };
        let instruments = Instruments {
            states: STATES.map(|s| ::metrics::gauge!(STATE, with(&[("state", state_label(s))]))),
            calls: KINDS.map(|kind| ::metrics::counter!(CALLS, with(&[("kind", kind)]))),
            transitions: STATES.map(|from| {
                STATES.map(|to| {
                    shown(from, to).then(|| {
                        ::metrics::counter!(
                            TRANSITIONS,
                            with(&[("from", state_label(from)), ("to", state_label(to))])
                        )
                    })
                })
            }),
            slow_calls: OnceLock::new(),
            failure_rate: OnceLock::new(),
            slow_call_rate: OnceLock::new(),
            shed_limit: OnceLock::new(),
            shed_calls: OnceLock::new(),
            labels,
        };
        instruments.register_optional(config);
        instruments
    }

    /// Registers the slow-call counter and the rate gauges `config` calls for, if not yet
    /// registered.
    fn register_optional(&self, config: &Config) {
        if config.slow_call_duration().is_some() {
            self.slow_calls
                .get_or_init(|| ::metrics::counter!(SLOW_CALLS, self.labels.clone()));
        }
        if config.window().is_some() {
            self.failure_rate
                .get_or_init(|| ::metrics::gauge!(FAILURE_RATE, self.labels.clone()));
            self.slow_call_rate
                .get_or_init(|| ::metrics::gauge!(SLOW_CALL_RATE, self.labels.clone()));
        }
        if config.shed_overload() {
            self.shed_limit
                .get_or_init(|| ::metrics::gauge!(SHED_LIMIT, self.labels.clone()));
            self.shed_calls
                .get_or_init(|| ::metrics::counter!(SHED_CALLS, self.labels.clone()));
        }
    }

    /// The shedding limit from `metrics`, 0 while the breaker does not shed.
    fn set_shed_limit(&self, metrics: &Metrics) {
        if let Some(gauge) = self.shed_limit.get() {
            // A limit on calls in flight: far below 2^52, exact as an f64.
            #[allow(clippy::cast_precision_loss)]
            gauge.set(metrics.shed_limit.unwrap_or(0) as f64);
        }
    }

    /// The rate gauges from `metrics`, -1 while the window is empty; nothing without a window.
    fn set_rates(&self, metrics: &Metrics, config: &Config) {
        if config.window().is_none() {
            return;
        }
        if let Some(gauge) = self.failure_rate.get() {
            gauge.set(metrics.failure_rate.unwrap_or(-1.0));
        }
        if let Some(gauge) = self.slow_call_rate.get() {
            gauge.set(metrics.slow_call_rate.unwrap_or(-1.0));
        }
    }

    /// All six series: 1 for `current`, 0 for the five others.
    fn set_state(&self, current: State) {
        for (state, gauge) in STATES.iter().zip(&self.states) {
            gauge.set(if *state == current { 1.0 } else { 0.0 });
        }
    }

    fn transition(&self, from: State, to: State) {
        self.set_state(to);
        // Every pair a listener is given was registered at export.
        if let Some(counter) = &self.transitions[index(from)][index(to)] {
            counter.increment(1);
        }
    }
}

/// HELP lines, for recorders that show them. Idempotent.
fn describe() {
    ::metrics::describe_gauge!(
        STATE,
        "Circuit breaker state: 1 for the current state, else 0"
    );
    ::metrics::describe_counter!(CALLS, "Calls through the circuit breaker, by fate");
    ::metrics::describe_counter!(TRANSITIONS, "Circuit breaker state transitions");
    ::metrics::describe_gauge!(
        FAILURE_RATE,
        Unit::Percent,
        "Failure rate in the circuit breaker's window; -1 while it is empty"
    );
    ::metrics::describe_gauge!(
        SLOW_CALL_RATE,
        Unit::Percent,
        "Slow-call rate in the circuit breaker's window; -1 while it is empty"
    );
    ::metrics::describe_counter!(SLOW_CALLS, "Calls that took at least slow_call_duration");
    ::metrics::describe_gauge!(
        SHED_LIMIT,
        "Limit on calls in flight while the circuit breaker sheds overload; 0 while it does not"
    );
    ::metrics::describe_counter!(
        SHED_CALLS,
        "Calls refused by overload shedding (of the not_permitted calls)"
    );
}

/// Exports `breaker` once: registers its handles, turns its totals on, and installs the
/// listener that keeps the state gauges and transition counters up to date.
pub(crate) fn export_breaker<C: Clock>(breaker: &Breaker<C>) {
    export_labelled(breaker, None);
}

/// [`export_breaker`], labelled as the endpoint of a pool when `endpoint` says so.
fn export_labelled<C: Clock>(breaker: &Breaker<C>, endpoint: Option<EndpointLabel>) {
    if breaker.extension::<Instruments>().is_some() {
        return;
    }
    let made = Instruments::new(
        Arc::from(breaker.name().unwrap_or("")),
        endpoint,
        &breaker.config(),
    );
    // Two exports racing: the first one kept does the rest.
    let Ok(instruments) = breaker.insert_extension(made) else {
        return;
    };
    breaker.keep_totals();
    let listener = Arc::clone(&instruments);
    breaker.on_transition(move |t| listener.transition(t.from(), t.to()));
    // A transition delivered between a read and a set below would be overwritten: set, then
    // look again, until the state read before the set is still the state.
    let mut state = breaker.state();
    loop {
        instruments.set_state(state);
        let now = breaker.state();
        if now == state {
            break;
        }
        state = now;
    }
    // Registered above: read -1 while the window is empty, not 0, before the first publish.
    let snapshot = breaker.metrics();
    instruments.set_rates(&snapshot, &breaker.config());
    instruments.set_shed_limit(&snapshot);
}

fn publish_breaker<C: Clock>(breaker: &Breaker<C>) {
    export_breaker(breaker);
    let Some(instruments) = breaker.extension::<Instruments>() else {
        return;
    };
    let snapshot = breaker.metrics();
    if let Some(totals) = snapshot.totals {
        let counts = [
            totals.succeeded,
            totals.failed,
            totals.ignored,
            totals.rejected,
        ];
        for (counter, count) in instruments.calls.iter().zip(counts) {
            counter.absolute(count);
        }
        let config = breaker.config();
        // Registered at export, unless the config gained them since.
        instruments.register_optional(&config);
        if let Some(counter) = instruments.shed_calls.get() {
            counter.absolute(totals.shed);
        }
        if config.slow_call_duration().is_some() {
            if let Some(counter) = instruments.slow_calls.get() {
                counter.absolute(totals.slow);
            }
        }
        instruments.set_rates(&snapshot, &config);
    }
    instruments.set_shed_limit(&snapshot);
}
