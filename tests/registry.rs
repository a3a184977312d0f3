//! The registry: creation on first use, updates in place that keep state, listing, removal,
//! and futures that can be spawned.

mod common;

use std::sync::{Arc, OnceLock};

use common::*;
use protego_breaker::{Config, Error, ManualClock, ProtectExt, Registry, State};

fn manual_registry() -> (ManualClock, Registry<ManualClock>) {
    let clock = ManualClock::new();
    (clock.clone(), Registry::with_clock(clock))
}

#[test]
fn update_in_place_keeps_instance_state_counts_and_open_period_start() {
    let (clock, registry) = manual_registry();
    let before = registry.breaker("payments", cfg(2, secs(60), 1));
    fail_n(&before, 2);
    clock.advance(secs(15));

    let after = registry.breaker("payments", cfg(4, secs(90), 3));
    assert!(Arc::ptr_eq(&before, &after), "same instance");
    assert_eq!(after.config(), cfg(4, secs(90), 3));
    assert_eq!(after.state(), State::Open, "same state");
    assert_eq!(
        start(&after).err().unwrap().retry_after(),
        Some(secs(75)),
        "same open period start, new reset_timeout"
    );
}

#[test]
fn update_in_place_keeps_the_failure_count() {
    let (_clock, registry) = manual_registry();
    let breaker = registry.breaker("search", cfg(3, secs(60), 1));
    fail_n(&breaker, 2);
    registry.breaker("search", cfg(3, secs(30), 1));
    assert_eq!(breaker.consecutive_failures(), 2);
    fail_n(&breaker, 1);
    assert_eq!(breaker.state(), State::Open);
}

#[test]
fn the_same_config_leaves_the_breaker_alone() {
    let (_clock, registry) = manual_registry();
    let a = registry.breaker("x", cfg(2, secs(5), 1));
    fail_n(&a, 1);
    let b = registry.breaker("x", cfg(2, secs(5), 1));
    assert!(Arc::ptr_eq(&a, &b));
    assert_eq!(b.consecutive_failures(), 1);
}

#[test]
fn new_names_get_the_default_config() {
    let (_clock, registry) = manual_registry();
    assert_eq!(registry.get_or_create("a").config(), Config::default());
    registry.set_default_config(cfg(1, secs(1), 1));
    assert_eq!(registry.get_or_create("b").config(), cfg(1, secs(1), 1));
    assert_eq!(
        registry.get("a").unwrap().config(),
        Config::default(),
        "existing keep theirs"
    );
}

#[test]
fn unknown_names_are_absent_not_errors() {
    let (_clock, registry) = manual_registry();
    assert!(registry.get("nope").is_none());
    assert!(registry.remove("nope").is_none());
    assert!(registry.is_empty());
}

#[test]
fn breakers_are_named_after_their_key() {
    let (_clock, registry) = manual_registry();
    let breaker = registry.breaker("payments", cfg(1, secs(5), 1));
    assert_eq!(breaker.name(), Some("payments"));
    fail_n(&breaker, 1);
    let r = start(&breaker).err().unwrap();
    assert_eq!(r.name(), Some("payments"));
    assert_eq!(r.to_string(), "circuit `payments` is open, retry after 5s");
}

#[test]
fn remove_then_reuse_starts_fresh() {
    let (_clock, registry) = manual_registry();
    let old = registry.breaker("x", cfg(1, secs(5), 1));
    fail_n(&old, 1);
    let removed = registry.remove("x").unwrap();
    assert!(Arc::ptr_eq(&old, &removed));
    assert_eq!(registry.len(), 0);
    assert_eq!(registry.get_or_create("x").state(), State::Closed);
    assert_eq!(
        old.state(),
        State::Open,
        "holders of the removed breaker still see it"
    );
}

#[test]
fn states_lists_every_name_sorted() {
    let (clock, registry) = manual_registry();
    registry.breaker("b", cfg(1, secs(5), 1));
    let a = registry.breaker("a", cfg(1, secs(5), 1));
    registry.get_or_create("c");
    fail_n(&a, 1);
    assert_eq!(
        registry.states(),
        vec![
            ("a".to_string(), State::Open),
            ("b".to_string(), State::Closed),
            ("c".to_string(), State::Closed)
        ]
    );
    clock.advance(secs(5));
    assert_eq!(registry.states()[0], ("a".to_string(), State::HalfOpen));
}

#[test]
fn all_breakers_share_the_registry_clock() {
    let (clock, registry) = manual_registry();
    let a = registry.breaker("a", cfg(1, secs(10), 1));
    let b = registry.breaker("b", cfg(1, secs(10), 1));
    fail_n(&a, 1);
    fail_n(&b, 1);
    clock.advance(secs(10));
    assert_eq!(a.state(), State::HalfOpen);
    assert_eq!(b.state(), State::HalfOpen);
}

