//! A breaker's knobs: [`Config`] and its validating [`ConfigBuilder`], both made from the one
//! list in `knobs.rs`, and the failure-rate [`Window`] a config may name.
//!
//! ```
//! use std::time::Duration;
//! use protego_breaker::{Config, ConfigBuilder, Window};
//!
//! let builder: ConfigBuilder = Config::builder().window(Window::Count(20));
//! let config = builder.reset_timeout(Duration::from_secs(10)).build()?;
//! assert_eq!(config.window(), Some(Window::Count(20)));
//! # Ok::<(), protego_breaker::ConfigError>(())
//! ```

pub(crate) mod knobs;

use std::hash::{Hash, Hasher};
use std::time::Duration;

use crate::error::ConfigError;
use crate::machine::state::State;
use crate::machine::window::Rules;
pub use crate::machine::window::Window;

/// The knobs' names, as errors and config files spell them: `knob::failure_threshold`.
#[allow(non_upper_case_globals)]
#[cfg_attr(not(feature = "serde"), allow(dead_code))]
pub(crate) mod knob {
    macro_rules! names {
        ($($name:ident: $ty:ty = $default:expr, set $arg:ty, get { $($get:tt)* } set { $($set:tt)* };)*) => {
            $(pub(crate) const $name: &str = stringify!($name);)*
            /// Every knob, in list order.
            pub(crate) const ALL: &[&str] = &[$($name),*];
        };
    }
    super::knobs::knobs!(names);
}

/// Compares and hashes a knob's value; floats by their bits (they are rounded to thousandths
/// and never NaN once built, so equal values have equal bits).
trait KnobEq {
    fn key(&self) -> u64;
}

impl KnobEq for f64 {
    fn key(&self) -> u64 {
        self.to_bits()
    }
}

