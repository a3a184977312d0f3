//! The storm simulation's discrete-event loop: one `ManualClock`, a heap of timed events, a
//! tiny executor that polls the clients' futures when they are woken, and the FIFO server.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use protego_breaker::sleep::Sleep;
use protego_breaker::{Clock, ManualClock};

use super::{Delay, Setup, SEC, TICK};

type Task = Pin<Box<dyn Future<Output = ()>>>;

enum Event {
    Wake(Waker),
    /// The server finished the request at the head of its queue.
    Served,
    /// A served request's answer arrives (after `Setup::delay`).
    Answer(Arc<Mutex<Reply>>),
}

struct Reply {
    done: bool,
    waker: Option<Waker>,
}

#[derive(Default)]
struct Core {
    heap: BinaryHeap<Reverse<(u64, u64)>>,
    events: HashMap<u64, Event>,
    seq: u64,
    queue: VecDeque<Arc<Mutex<Reply>>>,
    busy: bool,
    attempts: Vec<u32>,
    /// Draws of `Setup::delay` (splitmix64 state).
    rng: u64,
}

/// The simulation: its clock, its events and server, and the clients' tasks.
#[derive(Clone)]
pub(super) struct Sim {
    setup: Setup,
    pub(super) clock: ManualClock,
    core: Arc<Mutex<Core>>,
    ready: Arc<Mutex<VecDeque<usize>>>,
    tasks: Rc<RefCell<Vec<Option<Task>>>>,
}

struct TaskWaker {
    id: usize,
    ready: Arc<Mutex<VecDeque<usize>>>,
}

impl futures::task::ArcWake for TaskWaker {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self.ready.lock().unwrap().push_back(arc_self.id);
    }
}

impl Sim {
    pub(super) fn new(setup: Setup) -> Self {
        Sim {
            setup,
            clock: ManualClock::new(),
            core: Arc::new(Mutex::new(Core {
                rng: setup.seed ^ 0xde1a_7000,
                ..Core::default()
            })),
            ready: Arc::new(Mutex::new(VecDeque::new())),
            tasks: Rc::new(RefCell::new(Vec::new())),
        }
    }

    pub(super) fn now(&self) -> u64 {
        u64::try_from(self.clock.now().as_nanos()).unwrap_or(u64::MAX)
    }

    pub(super) fn spawn(&self, task: impl Future<Output = ()> + 'static) {
        let mut tasks = self.tasks.borrow_mut();
        self.ready.lock().unwrap().push_back(tasks.len());
        tasks.push(Some(Box::pin(task)));
    }

    pub(super) fn attempts(&self) -> Vec<u32> {
        self.core.lock().unwrap().attempts.clone()
    }

    pub(super) fn sleep(&self, d: u64) -> SimSleep {
        SimSleep {
            core: Arc::clone(&self.core),
            clock: self.clock.clone(),
            deadline: self.now().saturating_add(d),
            armed: false,
        }
    }

    pub(super) fn sleeper(&self) -> impl Fn(Duration) -> Sleep + Send + Sync {
        let (core, clock) = (Arc::clone(&self.core), self.clock.clone());
        move |d: Duration| -> Sleep {
            let now = u64::try_from(clock.now().as_nanos()).unwrap_or(u64::MAX);
            let deadline = now.saturating_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
            Box::pin(SimSleep {
                core: Arc::clone(&core),
                clock: clock.clone(),
                deadline,
                armed: false,
            })
        }
    }

    /// One attempt: sends a request to the server and waits for the answer or the timeout.
    pub(super) fn attempt(&self) -> Attempt {
        let reply = Arc::new(Mutex::new(Reply {
            done: false,
            waker: None,
        }));
        let now = self.now();
        let mut core = self.core.lock().unwrap();
        let bin = (now / TICK) as usize;
        if core.attempts.len() <= bin {
            core.attempts.resize(bin + 1, 0);
        }
        core.attempts[bin] += 1;
        core.queue.push_back(Arc::clone(&reply));
        if !core.busy {
            self.serve_next(&mut core, now);
        }
        drop(core);
        Attempt {
            reply,
            timeout: self.sleep(self.setup.timeout),
        }
    }

    fn capacity(&self, now: u64) -> f64 {
        let s = &self.setup;
        if now >= s.trigger_start && now < s.trigger_end() {
            s.capacity * s.trigger_capacity
        } else {
            s.capacity
        }
    }

