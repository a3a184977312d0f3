//! Configs from files (feature `serde`): [`Config`] and [`Window`] serialize and deserialize
//! with human durations (`"30s"`, `"1m30s"`, `"250ms"`), and a [`RegistryConfig`] holds named
//! breakers with a `default` section they inherit from, like Resilience4j's instances.
//!
//! Every key is optional (unset keys keep their defaults), unknown keys are errors, and every
//! error names the key it is about. Bring your own format crate:
//!
//! ```
//! use protego_breaker::integrations::serde::RegistryConfig;
//! use protego_breaker::State;
//!
//! let file = r#"
//!     [default]
//!     failure_threshold = 5
//!     reset_timeout = "30s"
//!
//!     [breakers.payments]
//!     reset_timeout = "1m"
//!     window = { count = 100 }
//!     failure_rate_threshold = 25
//!
//!     [breakers.search]
//!     half_open_retries = 1
//! "#;
//! let config: RegistryConfig = toml::from_str(file)?;
//! let registry = config.registry();
//! let payments = registry.get("payments").unwrap().config();
//! assert_eq!(payments.failure_threshold(), 5); // from [default]
//! assert_eq!(payments.reset_timeout(), std::time::Duration::from_secs(60));
//! assert_eq!(registry.get_or_create("other").config().failure_threshold(), 5);
//!
//! let bad = toml::from_str::<RegistryConfig>("[breakers.db]\nfailure_treshold = 3").unwrap_err();
//! assert!(bad.to_string().contains("failure_treshold"), "{bad}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use ::serde::de::{self, Deserializer, MapAccess, Visitor};
use ::serde::ser::{SerializeMap, Serializer};
use ::serde::{Deserialize, Serialize};

pub use crate::integrations::snapshot::{BreakerSnapshot, RegistrySnapshot};

use crate::clock::{Clock, SystemClock};
use crate::config::knobs::knobs;
use crate::config::{knob, Config, Partial};
use crate::machine::state::State;
use crate::machine::window::Window;
use crate::registry::Registry;

/// Formats a duration the way configs write them: `"1m30s"`, `"250ms"`, `"0s"`.
///
/// ```
/// use std::time::Duration;
/// use protego_breaker::integrations::serde::{format_duration, parse_duration};
///
/// assert_eq!(format_duration(Duration::from_millis(90_500)), "1m30s500ms");
/// assert_eq!(parse_duration("1m30s500ms"), Ok(Duration::from_millis(90_500)));
/// ```
pub fn format_duration(d: Duration) -> String {
    if d.is_zero() {
        return "0s".to_owned();
    }
    let secs = d.as_secs();
    let nanos = d.subsec_nanos();
    let parts = [
        (secs / 86_400, "d"),
        (secs / 3_600 % 24, "h"),
        (secs / 60 % 60, "m"),
        (secs % 60, "s"),
        (u64::from(nanos / 1_000_000), "ms"),
        (u64::from(nanos / 1_000 % 1_000), "us"),
        (u64::from(nanos % 1_000), "ns"),
    ];
    let mut out = String::new();
    for (n, unit) in parts {
        if n > 0 {
            out.push_str(&n.to_string());
            out.push_str(unit);
        }
    }
    out
}

