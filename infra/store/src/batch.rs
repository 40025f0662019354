//! The store behind a batch's unit of work ([`tenantry_sagas::work`]): one
//! read per table for everything a batch needs, and one commit that writes
//! every table in one multi-row statement (at most [`ROWS_PER_STATEMENT`]
//! rows each), the batch's product databases in one round trip.
//!
//! Inserts a batch counts on being new — event ids, saga ids, site hosts —
//! use `ON CONFLICT DO NOTHING` and compare the rows written with the rows
//! sent: a difference means another writer got there since the load, and
//! the whole transaction is rolled back ([`Committed::Conflict`]). Rows are
//! sent sorted by key, so two batches lock shared rows (shards, tenant
//! sequences, hosts) in the same order.
//!
//! Multi-row `VALUES` statements go through sqlx's `Any` driver, which both
//! backends accept; the driver has no array types, so PostgreSQL's `UNNEST`
//! is not available on this path.

use crate::outbox;
use crate::product_db::quoted;
use crate::store::{Backend, Store, StoreError, now_ms};
use sqlx::any::AnyArguments;
use sqlx::{Any, Arguments, Transaction};
use std::collections::BTreeMap;
use tenantry_sagas::work::{
    Changes, Committed, Keys, Loaded, PlacedDatabase, RecordedEvent, ReleasedHost, Shard,
};
use tenantry_sagas::{BatchStore, TenantRecord};
use tenantry_schemas::{ProductKey, Region, TenantId};
use uuid::Uuid;

/// Most rows in one statement (SQLite allows 32,766 parameters per
/// statement, PostgreSQL 65,535; the widest row here has 10 columns).
pub const ROWS_PER_STATEMENT: usize = 1000;

type Tx = Transaction<'static, Any>;

/// One bound value.
#[derive(Debug, Clone)]
enum Value {
    Text(String),
    OptText(Option<String>),
    Int(i64),
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}
impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Self {
        Value::OptText(v)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Int(i64::from(v))
    }
}
impl From<&TenantId> for Value {
    fn from(v: &TenantId) -> Self {
        Value::Text(v.as_str().to_owned())
    }
}
impl From<&ProductKey> for Value {
    fn from(v: &ProductKey) -> Self {
        Value::Text(v.as_str().to_owned())
    }
}

fn bind(args: &mut AnyArguments<'static>, value: Value) -> Result<(), StoreError> {
    let added = match value {
        Value::Text(v) => args.add(v),
        Value::OptText(v) => args.add(v),
        Value::Int(v) => args.add(v),
    };
    added.map_err(|e| StoreError::Corrupt(format!("binding a value: {e}")))
}

/// `($1, $2), ($3, $4)` for `rows` rows of `width` columns.
fn placeholders(rows: usize, width: usize) -> String {
    placeholders_from(0, rows, width)
}

