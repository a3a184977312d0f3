//! Property tests: over any generated sequence of requests, retries and clock steps, a budget
//! grants a retry exactly when its rules allow one, never more.

use std::time::Duration;

use proptest::prelude::*;
use protego_breaker::call::Outcome;
use protego_breaker::retry::{Budget, TokenBudget, TpsBudget};

#[derive(Debug, Clone)]
enum Op {
    Request,
    Retry,
    Wait(u64),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            4 => Just(Op::Request),
            3 => Just(Op::Retry),
            1 => (0u64..3_000).prop_map(Op::Wait),
        ],
        0..400,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Retries granted in the last ttl never exceed `min_per_sec * ttl` plus `retry_percent` %
    /// of the requests in it (the ttl counted in tenths, as the budget keeps it), and a retry
    /// those rules allow is granted.
    #[test]
    fn tps_budget_grants_exactly_what_its_rules_allow(
        ops in ops(),
        ttl_ms in 100u64..20_000,
        min_per_sec in 0u32..20,
        percent in 0u32..=100,
    ) {
        let ttl = Duration::from_millis(ttl_ms);
        let budget = TpsBudget::builder()
            .ttl(ttl)
            .min_per_sec(min_per_sec)
            .retry_percent(f64::from(percent))
            .build()
            .unwrap();
        let bucket = u64::try_from(ttl.as_nanos()).unwrap() / 10;
        let reserve = i64::from(min_per_sec) * 10_000 * i64::try_from(ttl.as_nanos()).unwrap() / 1_000_000_000;
        // (bucket index, requests, retries granted)
        let mut model: Vec<(u64, i64, i64)> = Vec::new();
        let mut now = 0u64; // ms
        for op in ops {
            let g = now * 1_000_000 / bucket;
            let live = |m: &Vec<(u64, i64, i64)>| m.iter().filter(|e| e.0 + 10 > g).fold((0, 0), |a, e| (a.0 + e.1, a.1 + e.2));
            match op {
                Op::Wait(ms) => now += ms,
                Op::Request => {
                    budget.deposit(Duration::from_millis(now));
                    model.push((g, 1, 0));
                }
                Op::Retry => {
                    let (requests, retries) = live(&model);
                    let allowed = reserve + requests * i64::from(percent) * 100 - retries * 10_000 >= 10_000;
                    let granted = budget.withdraw(Duration::from_millis(now));
                    prop_assert_eq!(granted, allowed, "requests {} retries {} at {} ms", requests, retries, now);
                    if granted {
                        model.push((g, 0, 1));
                        let (requests, retries) = live(&model);
                        prop_assert!(retries * 10_000 <= reserve + requests * i64::from(percent) * 100);
                    }
                }
            }
        }
    }

    /// gRFC A6: a retry only while more than half the tokens are left; a failure costs one, a
    /// success earns the ratio, never above the maximum.
    #[test]
    fn token_budget_follows_a6(
        outcomes in prop::collection::vec(prop_oneof![Just(Outcome::Success), Just(Outcome::Failure), Just(Outcome::Ignored), Just(Outcome::Overload)], 0..300),
        max in 1u32..50,
        ratio_milli in 1u32..2_000,
    ) {
        let ratio_milli = ratio_milli.min(max * 1000);
        let budget = TokenBudget::new(f64::from(max), f64::from(ratio_milli) / 1000.0).unwrap();
        let mut tokens = i64::from(max) * 1000;
        for outcome in outcomes {
            budget.record(outcome);
            tokens = match outcome {
                Outcome::Success => (tokens + i64::from(ratio_milli)).min(i64::from(max) * 1000),
                // gRPC A6 counts a throttled answer (an overload) as a failure.
                Outcome::Failure | Outcome::Overload => (tokens - 1000).max(0),
                Outcome::Ignored => tokens,
            };
            prop_assert_eq!(budget.withdraw(Duration::ZERO), tokens * 2 > i64::from(max) * 1000);
            #[allow(clippy::cast_precision_loss)]
            let expected = tokens as f64 / 1000.0;
            prop_assert!((budget.tokens() - expected).abs() < 1e-9);
        }
    }
}