/// Parses a duration written as numbers with units, largest first or not: `"30s"`, `"1m"`,
/// `"1h30m"`, `"250ms"`, `"10us"` (or `"10µs"`), `"5ns"`, `"2d"`.
///
/// # Errors
/// A message saying what was wrong, for a bare number, an unknown unit or an overflow.
///
/// ```
/// use std::time::Duration;
/// use protego_breaker::integrations::serde::parse_duration;
///
/// assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5_400)));
/// assert!(parse_duration("30").unwrap_err().contains("unit"));
/// assert!(parse_duration("3 fortnights").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration".to_owned());
    }
    if text.starts_with('-') {
        return Err(format!("a duration cannot be negative: {text:?}"));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("expected a number in {text:?}"));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("number too large in {text:?}"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit())
            .map_or(rest.len(), |(i, _)| i);
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        if unit.starts_with(['.', ',']) && !rest.is_empty() {
            return Err(format!(
                "fractions are not supported in {text:?} (use a smaller unit: 1500ms, not 1.5s)"
            ));
        }
        let part = match unit {
            "d" => n.checked_mul(86_400).map(Duration::from_secs),
            "h" => n.checked_mul(3_600).map(Duration::from_secs),
            "m" => n.checked_mul(60).map(Duration::from_secs),
            "s" => Some(Duration::from_secs(n)),
            "ms" => Some(Duration::from_millis(n)),
            "us" | "µs" => Some(Duration::from_micros(n)),
            "ns" => Some(Duration::from_nanos(n)),
            "" => {
                return Err(format!(
                    "missing unit in {text:?} (use d, h, m, s, ms, us or ns)"
                ))
            }
            other => {
                return Err(format!(
                    "unknown unit {other:?} in {text:?} (use d, h, m, s, ms, us or ns)"
                ))
            }
        };
        total = part
            .and_then(|p| total.checked_add(p))
            .ok_or_else(|| format!("duration too large: {text:?}"))?;
    }
    Ok(total)
}

/// A duration as a config writes it.
struct Human(Duration);

impl<'de> Deserialize<'de> for Human {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Human;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"30s\", \"1m30s\" or \"250ms\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Human, E> {
                parse_duration(v).map(Human).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

/// Reads one key's value, naming the key in any error.
fn value<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
    map: &mut A,
    key: &str,
) -> Result<T, A::Error> {
    map.next_value::<T>()
        .map_err(|e| de::Error::custom(format!("{key}: {e}")))
}

/// How one knob's value is read from and written to a config file: durations as human
/// strings, everything else as itself, optional knobs only when set.
trait KnobValue: Sized {
    fn read<'de, A: MapAccess<'de>>(map: &mut A, key: &str) -> Result<Self, A::Error>;
    fn write<M: SerializeMap>(&self, map: &mut M, key: &str) -> Result<(), M::Error>;
}

macro_rules! plain_knob_values {
    ($($t:ty),*) => {$(
        impl KnobValue for $t {
            fn read<'de, A: MapAccess<'de>>(map: &mut A, key: &str) -> Result<Self, A::Error> {
                value(map, key)
            }
            fn write<M: SerializeMap>(&self, map: &mut M, key: &str) -> Result<(), M::Error> {
                map.serialize_entry(key, self)
            }
        }
    )*};
}

plain_knob_values!(u8, u32, u64, f64, bool, Window, String, State);

impl KnobValue for Duration {
    fn read<'de, A: MapAccess<'de>>(map: &mut A, key: &str) -> Result<Self, A::Error> {
        value::<_, Human>(map, key).map(|human| human.0)
    }
    fn write<M: SerializeMap>(&self, map: &mut M, key: &str) -> Result<(), M::Error> {
        map.serialize_entry(key, &format_duration(*self))
    }
}

impl<T: KnobValue> KnobValue for Option<T> {
    fn read<'de, A: MapAccess<'de>>(map: &mut A, key: &str) -> Result<Self, A::Error> {
        T::read(map, key).map(Some)
    }
    fn write<M: SerializeMap>(&self, map: &mut M, key: &str) -> Result<(), M::Error> {
        match self {
            Some(v) => v.write(map, key),
            None => Ok(()),
        }
    }
}

/// Reads a config section's keys into a [`Partial`], and writes a [`Partial`]'s set keys:
/// both from the one knob list.
macro_rules! section_io {
    ($($name:ident: $ty:ty = $default:expr, set $arg:ty, get { $($get:tt)* } set { $($set:tt)* };)*) => {
        fn read_section<'de, A: MapAccess<'de>>(mut map: A) -> Result<Partial, A::Error> {
            let mut p = Partial::default();
            while let Some(key) = map.next_key::<String>()? {
                match key.as_str() {
                    $(stringify!($name) => p.$name = Some(KnobValue::read(&mut map, &key)?),)*
                    other => return Err(de::Error::unknown_field(other, knob::ALL)),
                }
            }
            Ok(p)
        }

        fn write_section<S: Serializer>(p: &Partial, s: S) -> Result<S::Ok, S::Error> {
            let mut m = s.serialize_map(None)?;
            $(if let Some(v) = &p.$name {
                v.write(&mut m, stringify!($name))?;
            })*
            m.end()
        }
    };
}