macro_rules! define_config {
    ($($name:ident: $ty:ty = $default:expr, set $arg:ty, get { $(#[$get:meta])* } set { $(#[$set:meta])* };)*) => {
        #[derive(Debug, Clone)]
        #[doc = include_str!("config.md")]
        pub struct Config {
            $($name: $ty,)*
        }

        impl Default for Config {
            fn default() -> Self {
                Config { $($name: $default,)* }
            }
        }

        impl PartialEq for Config {
            fn eq(&self, other: &Self) -> bool {
                true $(&& KnobEq::key(&self.$name) == KnobEq::key(&other.$name))*
            }
        }

        impl Eq for Config {}

        impl Hash for Config {
            fn hash<H: Hasher>(&self, state: &mut H) {
                $(KnobEq::key(&self.$name).hash(state);)*
            }
        }

        impl Config {
            $(
                $(#[$get])*
                pub fn $name(&self) -> $ty {
                    self.$name
                }
            )*
        }

        /// Some knobs, each set or not: a section of a config file before it is built.
        #[derive(Debug, Clone, Default)]
        #[cfg_attr(not(feature = "serde"), allow(dead_code))]
        pub(crate) struct Partial {
            $(pub(crate) $name: Option<$ty>,)*
        }

        #[cfg_attr(not(feature = "serde"), allow(dead_code))]
        impl Partial {
            /// Every knob of `config`, set.
            pub(crate) fn of(config: &Config) -> Partial {
                Partial { $($name: Some(config.$name),)* }
            }

            /// Knobs set here win over `base`'s.
            pub(crate) fn over(&self, base: &Partial) -> Partial {
                Partial { $($name: self.$name.or(base.$name),)* }
            }

            /// The defaults with the set knobs on top, checked.
            pub(crate) fn build(&self) -> Result<Config, ConfigError> {
                let mut config = Config::default();
                $(if let Some(value) = self.$name {
                    config.$name = value;
                })*
                ConfigBuilder { config }.build()
            }
        }

        impl ConfigBuilder {
            $(
                $(#[$set])*
                pub fn $name(mut self, value: $arg) -> Self {
                    self.config.$name = value.into();
                    self
                }
            )*
        }
    };
}

/// Values that compare as themselves.
macro_rules! knob_eq_by_value {
    ($($t:ty),*) => {
        $(impl KnobEq for $t {
            fn key(&self) -> u64 {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                self.hash(&mut h);
                h.finish()
            }
        })*
    };
}

knob_eq_by_value!(
    u8,
    u32,
    u64,
    bool,
    State,
    Duration,
    Option<Duration>,
    Option<u64>,
    Option<Window>
);

knobs::knobs!(define_config);

impl Config {
    /// The largest accepted [`half_open_retries`](Config::half_open_retries): 65,535.
    ///
    /// A half-open round keeps its in-flight and succeeded trial counts in one atomic word, 16
    /// bits each; no real service needs more trial calls than this per round.
    ///
    /// ```
    /// use protego_breaker::Config;
    ///
    /// let most = Config::builder()
    ///     .half_open_retries(Config::MAX_HALF_OPEN_RETRIES)
    ///     .build()?;
    /// assert_eq!(most.half_open_retries(), 65_535);
    /// assert!(Config::builder().half_open_retries(65_536).build().is_err());
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub const MAX_HALF_OPEN_RETRIES: u32 = u16::MAX as u32;

    /// A builder starting from the defaults (3, 60 s, 2).
    ///
    /// ```
    /// use std::time::Duration;
    /// use protego_breaker::Config;
    ///
    /// let cfg = Config::builder()
    ///     .failure_threshold(5)
    ///     .reset_timeout(Duration::from_secs(30))
    ///     .half_open_retries(1)
    ///     .build()?;
    /// assert_eq!(cfg.reset_timeout(), Duration::from_secs(30));
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder {
            config: Config::default(),
        }
    }

    /// A builder starting from this config's values, to derive a changed copy.
    ///
    /// ```
    /// use protego_breaker::Config;
    ///
    /// let base = Config::builder().failure_threshold(10).build()?;
    /// let derived = base.to_builder().half_open_retries(4).build()?;
    /// assert_eq!(derived.failure_threshold(), 10);
    /// assert_eq!(derived.half_open_retries(), 4);
    /// # Ok::<(), protego_breaker::ConfigError>(())
    /// ```
    pub fn to_builder(&self) -> ConfigBuilder {
        ConfigBuilder {
            config: self.clone(),
        }
    }

    pub(crate) fn rules(&self) -> Option<Rules> {
        self.window.map(|window| Rules {
            window,
            failure_rate: self.failure_rate_threshold,
            minimum_calls: self.minimum_calls,
            slow_nanos: self
                .slow_call_duration
                .map_or(0, |d| saturating_nanos(d).max(1)),
            slow_rate: self.slow_call_rate_threshold,
        })
    }

    pub(crate) fn backoff_milli(&self) -> u32 {
        to_milli(self.backoff_multiplier)
    }

    pub(crate) fn jitter_milli(&self) -> u32 {
        to_milli(self.jitter)
    }

    pub(crate) fn max_reset_timeout_nanos(&self) -> u64 {
        self.max_reset_timeout.map_or(u64::MAX, saturating_nanos)
    }

    /// How long a half-open round may go undecided, in ns.
    pub(crate) fn max_half_open_nanos(&self) -> u64 {
        saturating_nanos(self.max_half_open_duration.unwrap_or(self.reset_timeout))
    }

    pub(crate) fn reset_timeout_nanos(&self) -> u64 {
        saturating_nanos(self.reset_timeout)
    }
}

/// Builds a [`Config`], checking every knob in [`build`](ConfigBuilder::build).
///
/// Setters never fail; `build` reports the first invalid knob as a [`ConfigError`] that names it
/// and the value given.
///
/// ```
/// use std::time::Duration;
/// use protego_breaker::Config;
///
/// let err = Config::builder().reset_timeout(Duration::ZERO).build().unwrap_err();
/// assert_eq!(err.knob(), "reset_timeout");
/// assert_eq!(err.to_string(), "reset_timeout must be greater than zero, got 0ns");
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct ConfigBuilder {
    config: Config,
}

impl ConfigBuilder {
    /// Checks every knob and returns the config, or the first invalid knob.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the knob, what it must be, and the value given.
    ///
    /// ```
    /// use protego_breaker::Config;
    ///
    /// let err = Config::builder().failure_threshold(0).build().unwrap_err();
    /// assert_eq!(err.to_string(), "failure_threshold must be at least 1, got 0");
    /// assert_eq!(err.knob(), "failure_threshold");
    /// ```
    pub fn build(self) -> Result<Config, ConfigError> {
        let mut c = self.config;
        let fraction = |name: &'static str,
                        value: f64,
                        range: std::ops::RangeInclusive<f64>,
                        expected: &'static str| {
            if range.contains(&value) {
                Ok(f64::from(to_milli(value)) / 1000.0)
            } else {
                Err(ConfigError::new(name, expected, value))
            }
        };
        c.backoff_multiplier = fraction(
            knob::backoff_multiplier,
            c.backoff_multiplier,
            1.0..=1000.0,
            "be a number from 1 to 1000",
        )?;
        c.jitter = fraction(
            knob::jitter,
            c.jitter,
            0.0..=1.0,
            "be a fraction from 0 to 1",
        )?;
        c.check_window()?;
        c.shed_backoff = fraction(
            knob::shed_backoff,
            c.shed_backoff,
            0.001..=0.999,
            "be a fraction above 0 and below 1",
        )?;
        if c.shed_latency_factor != 0.0 {
            c.shed_latency_factor = fraction(
                knob::shed_latency_factor,
                c.shed_latency_factor,
                1.5..=100.0,
                "be 0 (off) or a number from 1.5 to 100",
            )?;
        }
        if c.shed_window < Duration::from_millis(10) || c.shed_window > Duration::from_secs(600) {
            return Err(ConfigError::new(
                knob::shed_window,
                "be from 10 ms to 10 min",
                format!("{:?}", c.shed_window),
            ));
        }
        if c.shed_outage_after.is_zero() {
            return Err(ConfigError::new(
                knob::shed_outage_after,
                "be greater than zero",
                format!("{:?}", c.shed_outage_after),
            ));
        }
        if let Some(max) = c.max_reset_timeout {
            if max < c.reset_timeout {
                return Err(ConfigError::new(
                    knob::max_reset_timeout,
                    format!("be at least reset_timeout ({:?})", c.reset_timeout),
                    format!("{max:?}"),
                ));
            }
        }
        if c.initial_state == State::HalfOpen {
            return Err(ConfigError::new(
                knob::initial_state,
                "be closed, open, forced-open, disabled or metrics-only",
                c.initial_state,
            ));
        }
        if let Some(d) = c.max_half_open_duration {
            if d.is_zero() {
                return Err(ConfigError::new(
                    knob::max_half_open_duration,
                    "be greater than zero",
                    format!("{d:?}"),
                ));
            }
        }
        if c.failure_threshold == 0 {
            return Err(ConfigError::new(
                knob::failure_threshold,
                "be at least 1",
                0,
            ));
        }
        if c.reset_timeout.is_zero() {
            return Err(ConfigError::new(
                knob::reset_timeout,
                "be greater than zero",
                format!("{:?}", c.reset_timeout),
            ));
        }
        if c.half_open_retries == 0 || c.half_open_retries > Config::MAX_HALF_OPEN_RETRIES {
            return Err(ConfigError::new(
                knob::half_open_retries,
                "be from 1 to 65535",
                c.half_open_retries,
            ));
        }
        Ok(c)
    }
}

impl Config {
    fn check_window(&self) -> Result<(), ConfigError> {
        let percent = |name: &'static str, value: u8| {
            if (1..=100).contains(&value) {
                Ok(())
            } else {
                Err(ConfigError::new(
                    name,
                    "be a percentage from 1 to 100",
                    value,
                ))
            }
        };
        percent(knob::failure_rate_threshold, self.failure_rate_threshold)?;
        percent(
            knob::slow_call_rate_threshold,
            self.slow_call_rate_threshold,
        )?;
        let minimum_calls = || {
            ConfigError::new(
                knob::minimum_calls,
                "be at least 1 and at most the window's size",
                format!("{} for {:?}", self.minimum_calls, self.window),
            )
        };
        if self.minimum_calls == 0 {
            return Err(minimum_calls());
        }
        if let Some(duration) = self.slow_call_duration {
            if duration.is_zero() || self.window.is_none() {
                return Err(ConfigError::new(
                    knob::slow_call_duration,
                    "be greater than zero and needs a window",
                    format!("{duration:?}"),
                ));
            }
        }
        let Some(window) = self.window else {
            return Ok(());
        };
        let valid = match window {
            Window::Count(n) => (1..=Window::MAX_COUNT).contains(&n),
            Window::Time { length, buckets } => {
                (1..=Window::MAX_BUCKETS).contains(&buckets)
                    && length / buckets >= Duration::from_millis(1)
            }
        };
        if !valid {
            return Err(ConfigError::new(
                knob::window,
                "hold 1 to 65535 calls, or have 1 to 1000 buckets of at least 1 ms",
                format!("{window:?}"),
            ));
        }
        if let Window::Count(n) = window {
            if self.minimum_calls > n {
                return Err(minimum_calls());
            }
        }
        Ok(())
    }
}

fn to_milli(value: f64) -> u32 {
    // In range by the callers' checks, so the cast neither truncates nor wraps.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let milli = (value * 1000.0).round() as u32;
    milli
}

#[inline]
pub(crate) fn saturating_nanos(d: Duration) -> u64 {
    // In u64 arithmetic: `as_nanos` widens to u128, a slower multiply on every clock read.
    d.as_secs()
        .checked_mul(1_000_000_000)
        .and_then(|n| n.checked_add(u64::from(d.subsec_nanos())))
        .unwrap_or(u64::MAX)
}

#[cfg(all(test, not(protego_loom)))]
mod tests {
    use super::*;

    #[test]
    fn saturating_nanos_agrees_with_u128_arithmetic_and_saturates() {
        let cases = [
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::new(1, 999_999_999),
            Duration::from_nanos(u64::MAX),
            Duration::from_nanos(u64::MAX) + Duration::from_nanos(1),
            Duration::new(u64::MAX / 1_000_000_000, 999_999_999),
            Duration::MAX,
        ];
        for d in cases {
            let wide = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
            assert_eq!(saturating_nanos(d), wide, "{d:?}");
        }
    }
}
