//! Suspension (seed, "Tenant provisioning and lifecycle": "disabling access
//! to a given site that they own"): the product's entry on the site is
//! suspended and its users group (`<product>-users`) loses the product's
//! permission (`<product>:use`). The product's data, database and licence
//! are untouched.
//!
//! Undone by giving access back, as un-suspension does.

use super::{StepContext, StepHandler, product_group, product_of};
use async_trait::async_trait;
use tenantry_sagas::step_store::StepStore;
use tenantry_sagas::{SagaState, StepError, StepOutput};
use tenantry_schemas::{ProductKey, TenantId};

/// Suspends a product.
pub(super) struct DisableAccess;

#[async_trait]
impl StepHandler for DisableAccess {
    async fn execute(
        &self,
        _cx: &StepContext,
        store: &mut dyn StepStore,
        saga: &SagaState,
    ) -> Result<StepOutput, StepError> {
        let product = &product_of(saga)?.product;
        set_access(store, &saga.tenant_id, product, false).await?;
        Ok(StepOutput::new().fact("access", "disabled"))
    }

    async fn compensate(
        &self,
        _cx: &StepContext,
        store: &mut dyn StepStore,
        saga: &SagaState,
    ) -> Result<(), StepError> {
        let product = &product_of(saga)?.product;
        set_access(store, &saga.tenant_id, product, true).await
    }
}

/// Sets the product active (`enabled`) or suspended on the tenant's site,
/// and grants or revokes its users group's permission. Both idempotent.
pub(super) async fn set_access(
    store: &mut dyn StepStore,
    tenant: &TenantId,
    product: &ProductKey,
    enabled: bool,
) -> Result<(), StepError> {
    let (group, permission) = product_group(product.as_str());
    store
        .set_site_product_active(tenant, product, enabled)
        .await?;
    if enabled {
        store.grant(tenant, &group, &[permission]).await
    } else {
        store.revoke(tenant, &group, &permission).await
    }
}
