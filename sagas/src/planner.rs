//! Which saga a commerce event starts.
//!
//! Walking-skeleton scope: tenant created starts `provision_tenant`, product
//! activated starts `provision_product`; the other five kinds are recorded in
//! the tenant's event stream and folded into the context, but start no saga yet
//! (reconciliation of those is issue #4).

use crate::saga::{ProductSpec, SagaKind, SagaSpec, TenantSpec};
use tenantry_schemas::{CommerceEvent, CommerceRecord};

/// A saga to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SagaPlan {
    /// Kind.
    pub kind: SagaKind,
    /// Input.
    pub spec: SagaSpec,
}

/// A commerce event that cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A product event for a tenant that was never created.
    #[error("tenant {0} is unknown: no tenant_created was recorded before this product event")]
    UnknownTenant(String),
}

/// Plans the saga for `record`, given the tenant as recorded so far (`None`
/// when no `tenant_created` was seen). `Ok(None)`: nothing to provision.
pub fn plan(
    record: &CommerceRecord,
    tenant: Option<&TenantSpec>,
) -> Result<Option<SagaPlan>, PlanError> {
    match &record.event {
        CommerceEvent::TenantCreated(created) => Ok(Some(SagaPlan {
            kind: SagaKind::ProvisionTenant,
            spec: SagaSpec {
                tenant: TenantSpec {
                    site: created.site.clone(),
                    owner_email: created.owner_email.clone(),
                    country: created.country.clone(),
                    residency_pin: created.residency_pin,
                },
                product: None,
            },
        })),
        CommerceEvent::ProductActivated(activated) => {
            let tenant = tenant
                .ok_or_else(|| PlanError::UnknownTenant(record.envelope.tenant_id.to_string()))?;
            Ok(Some(SagaPlan {
                kind: SagaKind::ProvisionProduct,
                spec: SagaSpec {
                    tenant: tenant.clone(),
                    product: Some(ProductSpec {
                        product: activated.product.clone(),
                        edition: activated.edition,
                        seats: activated.seats,
                        apps: activated.apps.clone(),
                    }),
                },
            }))
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenantry_schemas::*;
    use uuid::Uuid;

    fn record(event: CommerceEvent) -> CommerceRecord {
        CommerceRecord {
            envelope: Envelope {
                event_id: Uuid::from_u128(1),
                tenant_id: TenantId::parse("t1").unwrap(),
                sequence: 1,
                occurred_at_ms: MIN_OCCURRED_AT_MS,
                source: "test".into(),
                correlation_id: None,
                causation_id: None,
            },
            event,
        }
    }

    #[test]
    fn events_map_to_sagas() {
        let tenant = TenantSpec {
            site: SiteName::parse("acme").unwrap(),
            owner_email: "o@acme.test".into(),
            country: CountryCode::parse("DE").unwrap(),
            residency_pin: None,
        };
        let jira = ProductKey::parse("jira").unwrap();
        let created = CommerceEvent::TenantCreated(TenantCreated {
            site: tenant.site.clone(),
            owner_email: tenant.owner_email.clone(),
            country: tenant.country.clone(),
            residency_pin: None,
        });
        let activated = CommerceEvent::ProductActivated(ProductActivated {
            product: jira.clone(),
            edition: Edition::Standard,
            seats: 25,
            apps: vec![],
        });
        let suspended = CommerceEvent::ProductSuspended(ProductSuspended {
            product: jira.clone(),
            reason: None,
        });
        // (name, event, tenant known before, expected saga kind or rejection)
        type Case<'a> = (
            &'a str,
            CommerceEvent,
            Option<&'a TenantSpec>,
            Result<Option<SagaKind>, ()>,
        );
        let cases: Vec<Case> = vec![
            (
                "created",
                created,
                None,
                Ok(Some(SagaKind::ProvisionTenant)),
            ),
            (
                "activated, known tenant",
                activated.clone(),
                Some(&tenant),
                Ok(Some(SagaKind::ProvisionProduct)),
            ),
            ("activated, unknown tenant", activated, None, Err(())),
            ("suspended: no saga yet", suspended, Some(&tenant), Ok(None)),
        ];
        for (name, event, known, expected) in cases {
            let got = plan(&record(event), known)
                .map(|p| p.map(|p| p.kind))
                .map_err(|_| ());
            assert_eq!(got, expected, "{name}");
        }
    }
}
