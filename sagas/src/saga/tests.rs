//! Table-driven tests of the saga state machine: a script of step results in,
//! the final status and compensation order out.

use super::*;

fn envelope() -> Envelope {
    Envelope {
        event_id: Uuid::from_u128(42),
        tenant_id: TenantId::parse("t1").unwrap(),
        sequence: 2,
        occurred_at_ms: 1_767_225_600_000,
        source: "commerce".into(),
        correlation_id: None,
        causation_id: None,
    }
}

fn spec() -> SagaSpec {
    SagaSpec {
        tenant: TenantSpec {
            site: SiteName::parse("acme").unwrap(),
            owner_email: "owner@acme.test".into(),
            country: CountryCode::parse("DE").unwrap(),
            residency_pin: Some(Region::Eu),
            kms_key: None,
        },
        product: Some(ProductSpec {
            product: ProductKey::parse("jira").unwrap(),
            edition: Edition::Standard,
            seats: 25,
            apps: vec![],
        }),
        products: vec![],
    }
}

fn output(step: Step) -> StepOutput {
    let output = StepOutput::new();
    match step {
        Step::CreateSite => output.with_host("acme.tenantry.test"),
        Step::PlaceRegion => output.with_region("eu", true),
        Step::CreateIdentity => output.with_groups(["jira-users", "site-admins"]),
        Step::ProvisionDatabase => output.with_database("eu-1", "p_t1_jira"),
        _ => output,
    }
}

/// What the runner observes for each action, in order.
#[derive(Clone, Copy, Debug)]
enum Obs {
    Ok,
    Retryable,
    Permanent,
    CompensationFails,
}

/// Drives a saga with `script` (one observation per action) and returns the
/// final state and the order of compensations.
fn drive(script: &[Obs]) -> (SagaState, Vec<Step>) {
    let mut saga = SagaState::start(SagaKind::ProvisionProduct, &envelope(), spec());
    let mut compensations = vec![];
    for obs in script {
        match (saga.next_action(), obs) {
            (SagaAction::Run(step), Obs::Ok) => saga.step_succeeded(step, output(step)),
            (SagaAction::Run(step), Obs::Retryable) => {
                saga.step_failed(step, &StepError::retryable("timeout"))
            }
            (SagaAction::Run(step), _) => {
                saga.step_failed(step, &StepError::permanent("site taken"))
            }
            (SagaAction::Compensate(step), Obs::CompensationFails) => {
                saga.compensation_failed(step, &StepError::permanent("drop failed"))
            }
            (SagaAction::Compensate(step), _) => {
                compensations.push(step);
                saga.compensated(step)
            }
            (SagaAction::Done, _) => panic!("script longer than the saga"),
        }
        .expect("transition applies");
    }
    (saga, compensations)
}

