//! The pool's shared state at work: endpoints joining and leaving, transitions heard from
//! their breakers, ejections and returns, and the interval's analysis (see `rules.rs` for the
//! arithmetic). A child of `detector.rs`, whose private types it works on.

#[allow(clippy::wildcard_imports)]
use super::*;

impl<C: Clock + Clone + Send + Sync + 'static> Shared<C> {
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Pool<C>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn now(&self) -> u64 {
        self.clock.get().map_or(0, |clock| nanos(clock.now()))
    }

    pub(super) fn key(&self, endpoint: &str) -> Arc<str> {
        Arc::from(format!("{}/{endpoint}", self.pool))
    }

    /// `tick` if something is due: the polls' test, one clock reading and one load.
    #[inline]
    pub(crate) fn tick_if_due(&self) {
        if self.now() >= self.due.load(Ordering::Relaxed) {
            self.tick();
        }
    }

    /// An endpoint joins (or is replaced: same breaker). A new one gets a fresh breaker.
    pub(crate) fn join(self: &Arc<Self>, endpoint: &str) -> Arc<Slot<C>> {
        if let Some(entry) = self.lock().endpoints.get(endpoint) {
            return Arc::clone(&entry.slot);
        }
        let key = self.key(endpoint);
        let endpoint: Arc<str> = Arc::from(endpoint);
        // Labelled before it is made: the registry's creation hooks (the metrics export) see it.
        self.labels.insert(
            Arc::clone(&key),
            EndpointLabel {
                pool: Arc::clone(&self.pool),
                endpoint: Arc::clone(&endpoint),
            },
        );
        drop(self.registry.remove(&key)); // a fresh start, whatever held the name before
        let breaker = self.registry.breaker(&key, self.endpoint_config.clone());
        let slot = Arc::new(Slot {
            breaker: Arc::clone(&breaker),
            outcomes: Counters::new(true),
            wakers: Mutex::new(Vec::new()),
        });
        let weak = Arc::downgrade(self);
        let name = Arc::clone(&endpoint);
        breaker.on_transition(move |t| {
            if let Some(shared) = weak.upgrade() {
                shared.transition(&name, t);
            }
        });
        let seen = totals(&slot);
        if self.clock.set(breaker.clock().clone()).is_ok() {
            // The first endpoint: the first interval starts now.
            let now = self.now();
            let mut pool = self.lock();
            pool.rng ^= now;
            pool.next_analysis = now.saturating_add(nanos(self.detection.interval()));
            self.set_due(&pool);
        }
        let mut pool = self.lock();
        let entry = pool.endpoints.entry(endpoint).or_insert(Entry {
            slot,
            multiplier: 0,
            ejected_until: None,
            seen,
            spared: Spared::default(),
            probation: None,
        });
        Arc::clone(&entry.slot)
    }

    /// An endpoint leaves: its breaker is dropped from the registry.
    pub(crate) fn leave(&self, endpoint: &str) {
        let removed = self.lock().endpoints.remove(endpoint);
        if let Some(entry) = removed {
            let key = self.key(endpoint);
            self.registry.remove(&key);
            self.labels.remove(&key);
            entry.slot.wake();
        }
    }

    /// A transition of `endpoint`'s breaker (delivered after the breaker's lock is released).
    pub(super) fn transition(&self, endpoint: &Arc<str>, t: &Transition) {
        let rule = match (t.to(), t.reason()) {
            (
                State::Open,
                Reason::FailureThreshold
                | Reason::FailureRate
                | Reason::SlowCallRate
                | Reason::TripRule,
            ) => Some(Rule::ConsecutiveFailures),
            (State::Open, Reason::TrialFailed) => Some(Rule::FailedTrial),
            _ => None,
        };
        let mut after = After::default();
        {
            let now = self.now();
            let mut pool = self.lock();
            let total = pool.endpoints.len();
            let ejected_others = pool
                .endpoints
                .iter()
                .filter(|(k, e)| *k != endpoint && e.ejected_until.is_some_and(|u| now < u))
                .count();
            let next_sweep = pool.next_analysis;
            let Some(entry) = pool.endpoints.get_mut(endpoint) else {
                return;
            };
            after.wake.push(Arc::clone(&entry.slot));
            match rule {
                Some(rule) if self.detection.may_eject(ejected_others, total) => {
                    self.eject(endpoint, entry, rule, (now, next_sweep), &mut after);
                }
                Some(rule) => {
                    entry.ejected_until = None;
                    after.reset.push(Arc::clone(&entry.slot.breaker));
                    if entry.spared.told {
                        entry.spared.pending = entry.spared.pending.saturating_add(1);
                        entry.spared.rule = Some(rule);
                    } else {
                        entry.spared.told = true;
                        after.events.push(
                            self.event(endpoint, OutlierEventKind::Spared { rule, times: 1 }),
                        );
                    }
                }
                None if t.to() == State::Closed && t.reason() == Reason::TrialsSucceeded => {
                    entry.ejected_until = None;
                    if self.detection.probation() {
                        entry.probation = Some((
                            now.saturating_add(nanos(self.detection.interval())),
                            totals(&entry.slot),
                        ));
                        // Judged from the next tick on.
                        pool.probation_check = pool.probation_check.min(now);
                    }
                    after
                        .events
                        .push(self.event(endpoint, OutlierEventKind::Returned));
                }
                None => {}
            }
            self.set_due(&pool);
        }
        self.finish(after);
    }

    pub(super) fn event(&self, endpoint: &Arc<str>, kind: OutlierEventKind) -> OutlierEvent {
        OutlierEvent {
            pool: Arc::clone(&self.pool),
            endpoint: Arc::clone(endpoint),
            kind,
        }
    }

    /// Ejects `entry` from `now`: one more on its multiplier, its breaker open for the
    /// ejection time, or until the first sweep after it (`return_at`; the next sweep is due at
    /// `next_sweep`). The breaker is opened after the lock.
    pub(super) fn eject(
        &self,
        endpoint: &Arc<str>,
        entry: &mut Entry<C>,
        rule: Rule,
        (now, next_sweep): (u64, u64),
        after: &mut After<C>,
    ) {
        entry.multiplier = entry.multiplier.saturating_add(1);
        entry.probation = None;
        let time = self.detection.ejection_time(entry.multiplier);
        let until = self
            .detection
            .return_time(now.saturating_add(nanos(time)), next_sweep);
        entry.ejected_until = Some(until);
        after.open.push((Arc::clone(&entry.slot.breaker), until));
        after.events.push(self.event(
            endpoint,
            OutlierEventKind::Ejected {
                rule,
                ejection_time: time,
                multiplier: entry.multiplier,
            },
        ));
    }

    pub(super) fn set_due(&self, pool: &Pool<C>) {
        let due = pool
            .endpoints
            .values()
            .filter_map(|e| e.ejected_until)
            .fold(pool.next_analysis.min(pool.probation_check), u64::min);
        self.due.store(due, Ordering::Relaxed);
    }

    pub(crate) fn tick(&self) -> Duration {
        let now = self.now();
        // The totals are read outside the pool's lock, which stays short.
        let due: Option<Vec<Named<C>>> = {
            let pool = self.lock();
            (now >= pool.next_analysis).then(|| {
                pool.endpoints
                    .iter()
                    .map(|(k, e)| (Arc::clone(k), Arc::clone(&e.slot)))
                    .collect()
            })
        };
        let counted: Option<HashMap<Arc<str>, (u64, u64)>> =
            due.map(|due| due.into_iter().map(|(k, b)| (k, totals(&b))).collect());
        let mut after = After::default();
        let wait = {
            let mut pool = self.lock();
            if let Some(counted) = counted.filter(|_| now >= pool.next_analysis) {
                pool.next_analysis = now.saturating_add(nanos(self.detection.interval()));
                self.analyse(&mut pool, &counted, now, &mut after);
            }
            for entry in pool.endpoints.values_mut() {
                if entry.ejected_until.is_some_and(|until| now >= until) {
                    // Over: the breaker is due for half-open; its services try again.
                    entry.ejected_until = None;
                    after.wake.push(Arc::clone(&entry.slot));
                }
            }
            self.judge_probation(&mut pool, now, &mut after);
            self.set_due(&pool);
            self.due.load(Ordering::Relaxed).saturating_sub(now)
        };
        self.finish(after);
        Duration::from_nanos(wait)
    }

    /// One interval: the statistical rules, then the multipliers' decay (A50's order).
    pub(super) fn analyse(
        &self,
        pool: &mut Pool<C>,
        counted: &HashMap<Arc<str>, (u64, u64)>,
        now: u64,
        after: &mut After<C>,
    ) {
        let Pool {
            endpoints,
            rng,
            next_analysis,
            baseline,
            ..
        } = pool;
        let next_sweep = *next_analysis;
        let mut samples = Vec::with_capacity(endpoints.len());
        // The calls of the endpoints in rotation (neither ejected nor on probation).
        let mut in_rotation = Sample::default();
        for (endpoint, entry) in endpoints.iter_mut() {
            // One that joined since the totals were read has none yet.
            let (succeeded, failed) = counted.get(endpoint).copied().unwrap_or(entry.seen);
            let sample = Sample {
                successes: succeeded.saturating_sub(entry.seen.0),
                failures: failed.saturating_sub(entry.seen.1),
                ejected: entry.ejected_until.is_some(),
            };
            if !sample.ejected && entry.probation.is_none() {
                in_rotation.successes += sample.successes;
                in_rotation.failures += sample.failures;
            }
            samples.push(sample);
            entry.seen = (succeeded, failed);
        }
        *baseline = in_rotation.failure_rate();
        let mut chance = || {
            // xorshift64*
            *rng ^= *rng >> 12;
            *rng ^= *rng << 25;
            *rng ^= *rng >> 27;
            u32::try_from(rng.wrapping_mul(0x2545_F491_4F6C_DD1D) % 100).unwrap_or(0)
        };
        let found = analyse(&self.detection, &samples, &mut chance);
        let mut by_index: Vec<Option<Rule>> = vec![None; samples.len()];
        for (i, rule) in found {
            by_index[i] = Some(rule);
        }
        for ((endpoint, entry), (rule, sample)) in
            endpoints.iter_mut().zip(by_index.into_iter().zip(&samples))
        {
            self.tell_spared(endpoint, entry, after);
            if let Some(rule) = rule {
                self.eject(endpoint, entry, rule, (now, next_sweep), after);
            } else if !sample.ejected && entry.ejected_until.is_none() && entry.multiplier > 0 {
                entry.multiplier -= 1;
            }
        }
    }

    /// At a sweep: the endpoint's spared outliers not yet told, in one event (which counts as
    /// the new interval's), or a fresh interval with nothing told.
    fn tell_spared(&self, endpoint: &Arc<str>, entry: &mut Entry<C>, after: &mut After<C>) {
        let spared = &mut entry.spared;
        match spared.rule.take() {
            Some(rule) if spared.pending > 0 => {
                let times = std::mem::take(&mut spared.pending);
                after
                    .events
                    .push(self.event(endpoint, OutlierEventKind::Spared { rule, times }));
            }
            _ => spared.told = false,
        }
    }

    /// Does what was decided under the lock: opens and resets breakers, wakes parked
    /// services, tells listeners.
    pub(super) fn finish(&self, after: After<C>) {
        for (breaker, until) in after.open {
            breaker.open_until(Duration::from_nanos(until));
        }
        for breaker in after.reset {
            breaker.reset();
        }
        for slot in after.wake {
            slot.wake();
        }
        if after.events.is_empty() {
            return;
        }
        let listeners: Vec<Listener> = self
            .listeners
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for event in &after.events {
            #[cfg(feature = "tracing")]
            event.trace();
            for listener in &listeners {
                listener(event);
            }
        }
    }

    /// Some endpoints and every one of them rejecting (open or forced open): the rejection a
    /// call gets at once, named after the pool, with the shortest time left. Runs what is due
    /// first.
    pub(crate) fn all_ejected(&self) -> Option<Rejected> {
        self.tick_if_due();
        let breakers: Vec<Arc<Breaker<C>>> = self
            .lock()
            .endpoints
            .values()
            .map(|e| Arc::clone(&e.slot.breaker))
            .collect();
        if breakers.is_empty() {
            return None;
        }
        let mut soonest: Option<Duration> = None;
        for breaker in &breakers {
            let metrics = breaker.metrics();
            match metrics.state {
                State::Open => {
                    let left = metrics.time_until_half_open.unwrap_or_default();
                    soonest = Some(soonest.map_or(left, |s| s.min(left)));
                }
                State::ForcedOpen => {}
                _ => return None,
            }
        }
        Some(Rejected::new(
            Name::new(Some(&self.pool)),
            State::Open,
            soonest.map(nanos),
        ))
    }
}

/// An endpoint's (succeeded, failed) calls so far.
pub(super) fn totals<C: Clock>(slot: &Slot<C>) -> (u64, u64) {
    slot.outcomes
        .totals()
        .map_or((0, 0), |t| (t.succeeded, t.failed))
}
