//! The saga runner's step effects: each step's handler ([`crate::steps`])
//! on the store.
//!
//! On its own, a step runs in a transaction of its own, recorded under the
//! step's idempotency key (`<saga id>:<step>`): re-running a step whose
//! effect already happened returns the recorded result and repeats only
//! what the step does outside the store after its rows
//! ([`StepHandler::complete`], idempotent). A compensation deletes the
//! record with the rows it undoes, so the step acts again afterwards.
//! In the runner's transaction ([`TransactionalEffects::execute_in`]) the
//! saga state committed with the rows is the record.

use crate::steps::{StepContext, handler};
use tenantry_sagas::step_store::EffectRecords;
use tenantry_sagas::{
    SagaState, Step, StepEffects, StepError, StepOutput, StepPolicy, TransactionalEffects,
    UnitOfWork,
};
use tenantry_store::{Store, StoreWork};

/// Step effects of the provisioner.
#[derive(Clone)]
pub struct Effects {
    /// What the steps need.
    pub steps: StepContext,
    /// The store the steps' rows are written to.
    pub store: Store,
}

impl Effects {
    async fn begin(&self) -> Result<StoreWork, StepError> {
        Ok(StoreWork::begin(&self.store).await?)
    }

    /// The output recorded for `key`, read in a transaction of its own,
    /// closed before the step calls outside the store.
    async fn recorded(&self, key: &str) -> Result<Option<StepOutput>, StepError> {
        self.begin().await?.recorded_effect(key).await
    }
}

async fn commit(work: StoreWork) -> Result<(), StepError> {
    Ok(UnitOfWork::commit(work).await?)
}

impl StepEffects for Effects {
    fn policy(&self, step: Step) -> StepPolicy {
        handler(step).policy()
    }

    async fn execute(&self, saga: &SagaState, step: Step) -> Result<StepOutput, StepError> {
        let handler = handler(step);
        let key = step.idempotency_key(saga);
        if let Some(output) = self.recorded(&key).await? {
            handler.complete(&self.steps, saga, &output).await?;
            return Ok(output);
        }
        handler.prepare(&self.steps, saga).await?;
        let mut work = self.begin().await?;
        let output = handler.execute(&self.steps, &mut work, saga).await?;
        work.record_effect(&key, &output).await?;
        commit(work).await?;
        handler.complete(&self.steps, saga, &output).await?;
        Ok(output)
    }

    async fn compensate(&self, saga: &SagaState, step: Step) -> Result<(), StepError> {
        let handler = handler(step);
        let mut work = self.begin().await?;
        handler.compensate(&self.steps, &mut work, saga).await?;
        work.forget_effect(&step.idempotency_key(saga)).await?;
        commit(work).await?;
        handler.compensated(&self.steps, saga).await
    }
}

impl TransactionalEffects<StoreWork> for Effects {
    fn runs_in_work(&self, saga: &SagaState, step: Step) -> bool {
        handler(step).runs_in_work(&self.steps, saga)
    }

    async fn execute_in(
        &self,
        work: &mut StoreWork,
        saga: &SagaState,
        step: Step,
    ) -> Result<StepOutput, StepError> {
        let handler = handler(step);
        if !handler.runs_in_work(&self.steps, saga) {
            return Err(StepError::permanent(format!(
                "step {} of a {} saga cannot run in a caller's transaction",
                step.name(),
                saga.kind.as_str()
            )));
        }
        handler.prepare(&self.steps, saga).await?;
        handler.execute(&self.steps, work, saga).await
    }
}
