//! State-transition events: [`Transition`], [`Reason`], and their in-order delivery.

use std::collections::VecDeque;

use crate::error::Rejected;
use crate::machine::state::State;
use crate::name::Name;
use crate::sync::{lock, AtomicBool, Mutex, Ordering};

pub use crate::machine::reason::Reason;

/// One committed state change, as a listener sees it.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use protego_breaker::{Breaker, Config, observe::Reason, State};
///
/// let breaker = Breaker::new(Config::default()).named("payments");
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = Arc::clone(&seen);
/// breaker.on_transition(move |t| {
///     log.lock().unwrap().push(format!("{}: {} -> {} ({})", t.name().unwrap(), t.from(), t.to(), t.reason()));
/// });
/// breaker.force_open();
/// assert_eq!(*seen.lock().unwrap(), ["payments: closed -> forced-open (forced open)"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    name: Name,
    from: State,
    to: State,
    reason: Reason,
}

impl Transition {
    /// The breaker's name, if it has one.
    ///
    /// ```
    /// # use protego_breaker::{Breaker, Config};
    /// let breaker = Breaker::new(Config::default()).named("db");
    /// breaker.on_transition(|t| assert_eq!(t.name(), Some("db")));
    /// breaker.force_open();
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.name.as_str()
    }

    /// The state before.
    ///
    /// ```
    /// # use protego_breaker::{Breaker, Config, State};
    /// let breaker = Breaker::new(Config::default());
    /// breaker.on_transition(|t| assert_eq!(t.from(), State::Closed));
    /// breaker.disable();
    /// ```
    pub fn from(&self) -> State {
        self.from
    }

    /// The state after.
    ///
    /// ```
    /// # use protego_breaker::{Breaker, Config, State};
    /// let breaker = Breaker::new(Config::default());
    /// breaker.on_transition(|t| assert_eq!(t.to(), State::Disabled));
    /// breaker.disable();
    /// ```
    pub fn to(&self) -> State {
        self.to
    }

    /// Why.
    ///
    /// ```
    /// # use protego_breaker::{Breaker, Config, observe::Reason};
    /// let breaker = Breaker::new(Config::default());
    /// breaker.on_transition(|t| assert_eq!(t.reason(), Reason::Disabled));
    /// breaker.disable();
    /// ```
    pub fn reason(&self) -> Reason {
        self.reason
    }
}

/// Whether listeners see a change from `from` to `to`: a change of state, or a metrics-only
/// breaker's would-be trip (`metrics-only -> metrics-only`).
pub(crate) fn shown(from: State, to: State) -> bool {
    from != to || to == State::MetricsOnly
}

type TransitionListener = std::sync::Arc<dyn Fn(&Transition) + Send + Sync>;
type RejectionListener = std::sync::Arc<dyn Fn(&Rejected) + Send + Sync>;

/// Listeners and the queue of transitions not yet delivered to them.
///
/// A transition is queued under the breaker's transition lock, so the queue is in transition
/// order. Whoever made a transition then delivers the queue, outside every lock, unless another
/// thread (or an outer frame of this one: a listener that causes a transition) is already
/// delivering; that one delivers the new event too, after the ones before it.
pub(crate) struct Listeners {
    /// Any transition listener registered: a load, so breakers without listeners queue nothing.
    watched: AtomicBool,
    /// Any rejection listener registered.
    rejections_watched: AtomicBool,
    delivering: AtomicBool,
    queue: Mutex<VecDeque<Transition>>,
    on_transition: Mutex<Vec<TransitionListener>>,
    on_rejection: Mutex<Vec<RejectionListener>>,
}

impl Listeners {
    pub(crate) fn new() -> Self {
        Listeners {
            watched: AtomicBool::new(false),
            rejections_watched: AtomicBool::new(false),
            delivering: AtomicBool::new(false),
            queue: Mutex::new(VecDeque::new()),
            on_transition: Mutex::new(Vec::new()),
            on_rejection: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn add_transition_listener(&self, listener: TransitionListener) {
        lock(&self.on_transition).push(listener);
        self.watched.store(true, Ordering::Release);
    }

    pub(crate) fn add_rejection_listener(&self, listener: RejectionListener) {
        lock(&self.on_rejection).push(listener);
        self.rejections_watched.store(true, Ordering::Release);
    }

    /// Queues a committed transition. Called under the transition lock.
    pub(crate) fn push(&self, name: &Name, from: State, to: State, reason: Reason) {
        if !shown(from, to) || !self.watched.load(Ordering::Acquire) {
            return;
        }
        lock(&self.queue).push_back(Transition {
            name: name.clone(),
            from,
            to,
            reason,
        });
    }

    /// Delivers queued transitions, in order, unless someone else is already doing it.
    /// Must be called with no lock of the breaker held.
    pub(crate) fn deliver(&self) {
        if !self.watched.load(Ordering::Acquire) {
            return;
        }
        loop {
            if self.delivering.swap(true, Ordering::Acquire) {
                return; // the one delivering will reach our event
            }
            let done = Delivering(&self.delivering);
            loop {
                let Some(event) = lock(&self.queue).pop_front() else {
                    break;
                };
                let listeners: Vec<TransitionListener> = lock(&self.on_transition).clone();
                for listener in &listeners {
                    listener(&event);
                }
            }
            drop(done);
            // An event queued after our last look but before we let go would wait for the
            // next transition: look once more.
            if lock(&self.queue).is_empty() {
                return;
            }
        }
    }

    /// Calls the rejection listeners, if any, with a rejection built from these parts. No lock
    /// is held.
    #[inline]
    pub(crate) fn rejected(&self, name: &Name, state: State, retry_after: Option<u64>) {
        if self.rejections_watched.load(Ordering::Relaxed) {
            self.rejected_slow(name, state, retry_after);
        }
    }

    #[cold]
    #[inline(never)]
    fn rejected_slow(&self, name: &Name, state: State, retry_after: Option<u64>) {
        let rejected = Rejected::new(name.clone(), state, retry_after);
        let listeners: Vec<RejectionListener> = lock(&self.on_rejection).clone();
        for listener in &listeners {
            listener(&rejected);
        }
    }
}

/// Clears the delivering flag when dropped, also when a listener panics.
struct Delivering<'a>(&'a AtomicBool);

impl Drop for Delivering<'_> {
    fn drop(&mut self) {
        // A swap rather than a store: equivalent here, and loom 0.7 lets a plain store land
        // inside a racing swap (tokio-rs/loom#254), which fails the listener model spuriously.
        self.0.swap(false, Ordering::Release);
    }
}
