//! What the saga runner counts and times: each step attempt, each
//! compensation attempt and the saga's end, by saga kind and step
//! ([`crate::events`]).

use super::support::{Behaviour, FakeEffects, runner, tenant_saga};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};
use tenantry_sagas::{ProvisionerStore, Step, StepError, UnitOfWork};
use tenantry_store::memory::MemoryStore;
use tokio_util::sync::CancellationToken;

/// Drives a tenant saga with `effects` on a fresh store and renders what
/// the runner recorded, with a recorder of this test alone.
async fn drive(effects: &FakeEffects) -> String {
    let recorder: PrometheusRecorder = PrometheusBuilder::new().build_recorder();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let store = MemoryStore::new();
    let saga = tenant_saga("t1");
    let mut work = store.begin().await.unwrap();
    assert!(work.insert_saga(&saga).await.unwrap());
    work.commit().await.unwrap();
    runner(&store, effects)
        .drive(saga, &CancellationToken::new())
        .await
        .unwrap();
    recorder.handle().render()
}

fn assert_lines(text: &str, lines: &[&str]) {
    for line in lines {
        assert!(text.contains(line), "{line} not in:\n{text}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_failed_saga_counts_its_steps_compensations_and_outcome() {
    let effects = FakeEffects::default();
    effects.execute(
        Step::PlaceRegion,
        Behaviour::Fail(StepError::permanent("no")),
        1,
    );
    let text = drive(&effects).await;
    assert_lines(
        &text,
        &[
            r#"tenantry_provisioner_steps_total{kind="provision_tenant",step="create_site",outcome="succeeded"} 1"#,
            r#"tenantry_provisioner_steps_total{kind="provision_tenant",step="place_region",outcome="failed"} 1"#,
            r#"tenantry_provisioner_step_duration_seconds_count{kind="provision_tenant",step="place_region"} 1"#,
            r#"tenantry_provisioner_compensations_total{kind="provision_tenant",step="create_site",outcome="compensated"} 1"#,
            r#"tenantry_provisioner_compensations_total{kind="provision_tenant",step="record_licence",outcome="compensated"} 1"#,
            r#"tenantry_provisioner_sagas_finished_total{kind="provision_tenant",outcome="failed",path="alone"} 1"#,
            r#"tenantry_provisioner_saga_duration_seconds_count{kind="provision_tenant",outcome="failed"} 1"#,
        ],
    );
    assert!(!text.contains(r#"outcome="completed""#), "{text}");
}

#[tokio::test(start_paused = true)]
async fn retried_steps_and_compensations_count_each_attempt() {
    let effects = FakeEffects::default();
    effects
        .execute(
            Step::CreateSite,
            Behaviour::Fail(StepError::retryable("busy")),
            1,
        )
        .execute(
            Step::PlaceRegion,
            Behaviour::Fail(StepError::permanent("no")),
            1,
        )
        .compensate(
            Step::CreateSite,
            Behaviour::Fail(StepError::retryable("site registry down")),
            3,
        );
    let text = drive(&effects).await;
    assert_lines(
        &text,
        &[
            r#"tenantry_provisioner_steps_total{kind="provision_tenant",step="create_site",outcome="retrying"} 1"#,
            r#"tenantry_provisioner_steps_total{kind="provision_tenant",step="create_site",outcome="succeeded"} 1"#,
            r#"tenantry_provisioner_compensations_total{kind="provision_tenant",step="create_site",outcome="retrying"} 2"#,
            r#"tenantry_provisioner_compensations_total{kind="provision_tenant",step="create_site",outcome="failed"} 1"#,
            r#"tenantry_provisioner_sagas_finished_total{kind="provision_tenant",outcome="compensation_failed",path="alone"} 1"#,
        ],
    );
}
