//! The inbox side of exactly-once: dedup by event id, the tenant's event
//! stream, and the tenant spec that later sagas start from. All functions take
//! the caller's transaction so the state change and the dedup row commit
//! together (DESIGN.md, "Exactly-once effects from at-least-once delivery").

use crate::store::{StoreError, now_ms};
use sqlx::{Any, Transaction};
use tenantry_sagas::work::NewEvent;
use tenantry_schemas::CommerceRecord;

/// Records the event id as processed; `false` when it already was.
pub async fn mark_processed(
    tx: &mut Transaction<'static, Any>,
    record: &CommerceRecord,
) -> Result<bool, StoreError> {
    let env = &record.envelope;
    let now = now_ms();
    let inserted = sqlx::query(
        "INSERT INTO processed_events (event_id, tenant_id, processed_at) VALUES ($1, $2, $3) \
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(env.event_id.to_string())
    .bind(env.tenant_id.as_str())
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// How the provisioner recorded the commerce event `event_id`, if it did:
/// `(tenant, sequence, kind, state)` with state `processed` (released),
/// `stale` or `waiting` ([`crate::parking`]). Runs on a pool or in a
/// transaction.
///
/// # Errors
/// The store's.
pub async fn recorded<'e, E>(
    executor: E,
    event_id: &uuid::Uuid,
) -> Result<Option<(String, i64, String, String)>, StoreError>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    Ok(sqlx::query_as(
        "SELECT tenant_id, sequence, kind, state FROM tenant_events WHERE event_id = $1",
    )
    .bind(event_id.to_string())
    .fetch_optional(executor)
    .await?)
}

/// Appends the event to its tenant's stream with its state (see
/// [`crate::parking`] for the states).
pub async fn append(
    tx: &mut Transaction<'static, Any>,
    event: &NewEvent,
) -> Result<(), StoreError> {
    let record = &event.record;
    let env = &record.envelope;
    sqlx::query(
        "INSERT INTO tenant_events (tenant_id, sequence, event_id, kind, record, source_topic, \
         source_partition, source_offset, recorded_at, state) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(env.tenant_id.as_str())
    .bind(env.sequence)
    .bind(env.event_id.to_string())
    .bind(record.event.kind())
    .bind(serde_json::to_string(record)?)
    .bind(&event.source.topic)
    .bind(event.source.partition)
    .bind(event.source.offset)
    .bind(now_ms())
    .bind(event.state.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records that the event `event_id` of `tenant_id` was rejected — by a
/// guard, or given up by an operator's skip — with the reason; the first
/// reason recorded for an event stays.
pub async fn reject_event(
    tx: &mut Transaction<'static, Any>,
    event_id: &uuid::Uuid,
    tenant_id: &tenantry_schemas::TenantId,
    reason: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO rejections (event_id, tenant_id, reason, rejected_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(event_id.to_string())
    .bind(tenant_id.as_str())
    .bind(reason)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A tenant's rejected commerce events, oldest first: `(sequence, kind,
/// reason)` — the guards' rejections and the events an operator's skip gave
/// up.
///
/// # Errors
/// The store's.
pub async fn rejections<'e, E>(
    executor: E,
    tenant_id: &tenantry_schemas::TenantId,
) -> Result<Vec<(i64, String, String)>, StoreError>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    Ok(sqlx::query_as(
        "SELECT e.sequence, e.kind, r.reason FROM rejections r \
         JOIN tenant_events e ON e.event_id = r.event_id \
         WHERE r.tenant_id = $1 ORDER BY e.sequence",
    )
    .bind(tenant_id.as_str())
    .fetch_all(executor)
    .await?)
}

/// A tenant's commerce event stream, by sequence: `(sequence, kind, state)`
/// with state `processed`, `stale` or `waiting` ([`crate::parking`]).
///
/// # Errors
/// The store's.
pub async fn stream(
    pool: &sqlx::AnyPool,
    tenant_id: &tenantry_schemas::TenantId,
) -> Result<Vec<(i64, String, String)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT sequence, kind, state FROM tenant_events WHERE tenant_id = $1 ORDER BY sequence",
    )
    .bind(tenant_id.as_str())
    .fetch_all(pool)
    .await?)
}
