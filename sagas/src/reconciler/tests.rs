//! Table-driven tests of the reconciler: desired × provisioned → plan.

use super::*;
use crate::desired::{DesiredProduct, Goal, Licence};
use crate::saga::TenantSpec;
use crate::test_support::envelope as trigger;
use tenantry_schemas::*;

fn jira() -> ProductKey {
    ProductKey::parse("jira").unwrap()
}

fn confluence() -> ProductKey {
    ProductKey::parse("confluence").unwrap()
}

fn licence(seats: i32) -> Licence {
    Licence {
        seats,
        edition: Edition::Standard,
    }
}

fn desired(products: &[(ProductKey, Goal, i32, i64)], destroyed: bool) -> DesiredState {
    DesiredState {
        tenant: Some(TenantSpec {
            site: SiteName::parse("acme").unwrap(),
            owner_email: "o@acme.test".into(),
            country: CountryCode::parse("DE").unwrap(),
            residency_pin: None,
            kms_key: None,
        }),
        destroyed,
        products: products
            .iter()
            .map(|(key, goal, seats, at)| {
                (
                    key.clone(),
                    DesiredProduct {
                        goal: *goal,
                        licence: licence(*seats),
                        apps: vec![],
                        activated_at: *at,
                    },
                )
            })
            .collect(),
        ..DesiredState::default()
    }
}

fn provisioned(tenant: bool, products: &[(ProductKey, bool, i32, i64)]) -> ProvisionedState {
    ProvisionedState {
        tenant,
        destroyed: false,
        products: products
            .iter()
            .map(|(key, suspended, seats, at)| {
                (
                    key.clone(),
                    ProvisionedProduct {
                        suspended: *suspended,
                        licence: licence(*seats),
                        apps: vec![],
                        activated_at: *at,
                        shard: None,
                        database: None,
                    },
                )
            })
            .collect(),
        ..ProvisionedState::default()
    }
}

/// `d` after a `residency_pinned` to `region` accepted at `sequence`.
fn pinned(mut d: DesiredState, region: Region, sequence: i64) -> DesiredState {
    if let Some(t) = d.tenant.as_mut() {
        t.residency_pin = Some(region);
    }
    d.pin_sequence = sequence;
    d
}

/// `p` after a tenant or move saga triggered at `sequence` completed.
fn honoured(mut p: ProvisionedState, sequence: i64) -> ProvisionedState {
    p.pin_sequence = sequence;
    p
}

