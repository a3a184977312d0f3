//! Bad input, generated: arbitrary text as a config's duration and arbitrary TOML documents to
//! `RegistryConfig`. Never a panic; every error names the key it is about and says what was
//! wrong; a valid file round-trips through serialize and parse unchanged.
#![cfg(feature = "serde")]

use std::time::Duration;

use proptest::prelude::*;
use protego_breaker::integrations::serde::RegistryConfig;
use protego_breaker::Config;
use toml::{Table, Value};

const KNOBS: &[&str] = &[
    "failure_threshold",
    "reset_timeout",
    "half_open_retries",
    "backoff_multiplier",
    "max_reset_timeout",
    "jitter",
    "jitter_seed",
    "window",
    "failure_rate_threshold",
    "minimum_calls",
    "slow_call_duration",
    "slow_call_rate_threshold",
    "totals",
];

/// Text that looks like a duration more often than chance would make it.
fn duration_text() -> impl Strategy<Value = String> {
    let unit = prop::sample::select(vec![
        "d", "h", "m", "s", "ms", "us", "µs", "ns", "", " ", ".", "sec", "M", "-", "é",
    ]);
    let number = prop_oneof![
        (0u64..10_000).prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        Just("99999999999999999999999".to_owned()),
        Just("-5".to_owned()),
        Just("1.5".to_owned()),
        Just(String::new()),
    ];
    prop_oneof![
        prop::collection::vec((number, unit), 0..5).prop_map(|parts| {
            parts.into_iter().fold(String::new(), |mut text, (n, u)| {
                text.push_str(&n);
                text.push_str(u);
                text
            })
        }),
        ".*",
    ]
}

/// Any TOML value, tables nested up to `depth` deep.
fn any_value(depth: u32) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(Value::Integer),
        prop_oneof![
            any::<f64>(),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(-0.5),
            Just(0.5),
            Just(1.5)
        ]
        .prop_map(Value::Float),
        any::<bool>().prop_map(Value::Boolean),
        duration_text().prop_map(Value::String),
        (0u32..5000).prop_map(|n| Value::String(format!("{n}ms"))),
    ];
    leaf.prop_recursive(depth, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..4)
                .prop_map(|m| Value::Table(m.into_iter().collect())),
        ]
    })
}

/// Keys: mostly real knob and section names, some misspelt or unknown.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(KNOBS).prop_map(str::to_owned),
        1 => prop::sample::select(vec!["default", "breakers", "count", "time", "buckets"])
            .prop_map(str::to_owned),
        1 => "[a-z_]{1,12}",
    ]
}

/// A valid value for each knob, as a file would write it.
fn valid_knob() -> impl Strategy<Value = (&'static str, Value)> {
    let ms = |lo: u64, hi: u64| (lo..hi).prop_map(|n| Value::String(format!("{n}ms")));
    prop_oneof![
        (1i64..100).prop_map(|n| ("failure_threshold", Value::Integer(n))),
        ms(1, 600_000).prop_map(|v| ("reset_timeout", v)),
        ms(600_000, 6_000_000).prop_map(|v| ("max_reset_timeout", v)),
        (1i64..10).prop_map(|n| ("half_open_retries", Value::Integer(n))),
        (1000u32..4000).prop_map(|m| ("backoff_multiplier", Value::Float(f64::from(m) / 1000.0))),
        (0u32..=1000).prop_map(|m| ("jitter", Value::Float(f64::from(m) / 1000.0))),
        (0i64..i64::MAX).prop_map(|n| ("jitter_seed", Value::Integer(n))),
        (1i64..1000).prop_map(|n| (
            "window",
            Value::Table(Table::from_iter([("count".to_owned(), Value::Integer(n))]))
        )),
        (1u64..10, 1i64..10).prop_map(|(s, b)| (
            "window",
            Value::Table(Table::from_iter([
                ("time".to_owned(), Value::String(format!("{s}s"))),
                ("buckets".to_owned(), Value::Integer(b)),
            ]))
        )),
        (1i64..=100).prop_map(|n| ("failure_rate_threshold", Value::Integer(n))),
        (1i64..1000).prop_map(|n| ("minimum_calls", Value::Integer(n))),
        ms(1, 60_000).prop_map(|v| ("slow_call_duration", v)),
        (1i64..=100).prop_map(|n| ("slow_call_rate_threshold", Value::Integer(n))),
        any::<bool>().prop_map(|b| ("totals", Value::Boolean(b))),
    ]
}

