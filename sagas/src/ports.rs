//! Port traits for every effect a saga step has. Adapters live in `infra/`
//! and the services; this crate only declares what a step needs.

use crate::saga::SagaState;
use crate::steps::Step;
use crate::work::{Changes, Committed, Keys, Loaded};
use std::future::Future;

pub use crate::output::StepOutput;

/// Why a step or compensation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct StepError {
    /// Operator-facing reason (`site host acme.tenantry.test is taken by tenant t7`).
    pub reason: String,
    /// Whether trying again may succeed (a timeout, a lost connection) as opposed
    /// to a business rule that will fail the same way every time.
    pub retryable: bool,
}

impl StepError {
    /// A failure that will not go away by retrying.
    pub fn permanent(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            retryable: false,
        }
    }

    /// A failure that may go away by retrying (infrastructure).
    pub fn retryable(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            retryable: true,
        }
    }
}

/// Performs the effects of the seven steps.
///
/// Contract: `execute` and `compensate` are idempotent for a given
/// `(saga.saga_id, step)` — running a step whose effect already happened
/// returns the recorded result, and compensating a step twice is a no-op — so
/// the runner may repeat them after a crash.
pub trait StepEffects: Send + Sync {
    /// Runs `step` for `saga`; `saga.results` holds the outputs of earlier steps.
    fn execute(
        &self,
        saga: &SagaState,
        step: Step,
    ) -> impl Future<Output = Result<StepOutput, StepError>> + Send;

    /// Undoes the effect of a completed `step`.
    fn compensate(
        &self,
        saga: &SagaState,
        step: Step,
    ) -> impl Future<Output = Result<(), StepError>> + Send;
}

/// The store behind a batch's unit of work ([`crate::work`]): one read of
/// what the batch needs, one commit of what it decided.
///
/// Contract: [`BatchStore::load`] answers as of one moment; [`BatchStore::commit`]
/// writes all of [`Changes`] in one transaction or nothing, and answers
/// [`Committed::Conflict`] (writing nothing) when an event id, saga id or
/// site host it inserts exists already — someone else wrote it since the load.
pub trait BatchStore: Send + Sync {
    /// The store's error (infrastructure: retrying may succeed).
    type Error: std::error::Error + Send + Sync + 'static;

    /// Reads what `keys` name.
    fn load(&self, keys: &Keys) -> impl Future<Output = Result<Loaded, Self::Error>> + Send;

    /// Writes `changes` at once.
    fn commit(
        &self,
        changes: &Changes,
    ) -> impl Future<Output = Result<Committed, Self::Error>> + Send;
}