#[test]
fn reconciler_table() {
    use Goal::*;
    // (name, desired, provisioned, expected kind and product)
    type Case = (
        &'static str,
        DesiredState,
        ProvisionedState,
        Option<(SagaKind, Option<ProductKey>)>,
    );
    let cases: Vec<Case> = vec![
        (
            "nothing created",
            DesiredState::default(),
            ProvisionedState::default(),
            None,
        ),
        (
            "tenant first",
            desired(&[(jira(), Active, 5, 2)], false),
            provisioned(false, &[]),
            Some((SagaKind::ProvisionTenant, None)),
        ),
        (
            "then product",
            desired(&[(jira(), Active, 5, 2)], false),
            provisioned(true, &[]),
            Some((SagaKind::ProvisionProduct, Some(jira()))),
        ),
        (
            "agree: nothing",
            desired(&[(jira(), Active, 5, 2)], false),
            provisioned(true, &[(jira(), false, 5, 2)]),
            None,
        ),
        (
            "suspend",
            desired(&[(jira(), Suspended, 5, 2)], false),
            provisioned(true, &[(jira(), false, 5, 2)]),
            Some((SagaKind::SuspendProduct, Some(jira()))),
        ),
        (
            "suspended agrees",
            desired(&[(jira(), Suspended, 5, 2)], false),
            provisioned(true, &[(jira(), true, 5, 2)]),
            None,
        ),
        (
            "unsuspend",
            desired(&[(jira(), Active, 5, 2)], false),
            provisioned(true, &[(jira(), true, 5, 2)]),
            Some((SagaKind::UnsuspendProduct, Some(jira()))),
        ),
        (
            "licence",
            desired(&[(jira(), Active, 50, 2)], false),
            provisioned(true, &[(jira(), false, 5, 2)]),
            Some((SagaKind::UpdateLicence, Some(jira()))),
        ),
        (
            "deactivate",
            desired(&[(jira(), Deactivated, 5, 2)], false),
            provisioned(true, &[(jira(), false, 5, 2)]),
            Some((SagaKind::DeactivateProduct, Some(jira()))),
        ),
        (
            "deactivated agrees",
            desired(&[(jira(), Deactivated, 5, 2)], false),
            provisioned(true, &[]),
            None,
        ),
        (
            "suspended but never provisioned: provision first",
            desired(&[(jira(), Suspended, 5, 2)], false),
            provisioned(true, &[]),
            Some((SagaKind::ProvisionProduct, Some(jira()))),
        ),
        (
            "products in activation order",
            desired(
                &[(jira(), Active, 5, 3), (confluence(), Active, 5, 2)],
                false,
            ),
            provisioned(true, &[]),
            Some((SagaKind::ProvisionProduct, Some(confluence()))),
        ),
        (
            "new pin: move before anything else",
            pinned(desired(&[(jira(), Active, 50, 2)], false), Region::Ch, 4),
            provisioned(true, &[(jira(), false, 5, 2)]),
            Some((SagaKind::MoveTenant, None)),
        ),
        (
            "pin honoured by the move: product work resumes",
            pinned(desired(&[(jira(), Active, 50, 2)], false), Region::Ch, 4),
            honoured(provisioned(true, &[(jira(), false, 5, 2)]), 4),
            Some((SagaKind::UpdateLicence, Some(jira()))),
        ),
        (
            "pin before the tenant saga: the tenant saga places it, no move",
            pinned(desired(&[], false), Region::Ch, 2),
            provisioned(false, &[]),
            Some((SagaKind::ProvisionTenant, None)),
        ),
        (
            "tenant saga triggered after the pin honours it",
            pinned(desired(&[], false), Region::Ch, 2),
            honoured(provisioned(true, &[]), 3),
            None,
        ),
        (
            "destroy wins over a move",
            pinned(desired(&[], true), Region::Ch, 4),
            provisioned(true, &[(jira(), false, 5, 2)]),
            Some((SagaKind::DestroyTenant, None)),
        ),
        (
            "destroy wins",
            desired(&[(jira(), Active, 50, 2)], true),
            provisioned(true, &[(jira(), false, 5, 2)]),
            Some((SagaKind::DestroyTenant, None)),
        ),
    ];
    for (name, d, p, expected) in cases {
        let got = reconcile(&d, &p).map(|plan| (plan.kind, plan.spec.product.map(|s| s.product)));
        assert_eq!(got, expected, "{name}");
    }
}

#[test]
fn destruction_deactivates_in_reverse_order_of_activation() {
    let plan = reconcile(
        &desired(&[], true),
        &provisioned(true, &[(jira(), false, 5, 2), (confluence(), false, 5, 3)]),
    )
    .unwrap();
    let order: Vec<ProductKey> = plan.spec.products.into_iter().map(|p| p.product).collect();
    assert_eq!(order, vec![confluence(), jira()]);
}

#[test]
fn a_move_carries_every_provisioned_product() {
    let plan = reconcile(
        &pinned(desired(&[], false), Region::Ch, 5),
        &provisioned(true, &[(jira(), false, 5, 2), (confluence(), true, 5, 3)]),
    )
    .unwrap();
    assert_eq!(plan.kind, SagaKind::MoveTenant);
    assert_eq!(plan.spec.tenant.residency_pin, Some(Region::Ch));
    let moved: Vec<ProductKey> = plan.spec.products.into_iter().map(|p| p.product).collect();
    assert_eq!(moved, vec![confluence(), jira()]);
}

#[test]
fn every_completed_saga_moves_provisioned_state_to_agreement() {
    use crate::saga::SagaState;
    // Apply each plan as if its saga completed; the loop must end.
    let d = desired(
        &[
            (jira(), Goal::Suspended, 50, 2),
            (confluence(), Goal::Deactivated, 5, 3),
        ],
        false,
    );
    let mut p = provisioned(false, &[(confluence(), false, 5, 3)]);
    let trigger = trigger(3);
    let mut kinds = vec![];
    while let Some(plan) = reconcile(&d, &p) {
        assert!(
            kinds.len() < 10,
            "reconciliation does not converge: {kinds:?}"
        );
        kinds.push(plan.kind);
        let saga = SagaState::start(plan.kind, &trigger, plan.spec);
        p.apply_completed(&saga);
    }
    assert_eq!(
        kinds,
        vec![
            SagaKind::ProvisionTenant,
            SagaKind::ProvisionProduct,
            SagaKind::SuspendProduct,
            SagaKind::DeactivateProduct
        ]
    );
}

