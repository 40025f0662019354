//! Destruction, last step: crypto-shredding (DESIGN.md, "Envelope
//! encryption"; seed, "Cryptographic key management") — the tenant's data
//! key is destroyed before the step is recorded, so whatever was sealed
//! under it (product database credentials) can never
//! be read again. Destroying a destroyed key succeeds, so a retry repeats it.
//!
//! A pivot: a destroyed key can never be re-created, so the step is never
//! undone.

use super::{StepContext, StepHandler, key_error};
use async_trait::async_trait;
use tenantry_sagas::step_store::StepStore;
use tenantry_sagas::{SagaState, StepError, StepOutput};

/// Destroys a destroyed tenant's data key.
pub(super) struct ShredDataKey;

#[async_trait]
impl StepHandler for ShredDataKey {
    async fn prepare(&self, cx: &StepContext, saga: &SagaState) -> Result<(), StepError> {
        cx.keys
            .destroy_tenant_key(&saga.tenant_id)
            .await
            .map_err(key_error)
    }

    async fn execute(
        &self,
        _cx: &StepContext,
        _store: &mut dyn StepStore,
        _saga: &SagaState,
    ) -> Result<StepOutput, StepError> {
        Ok(StepOutput::new().fact("data_key", "destroyed"))
    }
}
