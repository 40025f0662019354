//! The store behind a batch's unit of work ([`tenantry_sagas::work`]): one
//! query reads everything a batch needs ([`load`]), and one transaction
//! writes it ([`write`]): on PostgreSQL every table in one statement of
//! data-modifying `WITH` clauses, on SQLite one multi-row statement per
//! table (at most [`ROWS_PER_STATEMENT`] rows each); the batch's product
//! databases in one round trip.
//!
//! Inserts a batch counts on being new — event ids, saga ids, site hosts,
//! product databases — use `ON CONFLICT DO NOTHING` and compare the rows
//! written with the rows sent: a difference means another writer got there
//! since the load, and the whole transaction is rolled back
//! ([`Committed::Conflict`]). The rows other writers also insert (events,
//! sagas, site hosts, identity rows) are sent sorted by key, shards are
//! updated one by one in id order, and a tenant's record is written before
//! its outbox sequence — the orders every writer takes locks in.
//!
//! Statements go through sqlx's `Any` driver, which both backends accept;
//! the driver has no array types, so PostgreSQL's `UNNEST` is not available
//! here and rows travel as multi-row `VALUES`.

mod load;
mod rows;
mod write;

use crate::store::{Store, StoreError};
use sqlx::any::AnyArguments;
use sqlx::{Any, Arguments, Transaction};
use tenantry_sagas::BatchStore;
use tenantry_sagas::work::{Changes, Committed, Keys, Loaded, Shard};
use tenantry_schemas::{ProductKey, TenantId};

/// Most rows in one statement (SQLite allows 32,766 parameters per
/// statement, PostgreSQL 65,535; the widest row here has 10 columns).
pub const ROWS_PER_STATEMENT: usize = 1000;

type Tx = Transaction<'static, Any>;

/// One bound value.
#[derive(Debug, Clone)]
pub(super) enum Value {
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

pub(super) fn bind(args: &mut AnyArguments<'static>, value: Value) -> Result<(), StoreError> {
    let added = match value {
        Value::Text(v) => args.add(v),
        Value::OptText(v) => args.add(v),
        Value::Int(v) => args.add(v),
    };
    added.map_err(|e| StoreError::Corrupt(format!("binding a value: {e}")))
}

/// `($1, $2), ($3, $4)` for `rows` rows of `width` columns.
pub(super) fn placeholders(rows: usize, width: usize) -> String {
    placeholders_from(0, rows, width)
}

/// [`placeholders`] numbered after the first `offset` parameters.
pub(super) fn placeholders_from(offset: usize, rows: usize, width: usize) -> String {
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
pub(super) fn list(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Inserts `rows` into `head` (`INSERT INTO t (a, b)`) followed by `tail`
/// (`ON CONFLICT …`), one statement per [`ROWS_PER_STATEMENT`] rows.
/// Returns the rows written.
pub(super) async fn insert(
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
pub(super) fn keys_args<'a>(
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
        load::load(self, keys).await
    }

    async fn commit(&self, changes: &Changes) -> Result<Committed, StoreError> {
        use tracing::Instrument as _;
        let span = crate::spans::batch_commit(self.backend(), changes.events.len());
        async {
            let mut tx = self.pool().begin().await?;
            match write::write(&mut tx, self.backend(), changes).await? {
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
        .instrument(span)
        .await
    }
}

pub(super) fn tenant_id(value: &str) -> Result<TenantId, StoreError> {
    TenantId::parse(value).map_err(|e| StoreError::Corrupt(e.to_string()))
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
