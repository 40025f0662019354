//! Step 7, install apps: each licensed app gets a lifecycle callback
//! (`installed`) and is recorded as installed. Callbacks leave the store, so
//! only a product without apps — and a tenant saga, which has none — runs
//! this step in a batch.

use super::{Work, product_of};
use tenantry_sagas::{SagaKind, SagaState, StepError, StepOutput};

pub(super) fn runs_in_batch(saga: &SagaState) -> bool {
    saga.spec.product.as_ref().is_none_or(|p| p.apps.is_empty())
}

pub(super) fn run(work: &mut Work<'_>, saga: &SagaState) -> Result<StepOutput, StepError> {
    if saga.kind == SagaKind::ProvisionTenant {
        return Ok(StepOutput::new());
    }
    let p = product_of(saga)?;
    for app in &p.apps {
        work.effects.installed_apps.push((
            saga.tenant_id.clone(),
            p.product.clone(),
            app.to_string(),
        ));
    }
    Ok(StepOutput::new().with_apps(&p.apps))
}
