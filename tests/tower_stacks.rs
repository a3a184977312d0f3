//! Every layer in an ordinary tower stack, without `map_err`: `Buffer`, a timeout, a load-shed
//! and a concurrency limit around `CircuitBreakerLayer`, the HTTP layer, the gRPC layer,
//! `RetryLayer`, and tower's p2c with the pool's guard, each over a service whose error is
//! already a `BoxError` (a timeout under the layer), driven against loopback servers. A
//! rejection comes out of the stack recognisable: a boxed `Rejected`, or the layer's own answer
//! (503, `UNAVAILABLE`).
#![cfg(all(feature = "balance", feature = "http", feature = "tonic"))]

#[path = "support/grpc.rs"]
mod grpc;
#[path = "support/http_server.rs"]
mod http_server;

use std::sync::Arc;
use std::time::Duration;

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty};
use http_server::{Server, FAIL, OK};
use hyper::body::{Bytes, Incoming};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use protego_breaker::call::Outcome;
use protego_breaker::integrations::balance::{OutlierDetection, OutlierDetector};
use protego_breaker::integrations::http::{HttpCircuitBreakerLayer, ServerErrorsAsFailures};
use protego_breaker::integrations::tonic::{FailureCodes, GrpcCircuitBreakerLayer};
use protego_breaker::integrations::tower::{BoxError, CircuitBreakerLayer, RetryLayer};
use protego_breaker::retry::{Retrier, RetryPolicy, TpsBudget};
use protego_breaker::sleep::Sleep;
use protego_breaker::{Breaker, Config, Registry, Rejected, State};
use tower::balance::p2c::Balance;
use tower::discover::Change;
use tower::load::{CompleteOnResponse, PendingRequestsDiscover};
use tower::{Service, ServiceBuilder, ServiceExt};

const TIMEOUT: Duration = Duration::from_secs(5);

/// `layer` over `inner` (behind a timeout, so that the layer's inner error is a `BoxError`),
/// under a buffer, a timeout, a load-shed and a concurrency limit.
macro_rules! stacked {
    ($layer:expr, $inner:expr) => {
        ServiceBuilder::new()
            .buffer(16)
            .timeout(TIMEOUT)
            .load_shed()
            .concurrency_limit(4)
            .layer($layer)
            .timeout(TIMEOUT)
            .service($inner)
    };
}

type HttpClient = Client<HttpConnector, Empty<Bytes>>;

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// A GET of `server`'s `/`.
fn get_of(server: &Server) -> http::Request<Empty<Bytes>> {
    http::Request::get(server.uri()).body(Empty::new()).unwrap()
}

