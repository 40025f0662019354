//! Move: every table of each source product database is copied into its
//! target, as `create_target_databases` recorded them. The copies run
//! before the step is recorded and outside any store transaction (a copy
//! grows with the tenant's data); a retry copies again, which gives the
//! same target (a copy replaces the target's content). The output lists
//! what was copied where.
//!
//! Nothing to undo: the copies live in the targets, which the compensation
//! of `create_target_databases` drops.

use super::create_target_databases::pin_of;
use super::{StepContext, StepHandler};
use async_trait::async_trait;
use std::time::Duration;
use tenantry_sagas::step_store::StepStore;
use tenantry_sagas::{SagaState, Step, StepError, StepOutput, StepPolicy};
use tenantry_schemas::ProductKey;
use tenantry_store::StoreError;

/// Copies a move's product databases into their targets.
pub(super) struct CopyData;

/// The copies `create_target_databases` recorded in `saga`: product,
/// source database, target database.
fn copies(saga: &SagaState) -> Vec<(ProductKey, String, String)> {
    saga.results
        .get(&Step::CreateTargetDatabases)
        .map(StepOutput::copies)
        .unwrap_or_default()
}

#[async_trait]
impl StepHandler for CopyData {
    /// A copy grows with the tenant's data: 600 s per attempt.
    fn policy(&self) -> StepPolicy {
        StepPolicy::with_timeout(Duration::from_secs(600))
    }

    async fn prepare(&self, cx: &StepContext, saga: &SagaState) -> Result<(), StepError> {
        let pin = pin_of(saga)?;
        for (product, source, target) in copies(saga) {
            cx.databases
                .copy_into(&source, &target)
                .await
                .map_err(|e| match e {
                    StoreError::Missing(reason) => StepError::permanent(format!(
                        "copying {product} of tenant {} to {pin}: {reason}",
                        saga.tenant_id
                    )),
                    other => StepError::from(other),
                })?;
        }
        Ok(())
    }

    async fn execute(
        &self,
        _cx: &StepContext,
        _store: &mut dyn StepStore,
        saga: &SagaState,
    ) -> Result<StepOutput, StepError> {
        let copies = copies(saga);
        let output = StepOutput::new().fact("databases", copies.len());
        Ok(copies
            .iter()
            .fold(output, |output, (product, source, target)| {
                output.with_copy(product, source, target)
            }))
    }
}
