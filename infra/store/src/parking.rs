//! Per-tenant order and parking (case D4 and the commerce-sequence rule).
//!
//! Commerce events of a tenant are *released* to the saga planner strictly in
//! commerce-sequence order, starting at 1. An event whose sequence is not newer
//! than the last released one is stale (recorded, no effect). An event after a
//! gap, or any event of a *parked* tenant, waits in the event stream (state
//! `waiting`) until the gap fills or an operator releases the tenant. A tenant
//! is parked when a saga for it fails; other tenants keep flowing.
//!
//! `tenant_cursors` and `parked_tenants` decide admission and serve
//! operators; the tenant's [`tenantry_sagas::Ledger`] carries the same facts
//! (cursor, parking, waiting count) into its published state. Every change
//! here updates both in the caller's transaction, through the [`Cache`] the
//! caller writes before it commits.

use crate::WriteBehind;
use crate::store::{StoreError, now_ms};
use crate::tenant_states::Cache;
use sqlx::{Any, AnyPool, Transaction};
use tenantry_schemas::{CommerceRecord, Parking, TenantId};

/// An operator's decision on a parked tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperatorAction {
    /// Run the failed saga again, then release waiting events.
    Retry,
    /// Leave the failed saga (or the missing sequence) behind and release waiting events.
    Skip,
}

impl OperatorAction {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            OperatorAction::Retry => "retry",
            OperatorAction::Skip => "skip",
        }
    }
}

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

