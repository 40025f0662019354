//! Move, last step: the source databases this saga copied from are dropped,
//! or kept renamed `archived_<name>`, per retention
//! ([`super::Retention`]). The step records them; they are retired after
//! that commits (DDL is not transactional), and again when a retry finds
//! the step recorded.
//!
//! A pivot: a dropped database cannot be un-dropped, so the step is never
//! undone.

use super::create_target_databases::pin_of;
use super::{StepContext, StepHandler, retire};
use async_trait::async_trait;
use std::time::Duration;
use tenantry_sagas::step_store::StepStore;
use tenantry_sagas::{SagaState, StepError, StepOutput, StepPolicy};

/// Retires a moved tenant's source databases.
pub(super) struct RetireSourceDatabases;

#[async_trait]
impl StepHandler for RetireSourceDatabases {
    /// Dropping or archiving the databases: 60 s per attempt.
    fn policy(&self) -> StepPolicy {
        StepPolicy::with_timeout(Duration::from_secs(60))
    }

    async fn execute(
        &self,
        _cx: &StepContext,
        store: &mut dyn StepStore,
        saga: &SagaState,
    ) -> Result<StepOutput, StepError> {
        pin_of(saga)?;
        let sources: Vec<String> = store
            .moves(saga.saga_id)
            .await?
            .into_iter()
            .map(|the_move| the_move.source.database)
            .collect();
        Ok(StepOutput::new().with_retired(sources.iter().map(String::as_str)))
    }

    async fn complete(
        &self,
        cx: &StepContext,
        _saga: &SagaState,
        output: &StepOutput,
    ) -> Result<(), StepError> {
        for database in output.retired() {
            retire(cx, &database).await?;
        }
        Ok(())
    }
}
