//! [`RegistrySnapshot`]: every breaker of a registry, serializable for a dashboard (feature
//! `serde`). Re-exported from [`protego_breaker::integrations::serde`](crate::integrations::serde).

use ::serde::ser::{SerializeStruct, Serializer};
use ::serde::Serialize;

use crate::breaker::Breaker;
use crate::clock::Clock;
use crate::integrations::endpoint_labels::EndpointLabels;
use crate::machine::state::State;
use crate::observe::metrics::{Metrics, Totals};
use crate::registry::Registry;

/// Every breaker of a registry, sorted by name, as an admin view or a dashboard shows it.
///
/// Serialized (with any serde format) as `{"breakers": [...]}`, each breaker a
/// [`BreakerSnapshot`].
///
/// ```
/// use protego_breaker::integrations::serde::RegistrySnapshot;
/// use protego_breaker::{Registry, State};
///
/// let registry = Registry::new();
/// registry.get_or_create("search");
/// registry.get_or_create("payments").force_open();
/// let snapshot = RegistrySnapshot::of(&registry);
/// assert_eq!(snapshot.breakers[0].name, "payments");
/// assert_eq!(snapshot.open().collect::<Vec<_>>(), ["payments"]);
/// let json = serde_json::to_value(&snapshot)?;
/// assert_eq!(json["breakers"][0]["state"], "forced_open");
/// assert_eq!(json["breakers"][1]["name"], "search");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RegistrySnapshot {
    /// One entry per name, sorted by name.
    pub breakers: Vec<BreakerSnapshot>,
}

impl RegistrySnapshot {
    /// Takes the snapshot. Like [`Registry::metrics`], it moves open circuits whose period has
    /// passed to half-open, and asks no breaker anything under the registry's lock.
    ///
    /// ```
    /// let registry = protego_breaker::Registry::new();
    /// assert!(protego_breaker::integrations::serde::RegistrySnapshot::of(&registry).breakers.is_empty());
    /// ```
    pub fn of<C: Clock + Clone>(registry: &Registry<C>) -> Self {
        RegistrySnapshot {
            breakers: registry
                .breakers()
                .iter()
                .map(|(name, breaker)| BreakerSnapshot::of_in(registry, name, breaker))
                .collect(),
        }
    }

    /// The names of what rejects every call now: the breakers open or forced open, except the
    /// endpoints of balanced pools, and the pools (by name) whose every endpoint is. One
    /// ejected endpoint is its pool working as meant, not an outage.
    #[cfg_attr(not(feature = "admin"), allow(dead_code))]
    pub(crate) fn down(&self) -> Vec<&str> {
        let rejecting = |b: &BreakerSnapshot| matches!(b.state, State::Open | State::ForcedOpen);
        let mut down: Vec<&str> = Vec::new();
        let mut pools: Vec<(&str, bool)> = Vec::new(); // (pool, every endpoint rejecting)
        for b in &self.breakers {
            match &b.pool {
                None if rejecting(b) => down.push(&b.name),
                None => {}
                Some(pool) => match pools.iter_mut().find(|(p, _)| p == pool) {
                    Some((_, all)) => *all &= rejecting(b),
                    None => pools.push((pool, rejecting(b))),
                },
            }
        }
        down.extend(pools.into_iter().filter(|(_, all)| *all).map(|(p, _)| p));
        down
    }

    /// The endpoint breakers (by breaker name) that reject every call now: ejected endpoints.
    #[cfg_attr(not(feature = "admin"), allow(dead_code))]
    pub(crate) fn ejected(&self) -> impl Iterator<Item = &str> {
        self.breakers
            .iter()
            .filter(|b| b.pool.is_some() && matches!(b.state, State::Open | State::ForcedOpen))
            .map(|b| b.name.as_str())
    }

    /// The names of the breakers that reject every call now: open or forced open. Half-open
    /// ones let trial calls through and are not in it.
    ///
    /// ```
    /// let registry = protego_breaker::Registry::new();
    /// registry.get_or_create("db").disable();
    /// assert_eq!(protego_breaker::integrations::serde::RegistrySnapshot::of(&registry).open().count(), 0);
    /// ```
    pub fn open(&self) -> impl Iterator<Item = &str> {
        self.breakers
            .iter()
            .filter(|b| matches!(b.state, State::Open | State::ForcedOpen))
            .map(|b| b.name.as_str())
    }
}

