//! The metastable-failure simulation of issue #22 (`tests/support/storm.rs`), on a fixed seed,
//! at three depths of overload: naive retries stay down after the trigger ends, while breaker +
//! budget keeps attempts per logical call at most 1.1 during the trigger and is back to full
//! goodput within 5 s after it; the throttle added on top beats each of them where each is
//! best. Prints its tables (`cargo test --test storm -- --nocapture`); `cargo run --example
//! storm` draws them.

#[path = "support/storm.rs"]
mod storm;

use storm::{
    run, scenarios, table, Delay, Report, Setup, DEPTHS, THROTTLE_BOOK, THROTTLE_DEFAULTS,
};

const SEED: u64 = 22;

fn find<'a>(reports: &'a [Report], name: &str) -> &'a Report {
    reports
        .iter()
        .find(|r| r.scenario.name == name)
        .expect("scenario")
}

#[test]
fn breaker_and_budget_end_the_storm_that_naive_retries_sustain() {
    for (title, depth) in DEPTHS {
        let setup = Setup::new(SEED, depth);
        let reports: Vec<_> = scenarios(THROTTLE_DEFAULTS)
            .into_iter()
            .map(|s| run(setup, s))
            .collect();
        println!("{}", table(&format!("{title} (seed {SEED})"), &reports));

        let naive = find(&reports, "three retries");
        assert!(
            naive.recovery.is_none() && naive.after < 0.2,
            "{title}: naive retries stay down: {naive:?}"
        );
        let unprotected = find(&reports, "no protection");
        assert!(
            unprotected.recovery.is_some(),
            "{title}: without retries the system recovers"
        );

        let guarded = find(&reports, "breaker + budget");
        assert!(
            guarded.amplification <= 1.1,
            "{title}: {} attempts per call",
            guarded.amplification
        );
        assert!(
            guarded.recovery.is_some_and(|s| s <= 5.0),
            "{title}: recovery {:?}",
            guarded.recovery
        );

        let all = find(&reports, "all together");
        let breaker = find(&reports, "breaker");
        let throttle = find(&reports, "adaptive throttling");
        assert!(
            all.recovery.is_some_and(|s| s <= 5.0),
            "{title}: all together recovers: {:?}",
            all.recovery
        );
        assert!(all.amplification <= 1.1);
        assert!(
            all.during >= breaker.during && all.during >= throttle.during,
            "{title}: all together ({:.2}) beats the breaker ({:.2}) and the throttle ({:.2})",
            all.during,
            breaker.during,
            throttle.during
        );
    }
}

#[test]
fn the_books_two_minute_window_keeps_refusing_healthy_traffic_after_the_storm() {
    let setup = Setup::new(SEED, 0.35);
    let book = scenarios(THROTTLE_BOOK)[4];
    let ours = scenarios(THROTTLE_DEFAULTS)[4];
    let (book, ours) = (run(setup, book), run(setup, ours));
    assert!(book.recovery.is_none(), "K = 2 over 2 min: {book:?}");
    assert!(
        ours.recovery.is_some_and(|s| s <= 5.0),
        "the defaults: {ours:?}"
    );
}

/// The measurement behind the throttle's defaults: K and window swept at every depth, the
/// throttle alone and with breaker and budget. `cargo test --test storm -- --ignored
/// --nocapture`.
#[test]
#[ignore = "prints the sweep behind the throttle's defaults"]
fn throttle_defaults_sweep() {
    println!("| depth | window | K | alone: goodput during | after | recovery | all together: during | after | recovery |");
    println!("| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |");
    for (_, depth) in DEPTHS {
        for window in [120u64, 10, 2, 1] {
            for k in [1.5f64, 2.0] {
                let throttle = (k, std::time::Duration::from_secs(window));
                let [.., alone, all] = scenarios(throttle)[..] else {
                    unreachable!()
                };
                let (alone, all) = (
                    run(Setup::new(SEED, depth), alone),
                    run(Setup::new(SEED, depth), all),
                );
                let rec = |r: &Report| {
                    r.recovery
                        .map_or_else(|| "never".to_owned(), |s| format!("{s:.0} s"))
                };
                println!(
                    "| {depth} | {window} s | {k} | {:.0} % | {:.0} % | {} | {:.0} % | {:.0} % | {} |",
                    100.0 * alone.during, 100.0 * alone.after, rec(&alone),
                    100.0 * all.during, 100.0 * all.after, rec(&all)
                );
            }
        }
    }
}

