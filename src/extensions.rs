//! [`Extensions`]: one value per type, kept by a breaker or a registry for whoever plugs into
//! it (the metrics export keeps a breaker's instruments here, a fleet marks the registries it
//! shares). Off every call path: a lock, taken only by the integrations that use it.

use std::any::Any;
use std::sync::{Arc, Mutex, PoisonError};

/// One value per type, set once.
#[derive(Default)]
pub(crate) struct Extensions {
    values: Mutex<Vec<Arc<dyn Any + Send + Sync>>>,
}

impl Extensions {
    /// The value of type `T`, if one was set.
    pub(crate) fn get<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        let values = self.values.lock().unwrap_or_else(PoisonError::into_inner);
        values
            .iter()
            .find_map(|value| Arc::clone(value).downcast::<T>().ok())
    }

    /// Sets the value of type `T`: `Ok` with it if there was none, `Err` with the one already
    /// there (and `value` dropped) if there was.
    pub(crate) fn insert<T: Any + Send + Sync>(&self, value: T) -> Result<Arc<T>, Arc<T>> {
        let mut values = self.values.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = values
            .iter()
            .find_map(|value| Arc::clone(value).downcast::<T>().ok())
        {
            return Err(found);
        }
        let value = Arc::new(value);
        values.push(Arc::clone(&value) as Arc<dyn Any + Send + Sync>);
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::Extensions;

    #[test]
    fn one_value_per_type_set_once() {
        let ext = Extensions::default();
        assert!(ext.get::<u32>().is_none());
        assert_eq!(*ext.insert(7_u32).unwrap(), 7);
        assert_eq!(*ext.insert(8_u32).unwrap_err(), 7, "the first one stays");
        assert_eq!(*ext.insert("other type").unwrap(), "other type");
        assert_eq!(ext.get::<u32>().as_deref(), Some(&7));
    }
}
