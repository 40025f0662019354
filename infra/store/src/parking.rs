//! Parking rows and the per-tenant event-stream queries behind admission
//! (case D4 and the commerce-sequence rule).
//!
//! Commerce events of a tenant are *released* to the saga planner strictly in
//! commerce-sequence order, starting at 1. An event whose sequence is not newer
//! than the last released one is stale (recorded, no effect). An event after a
//! gap, or any event of a *parked* tenant, waits in the event stream (state
//! `waiting`) until the gap fills or an operator releases the tenant. A tenant
//! is parked when a saga for it fails; other tenants keep flowing.
//!
//! This module holds rows only: `tenant_cursors` (the released cursor) and
//! `parked_tenants` serve operators and the CLI; what they should say, and
//! the tenant's [`tenantry_sagas::Ledger`] that carries the same facts into
//! its published state, is decided by the provisioner
//! (`tenantry_sagas::admission` and the provisioner's admission module),
//! which writes both through a [`tenantry_sagas::UnitOfWork`].

use crate::store::{StoreError, now_ms};
use sqlx::{Any, AnyPool, Transaction};
use tenantry_sagas::work::{EventState, ParkedTenant, WaitingEvents};
use tenantry_schemas::{CommerceRecord, TenantId};
use uuid::Uuid;

/// A parked tenant, as listed by `tenantry sagas list --parked`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Parked {
    /// Tenant.
    pub tenant_id: String,
    /// `saga_failed` or `sequence_gap`.
    pub kind: String,
    /// Operator-facing reason.
    pub reason: String,
    /// Failed saga, for `saga_failed`.
    pub saga_id: Option<String>,
    /// Event the tenant is parked at.
    pub event_id: Option<String>,
    /// Pending operator action.
    pub action: Option<String>,
    /// When, Unix ms.
    pub parked_at: i64,
    /// Events waiting behind it.
    pub waiting: i64,
}

pub use tenantry_sagas::admission::{OperatorAction, ParkKind};

type Tx = Transaction<'static, Any>;

/// Last released sequence of a tenant (0 when none).
pub async fn cursor(tx: &mut Tx, tenant_id: &TenantId) -> Result<i64, StoreError> {
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT last_sequence FROM tenant_cursors WHERE tenant_id = $1")
            .bind(tenant_id.as_str())
            .fetch_optional(&mut **tx)
            .await?;
    Ok(row.map_or(0, |(s,)| s))
}

/// Sets the last released sequence.
pub async fn set_cursor(
    tx: &mut Tx,
    tenant_id: &TenantId,
    sequence: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO tenant_cursors (tenant_id, last_sequence) VALUES ($1, $2) \
         ON CONFLICT (tenant_id) DO UPDATE SET last_sequence = excluded.last_sequence",
    )
    .bind(tenant_id.as_str())
    .bind(sequence)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The tenant's parking row, on a pool or in a transaction.
///
/// # Errors
/// The store's, or a stored id that does not parse. A kind this version
/// does not know reads as [`ParkKind::SagaFailed`] (what admission assumes).
pub async fn row<'e, E>(
    executor: E,
    tenant_id: &TenantId,
) -> Result<Option<ParkedTenant>, StoreError>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    // (kind, reason, saga id, event id)
    type Row = (String, String, Option<String>, Option<String>);
    let row: Option<Row> = sqlx::query_as(
        "SELECT kind, reason, saga_id, event_id FROM parked_tenants WHERE tenant_id = $1",
    )
    .bind(tenant_id.as_str())
    .fetch_optional(executor)
    .await?;
    let Some((kind, reason, saga_id, event_id)) = row else {
        return Ok(None);
    };
    Ok(Some(ParkedTenant {
        tenant_id: tenant_id.clone(),
        kind: ParkKind::parse(&kind).unwrap_or(ParkKind::SagaFailed),
        reason,
        saga_id: saga_id.as_deref().map(uuid).transpose()?,
        event_id: event_id.as_deref().map(uuid).transpose()?,
    }))
}

fn uuid(text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(|e| StoreError::Corrupt(format!("parked_tenants: {e}")))
}

