//! Un-suspension (seed, "Tenant provisioning and lifecycle": "enabling
//! access to a site that they own"): the product's entry on the site is
//! active again and its users group (`<product>-users`) regains the
//! product's permission (`<product>:use`).
//!
//! Undone by suspending the product again, as suspension does.

use super::disable_access::set_access;
use super::{StepContext, StepHandler, product_of};
use async_trait::async_trait;
use tenantry_sagas::step_store::StepStore;
use tenantry_sagas::{SagaState, StepError, StepOutput};

/// Un-suspends a product.
pub(super) struct EnableAccess;

#[async_trait]
impl StepHandler for EnableAccess {
    async fn execute(
        &self,
        _cx: &StepContext,
        store: &mut dyn StepStore,
        saga: &SagaState,
    ) -> Result<StepOutput, StepError> {
        let product = &product_of(saga)?.product;
        set_access(store, &saga.tenant_id, product, true).await?;
        Ok(StepOutput::new().fact("access", "enabled"))
    }

    async fn compensate(
        &self,
        _cx: &StepContext,
        store: &mut dyn StepStore,
        saga: &SagaState,
    ) -> Result<(), StepError> {
        let product = &product_of(saga)?.product;
        set_access(store, &saga.tenant_id, product, false).await
    }
}
