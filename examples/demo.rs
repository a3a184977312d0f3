//! A flaky downstream behind a registry breaker, printed as a timeline.
//!
//! The downstream is healthy, goes down for about a second, then recovers. Watch the circuit go
//! closed -> open -> half-open -> open -> half-open -> closed:
//!
//! ```text
//! cargo run --example demo
//! ```

use std::time::{Duration, Instant};

use protego_breaker::{Config, Error, ProtectExt, Registry, State};

/// A downstream service that fails while it is "down".
struct Downstream {
    started: Instant,
    down: std::ops::Range<Duration>,
}

impl Downstream {
    async fn quote(&self) -> Result<u32, &'static str> {
        smol::Timer::after(Duration::from_millis(2)).await; // network latency
        let t = self.started.elapsed();
        if self.down.contains(&t) {
            Err("503 from upstream")
        } else {
            Ok(100 + u32::try_from(t.as_millis() / 10).unwrap_or(u32::MAX))
        }
    }
}

fn main() -> Result<(), protego_breaker::ConfigError> {
    let registry = Registry::new();
    let config = Config::builder()
        .failure_threshold(3)
        .reset_timeout(Duration::from_millis(400))
        .half_open_retries(2)
        .build()?;
    registry.breaker("quotes", config);

    let started = Instant::now();
    let downstream = Downstream {
        started,
        down: Duration::from_millis(250)..Duration::from_millis(1_050),
    };

    println!("protego-breaker demo: failure_threshold 3, reset_timeout 400ms, half_open_retries 2");
    println!("the downstream is down from 250ms to 1050ms\n");
    println!(
        "{:>7}  {:>4}  {:<23} {:<9} {:<26} retry-after",
        "time", "call", "state (before -> after)", "admitted", "outcome"
    );

    let state_of =
        |registry: &Registry| registry.get("quotes").map_or(State::Closed, |b| b.state());
    smol::block_on(async {
        for call in 1..=22 {
            let before = state_of(&registry);
            let out = downstream.quote().protect(&registry, "quotes").await;
            let after = state_of(&registry);
            let (admitted, outcome, retry_after) = match out {
                Ok(quote) => ("yes", format!("ok: quote {quote}"), String::new()),
                Err(Error::Inner(e)) => ("yes", format!("failed: {e}"), String::new()),
                Err(Error::Rejected(r)) => (
                    "no",
                    "rejected, not run".to_string(),
                    r.retry_after()
                        .map_or("-".to_string(), |d| format!("{}ms", d.as_millis())),
                ),
            };
            let states = if before == after {
                before.to_string()
            } else {
                format!("{before} -> {after}")
            };
            println!(
                "{:>5}ms  {call:>4}  {states:<23} {admitted:<9} {outcome:<26} {retry_after}",
                started.elapsed().as_millis(),
            );
            smol::Timer::after(Duration::from_millis(80)).await;
        }
    });
    Ok(())
}