/// Writes the tenant's parking row: a newer one replaces an older one and
/// clears a pending operator action.
pub async fn park(tx: &mut Tx, parked: &ParkedTenant) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO parked_tenants (tenant_id, kind, reason, saga_id, event_id, parked_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id) DO UPDATE SET \
         kind = excluded.kind, reason = excluded.reason, saga_id = excluded.saga_id, \
         event_id = excluded.event_id, action = NULL, parked_at = excluded.parked_at",
    )
    .bind(parked.tenant_id.as_str())
    .bind(parked.kind.as_str())
    .bind(&parked.reason)
    .bind(parked.saga_id.map(|id| id.to_string()))
    .bind(parked.event_id.map(|id| id.to_string()))
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// How many commerce events of the tenant wait, and the highest sequence
/// among them (0 when none).
pub async fn waiting(tx: &mut Tx, tenant_id: &TenantId) -> Result<WaitingEvents, StoreError> {
    let (count, last): (i64, Option<i64>) = sqlx::query_as(
        "SELECT COUNT(*), MAX(sequence) FROM tenant_events WHERE tenant_id = $1 AND state = 'waiting'",
    )
    .bind(tenant_id.as_str())
    .fetch_one(&mut **tx)
    .await?;
    Ok(WaitingEvents {
        count,
        last_sequence: last.unwrap_or(0),
    })
}

/// Removes the tenant's parking row.
pub async fn unpark(tx: &mut Tx, tenant_id: &TenantId) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM parked_tenants WHERE tenant_id = $1")
        .bind(tenant_id.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The next waiting event of a tenant, lowest sequence first.
pub async fn next_waiting(
    tx: &mut Tx,
    tenant_id: &TenantId,
) -> Result<Option<CommerceRecord>, StoreError> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT record FROM tenant_events WHERE tenant_id = $1 AND state = 'waiting' \
         ORDER BY sequence LIMIT 1",
    )
    .bind(tenant_id.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|(r,)| serde_json::from_str(&r).map_err(StoreError::from))
        .transpose()
}

