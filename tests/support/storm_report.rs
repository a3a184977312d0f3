//! One run's figures (`Report`) and the tables the storm test and example print.

use super::{Scenario, Setup, MS, SEC};

/// Per second (or per tick) of virtual time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bin {
    /// Logical calls that ended, and those that ended with `Ok`.
    pub calls: u32,
    pub good: u32,
    /// Attempts that reached the server.
    pub attempts: u32,
}

/// The resolution of the time to recovery.
pub const TICK: u64 = 100 * MS;

/// One run's figures.
#[derive(Debug, Clone)]
pub struct Report {
    pub scenario: Scenario,
    pub setup: Setup,
    pub bins: Vec<Bin>,
    /// The same per `TICK`.
    pub ticks: Vec<Bin>,
    /// Successful logical calls per second before the trigger.
    pub baseline: f64,
    /// Attempts per logical call during the trigger.
    pub amplification: f64,
    /// Goodput during the trigger and in the 10 s after it, as shares of the baseline.
    pub during: f64,
    pub after: f64,
    /// Seconds from the trigger's end until goodput (3-second means) stays at 90 % of the
    /// baseline or more;
    /// `None`: it never does (metastable).
    pub recovery: Option<f64>,
    /// Successful calls per second during the trigger as a share of the capacity left (or of
    /// the healthy goodput where that is less: at 90 % the callers do not ask for more).
    pub goodput_left: f64,
    /// Attempts reaching the server per second during the trigger, as a multiple of the
    /// capacity left (of the healthy capacity at 0 %).
    pub load: f64,
    /// Seconds from the trigger's end until the share of logical calls that succeed (300 ms
    /// means) is at 95 % or more and stays there; `None`: never within the run.
    pub back: Option<f64>,
    /// The callers' p99 latency during the trigger (s), rejections included.
    pub p99: f64,
    /// The breaker's shedding limit per tick (`Breaker::shed_limit`).
    pub limits: Vec<Option<u64>>,
    /// Whether the circuit was seen open (sampled every tick).
    pub opened: bool,
}

pub(super) fn report(setup: Setup, scenario: Scenario, ticks: Vec<Bin>, p99: f64) -> Report {
    let per_sec = (SEC / TICK) as usize;
    let bins: Vec<Bin> = ticks
        .chunks(per_sec)
        .map(|c| {
            c.iter().fold(Bin::default(), |a, b| Bin {
                calls: a.calls + b.calls,
                good: a.good + b.good,
                attempts: a.attempts + b.attempts,
            })
        })
        .collect();
    let secs = |from: u64, to: u64| &bins[(from / SEC) as usize..(to / SEC) as usize];
    let rate = |b: &[Bin]| f64::from(b.iter().map(|b| b.good).sum::<u32>()) / b.len() as f64;
    let baseline = rate(secs(2 * SEC, setup.trigger_start));
    let trigger = secs(setup.trigger_start, setup.trigger_end());
    let calls: u32 = trigger.iter().map(|b| b.calls).sum();
    let attempts: u32 = trigger.iter().map(|b| b.attempts).sum();
    let after = secs(setup.trigger_end(), setup.trigger_end() + 10 * SEC);
    let last = (setup.end / SEC) as usize;
    let first_good = (setup.trigger_end() / SEC) as usize;
    // Recovered from the first second after which every 3-second mean of goodput is at least
    // 90 % of the baseline (a 1-second bin alone is too noisy at ~150 calls).
    let mean3 = |s: usize| f64::from(bins[s..s + 3].iter().map(|b| b.good).sum::<u32>()) / 3.0;
    let recovery = (first_good..last - 3)
        .find(|&s| (s..last - 2).all(|w| mean3(w) >= 0.9 * baseline))
        .filter(|&s| s + 8 < last)
        .map(|s| (s - first_good) as f64);
    let left = setup.capacity * setup.trigger_capacity;
    let trigger_secs = setup.trigger_len as f64 / SEC as f64;
    let good: u32 = trigger.iter().map(|b| b.good).sum();
    // Back: the first tick after which every 300 ms share of successful calls is 95 % or more,
    // up to 10 s later.
    let (t0, t_last) = (
        (setup.trigger_end() / TICK) as usize,
        ((setup.trigger_end() + 10 * SEC) / TICK) as usize,
    );
    let share3 = |t: usize| {
        let w = &ticks[t..t + 3];
        let calls: u32 = w.iter().map(|b| b.calls).sum();
        let good: u32 = w.iter().map(|b| b.good).sum();
        f64::from(good) / f64::from(calls.max(1))
    };
    let back = (t0..t_last)
        .find(|&t| (t..t_last).all(|w| share3(w) >= 0.95))
        .map(|t| ((t - t0) as u64 * TICK) as f64 / SEC as f64);
    Report {
        scenario,
        setup,
        baseline,
        amplification: f64::from(attempts) / f64::from(calls.max(1)),
        during: rate(trigger) / baseline,
        after: rate(after) / baseline,
        recovery,
        // Of what could succeed: the capacity left, or the callers' healthy demand if less.
        goodput_left: if left > 0.0 {
            f64::from(good) / trigger_secs / left.min(baseline)
        } else {
            0.0
        },
        load: f64::from(attempts) / trigger_secs / if left > 0.0 { left } else { setup.capacity },
        back,
        p99,
        bins,
        ticks,
        limits: Vec::new(),
        opened: false,
    }
}

/// A markdown table: a title line, a header, and one line per row.
fn markdown(title: &str, head: &str, align: &str, rows: impl Iterator<Item = String>) -> String {
    let mut out = format!("{title}\n{head}\n{align}\n");
    for row in rows {
        out.push_str(&row);
        out.push('\n');
    }
    out
}

/// The table the test and the example print.
pub fn table(title: &str, reports: &[Report]) -> String {
    markdown(
        title,
        "| scenario | attempts per call (trigger) | goodput during | goodput 10 s after | recovery after the trigger |",
        "| --- | ---: | ---: | ---: | --- |",
        reports.iter().map(|r| {
            let recovery = r
                .recovery
                .map_or_else(|| "never: metastable".to_owned(), |s| format!("{s:.0} s"));
            format!(
                "| {} | {:.2} | {:.0} % | {:.0} % | {} |",
                r.scenario.name,
                r.amplification,
                100.0 * r.during,
                100.0 * r.after,
                recovery
            )
        }),
    )
}

/// The table of issue #28: per row, goodput during the trigger as a share of the capacity left,
/// load as a multiple of it, time back to 95 % success, p99.
pub fn overload_table(title: &str, reports: &[Report]) -> String {
    markdown(
        title,
        "| row | goodput / capacity left | load / capacity left | back to 95 % | p99 (trigger) |",
        "| --- | ---: | ---: | ---: | ---: |",
        reports.iter().map(|r| {
            let back = r
                .back
                .map_or_else(|| "> 10 s".to_owned(), |s| format!("{s:.1} s"));
            format!(
                "| {} | {:.0} % | {:.2}x | {} | {:.2} s |",
                r.scenario.name,
                100.0 * r.goodput_left,
                r.load,
                back,
                r.p99
            )
        }),
    )
}
