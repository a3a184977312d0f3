//! Configs from files (feature `serde`): [`Config`](crate::Config) and
//! [`Window`](crate::Window) serialize and deserialize with human durations (`"30s"`,
//! `"1m30s"`, `"250ms"`, see [Durations](#durations)), and a [`RegistryConfig`] holds named
//! breakers with a `default` section they inherit from, like Resilience4j's instances.
//!
//! Every key is optional (unset keys keep their defaults), unknown keys are errors, and every
//! error names the key it is about. Bring your own format crate:
//!
//! ```
//! use protego_breaker::integrations::serde::RegistryConfig;
//! use protego_breaker::State;
//!
//! let file = r#"
//!     [default]
//!     failure_threshold = 5
//!     reset_timeout = "30s"
//!
//!     [breakers.payments]
//!     reset_timeout = "1m"
//!     window = { count = 100 }
//!     failure_rate_threshold = 25
//!
//!     [breakers.search]
//!     half_open_retries = 1
//! "#;
//! let config: RegistryConfig = toml::from_str(file)?;
//! let registry = config.registry();
//! let payments = registry.get("payments").unwrap().config();
//! assert_eq!(payments.failure_threshold(), 5); // from [default]
//! assert_eq!(payments.reset_timeout(), std::time::Duration::from_secs(60));
//! assert_eq!(registry.get_or_create("other").config().failure_threshold(), 5);
//!
//! let bad = toml::from_str::<RegistryConfig>("[breakers.db]\nfailure_treshold = 3").unwrap_err();
//! assert!(bad.to_string().contains("failure_treshold"), "{bad}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Durations
//! Read and written by the [`humantime`](https://docs.rs/humantime) crate. A duration is
//! numbers with units, the parts with or without spaces between them: `"30s"`, `"1m30s500ms"`,
//! `"1h 30m"`, `"250ms"`, `"1.5s"`. The units: `ns`; `us` or `µs`; `ms`; `s` (or `sec`,
//! `seconds`); `m` (or `min`, `minutes`); `h` (or `hr`, `hours`); `d` (or `days`); `w` (or
//! `weeks`); `M` (or `months`: 30.44 days); `y` (or `years`: 365.25 days). A number without a
//! unit is an error (`"0"` excepted), and so is a negative duration or one past
//! [`Duration::MAX`](std::time::Duration::MAX); the error names the key.
//!
//! A config is written the way `humantime` formats durations, the parts separated by spaces
//! (90.5 s is `"1m 30s 500ms"`, a year `"1year"`); what is written reads back to the same
//! duration.
//!
//! ```
//! use std::time::Duration;
//! use protego_breaker::Config;
//!
//! let cfg: Config = toml::from_str(r#"reset_timeout = "1m30s500ms""#)?;
//! assert_eq!(cfg.reset_timeout(), Duration::from_millis(90_500));
//! let written = toml::to_string(&cfg)?;
//! assert!(written.contains(r#"reset_timeout = "1m 30s 500ms""#), "{written}");
//! assert_eq!(toml::from_str::<Config>(&written)?, cfg);
//!
//! let err = toml::from_str::<Config>(r#"reset_timeout = "30""#).unwrap_err();
//! assert!(err.message().starts_with(r#"reset_timeout: invalid duration "30": time unit needed"#), "{err}");
//! let err = toml::from_str::<Config>(r#"reset_timeout = "3 fortnights""#).unwrap_err();
//! assert!(err.message().contains(r#"unknown time unit "fortnights""#), "{err}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod duration;
#[cfg(feature = "fleet")]
mod fleet_section;
mod registry_file;
mod section;
mod values;

pub use crate::integrations::snapshot::{BreakerSnapshot, RegistrySnapshot};
pub use registry_file::RegistryConfig;