/// [`placeholders`] numbered after the first `offset` parameters.
fn placeholders_from(offset: usize, rows: usize, width: usize) -> String {
    (0..rows)
        .map(|r| {
            let cells: Vec<String> = (1..=width)
                .map(|c| format!("${}", offset + r * width + c))
                .collect();
            format!("({})", cells.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `$1, $2, …, $n`.
fn list(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Inserts `rows` into `head` (`INSERT INTO t (a, b)`) followed by `tail`
/// (`ON CONFLICT …`), one statement per [`ROWS_PER_STATEMENT`] rows.
/// Returns the rows written.
async fn insert(
    tx: &mut Tx,
    head: &str,
    tail: &str,
    rows: Vec<Vec<Value>>,
) -> Result<u64, StoreError> {
    let mut written = 0;
    let Some(width) = rows.first().map(Vec::len) else {
        return Ok(0);
    };
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Value>> = rows.by_ref().take(ROWS_PER_STATEMENT).collect();
        let sql = format!("{head} VALUES {} {tail}", placeholders(chunk.len(), width));
        let mut args = AnyArguments::default();
        for value in chunk.into_iter().flatten() {
            bind(&mut args, value)?;
        }
        written += sqlx::query_with(&sql, args)
            .execute(&mut **tx)
            .await?
            .rows_affected();
    }
    Ok(written)
}

/// Binds `keys` for an `IN (…)` list.
fn keys_args<'a>(
    keys: impl IntoIterator<Item = &'a str>,
) -> Result<(AnyArguments<'static>, usize), StoreError> {
    let mut args = AnyArguments::default();
    let mut n = 0;
    for key in keys {
        bind(&mut args, Value::Text(key.to_owned()))?;
        n += 1;
    }
    Ok((args, n))
}

/// One row of the batch load: which part it belongs to and up to four
/// text columns.
type LoadRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// The batch load as one query — a `UNION ALL` of one `SELECT` per table,
/// every column as text — so a batch reads everything in one round trip
/// and one statement. Parameters: the tenants, then the event ids, then the
/// hosts, each list bound once and named again where it is needed (an
/// empty list is `NULL`, which matches nothing). Shards: those with room,
/// and the number of shards per region (the next shard's number).
fn load_query(
    keys: &Keys,
    event_ids: &[String],
) -> Result<(String, AnyArguments<'static>), StoreError> {
    let mut args = AnyArguments::default();
    let mut next = 0;
    let mut bind_list = |values: Vec<&str>, args: &mut AnyArguments<'static>| {
        if values.is_empty() {
            return Ok::<_, StoreError>("NULL".to_owned());
        }
        let mut names = Vec::with_capacity(values.len());
        for value in values {
            next += 1;
            bind(args, Value::Text(value.to_owned()))?;
            names.push(format!("${next}"));
        }
        Ok(names.join(", "))
    };
    let tenants = bind_list(
        keys.tenants.iter().map(TenantId::as_str).collect(),
        &mut args,
    )?;
    let events = bind_list(event_ids.iter().map(String::as_str).collect(), &mut args)?;
    let hosts = bind_list(keys.hosts.iter().map(String::as_str).collect(), &mut args)?;
    let sql = format!(
        "SELECT 'state', tenant_id, desired, provisioned, ledger FROM tenant_states \
           WHERE tenant_id IN ({tenants}) \
         UNION ALL SELECT DISTINCT 'waiting', tenant_id, NULL, NULL, NULL FROM tenant_events \
           WHERE state = 'waiting' AND tenant_id IN ({tenants}) \
         UNION ALL SELECT 'placement', tenant_id, region, CAST(pinned AS TEXT), NULL FROM placements \
           WHERE tenant_id IN ({tenants}) \
         UNION ALL SELECT 'database', tenant_id, product, shard_id, database_name FROM product_databases \
           WHERE tenant_id IN ({tenants}) \
         UNION ALL SELECT 'group', tenant_id, group_name, NULL, NULL FROM identity_groups \
           WHERE tenant_id IN ({tenants}) \
         UNION ALL SELECT 'event', event_id, tenant_id, CAST(sequence AS TEXT), kind FROM tenant_events \
           WHERE event_id IN ({events}) \
         UNION ALL SELECT 'site', host, tenant_id, NULL, NULL FROM sites \
           WHERE host IN ({hosts}) OR tenant_id IN ({tenants}) \
         UNION ALL SELECT 'released', host, tenant_id, CAST(reusable_after AS TEXT), NULL FROM released_hosts \
           WHERE host IN ({hosts}) \
         UNION ALL SELECT 'shard', shard_id, region, CAST(capacity AS TEXT), CAST(used AS TEXT) FROM shards \
           WHERE used < capacity \
         UNION ALL SELECT 'shards', region, CAST(COUNT(*) AS TEXT), NULL, NULL FROM shards GROUP BY region"
    );
    Ok((sql, args))
}

impl BatchStore for Store {
    type Error = StoreError;

    async fn load(&self, keys: &Keys) -> Result<Loaded, StoreError> {
        let mut loaded = Loaded {
            now_ms: now_ms(),
            ..Loaded::default()
        };
        let ids: Vec<String> = keys.event_ids.iter().map(Uuid::to_string).collect();
        let (sql, args) = load_query(keys, &ids)?;
        let rows: Vec<LoadRow> = sqlx::query_as_with(&sql, args)
            .fetch_all(self.pool())
            .await?;
        for (part, a, b, c, d) in rows {
            let text = |v: Option<String>, what: &str| {
                v.ok_or_else(|| StoreError::Corrupt(format!("batch load: {part} without {what}")))
            };
            let int = |v: Option<String>, what: &str| -> Result<i64, StoreError> {
                text(v, what)?
                    .parse()
                    .map_err(|e| StoreError::Corrupt(format!("batch load: {part} {what}: {e}")))
            };
            match part.as_str() {
                "state" => {
                    let record = TenantRecord {
                        desired: serde_json::from_str(&text(b, "desired")?)?,
                        provisioned: serde_json::from_str(&text(c, "provisioned")?)?,
                        ledger: serde_json::from_str(&text(d, "ledger")?)?,
                    };
                    loaded.records.insert(tenant_id(&a)?, record);
                }
                "waiting" => {
                    loaded.waiting.insert(tenant_id(&a)?);
                }
                "placement" => {
                    let region = Region::parse(&text(b, "region")?, "placements.region")
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    let pinned = int(c, "pinned")? != 0;
                    loaded.placements.insert(tenant_id(&a)?, (region, pinned));
                }
                "database" => {
                    let product = ProductKey::parse(&text(b, "product")?)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    loaded.databases.insert(
                        (tenant_id(&a)?, product),
                        PlacedDatabase {
                            shard: text(c, "shard")?,
                            database: text(d, "database")?,
                        },
                    );
                }
                "group" => {
                    loaded
                        .groups
                        .entry(tenant_id(&a)?)
                        .or_default()
                        .insert(text(b, "group")?);
                }
                "event" => {
                    let event_id = Uuid::parse_str(&a)
                        .map_err(|e| StoreError::Corrupt(format!("tenant_events.event_id: {e}")))?;
                    loaded.recorded.insert(
                        event_id,
                        RecordedEvent {
                            tenant_id: tenant_id(&text(b, "tenant")?)?,
                            sequence: int(c, "sequence")?,
                            kind: text(d, "kind")?,
                        },
                    );
                }
                "site" => {
                    loaded.sites.insert(a, tenant_id(&text(b, "tenant")?)?);
                }
                "released" => {
                    loaded.released_hosts.insert(
                        a,
                        ReleasedHost {
                            tenant_id: tenant_id(&text(b, "tenant")?)?,
                            reusable_after_ms: int(c, "reusable_after")?,
                        },
                    );
                }
                "shard" => loaded.shards.push(Shard {
                    shard_id: a,
                    region: text(b, "region")?,
                    capacity: int(c, "capacity")?,
                    used: int(d, "used")?,
                }),
                "shards" => {
                    let count = int(b, "count")?;
                    loaded
                        .shard_counts
                        .insert(a, usize::try_from(count).unwrap_or(0));
                }
                other => {
                    return Err(StoreError::Corrupt(format!(
                        "batch load: unknown part {other}"
                    )));
                }
            }
        }
        loaded.shards.sort_by(|x, y| x.shard_id.cmp(&y.shard_id));
        Ok(loaded)
    }

    async fn commit(&self, changes: &Changes) -> Result<Committed, StoreError> {
        let mut tx = self.pool().begin().await?;
        match write(&mut tx, self.backend(), changes).await? {
            Committed::Done => {
                tx.commit().await?;
                Ok(Committed::Done)
            }
            conflict => {
                tx.rollback().await?;
                Ok(conflict)
            }
        }
    }
}

fn tenant_id(value: &str) -> Result<TenantId, StoreError> {
    TenantId::parse(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Rows for one table: `head` (`INSERT INTO t (a, b)`), `tail`
/// (`ON CONFLICT …`), and, for rows the batch counts on being new, what
/// they are (for the conflict's reason).
struct TableWrite {
    head: &'static str,
    tail: &'static str,
    rows: Vec<Vec<Value>>,
    all_new: Option<&'static str>,
}

/// Most parameters in one PostgreSQL statement (the protocol's limit is
/// 65,535); a larger batch is written a table at a time.
const MAX_PARAMETERS: usize = 60_000;

/// Writes `changes` into `tx`; a conflict leaves `tx` for the caller to roll back.
///
/// PostgreSQL: the product databases' DDL first (one `DO` block), then the
/// outbox (the tenants' provisioning sequences, then the records), then
/// every other table in **one** statement of data-modifying `WITH` clauses,
/// then the shards' usage ([`add_shard_usage`]). SQLite (no data-modifying
/// `WITH`): one statement per table, shard usage last.
async fn write(tx: &mut Tx, backend: Backend, changes: &Changes) -> Result<Committed, StoreError> {
    let now = now_ms();
    let tables = table_writes(changes, now)?;
    let effects = &changes.effects;
    let mut pending = outbox::Pending::default();
    for (tenant, state) in &changes.states {
        pending.push_state(tenant, state.clone());
    }
    let parameters: usize = tables
        .iter()
        .map(|t| t.rows.iter().map(Vec::len).sum::<usize>())
        .sum::<usize>()
        + effects.reclaimed_hosts.len();
    if backend == Backend::Postgres && parameters <= MAX_PARAMETERS {
        create_databases(tx, backend, &effects.create_databases).await?;
        pending.write(tx).await?;
        if let conflict @ Committed::Conflict(_) =
            write_together(tx, tables, &effects.reclaimed_hosts).await?
        {
            return Ok(conflict);
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

/// The rows `changes` writes, per table, sorted by key (so two batches take
/// shared rows' locks in one order).
fn table_writes(changes: &Changes, now: i64) -> Result<Vec<TableWrite>, StoreError> {
    let mut tables = Vec::new();
    let mut push = |head, tail, rows: Vec<Vec<Value>>, all_new| {
        if !rows.is_empty() {
            tables.push(TableWrite {
                head,
                tail,
                rows,
                all_new,
            });
        }
    };
    let mut events: Vec<_> = changes.events.iter().collect();
    events.sort_by_key(|e| e.record.envelope.event_id);
    push(
        "INSERT INTO processed_events (event_id, tenant_id, processed_at)",
        "ON CONFLICT (event_id) DO NOTHING",
        events
            .iter()
            .map(|e| {
                let env = &e.record.envelope;
                vec![
                    env.event_id.to_string().into(),
                    (&env.tenant_id).into(),
                    now.into(),
                ]
            })
            .collect(),
        Some("commerce events"),
    );
    let mut rows = Vec::with_capacity(events.len());
    for e in &events {
        let env = &e.record.envelope;
        rows.push(vec![
            (&env.tenant_id).into(),
            env.sequence.into(),
            env.event_id.to_string().into(),
            e.record.event.kind().into(),
            serde_json::to_string(&e.record)?.into(),
            (&e.source.topic).into(),
            e.source.partition.into(),
            e.source.offset.into(),
            now.into(),
            e.state.as_str().into(),
        ]);
    }
    push(
        "INSERT INTO tenant_events (tenant_id, sequence, event_id, kind, record, source_topic, \
         source_partition, source_offset, recorded_at, state)",
        // Counted through `processed_events`; no error, so that statement
        // completes and reports the conflict.
        "ON CONFLICT DO NOTHING",
        rows,
        None,
    );
    push(
        "INSERT INTO rejections (event_id, tenant_id, reason, rejected_at)",
        "ON CONFLICT (event_id) DO NOTHING",
        changes
            .rejections
            .iter()
            .map(|(event_id, tenant, reason)| {
                vec![
                    event_id.to_string().into(),
                    tenant.into(),
                    reason.into(),
                    now.into(),
                ]
            })
            .collect(),
        None,
    );
    let mut sagas: Vec<_> = changes.sagas.iter().collect();
    sagas.sort_by_key(|s| s.saga_id);
    let mut rows = Vec::with_capacity(sagas.len());
    for saga in &sagas {
        rows.push(vec![
            saga.saga_id.to_string().into(),
            (&saga.tenant_id).into(),
            saga.kind.as_str().into(),
            saga.status.as_str().into(),
            saga.version.into(),
            serde_json::to_string(saga)?.into(),
            now.into(),
            now.into(),
        ]);
    }
    push(
        "INSERT INTO sagas (saga_id, tenant_id, kind, status, version, state, created_at, updated_at)",
        "ON CONFLICT (saga_id) DO NOTHING",
        rows,
        Some("sagas"),
    );
    let effects = &changes.effects;
    let mut sites = effects.sites.clone();
    sites.sort();
    push(
        "INSERT INTO sites (host, tenant_id, site)",
        "ON CONFLICT DO NOTHING",
        sites
            .iter()
            .map(|(host, tenant, site)| vec![host.into(), tenant.into(), site.into()])
            .collect(),
        Some("site hosts"),
    );
    push(
        "INSERT INTO tenant_accounts (tenant_id, owner_email, country, residency_pin)",
        "ON CONFLICT (tenant_id) DO NOTHING",
        effects
            .accounts
            .iter()
            .map(|(tenant, owner, country, pin)| {
                vec![
                    tenant.into(),
                    owner.into(),
                    country.into(),
                    pin.clone().into(),
                ]
            })
            .collect(),
        None,
    );
    push(
        "INSERT INTO licences (tenant_id, product, edition, seats)",
        "ON CONFLICT (tenant_id, product) DO UPDATE SET edition = excluded.edition, seats = excluded.seats",
        effects
            .licences
            .iter()
            .map(|(tenant, product, edition, seats)| {
                vec![
                    tenant.into(),
                    product.into(),
                    edition.into(),
                    (*seats).into(),
                ]
            })
            .collect(),
        None,
    );
    push(
        "INSERT INTO site_products (tenant_id, product, state)",
        "ON CONFLICT (tenant_id, product) DO UPDATE SET state = 'active'",
        effects
            .site_products
            .iter()
            .map(|(tenant, product)| vec![tenant.into(), product.into(), "active".into()])
            .collect(),
        None,
    );
    push(
        "INSERT INTO placements (tenant_id, region, pinned)",
        "ON CONFLICT (tenant_id) DO NOTHING",
        effects
            .placements
            .iter()
            .map(|(tenant, region, pinned)| {
                vec![tenant.into(), region.into(), i64::from(*pinned).into()]
            })
            .collect(),
        None,
    );
    push(
        "INSERT INTO site_metadata (tenant_id, scope, config)",
        "ON CONFLICT (tenant_id, scope) DO NOTHING",
        effects
            .metadata
            .iter()
            .map(|(tenant, scope, config)| vec![tenant.into(), scope.into(), config.into()])
            .collect(),
        None,
    );
    let triples = |rows: &[(TenantId, String, String)]| -> Vec<Vec<Value>> {
        let mut rows = rows.to_vec();
        rows.sort();
        rows.dedup();
        rows.iter()
            .map(|(t, a, b)| vec![t.into(), a.into(), b.into()])
            .collect()
    };
    push(
        "INSERT INTO identity_users (tenant_id, user_id, email)",
        "ON CONFLICT DO NOTHING",
        triples(&effects.users),
        None,
    );
    let mut groups = effects.groups.clone();
    groups.sort();
    groups.dedup();
    push(
        "INSERT INTO identity_groups (tenant_id, group_name)",
        "ON CONFLICT DO NOTHING",
        groups
            .iter()
            .map(|(t, g)| vec![t.into(), g.into()])
            .collect(),
        None,
    );
    push(
        "INSERT INTO identity_group_permissions (tenant_id, group_name, permission)",
        "ON CONFLICT DO NOTHING",
        triples(&effects.permissions),
        None,
    );
    push(
        "INSERT INTO identity_group_members (tenant_id, group_name, user_id)",
        "ON CONFLICT DO NOTHING",
        triples(&effects.members),
        None,
    );
    push(
        "INSERT INTO product_databases (tenant_id, product, shard_id, database_name, credentials)",
        "ON CONFLICT DO NOTHING",
        effects
            .databases
            .iter()
            .map(|(tenant, product, shard, database, credentials)| {
                vec![
                    tenant.into(),
                    product.into(),
                    shard.into(),
                    database.into(),
                    credentials.into(),
                ]
            })
            .collect(),
        Some("product databases"),
    );
    push(
        "INSERT INTO installed_apps (tenant_id, product, app)",
        "ON CONFLICT DO NOTHING",
        effects
            .installed_apps
            .iter()
            .map(|(tenant, product, app)| vec![tenant.into(), product.into(), app.into()])
            .collect(),
        None,
    );
    let mut rows = Vec::with_capacity(changes.records.len());
    for (tenant, record) in &changes.records {
        rows.push(vec![
            tenant.into(),
            serde_json::to_string(&record.desired)?.into(),
            serde_json::to_string(&record.provisioned)?.into(),
            serde_json::to_string(&record.ledger)?.into(),
            now.into(),
        ]);
    }
    push(
        "INSERT INTO tenant_states (tenant_id, desired, provisioned, ledger, updated_at)",
        "ON CONFLICT (tenant_id) DO UPDATE SET desired = excluded.desired, \
         provisioned = excluded.provisioned, ledger = excluded.ledger, updated_at = excluded.updated_at",
        rows,
        None,
    );
    push(
        "INSERT INTO tenant_cursors (tenant_id, last_sequence)",
        "ON CONFLICT (tenant_id) DO UPDATE SET last_sequence = excluded.last_sequence",
        changes
            .records
            .iter()
            .map(|(tenant, record)| vec![tenant.into(), record.ledger.commerce_sequence.into()])
            .collect(),
        None,
    );
    Ok(tables)
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

impl Store {
    /// Adds shard `<region>-shard-<number>` with `capacity`, committed on
    /// its own, and returns it as stored. Idempotent: a shard of that id
    /// added before (by another worker, or by an earlier attempt of the same
    /// batch) is returned as it is, with the databases placed on it since.
    ///
    /// # Errors
    /// The store's.
    pub async fn add_shard(
        &self,
        region: &str,
        number: usize,
        capacity: i64,
    ) -> Result<Shard, StoreError> {
        let shard_id = format!("{region}-shard-{number}");
        sqlx::query(
            "INSERT INTO shards (shard_id, region, capacity, used) VALUES ($1, $2, $3, 0) \
             ON CONFLICT (shard_id) DO NOTHING",
        )
        .bind(&shard_id)
        .bind(region)
        .bind(capacity)
        .execute(self.pool())
        .await?;
        let (region, capacity, used): (String, i64, i64) = sqlx::query_as(
            "SELECT region, CAST(capacity AS BIGINT), CAST(used AS BIGINT) FROM shards WHERE shard_id = $1",
        )
        .bind(&shard_id)
        .fetch_one(self.pool())
        .await?;
        Ok(Shard {
            shard_id,
            region,
            capacity,
            used,
        })
    }
}
