//! The gray endpoint, simulated on the manual clock: one endpoint of ten fails one call in
//! five (at random, never noticed by consecutive failures), 400 calls/s for 60 s spread over
//! the ready endpoints as p2c spreads them, a 10 s interval. The success-rate rule ejects it at
//! the first sweep; the question is what happens when it comes back. With one trial it passes
//! four times in five and takes its share of traffic for another interval; with the pool's
//! defaults (probation on: judged against the pool for its first interval back) it is out again
//! within a few calls: at least 99.9 % of the calls of the second 30 s succeed on every seed. `cargo test --test balance_gray -- --ignored --nocapture`
//! prints the table quoted in benches/README.md.
#![cfg(feature = "balance")]

#[path = "support/pool.rs"]
mod harness;

use std::time::Duration;

use harness::*;
use protego_breaker::integrations::balance::{OutlierDetection, ReturnAt};

/// 400 calls/s.
const STEP: Duration = Duration::from_micros(2_500);
const CALLS: u32 = 24_000;

/// One run's calls and successes, in all and in the second 30 s.
#[derive(Debug, Default, Clone, Copy)]
struct Run {
    calls: u32,
    ok: u32,
    late_calls: u32,
    late_ok: u32,
}

impl Run {
    fn late_rate(&self) -> f64 {
        f64::from(self.late_ok) / f64::from(self.late_calls)
    }
}

/// One run: the gray endpoint and the balancer's choices follow `seed`.
fn run(detection: OutlierDetection, seed: u64) -> Run {
    let mut p = pool(10, detection);
    let gray = usize::try_from(seed % 10).unwrap();
    p.behaviour.set(gray, GRAY);
    let mut out = Run::default();
    for n in 0..CALLS {
        p.clock.advance(STEP);
        p.detector.tick();
        // p2c over equally loaded endpoints: any ready one, uniformly.
        let ready: Vec<usize> = (0..10).filter(|&i| p.ready(i)).collect();
        let pick = splitmix(seed << 32 | u64::from(n)) % ready.len() as u64;
        let ok = p.call(ready[usize::try_from(pick).unwrap()]).is_ok();
        let late = n >= CALLS / 2;
        out.calls += 1;
        out.ok += u32::from(ok);
        out.late_calls += u32::from(late);
        out.late_ok += u32::from(ok && late);
    }
    out
}

fn detection(at: ReturnAt, trials: u32, probation: bool) -> OutlierDetection {
    OutlierDetection::builder()
        .return_at(at)
        .return_trials(trials)
        .probation(probation)
        .build()
        .unwrap()
}

#[test]
fn the_gray_endpoint_stays_out_with_the_defaults() {
    for seed in 1..=4 {
        let run = run(OutlierDetection::default(), seed);
        assert!(
            run.late_rate() >= 0.999,
            "seed {seed}: {:.4} % in the second 30 s ({run:?})",
            run.late_rate() * 100.0
        );
    }
}

#[test]
fn with_one_trial_at_the_deadline_it_comes_back_for_another_interval() {
    // The pool before: one trial, back at the deadline. The gray endpoint passes its trial on
    // most seeds and fails one call in five of its share for an interval.
    let below = (1..=4)
        .filter(|&seed| run(detection(ReturnAt::Deadline, 1, false), seed).late_rate() < 0.999)
        .count();
    assert!(below >= 2, "{below} of 4 seeds below 99.9 %");
}

#[test]
#[ignore = "a measurement: prints the table of benches/README.md"]
fn gray_endpoint_table() {
    let seeds = 1..=100_u64;
    println!("| return | trials | probation | second 30 s: median | worst | seeds below 99.9 % | whole run: median |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    let variants = [
        ("deadline", ReturnAt::Deadline, 1, false),
        ("sweep", ReturnAt::Sweep, 1, false),
        ("sweep", ReturnAt::Sweep, 5, false),
        ("sweep", ReturnAt::Sweep, 20, false),
        ("sweep", ReturnAt::Sweep, 1, true),
        ("sweep", ReturnAt::Sweep, 5, true),
        ("sweep", ReturnAt::Sweep, 20, true),
    ];
    for (name, at, trials, probation) in variants {
        let mut late: Vec<f64> = Vec::new();
        let mut all: Vec<f64> = Vec::new();
        for seed in seeds.clone() {
            let r = run(detection(at, trials, probation), seed);
            late.push(r.late_rate());
            all.push(f64::from(r.ok) / f64::from(r.calls));
        }
        late.sort_by(f64::total_cmp);
        all.sort_by(f64::total_cmp);
        let below = late.iter().filter(|r| **r < 0.999).count();
        let on = if probation { "on" } else { "off" };
        println!(
            "| {name} | {trials} | {on} | {:.3} % | {:.3} % | {below} of {} | {:.3} % |",
            late[late.len() / 2] * 100.0,
            late[0] * 100.0,
            late.len(),
            all[all.len() / 2] * 100.0,
        );
    }
}
