//! What the operators' timeline page (`tenantry admin`) reads of one tenant:
//! its commerce events with their state and any rejection, its sagas with
//! when they were created and last written, and every version each saga
//! went through (`saga_transitions`, written with the saga row by
//! [`crate::sagas`] and the batch writer). Read-only; all times are Unix
//! epoch milliseconds as the store writes them ([`crate::now_ms`]).

use crate::store::StoreError;
use sqlx::AnyPool;
use tenantry_sagas::SagaState;
use tenantry_schemas::TenantId;

/// One commerce event of the tenant's stream (`tenant_events`), with its
/// rejection (`rejections`) when a guard refused it or an operator's skip
/// gave it up.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EventRow {
    /// The envelope's event id (UUID text).
    pub event_id: String,
    /// Commerce sequence.
    pub sequence: i64,
    /// Event kind (`tenant_created`, …).
    pub kind: String,
    /// `processed`, `stale`, `waiting` or `skipped` ([`crate::parking`]).
    pub state: String,
    /// When the provisioner recorded it, Unix ms.
    pub recorded_at: i64,
    /// Why it was rejected, when it was.
    pub rejection: Option<String>,
    /// When it was rejected, Unix ms.
    pub rejected_at: Option<i64>,
}

/// One saga of the tenant with its row's times.
#[derive(Debug, Clone, PartialEq)]
pub struct SagaRow {
    /// The saga as stored now.
    pub saga: SagaState,
    /// When the saga row was inserted, Unix ms.
    pub created_at: i64,
    /// When it was last written, Unix ms.
    pub updated_at: i64,
}

/// One version of a saga (`saga_transitions`).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TransitionRow {
    /// Saga id (UUID text).
    pub saga_id: String,
    /// Saga version (compare-and-set counter, +1 per transition).
    pub version: i64,
    /// Saga status at that version (`running`, `failed`, …).
    pub status: String,
    /// Steps done at that version, comma-separated, in step order.
    pub done: String,
    /// Steps compensated at that version, comma-separated, in undo order.
    pub compensated: String,
    /// The failure at that version.
    pub failure: Option<String>,
    /// When the version was written, Unix ms.
    pub written_at: i64,
}

/// The tenant's commerce events by sequence, then in the order they were
/// read (source partition and offset: a tenant's events share a partition,
/// so of two with one sequence the first read, the one released, comes
/// first; a batch records both at the same millisecond).
///
/// # Errors
/// The store's.
pub async fn events(pool: &AnyPool, tenant_id: &TenantId) -> Result<Vec<EventRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT e.event_id, e.sequence, e.kind, e.state, e.recorded_at, \
         r.reason AS rejection, r.rejected_at FROM tenant_events e \
         LEFT JOIN rejections r ON r.event_id = e.event_id \
         WHERE e.tenant_id = $1 \
         ORDER BY e.sequence, e.source_partition, e.source_offset, e.event_id",
    )
    .bind(tenant_id.as_str())
    .fetch_all(pool)
    .await?)
}

/// The tenant's sagas, oldest first.
///
/// # Errors
/// The store's, or a saga document that does not parse.
pub async fn sagas(pool: &AnyPool, tenant_id: &TenantId) -> Result<Vec<SagaRow>, StoreError> {
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT state, created_at, updated_at FROM sagas WHERE tenant_id = $1 \
         ORDER BY created_at, saga_id",
    )
    .bind(tenant_id.as_str())
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|(state, created_at, updated_at)| {
            Ok(SagaRow {
                saga: serde_json::from_str(&state)?,
                created_at,
                updated_at,
            })
        })
        .collect()
}

/// Every recorded version of the tenant's sagas, by saga and version.
/// Sagas written before migration 0008 have none.
///
/// # Errors
/// The store's.
pub async fn transitions(
    pool: &AnyPool,
    tenant_id: &TenantId,
) -> Result<Vec<TransitionRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT saga_id, version, status, done, compensated, failure, written_at \
         FROM saga_transitions WHERE tenant_id = $1 ORDER BY saga_id, version",
    )
    .bind(tenant_id.as_str())
    .fetch_all(pool)
    .await?)
}
