//! Destruction, last step: crypto-shredding (DESIGN.md, "Envelope
//! encryption"; seed, "Cryptographic key management") — the tenant's data
//! key is destroyed before the step is recorded, so whatever was sealed
//! under it (product database credentials) can never
//! be read again. Destroying a destroyed key succeeds, so a retry repeats it.
//!
//! A tenant that brought its own KMS key (`tenant_created.kms_key`) keeps
//! it: Tenantry does not own it, so it never disables it nor schedules its
//! deletion; the key service forgets the tenant's data keys instead
//! ([`tenantry_keys::KeyService::destroy_key`]). Revoking Tenantry's
//! access or deleting the key is the customer's to do.
//!
//! A pivot: a destroyed key can never be re-created, so the step is never
//! undone.

use super::{StepContext, StepHandler, key_error, tenant_key};
use async_trait::async_trait;
use tenantry_sagas::step_store::StepStore;
use tenantry_sagas::{SagaState, StepError, StepOutput};

/// Destroys a destroyed tenant's data key.
pub(super) struct ShredDataKey;

#[async_trait]
impl StepHandler for ShredDataKey {
    async fn prepare(&self, cx: &StepContext, saga: &SagaState) -> Result<(), StepError> {
        cx.keys
            .destroy_key(&tenant_key(saga))
            .await
            .map_err(key_error)
    }

    async fn execute(
        &self,
        _cx: &StepContext,
        _store: &mut dyn StepStore,
        saga: &SagaState,
    ) -> Result<StepOutput, StepError> {
        let done = match saga.spec.tenant.kms_key {
            None => "destroyed",
            // The tenant's own key stays as it is in its owner's account.
            Some(_) => "forgotten",
        };
        Ok(StepOutput::new().fact("data_key", done))
    }
}