/// Case D4, `tenantry sagas skip`: after [`DesiredState::abandon`] of the
/// saga the reconciler planned, it no longer plans that saga (else the next
/// released event re-plans it, it fails the same way and parks again), and
/// what it governs is back to what is provisioned.
#[test]
fn an_abandoned_saga_is_not_planned_again() {
    use crate::saga::SagaState;
    let cases: Vec<(&str, DesiredState, ProvisionedState, SagaKind)> = vec![
        (
            "tenant creation",
            desired(&[(jira(), Goal::Active, 10, 2)], false),
            provisioned(false, &[]),
            SagaKind::ProvisionTenant,
        ),
        (
            "first activation",
            desired(&[(jira(), Goal::Active, 10, 2)], false),
            provisioned(true, &[]),
            SagaKind::ProvisionProduct,
        ),
        (
            "suspension",
            desired(&[(jira(), Goal::Suspended, 10, 2)], false),
            provisioned(true, &[(jira(), false, 10, 2)]),
            SagaKind::SuspendProduct,
        ),
        (
            "licence update",
            desired(&[(jira(), Goal::Active, 99, 2)], false),
            provisioned(true, &[(jira(), false, 10, 2)]),
            SagaKind::UpdateLicence,
        ),
        (
            "deactivation",
            desired(&[(jira(), Goal::Deactivated, 10, 2)], false),
            provisioned(true, &[(jira(), false, 10, 2)]),
            SagaKind::DeactivateProduct,
        ),
        (
            "destruction",
            desired(&[(jira(), Goal::Active, 10, 2)], true),
            provisioned(true, &[(jira(), false, 10, 2)]),
            SagaKind::DestroyTenant,
        ),
        (
            "move",
            pinned(desired(&[], false), Region::Ch, 4),
            honoured(provisioned(true, &[]), 1),
            SagaKind::MoveTenant,
        ),
    ];
    for (name, mut d, p, kind) in cases {
        let plan = reconcile(&d, &p).unwrap_or_else(|| panic!("{name}: nothing planned"));
        assert_eq!(plan.kind, kind, "{name}");
        let failed = SagaState::start(plan.kind, &trigger(3), plan.spec);
        let said = d.abandon(&failed, &p);
        assert!(said.contains("given up"), "{name}: {said}");
        assert_eq!(reconcile(&d, &p), None, "{name}: planned again after skip");
        if let Some(have) = p.products.get(&jira()) {
            let want = &d.products[&jira()];
            assert_eq!(want.licence, have.licence, "{name}: licence as provisioned");
            assert_eq!(
                want.goal == Goal::Suspended,
                have.suspended,
                "{name}: goal as provisioned"
            );
        }
    }
}

/// A skipped move gives the pin up: the tenant is no longer shown moving,
/// and the next product saga carries the pin it lives under, so data
/// residency does not refuse it for a region it never reached.
#[test]
fn a_skipped_move_leaves_the_tenant_pinned_where_it_lives() {
    use crate::saga::SagaState;
    for (lives_in, pinned_there) in [(Region::De, false), (Region::Ch, true)] {
        let mut p = honoured(provisioned(true, &[]), 1);
        p.region = Some(lives_in);
        p.region_pinned = pinned_there;
        let mut d = pinned(desired(&[], false), Region::Ca, 4);
        let plan = reconcile(&d, &p).expect("a move");
        assert_eq!(plan.kind, SagaKind::MoveTenant);
        let failed = SagaState::start(plan.kind, &trigger(4), plan.spec);
        d.abandon(&failed, &p);
        let pin = d.tenant.as_ref().and_then(|t| t.residency_pin);
        assert_eq!(pin, pinned_there.then_some(lives_in), "{lives_in:?}");
        assert_eq!(reconcile(&d, &p), None);

        d.products.insert(
            jira(),
            DesiredProduct {
                goal: Goal::Active,
                licence: licence(5),
                apps: vec![],
                activated_at: 5,
            },
        );
        let next = reconcile(&d, &p).expect("the activation");
        assert_eq!(next.kind, SagaKind::ProvisionProduct);
        assert_eq!(next.spec.tenant.residency_pin, pin);
    }
}
