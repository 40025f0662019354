//! Transactional outbox for `provisioning.events.v1`.
//!
//! Rows are tenant-state records, written in the same transaction as the
//! change of the tenant's state they carry, each with a per-tenant sequence
//! and an event id derived from it. The relay claims the rows that are *there* — a published row is
//! deleted by the relay's transaction — never by a "last id" cursor, so a
//! transaction that commits after a higher id was published is still picked
//! up (case D6). A crash between
//! publishing and marking re-sends the same row — same event id, same key —
//! and consumers drop it by sequence/event id. On PostgreSQL rows are claimed
//! with `FOR UPDATE SKIP LOCKED`, so several relays do not publish the same
//! row in the normal case.

use crate::store::{Backend, StoreError, now_ms};
use sqlx::{Any, Transaction};
use std::collections::BTreeMap;
use tenantry_sagas::{OutboxClaim, OutboxRecord, OutboxStore};
use tenantry_schemas::{Envelope, ProvisioningEvent, ProvisioningRecord, TenantId, TenantState};
use uuid::Uuid;

/// Source name on provisioning envelopes.
pub const SOURCE: &str = "tenantry-provisioner";

/// Namespace for outbox event ids (UUID v5 of tenant id and provisioning
/// sequence: one tenant-state record per sequence).
const EVENT_NAMESPACE: Uuid = Uuid::from_u128(0x2b7e_1516_28ae_d2a6_abf7_1588_09cf_4f3c);

/// Appends one tenant-state record of `tenant` to the outbox in `tx`.
///
/// # Errors
/// The store's.
pub async fn enqueue(
    tx: &mut Transaction<'static, Any>,
    tenant: &TenantId,
    state: TenantState,
) -> Result<(), StoreError> {
    let mut pending = Pending::default();
    pending.push_state(tenant, state);
    pending.write(tx).await
}

