//! The pool harness of the balance tests: endpoints on the manual clock whose behaviour a test
//! sets, the discover stream through the detector's layer, the events recorded.
#![allow(dead_code, unreachable_pub)] // each test file uses its part

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::channel::mpsc;
use futures::StreamExt;
use protego_breaker::integrations::balance::{
    EndpointDiscover, EndpointService, OutlierDetection, OutlierDetector, OutlierEventKind, Rule,
};
use protego_breaker::{ManualClock, Registry, State};
use tower::discover::Change;
use tower::Service;

/// How each endpoint answers: 0 = success, 1 = failure, 2 = alternate (fails every other call),
/// [`GRAY`] = fails one call in five, at (seeded, repeatable) random.
#[derive(Clone, Default)]
pub struct Behaviour(pub Arc<Mutex<Vec<u8>>>);

impl Behaviour {
    pub fn set(&self, endpoint: usize, how: u8) {
        self.0.lock().unwrap()[endpoint] = how;
    }
}

pub type Endpoint = tower::util::BoxService<(), (), &'static str>;
pub type Svc = EndpointService<Endpoint, ManualClock, protego_breaker::call::ErrorsAsFailures>;
pub type Item = Result<Change<usize, Endpoint>, &'static str>;
pub type Changes = mpsc::UnboundedSender<Item>;
pub type Discover = EndpointDiscover<
    mpsc::UnboundedReceiver<Item>,
    ManualClock,
    protego_breaker::call::ErrorsAsFailures,
>;

/// An endpoint's behaviour: fails one call in five at random.
pub const GRAY: u8 = 3;

/// splitmix64: a seeded, repeatable random number from `x`.
pub fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub fn endpoint(i: usize, behaviour: &Behaviour) -> Endpoint {
    let behaviour = behaviour.clone();
    let calls = Arc::new(AtomicU32::new(0));
    tower::util::BoxService::new(tower::service_fn(move |()| {
        let how = behaviour.0.lock().unwrap()[i];
        let n = calls.fetch_add(1, Ordering::Relaxed);
        async move {
            match how {
                0 => Ok(()),
                1 => Err("down"),
                GRAY if splitmix(u64::from(n) | (i as u64) << 32) % 5 == 0 => Err("gray"),
                GRAY => Ok(()),
                _ if n % 2 == 0 => Ok(()),
                _ => Err("every other"),
            }
        }
    }))
}

pub struct Pool {
    pub clock: ManualClock,
    pub registry: Arc<Registry<ManualClock>>,
    pub detector: OutlierDetector<ManualClock>,
    pub behaviour: Behaviour,
    pub services: Vec<Option<Svc>>,
    pub changes: Changes,
    pub discover: Discover,
    pub events: Arc<Mutex<Vec<(String, OutlierEventKind)>>>,
}

pub fn fast() -> protego_breaker::integrations::balance::OutlierDetectionBuilder {
    OutlierDetection::builder()
        .interval(Duration::from_secs(10))
        .base_ejection_time(Duration::from_secs(30))
}

pub fn pool(n: usize, detection: OutlierDetection) -> Pool {
    let clock = ManualClock::new();
    let registry = Arc::new(Registry::with_clock(clock.clone()));
    let detector = OutlierDetector::new(Arc::clone(&registry), "pool", detection);
    let events = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&events);
    detector.on_event(move |e| {
        assert_eq!(e.pool(), "pool");
        log.lock()
            .unwrap()
            .push((e.endpoint().to_owned(), e.kind()));
    });
    let behaviour = Behaviour(Arc::new(Mutex::new(vec![0; n])));
    let (changes, rx) = mpsc::unbounded();
    let discover = detector.layer().discover(rx);
    let mut pool = Pool {
        clock,
        registry,
        detector,
        behaviour,
        services: (0..n).map(|_| None).collect(),
        changes,
        discover,
        events,
    };
    for i in 0..n {
        pool.insert(i);
    }
    pool
}

pub fn noop_cx() -> Context<'static> {
    Context::from_waker(futures::task::noop_waker_ref())
}

impl Pool {
    pub fn insert(&mut self, i: usize) {
        let svc = endpoint(i, &self.behaviour);
        self.changes
            .unbounded_send(Ok(Change::Insert(i, svc)))
            .unwrap();
        match futures::executor::block_on(self.discover.next()) {
            Some(Ok(Change::Insert(key, svc))) => {
                assert_eq!(key, i);
                self.services[i] = Some(svc);
            }
            _ => panic!("expected the insert of {i}"),
        }
    }

    pub fn remove(&mut self, i: usize) {
        self.changes.unbounded_send(Ok(Change::Remove(i))).unwrap();
        match futures::executor::block_on(self.discover.next()) {
            Some(Ok(Change::Remove(key))) => assert_eq!(key, i),
            _ => panic!("expected the removal of {i}"),
        }
        self.services[i] = None;
    }

    /// Whether endpoint `i` is ready (its breaker admits).
    pub fn ready(&mut self, i: usize) -> bool {
        let svc = self.services[i].as_mut().expect("in the pool");
        matches!(svc.poll_ready(&mut noop_cx()), Poll::Ready(Ok(())))
    }

    /// One call to endpoint `i`, which must be ready; its result.
    pub fn call(&mut self, i: usize) -> Result<(), &'static str> {
        assert!(self.ready(i), "endpoint {i} not ready");
        let svc = self.services[i].as_mut().unwrap();
        futures::executor::block_on(svc.call(()))
    }

    pub fn calls(&mut self, i: usize, n: usize) {
        for _ in 0..n {
            let _ = self.call(i);
        }
    }

    pub fn state(&self, i: usize) -> State {
        self.detector.breaker(&i.to_string()).unwrap().state()
    }

    pub fn events(&self) -> Vec<(String, OutlierEventKind)> {
        self.events.lock().unwrap().clone()
    }

    pub fn advance(&self, d: Duration) {
        self.clock.advance(d);
        self.detector.tick();
    }
}

pub fn ejected(rule: Rule, secs: u64, multiplier: u32) -> OutlierEventKind {
    OutlierEventKind::Ejected {
        rule,
        ejection_time: Duration::from_secs(secs),
        multiplier,
    }
}
