//! Destruction: the tenant's identity data (seed, "Tenant provisioning and
//! lifecycle", step 5: users, groups, permissions, memberships) is
//! deleted, and so is its placement (step 3's region).
//!
//! A pivot of the destruction: never undone.

use super::{StepContext, StepHandler};
use async_trait::async_trait;
use tenantry_sagas::step_store::StepStore;
use tenantry_sagas::{SagaState, StepError, StepOutput};

/// Removes a destroyed tenant's identity data and placement.
pub(super) struct RemoveIdentity;

#[async_trait]
impl StepHandler for RemoveIdentity {
    async fn execute(
        &self,
        _cx: &StepContext,
        store: &mut dyn StepStore,
        saga: &SagaState,
    ) -> Result<StepOutput, StepError> {
        let tenant = &saga.tenant_id;
        store.delete_identity(tenant).await?;
        store.delete_placement(tenant).await?;
        Ok(StepOutput::new())
    }
}
