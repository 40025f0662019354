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
    (0..rows)
        .map(|r| {
            let cells: Vec<String> = (1..=width).map(|c| format!("${}", r * width + c)).collect();
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

impl BatchStore for Store {
    type Error = StoreError;

    async fn load(&self, keys: &Keys) -> Result<Loaded, StoreError> {
        let mut loaded = Loaded {
            now_ms: now_ms(),
            ..Loaded::default()
        };
        let pool = self.pool();
        let tenants: Vec<&str> = keys.tenants.iter().map(TenantId::as_str).collect();
        if !tenants.is_empty() {
            let (args, n) = keys_args(tenants.iter().copied())?;
            let sql = format!(
                "SELECT tenant_id, desired, provisioned, ledger FROM tenant_states WHERE tenant_id IN ({})",
                list(n)
            );
            let rows: Vec<(String, String, String, String)> =
                sqlx::query_as_with(&sql, args).fetch_all(pool).await?;
            for (tenant, desired, provisioned, ledger) in rows {
                let record = TenantRecord {
                    desired: serde_json::from_str(&desired)?,
                    provisioned: serde_json::from_str(&provisioned)?,
                    ledger: serde_json::from_str(&ledger)?,
                };
                loaded.records.insert(tenant_id(&tenant)?, record);
            }

            let (args, n) = keys_args(tenants.iter().copied())?;
            let sql = format!(
                "SELECT DISTINCT tenant_id FROM tenant_events WHERE state = 'waiting' AND tenant_id IN ({})",
                list(n)
            );
            let rows: Vec<(String,)> = sqlx::query_as_with(&sql, args).fetch_all(pool).await?;
            for (tenant,) in rows {
                loaded.waiting.insert(tenant_id(&tenant)?);
            }

            let (args, n) = keys_args(tenants.iter().copied())?;
            let sql = format!(
                "SELECT tenant_id, region, pinned FROM placements WHERE tenant_id IN ({})",
                list(n)
            );
            let rows: Vec<(String, String, i64)> =
                sqlx::query_as_with(&sql, args).fetch_all(pool).await?;
            for (tenant, region, pinned) in rows {
                let region = Region::parse(&region, "placements.region")
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                loaded
                    .placements
                    .insert(tenant_id(&tenant)?, (region, pinned != 0));
            }

            let (args, n) = keys_args(tenants.iter().copied())?;
            let sql = format!(
                "SELECT tenant_id, product, shard_id, database_name FROM product_databases WHERE tenant_id IN ({})",
                list(n)
            );
            let rows: Vec<(String, String, String, String)> =
                sqlx::query_as_with(&sql, args).fetch_all(pool).await?;
            for (tenant, product, shard, database) in rows {
                let product =
                    ProductKey::parse(&product).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                loaded.databases.insert(
                    (tenant_id(&tenant)?, product),
                    PlacedDatabase { shard, database },
                );
            }
            let (args, n) = keys_args(tenants.iter().copied())?;
            let sql = format!(
                "SELECT tenant_id, group_name FROM identity_groups WHERE tenant_id IN ({})",
                list(n)
            );
            let rows: Vec<(String, String)> =
                sqlx::query_as_with(&sql, args).fetch_all(pool).await?;
            for (tenant, group) in rows {
                loaded
                    .groups
                    .entry(tenant_id(&tenant)?)
                    .or_default()
                    .insert(group);
            }
        }
        if !keys.event_ids.is_empty() {
            let ids: Vec<String> = keys.event_ids.iter().map(Uuid::to_string).collect();
            let (args, n) = keys_args(ids.iter().map(String::as_str))?;
            let sql = format!(
                "SELECT event_id, tenant_id, sequence, kind FROM tenant_events WHERE event_id IN ({})",
                list(n)
            );
            let rows: Vec<(String, String, i64, String)> =
                sqlx::query_as_with(&sql, args).fetch_all(pool).await?;
            for (event_id, tenant, sequence, kind) in rows {
                let event_id = Uuid::parse_str(&event_id)
                    .map_err(|e| StoreError::Corrupt(format!("tenant_events.event_id: {e}")))?;
                loaded.recorded.insert(
                    event_id,
                    RecordedEvent {
                        tenant_id: tenant_id(&tenant)?,
                        sequence,
                        kind,
                    },
                );
            }
        }
        if !keys.hosts.is_empty() || !tenants.is_empty() {
            let hosts: Vec<&str> = keys.hosts.iter().map(String::as_str).collect();
            let (args, n) = keys_args(hosts.iter().chain(&tenants).copied())?;
            let host_list = if hosts.is_empty() {
                "NULL".to_owned()
            } else {
                (1..=hosts.len())
                    .map(|i| format!("${i}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let tenant_list = if tenants.is_empty() {
                "NULL".to_owned()
            } else {
                (hosts.len() + 1..=n)
                    .map(|i| format!("${i}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let sql = format!(
                "SELECT host, tenant_id FROM sites WHERE host IN ({host_list}) OR tenant_id IN ({tenant_list})"
            );
            let rows: Vec<(String, String)> =
                sqlx::query_as_with(&sql, args).fetch_all(pool).await?;
            for (host, tenant) in rows {
                loaded.sites.insert(host, tenant_id(&tenant)?);
            }
        }
        if !keys.hosts.is_empty() {
            let (args, n) = keys_args(keys.hosts.iter().map(String::as_str))?;
            let sql = format!(
                "SELECT host, tenant_id, reusable_after FROM released_hosts WHERE host IN ({})",
                list(n)
            );
            let rows: Vec<(String, String, i64)> =
                sqlx::query_as_with(&sql, args).fetch_all(pool).await?;
            for (host, tenant, reusable_after_ms) in rows {
                loaded.released_hosts.insert(
                    host,
                    ReleasedHost {
                        tenant_id: tenant_id(&tenant)?,
                        reusable_after_ms,
                    },
                );
            }
        }
        let shards: Vec<(String, String, i64, i64)> = sqlx::query_as(
            "SELECT shard_id, region, CAST(capacity AS BIGINT), CAST(used AS BIGINT) FROM shards ORDER BY shard_id",
        )
        .fetch_all(pool)
        .await?;
        loaded.shards = shards
            .into_iter()
            .map(|(shard_id, region, capacity, used)| Shard {
                shard_id,
                region,
                capacity,
                used,
            })
            .collect();
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

/// Writes `changes` into `tx`; a conflict leaves `tx` for the caller to roll back.
async fn write(tx: &mut Tx, backend: Backend, changes: &Changes) -> Result<Committed, StoreError> {
    let now = now_ms();
    let mut events: Vec<_> = changes.events.iter().collect();
    events.sort_by_key(|e| e.record.envelope.event_id);
    let rows = events
        .iter()
        .map(|e| {
            let env = &e.record.envelope;
            vec![
                env.event_id.to_string().into(),
                (&env.tenant_id).into(),
                now.into(),
            ]
        })
        .collect::<Vec<_>>();
    let sent = rows.len() as u64;
    let written = insert(
        tx,
        "INSERT INTO processed_events (event_id, tenant_id, processed_at)",
        "ON CONFLICT (event_id) DO NOTHING",
        rows,
    )
    .await?;
    if written != sent {
        return Ok(Committed::Conflict(format!(
            "{} of {sent} commerce events were recorded meanwhile",
            sent - written
        )));
    }
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
    insert(
        tx,
        "INSERT INTO tenant_events (tenant_id, sequence, event_id, kind, record, source_topic, \
         source_partition, source_offset, recorded_at, state)",
        "",
        rows,
    )
    .await?;
    let rows = changes
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
        .collect();
    insert(
        tx,
        "INSERT INTO rejections (event_id, tenant_id, reason, rejected_at)",
        "ON CONFLICT (event_id) DO NOTHING",
        rows,
    )
    .await?;

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
    let sent = rows.len() as u64;
    let written = insert(
        tx,
        "INSERT INTO sagas (saga_id, tenant_id, kind, status, version, state, created_at, updated_at)",
        "ON CONFLICT (saga_id) DO NOTHING",
        rows,
    )
    .await?;
    if written != sent {
        return Ok(Committed::Conflict(format!(
            "{} of {sent} sagas were planned meanwhile",
            sent - written
        )));
    }

    if let Some(conflict) = write_effects(tx, backend, changes).await? {
        return Ok(conflict);
    }

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
    insert(
        tx,
        "INSERT INTO tenant_states (tenant_id, desired, provisioned, ledger, updated_at)",
        "ON CONFLICT (tenant_id) DO UPDATE SET desired = excluded.desired, \
         provisioned = excluded.provisioned, ledger = excluded.ledger, updated_at = excluded.updated_at",
        rows,
    )
    .await?;
    let rows = changes
        .records
        .iter()
        .map(|(tenant, record)| vec![tenant.into(), record.ledger.commerce_sequence.into()])
        .collect();
    insert(
        tx,
        "INSERT INTO tenant_cursors (tenant_id, last_sequence)",
        "ON CONFLICT (tenant_id) DO UPDATE SET last_sequence = excluded.last_sequence",
        rows,
    )
    .await?;
    let mut pending = outbox::Pending::default();
    for (tenant, state) in &changes.states {
        pending.push_state(tenant, state.clone());
    }
    pending.write(tx).await?;
    // Last: every batch updates the shards of its regions, so their row
    // locks are taken just before the commit and held only through it.
    add_shard_usage(tx, &changes.effects.shard_usage).await?;
    Ok(Committed::Done)
}

/// Writes the step effects; `Some` when a site host was taken meanwhile.
async fn write_effects(
    tx: &mut Tx,
    backend: Backend,
    changes: &Changes,
) -> Result<Option<Committed>, StoreError> {
    let effects = &changes.effects;
    let mut sites = effects.sites.clone();
    sites.sort();
    let sent = sites.len() as u64;
    let rows = sites
        .iter()
        .map(|(host, tenant, site)| vec![host.into(), tenant.into(), site.into()])
        .collect();
    let written = insert(
        tx,
        "INSERT INTO sites (host, tenant_id, site)",
        "ON CONFLICT DO NOTHING",
        rows,
    )
    .await?;
    if written != sent {
        return Ok(Some(Committed::Conflict(format!(
            "{} of {sent} site hosts were taken meanwhile",
            sent - written
        ))));
    }
    if !effects.reclaimed_hosts.is_empty() {
        let (args, n) = keys_args(effects.reclaimed_hosts.iter().map(String::as_str))?;
        let sql = format!("DELETE FROM released_hosts WHERE host IN ({})", list(n));
        sqlx::query_with(&sql, args).execute(&mut **tx).await?;
    }
    let rows = effects
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
        .collect();
    insert(
        tx,
        "INSERT INTO tenant_accounts (tenant_id, owner_email, country, residency_pin)",
        "ON CONFLICT (tenant_id) DO NOTHING",
        rows,
    )
    .await?;
    let rows = effects
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
        .collect();
    insert(
        tx,
        "INSERT INTO licences (tenant_id, product, edition, seats)",
        "ON CONFLICT (tenant_id, product) DO UPDATE SET edition = excluded.edition, seats = excluded.seats",
        rows,
    )
    .await?;
    let rows = effects
        .site_products
        .iter()
        .map(|(tenant, product)| vec![tenant.into(), product.into(), "active".into()])
        .collect();
    insert(
        tx,
        "INSERT INTO site_products (tenant_id, product, state)",
        "ON CONFLICT (tenant_id, product) DO UPDATE SET state = 'active'",
        rows,
    )
    .await?;
    let rows = effects
        .placements
        .iter()
        .map(|(tenant, region, pinned)| {
            vec![tenant.into(), region.into(), i64::from(*pinned).into()]
        })
        .collect();
    insert(
        tx,
        "INSERT INTO placements (tenant_id, region, pinned)",
        "ON CONFLICT (tenant_id) DO NOTHING",
        rows,
    )
    .await?;
    let rows = effects
        .metadata
        .iter()
        .map(|(tenant, scope, config)| vec![tenant.into(), scope.into(), config.into()])
        .collect();
    insert(
        tx,
        "INSERT INTO site_metadata (tenant_id, scope, config)",
        "ON CONFLICT (tenant_id, scope) DO NOTHING",
        rows,
    )
    .await?;
    let triples = |rows: &[(TenantId, String, String)]| -> Vec<Vec<Value>> {
        let mut rows = rows.to_vec();
        rows.sort();
        rows.dedup();
        rows.iter()
            .map(|(t, a, b)| vec![t.into(), a.into(), b.into()])
            .collect()
    };
    insert(
        tx,
        "INSERT INTO identity_users (tenant_id, user_id, email)",
        "ON CONFLICT DO NOTHING",
        triples(&effects.users),
    )
    .await?;
    let mut groups = effects.groups.clone();
    groups.sort();
    groups.dedup();
    let rows = groups
        .iter()
        .map(|(t, g)| vec![t.into(), g.into()])
        .collect();
    insert(
        tx,
        "INSERT INTO identity_groups (tenant_id, group_name)",
        "ON CONFLICT DO NOTHING",
        rows,
    )
    .await?;
    insert(
        tx,
        "INSERT INTO identity_group_permissions (tenant_id, group_name, permission)",
        "ON CONFLICT DO NOTHING",
        triples(&effects.permissions),
    )
    .await?;
    insert(
        tx,
        "INSERT INTO identity_group_members (tenant_id, group_name, user_id)",
        "ON CONFLICT DO NOTHING",
        triples(&effects.members),
    )
    .await?;
    let rows = effects
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
        .collect();
    insert(
        tx,
        "INSERT INTO product_databases (tenant_id, product, shard_id, database_name, credentials)",
        "",
        rows,
    )
    .await?;
    let rows = effects
        .installed_apps
        .iter()
        .map(|(tenant, product, app)| vec![tenant.into(), product.into(), app.into()])
        .collect();
    insert(
        tx,
        "INSERT INTO installed_apps (tenant_id, product, app)",
        "ON CONFLICT DO NOTHING",
        rows,
    )
    .await?;
    create_databases(tx, backend, &effects.create_databases).await?;
    Ok(None)
}

/// Adds each shard's new databases to its `used` count, in one statement
/// (`used + CASE shard_id WHEN … END`), shards in id order.
async fn add_shard_usage(tx: &mut Tx, usage: &BTreeMap<String, i64>) -> Result<(), StoreError> {
    if usage.is_empty() {
        return Ok(());
    }
    let mut args = AnyArguments::default();
    let mut cases = Vec::with_capacity(usage.len());
    for (i, (shard, count)) in usage.iter().enumerate() {
        cases.push(format!("WHEN ${} THEN ${}", 2 * i + 1, 2 * i + 2));
        bind(&mut args, Value::Text(shard.clone()))?;
        bind(&mut args, Value::Int(*count))?;
    }
    let ids: Vec<String> = (0..usage.len())
        .map(|i| format!("${}", 2 * i + 1))
        .collect();
    let sql = format!(
        "UPDATE shards SET used = used + CASE shard_id {} END WHERE shard_id IN ({})",
        cases.join(" "),
        ids.join(", ")
    );
    sqlx::query_with(&sql, args).execute(&mut **tx).await?;
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