pub use tenantry_sagas::admission::{Admission, ParkKind};

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
pub async fn advance(
    tx: &mut Tx,
    states: &mut Cache,
    tenant_id: &TenantId,
    sequence: i64,
) -> Result<(), StoreError> {
    states
        .update(tx, tenant_id, |r| r.ledger.commerce_sequence = sequence)
        .await?;
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

/// The tenant's parking row: (kind, action).
pub async fn parked(
    tx: &mut Tx,
    tenant_id: &TenantId,
) -> Result<Option<(String, Option<String>)>, StoreError> {
    Ok(
        sqlx::query_as("SELECT kind, action FROM parked_tenants WHERE tenant_id = $1")
            .bind(tenant_id.as_str())
            .fetch_optional(&mut **tx)
            .await?,
    )
}

/// Decides what to do with `record` from the tenant's ledger
/// ([`tenantry_sagas::admit`]) and records the parking change it causes: a
/// gap parks the tenant (kind `sequence_gap`) when it is not parked
/// already; the event that fills a gap un-parks it.
pub async fn admit(
    tx: &mut Tx,
    states: &mut Cache,
    record: &CommerceRecord,
) -> Result<Admission, StoreError> {
    use tenantry_sagas::admission::ParkingChange;
    let tenant = &record.envelope.tenant_id;
    let ledger = states.load(tx, tenant).await?.ledger;
    let decision = tenantry_sagas::admit(&ledger, record.envelope.sequence);
    match decision.parking {
        ParkingChange::Keep => {}
        ParkingChange::Unpark => unpark(tx, states, tenant).await?,
        ParkingChange::ParkAtGap(reason) => {
            park(
                tx,
                states,
                tenant,
                ParkKind::SequenceGap,
                &reason,
                None,
                Some(&record.envelope.event_id.to_string()),
            )
            .await?;
        }
    }
    Ok(decision.admission)
}

/// Parks a tenant (a newer reason replaces an older one), counting the
/// events already waiting behind it.
pub async fn park(
    tx: &mut Tx,
    states: &mut Cache,
    tenant_id: &TenantId,
    kind: ParkKind,
    reason: &str,
    saga_id: Option<&str>,
    event_id: Option<&str>,
) -> Result<(), StoreError> {
    let (waiting, last_waiting) = waiting(tx, tenant_id).await?;
    let parking = Parking {
        kind: kind.as_str().to_owned(),
        reason: reason.to_owned(),
        waiting,
        last_waiting,
    };
    states
        .update(tx, tenant_id, |r| r.ledger.parked = Some(parking))
        .await?;
    sqlx::query(
        "INSERT INTO parked_tenants (tenant_id, kind, reason, saga_id, event_id, parked_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id) DO UPDATE SET \
         kind = excluded.kind, reason = excluded.reason, saga_id = excluded.saga_id, \
         event_id = excluded.event_id, action = NULL, parked_at = excluded.parked_at",
    )
    .bind(tenant_id.as_str())
    .bind(kind.as_str())
    .bind(reason)
    .bind(saga_id)
    .bind(event_id)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// How many commerce events of the tenant wait, and the highest sequence
/// among them (0 when none).
pub async fn waiting(tx: &mut Tx, tenant_id: &TenantId) -> Result<(i64, i64), StoreError> {
    let (count, last): (i64, Option<i64>) = sqlx::query_as(
        "SELECT COUNT(*), MAX(sequence) FROM tenant_events WHERE tenant_id = $1 AND state = 'waiting'",
    )
    .bind(tenant_id.as_str())
    .fetch_one(&mut **tx)
    .await?;
    Ok((count, last.unwrap_or(0)))
}

/// One more commerce event of a parked tenant waits: `record`, just
/// recorded with state `waiting`.
pub async fn hold(
    tx: &mut Tx,
    states: &mut Cache,
    record: &CommerceRecord,
) -> Result<(), StoreError> {
    let sequence = record.envelope.sequence;
    states
        .update(tx, &record.envelope.tenant_id, |r| {
            if let Some(parked) = r.ledger.parked.as_mut() {
                parked.waiting += 1;
                parked.last_waiting = parked.last_waiting.max(sequence);
            }
        })
        .await
}

/// Removes the tenant's parking row.
pub async fn unpark(
    tx: &mut Tx,
    states: &mut Cache,
    tenant_id: &TenantId,
) -> Result<(), StoreError> {
    states
        .update(tx, tenant_id, |r| r.ledger.parked = None)
        .await?;
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
pub async fn set_state(tx: &mut Tx, event_id: &str, state: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE tenant_events SET state = $1 WHERE event_id = $2")
        .bind(state)
        .bind(event_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Requests an operator action on a parked tenant (written by the CLI,
/// carried out by the provisioner). Returns `false` when it is not parked.
pub async fn request(
    pool: &AnyPool,
    tenant_id: &TenantId,
    action: OperatorAction,
) -> Result<bool, StoreError> {
    let updated = sqlx::query("UPDATE parked_tenants SET action = $1 WHERE tenant_id = $2")
        .bind(action.as_str())
        .bind(tenant_id.as_str())
        .execute(pool)
        .await?
        .rows_affected();
    Ok(updated == 1)
}

/// Takes the pending operator actions: returns them and clears them, so each
/// is carried out once (if the provisioner stops before finishing one, the
/// operator asks again).
pub async fn take_requested(pool: &AnyPool) -> Result<Vec<(TenantId, OperatorAction)>, StoreError> {
    let mut tx = pool.begin().await?;
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT tenant_id, action FROM parked_tenants WHERE action IS NOT NULL ORDER BY parked_at",
    )
    .fetch_all(&mut *tx)
    .await?;
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
            let action = match action.as_str() {
                "retry" => OperatorAction::Retry,
                "skip" => OperatorAction::Skip,
                other => {
                    return Err(StoreError::Corrupt(format!(
                        "unknown operator action {other:?}"
                    )));
                }
            };
            Ok((tenant, action))
        })
        .collect()
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

/// Operator skip: un-parks the tenant, in one transaction, so its waiting
/// events can be released (case D4).
///
/// - Parked on a failed saga: the change that saga was bringing about is
///   given up ([`tenantry_sagas::DesiredState::abandon`]) — else the next
///   released event would plan it again, fail the same way and park the
///   tenant again — and its trigger event is recorded as rejected with what
///   was given up and why the saga failed. Returns that sentence.
/// - Parked on a sequence gap: the missing sequences are given up (the
///   cursor moves to just before the lowest waiting event).
///
/// `Ok(None)` when the tenant is not parked.
///
/// # Errors
/// The store's; nothing is written then.
pub async fn skip(pool: &AnyPool, tenant_id: &TenantId) -> Result<Option<String>, StoreError> {
    let mut tx = pool.begin().await?;
    let mut held = WriteBehind::default();
    let row: Option<(String, Option<String>)> =
        sqlx::query_as("SELECT kind, saga_id FROM parked_tenants WHERE tenant_id = $1")
            .bind(tenant_id.as_str())
            .fetch_optional(&mut *tx)
            .await?;
    let Some((kind, saga_id)) = row else {
        return Ok(None);
    };
    let given_up = if kind == ParkKind::SequenceGap.as_str() {
        let lowest: Option<(Option<i64>,)> = sqlx::query_as(
            "SELECT MIN(sequence) FROM tenant_events WHERE tenant_id = $1 AND state = 'waiting'",
        )
        .bind(tenant_id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        match lowest {
            Some((Some(lowest),)) => {
                advance(&mut tx, &mut held.states, tenant_id, lowest - 1).await?;
                format!("commerce sequences before {lowest} given up")
            }
            _ => "nothing waiting behind the gap".to_owned(),
        }
    } else if let Some(saga) = match saga_id.as_deref().map(uuid::Uuid::parse_str) {
        Some(Ok(id)) => crate::sagas::load_in(&mut tx, id).await?,
        _ => None,
    } {
        let mut record = held.states.load(&mut tx, tenant_id).await?;
        let given_up = record.desired.abandon(&saga, &record.provisioned);
        let reason = format!(
            "skipped by an operator: {given_up}; the saga failed: {}",
            saga.failure.as_deref().unwrap_or("(no reason recorded)")
        );
        record.ledger.failure = None;
        record.reject(tenantry_sagas::Rejection {
            sequence: saga.trigger_sequence,
            kind: crate::inbox::kind_of(&mut tx, &saga.trigger_event_id)
                .await?
                .unwrap_or_else(|| saga.kind.as_str().to_owned()),
            reason: reason.clone(),
        });
        held.states.save(tenant_id, record);
        // The trigger was accepted, so it has no rejection yet.
        crate::inbox::reject_event(&mut tx, &saga.trigger_event_id, tenant_id, &reason).await?;
        reason
    } else {
        "the failed saga is not recorded; nothing given up".to_owned()
    };
    unpark(&mut tx, &mut held.states, tenant_id).await?;
    held.write(&mut tx).await?;
    tx.commit().await?;
    Ok(Some(given_up))
}

/// Sagas in `compensation_failed` whose tenant is still parked on them (an
/// operator's skip takes a saga off the retry schedule).
/// Returns `(saga id, tenant id)` pairs.
pub async fn compensation_failed(pool: &AnyPool) -> Result<Vec<(String, String)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT s.saga_id, s.tenant_id FROM sagas s JOIN parked_tenants p ON p.saga_id = s.saga_id \
         WHERE s.status = 'compensation_failed' ORDER BY s.updated_at",
    )
    .fetch_all(pool)
    .await?)
}
