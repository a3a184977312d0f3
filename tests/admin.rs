//! The admin service answered directly (feature `admin`): which status a request gets, in
//! which order the checks are made.
#![cfg(feature = "admin")]

use std::sync::Arc;

use http::Method;
use protego_breaker::integrations::admin::AdminService;
use protego_breaker::{Registry, State};

fn admin(mutations: bool) -> (Arc<Registry>, AdminService) {
    let registry = Arc::new(Registry::new());
    registry.get_or_create("payments");
    let admin = AdminService::new(Arc::clone(&registry)).allow_mutations(mutations);
    (registry, admin)
}

#[test]
fn an_unknown_name_is_404_whether_or_not_state_changes_are_on() {
    for mutations in [false, true] {
        let (registry, admin) = admin(mutations);
        for action in ["close", "force-open", "disable"] {
            let answer = admin.answer(&Method::POST, &format!("/breakers/nobody/{action}"));
            assert_eq!(
                answer.status(),
                404,
                "mutations {mutations}, {action}: {}",
                answer.body()
            );
            assert!(
                answer.body().contains("no breaker by that name"),
                "{}",
                answer.body()
            );
        }
        assert!(
            registry.get("nobody").is_none(),
            "an action makes no breaker"
        );
    }
}

#[test]
fn a_known_name_is_403_when_read_only_and_acted_on_when_allowed() {
    let (registry, read_only) = admin(false);
    let answer = read_only.answer(&Method::POST, "/breakers/payments/force-open");
    assert_eq!(answer.status(), 403, "{}", answer.body());
    assert_eq!(registry.get("payments").unwrap().state(), State::Closed);

    let (registry, allowed) = admin(true);
    let answer = allowed.answer(&Method::POST, "/breakers/payments/force-open");
    assert_eq!(answer.status(), 200, "{}", answer.body());
    assert_eq!(registry.get("payments").unwrap().state(), State::ForcedOpen);
}

#[test]
fn a_malformed_name_is_400_and_an_unknown_action_on_a_known_name_is_400_in_either_mode() {
    for mutations in [false, true] {
        let (_, admin) = admin(mutations);
        let malformed = admin.answer(&Method::POST, "/breakers/bad%zz/close");
        assert_eq!(malformed.status(), 400, "{}", malformed.body());
        let unknown = admin.answer(&Method::POST, "/breakers/payments/explode");
        assert_eq!(unknown.status(), 400, "{}", unknown.body());
    }
}
