//! Operator actions and the compensation retry schedule, run by the consumer
//! loop between records so a tenant's events are never handled concurrently.
//!
//! `tenantry sagas retry|skip <tenant>` writes the request on the parked
//! tenant's row; [`carry_out`] performs it: retry runs the failed saga again
//! (then releases the waiting events in order), skip leaves it behind and
//! releases them (case D4).

use crate::ingest::{Ingest, ShuttingDown};
use crate::runner::Interrupted;
use std::time::Duration;
use tenantry_store::parking::{self, OperatorAction};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How often operator requests are looked for.
pub const OPERATOR_POLL: Duration = Duration::from_millis(500);

/// How often sagas stuck in `compensation_failed` are compensated again.
pub const COMPENSATION_RETRY: Duration = Duration::from_secs(30);

/// Carries out pending operator requests.
pub async fn carry_out(ingest: &Ingest, shutdown: &CancellationToken) -> Result<(), ShuttingDown> {
    let pool = ingest.store.pool();
    let requests = match parking::requested(pool).await {
        Ok(requests) => requests,
        Err(error) => {
            tracing::warn!(%error, "Reading operator requests failed; retrying later.");
            return Ok(());
        }
    };
    for (tenant, action) in requests {
        let Ok(Some(parked)) = parking::get(pool, &tenant).await else {
            continue;
        };
        tracing::info!(tenant_id = %tenant, action = action.as_str(), kind = %parked.kind,
            "Carrying out operator request.");
        match (action, parked.saga_id.as_deref().map(Uuid::parse_str)) {
            (OperatorAction::Retry, Some(Ok(saga_id))) => {
                match ingest.runner.retry(saga_id, true, shutdown).await {
                    Err(Interrupted::Shutdown) => return Err(ShuttingDown),
                    Ok(()) | Err(Interrupted::Stale) => {}
                }
            }
            (OperatorAction::Retry, _) => {
                tracing::warn!(tenant_id = %tenant, reason = %parked.reason,
                    "Nothing to retry for a sequence gap; skip it to give up the missing events.");
                if let Err(error) = parking::clear_action(pool, &tenant).await {
                    tracing::warn!(%error, "Clearing the operator request failed.");
                }
                continue;
            }
            (OperatorAction::Skip, _) => {
                if let Err(error) = parking::skip(pool, &tenant).await {
                    tracing::warn!(%error, "Skip not persisted; the operator can ask again.");
                    continue;
                }
            }
        }
        ingest.drain(&tenant, shutdown).await?;
    }
    Ok(())
}

/// Compensates again the sagas left in `compensation_failed`.
pub async fn retry_compensations(
    ingest: &Ingest,
    shutdown: &CancellationToken,
) -> Result<(), ShuttingDown> {
    let ids = match parking::compensation_failed(ingest.store.pool()).await {
        Ok(ids) => ids,
        Err(error) => {
            tracing::warn!(%error, "Reading failed compensations failed; retrying later.");
            return Ok(());
        }
    };
    for id in ids {
        let Ok(saga_id) = Uuid::parse_str(&id) else {
            continue;
        };
        if let Err(Interrupted::Shutdown) = ingest.runner.retry(saga_id, false, shutdown).await {
            return Err(ShuttingDown);
        }
    }
    Ok(())
}
