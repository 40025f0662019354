//! Tenant contexts built by applying tenant-state records, as the projector does.

use tenantry_sagas::TenantContext;
use tenantry_schemas::*;
use uuid::Uuid;

fn apply(tenant: &str, sequence: i64, state: TenantState) -> TenantContext {
    let tenant_id = TenantId::parse(tenant).unwrap();
    let mut context = TenantContext::empty(tenant_id.clone());
    let record = ProvisioningRecord {
        envelope: Envelope {
            event_id: Uuid::new_v4(),
            tenant_id,
            sequence,
            occurred_at_ms: MIN_OCCURRED_AT_MS,
            source: "test".into(),
            correlation_id: None,
            causation_id: None,
        },
        event: ProvisioningEvent::TenantState(Box::new(state)),
    };
    assert!(context.apply(&record));
    context
}

fn state(status: TenantStatus, site: &str) -> TenantState {
    TenantState {
        commerce_sequence: 1,
        status,
        site: Some(site.into()),
        ..TenantState::default()
    }
}

/// `acme-corp`: created with an EU pin, tenant saga done, Jira (25 seats,
/// standard) activated and provisioned with one app.
pub fn active_tenant() -> TenantContext {
    let mut state = state(TenantStatus::Active, "acme");
    state.commerce_sequence = 2;
    state.site_host = Some("acme.tenantry.test".into());
    state.region = Some(Region::Eu);
    state.region_pinned = true;
    state.groups = vec!["jira-users".into(), "site-admins".into()];
    state.products.insert(
        ProductKey::parse("jira").unwrap(),
        ProductContext {
            state: ProductState::Active,
            licence: Some(Licence {
                seats: 25,
                edition: Edition::Standard,
            }),
            shard: Some("eu-1".into()),
            database: Some("p_acme_corp_jira".into()),
            installed_apps: vec![AppKey::parse("jira-slack").unwrap()],
            failure: None,
        },
    );
    apply("acme-corp", 3, state)
}

/// `beta`: created, then its tenant saga failed (no host, no region); the
/// tenant is parked on the failure.
pub fn failed_tenant() -> TenantContext {
    let mut state = state(TenantStatus::Failed, "beta");
    state.last_failure = Some("step 2 create_site: host taken".into());
    state.parked = Some(Parking {
        kind: "saga_failed".into(),
        reason: "provision_tenant saga failed: step 2 create_site: host taken".into(),
        waiting: 0,
        last_waiting: 0,
    });
    apply("beta", 2, state)
}
