//! Saga store: one row per saga, the state as JSON, and a version column that
//! every update compares and sets, so a stale or duplicate writer (a late
//! timeout, a second instance resuming the same saga) loses instead of
//! overwriting (case S1).

use crate::store::{StoreError, now_ms};
use sqlx::{Any, AnyPool, Transaction};
use tenantry_sagas::SagaState;
use uuid::Uuid;

/// Inserts a new saga. Returns `false` if a saga with this id exists already
/// (the trigger was redelivered), in which case nothing is written.
pub async fn insert(
    tx: &mut Transaction<'static, Any>,
    saga: &SagaState,
) -> Result<bool, StoreError> {
    let now = now_ms();
    let inserted = sqlx::query(
        "INSERT INTO sagas (saga_id, tenant_id, kind, status, version, state, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (saga_id) DO NOTHING",
    )
    .bind(saga.saga_id.to_string())
    .bind(saga.tenant_id.as_str())
    .bind(saga.kind.as_str())
    .bind(saga.status.as_str())
    .bind(saga.version)
    .bind(serde_json::to_string(saga)?)
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if inserted == 1 {
        record_transition(tx, saga, now).await?;
    }
    Ok(inserted == 1)
}

/// Writes `saga` if the stored version is still `expected_version`.
///
/// Errors: [`StoreError::Stale`] when another writer got there first.
pub async fn compare_and_set(
    tx: &mut Transaction<'static, Any>,
    saga: &SagaState,
    expected_version: i64,
) -> Result<(), StoreError> {
    let now = now_ms();
    let updated = sqlx::query(
        "UPDATE sagas SET status = $1, version = $2, state = $3, updated_at = $4 \
         WHERE saga_id = $5 AND version = $6",
    )
    .bind(saga.status.as_str())
    .bind(saga.version)
    .bind(serde_json::to_string(saga)?)
    .bind(now)
    .bind(saga.saga_id.to_string())
    .bind(expected_version)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if updated == 1 {
        record_transition(tx, saga, now).await
    } else {
        Err(StoreError::Stale(format!(
            "saga {} is no longer at version {expected_version}",
            saga.saga_id
        )))
    }
}

/// The `saga_transitions` columns of `saga` at its version: `(done,
/// compensated)`, step names comma-separated in the order the saga holds
/// them (done: step order; compensated: undo order).
pub fn transition_steps(saga: &SagaState) -> (String, String) {
    let names = |steps: &mut dyn Iterator<Item = &tenantry_sagas::Step>| {
        steps.map(|s| s.name()).collect::<Vec<_>>().join(",")
    };
    (
        names(&mut saga.results.keys()),
        names(&mut saga.compensated.iter()),
    )
}

/// Appends `saga`'s version to `saga_transitions` (the operators' timeline),
/// written at `now` (Unix ms); a version already recorded stays as it was.
async fn record_transition(
    tx: &mut Transaction<'static, Any>,
    saga: &SagaState,
    now: i64,
) -> Result<(), StoreError> {
    let (done, compensated) = transition_steps(saga);
    sqlx::query(
        "INSERT INTO saga_transitions (saga_id, version, tenant_id, status, done, compensated, \
         failure, written_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (saga_id, version) DO NOTHING",
    )
    .bind(saga.saga_id.to_string())
    .bind(saga.version)
    .bind(saga.tenant_id.as_str())
    .bind(saga.status.as_str())
    .bind(done)
    .bind(compensated)
    .bind(saga.failure.clone())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Loads one saga.
pub async fn load(pool: &AnyPool, saga_id: Uuid) -> Result<Option<SagaState>, StoreError> {
    let row: Option<(String,)> = sqlx::query_as("SELECT state FROM sagas WHERE saga_id = $1")
        .bind(saga_id.to_string())
        .fetch_optional(pool)
        .await?;
    row.map(|(s,)| serde_json::from_str(&s).map_err(StoreError::from))
        .transpose()
}

/// Loads one saga in the caller's transaction.
pub async fn load_in(
    tx: &mut Transaction<'static, Any>,
    saga_id: Uuid,
) -> Result<Option<SagaState>, StoreError> {
    let row: Option<(String,)> = sqlx::query_as("SELECT state FROM sagas WHERE saga_id = $1")
        .bind(saga_id.to_string())
        .fetch_optional(&mut **tx)
        .await?;
    row.map(|(s,)| serde_json::from_str(&s).map_err(StoreError::from))
        .transpose()
}

/// Sagas not in a terminal state (running or compensating), oldest first —
/// the ones to resume after a restart.
pub async fn unfinished(pool: &AnyPool) -> Result<Vec<SagaState>, StoreError> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT state FROM sagas WHERE status IN ('running', 'compensating') ORDER BY created_at, saga_id",
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|(s,)| serde_json::from_str(&s).map_err(StoreError::from))
        .collect()
}

/// All sagas of a tenant, oldest first (for `tenantry sagas`).
pub async fn for_tenant(pool: &AnyPool, tenant_id: &str) -> Result<Vec<SagaState>, StoreError> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT state FROM sagas WHERE tenant_id = $1 ORDER BY created_at, saga_id")
            .bind(tenant_id)
            .fetch_all(pool)
            .await?;
    rows.into_iter()
        .map(|(s,)| serde_json::from_str(&s).map_err(StoreError::from))
        .collect()
}

/// Sagas not completed (running, compensating, failed, compensation_failed),
/// oldest first.
pub async fn not_completed(pool: &AnyPool) -> Result<Vec<SagaState>, StoreError> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT state FROM sagas WHERE status <> 'completed' ORDER BY created_at, saga_id",
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|(s,)| serde_json::from_str(&s).map_err(StoreError::from))
        .collect()
}
