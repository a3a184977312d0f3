//! The retry storm of issues #22 and #28, simulated: prints the tables of every row at three
//! depths of overload and draws goodput over time to `docs/storm.svg`.
//!
//! ```sh
//! cargo run --example storm            # seed 22, as tests/storm.rs asserts
//! cargo run --example storm -- 7       # another seed: every run with it is identical
//! ```
//!
//! Nothing sleeps: the simulation runs in virtual time on a `ManualClock`, with the crate's
//! real `Breaker`, `Retrier`, `TpsBudget`, `TokenBudget` and `Throttle` (see
//! `tests/support/storm.rs`). The full sweep of issue #28 (seven depths, 10 s and 60 s, open-
//! and closed-loop callers, five seeds) is `cargo test --release --test storm overload_sweep --
//! --ignored --nocapture`.

// Virtual-time figures are small and positive.
#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

#[path = "../tests/support/storm.rs"]
mod storm;

use plotters::prelude::*;
use storm::{overload_table, rows, run, Report, Setup, DEPTHS};

const COLORS: [RGBColor; 7] = [
    RGBColor(44, 160, 44),
    RGBColor(31, 119, 180),
    RGBColor(120, 120, 120),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(214, 39, 40),
];

/// The rows drawn: the recommended setup and the references (not its variants).
const DRAWN: [&str; 7] = [
    storm::RECOMMENDED,
    "AIMD limit",
    "breaker default + budget",
    "breaker 5 / 5 s + budget",
    "throttle alone",
    "A6 tokens",
    "naive retries",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seed = std::env::args().nth(1).map_or(Ok(22), |s| s.parse())?;
    let mut panels = Vec::new();
    for (title, depth) in DEPTHS {
        let setup = Setup::new(seed, depth);
        let reports: Vec<Report> = rows().into_iter().map(|s| run(setup, s)).collect();
        println!(
            "{}",
            overload_table(&format!("{title} (seed {seed})"), &reports)
        );
        let drawn = DRAWN
            .iter()
            .filter_map(|name| reports.iter().find(|r| r.scenario.name == *name).cloned())
            .collect();
        panels.push((title, setup, drawn));
    }
    draw("docs/storm.svg", &panels)?;
    println!("chart: docs/storm.svg");
    Ok(())
}

fn draw(
    path: &str,
    panels: &[(&str, Setup, Vec<Report>)],
) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(dir) = std::path::Path::new(path).parent() {
        std::fs::create_dir_all(dir)?;
    }
    let root = SVGBackend::new(path, (960, 1080)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, rest) = root.split_vertically(40);
    top.titled(
        "Goodput over time (successful calls per second, % of before the trigger); trigger shaded",
        ("sans-serif", 18),
    )?;
    for ((title, setup, reports), area) in panels.iter().zip(rest.split_evenly((panels.len(), 1))) {
        let secs = (setup.end / 1_000_000_000) as f64;
        let mut chart = ChartBuilder::on(&area)
            .caption(*title, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(45)
            .build_cartesian_2d(0.0..secs, 0.0..175.0)?;
        chart
            .configure_mesh()
            .x_desc("virtual time (s)")
            .y_desc("goodput %")
            .draw()?;
        let (from, to) = (
            setup.trigger_start as f64 / 1e9,
            (setup.trigger_start + setup.trigger_len) as f64 / 1e9,
        );
        chart.draw_series(std::iter::once(Rectangle::new(
            [(from, 0.0), (to, 175.0)],
            RGBColor(235, 235, 235).filled(),
        )))?;
        for (report, color) in reports.iter().zip(COLORS) {
            let points = report
                .bins
                .iter()
                .enumerate()
                .take(secs as usize)
                .map(|(s, bin)| {
                    (
                        s as f64 + 0.5,
                        100.0 * f64::from(bin.good) / report.baseline,
                    )
                });
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))?
                .label(report.scenario.name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(())
}
