//! Configs from files (`serde` feature): human durations, every knob round-tripping, errors
//! that name the key, and a registry read from a file with a `default` section.
#![cfg(feature = "serde")]

use std::time::Duration;

use protego_breaker::integrations::serde::{format_duration, parse_duration, RegistryConfig};
use protego_breaker::{config::Window, Config};

#[test]
fn durations_round_trip() {
    for d in [
        Duration::ZERO,
        Duration::from_nanos(1),
        Duration::from_micros(1500),
        Duration::from_millis(250),
        Duration::from_secs(59),
        Duration::from_secs(3_600 * 25 + 61),
        Duration::new(7, 123_456_789),
        Duration::MAX,
    ] {
        assert_eq!(parse_duration(&format_duration(d)), Ok(d), "{d:?}");
    }
    assert_eq!(parse_duration("10µs"), Ok(Duration::from_micros(10)));
    for bad in [
        "",
        "10",
        "s",
        "1x",
        "1m 30s",
        "-1s",
        "99999999999999999999d",
    ] {
        assert!(parse_duration(bad).is_err(), "{bad:?}");
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
            r#"{"reset_timeout": "30 seconds"}"#,
            "reset_timeout: unknown unit",
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