fn valid_section() -> impl Strategy<Value = Table> {
    prop::collection::vec(valid_knob(), 0..6)
        .prop_map(|knobs| knobs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

fn valid_file() -> impl Strategy<Value = Table> {
    (
        valid_section(),
        prop::collection::btree_map("[a-z][a-z0-9-]{0,10}", valid_section(), 0..4),
    )
        .prop_map(|(default, breakers)| {
            let mut file = Table::new();
            file.insert("default".to_owned(), Value::Table(default));
            file.insert(
                "breakers".to_owned(),
                Value::Table(
                    breakers
                        .into_iter()
                        .map(|(n, t)| (n, Value::Table(t)))
                        .collect(),
                ),
            );
            file
        })
}

/// A value of the wrong type or out of range for `knob`.
fn wrong_value(knob: &'static str) -> BoxedStrategy<Value> {
    let wrong_type = prop_oneof![
        Just(Value::Array(vec![])),
        Just(Value::Table(Table::new())),
        Just(Value::Boolean(true)),
    ];
    match knob {
        "reset_timeout" | "max_reset_timeout" | "slow_call_duration" => prop_oneof![
            wrong_type,
            any::<i64>().prop_map(Value::Integer),
            Just(Value::String("-5s".to_owned())),
            Just(Value::String("3 fortnights".to_owned())),
            Just(Value::String("30".to_owned())),
            Just(Value::String("99999999999999999999d".to_owned())),
        ]
        .boxed(),
        "totals" => prop_oneof![Just(Value::Integer(1)), Just(Value::String("yes".into()))].boxed(),
        "jitter_seed" => prop_oneof![
            wrong_type,
            Just(Value::Integer(-1)),
            Just(Value::Float(2.5)),
            Just(Value::String("3".to_owned())),
        ]
        .boxed(),
        "backoff_multiplier" | "jitter" => prop_oneof![
            Just(Value::String("1".to_owned())),
            Just(Value::Float(f64::NAN)),
            Just(Value::Float(-1.0)),
            Just(Value::Float(f64::INFINITY)),
            Just(Value::Float(5000.0)),
        ]
        .boxed(),
        "window" => prop_oneof![
            Just(Value::Integer(5)),
            Just(Value::Table(Table::from_iter([(
                "count".to_owned(),
                Value::Integer(-1)
            )]))),
            Just(Value::Table(Table::from_iter([(
                "time".to_owned(),
                Value::Table(Table::new())
            )]))),
        ]
        .boxed(),
        _ => prop_oneof![
            wrong_type,
            Just(Value::Integer(-1)),
            Just(Value::Integer(i64::MAX)),
            Just(Value::Float(2.5)),
            Just(Value::String("3".to_owned())),
        ]
        .boxed(),
    }
}

fn parse(file: &Table) -> Result<RegistryConfig, toml::de::Error> {
    let text = toml::to_string(file).expect("a toml table serializes");
    toml::from_str(&text)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_duration_text_is_read_or_refused_naming_the_key_and_what_is_read_prints_back(text in duration_text()) {
        let json = serde_json::json!({ "reset_timeout": text }).to_string();
        match serde_json::from_str::<Config>(&json) {
            Ok(config) => {
                let written = toml::to_string(&config).expect("serializes");
                prop_assert_eq!(toml::from_str::<Config>(&written).expect("reads its own output"), config);
            }
            Err(e) => prop_assert!(e.to_string().starts_with("reset_timeout"), "{}: {}", json, e),
        }
    }

    #[test]
    fn every_duration_is_written_and_read_back(secs in any::<u64>(), nanos in 0u32..1_000_000_000) {
        let d = Duration::new(secs, nanos).max(Duration::from_nanos(1)); // zero is no timeout
        let config = Config::builder().reset_timeout(d).build().unwrap();
        let written = toml::to_string(&config).expect("serializes");
        let read: Config = toml::from_str(&written).expect("reads its own output");
        prop_assert_eq!(read.reset_timeout(), d, "{}", written);
    }

    #[test]
    fn any_document_is_read_or_refused_with_a_message(doc in prop::collection::btree_map(key(), any_value(4), 0..5)) {
        let file: Table = doc.into_iter().collect();
        if let Err(e) = parse(&file) {
            prop_assert!(!e.message().is_empty());
        }
    }

    #[test]
    fn a_wrong_value_is_refused_naming_its_section_and_key(
        file in valid_file(),
        knob in prop::sample::select(KNOBS),
        in_breaker in any::<bool>(),
        seed in any::<prop::sample::Index>(),
    ) {
        prop_assume!(parse(&file).is_ok());
        let wrong = wrong_value(knob);
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let mut value = wrong.new_tree(&mut runner).unwrap().current();
        for _ in 0..seed.index(4) {
            value = wrong.new_tree(&mut runner).unwrap().current();
        }
        let mut file = file;
        let section = if in_breaker { "breakers" } else { "default" };
        let path = if in_breaker {
            let breakers = file["breakers"].as_table_mut().unwrap();
            breakers.entry("bad-one").or_insert_with(|| Value::Table(Table::new()));
            breakers["bad-one"].as_table_mut().unwrap().insert(knob.to_owned(), value.clone());
            "breakers.bad-one".to_owned()
        } else {
            file["default"].as_table_mut().unwrap().insert(knob.to_owned(), value.clone());
            section.to_owned()
        };
        let err = parse(&file).expect_err(&format!("{path}.{knob} = {value} was accepted"));
        let message = err.message();
        prop_assert!(message.contains(knob), "{path}.{knob} = {value}: {message}");
        prop_assert!(message.contains(&path), "{path}.{knob} = {value}: {message}");
    }

    #[test]
    fn an_unknown_key_is_refused_by_name(file in valid_file(), unknown in "[a-z]{3,8}_x", in_breaker in any::<bool>()) {
        let mut file = file;
        let section = if in_breaker {
            let breakers = file["breakers"].as_table_mut().unwrap();
            breakers.entry("odd").or_insert_with(|| Value::Table(Table::new()));
            breakers["odd"].as_table_mut().unwrap()
        } else {
            file["default"].as_table_mut().unwrap()
        };
        section.insert(unknown.clone(), Value::Integer(1));
        let err = parse(&file).expect_err("an unknown key was accepted");
        prop_assert!(err.message().contains(&unknown), "{}", err.message());
    }

    #[test]
    fn a_valid_file_round_trips(file in valid_file()) {
        // Some generated knob combinations are invalid together (max below reset, ...): only
        // the ones that are read are required to round-trip.
        if let Ok(config) = parse(&file) {
            let text = toml::to_string(&config).expect("serializes");
            let again: RegistryConfig = toml::from_str(&text).expect("reads its own output");
            prop_assert_eq!(&again, &config);
            prop_assert_eq!(toml::to_string(&again).unwrap(), text);
        }
    }
}

#[test]
fn fractions_are_read_and_negative_durations_say_what_is_wrong() {
    let config: RegistryConfig = toml::from_str("[breakers.db]\nreset_timeout = \"1.5s\"").unwrap();
    assert_eq!(
        config.breakers()["db"].reset_timeout(),
        Duration::from_millis(1500)
    );
    let err =
        toml::from_str::<RegistryConfig>("[breakers.db]\nreset_timeout = \"-5s\"").unwrap_err();
    assert!(
        err.message()
            .starts_with("breakers.db: reset_timeout: a duration cannot be negative"),
        "{}",
        err.message()
    );
}
