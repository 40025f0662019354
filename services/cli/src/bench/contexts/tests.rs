use std::time::Duration;

use hdrhistogram::Histogram;

use super::report::{ContextsReport, Op, OpFigures, Ratio};
use super::{ContextsArgs, fixture, updated};

fn figures(contexts: usize, millis: u64, latencies_ms: &[u64]) -> OpFigures {
    let mut latencies = Histogram::new_with_bounds(1, 3_600_000_000, 3).unwrap();
    for ms in latencies_ms {
        latencies.record(ms * 1000).unwrap();
    }
    OpFigures {
        contexts,
        rewritten: 0,
        elapsed: Duration::from_millis(millis),
        latencies,
    }
}

#[test]
fn the_ratio_is_dynamodb_over_postgresql() {
    let postgres = figures(100, 100, &[1, 1, 2]);
    let dynamo = figures(100, 1000, &[10, 10, 40]);
    let ratio = Ratio::of(&dynamo, &postgres);
    assert!((ratio.throughput - 0.1).abs() < 1e-9, "{ratio:?}");
    assert!((ratio.p50 - 10.0).abs() < 0.01, "{ratio:?}");
    assert!((ratio.p99 - 20.0).abs() < 0.05, "{ratio:?}");
}

#[test]
fn the_report_lists_each_op_per_store_with_the_ratio() {
    let args = ContextsArgs {
        contexts: 100,
        ..ContextsArgs::default()
    };
    let mut report = ContextsReport::new(&args, &[], "db", "table");
    report.push(Op::Insert, "PostgreSQL", figures(100, 100, &[5]));
    report.push(Op::Insert, "DynamoDB", figures(100, 400, &[20]));
    report.push(Op::GetByTenant, "PostgreSQL", figures(100, 50, &[1]));
    let text = report.to_string();
    assert!(
        text.contains("DynamoDB/PostgreSQL: contexts/s 0.250×, p50 4.0×"),
        "{text}"
    );
    assert!(report.ratio(Op::GetByTenant).is_none(), "one store only");
    let json = report.json();
    assert_eq!(
        json["ops"]["insert"]["PostgreSQL"]["contexts_per_s"],
        1000.0
    );
    assert_eq!(
        json["ops"]["insert"]["dynamodb_over_postgresql"]["contexts_per_s"],
        0.25
    );
    assert!(json["ops"]["get"]["dynamodb_over_postgresql"].is_null());
}

#[test]
fn fixtures_are_provisioned_tenants_and_updates_change_them() {
    let context = fixture("abc", 7).unwrap();
    assert_eq!(context.tenant_id.as_str(), "cb-abc-7");
    assert_eq!(
        context.state.site_host.as_deref(),
        Some("cb-abc-7.tenantry.test")
    );
    assert_eq!(context.state.products.len(), 2);
    let bytes = serde_json::to_string(&context).unwrap().len();
    assert!((600..1200).contains(&bytes), "{bytes} bytes of JSON");
    let next = updated(&context);
    assert_ne!(next, context);
    assert_eq!(next.tenant_id, context.tenant_id);
    assert_eq!(next.state.site_host, context.state.site_host);
}
