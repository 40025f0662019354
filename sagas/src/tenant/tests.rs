//! The tenant state the provisioner publishes, from its own record: driven
//! by released commerce events and saga ends as the provisioner applies them.

use super::*;
use crate::ports::{StepError, StepOutput};
use crate::saga::SagaAction;
use crate::steps::Step;
use crate::test_support::envelope;
use tenantry_schemas::*;

fn jira() -> ProductKey {
    ProductKey::parse("jira").unwrap()
}

fn created(site: &str) -> CommerceEvent {
    CommerceEvent::TenantCreated(TenantCreated {
        site: SiteName::parse(site).unwrap(),
        owner_email: "o@acme.test".into(),
        country: CountryCode::parse("DE").unwrap(),
        residency_pin: None,
        kms_key: None,
    })
}

fn activated() -> CommerceEvent {
    CommerceEvent::ProductActivated(ProductActivated {
        product: jira(),
        edition: Edition::Standard,
        seats: 5,
        apps: vec![],
    })
}

/// Releases a commerce event as the provisioner does: cursor, then the
/// desired state or a rejection.
fn release(record: &mut TenantRecord, sequence: i64, event: CommerceEvent) {
    let commerce = CommerceRecord {
        envelope: envelope(sequence),
        event,
    };
    record.ledger.commerce_sequence = sequence;
    if let Err(rejection) = record.desired.apply(&commerce) {
        record.reject(rejection);
    }
}

fn output(step: Step, site: &str) -> StepOutput {
    let output = StepOutput::new();
    match step {
        Step::CreateSite => output.with_host(format!("{site}.tenantry.test")),
        Step::PlaceRegion => output.with_region("eu", false),
        Step::CreateIdentity => output.with_groups(["jira-users", "site-admins"]),
        Step::ProvisionDatabase => output.with_database("eu-1", "p_t1_jira"),
        _ => output,
    }
}

/// Runs the saga the reconciler plans to its end, failing permanently at
/// `fail_at`, and records its end on the tenant.
fn run_planned(record: &mut TenantRecord, fail_at: Option<Step>) -> SagaState {
    let plan = reconcile(&record.desired, &record.provisioned).expect("a saga is planned");
    let trigger = record.desired.last_accepted.clone().unwrap();
    let site = record
        .desired
        .tenant
        .as_ref()
        .map_or("x".to_owned(), |t| t.site.to_string());
    let mut saga = SagaState::start(plan.kind, &trigger, plan.spec);
    loop {
        match saga.next_action() {
            SagaAction::Run(step) if Some(step) == fail_at => {
                let error =
                    StepError::permanent(format!("site host {site}.tenantry.test is taken"));
                saga.step_failed(step, &error).unwrap();
            }
            SagaAction::Run(step) => {
                saga.step_succeeded(step, output(step, &site)).unwrap();
            }
            SagaAction::Compensate(step) => {
                saga.compensated(step).unwrap();
            }
            SagaAction::Done => break,
        }
    }
    record.saga_transition(&saga);
    saga
}

fn park(record: &mut TenantRecord, reason: &str) {
    record.ledger.parked = Some(Parking {
        kind: "saga_failed".into(),
        reason: reason.into(),
        waiting: 0,
        last_waiting: 0,
    });
}

#[test]
fn a_created_and_activated_tenant_shows_what_its_sagas_provisioned() {
    let mut record = TenantRecord::default();
    release(&mut record, 1, created("acme"));
    let state = record.state();
    assert_eq!(state.status, TenantStatus::Provisioning);
    assert_eq!(state.pending_saga.as_deref(), Some("provision_tenant"));
    assert_eq!(state.site.as_deref(), Some("acme"));
    assert_eq!(state.site_host, None, "no host before step 2 completed");

    run_planned(&mut record, None);
    release(&mut record, 2, activated());
    let state = record.state();
    assert_eq!(state.status, TenantStatus::Active);
    assert_eq!(state.products[&jira()].state, ProductState::Provisioning);
    assert_eq!(state.pending_saga.as_deref(), Some("provision_product"));

    run_planned(&mut record, None);
    let state = record.state();
    assert_eq!(state.commerce_sequence, 2);
    assert_eq!(state.site_host.as_deref(), Some("acme.tenantry.test"));
    assert_eq!(state.region, Some(Region::Eu));
    assert_eq!(state.groups, ["jira-users", "site-admins"]);
    let product = &state.products[&jira()];
    assert_eq!(product.state, ProductState::Active);
    assert_eq!(product.shard.as_deref(), Some("eu-1"));
    assert_eq!(product.database.as_deref(), Some("p_t1_jira"));
    assert_eq!(
        product.licence,
        Some(Licence {
            seats: 5,
            edition: Edition::Standard
        })
    );
    assert_eq!(state.pending_saga, None);
    assert!(state.rejections.is_empty());
}

