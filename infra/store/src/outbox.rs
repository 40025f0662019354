//! Transactional outbox for `provisioning.events.v1`.
//!
//! Rows are written in the same transaction as the saga state change that
//! produced them, each with a deterministic event id and a per-tenant
//! sequence. The relay claims the rows that are *there* — a published row is
//! deleted by the relay's transaction — never by a "last id" cursor, so a
//! transaction that commits after a higher id was published is still picked
//! up (case D6). A crash between
//! publishing and marking re-sends the same row — same event id, same key —
//! and consumers drop it by sequence/event id. On PostgreSQL rows are claimed
//! with `FOR UPDATE SKIP LOCKED`, so several relays do not publish the same
//! row in the normal case.

use crate::store::{Backend, StoreError, now_ms};
use sqlx::{Any, Transaction};
use tenantry_sagas::SagaState;
use tenantry_schemas::{Envelope, ProvisioningEvent, ProvisioningRecord};
use uuid::Uuid;

/// Source name on provisioning envelopes.
pub const SOURCE: &str = "tenantry-provisioner";

/// Namespace for outbox event ids (UUID v5 of saga id + version + index).
const EVENT_NAMESPACE: Uuid = Uuid::from_u128(0x2b7e_1516_28ae_d2a6_abf7_1588_09cf_4f3c);

/// Appends `events` of `saga` (just produced by one transition, so `saga.version`
/// identifies it) to the outbox, allocating the tenant's next provisioning
/// sequence numbers. Event ids are derived from (saga id, version, index), so a
/// transition can only ever produce the same ids.
///
/// # Errors
/// The store's.
pub async fn enqueue(
    tx: &mut Transaction<'static, Any>,
    saga: &SagaState,
    events: Vec<ProvisioningEvent>,
) -> Result<(), StoreError> {
    let mut pending = Pending::default();
    pending.push(saga, events);
    pending.write(tx).await
}

/// Outbox rows of several transitions, held in memory and written by
/// [`Pending::write`] in the transaction that made them: one sequence
/// allocation per tenant and one `INSERT` per [`ROWS_PER_INSERT`] rows,
/// instead of two statements per transition. Rows keep the order they were pushed in, and so do a
/// tenant's sequence numbers.
#[derive(Debug, Default)]
pub struct Pending {
    transitions: Vec<Transition>,
}

#[derive(Debug)]
struct Transition {
    tenant_id: tenantry_schemas::TenantId,
    saga_id: Uuid,
    version: i64,
    trigger_event_id: Uuid,
    events: Vec<ProvisioningEvent>,
}

/// Most rows in one `INSERT` (4 parameters each; SQLite allows 32 766
/// parameters per statement, PostgreSQL 65 535).
pub const ROWS_PER_INSERT: usize = 1000;

impl Pending {
    /// Adds the events of one transition of `saga` (taken at its current
    /// version, as [`enqueue`] does).
    pub fn push(&mut self, saga: &SagaState, events: Vec<ProvisioningEvent>) {
        if events.is_empty() {
            return;
        }
        self.transitions.push(Transition {
            tenant_id: saga.tenant_id.clone(),
            saga_id: saga.saga_id,
            version: saga.version,
            trigger_event_id: saga.trigger_event_id,
            events,
        });
    }

