//! Step 2, create site: the tenant's unique host `<site>.<domain>` (not one
//! another tenant holds, nor one in quarantine after its tenant was
//! destroyed); for a product, its entry on the site, active.
//!
//! Undone by deleting the site, or the product's entry.

use super::{StepContext, StepHandler, Work, now_ms, product_of};
use async_trait::async_trait;
use tenantry_sagas::step_store::StepStore;
use tenantry_sagas::{SagaKind, SagaState, StepError, StepOutput};

pub(super) struct CreateSite;

/// `ms` (Unix epoch milliseconds) as RFC 3339 UTC, to the second
/// (`2026-12-29T21:00:00Z`).
fn rfc3339_ms(ms: i64) -> String {
    let at =
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_seconds(at).to_string()
}

fn no_site(saga: &SagaState) -> StepError {
    StepError::permanent(format!(
        "tenant {} has no site: its tenant_created saga has not completed",
        saga.tenant_id
    ))
}

#[async_trait]
impl StepHandler for CreateSite {
    fn runs_in_batch(&self, _cx: &StepContext, _saga: &SagaState) -> bool {
        true
    }

    async fn run_in_batch(
        &self,
        ctx: &StepContext,
        work: &mut Work<'_>,
        saga: &SagaState,
    ) -> Result<StepOutput, StepError> {
        let tenant = &saga.tenant_id;
        let sites = &mut work.loaded.sites;
        if saga.kind == SagaKind::ProvisionProduct {
            let p = product_of(saga)?;
            let host = sites
                .iter()
                .find(|(_, owner)| *owner == tenant)
                .map(|(host, _)| host.clone())
                .ok_or_else(|| no_site(saga))?;
            work.effects
                .site_products
                .push((tenant.clone(), p.product.clone()));
            return Ok(StepOutput::new()
                .with_host(host)
                .fact("product", &p.product));
        }
        let site = saga.spec.tenant.site.as_str();
        let host = ctx.site_host(site);
        if !work.loaded.hosts_asked.contains(&host) {
            // Its owner and quarantine were not loaded (a saga planned from
            // another event than `tenant_created`): decided on its own path.
            return Err(StepError::retryable(format!(
                "site host {host} was not loaded with the batch"
            )));
        }
        if let Some(released) = work.loaded.released_hosts.get(&host) {
            if released.tenant_id != *tenant && released.reusable_after_ms > work.loaded.now_ms {
                // The wording is the step's on its own path, which reports it.
                return Err(StepError::permanent(format!(
                    "site host {host} was released by destroyed tenant {} and is in quarantine",
                    released.tenant_id
                )));
            }
            work.effects.reclaimed_hosts.push(host.clone());
            work.loaded.released_hosts.remove(&host);
        }
        match sites.get(&host) {
            Some(owner) if owner == tenant => {}
            Some(other) => {
                return Err(StepError::permanent(format!(
                    "site host {host} is taken by tenant {other}; choose another site name"
                )));
            }
            None => {
                if let Some((existing, _)) = sites.iter().find(|(_, owner)| *owner == tenant) {
                    return Err(StepError::permanent(format!(
                        "tenant {tenant} already has site {existing}; a tenant has one site"
                    )));
                }
                sites.insert(host.clone(), tenant.clone());
                work.effects
                    .sites
                    .push((host.clone(), tenant.clone(), site.to_owned()));
            }
        }
        Ok(StepOutput::new().with_host(host))
    }

    fn runs_in_work(&self, _cx: &StepContext, _saga: &SagaState) -> bool {
        true
    }

    async fn execute(
        &self,
        cx: &StepContext,
        store: &mut dyn StepStore,
        saga: &SagaState,
    ) -> Result<StepOutput, StepError> {
        let tenant = &saga.tenant_id;
        if saga.kind == SagaKind::ProvisionProduct {
            let p = product_of(saga)?;
            let host = store
                .site_host(tenant)
                .await?
                .ok_or_else(|| no_site(saga))?;
            store.activate_site_product(tenant, &p.product).await?;
            return Ok(StepOutput::new()
                .with_host(host)
                .fact("product", &p.product));
        }
        let site = saga.spec.tenant.site.as_str();
        let host = cx.site_host(site);
        if let Some(released) = store.released_host(&host).await? {
            if released.tenant_id != *tenant && released.reusable_after_ms > now_ms() {
                return Err(StepError::permanent(format!(
                    "site host {host} was released by destroyed tenant {} and is in quarantine until {}",
                    released.tenant_id,
                    rfc3339_ms(released.reusable_after_ms)
                )));
            }
            store.reclaim_host(&host).await?;
        }
        // The host is this tenant's when the insert took it; only a
        // conflict (a redelivery, the host or a site taken) needs a look.
        if !store.insert_site(&host, tenant, site).await? {
            match store.host_owner(&host).await? {
                Some(owner) if owner == *tenant => {}
                Some(other) => {
                    return Err(StepError::permanent(format!(
                        "site host {host} is taken by tenant {other}; choose another site name"
                    )));
                }
                None => {
                    return Err(match store.site_host(tenant).await? {
                        Some(existing) => StepError::permanent(format!(
                            "tenant {tenant} already has site {existing}; a tenant has one site"
                        )),
                        None => StepError::retryable(format!(
                            "site host {host} was taken and released meanwhile"
                        )),
                    });
                }
            }
        }
        Ok(StepOutput::new().with_host(host))
    }

    async fn compensate(
        &self,
        _cx: &StepContext,
        store: &mut dyn StepStore,
        saga: &SagaState,
    ) -> Result<(), StepError> {
        match saga.kind {
            SagaKind::ProvisionTenant => store.delete_site(&saga.tenant_id).await,
            _ => {
                let product = &product_of(saga)?.product;
                store.delete_site_product(&saga.tenant_id, product).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn quarantine_ends_are_shown_as_rfc3339() {
        assert_eq!(super::rfc3339_ms(1_800_000_000_123), "2027-01-15T08:00:00Z");
        assert_eq!(super::rfc3339_ms(-5), "1970-01-01T00:00:00Z");
    }
}
