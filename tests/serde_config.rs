//! Configs from files (`serde` feature): human durations, every knob round-tripping, errors
//! that name the key, and a registry read from a file with a `default` section.
#![cfg(feature = "serde")]

use std::time::Duration;

use protego_breaker::integrations::serde::RegistryConfig;
use protego_breaker::{Config, Window};

/// `d` written into a config file and read back, as a window's length (any duration, zero
/// included) and as `reset_timeout` (any but zero).
fn through_a_config(d: Duration) -> (Duration, Option<Duration>) {
    let window = Window::Time {
        length: d,
        buckets: 1,
    };
    let text = serde_json::to_string(&window).unwrap();
    let Window::Time { length, .. } = serde_json::from_str(&text).unwrap() else {
        panic!("{text} read back as another window");
    };
    let timeout = (!d.is_zero()).then(|| {
        let config = Config::builder().reset_timeout(d).build().unwrap();
        let text = toml::to_string(&config).unwrap();
        toml::from_str::<Config>(&text).unwrap().reset_timeout()
    });
    (length, timeout)
}

/// The error for `reset_timeout = "<text>"`.
fn reset_timeout_error(text: &str) -> String {
    let json = serde_json::json!({ "reset_timeout": text }).to_string();
    serde_json::from_str::<Config>(&json)
        .expect_err(&json)
        .to_string()
}

#[test]
fn durations_round_trip() {
    for d in [
        Duration::ZERO,
        Duration::from_nanos(1),
        Duration::from_micros(1500),
        Duration::from_millis(250),
        Duration::from_millis(90_500),
        Duration::from_secs(59),
        Duration::from_secs(3_600 * 25 + 61),
        Duration::from_secs(86_400 * 400),
        Duration::new(7, 123_456_789),
        Duration::MAX,
    ] {
        let (length, timeout) = through_a_config(d);
        assert_eq!(length, d, "{d:?}");
        assert!(
            timeout.is_none() || timeout == Some(d),
            "{d:?}: {timeout:?}"
        );
    }
}

#[test]
fn durations_are_read_with_or_without_spaces_and_in_fractions() {
    for (text, expected) in [
        ("1m30s500ms", Duration::from_millis(90_500)),
        ("1m 30s 500ms", Duration::from_millis(90_500)),
        ("1h30m", Duration::from_secs(5_400)),
        ("30s", Duration::from_secs(30)),
        ("500ms", Duration::from_millis(500)),
        ("10µs", Duration::from_micros(10)),
        ("10us", Duration::from_micros(10)),
        ("1.5s", Duration::from_millis(1500)),
        ("2d", Duration::from_secs(2 * 86_400)),
    ] {
        let config: Config = toml::from_str(&format!("reset_timeout = {text:?}")).unwrap();
        assert_eq!(config.reset_timeout(), expected, "{text}");
    }
}

#[test]
fn bad_durations_are_refused_naming_the_key() {
    for (bad, says) in [
        ("", "value was empty"),
        ("30", "time unit needed"),
        ("3 fortnights", "unknown time unit \"fortnights\""),
        ("s", "expected number"),
        ("1x", "unknown time unit \"x\""),
        ("-1s", "cannot be negative"),
        ("99999999999999999999d", "too large"),
        // humantime 2.4 panics on these (chronotope/humantime#66): refused before it sees them.
        ("18446744073709551615s 1000ms", "too large"),
        ("18446744073709551615s 999999999ns 1ns", "too large"),
    ] {
        let err = reset_timeout_error(bad);
        assert!(err.starts_with("reset_timeout: "), "{bad:?}: {err}");
        assert!(err.contains(says), "{bad:?}: {err}");
    }
}

#[test]
fn every_knob_round_trips_through_json_and_toml() {
    let full = Config::builder()
        .failure_threshold(4)
        .reset_timeout(Duration::from_millis(1500))
        .half_open_retries(3)
        .backoff_multiplier(1.5)
        .max_reset_timeout(Duration::from_secs(600))
        .jitter(0.25)
        .jitter_seed(9)
        .window(Window::Time {
            length: Duration::from_secs(60),
            buckets: 6,
        })
        .failure_rate_threshold(40)
        .minimum_calls(5)
        .slow_call_duration(Duration::from_secs(2))
        .slow_call_rate_threshold(70)
        .totals(true)
        .build()
        .unwrap();
    let json = serde_json::to_string(&full).unwrap();
    assert_eq!(serde_json::from_str::<Config>(&json).unwrap(), full);
    let toml_text = toml::to_string(&full).unwrap();
    assert_eq!(toml::from_str::<Config>(&toml_text).unwrap(), full);
}

#[test]
fn errors_name_the_key() {
    let cases = [
        (
            r#"{"failure_threshold": "three"}"#,
            "failure_threshold: invalid type",
        ),
        (r#"{"reset_timeout": 30}"#, "reset_timeout: invalid type"),
        (
            r#"{"reset_timeout": "3 fortnights"}"#,
            "reset_timeout: invalid duration \"3 fortnights\": unknown time unit",
        ),
        (
            r#"{"jitter": 2.0}"#,
            "jitter must be a fraction from 0 to 1",
        ),
        (r#"{"window": {"count": 0}}"#, "window must hold"),
        (r#"{"window": {"buckets": 3}}"#, "window: give either"),
        (
            r#"{"failure_threshhold": 3}"#,
            "unknown field `failure_threshhold`",
        ),
    ];
    for (json, expected) in cases {
        let err = serde_json::from_str::<Config>(json)
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{json}: {err}");
    }
}

#[test]
fn named_breakers_inherit_the_default_section() {
    let file = r#"
        [default]
        failure_threshold = 7
        reset_timeout = "5s"
        [breakers.a]
        reset_timeout = "9s"
        [breakers.b]
    "#;
    let config: RegistryConfig = toml::from_str(file).unwrap();
    let registry = config.registry_with_clock(protego_breaker::ManualClock::new());
    let a = registry.get("a").unwrap().config();
    assert_eq!(
        (a.failure_threshold(), a.reset_timeout()),
        (7, Duration::from_secs(9))
    );
    let b = registry.get("b").unwrap().config();
    assert_eq!(
        (b.failure_threshold(), b.reset_timeout()),
        (7, Duration::from_secs(5))
    );
    assert_eq!(registry.default_config().failure_threshold(), 7);
    assert!(toml::from_str::<RegistryConfig>("[breaker.a]")
        .unwrap_err()
        .to_string()
        .contains("unknown field `breaker`"));
}

#[test]
fn applying_a_file_updates_breakers_in_place() {
    let registry = protego_breaker::Registry::with_clock(protego_breaker::ManualClock::new());
    let db = registry.get_or_create("db");
    db.force_open();
    let config: RegistryConfig = toml::from_str("[breakers.db]\nfailure_threshold = 9").unwrap();
    config.apply(&registry);
    assert!(std::sync::Arc::ptr_eq(&db, &registry.get("db").unwrap()));
    assert_eq!(db.config().failure_threshold(), 9);
    assert_eq!(db.state(), protego_breaker::State::ForcedOpen, "state kept");
}
