//! Config validation: every invalid knob is refused with an error naming it and its value.

use std::time::Duration;

use protego_breaker::{Config, ConfigError};

#[test]
fn defaults_are_protegos() {
    let c = Config::default();
    assert_eq!(c.failure_threshold(), 3);
    assert_eq!(c.reset_timeout(), Duration::from_secs(60));
    assert_eq!(c.half_open_retries(), 2);
    assert_eq!(Config::builder().build(), Ok(c));
}

#[test]
fn zero_failure_threshold_is_refused() {
    let err = Config::builder().failure_threshold(0).build().unwrap_err();
    assert_eq!((err.knob(), err.value()), ("failure_threshold", "0"));
    assert_eq!(err.knob(), "failure_threshold");
    assert_eq!(
        err.to_string(),
        "failure_threshold must be at least 1, got 0"
    );
}

#[test]
fn zero_reset_timeout_is_refused() {
    let err = Config::builder()
        .reset_timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(err.value(), "0ns");
    assert_eq!(err.knob(), "reset_timeout");
    assert!(
        err.to_string()
            .starts_with("reset_timeout must be greater than zero"),
        "{err}"
    );
}

#[test]
fn zero_half_open_retries_is_refused() {
    let err = Config::builder().half_open_retries(0).build().unwrap_err();
    assert_eq!((err.knob(), err.value()), ("half_open_retries", "0"));
    assert_eq!(
        err.to_string(),
        "half_open_retries must be from 1 to 65535, got 0"
    );
}

#[test]
fn too_many_half_open_retries_is_refused() {
    let err = Config::builder()
        .half_open_retries(u32::MAX)
        .build()
        .unwrap_err();
    assert_eq!(err.value(), "4294967295");
    assert!(err.to_string().contains("4294967295"), "{err}");
}

#[test]
fn extreme_valid_values_are_accepted() {
    let c = Config::builder()
        .failure_threshold(u32::MAX)
        .reset_timeout(Duration::MAX)
        .half_open_retries(Config::MAX_HALF_OPEN_RETRIES)
        .build()
        .unwrap();
    assert_eq!(c.failure_threshold(), u32::MAX);
    assert_eq!(c.reset_timeout(), Duration::MAX);
    let tiny = Config::builder()
        .failure_threshold(1)
        .reset_timeout(Duration::from_nanos(1))
        .half_open_retries(1)
        .build()
        .unwrap();
    assert_eq!(tiny.reset_timeout(), Duration::from_nanos(1));
}

#[test]
fn the_first_invalid_knob_is_reported() {
    let err = Config::builder()
        .failure_threshold(0)
        .reset_timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(err.knob(), "failure_threshold");
}

#[test]
fn to_builder_starts_from_the_current_values() {
    let base = Config::builder().failure_threshold(7).build().unwrap();
    let derived = base
        .to_builder()
        .reset_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    assert_eq!(derived.failure_threshold(), 7);
    assert_eq!(derived.reset_timeout(), Duration::from_secs(1));
}

#[test]
fn config_error_is_a_std_error() {
    fn takes_error(_: &dyn std::error::Error) {}
    let err: ConfigError = Config::builder().failure_threshold(0).build().unwrap_err();
    takes_error(&err);
}

#[cfg(all(feature = "serde", feature = "fleet"))]
mod fleet_section {
    use std::time::Duration;

    use protego_breaker::fleet::{FleetConfig, Sleep};
    use protego_breaker::integrations::serde::RegistryConfig;

    fn never(_: Duration) -> Sleep {
        Box::pin(std::future::pending())
    }

    #[test]
    fn the_fleet_section_configures_the_fleet_and_round_trips() {
        let file = r#"
            [default]
            failure_threshold = 4

            [fleet]
            url = "redis://127.0.0.1:6379/"
            key_prefix = "shop"
            sentinel_master = "mymaster"
            sentinels = ["redis://10.0.0.1:26379/", "redis://10.0.0.2:26379/"]
            replica_id = "web-1"
            op_timeout = "50ms"
            sync_interval = "2s"
            lease = "5s"
            quorum = 2
            quorum_window = "30s"
            fleet_wide_failures = false
            failure_window = "3s"
        "#;
        let config: RegistryConfig = toml::from_str(file).unwrap();
        let settings = config.fleet().unwrap();
        let fleet = settings.apply(FleetConfig::new(never));
        assert_eq!(fleet.get_replica_id(), "web-1");
        assert_eq!(fleet.get_op_timeout(), Duration::from_millis(50));
        assert_eq!(fleet.get_sync_interval(), Duration::from_secs(2));
        assert_eq!(fleet.get_lease(), Duration::from_secs(5));
        assert_eq!(fleet.get_quorum(), 2);
        assert_eq!(fleet.get_quorum_window(), Duration::from_secs(30));
        assert!(!fleet.get_fleet_wide_failures());
        assert_eq!(fleet.get_failure_window(), Duration::from_secs(3));
        #[cfg(feature = "redis")]
        {
            let redis = settings.redis_config().unwrap();
            assert_eq!(redis.sentinel_master.as_deref(), Some("mymaster"));
            assert_eq!(redis.sentinels.len(), 2);
        }
        let again: RegistryConfig = toml::from_str(&toml::to_string(&config).unwrap()).unwrap();
        assert_eq!(again, config);
        // Redis Cluster: node URLs, no `url` needed.
        let cluster: RegistryConfig = toml::from_str(
            "[fleet]\ncluster_nodes = [\"redis://10.0.0.1:7000/\", \"redis://10.0.0.2:7000/\"]",
        )
        .unwrap();
        assert_eq!(
            cluster
                .fleet()
                .unwrap()
                .cluster_nodes
                .as_ref()
                .unwrap()
                .len(),
            2
        );
        #[cfg(feature = "redis")]
        assert_eq!(
            cluster
                .fleet()
                .unwrap()
                .redis_config()
                .unwrap()
                .cluster_nodes
                .len(),
            2
        );
        let again: RegistryConfig = toml::from_str(&toml::to_string(&cluster).unwrap()).unwrap();
        assert_eq!(again, cluster);
        assert!(toml::from_str::<RegistryConfig>("[default]")
            .unwrap()
            .fleet()
            .is_none());
    }

    #[test]
    fn fleet_section_errors_name_the_key() {
        let err = toml::from_str::<RegistryConfig>("[fleet]\nquroum = 2").unwrap_err();
        assert!(err.to_string().contains("quroum"), "{err}");
        let err = toml::from_str::<RegistryConfig>("[fleet]\nlease = \"soon\"").unwrap_err();
        assert!(err.to_string().contains("fleet.lease"), "{err}");
    }
}