/// The depths of issue #28: the share of capacity left during the trigger.
const OVERLOAD_DEPTHS: [f64; 7] = [0.9, 0.7, 0.55, 0.5, 0.35, 0.2, 0.0];
const SEEDS: [u64; 5] = [22, 7, 1, 2, 3];

/// Issue #28's goals for the recommended setup (`Config::default()`, timeouts classified as
/// overload, `TpsBudget::default()`, `RetryPolicy::default()`), closed-loop callers, a 10 s
/// trigger, five seeds: goodput at least 90 % of the capacity left at every depth from 20 % (the
/// latency sensor starts shedding a few completions into the trigger, before the first timeout;
/// `onset_floor` measures what hearing it only at the first overload costs), load
/// at most 1.1x the capacity left, back to 95 % success within 0.5 s, ahead of every reference
/// (the AIMD model included) on goodput; at 0 % the circuit opens.
#[test]
fn the_recommended_setup_sheds_overload_and_is_back_at_once() {
    let rows = storm::rows();
    assert_eq!(rows[0].name, storm::RECOMMENDED);
    for depth in OVERLOAD_DEPTHS {
        // Each row's goodput summed over the seeds (the sweep's means).
        let mut sums = vec![0.0; rows.len()];
        for seed in SEEDS {
            let setup = Setup::new(seed, depth);
            let reports: Vec<_> = rows.iter().map(|s| run(setup, *s)).collect();
            for (sum, report) in sums.iter_mut().zip(&reports) {
                *sum += report.goodput_left;
            }
            if seed == SEED {
                println!(
                    "{}",
                    storm::overload_table(&format!("capacity at {depth} (seed {seed})"), &reports)
                );
            }
            let rec = find(&reports, storm::RECOMMENDED);
            let at = format!("depth {depth}, seed {seed}");
            if depth == 0.0 {
                assert!(rec.opened, "{at}: an outage opens the circuit");
                continue;
            }
            assert!(!rec.opened, "{at}: overload never opens the circuit");
            let floor = 0.9;
            assert!(
                rec.goodput_left >= floor,
                "{at}: goodput {:.2}",
                rec.goodput_left
            );
            assert!(rec.load <= 1.1, "{at}: load {:.2}", rec.load);
            assert!(
                rec.back.is_some_and(|s| s <= 0.5),
                "{at}: back {:?}",
                rec.back
            );
            // Seed by seed, ahead of every reference; the AIMD model, level on some seeds,
            // within two points (and ahead on the mean, below).
            for other in &reports {
                if other.scenario.name.starts_with("recommended")
                    || other.scenario.name.starts_with("shedding")
                {
                    continue;
                }
                let slack = if other.scenario.name == "AIMD limit" {
                    0.02
                } else {
                    0.005
                };
                assert!(
                    rec.goodput_left + slack >= other.goodput_left,
                    "{at}: {} ({:.2}) beats the recommended setup ({:.2})",
                    other.scenario.name,
                    other.goodput_left,
                    rec.goodput_left
                );
            }
        }
        if depth == 0.0 {
            continue;
        }
        // On the mean of the seeds, ahead of every reference, the AIMD model included. Not of
        // the same breaker without retries: at 20 % it keeps 98.5 % to the recommended setup's
        // 97.6 % (a sensed episode admits a few calls at once, and a retry of a refused call
        // can then join a queue that times it out; benches/README.md, fourth pass).
        for (row, sum) in rows.iter().zip(&sums) {
            if row.name == "shedding, no retries" {
                continue;
            }
            assert!(
                sums[0] + 0.005 * 5.0 >= *sum,
                "depth {depth}: {} ({:.3}) beats the recommended setup ({:.3}) on the mean",
                row.name,
                sum / 5.0,
                sums[0] / 5.0
            );
        }
    }
}

