//! The `--json` documents' shapes: field names, `null` for what is absent,
//! arrays for lists.

use super::*;
use serde_json::{Value, json};
use tenantry_sagas::ports::StepOutput;
use tenantry_sagas::saga::{ProductSpec, TenantSpec};
use tenantry_sagas::{SagaKind, SagaSpec, SagaStatus, Step};
use tenantry_schemas::{CountryCode, Edition, Envelope, ProductKey, SiteName, TenantId};
use uuid::Uuid;

fn to_json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap()
}

/// A product saga of tenant t1 that failed at `provision_database` and
/// undid `create_site`.
fn failed_saga() -> SagaState {
    let trigger = Envelope {
        event_id: Uuid::from_u128(42),
        tenant_id: TenantId::parse("t1").unwrap(),
        sequence: 2,
        occurred_at_ms: 1_767_225_600_000,
        source: "commerce".into(),
        correlation_id: None,
        causation_id: None,
    };
    let spec = SagaSpec {
        tenant: TenantSpec {
            site: SiteName::parse("acme").unwrap(),
            owner_email: "owner@acme.test".into(),
            country: CountryCode::parse("DE").unwrap(),
            residency_pin: None,
            kms_key: None,
        },
        product: Some(ProductSpec {
            product: ProductKey::parse("jira").unwrap(),
            edition: Edition::Standard,
            seats: 25,
            apps: vec![],
        }),
        products: vec![],
    };
    let mut saga = SagaState::start(SagaKind::ProvisionProduct, &trigger, spec);
    saga.results.insert(Step::CreateSite, StepOutput::new());
    saga.compensated.push(Step::CreateSite);
    saga.status = SagaStatus::Failed;
    saga.failure = Some("provision_database: no shard".into());
    saga
}

fn parked() -> Parked {
    Parked {
        tenant_id: "t1".into(),
        kind: "saga_failed".into(),
        reason: "saga failed".into(),
        saga_id: Some("s-1".into()),
        event_id: None,
        action: None,
        parked_at: 1_767_225_600_000,
        waiting: 2,
    }
}

#[test]
fn a_saga_is_an_object_with_its_steps_and_failure() {
    let saga = failed_saga();
    let json = to_json(&SagaRow::from(&saga));
    assert_eq!(
        json,
        json!({
            "saga_id": saga.saga_id.to_string(),
            "tenant_id": "t1",
            "kind": "provision_product",
            "status": "failed",
            "version": saga.version,
            "trigger_sequence": 2,
            "product": "jira",
            "steps": ["create_site"],
            "compensated": ["create_site"],
            "failure": "provision_database: no shard",
            "blocked": false,
        })
    );
}

#[test]
fn a_parked_tenant_names_its_time_in_ms_and_nulls_what_is_absent() {
    let json = to_json(&ParkedRow::from(&parked()));
    assert_eq!(
        json,
        json!({
            "tenant_id": "t1",
            "kind": "saga_failed",
            "reason": "saga failed",
            "saga_id": "s-1",
            "event_id": null,
            "action": null,
            "parked_at_ms": 1_767_225_600_000_i64,
            "waiting": 2,
        })
    );
}

#[test]
fn a_tenant_report_holds_sagas_events_rejections_and_parking() {
    let events = [
        (1, "tenant_created".to_owned(), "processed".to_owned()),
        (3, "product_suspended".to_owned(), "waiting".to_owned()),
    ];
    let rejections = [(
        2,
        "licence_updated".to_owned(),
        "no such product".to_owned(),
    )];
    let parked = parked();
    let report = TenantReport::new("t1", &[failed_saga()], &events, &rejections, Some(&parked));
    let json = to_json(&report);
    assert_eq!(json["tenant_id"], "t1");
    assert_eq!(json["sagas"][0]["status"], "failed");
    assert_eq!(
        json["events"],
        json!([
            {"sequence": 1, "kind": "tenant_created", "state": "processed"},
            {"sequence": 3, "kind": "product_suspended", "state": "waiting"},
        ])
    );
    assert_eq!(
        json["rejections"],
        json!([{"sequence": 2, "kind": "licence_updated", "reason": "no such product"}])
    );
    assert_eq!(json["parked"]["waiting"], 2);

    let quiet = to_json(&TenantReport::new("t2", &[], &events[..1], &[], None));
    assert_eq!(quiet["sagas"], json!([]));
    assert_eq!(quiet["rejections"], json!([]));
    assert_eq!(quiet["parked"], Value::Null);
}

#[test]
fn a_dead_letter_reads_its_headers_and_numbers_its_source_position() {
    let record = Record {
        topic: "commerce.lifecycle.v1.dlq".into(),
        partition: 0,
        offset: 7,
        key: Some(b"t1".to_vec()),
        payload: Some(b"{}".to_vec()),
        headers: vec![
            ("dlq.source.topic".into(), b"commerce.lifecycle.v1".to_vec()),
            ("dlq.source.partition".into(), b"3".to_vec()),
            ("dlq.source.offset".into(), b"41".to_vec()),
            ("dlq.reason".into(), b"undecodable".to_vec()),
        ],
        timestamp_ms: None,
    };
    assert_eq!(
        to_json(&DlqRow::from(&record)),
        json!({
            "partition": 0,
            "offset": 7,
            "key": "t1",
            "source_topic": "commerce.lifecycle.v1",
            "source_partition": 3,
            "source_offset": 41,
            "reason": "undecodable",
        })
    );
    let bare = Record {
        key: None,
        headers: vec![],
        ..record
    };
    let json = to_json(&DlqRow::from(&bare));
    for field in [
        "key",
        "source_topic",
        "source_partition",
        "source_offset",
        "reason",
    ] {
        assert_eq!(json[field], Value::Null, "{field}");
    }
}

#[test]
fn republish_and_migrate_are_objects_of_counts_and_places() {
    assert_eq!(
        to_json(&RepublishRow {
            queued_tenants: 2,
            outbox_pending: 5
        }),
        json!({"queued_tenants": 2, "outbox_pending": 5})
    );
    assert_eq!(
        to_json(&MigrateRow {
            store: "postgres://postgres@h/db".into(),
            context_store: ContextStoreRow::Dynamodb {
                table: "contexts".into()
            },
        }),
        json!({
            "store": "postgres://postgres@h/db",
            "context_store": {"kind": "dynamodb", "table": "contexts"},
        })
    );
    assert_eq!(
        to_json(&ContextStoreRow::Sql {
            url: "sqlite://c.db".into()
        }),
        json!({"kind": "sql", "url": "sqlite://c.db"})
    );
}
