//! The knob values that are not plain numbers: a [`State`] by its name and a [`Window`] as a
//! small table.

use std::fmt;

use ::serde::de::{self, Deserializer, MapAccess, Visitor};
use ::serde::ser::{SerializeMap, Serializer};
use ::serde::{Deserialize, Serialize};

use super::duration::Human;
use super::section::value;
use crate::machine::state::State;
use crate::machine::window::Window;

/// A state by its name, as [`Display`](std::fmt::Display) writes it: `"closed"`, `"open"`,
/// `"half-open"`, `"forced-open"`, `"disabled"`, `"metrics-only"`. In a config file, the
/// [`initial_state`](crate::Config::initial_state) knob.
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
/// use protego_breaker::Window;
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
                m.serialize_entry("time", &Human(length))?;
                m.serialize_entry("buckets", &buckets)?;
            }
        }
        m.end()
    }
}