/// Open-loop callers over a 10 s trigger, where the always-on AIMD reference led before the
/// latency sensor (its limit bounds the queue from the start): on the mean of the five seeds
/// the recommended setup keeps at least 90 % of the capacity left at every depth from 20 % and
/// is at or ahead of the AIMD model.
#[test]
fn open_loop_callers_are_served_from_the_trigger_on() {
    let rows = storm::rows();
    let (rec, aimd) = (rows[0], rows[8]);
    assert_eq!(aimd.name, "AIMD limit");
    for depth in [0.9, 0.7, 0.55, 0.5, 0.35, 0.2] {
        let (mut ours, mut theirs) = (0.0, 0.0);
        for seed in SEEDS {
            let setup = Setup::new(seed, depth).open();
            ours += run(setup, rec).goodput_left / 5.0;
            theirs += run(setup, aimd).goodput_left / 5.0;
        }
        assert!(ours >= 0.9, "depth {depth}: {ours:.3}");
        assert!(
            ours + 0.005 >= theirs,
            "depth {depth}: the AIMD model ({theirs:.3}) beats the recommended setup ({ours:.3})"
        );
    }
}

/// Over a 60 s trigger, once the onset is paid, shedding holds the dependency at its capacity
/// with a short queue: goodput at least 95 % of the capacity left at 50, 35 and 20 %, closed- and
/// open-loop, on every seed, with load at most 1.05x.
#[test]
fn a_long_overload_is_served_at_the_capacity_left() {
    for open in [false, true] {
        for depth in [0.5, 0.35, 0.2] {
            for seed in SEEDS {
                let setup = Setup::new(seed, depth).lasting(60);
                let setup = if open { setup.open() } else { setup };
                let rec = run(setup, storm::rows()[0]);
                let at = format!("depth {depth}, seed {seed}, open loop {open}");
                assert!(
                    rec.goodput_left >= 0.95,
                    "{at}: goodput {:.3}",
                    rec.goodput_left
                );
                assert!(rec.load <= 1.05, "{at}: load {:.2}", rec.load);
                assert!(
                    rec.back.is_some_and(|s| s <= 0.5),
                    "{at}: back {:?}",
                    rec.back
                );
            }
        }
    }
}

/// Issue #28's full sweep, for benches/README.md: every row at every depth, closed- and
/// open-loop callers, 10 s and 60 s triggers, the mean of five seeds. `cargo test --release
/// --test storm overload_sweep -- --ignored --nocapture` (about a minute).
#[test]
#[ignore = "prints the sweep of issue #28 (benches/README.md)"]
fn overload_sweep() {
    let mean = |xs: &[f64]| xs.iter().sum::<f64>() / f64::from(u32::try_from(xs.len()).unwrap());
    for open in [false, true] {
        for secs in [10u64, 60] {
            let callers = if open { "open-loop" } else { "closed-loop" };
            println!("\n{callers} callers, {secs} s trigger: goodput as % of the capacity left / seconds back to 95 % success after the trigger (mean of {} seeds; `>10` never within 10 s)\n", SEEDS.len());
            let head: Vec<String> = OVERLOAD_DEPTHS
                .iter()
                .map(|d| format!("{:.0} %", 100.0 * d))
                .collect();
            println!("| row | {} |", head.join(" | "));
            println!("| --- |{}", " ---: |".repeat(head.len()));
            let rows = storm::rows();
            let mut load = Vec::new();
            for row in &rows {
                let mut cells = Vec::new();
                for depth in OVERLOAD_DEPTHS {
                    let runs: Vec<_> = SEEDS
                        .iter()
                        .map(|&seed| {
                            let mut setup = Setup::new(seed, depth).lasting(secs);
                            if open {
                                setup = setup.open();
                            }
                            run(setup, *row)
                        })
                        .collect();
                    let good = mean(&runs.iter().map(|r| r.goodput_left).collect::<Vec<_>>());
                    let back = mean(
                        &runs
                            .iter()
                            .map(|r| r.back.unwrap_or(10.0))
                            .collect::<Vec<_>>(),
                    );
                    let back = if runs.iter().any(|r| r.back.is_none()) {
                        ">10".to_owned()
                    } else {
                        format!("{back:.1}")
                    };
                    cells.push(if depth == 0.0 {
                        format!("- / {back}")
                    } else {
                        format!("{:.0} / {back}", 100.0 * good)
                    });
                    if row.name == storm::RECOMMENDED {
                        let l = mean(&runs.iter().map(|r| r.load).collect::<Vec<_>>());
                        let p99 = mean(&runs.iter().map(|r| r.p99).collect::<Vec<_>>());
                        load.push(format!("{l:.2}x, {p99:.2} s"));
                    }
                }
                println!("| {} | {} |", row.name, cells.join(" | "));
            }
            println!(
                "| recommended: load / capacity left, p99 | {} |",
                load.join(" | ")
            );
        }
    }
}

