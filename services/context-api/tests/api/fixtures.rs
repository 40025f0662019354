//! Tenant contexts built by folding real events, as the projector does.

use tenantry_sagas::TenantContext;
use tenantry_schemas::*;
use uuid::Uuid;

fn envelope(tenant: &str, sequence: i64) -> Envelope {
    Envelope {
        event_id: Uuid::new_v4(),
        tenant_id: TenantId::parse(tenant).unwrap(),
        sequence,
        occurred_at_ms: MIN_OCCURRED_AT_MS,
        source: "test".into(),
        correlation_id: None,
        causation_id: None,
    }
}

fn commerce(context: &mut TenantContext, sequence: i64, event: CommerceEvent) {
    let envelope = envelope(context.tenant_id.as_str(), sequence);
    assert!(context.apply_commerce(&CommerceRecord { envelope, event }));
}

fn provisioning(context: &mut TenantContext, sequence: i64, event: ProvisioningEvent) {
    let envelope = envelope(context.tenant_id.as_str(), sequence);
    assert!(context.apply_provisioning(&ProvisioningRecord { envelope, event }));
}

fn created(site: &str) -> CommerceEvent {
    CommerceEvent::TenantCreated(TenantCreated {
        site: SiteName::parse(site).unwrap(),
        owner_email: format!("owner@{site}.test"),
        country: CountryCode::parse("DE").unwrap(),
        residency_pin: Some(Region::Eu),
    })
}

fn jira() -> ProductKey {
    ProductKey::parse("jira").unwrap()
}

fn completed(product: Option<ProductKey>, trigger_sequence: i64) -> ProvisioningEvent {
    let product_saga = product.is_some();
    let mut groups = vec!["site-admins".to_owned()];
    if product_saga {
        groups.push("jira-users".into());
    }
    ProvisioningEvent::SagaCompleted(SagaCompleted {
        saga_id: Uuid::new_v4(),
        saga_kind: if product_saga {
            "provision_product"
        } else {
            "provision_tenant"
        }
        .into(),
        trigger_sequence,
        product: product.clone(),
        outcome: ProvisionedOutcome {
            site_host: Some("acme.tenantry.test".into()),
            region: Some(Region::Eu),
            region_pinned: true,
            shard: product_saga.then(|| "eu-1".into()),
            database: product_saga.then(|| "p_acme_corp_jira".into()),
            groups,
            installed_apps: if product_saga {
                vec![AppKey::parse("jira-slack").unwrap()]
            } else {
                vec![]
            },
            ..Default::default()
        },
    })
}

/// `acme-corp`: created with an EU pin, tenant saga done, Jira (25 seats,
/// standard) activated and provisioned with one app.
pub fn active_tenant() -> TenantContext {
    let mut context = TenantContext::empty(TenantId::parse("acme-corp").unwrap());
    commerce(&mut context, 1, created("acme"));
    provisioning(&mut context, 1, completed(None, 1));
    commerce(
        &mut context,
        2,
        CommerceEvent::ProductActivated(ProductActivated {
            product: jira(),
            edition: Edition::Standard,
            seats: 25,
            apps: vec![AppKey::parse("jira-slack").unwrap()],
        }),
    );
    provisioning(&mut context, 2, completed(Some(jira()), 2));
    context
}

/// `beta`: created, then its tenant saga failed (no host, no region).
pub fn failed_tenant() -> TenantContext {
    let mut context = TenantContext::empty(TenantId::parse("beta").unwrap());
    commerce(&mut context, 1, created("beta"));
    provisioning(
        &mut context,
        1,
        ProvisioningEvent::SagaFailed(SagaFailed {
            saga_id: Uuid::new_v4(),
            saga_kind: "provision_tenant".into(),
            trigger_sequence: 1,
            product: None,
            reason: "step 2 create_site: host taken".into(),
            compensated: true,
        }),
    );
    context
}
