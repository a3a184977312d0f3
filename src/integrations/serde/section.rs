//! A config section as a file writes it: every knob's key and value, read into a [`Partial`]
//! and written from one, both derived from the one knob list; [`Config`]'s serde impls.

use std::fmt;
use std::time::Duration;

use ::serde::de::{self, Deserializer, MapAccess, Visitor};
use ::serde::ser::{SerializeMap, Serializer};
use ::serde::{Deserialize, Serialize};

use super::duration::Human;
use crate::config::knobs::knobs;
use crate::config::{knob, Config, Partial};
use crate::machine::state::State;
use crate::machine::window::Window;

/// Reads one key's value, naming the key in any error.
pub(super) fn value<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
    map: &mut A,
    key: &str,
) -> Result<T, A::Error> {
    map.next_value::<T>()
        .map_err(|e| de::Error::custom(format!("{key}: {e}")))
}

/// How one knob's value is read from and written to a config file: durations as human
/// strings, everything else as itself, optional knobs only when set.
pub(super) trait KnobValue: Sized {
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

plain_knob_values!(u8, u32, u64, f64, bool, Window, String, State, Vec<String>);

impl KnobValue for Duration {
    fn read<'de, A: MapAccess<'de>>(map: &mut A, key: &str) -> Result<Self, A::Error> {
        value::<_, Human>(map, key).map(|human| human.0)
    }
    fn write<M: SerializeMap>(&self, map: &mut M, key: &str) -> Result<(), M::Error> {
        map.serialize_entry(key, &Human(*self))
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
pub(super) struct Section(pub(super) Partial);

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
/// assert_eq!(json, r#"{"failure_threshold":3,"reset_timeout":"1m","half_open_retries":2,"initial_state":"closed","half_open_by_rate":false,"backoff_multiplier":1.0,"jitter":0.0,"failure_rate_threshold":50,"minimum_calls":10,"slow_call_rate_threshold":100,"totals":false,"shed_overload":true,"shed_backoff":0.9,"shed_window":"1s","shed_latency_factor":3.0,"shed_outage_after":"5s"}"#);
/// let back: Config = serde_json::from_str(&json)?;
/// assert_eq!(back, Config::default());
/// # Ok::<(), serde_json::Error>(())
/// ```
impl Serialize for Config {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        write_section(&Partial::of(self), s)
    }
}
