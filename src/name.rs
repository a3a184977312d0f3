//! [`Name`]: a breaker's name as a [`Rejected`](crate::Rejected) carries it.

use std::fmt;
use std::sync::Arc;

/// Names up to this many bytes are copied into each rejection.
const INLINE: usize = 15;

/// The bytes of a short name and, in the last byte, its length; word-aligned, so copying a
/// rejection moves the tag and two whole words. (With a length byte next to the tag, the copy
/// is made of overlapping 4-byte pieces, and reading them back stalls store forwarding:
/// measured +2.5 ns per rejection.)
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(align(8))]
pub(crate) struct Bytes([u8; INLINE + 1]);

/// A breaker's name, made once when the breaker is named and copied into every rejection.
///
/// A short name is copied byte for byte: cloning the breaker's `Arc<str>` instead would write
/// its reference count on every rejection, one cache line that every thread rejected by an
/// open circuit then fights over. Names longer than [`INLINE`] bytes are shared (and pay that
/// write).
#[derive(Clone, PartialEq, Eq, Default)]
pub(crate) enum Name {
    #[default]
    None,
    Inline(Bytes),
    Shared(Arc<str>),
}

impl Name {
    pub(crate) fn new(name: Option<&Arc<str>>) -> Self {
        let Some(name) = name else {
            return Name::None;
        };
        match u8::try_from(name.len()) {
            Ok(len) if name.len() <= INLINE => {
                let mut bytes = [0; INLINE + 1];
                bytes[..name.len()].copy_from_slice(name.as_bytes());
                bytes[INLINE] = len;
                Name::Inline(Bytes(bytes))
            }
            _ => Name::Shared(Arc::clone(name)),
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Name::None => None,
            // Copied whole from a `str`, so always valid; `""` would only hide a bug.
            Name::Inline(Bytes(bytes)) => {
                std::str::from_utf8(&bytes[..usize::from(bytes[INLINE])]).ok()
            }
            Name::Shared(name) => Some(name),
        }
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_copied_and_long_ones_shared() {
        let short: Arc<str> = Arc::from("payments");
        let name = Name::new(Some(&short));
        assert!(matches!(name, Name::Inline(_)));
        assert_eq!(Arc::strong_count(&short), 1, "no reference taken");
        assert_eq!(name.as_str(), Some("payments"));

        let edge: Arc<str> = Arc::from("abcdefghijklmnó"); // 16 bytes: shared
        assert_eq!(Name::new(Some(&edge)).as_str(), Some(&*edge));
        let fits: Arc<str> = Arc::from("abcdefghijklmó"); // 15 bytes: inline
        assert!(matches!(Name::new(Some(&fits)), Name::Inline(_)));
        assert_eq!(Name::new(Some(&fits)).as_str(), Some(&*fits));

        let long: Arc<str> = Arc::from("x".repeat(INLINE + 1).as_str());
        let name = Name::new(Some(&long));
        assert!(matches!(name, Name::Shared(_)));
        assert_eq!(name.as_str(), Some(&*long));
        assert_eq!(Name::new(None).as_str(), None);
        assert_eq!(
            format!("{:?}", Name::new(Some(&short))),
            "Some(\"payments\")"
        );
    }
}