knobs!(section_io);

struct SectionVisitor;

impl<'de> Visitor<'de> for SectionVisitor {
    type Value = Partial;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a breaker config")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Partial, A::Error> {
        read_section(map)
    }
}

/// A config section, read without building it (a `breakers` entry inherits from `default`).
struct Section(Partial);

impl<'de> Deserialize<'de> for Section {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(SectionVisitor).map(Section)
    }
}

/// Deserializes from a map of the knobs, each optional (unset ones keep their defaults);
/// durations are strings like `"30s"`. Errors name the key.
///
/// ```
/// use protego_breaker::Config;
///
/// let cfg: Config = serde_json::from_str(r#"{"failure_threshold": 5, "reset_timeout": "1m30s"}"#)?;
/// assert_eq!(cfg.failure_threshold(), 5);
/// assert_eq!(cfg.reset_timeout(), std::time::Duration::from_secs(90));
///
/// let err = serde_json::from_str::<Config>(r#"{"half_open_retries": 0}"#).unwrap_err();
/// assert!(err.to_string().starts_with("half_open_retries must be from 1 to 65535, got 0"), "{err}");
/// let err = serde_json::from_str::<Config>(r#"{"reset_timeout": "soon"}"#).unwrap_err();
/// assert!(err.to_string().starts_with("reset_timeout: "), "{err}");
/// # Ok::<(), serde_json::Error>(())
/// ```
impl<'de> Deserialize<'de> for Config {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Section::deserialize(d)?
            .0
            .build()
            .map_err(de::Error::custom)
    }
}

/// Serializes every knob (the optional ones only when set), durations as strings like `"30s"`.
///
/// ```
/// use protego_breaker::Config;
///
/// let json = serde_json::to_string(&Config::default())?;
/// assert_eq!(json, r#"{"failure_threshold":3,"reset_timeout":"1m","half_open_retries":2,"initial_state":"closed","half_open_by_rate":false,"backoff_multiplier":1.0,"jitter":0.0,"failure_rate_threshold":50,"minimum_calls":10,"slow_call_rate_threshold":100,"totals":false}"#);
/// let back: Config = serde_json::from_str(&json)?;
/// assert_eq!(back, Config::default());
/// # Ok::<(), serde_json::Error>(())
/// ```
impl Serialize for Config {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        write_section(&Partial::of(self), s)
    }
}

/// A state by its name, as [`Display`](std::fmt::Display) writes it: `"closed"`, `"open"`,
/// `"half-open"`, `"forced-open"`, `"disabled"`, `"metrics-only"`. In a config file, the
/// [`initial_state`](Config::initial_state) knob.
///
/// ```
/// use protego_breaker::{Config, State};
///
/// let cfg: Config = toml::from_str(r#"initial_state = "metrics-only""#)?;
/// assert_eq!(cfg.initial_state(), State::MetricsOnly);
/// assert_eq!(serde_json::to_string(&State::ForcedOpen)?, r#""forced-open""#);
/// assert!(toml::from_str::<Config>(r#"initial_state = "half-open""#).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl<'de> Deserialize<'de> for State {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const NAMES: &[&str] = &[
            "closed",
            "open",
            "half-open",
            "forced-open",
            "disabled",
            "metrics-only",
        ];
        struct V;
        impl Visitor<'_> for V {
            type Value = State;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a state: closed, open, forced-open, disabled or metrics-only")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<State, E> {
                Ok(match v {
                    "closed" => State::Closed,
                    "open" => State::Open,
                    "half-open" => State::HalfOpen,
                    "forced-open" => State::ForcedOpen,
                    "disabled" => State::Disabled,
                    "metrics-only" => State::MetricsOnly,
                    other => return Err(de::Error::unknown_variant(other, NAMES)),
                })
            }
        }
        d.deserialize_str(V)
    }
}

