//! Helpers shared by the integration tests: hand-driven calls on a manual clock.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use protego_breaker::{
    call::Outcome, call::Protected, observe::Reason, Breaker, CircuitBreaker, Config, Error,
    ManualClock, Rejected, State, Window,
};

pub const BOOM: &str = "boom";
/// The error that `classify` calls ignored.
pub const IGNORE: &str = "ignore";

/// The classifier every controlled call runs with: `Err(IGNORE)` is ignored, otherwise
/// standard.
pub type Classifier = fn(&Result<(), &'static str>) -> Outcome;

pub fn classify(result: &Result<(), &'static str>) -> Outcome {
    match result {
        Ok(()) => Outcome::Success,
        Err(e) if *e == IGNORE => Outcome::Ignored,
        Err(_) => Outcome::Failure,
    }
}

pub fn cfg(threshold: u32, timeout: Duration, trials: u32) -> Config {
    Config::builder()
        .failure_threshold(threshold)
        .reset_timeout(timeout)
        .half_open_retries(trials)
        .build()
        .expect("valid test config")
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

pub fn manual(config: Config) -> (ManualClock, Breaker<ManualClock>) {
    let clock = ManualClock::new();
    let breaker = Breaker::with_clock(config, clock.clone());
    (clock, breaker)
}

/// Polls `fut` once with a waker that does nothing.
pub fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    fut.poll(&mut cx)
}

/// How a controlled call is told to finish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finish {
    Succeed,
    Fail,
    Panic,
    /// Returns `Err(IGNORE)`: classified as ignored.
    Ignore,
}

/// What a controlled inner future has seen.
#[derive(Default)]
pub struct Probe {
    pub polls: AtomicUsize,
    pub dropped: AtomicBool,
    order: Mutex<Option<Finish>>,
}

/// An inner future that stays pending until told how to finish.
pub struct Controlled {
    probe: Arc<Probe>,
}

impl Future for Controlled {
    type Output = Result<(), &'static str>;

    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.probe.polls.fetch_add(1, Ordering::SeqCst);
        let order = self.probe.order.lock().unwrap().take();
        match order {
            None => Poll::Pending,
            Some(Finish::Succeed) => Poll::Ready(Ok(())),
            Some(Finish::Fail) => Poll::Ready(Err(BOOM)),
            Some(Finish::Panic) => panic!("inner future panicked"),
            Some(Finish::Ignore) => Poll::Ready(Err(IGNORE)),
        }
    }
}

impl Drop for Controlled {
    fn drop(&mut self) {
        self.probe.dropped.store(true, Ordering::SeqCst);
    }
}

pub fn controlled() -> (Arc<Probe>, Controlled) {
    let probe = Arc::new(Probe::default());
    (Arc::clone(&probe), Controlled { probe })
}

/// A call that was admitted and is in flight.
pub struct Call<'a> {
    pub probe: Arc<Probe>,
    fut: Pin<Box<Protected<Controlled, &'a Breaker<ManualClock>, Classifier>>>,
}

/// Starts a call: polls it once. `Ok` if admitted (now in flight), `Err` if rejected.
pub fn start(breaker: &Breaker<ManualClock>) -> Result<Call<'_>, Rejected> {
    let (probe, inner) = controlled();
    let mut fut = Box::pin(breaker.call(inner).classify(classify as Classifier));
    match poll_once(fut.as_mut()) {
        Poll::Pending => Ok(Call { probe, fut }),
        Poll::Ready(Err(Error::Rejected(r))) => {
            assert_eq!(
                probe.polls.load(Ordering::SeqCst),
                0,
                "a rejected call was polled"
            );
            Err(r)
        }
        Poll::Ready(other) => panic!("a pending inner future resolved: {other:?}"),
    }
}

impl Call<'_> {
    /// Finishes the call as told; returns the protected future's output (`None` for a panic).
    pub fn finish(mut self, how: Finish) -> Option<Result<(), Error<&'static str>>> {
        *self.probe.order.lock().unwrap() = Some(how);
        let polled = catch_unwind(AssertUnwindSafe(|| poll_once(self.fut.as_mut())));
        match (how, polled) {
            (Finish::Panic, Err(_)) => None,
            (Finish::Panic, Ok(_)) => panic!("the inner panic did not propagate"),
            (_, Ok(Poll::Ready(out))) => Some(out),
            (_, Ok(Poll::Pending)) => panic!("a finished inner future stayed pending"),
            (_, Err(_)) => panic!("unexpected panic"),
        }
    }

    pub fn succeed(self) {
        assert_eq!(self.finish(Finish::Succeed), Some(Ok(())));
    }

    pub fn fail(self) {
        assert_eq!(self.finish(Finish::Fail), Some(Err(Error::Inner(BOOM))));
    }

    pub fn ignore(self) {
        assert_eq!(self.finish(Finish::Ignore), Some(Err(Error::Inner(IGNORE))));
    }

    pub fn panic(self) {
        assert_eq!(self.finish(Finish::Panic), None);
    }
}

/// Runs one call to completion at once.
pub fn run(breaker: &Breaker<ManualClock>, how: Finish) -> Result<(), Rejected> {
    start(breaker).map(|call| {
        call.finish(how);
    })
}

pub fn fail_n(breaker: &Breaker<ManualClock>, n: u32) {
    for _ in 0..n {
        start(breaker).expect("admitted").fail();
    }
}

/// Records every transition `breaker` makes from now on: (from, to, reason).
pub fn log_transitions<C: protego_breaker::Clock>(
    breaker: &Breaker<C>,
) -> Arc<Mutex<Vec<(State, State, Reason)>>> {
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&log);
    breaker.on_transition(move |t| sink.lock().unwrap().push((t.from(), t.to(), t.reason())));
    log
}

/// A failure-rate config: `window`, opening at `rate` % of at least `minimum` outcomes; open
/// for 10 s, one trial.
pub fn windowed(window: Window, rate: u8, minimum: u32) -> Config {
    Config::builder()
        .window(window)
        .failure_rate_threshold(rate)
        .minimum_calls(minimum)
        .reset_timeout(secs(10))
        .half_open_retries(1)
        .build()
        .unwrap()
}

/// A writer that keeps what a `tracing` subscriber writes, for tests to read back.
#[derive(Clone, Default)]
pub struct Buffer(pub Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
