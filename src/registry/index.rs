//! [`Index`]: the open-addressing name table of a per-thread cache.
//!
//! `std`'s `HashMap` would compare names with a `memcmp` call; here a name of up to 16 bytes is
//! compared as the two words its hash already read (see [`Key`]), so a hit is one hash, one
//! probe and three compares. Linear probing, at most half full, single-threaded.

use super::hash::{Key, NameHasher};

struct Entry<V> {
    key: Key,
    name: Box<str>,
    value: V,
}

pub(crate) struct Index<V> {
    hasher: NameHasher,
    /// A power of two long; at most half of them full.
    slots: Box<[Option<Entry<V>>]>,
    len: usize,
}

impl<V> Index<V> {
    pub(crate) fn new(hasher: NameHasher) -> Self {
        Index {
            hasher,
            slots: Box::new([]),
            len: 0,
        }
    }

    #[inline]
    pub(crate) fn get(&self, name: &str) -> Option<&V> {
        let mask = self.slots.len().checked_sub(1)?;
        let key = self.hasher.key(name);
        // Truncation intended: the low bits pick the slot.
        #[allow(clippy::cast_possible_truncation)]
        let mut at = key.hash as usize & mask;
        loop {
            let entry = self.slots[at].as_ref()?;
            if entry.key == key && (key.is_exact() || *entry.name == *name) {
                return Some(&entry.value);
            }
            at = (at + 1) & mask;
        }
    }

    /// Adds `name` (replacing its value if it is there).
    pub(crate) fn insert(&mut self, name: &str, value: V) {
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let key = self.hasher.key(name);
        let mask = self.slots.len() - 1;
        #[allow(clippy::cast_possible_truncation)]
        let mut at = key.hash as usize & mask;
        loop {
            match &mut self.slots[at] {
                Some(entry) if entry.key == key && *entry.name == *name => {
                    entry.value = value;
                    return;
                }
                Some(_) => at = (at + 1) & mask,
                empty @ None => {
                    *empty = Some(Entry {
                        key,
                        name: name.into(),
                        value,
                    });
                    self.len += 1;
                    return;
                }
            }
        }
    }

    #[cold]
    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(8);
        let old = std::mem::replace(&mut self.slots, (0..size).map(|_| None).collect());
        let mask = size - 1;
        for entry in old.into_vec().into_iter().flatten() {
            #[allow(clippy::cast_possible_truncation)]
            let mut at = entry.key.hash as usize & mask;
            while self.slots[at].is_some() {
                at = (at + 1) & mask;
            }
            self.slots[at] = Some(entry);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_was_inserted_and_nothing_else() {
        let mut index = Index::new(NameHasher::random());
        assert_eq!(index.get("a"), None);
        let long = "a-name-much-longer-than-sixteen-bytes";
        let names: Vec<String> = (0..1_000)
            .map(|i| format!("svc-{i}"))
            .chain([String::new(), long.to_string(), format!("{long}!")])
            .collect();
        for (i, name) in names.iter().enumerate() {
            index.insert(name, i);
        }
        index.insert("svc-7", 7_000);
        assert_eq!(index.len(), names.len());
        for (i, name) in names.iter().enumerate() {
            let want = if name == "svc-7" { 7_000 } else { i };
            assert_eq!(index.get(name), Some(&want), "{name}");
        }
        assert_eq!(index.get("svc-1000"), None);
        assert_eq!(index.get(&long[..long.len() - 1]), None);
        assert_eq!(index.get("a-name-much-longer-than-sixteen-bytez"), None);
    }
}
