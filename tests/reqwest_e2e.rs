//! End to end on loopback: a reqwest client with the breaker middleware against an axum server,
//! alone and stacked with `reqwest-retry`.
#![cfg(feature = "reqwest")]

use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State as Extract;
use axum::http::StatusCode;
use axum::routing::get;
use protego_breaker::integrations::reqwest::{rejected, CircuitBreakerMiddleware, OTHER_HOSTS};
use protego_breaker::{call::Outcome, Config, ManualClock, Registry, State};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware, Middleware};
use reqwest_retry::{policies::ExponentialBackoff, RetryTransientMiddleware};

/// A server whose `/` answers `status` and counts the requests that reached it.
struct Server {
    status: Arc<AtomicU16>,
    hits: Arc<AtomicUsize>,
    addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start() -> Server {
        let status = Arc::new(AtomicU16::new(200));
        let hits = Arc::new(AtomicUsize::new(0));
        let state = (Arc::clone(&status), Arc::clone(&hits));
        let app = axum::Router::new()
            .route(
                "/",
                get(
                    |Extract((status, hits)): Extract<(Arc<AtomicU16>, Arc<AtomicUsize>)>| async move {
                        hits.fetch_add(1, Ordering::SeqCst);
                        StatusCode::from_u16(status.load(Ordering::SeqCst)).unwrap()
                    },
                ),
            )
            // The same status, pushing back: `Retry-After: 1`.
            .route(
                "/busy",
                get(
                    |Extract((status, hits)): Extract<(Arc<AtomicU16>, Arc<AtomicUsize>)>| async move {
                        hits.fetch_add(1, Ordering::SeqCst);
                        let status = StatusCode::from_u16(status.load(Ordering::SeqCst)).unwrap();
                        (status, [("retry-after", "1")])
                    },
                ),
            )
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Server {
            status,
            hits,
            addr,
            task,
        }
    }