impl Serialize for State {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// `{ count = 100 }`, or `{ time = "1m" }` with an optional `buckets` (10 by default).
///
/// ```
/// use std::time::Duration;
/// use protego_breaker::config::Window;
///
/// let w: Window = serde_json::from_str(r#"{"time": "30s", "buckets": 6}"#)?;
/// assert_eq!(w, Window::Time { length: Duration::from_secs(30), buckets: 6 });
/// assert_eq!(serde_json::to_string(&Window::Count(50))?, r#"{"count":50}"#);
/// assert!(serde_json::from_str::<Window>(r#"{"count": 5, "time": "1s"}"#).is_err());
/// # Ok::<(), serde_json::Error>(())
/// ```
impl<'de> Deserialize<'de> for Window {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Window;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("{ count = N } or { time = \"1m\", buckets = N }")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Window, A::Error> {
                let (mut count, mut time, mut buckets) = (None, None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "count" => count = Some(value::<_, u32>(&mut map, "window.count")?),
                        "time" => time = Some(value::<_, Human>(&mut map, "window.time")?.0),
                        "buckets" => buckets = Some(value::<_, u32>(&mut map, "window.buckets")?),
                        other => {
                            return Err(de::Error::unknown_field(
                                other,
                                &["count", "time", "buckets"],
                            ))
                        }
                    }
                }
                match (count, time, buckets) {
                    (Some(n), None, None) => Ok(Window::Count(n)),
                    (None, Some(length), buckets) => Ok(Window::Time {
                        length,
                        buckets: buckets.unwrap_or(10),
                    }),
                    _ => Err(de::Error::custom(
                        "window: give either `count`, or `time` (and optionally `buckets`)",
                    )),
                }
            }
        }
        d.deserialize_map(V)
    }
}

impl Serialize for Window {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        match *self {
            Window::Count(n) => m.serialize_entry("count", &n)?,
            Window::Time { length, buckets } => {
                m.serialize_entry("time", &format_duration(length))?;
                m.serialize_entry("buckets", &buckets)?;
            }
        }
        m.end()
    }
}

/// A registry read from a file: a `default` section, and `breakers` by name whose unset keys
/// come from `default` (and then from [`Config::default`]). Every config is validated when it
/// is read; an error names the breaker and the key.
///
/// ```
/// use protego_breaker::integrations::serde::RegistryConfig;
///
/// let json = r#"{"default": {"reset_timeout": "10s"}, "breakers": {"db": {"failure_threshold": 0}}}"#;
/// let err = serde_json::from_str::<RegistryConfig>(json).unwrap_err();
/// assert!(err.to_string().starts_with("breakers.db: failure_threshold must be at least 1"), "{err}");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RegistryConfig {
    default: Config,
    breakers: BTreeMap<String, Config>,
    #[cfg(feature = "fleet")]
    fleet: Option<crate::fleet::FleetSettings>,
}

