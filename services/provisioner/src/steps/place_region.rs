//! Step 3, place region: the residency pin, else the region nearest the
//! tenant's country ([`tenantry_sagas::place`]); the first placement stays
//! (a move changes it). A product is placed where its tenant is. Data
//! residency fails closed: a tenant placed outside its pin fails here.
//!
//! Undone by deleting the tenant's placement; a product's step writes
//! nothing.

use super::{StepContext, StepHandler, Work, residency_guard};
use async_trait::async_trait;
use tenantry_sagas::step_store::StepStore;
use tenantry_sagas::{SagaKind, SagaState, StepError, StepOutput, place};
use tenantry_schemas::Region;

pub(super) struct PlaceRegion;

fn no_region(saga: &SagaState) -> StepError {
    StepError::permanent(format!(
        "tenant {} has no region: its tenant_created saga has not completed",
        saga.tenant_id
    ))
}

/// The output for the placement found, checked against the pin.
fn placed(saga: &SagaState, region: Region, pinned: bool) -> Result<StepOutput, StepError> {
    if saga.kind == SagaKind::ProvisionTenant {
        residency_guard(saga, region.as_str())?;
    }
    Ok(StepOutput::new().with_region(region.as_str(), pinned))
}

#[async_trait]
impl StepHandler for PlaceRegion {
    fn runs_in_batch(&self, _cx: &StepContext, _saga: &SagaState) -> bool {
        true
    }

    async fn run_in_batch(
        &self,
        _cx: &StepContext,
        work: &mut Work<'_>,
        saga: &SagaState,
    ) -> Result<StepOutput, StepError> {
        let tenant = &saga.tenant_id;
        let (region, pinned) = match (saga.kind, work.loaded.placements.get(tenant).copied()) {
            (_, Some(placement)) => placement,
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
            (_, None) => return Err(no_region(saga)),
        };
        placed(saga, region, pinned)
    }

    fn runs_in_work(&self, _cx: &StepContext, _saga: &SagaState) -> bool {
        true
    }

    async fn execute(
        &self,
        _cx: &StepContext,
        store: &mut dyn StepStore,
        saga: &SagaState,
    ) -> Result<StepOutput, StepError> {
        let tenant = &saga.tenant_id;
        if saga.kind == SagaKind::ProvisionTenant {
            let t = &saga.spec.tenant;
            let (region, pinned) = place(&t.country, t.residency_pin);
            // A redelivery (or a move since) keeps the stored placement.
            store.insert_placement(tenant, region, pinned).await?;
        }
        let (region, pinned) = store
            .placement(tenant)
            .await?
            .ok_or_else(|| no_region(saga))?;
        placed(saga, region, pinned)
    }

    async fn compensate(
        &self,
        _cx: &StepContext,
        store: &mut dyn StepStore,
        saga: &SagaState,
    ) -> Result<(), StepError> {
        if saga.kind == SagaKind::ProvisionTenant {
            store.delete_placement(&saga.tenant_id).await?;
        }
        Ok(())
    }
}
