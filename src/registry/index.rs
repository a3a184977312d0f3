//! [`Index`]: the open-addressing name table of a per-thread cache.
//!
//! `std`'s `HashMap` would compare names with a `memcmp` call; here a name of up to 16 bytes is
//! compared as the two words its hash already read (see [`Key`]) and its
//! length, so a hit is one hash, one probe and three compares, in one cache line. Linear
//! probing, at most half full, single-threaded.

use std::cell::Cell;

use super::hash::{Key, NameHasher};

/// One name, on a cache line of its own: a name of up to 16 bytes is all in `lo`, `hi` and the
/// length of `name`, so a hit reads this one line and nothing else.
#[repr(align(64))]
struct Entry<V> {
    lo: u64,
    hi: u64,
    name: Box<str>,
    value: V,
}

pub(crate) struct Index<V> {
    hasher: NameHasher,
    /// A power of two long; at most half of them full.
    slots: Box<[Option<Entry<V>>]>,
    len: usize,
    /// Where the last hit was: looked at before hashing. A thread that calls one name again
    /// and again (a worker on one dependency) so finds its entry at an address it knows from
    /// the start, instead of one that waits on the hash (~3 ns of latency, which the reference
    /// count's locked increment that follows cannot hide).
    last: Cell<usize>,
}

impl<V> Index<V> {
    pub(crate) fn new(hasher: NameHasher) -> Self {
        Index {
            hasher,
            slots: Box::new([]),
            len: 0,
            last: Cell::new(0),
        }
    }

    /// The value of `name`. The last hit's entry is tried first, without hashing (for names of
    /// up to 16 bytes); the probe is out of line.
    #[allow(clippy::inline_always)] // the hot half of `.protect`, see there
    #[inline(always)]
    pub(crate) fn get(&self, name: &str) -> Option<&V> {
        if let Some(key) = Key::short(name) {
            if let Some(Some(entry)) = self.slots.get(self.last.get()) {
                if entry.lo == key.lo && entry.hi == key.hi && entry.name.len() == key.len {
                    return Some(&entry.value);
                }
            }
        }
        self.probe(name)
    }

    #[inline(never)]
    fn probe(&self, name: &str) -> Option<&V> {
        let key = self.hasher.key(name);
        let mask = self.slots.len().checked_sub(1)?;
        // Truncation intended: the low bits pick the slot.
        #[allow(clippy::cast_possible_truncation)]
        let mut at = self.hasher.hash(&key) as usize & mask;
        loop {
            let entry = self.slots.get(at)?.as_ref()?;
            if entry.lo == key.lo
                && entry.hi == key.hi
                && entry.name.len() == key.len
                && (key.is_exact() || *entry.name == *name)
            {
                self.last.set(at);
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
        let mut at = self.hasher.hash(&key) as usize & mask;
        loop {
            match &mut self.slots[at] {
                Some(entry) if *entry.name == *name => {
                    entry.value = value;
                    return;
                }
                Some(_) => at = (at + 1) & mask,
                empty @ None => {
                    *empty = Some(Entry {
                        lo: key.lo,
                        hi: key.hi,
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
            let key = self.hasher.key(&entry.name);
            #[allow(clippy::cast_possible_truncation)]
            let mut at = self.hasher.hash(&key) as usize & mask;
            while self.slots[at].is_some() {
                at = (at + 1) & mask;
            }
            self.slots[at] = Some(entry);
        }
        self.last.set(0);
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

    #[test]
    fn the_last_hit_is_tried_first_and_checked() {
        let mut index = Index::new(NameHasher::random());
        for (i, name) in ["a", "b", "payments", "a-rather-long-name-of-a-service"]
            .iter()
            .enumerate()
        {
            index.insert(name, i);
        }
        for _ in 0..3 {
            assert_eq!(index.get("a"), Some(&0));
            assert_eq!(index.get("a"), Some(&0)); // from the last hit
            assert_eq!(index.get("b"), Some(&1)); // not the last hit's value
            assert_eq!(index.get("c"), None);
            assert_eq!(index.get("payments"), Some(&2));
            assert_eq!(index.get("paymentz"), None);
            assert_eq!(index.get("a-rather-long-name-of-a-service"), Some(&3));
            assert_eq!(index.get("b-rather-long-name-of-a-service"), None);
        }
        // Growing moves entries: the remembered place may now hold another name, or none.
        assert_eq!(index.get("payments"), Some(&2));
        for i in 0..100 {
            index.insert(&format!("svc-{i}"), 10 + i);
        }
        assert_eq!(index.get("payments"), Some(&2));
        assert_eq!(index.get("svc-7"), Some(&17));
        assert_eq!(index.get("a"), Some(&0));
    }
}
