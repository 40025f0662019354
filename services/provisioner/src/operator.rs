//! Operator actions and the compensation retry schedule, run on the tenant's
//! worker so a tenant's events are never handled concurrently.
//!
//! `tenantry sagas retry|skip <tenant>` writes the request on the parked
//! tenant's row; the consumer loop takes it and hands it to the tenant's
//! worker, where [`carry_out_one`] performs it: retry runs the failed saga
//! again (then releases the waiting events in order), skip gives up the
//! change it was making and releases them (case D4,
//! [`admission::skip`]).

use crate::admission;
use crate::dead_letter::DeadLetterQueue;
use crate::ingest::{Ingest, ShuttingDown};
use crate::runner::Interrupted;
use std::time::Duration;
use tenantry_sagas::admission::OperatorAction;
use tenantry_sagas::{ProvisionerStore, TransactionalEffects};
use tenantry_schemas::TenantId;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How often operator requests are looked for.
pub const OPERATOR_POLL: Duration = Duration::from_millis(500);

/// How often sagas stuck in `compensation_failed` are compensated again.
pub const COMPENSATION_RETRY: Duration = Duration::from_secs(30);

/// Carries out one operator request on `tenant` (on the tenant's worker).
pub async fn carry_out_one<S, E, D>(
    ingest: &Ingest<S, E, D>,
    tenant: &TenantId,
    action: OperatorAction,
    shutdown: &CancellationToken,
) -> Result<(), ShuttingDown>
where
    S: ProvisionerStore,
    E: TransactionalEffects<S::Work> + 'static,
    D: DeadLetterQueue,
{
    let Ok(Some(parked)) = ingest.store.parked(tenant).await else {
        return Ok(());
    };
    tracing::info!(tenant_id = %tenant, action = action.as_str(), kind = parked.kind.as_str(),
        "Carrying out operator request.");
    match (action, parked.saga_id) {
        (OperatorAction::Retry, Some(saga_id)) => {
            if let Err(Interrupted::Shutdown) = ingest.runner.retry(saga_id, true, shutdown).await {
                return Err(ShuttingDown);
            }
        }
        (OperatorAction::Retry, _) => {
            tracing::warn!(tenant_id = %tenant, reason = %parked.reason,
                "Nothing to retry for a sequence gap; skip it to give up the missing events.");
            return Ok(());
        }
        (OperatorAction::Skip, _) => match admission::skip(&ingest.store, tenant).await {
            Ok(given_up) => {
                tracing::info!(tenant_id = %tenant, given_up = given_up.as_deref().unwrap_or("-"),
                    "Parked tenant skipped.");
            }
            Err(error) => {
                tracing::warn!(%error, "Skip not persisted; the operator can ask again.");
                return Ok(());
            }
        },
    }
    ingest.settle(tenant, shutdown).await
}

/// Compensates again one saga left in `compensation_failed`.
pub async fn retry_compensation<S, E, D>(
    ingest: &Ingest<S, E, D>,
    saga_id: Uuid,
    shutdown: &CancellationToken,
) -> Result<(), ShuttingDown>
where
    S: ProvisionerStore,
    E: TransactionalEffects<S::Work> + 'static,
{
    match ingest.runner.retry(saga_id, false, shutdown).await {
        Err(Interrupted::Shutdown) => Err(ShuttingDown),
        _ => Ok(()),
    }
}