/// Sets the state of a recorded event.
pub async fn set_state(tx: &mut Tx, event_id: &Uuid, state: EventState) -> Result<(), StoreError> {
    sqlx::query("UPDATE tenant_events SET state = $1 WHERE event_id = $2")
        .bind(state.as_str())
        .bind(event_id.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// What [`request`] did with an operator's action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requested {
    /// Recorded on the parking row; the provisioner that consumes the
    /// tenant's partition carries it out within a second.
    Recorded,
    /// The tenant is not parked: nothing recorded.
    NotParked,
    /// A retry of a tenant parked without a failed saga (a sequence gap):
    /// there is nothing to run again, so nothing is recorded.
    NothingToRetry {
        /// The parking's kind (`sequence_gap`).
        kind: ParkKind,
        /// The parking's reason (which sequence is missing).
        reason: String,
    },
}

impl Requested {
    /// True when the action was recorded.
    pub fn is_recorded(&self) -> bool {
        matches!(self, Requested::Recorded)
    }

    /// Decides on a parking row: a retry needs a failed saga to run again
    /// (what the provisioner's operator module retries); a skip applies to
    /// any parking. `None`: record the action.
    pub fn refusal(parked: &ParkedTenant, action: OperatorAction) -> Option<Self> {
        (action == OperatorAction::Retry && parked.saga_id.is_none()).then(|| {
            Requested::NothingToRetry {
                kind: parked.kind,
                reason: parked.reason.clone(),
            }
        })
    }

    /// The operator-facing sentence of [`Requested::NothingToRetry`] (what
    /// `tenantry sagas retry` prints and the admin's `409` says); `None`
    /// for the other outcomes.
    pub fn nothing_to_retry(&self, tenant_id: &TenantId) -> Option<String> {
        let Requested::NothingToRetry { kind, reason } = self else {
            return None;
        };
        Some(format!(
            "tenant {tenant_id} is parked on a {} ({reason}), not a failed saga: there is \
             nothing to retry; skip the missing sequences (tenantry sagas skip {tenant_id}) \
             or publish them",
            kind.as_str().replace('_', " ")
        ))
    }
}

/// Requests an operator action on a parked tenant (written by `tenantry
/// sagas retry|skip` and the admin page, carried out by the provisioner).
/// A retry of a tenant parked on a sequence gap is refused here, up front,
/// so neither caller reports success for an action that would do nothing.
///
/// # Errors
/// The store's, or a stored id that does not parse.
pub async fn request(
    pool: &AnyPool,
    tenant_id: &TenantId,
    action: OperatorAction,
) -> Result<Requested, StoreError> {
    // Re-parked between the update and the read (a gap filled by a failed
    // saga): decide again on the new row. A few rounds settle it.
    for _ in 0..3 {
        // Retry only where there is a saga to run again, in one statement,
        // so a refusal never races a recorded request.
        let updated = sqlx::query(
            "UPDATE parked_tenants SET action = $1 WHERE tenant_id = $2 \
             AND ($1 <> 'retry' OR saga_id IS NOT NULL)",
        )
        .bind(action.as_str())
        .bind(tenant_id.as_str())
        .execute(pool)
        .await?
        .rows_affected();
        if updated == 1 {
            return Ok(Requested::Recorded);
        }
        match row(pool, tenant_id).await? {
            None => return Ok(Requested::NotParked),
            Some(parked) => {
                if let Some(refused) = Requested::refusal(&parked, action) {
                    return Ok(refused);
                }
            }
        }
    }
    Ok(Requested::NotParked)
}

/// Takes the pending operator actions of the tenants whose events were
/// read from one of `owned` (topic, partition): returns them and clears
/// them, so each is carried out once (if the provisioner stops before
/// finishing one, the operator asks again).
pub async fn take_requested(
    pool: &AnyPool,
    owned: &[(String, i32)],
) -> Result<Vec<(TenantId, OperatorAction)>, StoreError> {
    if owned.is_empty() {
        return Ok(Vec::new());
    }
    let sources: Vec<String> = (0..owned.len())
        .map(|i| {
            format!(
                "(e.source_topic = ${} AND e.source_partition = ${})",
                2 * i + 1,
                2 * i + 2
            )
        })
        .collect();
    let sql = format!(
        "SELECT p.tenant_id, p.action FROM parked_tenants p WHERE p.action IS NOT NULL \
         AND EXISTS (SELECT 1 FROM tenant_events e WHERE e.tenant_id = p.tenant_id AND ({})) \
         ORDER BY p.parked_at",
        sources.join(" OR ")
    );
    let mut query = sqlx::query_as(&sql);
    for (topic, partition) in owned {
        query = query.bind(topic.as_str()).bind(*partition);
    }
    let mut tx = pool.begin().await?;
    let rows: Vec<(String, String)> = query.fetch_all(&mut *tx).await?;
    for (tenant, action) in &rows {
        sqlx::query("UPDATE parked_tenants SET action = NULL WHERE tenant_id = $1 AND action = $2")
            .bind(tenant)
            .bind(action)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    rows.into_iter()
        .map(|(tenant, action)| {
            let tenant =
                TenantId::parse(&tenant).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let action = OperatorAction::parse(&action).ok_or_else(|| {
                StoreError::Corrupt(format!("unknown operator action {action:?}"))
            })?;
            Ok((tenant, action))
        })
        .collect()
}

/// How many tenants are parked (the provisioner's `parked_tenants` gauge).
///
/// # Errors
/// The store's.
pub async fn count(pool: &AnyPool) -> Result<u64, StoreError> {
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM parked_tenants")
        .fetch_one(pool)
        .await?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// Every parked tenant with the number of events waiting behind it.
pub async fn list(pool: &AnyPool) -> Result<Vec<Parked>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT p.tenant_id, p.kind, p.reason, p.saga_id, p.event_id, p.action, p.parked_at, \
         (SELECT COUNT(*) FROM tenant_events e WHERE e.tenant_id = p.tenant_id AND e.state = 'waiting') AS waiting \
         FROM parked_tenants p ORDER BY p.parked_at, p.tenant_id",
    )
    .fetch_all(pool)
    .await?)
}

/// One parked tenant, if parked.
pub async fn get(pool: &AnyPool, tenant_id: &TenantId) -> Result<Option<Parked>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT p.tenant_id, p.kind, p.reason, p.saga_id, p.event_id, p.action, p.parked_at, \
         (SELECT COUNT(*) FROM tenant_events e WHERE e.tenant_id = p.tenant_id AND e.state = 'waiting') AS waiting \
         FROM parked_tenants p WHERE p.tenant_id = $1",
    )
    .bind(tenant_id.as_str())
    .fetch_optional(pool)
    .await?)
}

/// Sagas in `compensation_failed` whose tenant is still parked on them (an
/// operator's skip takes a saga off the retry schedule).
/// Returns `(saga id, tenant id)` pairs.
///
/// # Errors
/// The store's, or a stored id that does not parse.
pub async fn compensation_failed(pool: &AnyPool) -> Result<Vec<(Uuid, TenantId)>, StoreError> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT s.saga_id, s.tenant_id FROM sagas s JOIN parked_tenants p ON p.saga_id = s.saga_id \
         WHERE s.status = 'compensation_failed' ORDER BY s.updated_at",
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|(saga, tenant)| {
            let saga = Uuid::parse_str(&saga)
                .map_err(|e| StoreError::Corrupt(format!("sagas.saga_id: {e}")))?;
            let tenant =
                TenantId::parse(&tenant).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            Ok((saga, tenant))
        })
        .collect()
}
