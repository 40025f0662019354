use std::collections::BTreeMap;
use std::time::Duration;

use tenantry_keys::CacheLimits;

use super::KmsArgs;
use super::calls::{Calls, OperationCalls};
use super::report::{KmsReport, Phase, usage_windows};

fn limits(max_seals: u64, ttl: Duration) -> CacheLimits {
    CacheLimits {
        max_seals,
        ttl,
        ..CacheLimits::default()
    }
}

fn calls(counts: &[(&str, u64, u64, u64)]) -> Calls {
    Calls(
        counts
            .iter()
            .map(|&(operation, calls, attempts, errors)| {
                let counts = OperationCalls {
                    calls,
                    attempts,
                    errors,
                };
                (operation.to_owned(), counts)
            })
            .collect::<BTreeMap<_, _>>(),
    )
}

#[test]
fn a_tenant_has_one_usage_window_under_the_default_limits() {
    let default = CacheLimits::default();
    assert_eq!(usage_windows(200, &default, Duration::from_secs(5)), 1);
    assert_eq!(usage_windows(1, &default, Duration::ZERO), 1);
    assert_eq!(usage_windows(0, &default, Duration::from_secs(5)), 0);
}

#[test]
fn windows_roll_after_max_seals_and_after_each_ttl() {
    let hour = Duration::from_secs(3600);
    // A key retires at its 51st seal: 200 seals fill 4 keys, 201 a fifth.
    assert_eq!(usage_windows(200, &limits(50, hour), Duration::ZERO), 4);
    assert_eq!(usage_windows(201, &limits(50, hour), Duration::ZERO), 5);
    // Keys retired by age lived one after another: 350 ms / 100 ms → 3 more.
    let ttl = Duration::from_millis(100);
    let elapsed = Duration::from_millis(350);
    assert_eq!(usage_windows(1000, &limits(5_000_000, ttl), elapsed), 4);
    assert_eq!(usage_windows(200, &limits(50, ttl), elapsed), 7);
    // Never more keys than seals (each key seals at least once).
    assert_eq!(
        usage_windows(2, &limits(1, Duration::from_nanos(1)), elapsed),
        2
    );
}

fn report(generated: u64, errors: u64) -> KmsReport {
    let args = KmsArgs {
        tenants: 3,
        seals: 10,
        ..KmsArgs::default()
    };
    let mut report = KmsReport::new(&args, limits(3, Duration::from_secs(3600)));
    report.seal = Phase::new(
        calls(&[
            ("DescribeKey", generated, generated, 0),
            ("GenerateDataKey", generated, generated + errors, errors),
        ]),
        Duration::from_millis(10),
        None,
    );
    report
}

#[test]
fn the_goal_allows_one_generate_data_key_per_tenant_window() {
    // Round robin: 4, 3 and 3 seals; 3 per key → 2 + 1 + 1 windows.
    assert_eq!(report(4, 0).windows(), 4);
    assert!(report(4, 0).goal_met());
    assert!(report(3, 0).goal_met());
    assert!(!report(5, 0).goal_met(), "one call too many");
    assert!(!report(4, 1).goal_met(), "a failed call");
    assert_eq!(report(4, 0).calls_per_10k_seals(), 8_000.0);
}

#[test]
fn calls_of_a_phase_are_the_growth_since_its_start() {
    let before = calls(&[("CreateKey", 5, 5, 0), ("DescribeKey", 5, 5, 5)]);
    let after = calls(&[
        ("CreateKey", 5, 5, 0),
        ("DescribeKey", 7, 8, 5),
        ("GenerateDataKey", 2, 2, 0),
    ]);
    let phase = after.since(&before);
    assert_eq!(
        phase,
        calls(&[("DescribeKey", 2, 3, 0), ("GenerateDataKey", 2, 2, 0)])
    );
    assert_eq!((phase.total(), phase.attempts(), phase.errors()), (4, 5, 0));
    assert_eq!(phase.calls("Decrypt"), 0);
    assert_eq!(
        phase.to_string(),
        "DescribeKey=2 (3 attempts) GenerateDataKey=2"
    );
    assert_eq!(
        calls(&[("DescribeKey", 5, 5, 5)]).to_string(),
        "DescribeKey=5 (5 answered an error)"
    );
    assert_eq!(Calls::default().to_string(), "none");
}

#[test]
fn the_report_states_the_goal_and_the_json_carries_the_counts() {
    let report = report(4, 0);
    let text = report.to_string();
    assert!(
        text.contains("goal, one GenerateDataKey per tenant per usage window: met — 4 calls for 4 tenant windows"),
        "{text}"
    );
    assert!(text.contains("= 8000.0 per 10,000 seals"), "{text}");
    let json = report.json();
    assert_eq!(json["seal"]["calls"]["GenerateDataKey"]["calls"], 4);
    assert_eq!(json["usage_windows"], 4);
    assert_eq!(json["goal_met"], true);
    assert!(json["open"].is_null());
}
