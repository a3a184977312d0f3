//! The `[fleet]` section of a registry's config file (feature `fleet`): how the registry
//! shares its breakers with other replicas.

use std::fmt;
use std::time::Duration;

use ::serde::de::{self, Deserializer, MapAccess, Visitor};
use ::serde::ser::{SerializeMap, Serializer};
use ::serde::{Deserialize, Serialize};

use super::section::{value, KnobValue};

/// The `[fleet]` section's keys.
const FLEET_KEYS: &[&str] = &[
    "url",
    "key_prefix",
    "sentinel_master",
    "sentinels",
    "cluster_nodes",
    "replica_id",
    "op_timeout",
    "sync_interval",
    "lease",
    "quorum",
    "quorum_window",
    "fleet_wide_failures",
    "failure_window",
];

pub(super) struct FleetSection(pub(super) crate::fleet::FleetSettings);

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
                        "sentinel_master" => {
                            s.sentinel_master = Some(value(&mut map, k).map_err(named)?);
                        }
                        "sentinels" => s.sentinels = Some(value(&mut map, k).map_err(named)?),
                        "cluster_nodes" => {
                            s.cluster_nodes = Some(value(&mut map, k).map_err(named)?);
                        }
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

pub(super) struct FleetSectionRef<'a>(pub(super) &'a crate::fleet::FleetSettings);

impl Serialize for FleetSectionRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let f = self.0;
        let mut m = s.serialize_map(None)?;
        f.url.write(&mut m, "url")?;
        f.key_prefix.write(&mut m, "key_prefix")?;
        f.sentinel_master.write(&mut m, "sentinel_master")?;
        f.sentinels.write(&mut m, "sentinels")?;
        f.cluster_nodes.write(&mut m, "cluster_nodes")?;
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
