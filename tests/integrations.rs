//! The optional integrations: permits (always on), tower and http middleware, serde configs,
//! tracing events. Each block needs its feature; `cargo test --all-features` runs them all.

mod common;

use std::sync::Arc;

use common::*;
use protego_breaker::{Breaker, CircuitBreaker, ManualClock, State};

// ---- permits ----

#[test]
fn a_dropped_permit_is_ignored_and_gives_its_half_open_slot_back() {
    let (clock, breaker) = manual(cfg(1, secs(10), 1));
    breaker.try_acquire().unwrap().failure();
    clock.advance(secs(10));
    let trial = breaker.try_acquire().expect("the trial");
    assert!(breaker.try_acquire().is_err(), "the only slot is taken");
    drop(trial);
    assert_eq!(breaker.state(), State::HalfOpen, "no verdict");
    breaker.try_acquire().expect("the slot is back").success();
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn a_permit_dropped_by_a_panic_is_a_failure() {
    let breaker = Arc::new(Breaker::with_clock(cfg(1, secs(10), 1), ManualClock::new()));
    let shared = Arc::clone(&breaker);
    let result = std::thread::spawn(move || {
        let _permit = shared.try_acquire().unwrap();
        panic!("inner future panicked");
    })
    .join();
    assert!(result.is_err());
    assert_eq!(breaker.state(), State::Open);
}

// ---- tower ----

#[cfg(feature = "tower")]
mod tower_layer {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::{Context, Poll};

    use futures::executor::block_on;
    use protego_breaker::tower::CircuitBreakerLayer;
    use protego_breaker::{Error, ManualClock, Outcome, Registry, State};
    use tower::{Layer, Service, ServiceExt};

    use super::common::*;

    /// A service that counts readiness checks and calls, and fails requests of 0.
    #[derive(Clone, Default)]
    struct Counting {
        ready: Arc<AtomicUsize>,
        calls: Arc<AtomicUsize>,
    }

    impl Service<u32> for Counting {
        type Response = u32;
        type Error = &'static str;
        type Future = std::future::Ready<Result<u32, &'static str>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            self.ready.fetch_add(1, Ordering::SeqCst);
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, n: u32) -> Self::Future {
            self.calls.fetch_add(1, Ordering::SeqCst);
            std::future::ready(if n == 0 { Err(BOOM) } else { Ok(n) })
        }
    }

    fn registry(threshold: u32) -> Arc<Registry<ManualClock>> {
        Arc::new(
            Registry::with_clock(ManualClock::new()).with_default_config(cfg(
                threshold,
                secs(10),
                1,
            )),
        )
    }

    #[test]
    fn a_rejected_request_never_reaches_the_inner_service() {
        let inner = Counting::default();
        let registry = registry(1);
        let mut svc = CircuitBreakerLayer::named(Arc::clone(&registry), "n").layer(inner.clone());
        block_on(async {
            assert_eq!(
                svc.ready().await.unwrap().call(0).await,
                Err(Error::Inner(BOOM))
            );
            let calls = inner.calls.load(Ordering::SeqCst);
            let r = svc.ready().await.unwrap().call(5).await.unwrap_err();
            assert_eq!(r.rejected().unwrap().state(), State::Open);
            assert_eq!(inner.calls.load(Ordering::SeqCst), calls, "not called");
        });
    }

    #[test]
    fn readiness_is_the_inner_services_and_a_rejection_does_not_use_it() {
        let inner = Counting::default();
        let registry = registry(1);
        registry.get_or_create("n").force_open();
        let mut svc = CircuitBreakerLayer::named(registry, "n").layer(inner.clone());
        let mut cx = Context::from_waker(futures::task::noop_waker_ref());
        assert!(svc.poll_ready(&mut cx).is_ready());
        assert_eq!(
            inner.ready.load(Ordering::SeqCst),
            1,
            "asked the inner service"
        );
        assert!(block_on(svc.call(1)).unwrap_err().is_rejected());
        // The inner service's reserved readiness is unused: it is simply asked again.
        assert!(svc.poll_ready(&mut cx).is_ready());
        assert_eq!(inner.calls.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn keyed_layers_give_each_key_its_own_breaker() {
        let registry = registry(1);
        let mut svc = CircuitBreakerLayer::keyed(Arc::clone(&registry), |n: &u32| {
            if *n % 2 == 0 {
                "even"
            } else {
                "odd"
            }
        })
        .layer(Counting::default());
        block_on(async {
            assert!(svc.ready().await.unwrap().call(0).await.is_err()); // opens "even"
            assert!(svc
                .ready()
                .await
                .unwrap()
                .call(2)
                .await
                .unwrap_err()
                .is_rejected());
            assert_eq!(
                svc.ready().await.unwrap().call(3).await,
                Ok(3),
                "odd is closed"
            );
        });
        assert_eq!(registry.get("even").unwrap().state(), State::Open);
        assert_eq!(registry.get("odd").unwrap().state(), State::Closed);
    }

    #[test]
    fn the_layer_classifies_responses() {
        let breaker = Arc::new(protego_breaker::Breaker::with_clock(
            cfg(1, secs(10), 1),
            ManualClock::new(),
        ));
        let big_is_bad = |r: &Result<u32, &'static str>| match r {
            Ok(n) if *n >= 500 => Outcome::Failure,
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::Ignored,
        };
        let mut svc = CircuitBreakerLayer::new(Arc::clone(&breaker))
            .classify(big_is_bad)
            .layer(Counting::default());
        block_on(async {
            assert!(svc.ready().await.unwrap().call(0).await.is_err());
            assert_eq!(breaker.state(), State::Closed, "errors are ignored here");
            assert_eq!(svc.ready().await.unwrap().call(503).await, Ok(503));
            assert_eq!(breaker.state(), State::Open);
        });
    }

    #[test]
    fn a_panicking_inner_future_is_a_failure() {
        let breaker = Arc::new(protego_breaker::Breaker::with_clock(
            cfg(1, secs(10), 1),
            ManualClock::new(),
        ));
        let svc = CircuitBreakerLayer::new(Arc::clone(&breaker)).layer(tower::service_fn(
            |(): ()| async {
                panic!("inner future panicked");
                #[allow(unreachable_code)]
                Ok::<(), ()>(())
            },
        ));
        let caught =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| block_on(svc.oneshot(()))));
        assert!(caught.is_err());
        assert_eq!(breaker.state(), State::Open);
    }
}

