use super::*;
use crate::tests::support::tenant_saga;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};
use tenantry_sagas::SagaStatus;
use tenantry_schemas::ValidationError;

/// What `emit` records, rendered by a recorder of this test alone.
fn rendered(emit: impl FnOnce()) -> String {
    let recorder: PrometheusRecorder = PrometheusBuilder::new().build_recorder();
    metrics::with_local_recorder(&recorder, emit);
    recorder.handle().render()
}

#[test]
fn catalog_is_well_formed() {
    tenantry_telemetry::metrics::assert_well_formed(CATALOG);
}

#[test]
fn dead_letter_reasons_follow_the_decode_error() {
    for (error, reason) in [
        (DecodeError::Malformed("x".into()), "malformed"),
        (DecodeError::UnknownSchema { id: 9 }, "unknown_schema"),
        (DecodeError::WrongKind("x".into()), "wrong_kind"),
        (
            DecodeError::Invalid(ValidationError::new("seats", "must be positive")),
            "invalid",
        ),
    ] {
        assert_eq!(DeadLetterReason::of(&error).as_str(), reason);
        // The label is the code the `dlq.reason` header starts with.
        assert_eq!(error.code(), reason);
    }
}

#[tokio::test]
async fn a_dead_lettered_record_is_counted_by_reason_only() {
    let record = crate::tests::support::record(7, &crate::tests::support::created("t1")).await;
    let text = rendered(|| {
        RecordDeadLettered {
            record: &record,
            reason: DeadLetterReason::KeyMismatch,
            detail: "key: record key \"t2\" is not the envelope's tenant_id \"t1\"",
        }
        .emit();
    });
    assert!(
        text.contains(
            r#"tenantry_provisioner_records_dead_lettered_total{reason="key_mismatch"} 1"#
        ),
        "{text}"
    );
    assert!(!text.contains("t1"), "no tenant id in a label: {text}");
}

#[test]
fn a_finished_saga_counts_its_outcome_and_times_it_by_kind() {
    let mut saga = tenant_saga("t1");
    saga.status = SagaStatus::Completed;
    let text = rendered(|| {
        SagaFinished {
            saga: &saga,
            duration: Duration::from_millis(30),
            path: SagaPath::Batch,
        }
        .emit();
    });
    for line in [
        r#"tenantry_provisioner_sagas_finished_total{kind="provision_tenant",outcome="completed",path="batch"} 1"#,
        r#"tenantry_provisioner_saga_duration_seconds_count{kind="provision_tenant",outcome="completed"} 1"#,
        r#"tenantry_provisioner_saga_duration_seconds_sum{kind="provision_tenant",outcome="completed"} 0.03"#,
    ] {
        assert!(text.contains(line), "{line} not in:\n{text}");
    }
}

#[test]
fn a_step_decided_in_a_batch_is_counted_not_timed() {
    let saga = tenant_saga("t1");
    let text = rendered(|| {
        StepFinished {
            saga: &saga,
            step: Step::CreateSite,
            outcome: StepOutcome::Succeeded,
            duration: None,
            attempt: 1,
            reason: None,
        }
        .emit();
        StepFinished {
            saga: &saga,
            step: Step::PlaceRegion,
            outcome: StepOutcome::Retrying,
            duration: Some(Duration::from_millis(5)),
            attempt: 1,
            reason: Some("timed out"),
        }
        .emit();
    });
    assert!(text.contains(
        r#"tenantry_provisioner_steps_total{kind="provision_tenant",step="create_site",outcome="succeeded"} 1"#
    ), "{text}");
    assert!(text.contains(
        r#"tenantry_provisioner_steps_total{kind="provision_tenant",step="place_region",outcome="retrying"} 1"#
    ), "{text}");
    assert!(
        !text
            .contains(r#"step_duration_seconds_count{kind="provision_tenant",step="create_site"}"#),
        "{text}"
    );
    assert!(text.contains(
        r#"tenantry_provisioner_step_duration_seconds_count{kind="provision_tenant",step="place_region"} 1"#
    ), "{text}");
}

#[test]
fn relay_latency_is_ack_minus_write_and_never_negative() {
    assert_eq!(
        RecordRelayed::at(1_000, 1_250).latency,
        Duration::from_millis(250)
    );
    assert_eq!(RecordRelayed::at(2_000, 1_000).latency, Duration::ZERO);
}

#[test]
fn store_samples_set_both_gauges() {
    let text = rendered(|| {
        StoreSampled {
            parked_tenants: 2,
            outbox_backlog: 0,
        }
        .emit();
    });
    assert!(
        text.contains("tenantry_provisioner_parked_tenants 2"),
        "{text}"
    );
    assert!(
        text.contains("tenantry_provisioner_outbox_backlog 0"),
        "{text}"
    );
}