/// What the onset costs: the recommended setup with the latency sensor off (shedding starts at
/// the first timeout, one timeout after the trigger), on (the default), and with an oracle that
/// starts shedding at the trigger's first instant, over a 10 s trigger, the mean of five seeds. `cargo test --release --test storm
/// onset_floor -- --ignored --nocapture`.
#[test]
#[ignore = "prints the onset's cost (benches/README.md)"]
fn onset_floor() {
    let mean = |xs: &[f64]| xs.iter().sum::<f64>() / f64::from(u32::try_from(xs.len()).unwrap());
    println!("| callers | shedding starts | 55 % | 50 % | 35 % | 20 % |");
    println!("| --- | --- | ---: | ---: | ---: | ---: |");
    let recommended = storm::rows()[0];
    let deaf = storm::Scenario {
        breaker: Some(storm::no_sensor),
        ..recommended
    };
    let oracle = storm::Scenario {
        onset: true,
        ..recommended
    };
    for open in [false, true] {
        for (when, row) in [
            ("at the first overload (sensor off)", deaf),
            ("when latency rises (the default)", recommended),
            ("with the trigger (oracle)", oracle),
        ] {
            let cells: Vec<String> = [0.55, 0.5, 0.35, 0.2]
                .iter()
                .map(|&depth| {
                    let good: Vec<f64> = SEEDS
                        .iter()
                        .map(|&seed| {
                            let setup = Setup::new(seed, depth);
                            run(if open { setup.open() } else { setup }, row).goodput_left
                        })
                        .collect();
                    format!("{:.0} %", 100.0 * mean(&good))
                })
                .collect();
            let callers = if open { "open-loop" } else { "closed-loop" };
            println!("| {callers} | {when} | {} |", cells.join(" | "));
        }
    }
}

/// The share of logical calls that succeeded from 2 s to the end of the run, how many times
/// shedding started, and for how long it was on in all (s).
fn health(report: &Report) -> (f64, u32, f64) {
    let bins = &report.bins[2..];
    let calls: u32 = bins.iter().map(|b| b.calls).sum();
    let good: u32 = bins.iter().map(|b| b.good).sum();
    let starts = report
        .limits
        .windows(2)
        .filter(|w| w[0].is_none() && w[1].is_some())
        .count();
    let on = u32::try_from(report.limits.iter().filter(|l| l.is_some()).count()).unwrap();
    (
        f64::from(good) / f64::from(calls.max(1)),
        u32::try_from(starts).unwrap(),
        f64::from(on) * 0.1,
    )
}

