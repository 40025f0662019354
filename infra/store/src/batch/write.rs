//! The batch commit: the product databases, the outbox, every other table,
//! the shards' usage.

use super::rows::table_writes;
use super::{Tx, Value, bind, insert, keys_args, list, placeholders_from};
use crate::outbox;
use crate::product_db::quoted;
use crate::store::{Backend, StoreError, now_ms};
use sqlx::any::AnyArguments;
use std::collections::BTreeMap;
use tenantry_sagas::work::{Changes, Committed};

/// Rows for one table: `head` (`INSERT INTO t (a, b)`), `tail`
/// (`ON CONFLICT …`), and, for rows the batch counts on being new, what
/// they are (for the conflict's reason).
pub(super) struct TableWrite {
    pub(super) head: &'static str,
    pub(super) tail: &'static str,
    pub(super) rows: Vec<Vec<Value>>,
    pub(super) all_new: Option<&'static str>,
}

/// Most parameters in one PostgreSQL statement (the protocol's limit is
/// 65,535); a larger batch is written a table at a time.
const MAX_PARAMETERS: usize = 60_000;

/// Writes `changes` into `tx`; a conflict leaves `tx` for the caller to roll back.
///
/// PostgreSQL: the product databases' DDL first (one `DO` block), then
/// every table in **one** statement of data-modifying `WITH` clauses, then
/// the outbox and its per-tenant sequences in a second one, then the
/// shards' usage ([`add_shard_usage`]). SQLite (no data-modifying `WITH`):
/// one statement per table, the outbox and shard usage last.
pub(super) async fn write(
    tx: &mut Tx,
    backend: Backend,
    changes: &Changes,
) -> Result<Committed, StoreError> {
    let now = now_ms();
    let tables = table_writes(changes, now)?;
    let effects = &changes.effects;
    let mut pending = outbox::Pending::default();
    for (tenant, state) in &changes.states {
        pending.push_traced(tenant, state.clone(), traceparent(changes, tenant));
    }
    let parameters: usize = tables
        .iter()
        .map(|t| t.rows.iter().map(Vec::len).sum::<usize>())
        .sum::<usize>()
        + effects.reclaimed_hosts.len();
    if backend == Backend::Postgres && parameters <= MAX_PARAMETERS {
        create_databases(tx, backend, &effects.create_databases).await?;
        if let conflict @ Committed::Conflict(_) =
            write_together(tx, tables, &effects.reclaimed_hosts).await?
        {
            return Ok(conflict);
        }
        // The outbox after `tenant_states`: the order in which every writer
        // locks a tenant's rows (`WriteBehind::write`, `republish`), so a
        // batch and another writer of one tenant never deadlock.
        let sequenced = changes
            .states
            .keys()
            .all(|tenant| changes.provisioning_sequences.contains_key(tenant));
        if sequenced {
            let outbox = outbox_writes(changes, now)?;
            if let conflict @ Committed::Conflict(_) = write_together(tx, outbox, &[]).await? {
                return Ok(conflict);
            }
        } else {
            pending.write(tx).await?;
        }
        add_shard_usage(tx, &effects.shard_usage).await?;
        return Ok(Committed::Done);
    }
    for table in tables {
        let sent = table.rows.len() as u64;
        let written = insert(tx, table.head, table.tail, table.rows).await?;
        if let Some(what) = table.all_new
            && written != sent
        {
            return Ok(conflict(what, sent - written, sent));
        }
    }
    if !effects.reclaimed_hosts.is_empty() {
        let (args, n) = keys_args(effects.reclaimed_hosts.iter().map(String::as_str))?;
        let sql = format!("DELETE FROM released_hosts WHERE host IN ({})", list(n));
        sqlx::query_with(&sql, args).execute(&mut **tx).await?;
    }
    create_databases(tx, backend, &effects.create_databases).await?;
    pending.write(tx).await?;
    // Last: every batch updates the shards of its regions, so their row
    // locks are taken just before the commit and held only through it.
    add_shard_usage(tx, &effects.shard_usage).await?;
    Ok(Committed::Done)
}

/// The outbox rows of `changes.states` and their tenants' sequences: each
/// state under the tenant's next provisioning sequence after the loaded
/// one, the sequence row advanced only if it still holds the loaded value
/// (else another writer published meanwhile: a conflict).
fn outbox_writes(changes: &Changes, now: i64) -> Result<Vec<TableWrite>, StoreError> {
    let mut sequences = Vec::with_capacity(changes.states.len());
    let mut records = Vec::with_capacity(changes.states.len());
    for (tenant, state) in &changes.states {
        let next = changes.provisioning_sequences[tenant] + 1;
        let (event_id, record) = outbox::record_row(tenant, next, state.clone(), now)?;
        sequences.push(vec![tenant.into(), next.into()]);
        records.push(vec![
            event_id.into(),
            tenant.into(),
            record.into(),
            now.into(),
            traceparent(changes, tenant).into(),
        ]);
    }
    Ok(vec![
        TableWrite {
            head: "INSERT INTO tenant_sequences (tenant_id, provisioning_seq)",
            tail: "ON CONFLICT (tenant_id) DO UPDATE SET provisioning_seq = excluded.provisioning_seq \
                   WHERE tenant_sequences.provisioning_seq = excluded.provisioning_seq - 1",
            rows: sequences,
            all_new: Some("provisioning sequences"),
        },
        TableWrite {
            head: "INSERT INTO outbox (event_id, tenant_id, record, created_at, traceparent)",
            tail: "ON CONFLICT (event_id) DO NOTHING",
            rows: records,
            all_new: Some("outbox records"),
        },
    ])
}

