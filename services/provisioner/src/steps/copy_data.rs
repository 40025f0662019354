//! Move: every table of each source product database is copied into its
//! target (the moves `create_target_databases` recorded). The step records
//! which database is copied where in its output, and the copies run after that
//! commits: no store transaction stays open for the length of a copy, and
//! a retry that finds the step recorded copies again (a copy replaces the
//! target's content, so repeating it gives the same target).
//!
//! Nothing to undo: the copies live in the targets, which the compensation
//! of `create_target_databases` drops.

use super::create_target_databases::pin_of;
use super::{StepContext, StepHandler};
use async_trait::async_trait;
use std::time::Duration;
use tenantry_sagas::step_store::StepStore;
use tenantry_sagas::{SagaState, StepError, StepOutput, StepPolicy};
use tenantry_store::StoreError;

/// Copies a move's product databases into their targets.
pub(super) struct CopyData;

#[async_trait]
impl StepHandler for CopyData {
    /// A copy grows with the tenant's data: 600 s per attempt.
    fn policy(&self) -> StepPolicy {
        StepPolicy::with_timeout(Duration::from_secs(600))
    }

    async fn execute(
        &self,
        _cx: &StepContext,
        store: &mut dyn StepStore,
        saga: &SagaState,
    ) -> Result<StepOutput, StepError> {
        pin_of(saga)?;
        let moves = store.moves(saga.saga_id).await?;
        let mut output = StepOutput::new().fact("databases", moves.len());
        for the_move in &moves {
            let product = &the_move.product;
            output = output.with_copy(
                product,
                &the_move.source.database,
                &the_move.target.database,
            );
        }
        Ok(output)
    }

    async fn complete(
        &self,
        cx: &StepContext,
        saga: &SagaState,
        output: &StepOutput,
    ) -> Result<(), StepError> {
        let pin = pin_of(saga)?;
        for (product, source, target) in output.copies() {
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
}