impl RegistryConfig {
    /// The config of names created on first use.
    ///
    /// ```
    /// let config: protego_breaker::integrations::serde::RegistryConfig = serde_json::from_str(r#"{"default": {"failure_threshold": 9}}"#)?;
    /// assert_eq!(config.default_config().failure_threshold(), 9);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn default_config(&self) -> &Config {
        &self.default
    }

    /// The named breakers' configs, by name.
    ///
    /// ```
    /// let config: protego_breaker::integrations::serde::RegistryConfig = serde_json::from_str(r#"{"breakers": {"db": {}}}"#)?;
    /// assert_eq!(config.breakers()["db"], protego_breaker::Config::default());
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn breakers(&self) -> &BTreeMap<String, Config> {
        &self.breakers
    }

    /// The `[fleet]` section, if the file has one (feature `fleet`): how this registry
    /// shares its breakers with other replicas. See [`FleetSettings`](crate::fleet::FleetSettings).
    ///
    /// ```
    /// let config: protego_breaker::integrations::serde::RegistryConfig = toml::from_str("[fleet]\nquorum = 2")?;
    /// assert_eq!(config.fleet().unwrap().quorum, Some(2));
    /// # Ok::<(), toml::de::Error>(())
    /// ```
    #[cfg(feature = "fleet")]
    pub fn fleet(&self) -> Option<&crate::fleet::FleetSettings> {
        self.fleet.as_ref()
    }

    /// A registry on the system clock with these configs: the named breakers made now.
    ///
    /// ```
    /// let config: protego_breaker::integrations::serde::RegistryConfig = serde_json::from_str(r#"{"breakers": {"db": {}}}"#)?;
    /// assert_eq!(config.registry().len(), 1);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn registry(&self) -> Registry<SystemClock> {
        self.registry_with_clock(SystemClock)
    }

    /// The same on `clock`.
    ///
    /// ```
    /// let config: protego_breaker::integrations::serde::RegistryConfig = serde_json::from_str(r#"{"breakers": {"db": {}}}"#)?;
    /// let registry = config.registry_with_clock(protego_breaker::ManualClock::new());
    /// assert!(registry.get("db").is_some());
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn registry_with_clock<C: Clock + Clone>(&self, clock: C) -> Registry<C> {
        let registry = Registry::with_clock(clock).with_default_config(self.default.clone());
        for (name, config) in &self.breakers {
            registry.breaker(name, config.clone());
        }
        registry
    }

    /// Applies these configs to an existing registry: its default, and each named breaker,
    /// updated in place (state kept) or created. Names not in the file are left alone.
    ///
    /// ```
    /// use protego_breaker::Registry;
    /// let registry = Registry::new();
    /// let config: protego_breaker::integrations::serde::RegistryConfig = serde_json::from_str(r#"{"breakers": {"db": {"failure_threshold": 7}}}"#)?;
    /// config.apply(&registry);
    /// assert_eq!(registry.get("db").unwrap().config().failure_threshold(), 7);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn apply<C: Clock + Clone>(&self, registry: &Registry<C>) {
        registry.set_default_config(self.default.clone());
        for (name, config) in &self.breakers {
            registry.breaker(name, config.clone());
        }
    }
}

impl<'de> Deserialize<'de> for RegistryConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RegistryConfig;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a `default` section and `breakers` by name")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RegistryConfig, A::Error> {
                let mut default = Partial::default();
                let mut named: BTreeMap<String, Partial> = BTreeMap::new();
                #[cfg(feature = "fleet")]
                let mut fleet = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        #[cfg(feature = "fleet")]
                        "fleet" => fleet = Some(map.next_value::<FleetSection>()?.0),
                        "default" => {
                            default = map
                                .next_value::<Section>()
                                .map_err(|e| de::Error::custom(format!("default: {e}")))?
                                .0;
                        }
                        "breakers" => named = map.next_value::<Named>()?.0,
                        other => return Err(de::Error::unknown_field(other, SECTIONS)),
                    }
                }
                let default_config = default
                    .build()
                    .map_err(|e| de::Error::custom(format!("default: {e}")))?;
                let mut breakers = BTreeMap::new();
                for (name, partial) in named {
                    let config = partial
                        .over(&default)
                        .build()
                        .map_err(|e| de::Error::custom(format!("breakers.{name}: {e}")))?;
                    breakers.insert(name, config);
                }
                Ok(RegistryConfig {
                    default: default_config,
                    breakers,
                    #[cfg(feature = "fleet")]
                    fleet,
                })
            }
        }
        d.deserialize_map(V)
    }
}

/// The `breakers` section: its errors name the breaker (`breakers.db: ...`).
struct Named(BTreeMap<String, Partial>);

