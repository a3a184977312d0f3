//! A registry's config file: [`RegistryConfig`], its `default` and `breakers` sections, and
//! the `fleet` section's place in it.

use std::collections::BTreeMap;
use std::fmt;

use ::serde::de::{self, Deserializer, MapAccess, Visitor};
use ::serde::ser::{SerializeMap, Serializer};
use ::serde::{Deserialize, Serialize};

#[cfg(feature = "fleet")]
use super::fleet_section::{FleetSection, FleetSectionRef};
use super::section::Section;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, Partial};
use crate::registry::Registry;

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
