//! The Lua scripts, one per store operation, and the arguments they take.
//!
//! Every script is `lua/common.lua` (the key layout, argument checks, loading and saving the
//! state, the one transition function that moves the epoch and publishes the change) followed
//! by the operation's own file. Each runs atomically on the server, so one operation is one
//! round trip and no replica ever sees half of another's write. The scripts are built once per
//! process; the `redis` crate sends them by hash and loads them again when the server answers
//! `NOSCRIPT`. Durations cross as whole milliseconds clamped to [`MAX_MS`], the bound the scripts
//! clamp to as well, so any duration stays exact in their arithmetic (Lua numbers are doubles).

use std::sync::OnceLock;
use std::time::Duration;

use redis::Script;

/// Longest duration sent to a script (1e15 ms, ~31,700 years); longer ones are clamped.
pub const MAX_MS: u64 = 1_000_000_000_000_000;

/// `d` in whole milliseconds, clamped to [`MAX_MS`].
pub(super) fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).min(MAX_MS)
}

/// One script per store operation.
pub(super) struct Scripts {
    pub(super) read: Script,
    pub(super) trip: Script,
    pub(super) failures: Script,
    pub(super) acquire: Script,
    pub(super) report: Script,
    pub(super) manual: Script,
}

macro_rules! lua {
    ($file:literal) => {
        concat!(
            include_str!("lua/common.lua"),
            "\n",
            include_str!(concat!("lua/", $file))
        )
    };
}

/// The scripts, built on first use.
pub(super) fn scripts() -> &'static Scripts {
    static SCRIPTS: OnceLock<Scripts> = OnceLock::new();
    SCRIPTS.get_or_init(|| Scripts {
        read: Script::new(lua!("read.lua")),
        trip: Script::new(lua!("trip.lua")),
        failures: Script::new(lua!("failures.lua")),
        acquire: Script::new(lua!("acquire.lua")),
        report: Script::new(lua!("report.lua")),
        manual: Script::new(lua!("manual.lua")),
    })
}

/// A script argument.
#[derive(Clone, Copy)]
pub(super) enum Arg<'a> {
    Int(u64),
    Str(&'a str),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_clamp() {
        assert_eq!(ms(Duration::MAX), MAX_MS);
        assert_eq!(ms(Duration::from_millis(5)), 5);
    }
}