    /// Writes the pushed rows into `tx` and empties the buffer.
    ///
    /// # Errors
    /// The store's; the caller rolls `tx` back.
    pub async fn write(&mut self, tx: &mut Transaction<'static, Any>) -> Result<(), StoreError> {
        let transitions = std::mem::take(&mut self.transitions);
        if transitions.is_empty() {
            return Ok(());
        }
        // Sequence numbers: one allocation per tenant, in tenant order (the
        // order every writer locks `tenant_sequences` rows in).
        let mut counts: std::collections::BTreeMap<&str, i64> = Default::default();
        for t in &transitions {
            *counts.entry(t.tenant_id.as_str()).or_default() += t.events.len() as i64;
        }
        let mut next: std::collections::BTreeMap<String, i64> = Default::default();
        for (tenant, count) in counts {
            let (last,): (i64,) = sqlx::query_as(
                "INSERT INTO tenant_sequences (tenant_id, provisioning_seq) VALUES ($1, $2) \
                 ON CONFLICT (tenant_id) DO UPDATE SET provisioning_seq = tenant_sequences.provisioning_seq + $2 \
                 RETURNING provisioning_seq",
            )
            .bind(tenant)
            .bind(count)
            .fetch_one(&mut **tx)
            .await?;
            next.insert(tenant.to_owned(), last - count + 1);
        }
        let now = now_ms();
        let mut rows = Vec::new();
        for t in transitions {
            for (index, event) in t.events.into_iter().enumerate() {
                let sequence = next.get_mut(t.tenant_id.as_str()).expect("allocated above");
                let name = format!("{}:{}:{index}", t.saga_id, t.version);
                let record = ProvisioningRecord {
                    envelope: Envelope {
                        event_id: Uuid::new_v5(&EVENT_NAMESPACE, name.as_bytes()),
                        tenant_id: t.tenant_id.clone(),
                        sequence: *sequence,
                        occurred_at_ms: now,
                        source: SOURCE.to_owned(),
                        correlation_id: Some(t.saga_id.to_string()),
                        causation_id: Some(t.trigger_event_id.to_string()),
                    },
                    event,
                };
                *sequence += 1;
                rows.push((
                    record.envelope.event_id.to_string(),
                    serde_json::to_string(&record)?,
                    record.envelope.tenant_id,
                ));
            }
        }
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            // `($1, $2, $3, $4), ($5, …)`.
            let values: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let n = i * 4;
                    format!("(${}, ${}, ${}, ${})", n + 1, n + 2, n + 3, n + 4)
                })
                .collect();
            let sql = format!(
                "INSERT INTO outbox (event_id, tenant_id, record, created_at) VALUES {}",
                values.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for (event_id, record, tenant) in chunk {
                query = query
                    .bind(event_id)
                    .bind(tenant.as_str())
                    .bind(record)
                    .bind(now);
            }
            query.execute(&mut **tx).await?;
        }
        Ok(())
    }
}

/// One claimed outbox row.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    /// Row id.
    pub id: i64,
    /// The record to publish (key = tenant id).
    pub record: ProvisioningRecord,
}

/// Claims up to `limit` rows, lowest id first, for the caller to publish;
/// [`remove_published`] then removes them in the same transaction, and its
/// commit is what marks them published. A crash or an error before the
/// commit leaves the rows in place and they are claimed again, with the same
/// event ids and keys (case D6). Returned in id order.
///
/// PostgreSQL: the claim *is* the removal — `DELETE … RETURNING` over the
/// lowest ids, skipping rows another relay holds (`FOR UPDATE SKIP LOCKED`)
/// — one statement. The ids are taken with `= ANY(ARRAY(SELECT …))`, an
/// init plan that runs once: written as `IN (SELECT … LIMIT n …)`, the
/// planner may make the locking subquery the inner side of a join and run it
/// again per outer row, and one claim deleted 10,458 rows for a limit of 256
/// in 12 s (seen in `tenantry bench`; test
/// `a_claim_takes_at_most_its_limit`). One statement per batch that writes no new row versions or index
/// entries (measured with `tenantry bench` and `pg_stat_statements`: the
/// former `SELECT … FOR UPDATE` and `UPDATE … SET published_at` took 14 and
/// 18 ms per batch of 256 on a 20 k-row outbox, the delete 9 ms). SQLite: a
/// plain `SELECT`, so that the database's single write lock is not held
/// while the broker acknowledges; [`remove_published`] deletes.
pub async fn claim(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    limit: i64,
) -> Result<Vec<OutboxRow>, StoreError> {
    let sql = match backend {
        Backend::Postgres => {
            "DELETE FROM outbox WHERE id = ANY(ARRAY(\
             SELECT id FROM outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)) \
             RETURNING id, record"
        }
        Backend::Sqlite => "SELECT id, record FROM outbox ORDER BY id LIMIT $1",
    };
    let mut rows: Vec<(i64, String)> = sqlx::query_as(sql).bind(limit).fetch_all(&mut **tx).await?;
    // RETURNING has no defined order.
    rows.sort_unstable_by_key(|(id, _)| *id);
    rows.into_iter()
        .map(|(id, record)| {
            Ok(OutboxRow {
                id,
                record: serde_json::from_str(&record)?,
            })
        })
        .collect()
}

/// Removes claimed `rows` once the broker acknowledged them (see
/// [`claim`]); the caller commits. A no-op on PostgreSQL, where the claim
/// already deleted them.
pub async fn remove_published(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    rows: &[OutboxRow],
) -> Result<(), StoreError> {
    if backend == Backend::Postgres || rows.is_empty() {
        return Ok(());
    }
    let placeholders: Vec<String> = (1..=rows.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "DELETE FROM outbox WHERE id IN ({})",
        placeholders.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for row in rows {
        query = query.bind(row.id);
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

/// Number of rows not yet published.
pub async fn pending(pool: &sqlx::AnyPool) -> Result<i64, StoreError> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM outbox")
        .fetch_one(pool)
        .await?;
    Ok(n)
}
