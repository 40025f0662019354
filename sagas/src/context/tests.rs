//! Table-driven tests of the tenant-context fold.

use super::*;
use tenantry_schemas::*;
use uuid::Uuid;

use crate::test_support::envelope;

fn jira() -> ProductKey {
    ProductKey::parse("jira").unwrap()
}

#[derive(Clone)]
enum In {
    C(CommerceRecord),
    P(ProvisioningRecord),
}

fn c(sequence: i64, event: CommerceEvent) -> In {
    In::C(CommerceRecord {
        envelope: envelope(sequence),
        event,
    })
}

fn p(sequence: i64, event: ProvisioningEvent) -> In {
    In::P(ProvisioningRecord {
        envelope: envelope(sequence),
        event,
    })
}

fn created() -> CommerceEvent {
    CommerceEvent::TenantCreated(TenantCreated {
        site: SiteName::parse("acme").unwrap(),
        owner_email: "o@acme.test".into(),
        country: CountryCode::parse("DE").unwrap(),
        residency_pin: Some(Region::Eu),
    })
}

fn activated(seats: i32) -> CommerceEvent {
    CommerceEvent::ProductActivated(ProductActivated {
        product: jira(),
        edition: Edition::Standard,
        seats,
        apps: vec![],
    })
}

fn completed(product: Option<ProductKey>, trigger_sequence: i64) -> ProvisioningEvent {
    let product_saga = product.is_some();
    ProvisioningEvent::SagaCompleted(SagaCompleted {
        saga_id: Uuid::from_u128(trigger_sequence as u128),
        saga_kind: kind_of(product_saga).into(),
        trigger_sequence,
        product,
        outcome: ProvisionedOutcome {
            site_host: Some("acme.tenantry.test".into()),
            region: Some(Region::Eu),
            region_pinned: true,
            shard: product_saga.then(|| "eu-1".into()),
            database: product_saga.then(|| "p_t1_jira".into()),
            groups: vec!["site-admins".into()],
            installed_apps: vec![],
            ..Default::default()
        },
    })
}

fn kind_of(product_saga: bool) -> &'static str {
    if product_saga {
        "provision_product"
    } else {
        "provision_tenant"
    }
}

fn failed(product: Option<ProductKey>, trigger_sequence: i64) -> ProvisioningEvent {
    ProvisioningEvent::SagaFailed(SagaFailed {
        saga_id: Uuid::from_u128(99),
        saga_kind: kind_of(product.is_some()).into(),
        trigger_sequence,
        product,
        reason: "step 2 create_site: host taken".into(),
        compensated: true,
    })
}

fn fold(inputs: &[In]) -> TenantContext {
    let mut ctx = TenantContext::empty(TenantId::parse("t1").unwrap());
    for input in inputs {
        match input {
            In::C(r) => ctx.apply_commerce(r),
            In::P(r) => ctx.apply_provisioning(r),
        };
    }
    ctx
}

#[test]
fn fold_table() {
    let cases: Vec<(&str, Vec<In>, TenantStatus, Option<ProductState>)> = vec![
        ("nothing yet", vec![], TenantStatus::Pending, None),
        (
            "created",
            vec![c(1, created())],
            TenantStatus::Provisioning,
            None,
        ),
        (
            "created + tenant saga done",
            vec![c(1, created()), p(1, completed(None, 1))],
            TenantStatus::Active,
            None,
        ),
        (
            "product requested, saga running",
            vec![
                c(1, created()),
                p(1, completed(None, 1)),
                c(2, activated(25)),
            ],
            TenantStatus::Active,
            Some(ProductState::Provisioning),
        ),
        (
            "product saga done",
            vec![
                c(1, created()),
                p(1, completed(None, 1)),
                c(2, activated(25)),
                p(2, completed(Some(jira()), 2)),
            ],
            TenantStatus::Active,
            Some(ProductState::Active),
        ),
        (
            "product saga failed",
            vec![
                c(1, created()),
                c(2, activated(25)),
                p(1, failed(Some(jira()), 2)),
            ],
            TenantStatus::Provisioning,
            Some(ProductState::Failed),
        ),
        (
            "tenant saga failed",
            vec![c(1, created()), p(1, failed(None, 1))],
            TenantStatus::Failed,
            None,
        ),
        (
            "suspended after active",
            vec![
                c(1, created()),
                c(2, activated(25)),
                p(1, completed(Some(jira()), 2)),
                c(
                    3,
                    CommerceEvent::ProductSuspended(ProductSuspended {
                        product: jira(),
                        reason: None,
                    }),
                ),
            ],
            TenantStatus::Provisioning,
            Some(ProductState::Suspended),
        ),
        (
            "destroyed",
            vec![
                c(1, created()),
                c(
                    2,
                    CommerceEvent::TenantDestroyed(TenantDestroyed { reason: None }),
                ),
            ],
            TenantStatus::Destroyed,
            None,
        ),
    ];
    for (name, inputs, status, product) in cases {
        let ctx = fold(&inputs);
        assert_eq!(ctx.status, status, "{name}");
        assert_eq!(
            ctx.products.get(&jira()).map(|p| p.state),
            product,
            "{name}"
        );
    }
}

#[test]
fn stale_and_duplicate_sequences_are_no_ops() {
    let mut ctx = fold(&[c(1, created()), c(2, activated(25))]);
    let before = ctx.clone();
    let In::C(dup) = c(2, activated(99)) else {
        unreachable!()
    };
    assert!(!ctx.apply_commerce(&dup));
    let In::C(stale) = c(1, activated(5)) else {
        unreachable!()
    };
    assert!(!ctx.apply_commerce(&stale));
    assert_eq!(ctx, before);
}

