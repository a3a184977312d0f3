//! Durations in config files, read and written by `humantime`.

use std::fmt;
use std::time::Duration;

use ::serde::de::{self, Deserializer, Visitor};
use ::serde::{Deserialize, Serialize, Serializer};

/// Reads a duration as a config writes it: `"30s"`, `"1m30s500ms"`, `"1h 30m"`, `"1.5s"`.
///
/// The error says what was wrong and quotes the text; the caller adds the key.
pub(super) fn parse(text: &str) -> Result<Duration, String> {
    if text.trim_start().starts_with('-') {
        return Err(format!("a duration cannot be negative: {text:?}"));
    }
    if may_pass_the_largest_duration(text) {
        return Err(format!("duration too large: {text:?}"));
    }
    humantime::parse_duration(text).map_err(|e| format!("invalid duration {text:?}: {e}"))
}

/// Whether `text` may add up to more than [`Duration::MAX`]. `humantime` 2.4 panics instead of
/// failing on some such sums (chronotope/humantime#66: `"18446744073709551615s 1000ms"`), so
/// they are refused before it sees them.
///
/// An upper bound, never below what `humantime` adds up: each number (plus one if it has a
/// fraction) times its unit, the unit's length taken from `humantime` itself (`"1<unit>"`); a
/// number whose unit `humantime` does not know adds nothing, since `humantime` stops there.
fn may_pass_the_largest_duration(text: &str) -> bool {
    let max = Duration::MAX.as_nanos();
    let mut bound: u128 = 0;
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches(|c: char| !c.is_ascii_digit());
        if rest.is_empty() {
            return false;
        }
        let number_len = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        let after = after.trim_start();
        let unit_len = after
            .find(|c: char| !c.is_ascii_alphabetic() && c != 'µ')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        rest = after;

        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        let whole: u128 = whole.parse().unwrap_or(u128::MAX);
        let count = whole.saturating_add(u128::from(!fraction.is_empty()));
        let Ok(one) = humantime::parse_duration(&format!("1{unit}")) else {
            continue;
        };
        bound = bound.saturating_add(count.saturating_mul(one.as_nanos()));
        if bound > max {
            return true;
        }
    }
}

/// A duration as a config writes it: read by [`parse`], written as `humantime` formats it
/// (`"1m"`, `"1m 30s 500ms"`, `"0s"`), which [`parse`] reads back to the same duration.
pub(super) struct Human(pub(super) Duration);

impl<'de> Deserialize<'de> for Human {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Human;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"30s\", \"1m30s\" or \"250ms\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Human, E> {
                parse(v).map(Human).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

impl Serialize for Human {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_duration(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_past_the_largest_duration_are_refused_before_humantime_sees_them() {
        for text in [
            "18446744073709551615s 1000ms",
            "18446744073709551615s 999999999ns 1ns",
            "18446744073709551615s1000000000ns",
            "584542046091y",
            "99999999999999999999999999999999999999999d",
        ] {
            assert!(may_pass_the_largest_duration(text), "{text}");
            assert!(parse(text).unwrap_err().contains("too large"), "{text}");
        }
    }

    #[test]
    fn the_largest_duration_itself_is_read() {
        let written = humantime::format_duration(Duration::MAX).to_string();
        assert_eq!(parse(&written), Ok(Duration::MAX));
        assert!(!may_pass_the_largest_duration("1h 30m 1.5s 10µs"));
    }
}