/// The `traceparent` kept with `tenant`'s outbox row: the one the batch
/// recorded for the tenant's last record, else the current span's.
fn traceparent(changes: &Changes, tenant: &tenantry_schemas::TenantId) -> Option<String> {
    changes
        .traceparents
        .get(tenant)
        .cloned()
        .or_else(|| tenantry_telemetry::trace::traceparent_of(&tracing::Span::current()))
}

fn conflict(what: &str, taken: u64, sent: u64) -> Committed {
    Committed::Conflict(format!("{taken} of {sent} {what} were written meanwhile"))
}

/// Every table of `tables` and the reclaimed hosts in one PostgreSQL
/// statement: `WITH w0 AS (INSERT … RETURNING 1), … SELECT
/// (SELECT COUNT(*) FROM w0), …`, counting the rows of the tables whose
/// rows must all be new.
async fn write_together(
    tx: &mut Tx,
    tables: Vec<TableWrite>,
    reclaimed: &[String],
) -> Result<Committed, StoreError> {
    let mut args = AnyArguments::default();
    let mut next = 0;
    let mut clauses = Vec::new();
    let mut counted = Vec::new();
    for (i, table) in tables.into_iter().enumerate() {
        let Some(width) = table.rows.first().map(Vec::len) else {
            continue;
        };
        let values = placeholders_from(next, table.rows.len(), width);
        next += table.rows.len() * width;
        let sent = table.rows.len() as u64;
        for value in table.rows.into_iter().flatten() {
            bind(&mut args, value)?;
        }
        let returning = if table.all_new.is_some() {
            " RETURNING 1"
        } else {
            ""
        };
        clauses.push(format!(
            "w{i} AS ({} VALUES {values} {}{returning})",
            table.head, table.tail
        ));
        if let Some(what) = table.all_new {
            counted.push((format!("w{i}"), what, sent));
        }
    }
    if !reclaimed.is_empty() {
        let mut names = Vec::with_capacity(reclaimed.len());
        for host in reclaimed {
            next += 1;
            bind(&mut args, Value::Text(host.clone()))?;
            names.push(format!("${next}"));
        }
        clauses.push(format!(
            "reclaimed AS (DELETE FROM released_hosts WHERE host IN ({}))",
            names.join(", ")
        ));
    }
    if clauses.is_empty() {
        return Ok(Committed::Done);
    }
    // The counts of the counted tables, in order, as one text column
    // (`3,1,2`), so any number of tables reads with one decoder.
    let counts: Vec<String> = counted
        .iter()
        .map(|(name, _, _)| format!("CAST((SELECT COUNT(*) FROM {name}) AS TEXT)"))
        .collect();
    let select = if counts.is_empty() {
        "SELECT ''".to_owned()
    } else {
        format!("SELECT {}", counts.join(" || ',' || "))
    };
    let sql = format!("WITH {} {select}", clauses.join(", "));
    let (row,): (String,) = sqlx::query_as_with(&sql, args).fetch_one(&mut **tx).await?;
    for ((_, what, sent), written) in counted.iter().zip(row.split(',')) {
        let written: u64 = written
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("batch write count {written:?}: {e}")))?;
        if written != *sent {
            return Ok(conflict(what, sent - written, *sent));
        }
    }
    Ok(Committed::Done)
}

/// Adds each shard's new databases to its `used` count: one `UPDATE` per
/// shard, in shard-id order, as the transaction's last statements. Every
/// batch updates the shards of its regions, so these row locks are the
/// contended ones: taken in one order by every writer (no deadlock — a
/// single `UPDATE … WHERE shard_id IN (…)` locks in scan order, which
/// differs between transactions) and held only until the commit.
async fn add_shard_usage(tx: &mut Tx, usage: &BTreeMap<String, i64>) -> Result<(), StoreError> {
    for (shard, count) in usage {
        sqlx::query("UPDATE shards SET used = used + $1 WHERE shard_id = $2")
            .bind(count)
            .bind(shard)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Creates the product databases (PostgreSQL schemas) in one round trip: a
/// `DO` block looping over the names, which are checked to be safe
/// identifiers first. Product databases are SQLite files in embedded mode,
/// which a transaction cannot create; a batch never asks for them there.
async fn create_databases(
    tx: &mut Tx,
    backend: Backend,
    names: &[String],
) -> Result<(), StoreError> {
    if names.is_empty() {
        return Ok(());
    }
    if backend != Backend::Postgres {
        return Err(StoreError::Corrupt(
            "product databases are files in embedded mode and cannot be created in a batch".into(),
        ));
    }
    let mut quoted_names = Vec::with_capacity(names.len());
    for name in names {
        // `quoted` admits only [a-z0-9_], so the literal needs no escaping.
        quoted(name)?;
        quoted_names.push(format!("'{name}'"));
    }
    let sql = format!(
        "DO $$ DECLARE n text; BEGIN FOREACH n IN ARRAY ARRAY[{}] LOOP \
         EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I', n); END LOOP; END $$",
        quoted_names.join(", ")
    );
    sqlx::query(&sql)
        .persistent(false)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
