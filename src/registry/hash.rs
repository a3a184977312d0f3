//! [`NameHasher`]: the seeded short-key hash of the per-thread name caches.
//!
//! `SipHash` (std's default) costs ~15 ns for a three-byte name here, more than the rest of a
//! registry call together. This is a folded-multiply hash (the construction of foldhash and of
//! ahash's fallback): a name of up to 16 bytes is read as two overlapping words, mixed with a
//! 128-bit per-registry secret in one 64x64->128 multiply. It is keyed, so which names collide
//! depends on a secret drawn from the OS (through std's `RandomState`) for every registry: a
//! client choosing names cannot aim at collisions without it. It is not a cryptographic PRF like
//! `SipHash`, which is why only the caches use it: the registry's own name map, which every name a
//! client ever sent lands in, keeps `SipHash`.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

/// One registry's secret, and the hash it keys.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NameHasher {
    seed: [u64; 2],
}

/// A name as the index compares it: its length and two words that, for a name of at most 16
/// bytes, hold every byte of it (so two such names are equal exactly when their keys are).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Key {
    pub(crate) lo: u64,
    pub(crate) hi: u64,
    pub(crate) len: usize,
}

impl Key {
    /// The key of a name of up to 16 bytes: its bytes as they are (no secret needed, nothing
    /// to multiply), read as two overlapping words.
    #[inline]
    pub(crate) fn short(name: &str) -> Option<Key> {
        let bytes = name.as_bytes();
        let len = bytes.len();
        let (lo, hi) = if len > 16 {
            return None;
        } else if len >= 8 {
            (word(bytes), word(&bytes[len - 8..]))
        } else if len >= 4 {
            (half(bytes), half(&bytes[len - 4..]))
        } else if len > 0 {
            let packed = u64::from(bytes[0])
                | u64::from(bytes[len / 2]) << 8
                | u64::from(bytes[len - 1]) << 16;
            (packed, 0)
        } else {
            (0, 0)
        };
        Some(Key { lo, hi, len })
    }

    /// Whether comparing keys is comparing names: names of up to 16 bytes.
    #[inline]
    pub(crate) fn is_exact(&self) -> bool {
        self.len <= 16
    }
}

impl NameHasher {
    /// A fresh secret from the OS-seeded `RandomState` (no dependency, no `unsafe`).
    pub(crate) fn random() -> Self {
        let state = RandomState::new();
        NameHasher {
            seed: [
                state.hash_one(0x243f_6a88_85a3_08d3_u64),
                state.hash_one(0x1319_8a2e_0370_7344_u64),
            ],
        }
    }

    /// The words a name is compared and hashed by (the secret enters only a long name's).
    #[inline]
    pub(crate) fn key(&self, name: &str) -> Key {
        if let Some(key) = Key::short(name) {
            return key;
        }
        let bytes = name.as_bytes();
        let len = bytes.len();
        let seed = self.seed;
        let mut acc = seed[1];
        let mut rest = bytes;
        while rest.len() > 16 {
            acc = folded_multiply(word(rest) ^ seed[0], word(&rest[8..]) ^ acc);
            rest = &rest[16..];
        }
        Key {
            lo: word(&bytes[len - 16..]) ^ acc,
            hi: word(&bytes[len - 8..]),
            len,
        }
    }

    /// The hash of `key` (of a name of any length), computed apart from the key so that a
    /// lookup that finds its entry without it does not wait for the multiply.
    #[inline]
    pub(crate) fn hash(&self, key: &Key) -> u64 {
        folded_multiply(
            key.lo ^ self.seed[0],
            key.hi ^ self.seed[1] ^ key.len as u64,
        )
    }
}

#[inline]
fn folded_multiply(x: u64, y: u64) -> u64 {
    let full = u128::from(x) * u128::from(y);
    // Truncation intended: the two halves are folded together.
    #[allow(clippy::cast_possible_truncation)]
    let (low, high) = (full as u64, (full >> 64) as u64);
    low ^ high
}

#[inline]
fn word(bytes: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(w)
}

#[inline]
fn half(bytes: &[u8]) -> u64 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&bytes[..4]);
    u64::from(u32::from_le_bytes(w))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn hash(h: &NameHasher, name: &str) -> u64 {
        h.hash(&h.key(name))
    }

    #[test]
    fn every_length_hashes_every_byte() {
        let h = NameHasher::random();
        for len in 0..64 {
            let base = "x".repeat(len);
            let mut seen = HashSet::new();
            assert!(seen.insert(hash(&h, &base)));
            for i in 0..len {
                let mut changed = base.clone().into_bytes();
                changed[i] = b'y';
                let changed = String::from_utf8(changed).unwrap();
                assert!(
                    seen.insert(hash(&h, &changed)),
                    "len {len}: byte {i} ignored"
                );
            }
        }
    }

    #[test]
    fn short_keys_are_exact_and_long_ones_are_not() {
        let h = NameHasher::random();
        let names = [
            "",
            "a",
            "ab",
            "aba",
            "abc",
            "abcd",
            "abcde",
            "abcdefgh",
            "abcdefghijklmnop",
        ];
        for a in names {
            assert!(h.key(a).is_exact());
            for b in names {
                assert_eq!(h.key(a) == h.key(b), a == b, "{a:?} vs {b:?}");
            }
        }
        assert!(!h.key("abcdefghijklmnopq").is_exact());
    }

    #[test]
    fn two_registries_hash_differently() {
        let (a, b) = (NameHasher::random(), NameHasher::random());
        assert_ne!(hash(&a, "payments"), hash(&b, "payments"));
        assert_eq!(hash(&a, "payments"), hash(&a, "payments"));
    }

    #[test]
    fn similar_names_spread_over_buckets() {
        let h = NameHasher::random();
        let buckets: HashSet<u64> = (0..10_000)
            .map(|i| hash(&h, &format!("svc-{i}")) & 0xFFFF)
            .collect();
        assert!(buckets.len() > 8_000, "{} of 10000", buckets.len());
    }
}