/// How many outbox rows wait to be published (the provisioner's
/// `outbox_backlog` gauge): every row there, since the relay deletes what
/// it published.
///
/// # Errors
/// The store's.
pub async fn backlog(pool: &sqlx::AnyPool) -> Result<u64, StoreError> {
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM outbox")
        .fetch_one(pool)
        .await?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// Tenant-state records of one transaction, held in memory and written by
/// [`Pending::write`] before it commits: one sequence allocation per tenant
/// and one `INSERT` per [`ROWS_PER_INSERT`] rows. A tenant has at most one
/// record per transaction — a newer state pushed for it replaces the older —
/// since each record is the whole state and only the last one matters.
#[derive(Debug, Default)]
pub struct Pending {
    /// Each tenant's state and the `traceparent` of the span that pushed it.
    states: BTreeMap<TenantId, (TenantState, Option<String>)>,
}

/// Most rows in one `INSERT` (5 parameters each; SQLite allows 32 766
/// parameters per statement, PostgreSQL 65 535).
pub const ROWS_PER_INSERT: usize = 1000;

impl Pending {
    /// Holds `state` as the tenant's record of this transaction, with the
    /// current span's `traceparent` (when traces are exported): the span of
    /// the commerce record whose processing changed the state.
    pub fn push_state(&mut self, tenant: &TenantId, state: TenantState) {
        let traceparent = tenantry_telemetry::trace::traceparent_of(&tracing::Span::current());
        self.push_traced(tenant, state, traceparent);
    }

    /// [`Pending::push_state`] with the `traceparent` to keep with the row.
    pub fn push_traced(
        &mut self,
        tenant: &TenantId,
        state: TenantState,
        traceparent: Option<String>,
    ) {
        self.states.insert(tenant.clone(), (state, traceparent));
    }

    /// Number of records held.
    pub fn len(&self) -> usize {
        self.states.len()
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// Writes the held records into `tx` and empties the buffer. Each gets
    /// the tenant's next provisioning sequence ([`next_sequences`]) and an
    /// event id derived from tenant and sequence.
    ///
    /// # Errors
    /// The store's; the caller rolls `tx` back.
    pub async fn write(&mut self, tx: &mut Transaction<'static, Any>) -> Result<(), StoreError> {
        let states = std::mem::take(&mut self.states);
        if states.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let sequences = next_sequences(tx, states.keys()).await?;
        let mut rows = Vec::with_capacity(states.len());
        for (tenant, (state, traceparent)) in states {
            let sequence = *sequences.get(&tenant).ok_or_else(|| {
                StoreError::Corrupt(format!("no provisioning sequence allocated for {tenant}"))
            })?;
            let (event_id, record) = record_row(&tenant, sequence, state, now)?;
            rows.push((event_id, record, tenant, traceparent));
        }
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            // `($1, $2, $3, $4, $5), ($6, …)`.
            let values: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let n = i * 5;
                    format!(
                        "(${}, ${}, ${}, ${}, ${})",
                        n + 1,
                        n + 2,
                        n + 3,
                        n + 4,
                        n + 5
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO outbox (event_id, tenant_id, record, created_at, traceparent) VALUES {}",
                values.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for (event_id, record, tenant, traceparent) in chunk {
                query = query
                    .bind(event_id)
                    .bind(tenant.as_str())
                    .bind(record)
                    .bind(now)
                    .bind(traceparent.clone());
            }
            query.execute(&mut **tx).await?;
        }
        Ok(())
    }
}

/// The outbox row of `tenant`'s `state` at provisioning sequence
/// `sequence`: its event id (UUID v5 of tenant and sequence, the same for
/// every attempt) and the record as stored.
///
/// # Errors
/// The record does not serialise (a bug).
pub(crate) fn record_row(
    tenant: &TenantId,
    sequence: i64,
    state: TenantState,
    now: i64,
) -> Result<(String, String), StoreError> {
    let record = state_record(tenant, sequence, state, now);
    Ok((
        record.envelope.event_id.to_string(),
        serde_json::to_string(&record)?,
    ))
}

/// The tenant-state record of `tenant`'s `state` at provisioning sequence
/// `sequence`, event id UUID v5 of tenant and sequence.
pub(crate) fn state_record(
    tenant: &TenantId,
    sequence: i64,
    state: TenantState,
    now: i64,
) -> ProvisioningRecord {
    let name = format!("{tenant}:{sequence}");
    ProvisioningRecord {
        envelope: Envelope {
            event_id: Uuid::new_v5(&EVENT_NAMESPACE, name.as_bytes()),
            tenant_id: tenant.clone(),
            sequence,
            occurred_at_ms: now,
            source: SOURCE.to_owned(),
            correlation_id: None,
            causation_id: None,
        },
        event: ProvisioningEvent::TenantState(Box::new(state)),
    }
}

/// Allocates the next provisioning sequence of each of `tenants` (in
/// tenant order, the order every writer locks `tenant_sequences` rows in):
/// one upsert per [`ROWS_PER_INSERT`] tenants that returns the new values.
async fn next_sequences<'a>(
    tx: &mut Transaction<'static, Any>,
    tenants: impl Iterator<Item = &'a TenantId>,
) -> Result<BTreeMap<TenantId, i64>, StoreError> {
    let tenants: Vec<&TenantId> = tenants.collect();
    let mut sequences = BTreeMap::new();
    for chunk in tenants.chunks(ROWS_PER_INSERT) {
        let values: Vec<String> = (1..=chunk.len()).map(|i| format!("(${i}, 1)")).collect();
        let sql = format!(
            "INSERT INTO tenant_sequences (tenant_id, provisioning_seq) VALUES {} \
             ON CONFLICT (tenant_id) DO UPDATE SET provisioning_seq = tenant_sequences.provisioning_seq + 1 \
             RETURNING tenant_id, provisioning_seq",
            values.join(", ")
        );
        let mut query = sqlx::query_as::<_, (String, i64)>(&sql);
        for tenant in chunk {
            query = query.bind(tenant.as_str());
        }
        for (tenant, sequence) in query.fetch_all(&mut **tx).await? {
            let tenant =
                TenantId::parse(&tenant).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            sequences.insert(tenant, sequence);
        }
    }
    Ok(sequences)
}

/// One claimed outbox row.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    /// Row id.
    pub id: i64,
    /// The record to publish (key = tenant id).
    pub record: ProvisioningRecord,
    /// The `traceparent` of the span that wrote the row, if any.
    pub traceparent: Option<String>,
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
             RETURNING id, record, traceparent"
        }
        Backend::Sqlite => "SELECT id, record, traceparent FROM outbox ORDER BY id LIMIT $1",
    };
    let mut rows: Vec<(i64, String, Option<String>)> =
        sqlx::query_as(sql).bind(limit).fetch_all(&mut **tx).await?;
    // RETURNING has no defined order.
    rows.sort_unstable_by_key(|(id, _, _)| *id);
    rows.into_iter()
        .map(|(id, record, traceparent)| {
            Ok(OutboxRow {
                id,
                record: serde_json::from_str(&record)?,
                traceparent,
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

/// Outbox records claimed in a transaction of their own
/// ([`tenantry_sagas::OutboxStore`] on [`crate::Store`]): on PostgreSQL the
/// claim already deleted them and the commit makes that final; on SQLite
/// [`OutboxClaim::remove`] deletes them, then commits. Dropped, the
/// transaction rolls back and the records stay.
#[derive(Debug)]
pub struct StoreClaim {
    tx: Transaction<'static, Any>,
    backend: Backend,
    rows: Vec<OutboxRow>,
    records: Vec<OutboxRecord>,
}

impl OutboxStore for crate::Store {
    type Error = StoreError;
    type Claim = StoreClaim;

    async fn claim(&self, limit: usize) -> Result<StoreClaim, StoreError> {
        let mut tx = self.pool().begin().await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = claim(&mut tx, self.backend(), limit).await?;
        let records = rows
            .iter()
            .map(|row| OutboxRecord {
                id: row.id,
                record: row.record.clone(),
                traceparent: row.traceparent.clone(),
            })
            .collect();
        Ok(StoreClaim {
            tx,
            backend: self.backend(),
            rows,
            records,
        })
    }
}

impl OutboxClaim for StoreClaim {
    type Error = StoreError;

    fn records(&self) -> &[OutboxRecord] {
        &self.records
    }

    async fn remove(mut self) -> Result<(), StoreError> {
        remove_published(&mut self.tx, self.backend, &self.rows).await?;
        self.tx.commit().await?;
        Ok(())
    }
}
