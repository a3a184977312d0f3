//! Pins down `Send`, `Sync`, `Unpin` and `'static` of the public types.

use std::future::Future;
use std::sync::Arc;

use protego_breaker::{
    call::Protected, registry::BreakerHandle, Breaker, Config, ConfigBuilder, ConfigError, Error,
    ManualClock, ProtectExt, Registry, Rejected, State, SystemClock,
};

fn send_sync<T: Send + Sync>() {}
fn send_sync_static<T: Send + Sync + 'static>() {}
fn unpin<T: Unpin>() {}
fn send_static<T: Send + 'static>(_: &T) {}
fn is_future<F: Future>(_: &F) {}

type PendingOk = std::future::Pending<Result<(), ()>>;

#[test]
fn shared_types_are_send_sync_unpin_and_static() {
    send_sync_static::<Breaker>();
    send_sync_static::<Breaker<ManualClock>>();
    send_sync_static::<Registry>();
    send_sync_static::<Registry<ManualClock>>();
    send_sync_static::<BreakerHandle>();
    send_sync_static::<BreakerHandle<ManualClock>>();
    unpin::<BreakerHandle>();
    send_sync_static::<Config>();
    send_sync_static::<ConfigBuilder>();
    send_sync_static::<ConfigError>();
    send_sync_static::<Rejected>();
    send_sync_static::<Error<std::io::Error>>();
    send_sync_static::<State>();
    send_sync_static::<SystemClock>();
    send_sync_static::<ManualClock>();
    send_sync_static::<protego_breaker::clock::CoarseClock>();
    send_sync_static::<Breaker<protego_breaker::clock::CoarseClock>>();
    send_sync_static::<Registry<protego_breaker::clock::CoarseClock>>();
    unpin::<Breaker>();
    unpin::<Registry>();
}

#[cfg(feature = "quanta")]
#[test]
fn quanta_clock_is_send_sync_unpin_and_static() {
    use protego_breaker::clock::QuantaClock;
    send_sync_static::<QuantaClock>();
    unpin::<QuantaClock>();
    send_sync_static::<Breaker<QuantaClock>>();
    send_sync_static::<Registry<QuantaClock>>();
}

#[test]
fn protected_is_send_and_sync_when_its_inner_future_is() {
    send_sync::<Protected<PendingOk, &'static Breaker>>();
    send_sync_static::<Protected<PendingOk, Arc<Breaker>>>();
    send_sync_static::<Protected<PendingOk, Arc<Breaker<ManualClock>>>>();
    unpin::<Protected<PendingOk, Arc<Breaker>>>();
}

#[test]
fn a_registry_future_is_send_and_static_whenever_its_inner_future_is() {
    let registry = Registry::new();
    let fut = async { Ok::<(), ()>(()) }.protect(&registry, "x");
    send_static(&fut);
    is_future(&fut);
}

#[test]
fn retry_types_are_send_sync_and_static() {
    use protego_breaker::retry::{Retrier, RetryPolicy, TokenBudget, TpsBudget};
    use protego_breaker::throttle::Throttle;
    send_sync_static::<Retrier>();
    send_sync_static::<RetryPolicy>();
    send_sync_static::<TpsBudget>();
    send_sync_static::<TokenBudget>();
    send_sync_static::<Throttle>();
    send_sync_static::<protego_breaker::random::SplitMix>();
    unpin::<Retrier>();
}

#[test]
fn a_retried_call_is_send_and_static_whenever_its_attempts_are() {
    use protego_breaker::retry::{Retrier, RetryExt, RetryPolicy, TpsBudget};
    let sleeper = |_: std::time::Duration| -> protego_breaker::sleep::Sleep {
        Box::pin(std::future::ready(()))
    };
    let retrier = Retrier::new(
        RetryPolicy::default(),
        Arc::new(TpsBudget::default()),
        Arc::new(sleeper),
    );
    let registry = Registry::new();
    let fut = (|| async { Ok::<(), ()>(()) }).retry(&retrier, registry.handle("x"));
    send_static(&fut);
    is_future(&fut);
    let breaker = Arc::new(Breaker::new(Config::default()));
    let fut = (|| std::future::ready(Ok::<(), ()>(()))).retry(&retrier, breaker);
    send_static(&fut);
}

#[cfg(feature = "tonic")]
#[test]
fn the_grpc_layer_body_and_future_are_send_and_static() {
    use protego_breaker::integrations::tonic::{
        FailureCodes, GrpcBody, GrpcCircuitBreakerLayer, GrpcCircuitBreakerService,
        GrpcResponseFuture,
    };
    use protego_breaker::integrations::tower::{Named, Single};
    use protego_breaker::registry::BreakerHandle;

    type Head = std::future::Pending<Result<http::Response<tonic::body::Body>, tonic::Status>>;
    fn send_static_type<T: Send + 'static>() {}
    // tonic's client wants a `Send + 'static` response body (tonic's own is not `Sync`).
    send_static_type::<GrpcBody<tonic::body::Body, Arc<Breaker>, FailureCodes>>();
    send_sync_static::<GrpcBody<String, BreakerHandle, FailureCodes>>();
    unpin::<GrpcBody<tonic::body::Body, BreakerHandle, FailureCodes>>();
    send_sync_static::<GrpcResponseFuture<Head, BreakerHandle, FailureCodes>>();
    send_sync_static::<GrpcCircuitBreakerLayer<Single<SystemClock>>>();
    send_sync_static::<GrpcCircuitBreakerService<(), Named<SystemClock>>>();
}

#[cfg(all(feature = "tonic", feature = "balance"))]
#[test]
fn the_grpc_pool_guard_is_send_sync_and_static() {
    use protego_breaker::integrations::tonic::{GrpcEjectionGuard, GrpcGuardFuture};

    type Head = std::future::Pending<Result<http::Response<tonic::body::Body>, tonic::Status>>;
    send_sync_static::<GrpcEjectionGuard<(), SystemClock>>();
    send_sync_static::<GrpcGuardFuture<Head>>();
}
