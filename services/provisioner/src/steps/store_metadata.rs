//! Step 4, store metadata: the site's default configuration (locale, time
//! zone), or a product's (edition, seats, the edition's feature flags), as
//! [`tenantry_sagas::steps::metadata`] decides it. Undone by deleting it.

use super::{StepContext, StepHandler, Work};
use async_trait::async_trait;
use tenantry_sagas::step_store::StepStore;
use tenantry_sagas::steps::metadata;
use tenantry_sagas::{SagaState, StepError, StepOutput};

pub(super) struct StoreMetadata;

#[async_trait]
impl StepHandler for StoreMetadata {
    fn runs_in_batch(&self, _cx: &StepContext, _saga: &SagaState) -> bool {
        true
    }

    async fn run_in_batch(
        &self,
        _cx: &StepContext,
        work: &mut Work<'_>,
        saga: &SagaState,
    ) -> Result<StepOutput, StepError> {
        let (scope, config) = metadata(saga)?;
        work.effects
            .metadata
            .push((saga.tenant_id.clone(), scope.clone(), config.to_string()));
        Ok(StepOutput::new().fact("scope", scope))
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
        let (scope, config) = metadata(saga)?;
        store
            .insert_metadata(&saga.tenant_id, &scope, &config)
            .await?;
        Ok(StepOutput::new().fact("scope", scope))
    }

    async fn compensate(
        &self,
        _cx: &StepContext,
        store: &mut dyn StepStore,
        saga: &SagaState,
    ) -> Result<(), StepError> {
        let (scope, _) = metadata(saga)?;
        store.delete_metadata(&saga.tenant_id, &scope).await
    }
}
