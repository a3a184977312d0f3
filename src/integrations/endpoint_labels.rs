//! Which breakers of a registry are the endpoints of a balanced pool: a per-registry map (a
//! registry extension) from the breaker's name to its pool and endpoint, filled by
//! `integrations::balance` *before* it creates the breaker, so the metrics export's creation
//! hook and the snapshot can label it `name` = the pool, `endpoint` = the endpoint.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use crate::clock::Clock;
use crate::registry::Registry;

/// A breaker's pool and endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EndpointLabel {
    pub(crate) pool: Arc<str>,
    pub(crate) endpoint: Arc<str>,
}

/// Breaker name -> pool and endpoint, for one registry. Entries are removed with their
/// breakers, so the map never outgrows the registry.
#[derive(Debug, Default)]
pub(crate) struct EndpointLabels {
    map: RwLock<HashMap<Arc<str>, EndpointLabel>>,
}

impl EndpointLabels {
    /// The registry's map, made on first use.
    #[cfg_attr(
        not(any(feature = "balance", feature = "metrics", feature = "opentelemetry")),
        allow(dead_code)
    )]
    pub(crate) fn of<C: Clock + Clone>(registry: &Registry<C>) -> Arc<Self> {
        match registry.insert_extension(EndpointLabels::default()) {
            Ok(labels) | Err(labels) => labels,
        }
    }

    /// The labels of the breaker called `name`, if it is an endpoint.
    #[cfg_attr(
        not(any(feature = "metrics", feature = "opentelemetry", feature = "serde")),
        allow(dead_code)
    )]
    pub(crate) fn get(&self, name: &str) -> Option<EndpointLabel> {
        self.map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    #[cfg_attr(not(feature = "balance"), allow(dead_code))]
    pub(crate) fn insert(&self, name: Arc<str>, label: EndpointLabel) {
        self.map
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name, label);
    }

    #[cfg_attr(not(feature = "balance"), allow(dead_code))]
    pub(crate) fn remove(&self, name: &str) {
        self.map
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name);
    }
}