#[test]
fn protect_creates_on_first_use_and_reuses_after() {
    let (_clock, registry) = manual_registry();
    registry.set_default_config(cfg(2, secs(5), 1));
    futures::executor::block_on(async {
        let r = async { Err::<(), _>("x") }.protect(&registry, "svc").await;
        assert_eq!(r, Err(Error::Inner("x")));
        let _ = async { Err::<(), _>("x") }.protect(&registry, "svc").await;
        let r = async { Ok::<(), &str>(()) }.protect(&registry, "svc").await;
        assert_eq!(r.unwrap_err().rejected().unwrap().name(), Some("svc"));
    });
    assert_eq!(registry.len(), 1);
}

#[test]
fn protected_future_outlives_a_dropped_registry() {
    let registry = Registry::new();
    let fut = async { Ok::<_, ()>(1) }.protect(&registry, "a");
    drop(registry);
    assert_eq!(futures::executor::block_on(fut), Ok(1));
}

fn global() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::new)
}

#[test]
fn futures_from_a_static_registry_spawn_directly() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let out = rt.block_on(async {
        let task = tokio::spawn(async { Ok::<_, ()>(7) }.protect(global(), "static-spawn"));
        task.await.unwrap()
    });
    assert_eq!(out, Ok(7));
}

#[test]
fn futures_from_an_arc_registry_spawn_inside_async_move() {
    let registry = Arc::new(Registry::new());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let out = rt.block_on(async {
        let reg = Arc::clone(&registry);
        let task =
            tokio::spawn(async move { async { Ok::<_, ()>(8) }.protect(&reg, "arc-spawn").await });
        task.await.unwrap()
    });
    assert_eq!(out, Ok(8));
    assert_eq!(registry.len(), 1);
}

#[test]
fn a_hundred_thousand_names() {
    let (_clock, registry) = manual_registry();
    for i in 0..100_000 {
        registry.get_or_create(&format!("svc-{i}"));
    }
    assert_eq!(registry.len(), 100_000);
    assert_eq!(registry.get("svc-99999").unwrap().name(), Some("svc-99999"));
}

fn protect_now(
    registry: &Registry<ManualClock>,
    name: &str,
    ok: bool,
) -> Result<(), Error<&'static str>> {
    let result = if ok { Ok(()) } else { Err(BOOM) };
    futures::executor::block_on(async move { result }.protect(registry, name))
}

#[test]
fn threads_on_different_stripes_share_one_breaker() {
    let (_clock, registry) = manual_registry();
    registry.breaker("db", cfg(4, secs(60), 1));
    std::thread::scope(|s| {
        for _ in 0..4 {
            // Each thread fails once through its own stripe's handle.
            s.spawn(|| assert!(protect_now(&registry, "db", false).is_err()))
                .join()
                .unwrap();
        }
    });
    assert_eq!(registry.get("db").unwrap().state(), State::Open);
    assert!(protect_now(&registry, "db", true)
        .unwrap_err()
        .is_rejected());
}

#[test]
fn remove_reaches_every_threads_stripe() {
    let (_clock, registry) = manual_registry();
    registry.set_default_config(cfg(1, secs(60), 1));
    let (removed_tx, removed_rx) = std::sync::mpsc::channel();
    let (opened_tx, opened_rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        let registry = &registry;
        s.spawn(move || {
            assert!(protect_now(registry, "db", false).is_err()); // opens "db" on this stripe
            opened_tx.send(()).unwrap();
            removed_rx.recv().unwrap();
            // A stale stripe would still hold the open breaker and reject this call.
            assert_eq!(protect_now(registry, "db", true), Ok(()));
        });
        opened_rx.recv().unwrap();
        let old = registry.remove("db").unwrap();
        assert_eq!(old.state(), State::Open);
        removed_tx.send(()).unwrap();
    });
    assert_eq!(registry.get("db").unwrap().state(), State::Closed);
}

#[test]
fn handles_agree_with_the_map_after_racing_removes() {
    let (_clock, registry) = manual_registry();
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                for _ in 0..2_000 {
                    let _ = protect_now(&registry, "db", true);
                }
            });
        }
        s.spawn(|| {
            for _ in 0..2_000 {
                registry.remove("db");
            }
        });
    });
    let current = registry.get_or_create("db");
    // 128 fresh threads cover every stripe (there are at most 64).
    for _ in 0..128 {
        std::thread::scope(|s| {
            s.spawn(|| {
                let handle = registry.handle("db");
                assert!(
                    Arc::ptr_eq(&handle.to_arc(), &current),
                    "a stripe kept a removed breaker"
                );
            });
        });
    }
}