/// The issue's scenario on the record: a creation that fails on a taken
/// site, an activation behind it, a skip, a new creation. The state shows
/// the new site on its own host, no jira with the provisioner's reason, and
/// no false "already created".
#[test]
fn a_skipped_creation_leaves_the_new_site_and_the_rejected_activation() {
    let mut record = TenantRecord::default();
    release(&mut record, 1, created("dup"));
    let failed = run_planned(&mut record, Some(Step::CreateSite));
    park(&mut record, "provision_tenant saga failed");
    let state = record.state();
    assert_eq!(state.status, TenantStatus::Failed);
    assert!(state.last_failure.as_deref().unwrap().contains("is taken"));
    assert_eq!(state.pending_saga, None, "parked: nothing runs");
    assert!(
        state.products.is_empty(),
        "the waiting activation is not released"
    );

    // Operator skip (as `parking::skip` does): give the creation up, record
    // the trigger as rejected, unpark; then the waiting activation is released.
    let given_up = record.desired.abandon(&failed, &record.provisioned);
    record.ledger.failure = None;
    record.ledger.parked = None;
    record.reject(Rejection {
        sequence: 1,
        kind: "tenant_created".into(),
        reason: format!("skipped by an operator: {given_up}"),
    });
    release(&mut record, 2, activated());
    assert_eq!(record.state().status, TenantStatus::Pending);

    release(&mut record, 3, created("other"));
    run_planned(&mut record, None);
    let state = record.state();
    assert_eq!(state.status, TenantStatus::Active);
    assert_eq!(state.site.as_deref(), Some("other"));
    assert_eq!(state.site_host.as_deref(), Some("other.tenantry.test"));
    assert!(state.products.is_empty(), "{:?}", state.products);
    let rejected: Vec<(i64, &str)> = state
        .rejections
        .iter()
        .map(|r| (r.sequence, r.kind.as_str()))
        .collect();
    assert_eq!(rejected, [(1, "tenant_created"), (2, "product_activated")]);
    assert!(state.rejections[1].reason.contains("operator skipped it"));
    assert_eq!(state.last_failure, None);
}

#[test]
fn a_failed_activation_shows_failed_with_its_reason_until_it_is_retried() {
    let mut record = TenantRecord::default();
    release(&mut record, 1, created("acme"));
    run_planned(&mut record, None);
    release(&mut record, 2, activated());
    run_planned(&mut record, Some(Step::ProvisionDatabase));
    let product = &record.state().products[&jira()];
    assert_eq!(product.state, ProductState::Failed);
    assert!(
        product
            .failure
            .as_deref()
            .unwrap()
            .contains("provision_database")
    );

    run_planned(&mut record, None);
    let state = record.state();
    assert_eq!(state.products[&jira()].state, ProductState::Active);
    assert_eq!(state.products[&jira()].failure, None);
    assert_eq!(state.last_failure, None);
}

#[test]
fn access_reductions_show_at_once_and_grants_only_once_provisioned() {
    let mut record = TenantRecord::default();
    release(&mut record, 1, created("acme"));
    run_planned(&mut record, None);
    release(&mut record, 2, activated());
    run_planned(&mut record, None);
    release(
        &mut record,
        3,
        CommerceEvent::ProductSuspended(ProductSuspended {
            product: jira(),
            reason: None,
        }),
    );
    assert_eq!(
        record.state().products[&jira()].state,
        ProductState::Suspended,
        "suspended before its saga ran"
    );
    run_planned(&mut record, None);
    release(
        &mut record,
        4,
        CommerceEvent::ProductUnsuspended(ProductUnsuspended { product: jira() }),
    );
    assert_eq!(
        record.state().products[&jira()].state,
        ProductState::Suspended,
        "still suspended until the un-suspension saga completed"
    );
    run_planned(&mut record, None);
    assert_eq!(record.state().products[&jira()].state, ProductState::Active);

    release(
        &mut record,
        5,
        CommerceEvent::TenantDestroyed(TenantDestroyed { reason: None }),
    );
    let state = record.state();
    assert_eq!(state.status, TenantStatus::Destroyed);
    assert_eq!(state.products[&jira()].state, ProductState::Deactivated);
    run_planned(&mut record, None);
    let state = record.state();
    assert_eq!(
        state.site_host.as_deref(),
        Some("acme.tenantry.test"),
        "kept for lookups by host"
    );
    assert!(state.groups.is_empty());
}

#[test]
fn rejections_keep_the_latest_twenty_and_the_first_reason_per_sequence() {
    let mut record = TenantRecord::default();
    for sequence in 1..=25 {
        for reason in ["first", "second"] {
            record.reject(Rejection {
                sequence,
                kind: "licence_updated".into(),
                reason: reason.into(),
            });
        }
    }
    let kept: Vec<(i64, &str)> = record
        .ledger
        .rejections
        .iter()
        .map(|r| (r.sequence, r.reason.as_str()))
        .collect();
    assert_eq!(kept, (6..=25).map(|s| (s, "first")).collect::<Vec<_>>());
}

#[test]
fn a_parked_tenant_says_so_and_runs_nothing() {
    let mut record = TenantRecord::default();
    release(&mut record, 1, created("acme"));
    record.ledger.parked = Some(Parking {
        kind: "sequence_gap".into(),
        reason: "sequence gap: waiting for commerce sequence 2, received 3".into(),
        waiting: 1,
        last_waiting: 3,
    });
    let state = record.state();
    assert_eq!(state.parked.as_ref().unwrap().waiting, 1);
    assert_eq!(state.pending_saga, None);
}

#[test]
fn a_record_stored_before_the_ledger_existed_still_reads() {
    let record: TenantRecord = serde_json::from_str(
        r#"{"desired":{"tenant":null,"destroyed":false,"products":{},"pending_licences":{},"last_accepted":null},
            "provisioned":{"tenant":false,"destroyed":false,"products":{}}}"#,
    )
    .unwrap();
    assert_eq!(record.ledger, Ledger::default());
}