/// Latency that changes while capacity does not is no overload, and hearing it must cost no
/// goodput: (a) a dependency 90 % busy whose answers take a heavy-tailed extra delay (lognormal,
/// median 10 ms, sigma 1: p99 about 100 ms), (b) one whose answers take 5 ms more, then 50 ms
/// more for 10 s (ten times slower, its capacity unchanged: the delay takes none). Open-loop
/// callers (180 and 150 calls a second), the recommended setup, every seed: at least 98 % of
/// the calls succeed, and no fewer than with the sensor off, less half a point. Prints how often
/// and how long shedding was on.
#[test]
fn latency_that_changes_at_the_same_capacity_costs_no_goodput() {
    let ms = 1_000_000;
    let cases = [
        (
            "heavy tail, 90 % busy",
            180.0,
            Delay::Lognormal {
                median: 10 * ms,
                sigma: 1.0,
            },
        ),
        (
            "10x slower for 10 s",
            150.0,
            Delay::Step {
                before: 5 * ms,
                during: 50 * ms,
            },
        ),
    ];
    let recommended = storm::rows()[0];
    let deaf = storm::Scenario {
        breaker: Some(storm::no_sensor),
        ..recommended
    };
    println!("| dependency | seed | calls that succeed, sensor on / off | shedding started | shedding on |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for (name, rate, delay) in cases {
        for seed in SEEDS {
            let setup = Setup::new(seed, 1.0).open_at(rate).delayed(delay);
            let (on, starts, secs) = health(&run(setup, recommended));
            let (off, ..) = health(&run(setup, deaf));
            println!(
                "| {name} | {seed} | {:.1} % / {:.1} % | {starts} | {secs:.1} s |",
                100.0 * on,
                100.0 * off
            );
            assert!(on >= 0.98, "{name}, seed {seed}: {on:.3} succeed");
            assert!(
                on + 0.005 >= off,
                "{name}, seed {seed}: {on:.3} succeed, {off:.3} without the sensor"
            );
        }
    }
}

/// With one attempt per call (the "shedding, no retries" row) a refusal is a failed call, so a
/// false start of the latency sensor around the trigger shows as time back to 95 % success:
/// back within 0.5 s at every depth from 90 to 20 %, closed- and open-loop, 10 s and 60 s
/// triggers, on every seed (1.3 to 1.8 s in several cells, and once past 10 s, when a sensed
/// episode started at a limit of one call).
#[test]
fn without_retries_the_calls_are_back_at_once() {
    let no_retries = storm::rows()[2];
    assert_eq!(no_retries.name, "shedding, no retries");
    for open in [false, true] {
        for secs in [10, 60] {
            for depth in [0.9, 0.7, 0.55, 0.5, 0.35, 0.2] {
                for seed in SEEDS {
                    let setup = Setup::new(seed, depth).lasting(secs);
                    let setup = if open { setup.open() } else { setup };
                    let report = run(setup, no_retries);
                    assert!(
                        report.back.is_some_and(|s| s <= 0.5),
                        "depth {depth}, seed {seed}, {secs} s, open loop {open}: back {:?}",
                        report.back
                    );
                }
            }
        }
    }
}

/// False starts on the storm simulation's own healthy dependency (77 % busy, FIFO queue
/// bursts, no trigger), with one attempt per call (the "shedding, no retries" row), where a
/// refusal is a failed call: closed- and open-loop callers, every seed. Prints how many times
/// shedding started, for how long, and the share of calls refused; asserts at most 0.01 %
/// refused on each run.
#[test]
fn a_healthy_busy_dependency_refuses_no_call() {
    let no_retries = storm::rows()[2];
    assert_eq!(no_retries.name, "shedding, no retries");
    println!("| callers | seed | calls refused | shedding started | shedding on |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    let mut worst: (f64, String) = (0.0, String::new());
    for open in [false, true] {
        for seed in SEEDS {
            let setup = Setup::new(seed, 1.0);
            let setup = if open { setup.open() } else { setup };
            let (good, starts, secs) = health(&run(setup, no_retries));
            let callers = if open { "open-loop" } else { "closed-loop" };
            println!(
                "| {callers} | {seed} | {:.3} % | {starts} | {secs:.1} s |",
                100.0 * (1.0 - good)
            );
            if 1.0 - good > worst.0 {
                worst = (1.0 - good, format!("{callers}, seed {seed}"));
            }
        }
    }
    assert!(
        worst.0 <= 0.0001,
        "{}: {:.3} % refused",
        worst.1,
        100.0 * worst.0
    );
}
