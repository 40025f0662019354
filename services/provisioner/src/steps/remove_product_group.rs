//! Deactivation: the product's users group (`<product>-users`) is deleted
//! with its permission and memberships (seed, "Tenant provisioning and
//! lifecycle", step 5's identity data). Its members and the groups left
//! are in the output.
//!
//! Undone by creating the group again with the product's permission
//! (`<product>:use`) and the members the output kept.

use super::{StepContext, StepHandler, product_group, product_of};
use async_trait::async_trait;
use tenantry_sagas::step_store::StepStore;
use tenantry_sagas::{SagaState, Step, StepError, StepOutput};

/// Removes a product's users group.
pub(super) struct RemoveProductGroup;

#[async_trait]
impl StepHandler for RemoveProductGroup {
    async fn execute(
        &self,
        _cx: &StepContext,
        store: &mut dyn StepStore,
        saga: &SagaState,
    ) -> Result<StepOutput, StepError> {
        let tenant = &saga.tenant_id;
        let (group, _) = product_group(product_of(saga)?.product.as_str());
        let members = store.members(tenant, &group).await?;
        store.delete_group(tenant, &group).await?;
        let groups = store.groups(tenant).await?;
        Ok(StepOutput::new()
            .with_members(members.iter().map(String::as_str))
            .with_groups(groups.iter().map(String::as_str)))
    }

    async fn compensate(
        &self,
        _cx: &StepContext,
        store: &mut dyn StepStore,
        saga: &SagaState,
    ) -> Result<(), StepError> {
        let tenant = &saga.tenant_id;
        let (group, permission) = product_group(product_of(saga)?.product.as_str());
        let members = saga
            .results
            .get(&Step::RemoveProductGroup)
            .map(StepOutput::members)
            .unwrap_or_default();
        store.insert_group(tenant, &group).await?;
        store.grant(tenant, &group, &[permission]).await?;
        store.add_members(tenant, &group, &members).await
    }
}