/// One breaker in a [`RegistrySnapshot`].
///
/// Serialized with these field names: `name`; `state` (`closed`, `open`, `half_open`,
/// `forced_open`, `disabled`); `failure_rate` and `slow_call_rate` (percent, `null` without a
/// window or while it is empty); `consecutive_failures`; `time_until_half_open_ms` (`null`
/// unless open; rounded up); and `totals` (`null` unless counting is on, else `admitted`,
/// `rejected`, `succeeded`, `failed`, `ignored`, `slow`, and `shed`: of the rejected calls,
/// those refused by overload shedding, see [`Totals::shed`]). The breaker of an endpoint of a
/// balanced pool (feature `balance`) also has `pool` and `endpoint`; other breakers do not. A
/// breaker that sheds overload also has `shed_limit`, its limit on calls in flight.
///
/// ```
/// use protego_breaker::integrations::serde::BreakerSnapshot;
/// use protego_breaker::{Breaker, CircuitBreaker, Config, ManualClock};
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// let cfg = Config::builder().failure_threshold(1).totals(true).build().unwrap();
/// let breaker = Breaker::with_clock(cfg, clock.clone()).named("quotes");
/// breaker.try_acquire().unwrap().failure();
/// clock.advance(Duration::from_millis(1_500));
/// let json = serde_json::to_value(BreakerSnapshot::of(&breaker))?;
/// assert_eq!(json, serde_json::json!({
///     "name": "quotes",
///     "state": "open",
///     "failure_rate": null,
///     "slow_call_rate": null,
///     "consecutive_failures": 0,
///     "time_until_half_open_ms": 58_500,
///     "totals": {"admitted": 1, "rejected": 0, "succeeded": 0, "failed": 1, "ignored": 0, "slow": 0, "shed": 0},
/// }));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BreakerSnapshot {
    /// The breaker's name (empty for an unnamed breaker).
    pub name: String,
    /// The state.
    pub state: State,
    /// Percentage of failures in the window.
    pub failure_rate: Option<f64>,
    /// Percentage of slow calls in the window.
    pub slow_call_rate: Option<f64>,
    /// Consecutive failures in the current closed stretch.
    pub consecutive_failures: u32,
    /// Milliseconds until an open circuit lets trial calls through, rounded up.
    pub time_until_half_open_ms: Option<u64>,
    /// Call totals, when counting is on.
    pub totals: Option<Totals>,
    /// For an endpoint of a balanced pool (feature `balance`): the pool's name.
    pub pool: Option<String>,
    /// For an endpoint of a balanced pool: the endpoint, as its discover key displays.
    pub endpoint: Option<String>,
    /// While the breaker sheds overload: its limit on calls in flight.
    pub shed_limit: Option<u64>,
}

impl BreakerSnapshot {
    /// A snapshot of one breaker (see [`Breaker::metrics`]).
    ///
    /// ```
    /// let breaker = protego_breaker::Breaker::new(protego_breaker::Config::default()).named("a");
    /// assert_eq!(protego_breaker::integrations::serde::BreakerSnapshot::of(&breaker).name, "a");
    /// ```
    pub fn of<C: Clock>(breaker: &Breaker<C>) -> Self {
        Self::of_named(breaker.name().unwrap_or(""), breaker)
    }

    /// A snapshot of `registry`'s breaker called `name`, with its pool and endpoint if it is
    /// the endpoint of a balanced pool.
    pub(crate) fn of_in<C: Clock + Clone>(
        registry: &Registry<C>,
        name: &str,
        breaker: &Breaker<C>,
    ) -> Self {
        let mut snapshot = Self::of_named(name, breaker);
        let labels = registry.extension::<EndpointLabels>();
        if let Some(label) = labels.and_then(|labels| labels.get(name)) {
            snapshot.pool = Some(label.pool.to_string());
            snapshot.endpoint = Some(label.endpoint.to_string());
        }
        snapshot
    }

    fn of_named<C: Clock>(name: &str, breaker: &Breaker<C>) -> Self {
        let m: Metrics = breaker.metrics();
        BreakerSnapshot {
            name: name.to_owned(),
            state: m.state,
            failure_rate: m.failure_rate,
            slow_call_rate: m.slow_call_rate,
            consecutive_failures: m.consecutive_failures,
            time_until_half_open_ms: m.time_until_half_open.map(|d| {
                let ms = d.as_millis() + u128::from(d.subsec_nanos() % 1_000_000 != 0);
                u64::try_from(ms).unwrap_or(u64::MAX)
            }),
            totals: m.totals,
            pool: None,
            endpoint: None,
            shed_limit: m.shed_limit,
        }
    }
}

impl Serialize for RegistrySnapshot {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("RegistrySnapshot", 1)?;
        s.serialize_field("breakers", &self.breakers)?;
        s.end()
    }
}

impl Serialize for BreakerSnapshot {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let labelled = self.endpoint.is_some();
        let fields = 7 + 2 * usize::from(labelled) + usize::from(self.shed_limit.is_some());
        let mut s = serializer.serialize_struct("BreakerSnapshot", fields)?;
        s.serialize_field("name", &self.name)?;
        s.serialize_field("state", super::labels::snake_name(self.state))?;
        s.serialize_field("failure_rate", &self.failure_rate)?;
        s.serialize_field("slow_call_rate", &self.slow_call_rate)?;
        s.serialize_field("consecutive_failures", &self.consecutive_failures)?;
        s.serialize_field("time_until_half_open_ms", &self.time_until_half_open_ms)?;
        s.serialize_field("totals", &self.totals.map(SerTotals))?;
        if labelled {
            s.serialize_field("pool", &self.pool)?;
            s.serialize_field("endpoint", &self.endpoint)?;
        }
        if let Some(limit) = self.shed_limit {
            s.serialize_field("shed_limit", &limit)?;
        }
        s.end()
    }
}

struct SerTotals(Totals);

impl Serialize for SerTotals {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let t = &self.0;
        let mut s = serializer.serialize_struct("Totals", 7)?;
        s.serialize_field("admitted", &t.admitted)?;
        s.serialize_field("rejected", &t.rejected)?;
        s.serialize_field("succeeded", &t.succeeded)?;
        s.serialize_field("failed", &t.failed)?;
        s.serialize_field("ignored", &t.ignored)?;
        s.serialize_field("slow", &t.slow)?;
        s.serialize_field("shed", &t.shed)?;
        s.end()
    }
}