    fn answer(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn registry(clock: &ManualClock, threshold: u32) -> Arc<Registry<ManualClock>> {
    let config = Config::builder()
        .failure_threshold(threshold)
        .reset_timeout(Duration::from_secs(30))
        .half_open_retries(1)
        .build()
        .unwrap();
    Arc::new(Registry::with_clock(clock.clone()).with_default_config(config))
}

fn client(middleware: impl Middleware) -> ClientWithMiddleware {
    let inner = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    ClientBuilder::new(inner).with(middleware).build()
}

/// A server, and a client through the breaker `api` (opening after `threshold` failures).
async fn api(
    threshold: u32,
) -> (
    Server,
    ClientWithMiddleware,
    Arc<protego_breaker::Breaker<ManualClock>>,
) {
    let registry = registry(&ManualClock::new(), threshold);
    let client = client(CircuitBreakerMiddleware::named(
        Arc::clone(&registry),
        "api",
    ));
    (Server::start().await, client, registry.get_or_create("api"))
}

async fn status(
    client: &ClientWithMiddleware,
    url: &str,
) -> Result<u16, reqwest_middleware::Error> {
    client.get(url).send().await.map(|r| r.status().as_u16())
}

#[tokio::test]
async fn an_open_circuit_rejects_without_sending_and_a_trial_closes_it() {
    let server = Server::start().await;
    let clock = ManualClock::new();
    let registry = registry(&clock, 2);
    let client = client(CircuitBreakerMiddleware::named(
        Arc::clone(&registry),
        "api",
    ));

    assert_eq!(status(&client, &server.url()).await.unwrap(), 200);
    server.answer(500);
    assert_eq!(status(&client, &server.url()).await.unwrap(), 500);
    assert_eq!(status(&client, &server.url()).await.unwrap(), 500);
    assert_eq!(registry.get("api").unwrap().state(), State::Open);

    clock.advance(Duration::from_secs(10));
    let error = status(&client, &server.url()).await.unwrap_err();
    let refusal = rejected(&error).expect("a rejection, downcast from the middleware error");
    assert_eq!(refusal.name(), Some("api"));
    assert_eq!(refusal.retry_after(), Some(Duration::from_secs(20)));
    assert_eq!(server.hits(), 3, "the rejected request was never sent");

    server.answer(200);
    clock.advance(Duration::from_secs(20));
    assert_eq!(status(&client, &server.url()).await.unwrap(), 200);
    assert_eq!(registry.get("api").unwrap().state(), State::Closed);
}

#[tokio::test]
async fn client_errors_are_successes_429_is_shed_and_refused_connections_are_failures() {
    let (server, client, breaker) = api(2).await;

    server.answer(404);
    assert_eq!(status(&client, &server.url()).await.unwrap(), 404);
    assert_eq!(
        breaker.consecutive_failures(),
        0,
        "404 is the caller's problem"
    );
    server.answer(429);
    assert_eq!(status(&client, &server.url()).await.unwrap(), 429);
    assert_eq!(
        breaker.consecutive_failures(),
        0,
        "429: the server is overloaded, not down"
    );
    assert!(breaker.shed_limit().is_some(), "429: shed");
    server.answer(500);
    assert_eq!(status(&client, &server.url()).await.unwrap(), 500);
    assert_eq!(breaker.consecutive_failures(), 1, "500: a failure");

    // A port nobody listens on: the connection is refused.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = format!("http://{}/", closed.local_addr().unwrap());
    drop(closed);
    let error = status(&client, &dead).await.unwrap_err();
    assert!(rejected(&error).is_none(), "sent, and failed: {error}");
    assert_eq!(breaker.state(), State::Open, "a connect error is a failure");
}

#[tokio::test]
async fn a_server_error_with_retry_after_is_shed_not_counted_as_a_failure() {
    let (server, client, breaker) = api(1).await;
    server.answer(500);
    let busy = format!("{}busy", server.url());
    assert_eq!(status(&client, &busy).await.unwrap(), 500);
    assert_eq!(breaker.state(), State::Closed, "pushback: not an outage");
    assert!(breaker.shed_limit().is_some(), "pushback: shed");
    // The same 500 without `Retry-After` is a failure, and one opens this breaker.
    assert_eq!(status(&client, &server.url()).await.unwrap(), 500);
    assert_eq!(breaker.state(), State::Open);
}

#[tokio::test]
async fn a_classifier_decides_what_counts() {
    let server = Server::start().await;
    let clock = ManualClock::new();
    let registry = registry(&clock, 1);
    let strict = CircuitBreakerMiddleware::named(Arc::clone(&registry), "strict").classify(
        |r: &Result<reqwest::Response, reqwest_middleware::Error>| match r {
            Ok(res) if res.status().is_client_error() => Outcome::Failure,
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::Failure,
        },
    );
    let client = client(strict);
    server.answer(400);
    assert_eq!(status(&client, &server.url()).await.unwrap(), 400);
    assert_eq!(registry.get("strict").unwrap().state(), State::Open);
}

#[tokio::test]
async fn per_host_breakers_stop_at_the_cap_and_share_the_rest() {
    let server = Server::start().await;
    let clock = ManualClock::new();
    let registry = registry(&clock, 1);
    let client = client(CircuitBreakerMiddleware::per_host(Arc::clone(&registry)).max_hosts(1));
    let port = server.addr.port();

    server.answer(500);
    let _ = status(&client, &format!("http://127.0.0.1:{port}/")).await;
    server.answer(200);
    // Another name for the same server: past the cap, so it shares the overflow breaker.
    assert_eq!(
        status(&client, &format!("http://localhost:{port}/"))
            .await
            .unwrap(),
        200
    );
    let names: Vec<String> = registry.states().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, [format!("127.0.0.1:{port}"), OTHER_HOSTS.to_owned()]);
    assert_eq!(
        registry.get(&format!("127.0.0.1:{port}")).unwrap().state(),
        State::Open,
        "one host's failures open its own breaker only"
    );
    assert!(
        status(&client, &format!("http://127.0.0.1:{port}/"))
            .await
            .is_err(),
        "and the host keeps its breaker"
    );
}

#[tokio::test]
async fn stacked_inside_reqwest_retry_a_rejection_stops_the_retries() {
    let server = Server::start().await;
    server.answer(500);
    let clock = ManualClock::new();
    let registry = registry(&clock, 2);
    let policy = ExponentialBackoff::builder()
        .retry_bounds(Duration::from_millis(1), Duration::from_millis(5))
        .build_with_max_retries(10);
    // Retry outside, breaker inside: every attempt is one call of the breaker.
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(RetryTransientMiddleware::new_with_policy(policy))
        .with(CircuitBreakerMiddleware::named(
            Arc::clone(&registry),
            "api",
        ))
        .build();

    let started = Instant::now();
    let error = status(&client, &server.url()).await.unwrap_err();
    assert!(
        rejected(&error).is_some(),
        "the retries ended on the rejection: {error:?}"
    );
    assert_eq!(
        server.hits(),
        2,
        "two attempts opened the circuit; the third was rejected, not sent, not retried"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn stacked_outside_reqwest_retry_it_sees_one_call_per_request() {
    let server = Server::start().await;
    server.answer(500);
    let clock = ManualClock::new();
    let registry = registry(&clock, 2);
    let policy = ExponentialBackoff::builder()
        .retry_bounds(Duration::from_millis(1), Duration::from_millis(5))
        .build_with_max_retries(2);
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(CircuitBreakerMiddleware::named(
            Arc::clone(&registry),
            "api",
        ))
        .with(RetryTransientMiddleware::new_with_policy(policy))
        .build();

    assert_eq!(status(&client, &server.url()).await.unwrap(), 500);
    assert_eq!(
        server.hits(),
        3,
        "one request: the first attempt and two retries"
    );
    let breaker = registry.get("api").unwrap();
    assert_eq!(breaker.consecutive_failures(), 1, "one call of the breaker");
    assert_eq!(status(&client, &server.url()).await.unwrap(), 500);
    assert_eq!(breaker.state(), State::Open);
    let error = status(&client, &server.url()).await.unwrap_err();
    assert!(rejected(&error).is_some());
    assert_eq!(server.hits(), 6, "rejected before any attempt");
}

#[tokio::test]
async fn a_host_config_given_in_advance_applies_to_that_host_only() {
    let strict_host = Server::start().await;
    let other_host = Server::start().await;
    strict_host.answer(500);
    other_host.answer(500);
    let clock = ManualClock::new();
    let registry = registry(&clock, 3); // the default: 3 failures in a row
    let strict = Config::builder()
        .failure_threshold(1)
        .reset_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let strict_name = format!("127.0.0.1:{}", strict_host.addr.port());
    let other_name = format!("127.0.0.1:{}", other_host.addr.port());
    let middleware = CircuitBreakerMiddleware::per_host(Arc::clone(&registry))
        .host_config(&strict_name, strict)
        .unwrap();
    let client = client(middleware);

    assert_eq!(status(&client, &strict_host.url()).await.unwrap(), 500);
    assert_eq!(status(&client, &other_host.url()).await.unwrap(), 500);
    assert_eq!(
        registry.get(&strict_name).unwrap().state(),
        State::Open,
        "one failure opens the host given a threshold of 1"
    );
    let error = status(&client, &strict_host.url()).await.unwrap_err();
    let refusal = rejected(&error).expect("rejected without being sent");
    assert_eq!(refusal.name(), Some(strict_name.as_str()));
    assert_eq!(strict_host.hits(), 1);

    // The other host has the registry's default: a second failure still goes out.
    assert_eq!(status(&client, &other_host.url()).await.unwrap(), 500);
    assert_eq!(other_host.hits(), 2);
    let other = registry.get(&other_name).unwrap();
    assert_eq!(other.state(), State::Closed);
    assert_eq!(other.config().failure_threshold(), 3);
}

#[test]
fn a_host_config_for_a_malformed_host_is_an_error_not_a_panic() {
    for bad in [
        "",
        ":",
        ":443",
        "api.example.com",
        "api.example.com:",
        "api.example.com:99999",
        "api.example.com:-1",
        "a b:80",
        "user@api.example.com:80",
        "api.example.com:80/path",
        "api.example.com:80?query",
        "https://api.example.com:443",
        "[::1]",
        "[::1:80",
        "a<b:80",
        "\u{0}:80",
    ] {
        let registry = Arc::new(Registry::new());
        let err = CircuitBreakerMiddleware::per_host(Arc::clone(&registry))
            .host_config(bad, Config::default())
            .expect_err(bad);
        assert_eq!(err.host(), bad);
        assert!(
            err.to_string().starts_with("invalid host "),
            "{bad:?}: {err}"
        );
        assert!(registry.is_empty(), "{bad:?}: nothing is made");
    }
}

#[test]
fn a_host_config_is_named_the_way_requests_to_that_host_are() {
    let registry = Arc::new(Registry::new());
    let config = Config::builder().failure_threshold(7).build().unwrap();
    let _ = CircuitBreakerMiddleware::per_host(Arc::clone(&registry))
        .host_config("API.Example.com:443", config.clone())
        .unwrap()
        .host_config("[::1]:8080", config.clone())
        .unwrap()
        .host_config("bücher.example:80", config)
        .unwrap();
    let url = |u: &str| {
        protego_breaker::integrations::reqwest::host_breaker_name(&reqwest::Url::parse(u).unwrap())
    };
    for request in [
        "https://api.example.com/v1",
        "http://[::1]:8080/",
        "http://bücher.example/",
    ] {
        let breaker = registry.get(&url(request)).expect(request);
        assert_eq!(breaker.config().failure_threshold(), 7, "{request}");
    }
    assert_eq!(registry.len(), 3);
}
