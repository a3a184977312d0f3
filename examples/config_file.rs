//! Loads a registry from `protego.toml` (or the file named on the command line), prints what
//! it got, and shows how a bad file is reported.
//!
//! ```sh
//! cargo run --example config_file --features serde
//! cargo run --example config_file --features serde -- my-breakers.toml
//! ```

use protego_breaker::integrations::serde::RegistryConfig;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "protego.toml".to_owned());
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    let config: RegistryConfig = toml::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
    let registry = config.registry();

    println!(
        "default: {}",
        serde_json::to_string(config.default_config())?
    );
    for (name, metrics) in registry.metrics() {
        let cfg = registry.get(&name).expect("listed").config();
        println!(
            "{name} ({}): {}",
            metrics.state,
            serde_json::to_string(&cfg)?
        );
    }

    let typo = "[breakers.db]\nfailure_treshold = 3\n";
    println!(
        "\na typo is an error that names the key:\n{}",
        toml::from_str::<RegistryConfig>(typo).unwrap_err()
    );
    let bad = "[breakers.db]\nreset_timeout = \"0s\"\n";
    println!(
        "so is a bad value:\n{}",
        toml::from_str::<RegistryConfig>(bad).unwrap_err()
    );
    Ok(())
}