#[test]
fn scripted_sagas_end_where_expected() {
    use Obs::*;
    // (name, script, final status, compensation order)
    type Case = (&'static str, Vec<Obs>, SagaStatus, Vec<Step>);
    let cases: &[Case] = &[
        (
            "all seven succeed",
            vec![Ok; 7],
            SagaStatus::Completed,
            vec![],
        ),
        (
            "retryable failure then success",
            [vec![Ok, Retryable], vec![Ok; 6]].concat(),
            SagaStatus::Completed,
            vec![],
        ),
        (
            "first step fails: nothing to compensate",
            vec![Permanent],
            SagaStatus::Failed,
            vec![],
        ),
        (
            "step 3 fails: 2 then 1 compensated",
            vec![Ok, Ok, Permanent, Ok, Ok],
            SagaStatus::Failed,
            vec![Step::CreateSite, Step::RecordLicence],
        ),
        (
            "compensation fails: compensation_failed",
            vec![Ok, Ok, Permanent, CompensationFails],
            SagaStatus::CompensationFailed,
            vec![],
        ),
    ];
    for (name, script, status, compensations) in cases {
        let (saga, done) = drive(script);
        assert_eq!(saga.status, *status, "{name}");
        assert_eq!(saga.next_action(), SagaAction::Done, "{name}");
        assert_eq!(&done, compensations, "{name}");
        assert_eq!(saga.version as usize, script.len() + 1, "{name}");
    }
}

#[test]
fn compensation_failure_is_never_reported_as_compensated() {
    let (saga, _) = drive(&[Obs::Ok, Obs::Permanent, Obs::CompensationFails]);
    assert_eq!(saga.status, SagaStatus::CompensationFailed);
    assert!(
        saga.failure
            .as_deref()
            .unwrap()
            .contains("compensation of step 1")
    );
}

#[test]
fn stale_messages_are_rejected_without_change() {
    let mut saga = SagaState::start(SagaKind::ProvisionProduct, &envelope(), spec());
    saga.step_succeeded(Step::RecordLicence, output(Step::RecordLicence))
        .unwrap();
    let before = saga.clone();
    // A duplicate result for step 1 and a result for a step not yet due.
    assert!(
        saga.step_succeeded(Step::RecordLicence, StepOutput::new())
            .is_err()
    );
    assert!(
        saga.step_succeeded(Step::InstallApps, StepOutput::new())
            .is_err()
    );
    assert!(saga.compensated(Step::RecordLicence).is_err());
    assert_eq!(saga, before);
}

#[test]
fn outcome_comes_from_step_results() {
    let (saga, _) = drive(&[Obs::Ok; 7]);
    let outcome = saga.outcome();
    assert_eq!(outcome.site_host.as_deref(), Some("acme.tenantry.test"));
    assert_eq!(outcome.region, Some(Region::Eu));
    assert!(outcome.region_pinned);
    assert_eq!(outcome.shard.as_deref(), Some("eu-1"));
    assert_eq!(outcome.database.as_deref(), Some("p_t1_jira"));
    assert_eq!(outcome.groups, vec!["jira-users", "site-admins"]);
}

#[test]
fn saga_id_is_stable_for_a_redelivered_trigger() {
    let a = SagaState::start(SagaKind::ProvisionProduct, &envelope(), spec());
    let b = SagaState::start(SagaKind::ProvisionProduct, &envelope(), spec());
    assert_eq!(a.saga_id, b.saga_id);
}

#[test]
fn retry_restarts_a_compensated_saga_and_resumes_a_failed_compensation() {
    let (mut failed, _) = drive(&[Obs::Ok, Obs::Permanent, Obs::Ok]);
    assert_eq!(failed.status, SagaStatus::Failed);
    failed.retry().unwrap();
    assert_eq!(failed.next_action(), SagaAction::Run(Step::RecordLicence));
    assert!(failed.failure.is_none());

    let (mut stuck, _) = drive(&[Obs::Ok, Obs::Ok, Obs::Permanent, Obs::CompensationFails]);
    stuck.retry().unwrap();
    assert_eq!(stuck.status, SagaStatus::Compensating);
    assert_eq!(
        stuck.next_action(),
        SagaAction::Compensate(Step::CreateSite)
    );

    let (mut done, _) = drive(&[Obs::Ok; 7]);
    assert!(done.retry().is_err(), "a completed saga cannot be retried");
}

#[test]
fn past_a_pivot_a_failure_is_not_compensated_and_retry_resumes_there() {
    let mut saga = SagaState::start(SagaKind::DeactivateProduct, &envelope(), spec());
    for step in [
        Step::UninstallApps,
        Step::RemoveProductGroup,
        Step::SnapshotDatabase,
        Step::RetireDatabase,
    ] {
        assert_eq!(saga.next_action(), SagaAction::Run(step));
        saga.step_succeeded(step, StepOutput::new()).unwrap();
    }
    saga.step_failed(Step::EndLicence, &StepError::permanent("boom"))
        .unwrap();
    assert_eq!(saga.status, SagaStatus::Failed);
    assert_eq!(
        saga.next_action(),
        SagaAction::Done,
        "nothing to compensate past the pivot"
    );
    assert!(saga.compensated.is_empty(), "not compensated");
    assert!(
        saga.failure
            .as_deref()
            .unwrap()
            .contains("after pivot step retire_database")
    );
    saga.retry().unwrap();
    assert_eq!(saga.next_action(), SagaAction::Run(Step::EndLicence));

    // Before the pivot, the same failure compensates in reverse order.
    let mut early = SagaState::start(SagaKind::DeactivateProduct, &envelope(), spec());
    early
        .step_succeeded(Step::UninstallApps, StepOutput::new())
        .unwrap();
    early
        .step_failed(Step::RemoveProductGroup, &StepError::permanent("boom"))
        .unwrap();
    assert_eq!(
        early.next_action(),
        SagaAction::Compensate(Step::UninstallApps)
    );
}

/// A step blocked outside Tenantry (a tenant's own KMS key disabled) fails
/// the saga at once: no compensation, and a retry resumes at that step with
/// the earlier results kept.
#[test]
fn a_blocked_step_fails_uncompensated_and_retry_resumes_there() {
    let mut saga = SagaState::start(SagaKind::ProvisionProduct, &envelope(), spec());
    for step in &PROVISION[..5] {
        saga.step_succeeded(*step, output(*step)).unwrap();
    }
    let disabled = StepError::blocked("the KMS key k of tenant t1 is disabled");
    assert!(!disabled.retryable);
    saga.step_failed(Step::ProvisionDatabase, &disabled)
        .unwrap();
    assert_eq!(saga.status, SagaStatus::Failed);
    assert!(saga.blocked);
    assert_eq!(saga.next_action(), SagaAction::Done, "nothing compensated");
    assert!(saga.compensated.is_empty());
    let failure = saga.failure.clone().unwrap();
    assert!(
        failure.contains("step 6 provision_database: the KMS key k of tenant t1 is disabled"),
        "{failure}"
    );
    assert!(
        failure.contains("`tenantry sagas retry` resumes here"),
        "{failure}"
    );
    // Stored as JSON and read back, the saga still knows it was blocked.
    let stored: SagaState = serde_json::from_str(&serde_json::to_string(&saga).unwrap()).unwrap();
    assert_eq!(stored, saga);

    saga.retry().unwrap();
    assert_eq!(saga.status, SagaStatus::Running);
    assert!(!saga.blocked && saga.failure.is_none());
    assert_eq!(saga.next_action(), SagaAction::Run(Step::ProvisionDatabase));
    assert_eq!(saga.results.len(), 5, "earlier steps kept");
}

/// Sagas stored before `blocked` existed read as not blocked.
#[test]
fn a_saga_stored_without_blocked_reads_as_not_blocked() {
    let saga = SagaState::start(SagaKind::ProvisionProduct, &envelope(), spec());
    let json = serde_json::to_string(&saga).unwrap();
    assert!(
        !json.contains("blocked") && !json.contains("kms_key"),
        "{json}"
    );
    let read: SagaState = serde_json::from_str(&json).unwrap();
    assert!(!read.blocked);
}

#[test]
fn every_kind_numbers_its_steps_from_one() {
    for kind in [
        SagaKind::ProvisionTenant,
        SagaKind::SuspendProduct,
        SagaKind::DeactivateProduct,
        SagaKind::DestroyTenant,
    ] {
        for (i, step) in kind.steps().iter().enumerate() {
            assert_eq!(kind.step_number(*step), i as i32 + 1);
        }
        assert_eq!(SagaKind::parse(kind.as_str()), Some(kind));
    }
}
