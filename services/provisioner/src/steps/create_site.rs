//! Step 2, create site: the tenant's unique host `<site>.<domain>` (not one
//! another tenant holds, nor one in quarantine after its tenant was
//! destroyed); for a product, its entry on the site.

use super::{StepContext, Work, product_of};
use tenantry_sagas::{SagaKind, SagaState, StepError, StepOutput};

pub(super) fn run(
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
            .ok_or_else(|| {
                StepError::permanent(format!(
                    "tenant {tenant} has no site: its tenant_created saga has not completed"
                ))
            })?;
        work.effects
            .site_products
            .push((tenant.clone(), p.product.clone()));
        return Ok(StepOutput::new()
            .with_host(host)
            .fact("product", &p.product));
    }
    let site = saga.spec.tenant.site.as_str();
    let host = format!("{site}.{}", ctx.site_domain);
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
