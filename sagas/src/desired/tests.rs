//! Table-driven tests of the guards: (state before, event) → accepted or the rejection.

use super::*;
use tenantry_schemas::*;

fn record(sequence: i64, event: CommerceEvent) -> CommerceRecord {
    CommerceRecord {
        envelope: crate::test_support::envelope(sequence),
        event,
    }
}

fn jira() -> ProductKey {
    ProductKey::parse("jira").unwrap()
}

pub(crate) fn created() -> CommerceEvent {
    CommerceEvent::TenantCreated(TenantCreated {
        site: SiteName::parse("acme").unwrap(),
        owner_email: "o@acme.test".into(),
        country: CountryCode::parse("DE").unwrap(),
        residency_pin: None,
        kms_key: None,
    })
}

pub(crate) fn activated(seats: i32) -> CommerceEvent {
    CommerceEvent::ProductActivated(ProductActivated {
        product: jira(),
        edition: Edition::Standard,
        seats,
        apps: vec![],
    })
}

fn licence(seats: i32) -> CommerceEvent {
    CommerceEvent::LicenceUpdated(LicenceUpdated {
        product: jira(),
        edition: Edition::Premium,
        seats,
    })
}

fn suspended() -> CommerceEvent {
    CommerceEvent::ProductSuspended(ProductSuspended {
        product: jira(),
        reason: None,
    })
}

fn unsuspended() -> CommerceEvent {
    CommerceEvent::ProductUnsuspended(ProductUnsuspended { product: jira() })
}

fn deactivated() -> CommerceEvent {
    CommerceEvent::ProductDeactivated(ProductDeactivated { product: jira() })
}

fn destroyed() -> CommerceEvent {
    CommerceEvent::TenantDestroyed(TenantDestroyed { reason: None })
}

fn pin(region: Region) -> CommerceEvent {
    CommerceEvent::ResidencyPinned(ResidencyPinned {
        residency_pin: region,
        reason: None,
    })
}

/// Folds `history` (all must be accepted), then applies `event`.
fn after(history: &[CommerceEvent], event: CommerceEvent) -> (DesiredState, Result<(), Rejection>) {
    let mut state = DesiredState::default();
    for (i, e) in history.iter().enumerate() {
        state
            .apply(&record(i as i64 + 1, e.clone()))
            .expect("history accepted");
    }
    let result = state.apply(&record(history.len() as i64 + 1, event));
    (state, result)
}