    fn serve_next(&self, core: &mut Core, now: u64) {
        core.busy = !core.queue.is_empty();
        if core.busy {
            let capacity = self.capacity(now);
            // A server with no capacity left serves again when the trigger ends.
            let at = if capacity > 0.0 {
                now + (SEC as f64 / capacity) as u64
            } else {
                self.setup.trigger_end()
            };
            push(core, at, Event::Served);
        }
    }

    pub(super) fn run(&self) {
        loop {
            loop {
                let next = self.ready.lock().unwrap().pop_front();
                let Some(id) = next else { break };
                let task = self.tasks.borrow_mut()[id].take();
                let Some(mut task) = task else { continue };
                let waker = futures::task::waker(Arc::new(TaskWaker {
                    id,
                    ready: Arc::clone(&self.ready),
                }));
                if task
                    .as_mut()
                    .poll(&mut Context::from_waker(&waker))
                    .is_pending()
                {
                    self.tasks.borrow_mut()[id] = Some(task);
                }
            }
            let mut core = self.core.lock().unwrap();
            let Some(Reverse((at, seq))) = core.heap.pop() else {
                return;
            };
            if at > self.setup.end {
                return;
            }
            let now = self.now();
            if at > now {
                self.clock.advance(Duration::from_nanos(at - now));
            }
            match core.events.remove(&seq) {
                Some(Event::Wake(waker)) => {
                    drop(core);
                    waker.wake();
                }
                Some(Event::Served) => {
                    let head = core.queue.pop_front();
                    self.serve_next(&mut core, at);
                    let delay = self.delay(&mut core, at);
                    match head {
                        Some(reply) if delay > 0 => {
                            push(&mut core, at + delay, Event::Answer(reply));
                        }
                        Some(reply) => {
                            drop(core);
                            answer(&reply);
                        }
                        None => {}
                    }
                }
                Some(Event::Answer(reply)) => {
                    drop(core);
                    answer(&reply);
                }
                None => {}
            }
        }
    }
}

/// Marks `reply` answered and wakes its caller.
fn answer(reply: &Mutex<Reply>) {
    let mut reply = reply.lock().unwrap();
    reply.done = true;
    if let Some(waker) = reply.waker.take() {
        waker.wake();
    }
}

impl Sim {
    /// The delay added to an answer served at `now` (`Setup::delay`).
    fn delay(&self, core: &mut Core, now: u64) -> u64 {
        let s = &self.setup;
        match s.delay {
            Delay::Zero => 0,
            Delay::Step { before, during } => {
                if now >= s.trigger_start && now < s.trigger_end() {
                    during
                } else {
                    before
                }
            }
            Delay::Lognormal { median, sigma } => {
                // Box-Muller: a standard normal from two uniforms in (0, 1].
                let u1 = unit(&mut core.rng);
                let u2 = unit(&mut core.rng);
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                (median as f64 * (sigma * z).exp()) as u64
            }
        }
    }
}

/// A uniform draw in (0, 1] from a splitmix64 state.
fn unit(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    ((z >> 11) as f64 + 1.0) / (1u64 << 53) as f64
}

fn push(core: &mut Core, at: u64, event: Event) {
    core.seq += 1;
    let seq = core.seq;
    core.heap.push(Reverse((at, seq)));
    core.events.insert(seq, event);
}

/// A timer on the simulation's clock.
pub(super) struct SimSleep {
    core: Arc<Mutex<Core>>,
    clock: ManualClock,
    deadline: u64,
    armed: bool,
}

impl Future for SimSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let now = u64::try_from(self.clock.now().as_nanos()).unwrap_or(u64::MAX);
        if now >= self.deadline {
            return Poll::Ready(());
        }
        if !self.armed {
            self.armed = true;
            let deadline = self.deadline;
            push(
                &mut self.core.lock().unwrap(),
                deadline,
                Event::Wake(cx.waker().clone()),
            );
        }
        Poll::Pending
    }
}

/// One attempt's answer: `Err` when the timeout comes first.
pub(super) struct Attempt {
    reply: Arc<Mutex<Reply>>,
    timeout: SimSleep,
}

impl Future for Attempt {
    type Output = Result<(), &'static str>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        {
            let mut reply = self.reply.lock().unwrap();
            if reply.done {
                return Poll::Ready(Ok(()));
            }
            reply.waker = Some(cx.waker().clone());
        }
        if Pin::new(&mut self.timeout).poll(cx).is_ready() {
            return Poll::Ready(Err("timeout"));
        }
        Poll::Pending
    }
}