#[test]
fn a_threads_remembered_handle_is_forgotten_when_the_name_is_removed() {
    let (_clock, registry) = manual_registry();
    let old = registry.handle("db").to_arc();
    let _ = registry.handle("db"); // now served from this thread's cache
    registry.remove("db");
    let new = registry.handle("db").to_arc();
    assert!(
        !Arc::ptr_eq(&old, &new),
        "the cache handed out a removed breaker"
    );
    assert!(Arc::ptr_eq(&new, &registry.get("db").unwrap()));
}

#[test]
fn two_registries_on_one_thread_keep_their_own_breakers() {
    let (_clock, first) = manual_registry();
    let (_clock, second) = manual_registry();
    for _ in 0..3 {
        for (registry, other) in [(&first, &second), (&second, &first)] {
            let mine = registry.handle("db").to_arc();
            assert!(Arc::ptr_eq(&mine, &registry.get("db").unwrap()));
            assert!(!Arc::ptr_eq(&mine, &other.get_or_create("db")));
        }
    }
}

#[test]
fn a_dropped_registrys_breakers_are_freed_by_the_threads_that_used_them() {
    let (_clock, registry) = manual_registry();
    let breaker = Arc::downgrade(&registry.handle("db").to_arc());
    let _ = registry.handle("db");
    drop(registry);
    // This thread's next miss (in any registry) drops the caches of dropped registries.
    let (_clock, other) = manual_registry();
    let _ = other.handle("search");
    assert!(
        breaker.upgrade().is_none(),
        "a thread cache kept the breaker alive"
    );
}

#[test]
fn a_new_registry_never_finds_a_dropped_ones_breakers() {
    // The new registry may well live at the dropped one's address: what tells them apart in a
    // thread's cache is a stamp never given to two registries.
    for _ in 0..10 {
        let (_clock, old) = manual_registry();
        let stale = old.handle("db").to_arc();
        let _ = old.handle("db");
        drop(old);
        let (_clock, new) = manual_registry();
        let found = new.handle("db").to_arc();
        assert!(!Arc::ptr_eq(&stale, &found), "a dropped registry's breaker");
        assert!(Arc::ptr_eq(&found, &new.get("db").unwrap()));
    }
}

#[test]
fn many_names_on_one_thread_each_find_their_own_breaker() {
    let (_clock, registry) = manual_registry();
    let names: Vec<String> = (0..2_000)
        .map(|i| format!("name-{i}-{}", "x".repeat(i % 40)))
        .collect();
    for round in 0..2 {
        for name in &names {
            let handle = registry.handle(name);
            assert_eq!(handle.name(), Some(name.as_str()), "round {round}");
        }
    }
    assert_eq!(registry.len(), names.len());
}

#[test]
fn a_hook_runs_on_existing_breakers_and_on_each_new_one_as_it_is_created() {
    let (_clock, registry) = manual_registry();
    registry.get_or_create("before");
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    registry.on_create(move |breaker| {
        // A breaker the hook sees has served no call yet (or is one that existed before).
        let calls = breaker.metrics().totals.map_or(0, |t| t.admitted);
        log.lock()
            .unwrap()
            .push((breaker.name().unwrap().to_owned(), calls));
    });
    let _ = futures::executor::block_on(async { Ok::<_, ()>(()) }.protect(&registry, "after"));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [("before".to_owned(), 0), ("after".to_owned(), 0)],
        "the existing breaker by the sweep, the new one at creation"
    );
}

#[test]
fn a_hook_added_while_names_are_being_created_sees_every_one_of_them() {
    // Bounded stress: two threads create names while a third adds the hook. Whatever the
    // interleaving, the hook sees every breaker the registry ends up holding.
    for round in 0..20 {
        let (_clock, registry) = manual_registry();
        let registry = Arc::new(registry);
        let seen = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
        let creators: Vec<_> = (0..2)
            .map(|t| {
                let registry = Arc::clone(&registry);
                std::thread::spawn(move || {
                    for i in 0..200 {
                        registry.get_or_create(&format!("t{t}-{i}"));
                    }
                })
            })
            .collect();
        let log = Arc::clone(&seen);
        registry.on_create(move |breaker| {
            log.lock()
                .unwrap()
                .insert(breaker.name().unwrap().to_owned());
        });
        for creator in creators {
            creator.join().unwrap();
        }
        let seen = seen.lock().unwrap();
        for (name, _) in registry.states() {
            assert!(seen.contains(&name), "round {round}: {name} never hooked");
        }
        assert_eq!(registry.len(), 400);
    }
}

#[test]
fn registry_extensions_are_one_per_type_and_kept() {
    #[derive(Debug)]
    struct Marker(u32);
    let (_clock, registry) = manual_registry();
    assert!(registry.extension::<Marker>().is_none());
    assert_eq!(registry.insert_extension(Marker(1)).unwrap().0, 1);
    assert_eq!(registry.insert_extension(Marker(2)).unwrap_err().0, 1);
    assert_eq!(registry.extension::<Marker>().unwrap().0, 1);
}
