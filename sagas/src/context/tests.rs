//! The context fold: the newest tenant state wins, whatever the order.

use super::*;
use crate::test_support::envelope;
use tenantry_schemas::*;

fn state(commerce_sequence: i64, status: TenantStatus) -> TenantState {
    let mut state = TenantContext::empty(TenantId::parse("t1").unwrap()).state;
    state.commerce_sequence = commerce_sequence;
    state.status = status;
    state
}

fn record(sequence: i64, state: TenantState) -> ProvisioningRecord {
    ProvisioningRecord {
        envelope: envelope(sequence),
        event: ProvisioningEvent::TenantState(Box::new(state)),
    }
}

fn fold(records: &[ProvisioningRecord]) -> TenantContext {
    let mut context = TenantContext::empty(TenantId::parse("t1").unwrap());
    for r in records {
        context.apply(r);
    }
    context
}

#[test]
fn the_newest_state_wins_in_any_order_with_duplicates() {
    let records = [
        record(1, state(1, TenantStatus::Provisioning)),
        record(2, state(1, TenantStatus::Active)),
        record(3, state(2, TenantStatus::Destroyed)),
    ];
    let in_order = fold(&records);
    assert_eq!(in_order.state.status, TenantStatus::Destroyed);
    assert_eq!(in_order.version.provisioning_sequence, 3);
    let orders = [[2, 0, 1], [2, 1, 0], [1, 2, 0], [0, 2, 1]];
    for order in orders {
        let shuffled: Vec<_> = order
            .iter()
            .chain(order.iter())
            .map(|i| records[*i].clone())
            .collect();
        assert_eq!(fold(&shuffled), in_order, "order {order:?}, each twice");
    }
}

#[test]
fn an_older_or_repeated_record_changes_nothing() {
    let mut context = fold(&[record(5, state(3, TenantStatus::Active))]);
    assert!(!context.apply(&record(4, state(4, TenantStatus::Destroyed))));
    assert!(!context.apply(&record(5, state(4, TenantStatus::Destroyed))));
    assert_eq!(context.state.status, TenantStatus::Active);
}

#[test]
fn retired_saga_records_are_passed_over() {
    let mut context = fold(&[record(5, state(3, TenantStatus::Active))]);
    let retired = ProvisioningRecord {
        envelope: envelope(9),
        event: ProvisioningEvent::SagaFailed(SagaFailed {
            saga_id: uuid::Uuid::from_u128(1),
            saga_kind: "provision_tenant".into(),
            trigger_sequence: 1,
            product: None,
            reason: "x".into(),
            compensated: true,
        }),
    };
    assert!(!context.apply(&retired));
    assert_eq!(context.version.provisioning_sequence, 5);
}

/// A context document the projector stored under the contract before
/// tenant states (trimmed from `integration-tests/fixtures/contract-v1`)
/// still reads, with its sequence, so the first tenant state replaces it.
#[test]
fn a_context_stored_by_the_previous_contract_still_reads() {
    let old = r#"{"tenant_id":"f1","status":"active","site":"fone","site_host":"fone.tenantry.test",
        "region":"eu","region_pinned":false,"groups":["site-admins","jira-users"],
        "products":{"jira":{"state":"active","licence":{"seats":20,"edition":"enterprise"},
            "shard":"eu-1","database":"t_f1__jira","installed_apps":[],"provisioned_sequence":2,
            "suspended":false,"failed":null}},
        "last_failure":null,"rejections":[],"held":{},"held_provisioning":{},"released_floor":5,
        "version":{"commerce_sequence":5,"provisioning_sequence":31,"events_applied":40},
        "desired":{},"tenant_saga_succeeded":true,"destruction_done":false}"#;
    let context: TenantContext = serde_json::from_str(old).unwrap();
    assert_eq!(context.state.status, TenantStatus::Active);
    assert_eq!(
        context.state.products[&ProductKey::parse("jira").unwrap()]
            .database
            .as_deref(),
        Some("t_f1__jira")
    );
    assert_eq!(context.version.provisioning_sequence, 31);
    let mut context = context;
    assert!(context.apply(&record(32, state(5, TenantStatus::Active))));
}
