//! Step 3, place region: the residency pin, else the region nearest the
//! tenant's country ([`tenantry_sagas::place`]); the first placement stays
//! (a move changes it). A product is placed where its tenant is.

use super::{Work, residency_guard};
use tenantry_sagas::{SagaKind, SagaState, StepError, StepOutput, place};

pub(super) fn run(work: &mut Work<'_>, saga: &SagaState) -> Result<StepOutput, StepError> {
    let tenant = &saga.tenant_id;
    let placed = work.loaded.placements.get(tenant).copied();
    let (region, pinned) = match (saga.kind, placed) {
        (_, Some(placed)) => placed,
        (SagaKind::ProvisionTenant, None) => {
            let t = &saga.spec.tenant;
            let (region, pinned) = place(&t.country, t.residency_pin);
            work.loaded
                .placements
                .insert(tenant.clone(), (region, pinned));
            work.effects
                .placements
                .push((tenant.clone(), region.as_str().to_owned(), pinned));
            (region, pinned)
        }
        (_, None) => {
            return Err(StepError::permanent(format!(
                "tenant {tenant} has no region: its tenant_created saga has not completed"
            )));
        }
    };
    if saga.kind == SagaKind::ProvisionTenant {
        residency_guard(saga, region.as_str())?;
    }
    Ok(StepOutput::new().with_region(region.as_str(), pinned))
}