impl<'de> Deserialize<'de> for Named {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Named;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`breakers`: a table of breaker configs by name")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Named, A::Error> {
                let mut named = BTreeMap::new();
                while let Some(name) = map.next_key::<String>()? {
                    let partial = map
                        .next_value::<Section>()
                        .map_err(|e| de::Error::custom(format!("breakers.{name}: {e}")))?
                        .0;
                    named.insert(name, partial);
                }
                Ok(Named(named))
            }
        }
        d.deserialize_map(V)
    }
}

impl Serialize for RegistryConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("default", &self.default)?;
        m.serialize_entry("breakers", &self.breakers)?;
        #[cfg(feature = "fleet")]
        if let Some(fleet) = &self.fleet {
            m.serialize_entry("fleet", &FleetSectionRef(fleet))?;
        }
        m.end()
    }
}

#[cfg(not(feature = "fleet"))]
const SECTIONS: &[&str] = &["default", "breakers"];
#[cfg(feature = "fleet")]
const SECTIONS: &[&str] = &["default", "breakers", "fleet"];

/// The `[fleet]` section's keys.
#[cfg(feature = "fleet")]
const FLEET_KEYS: &[&str] = &[
    "url",
    "key_prefix",
    "replica_id",
    "op_timeout",
    "sync_interval",
    "lease",
    "quorum",
    "quorum_window",
    "fleet_wide_failures",
    "failure_window",
];

#[cfg(feature = "fleet")]
struct FleetSection(crate::fleet::FleetSettings);

#[cfg(feature = "fleet")]
impl<'de> Deserialize<'de> for FleetSection {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FleetSection;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a `fleet` section")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FleetSection, A::Error> {
                let mut s = crate::fleet::FleetSettings::default();
                while let Some(key) = map.next_key::<String>()? {
                    let k = key.as_str();
                    let named = |e: A::Error| de::Error::custom(format!("fleet.{e}"));
                    match k {
                        "url" => s.url = Some(value(&mut map, k).map_err(named)?),
                        "key_prefix" => s.key_prefix = Some(value(&mut map, k).map_err(named)?),
                        "replica_id" => s.replica_id = Some(value(&mut map, k).map_err(named)?),
                        "quorum" => s.quorum = Some(value(&mut map, k).map_err(named)?),
                        "op_timeout" => {
                            s.op_timeout = Some(Duration::read(&mut map, k).map_err(named)?);
                        }
                        "sync_interval" => {
                            s.sync_interval = Some(Duration::read(&mut map, k).map_err(named)?);
                        }
                        "lease" => s.lease = Some(Duration::read(&mut map, k).map_err(named)?),
                        "quorum_window" => {
                            s.quorum_window = Some(Duration::read(&mut map, k).map_err(named)?);
                        }
                        "fleet_wide_failures" => {
                            s.fleet_wide_failures = Some(value(&mut map, k).map_err(named)?);
                        }
                        "failure_window" => {
                            s.failure_window = Some(Duration::read(&mut map, k).map_err(named)?);
                        }
                        other => return Err(de::Error::unknown_field(other, FLEET_KEYS)),
                    }
                }
                Ok(FleetSection(s))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(feature = "fleet")]
struct FleetSectionRef<'a>(&'a crate::fleet::FleetSettings);

#[cfg(feature = "fleet")]
impl Serialize for FleetSectionRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let f = self.0;
        let mut m = s.serialize_map(None)?;
        f.url.write(&mut m, "url")?;
        f.key_prefix.write(&mut m, "key_prefix")?;
        f.replica_id.write(&mut m, "replica_id")?;
        f.op_timeout.write(&mut m, "op_timeout")?;
        f.sync_interval.write(&mut m, "sync_interval")?;
        f.lease.write(&mut m, "lease")?;
        f.quorum.write(&mut m, "quorum")?;
        f.quorum_window.write(&mut m, "quorum_window")?;
        f.fleet_wide_failures.write(&mut m, "fleet_wide_failures")?;
        f.failure_window.write(&mut m, "failure_window")?;
        m.end()
    }
}