#[test]
fn guards_table() {
    // (name, history, event, Ok(goal of jira after) | Err(reason fragment))
    type Case = (
        &'static str,
        Vec<CommerceEvent>,
        CommerceEvent,
        Result<Option<Goal>, &'static str>,
    );
    let cases: Vec<Case> = vec![
        (
            "product event for unknown tenant",
            vec![],
            activated(5),
            Err("is unknown"),
        ),
        (
            "product event for destroyed tenant",
            vec![created(), destroyed()],
            activated(5),
            Err("is destroyed"),
        ),
        (
            "second tenant_created",
            vec![created()],
            created(),
            Err("already created"),
        ),
        (
            "activate",
            vec![created()],
            activated(5),
            Ok(Some(Goal::Active)),
        ),
        (
            "activate twice is a no-op",
            vec![created(), activated(5)],
            activated(9),
            Ok(Some(Goal::Active)),
        ),
        (
            "suspend active",
            vec![created(), activated(5)],
            suspended(),
            Ok(Some(Goal::Suspended)),
        ),
        (
            "suspend unknown product",
            vec![created()],
            suspended(),
            Err("is not active"),
        ),
        (
            "unsuspend suspended",
            vec![created(), activated(5), suspended()],
            unsuspended(),
            Ok(Some(Goal::Active)),
        ),
        (
            "unsuspend active",
            vec![created(), activated(5)],
            unsuspended(),
            Err("is not suspended"),
        ),
        (
            "licence for active",
            vec![created(), activated(5)],
            licence(50),
            Ok(Some(Goal::Active)),
        ),
        (
            "licence for suspended",
            vec![created(), activated(5), suspended()],
            licence(50),
            Ok(Some(Goal::Suspended)),
        ),
        (
            "licence for unknown product",
            vec![created()],
            licence(50),
            Err("applied when it becomes active"),
        ),
        (
            "deactivate active",
            vec![created(), activated(5)],
            deactivated(),
            Ok(Some(Goal::Deactivated)),
        ),
        (
            "deactivate twice",
            vec![created(), activated(5), deactivated()],
            deactivated(),
            Err("is not active or suspended"),
        ),
        (
            "reactivate deactivated",
            vec![created(), activated(5), deactivated()],
            activated(7),
            Ok(Some(Goal::Active)),
        ),
        (
            "destroy",
            vec![created(), activated(5)],
            destroyed(),
            Ok(Some(Goal::Active)),
        ),
        ("destroy unknown", vec![], destroyed(), Err("is unknown")),
        (
            "pin unknown tenant",
            vec![],
            pin(Region::Ch),
            Err("is unknown"),
        ),
        (
            "pin destroyed tenant",
            vec![created(), destroyed()],
            pin(Region::Ch),
            Err("is destroyed"),
        ),
        (
            "pin keeps products",
            vec![created(), activated(5)],
            pin(Region::Ch),
            Ok(Some(Goal::Active)),
        ),
    ];
    for (name, history, event, expected) in cases {
        let (state, result) = after(&history, event);
        match expected {
            Ok(goal) => {
                assert!(result.is_ok(), "{name}: {result:?}");
                assert_eq!(state.products.get(&jira()).map(|p| p.goal), goal, "{name}");
            }
            Err(fragment) => {
                let rejection = result.expect_err(name);
                assert!(
                    rejection.reason.contains(fragment),
                    "{name}: {}",
                    rejection.reason
                );
            }
        }
    }
}

#[test]
fn a_new_pin_is_recorded_with_its_sequence_and_a_repeated_one_is_not() {
    let (state, result) = after(&[created(), activated(5)], pin(Region::Ch));
    assert!(result.is_ok());
    assert_eq!(
        state.tenant.as_ref().unwrap().residency_pin,
        Some(Region::Ch)
    );
    assert_eq!(state.pin_sequence, 3);
    let (state, result) = after(&[created(), pin(Region::Ch)], pin(Region::Ch));
    assert!(result.is_ok());
    assert_eq!(state.pin_sequence, 2, "the same pin again starts no move");
}

#[test]
fn activating_twice_keeps_the_first_licence() {
    let (state, _) = after(&[created(), activated(5)], activated(9));
    assert_eq!(state.products[&jira()].licence.seats, 5);
    assert_eq!(state.products[&jira()].activated_at, 2);
}

#[test]
fn a_pending_licence_applies_on_activation() {
    let mut state = DesiredState::default();
    state.apply(&record(1, created())).unwrap();
    assert!(state.apply(&record(2, licence(50))).is_err());
    state.apply(&record(3, activated(5))).unwrap();
    assert_eq!(state.products[&jira()].licence.seats, 50);
    assert!(state.pending_licences.is_empty());
}

#[test]
fn after_a_skipped_creation_product_events_are_rejected_and_a_new_creation_is_accepted() {
    use crate::reconciler::{ProvisionedState, reconcile};
    let mut state = DesiredState::default();
    state.apply(&record(1, created())).unwrap();
    let plan = reconcile(&state, &ProvisionedState::default()).unwrap();
    let failed = crate::SagaState::start(plan.kind, &record(1, created()).envelope, plan.spec);
    state.abandon(&failed, &ProvisionedState::default());
    let rejection = state.apply(&record(2, activated(5))).unwrap_err();
    assert!(
        rejection.reason.contains("operator skipped it"),
        "{}",
        rejection.reason
    );
    assert!(state.products.is_empty());
    state.apply(&record(3, created())).unwrap();
    assert!(!state.creation_skipped);
    state.apply(&record(4, activated(5))).unwrap();
    assert_eq!(state.products[&jira()].activated_at, 4);
}