/// Replay equals live: every interleaving of the two streams (each kept in its
/// own order) folds to the same context.
#[test]
fn interleaving_of_the_two_streams_does_not_matter() {
    let commerce = vec![c(1, created()), c(2, activated(25))];
    let provisioning = vec![p(1, completed(None, 1)), p(2, completed(Some(jira()), 2))];
    let expected = fold(&[commerce.clone(), provisioning.clone()].concat());
    // Choose positions of the commerce records among 4 slots.
    for mask in 0u8..16 {
        if mask.count_ones() != 2 {
            continue;
        }
        let (mut ci, mut pi) = (commerce.iter(), provisioning.iter());
        let order: Vec<In> = (0..4)
            .map(|slot| {
                if mask & (1 << slot) != 0 {
                    ci.next().unwrap().clone()
                } else {
                    pi.next().unwrap().clone()
                }
            })
            .collect();
        assert_eq!(fold(&order), expected, "mask {mask:04b}");
    }
    let product = &expected.products[&jira()];
    assert_eq!(product.state, ProductState::Active);
    assert_eq!(product.licence.unwrap().seats, 25);
    assert_eq!(expected.region, Some(Region::Eu));
    assert!(expected.region_pinned);
}

#[test]
fn a_gap_is_held_until_it_fills() {
    let in_order = fold(&[c(1, created()), c(2, activated(10)), c(3, licence(50))]);
    let mut ctx = fold(&[c(1, created())]);
    let In::C(third) = c(3, licence(50)) else {
        unreachable!()
    };
    assert!(ctx.apply_commerce(&third));
    assert_eq!(ctx.version.commerce_sequence, 1, "3 is held behind the gap");
    assert!(ctx.products.is_empty());
    let In::C(second) = c(2, activated(10)) else {
        unreachable!()
    };
    assert!(ctx.apply_commerce(&second));
    assert_eq!(ctx, in_order);
    assert_eq!(ctx.products[&jira()].licence.unwrap().seats, 50);
}

#[test]
fn a_saga_for_a_later_sequence_releases_held_events_past_a_skipped_gap() {
    // The provisioner skipped missing sequences 2-4 and ran a saga for 5.
    let ctx = fold(&[
        c(1, created()),
        c(5, activated(7)),
        p(1, completed(Some(jira()), 5)),
    ]);
    assert_eq!(ctx.version.commerce_sequence, 5);
    assert!(ctx.held.is_empty());
    assert_eq!(ctx.products[&jira()].state, ProductState::Active);
}

fn licence(seats: i32) -> CommerceEvent {
    CommerceEvent::LicenceUpdated(LicenceUpdated {
        product: jira(),
        edition: Edition::Premium,
        seats,
    })
}

#[test]
fn provisioning_records_out_of_order_are_applied_in_order() {
    let in_order = fold(&[
        c(1, created()),
        p(1, completed(None, 1)),
        p(2, failed(None, 1)),
        p(3, completed(None, 1)),
    ]);
    let swapped = fold(&[
        c(1, created()),
        p(1, completed(None, 1)),
        p(3, completed(None, 1)),
        p(2, failed(None, 1)),
    ]);
    assert_eq!(swapped, in_order);
    assert_eq!(swapped.status, TenantStatus::Active);
}

#[test]
fn a_completed_move_switches_region_and_product_databases() {
    let moved = ProvisioningEvent::SagaCompleted(SagaCompleted {
        saga_id: Uuid::from_u128(77),
        saga_kind: SagaKind::MoveTenant.as_str().into(),
        trigger_sequence: 3,
        product: None,
        outcome: ProvisionedOutcome {
            region: Some(Region::Ch),
            region_pinned: true,
            product_shards: [(jira(), "ch-shard-1".to_owned())].into(),
            product_databases: [(jira(), "t_t1__jira__ch".to_owned())].into(),
            ..Default::default()
        },
    });
    let pin = CommerceEvent::ResidencyPinned(ResidencyPinned {
        residency_pin: Region::Ch,
        reason: None,
    });
    let before = fold(&[
        c(1, created()),
        p(1, completed(None, 1)),
        c(2, activated(25)),
        p(2, completed(Some(jira()), 2)),
        c(3, pin),
    ]);
    assert_eq!(
        before.region,
        Some(Region::Eu),
        "data still in eu while moving"
    );
    assert_eq!(
        before.desired.tenant.as_ref().unwrap().residency_pin,
        Some(Region::Ch)
    );
    // The switch step already moves the context (the old database is retired
    // before the saga completes).
    let switched = ProvisioningEvent::StepCompleted(StepCompleted {
        saga_id: Uuid::from_u128(77),
        step: 3,
        step_name: "switch_placement".into(),
        detail: [
            ("region", "ch"),
            ("pinned", "true"),
            ("source_region", "eu"),
            ("shard:jira", "ch-shard-1"),
            ("database:jira", "t_t1__jira__ch"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
    });
    let mut after = before.clone();
    after.apply_provisioning(&ProvisioningRecord {
        envelope: envelope(3),
        event: switched,
    });
    assert_eq!(after.region, Some(Region::Ch));
    assert_eq!(
        after.products[&jira()].database.as_deref(),
        Some("t_t1__jira__ch")
    );
    after.apply_provisioning(&ProvisioningRecord {
        envelope: envelope(4),
        event: moved,
    });
    assert_eq!(after.region, Some(Region::Ch));
    assert!(after.region_pinned);
    let product = &after.products[&jira()];
    assert_eq!(product.shard.as_deref(), Some("ch-shard-1"));
    assert_eq!(product.database.as_deref(), Some("t_t1__jira__ch"));
    assert_eq!(product.state, ProductState::Active);
}