/// One failure trips the breaker; it stays open through the test.
fn trips_at_once() -> Config {
    Config::builder()
        .failure_threshold(1)
        .reset_timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// 5xx is a failure, for the layers over a plain response.
fn server_errors(result: &Result<http::Response<Incoming>, BoxError>) -> Outcome {
    match result {
        Ok(response) if response.status().is_server_error() => Outcome::Failure,
        Ok(_) => Outcome::Success,
        Err(_) => Outcome::Failure,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_breaker_layer_goes_under_buffer_timeout_load_shed_and_a_concurrency_limit() {
    let server = Server::start(OK).await;
    let breaker = Arc::new(Breaker::new(trips_at_once()).named("web"));
    let layer = CircuitBreakerLayer::new(Arc::clone(&breaker)).classify(server_errors);
    let mut stack = stacked!(layer, client());
    let ok = stack.ready().await.unwrap().call(get_of(&server)).await;
    assert_eq!(ok.unwrap().status(), 200);
    server.set(FAIL);
    let failed = stack.ready().await.unwrap().call(get_of(&server)).await;
    assert_eq!(
        failed.unwrap().status(),
        500,
        "a 5xx is a response, classified"
    );
    assert_eq!(breaker.state(), State::Open);
    let seen = server.seen();
    let err = stack
        .ready()
        .await
        .unwrap()
        .call(get_of(&server))
        .await
        .unwrap_err();
    let rejected = err.downcast_ref::<Rejected>().expect("a boxed rejection");
    assert_eq!(rejected.name(), Some("web"));
    assert_eq!(Rejected::find(&*err), Some(rejected));
    assert_eq!(
        server.seen(),
        seen,
        "the server never saw the rejected request"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_layer_goes_under_the_same_stack_and_answers_503() {
    let server = Server::start(FAIL).await;
    let breaker = Arc::new(Breaker::new(trips_at_once()).named("web"));
    let layer = HttpCircuitBreakerLayer::new(Arc::clone(&breaker)).classify(ServerErrorsAsFailures);
    // A body the layer can make its 503 with (hyper's own `Incoming` has no `Default`).
    let inner = ServiceBuilder::new()
        .map_response(|r: http::Response<Incoming>| r.map(|b| b.map_err(BoxError::from).boxed()))
        .service(client());
    let mut stack = stacked!(layer, inner);
    let failed = stack.ready().await.unwrap().call(get_of(&server)).await;
    assert_eq!(failed.unwrap().status(), 500);
    let seen = server.seen();
    let answer = stack.ready().await.unwrap().call(get_of(&server)).await;
    let answer: http::Response<BoxBody<Bytes, BoxError>> = answer.unwrap();
    assert_eq!(answer.status(), 503);
    assert_eq!(answer.headers()["retry-after"], "60");
    let rejected = answer.extensions().get::<Rejected>().expect("carried");
    assert_eq!(rejected.name(), Some("web"));
    assert_eq!(server.seen(), seen);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grpc_layer_goes_under_the_same_stack_and_answers_unavailable() {
    let server = grpc::serve(grpc::Answer::Code(tonic::Code::Unavailable)).await;
    let breaker = Arc::new(Breaker::new(trips_at_once()).named("echo"));
    let layer = GrpcCircuitBreakerLayer::new(Arc::clone(&breaker)).classify(FailureCodes::DEFAULT);
    let stack = stacked!(layer, grpc::channel(&server, TIMEOUT));
    let mut client = tonic::client::Grpc::new(stack);
    let failed = grpc::say_to(&mut client, "hi").await.unwrap_err();
    assert_eq!(failed.code(), tonic::Code::Unavailable);
    assert_eq!(breaker.state(), State::Open);
    let rejected = grpc::say_to(&mut client, "hi").await.unwrap_err();
    assert_eq!(rejected.code(), tonic::Code::Unavailable);
    assert!(
        rejected.metadata().get("grpc-retry-pushback-ms").is_some(),
        "the layer's answer, not the server's: {rejected:?}"
    );
    assert_eq!(
        server.downstream.calls(),
        1,
        "the server saw the first call only"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_retry_layer_goes_under_the_same_stack() {
    let server = Server::start(FAIL).await;
    let breaker = Arc::new(Breaker::new(trips_at_once()).named("web"));
    let sleeper = |d: Duration| -> Sleep { Box::pin(tokio::time::sleep(d)) };
    let policy = RetryPolicy::builder().max_attempts(3).build().unwrap();
    let retrier = Retrier::new(policy, Arc::new(TpsBudget::default()), Arc::new(sleeper));
    let uri = server.uri();
    let http = client();
    // Requests are retried, so cloned: the stack takes a path and builds the request below.
    let layer = RetryLayer::new(retrier, Arc::clone(&breaker)).classify(server_errors);
    let inner = ServiceBuilder::new()
        .map_request(move |(): ()| http::Request::get(uri.as_str()).body(Empty::new()).unwrap())
        .service(http);
    let mut stack = stacked!(layer, inner);
    // The first attempt fails and trips the breaker; its retry meets the open circuit.
    let err = stack.ready().await.unwrap().call(()).await.unwrap_err();
    let rejected = Rejected::find(&*err).expect("the retry's rejection, boxed");
    assert_eq!(rejected.name(), Some("web"));
    assert_eq!(server.seen(), 1, "never retried into the open circuit");
    server.set(OK);
    let err = stack.ready().await.unwrap().call(()).await.unwrap_err();
    assert!(err.downcast_ref::<Rejected>().is_some());
    assert_eq!(server.seen(), 1);
}

type Endpoint = tower::util::BoxService<(), http::Response<Incoming>, BoxError>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p2c_and_the_guard_go_under_buffer() {
    let mut servers = Vec::new();
    for _ in 0..3 {
        servers.push(Server::start(OK).await);
    }
    let detection = OutlierDetection::builder()
        .max_ejection_percent(100)
        .build()
        .unwrap();
    let detector = OutlierDetector::new(Arc::new(Registry::new()), "backend", detection);
    let http = client();
    let endpoints = servers.iter().enumerate().map(|(i, server)| {
        let http = http.clone();
        let uri = server.uri();
        let svc = ServiceBuilder::new()
            .timeout(TIMEOUT)
            .service_fn(move |()| {
                http.request(http::Request::get(uri.as_str()).body(Empty::new()).unwrap())
            });
        Ok::<_, std::convert::Infallible>(Change::Insert(i, Endpoint::new(svc)))
    });
    let discover = detector
        .layer()
        .classify(ServerErrorsAsFailures)
        .discover(futures::stream::iter(endpoints.collect::<Vec<_>>()));
    let balance = Balance::new(PendingRequestsDiscover::new(
        discover,
        CompleteOnResponse::default(),
    ));
    let mut stack = ServiceBuilder::new()
        .buffer(64)
        .timeout(TIMEOUT)
        .load_shed()
        .concurrency_limit(8)
        .service(detector.guard(balance));
    for _ in 0..6 {
        let ok = stack.ready().await.unwrap().call(()).await.unwrap();
        assert_eq!(ok.status(), 200);
    }
    for server in &servers {
        server.set(FAIL);
    }
    // Every endpoint fails until each is ejected (five in a row each); then the guard answers.
    let mut rejected = None;
    for _ in 0..100 {
        match stack.ready().await.unwrap().call(()).await {
            Ok(response) => assert_eq!(response.status(), 500),
            Err(err) => {
                rejected = Some(err);
                break;
            }
        }
    }
    let err = rejected.expect("every endpoint ejected within 100 calls");
    let rejected = err
        .downcast_ref::<Rejected>()
        .expect("the guard's rejection");
    assert_eq!(rejected.name(), Some("backend"));
    assert_eq!(detector.ejected().len(), 3);
    let seen: usize = servers.iter().map(Server::seen).sum();
    let again = stack.ready().await.unwrap().call(()).await.unwrap_err();
    assert!(Rejected::find(&*again).is_some());
    assert_eq!(servers.iter().map(Server::seen).sum::<usize>(), seen);
}
