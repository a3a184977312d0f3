//! `use protego_breaker::*` must not shadow the crates of the ecosystem that the integrations
//! wrap: after the glob import, `tower`, `http`, `metrics`, `reqwest` and `serde` still name
//! those crates, not this crate's modules of the same name.
#![cfg(all(
    feature = "tower",
    feature = "http",
    feature = "metrics",
    feature = "reqwest",
    feature = "serde"
))]

#[allow(clippy::wildcard_imports)]
use protego_breaker::*;

fn is_layer<L: tower::Layer<()>>(_: &L) {}

fn is_serialize<T: serde::Serialize>(_: &T) {}

#[test]
fn glob_import_leaves_ecosystem_crate_names_alone() {
    // Each line resolves only if the name is the crate itself.
    let _client = reqwest::Client::new();
    let status = http::StatusCode::SERVICE_UNAVAILABLE;
    assert_eq!(status.as_u16(), 503);
    let _key = metrics::Key::from_name("protego");
    is_layer(&tower::layer::util::Identity::new());
    is_serialize(&1_u8);
    // And the first-hour names come from the glob.
    let breaker = Breaker::new(Config::default());
    assert_eq!(breaker.state(), State::Closed);
}
