//! Deactivation, last step: the product's licence ends — its licence row,
//! its entry on the site and its metadata (`product:<key>`) are deleted.
//!
//! Nothing undoes it: it comes after the deactivation's pivot
//! (`retire_database`), so it is never compensated.

use super::{StepContext, StepHandler, product_of};
use async_trait::async_trait;
use tenantry_sagas::step_store::StepStore;
use tenantry_sagas::{SagaState, StepError, StepOutput};
use tenantry_schemas::{ProductKey, TenantId};

/// Ends a deactivated product's licence.
pub(super) struct EndLicence;

#[async_trait]
impl StepHandler for EndLicence {
    async fn execute(
        &self,
        _cx: &StepContext,
        store: &mut dyn StepStore,
        saga: &SagaState,
    ) -> Result<StepOutput, StepError> {
        end_licence(store, &saga.tenant_id, &product_of(saga)?.product).await?;
        Ok(StepOutput::new())
    }
}

/// Deletes the product's licence, site entry and metadata.
pub(super) async fn end_licence(
    store: &mut dyn StepStore,
    tenant: &TenantId,
    product: &ProductKey,
) -> Result<(), StepError> {
    store.delete_licence(tenant, product).await?;
    store.delete_site_product(tenant, product).await?;
    store
        .delete_metadata(tenant, &format!("product:{product}"))
        .await
}
