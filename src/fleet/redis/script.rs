//! The Lua scripts, one per store operation, and the arguments they take.
//!
//! Every script is `lua/common.lua` (the key layout, argument checks, loading and saving the
//! state, the one transition function that moves the epoch and publishes the change) followed
//! by the operation's own file. Each runs atomically on the server, so one operation is one
//! round trip and no replica ever sees half of another's write. The scripts are built once per
//! process and sent by hash (`EVALSHA`); a node that answers `NOSCRIPT` (restarted, flushed, a
//! new cluster node, a promoted replica) gets the whole script once (`EVAL`, which also caches
//! it there), on the same node, so the fallback never depends on reaching any other node. Durations cross as whole milliseconds clamped to [`MAX_MS`], the bound the scripts
//! clamp to as well, so any duration stays exact in their arithmetic (Lua numbers are doubles).

use std::sync::OnceLock;
use std::time::Duration;

/// One script: its text and its SHA-1 (what `EVALSHA` names it by).
pub(super) struct Lua {
    pub(super) code: &'static str,
    pub(super) hash: String,
}

impl Lua {
    fn new(code: &'static str) -> Self {
        Self {
            code,
            hash: redis::Script::new(code).get_hash().to_owned(),
        }
    }
}

/// Longest duration sent to a script (1e15 ms, ~31,700 years); longer ones are clamped.
pub const MAX_MS: u64 = 1_000_000_000_000_000;

/// `d` in whole milliseconds, clamped to [`MAX_MS`].
pub(super) fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).min(MAX_MS)
}

/// One script per store operation.
pub(super) struct Scripts {
    pub(super) read: Lua,
    pub(super) trip: Lua,
    pub(super) failures: Lua,
    pub(super) acquire: Lua,
    pub(super) report: Lua,
    pub(super) manual: Lua,
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
        read: Lua::new(lua!("read.lua")),
        trip: Lua::new(lua!("trip.lua")),
        failures: Lua::new(lua!("failures.lua")),
        acquire: Lua::new(lua!("acquire.lua")),
        report: Lua::new(lua!("report.lua")),
        manual: Lua::new(lua!("manual.lua")),
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