// ---- http ----

#[cfg(feature = "http")]
mod http_layer {
    use std::convert::Infallible;
    use std::sync::Arc;

    use futures::executor::block_on;
    use protego_breaker::http::{retry_after_secs, HttpCircuitBreakerLayer};
    use protego_breaker::{Breaker, CircuitBreaker, ManualClock, State};
    use tower::{service_fn, Layer, ServiceExt};

    use super::common::*;

    fn status(code: u16) -> http::Response<String> {
        http::Response::builder()
            .status(code)
            .body(String::new())
            .unwrap()
    }

    #[test]
    fn server_errors_open_and_rejections_answer_503_with_retry_after() {
        let clock = ManualClock::new();
        let breaker = Arc::new(Breaker::with_clock(cfg(2, secs(30), 1), clock.clone()));
        let layer = HttpCircuitBreakerLayer::new(Arc::clone(&breaker));
        let answer = |code: u16| {
            layer
                .layer(service_fn(move |_: http::Request<()>| async move {
                    Ok::<_, Infallible>(status(code))
                }))
                .oneshot(http::Request::new(()))
        };
        assert_eq!(block_on(answer(404)).unwrap().status(), 404);
        assert_eq!(
            breaker.consecutive_failures(),
            0,
            "a 4xx is not the downstream failing"
        );
        assert_eq!(block_on(answer(500)).unwrap().status(), 500);
        assert_eq!(block_on(answer(502)).unwrap().status(), 502);
        assert_eq!(breaker.state(), State::Open);
        clock.advance(std::time::Duration::from_millis(100));
        let rejected = block_on(answer(200)).unwrap();
        assert_eq!(rejected.status(), 503);
        assert_eq!(
            rejected.headers()["retry-after"],
            "30",
            "29.9 s, rounded up"
        );
    }

    #[test]
    fn retry_after_is_absent_when_unknown() {
        let breaker = Breaker::with_clock(cfg(1, secs(30), 1), ManualClock::new());
        breaker.force_open();
        let rejected = breaker.try_acquire().unwrap_err();
        assert_eq!(retry_after_secs(&rejected), None);
        let response: http::Response<()> = protego_breaker::http::service_unavailable(&rejected);
        assert_eq!(response.status(), 503);
        assert!(response.headers().get("retry-after").is_none());
    }
}

// ---- serde ----

#[cfg(feature = "serde")]
mod serde_configs {
    use std::time::Duration;

    use protego_breaker::serde::{format_duration, parse_duration, RegistryConfig};
    use protego_breaker::{Config, Window};

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
        let config: RegistryConfig =
            toml::from_str("[breakers.db]\nfailure_threshold = 9").unwrap();
        config.apply(&registry);
        assert!(std::sync::Arc::ptr_eq(&db, &registry.get("db").unwrap()));
        assert_eq!(db.config().failure_threshold(), 9);
        assert_eq!(db.state(), protego_breaker::State::ForcedOpen, "state kept");
    }
}

// ---- tracing ----

#[cfg(feature = "tracing")]
mod tracing_events {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use protego_breaker::{Breaker, CircuitBreaker, ManualClock};

    use super::common::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn transitions_and_rejections_are_traced() {
        let buffer = Buffer::default();
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let breaker = Breaker::with_clock(cfg(1, secs(10), 1), ManualClock::new()).named("db");
            breaker.try_acquire().unwrap().failure();
            assert!(breaker.try_acquire().is_err());
        });
        let out = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert!(out.contains("circuit state changed"), "{out}");
        assert!(
            out.contains("breaker=\"db\"") || out.contains("breaker=db"),
            "{out}"
        );
        assert!(
            out.contains("from=closed") && out.contains("to=open"),
            "{out}"
        );
        assert!(out.contains("reason=failure threshold reached"), "{out}");
        assert!(
            out.contains("call rejected") && out.contains("state=open"),
            "{out}"
        );
    }
}
