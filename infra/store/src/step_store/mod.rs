//! [`tenantry_sagas::step_store::StepStore`] on PostgreSQL and SQLite: the rows a saga step writes, one
//! table operation at a time, in the transaction of a [`StoreWork`], which
//! its caller commits.
//!
//! One set of SQL strings serves both backends through sqlx's `Any`
//! driver: parameters are `$1..$n`, flags (`pinned`, `over_licence`) are
//! 0/1 integers because the driver cannot decode SQLite booleans, and
//! inserts are idempotent by `ON CONFLICT` on the row's natural key. Only
//! `create_database` is PostgreSQL's alone: a product database
//! is a schema created in the transaction there, a file created outside it
//! on SQLite.

mod databases;
mod identity;
mod tenants;

use crate::store::{StoreError, now_ms};
use crate::unit_of_work::StoreWork;
use async_trait::async_trait;
use sqlx::{Any, Transaction};
use std::fmt::Display;
use tenantry_sagas::step_store::EffectRecords;
use tenantry_sagas::{StepError, StepOutput};
use tenantry_schemas::ProductKey;

type Tx = Transaction<'static, Any>;

/// A lost connection or a conflict may pass on a retry; a corrupt row or a
/// missing database will not.
impl From<StoreError> for StepError {
    fn from(e: StoreError) -> Self {
        match e {
            // The server does not answer: an outage, not a failure of the step.
            StoreError::Unreachable { .. }
            | StoreError::Database(
                sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed,
            ) => StepError::unavailable(e.to_string()),
            StoreError::Database(_) | StoreError::Conflict(_) => {
                StepError::retryable(e.to_string())
            }
            other => StepError::permanent(other.to_string()),
        }
    }
}

/// Runs `sql` with text parameters `$1..$n` in `tx`.
async fn exec(tx: &mut Tx, sql: &str, params: &[&str]) -> Result<(), StepError> {
    let mut query = sqlx::query(sql);
    for value in params {
        query = query.bind(*value);
    }
    query.execute(&mut **tx).await.map_err(StoreError::from)?;
    Ok(())
}

/// Inserts a row `(key.0, key.1, value)` into `table (columns)` per value,
/// in one statement (`($1, $2, $3), ($1, $2, $4)`), keeping existing rows;
/// nothing when there are no values.
async fn insert_each(
    tx: &mut Tx,
    table: &str,
    key: (&str, &str),
    values: &[&str],
) -> Result<(), StepError> {
    if values.is_empty() {
        return Ok(());
    }
    let rows: Vec<String> = (0..values.len())
        .map(|i| format!("($1, $2, ${})", i + 3))
        .collect();
    let sql = format!(
        "INSERT INTO {table} VALUES {} ON CONFLICT DO NOTHING",
        rows.join(", ")
    );
    let mut insert = sqlx::query(&sql).bind(key.0).bind(key.1);
    for value in values {
        insert = insert.bind(*value);
    }
    insert.execute(&mut **tx).await.map_err(StoreError::from)?;
    Ok(())
}

/// A stored value that does not parse fails permanently.
fn parsed<T>(value: Result<T, impl Display>, what: &str) -> Result<T, StepError> {
    value.map_err(|e| StepError::permanent(format!("stored {what}: {e}")))
}

fn product_of(raw: &str) -> Result<ProductKey, StepError> {
    parsed(ProductKey::parse(raw), "product")
}

#[async_trait]
impl EffectRecords for StoreWork {
    async fn recorded_effect(&mut self, key: &str) -> Result<Option<StepOutput>, StepError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT result FROM step_effects WHERE idempotency_key = $1")
                .bind(key)
                .fetch_optional(&mut **self.transaction())
                .await
                .map_err(StoreError::from)?;
        match row {
            Some((result,)) => Ok(Some(
                serde_json::from_str(&result).map_err(StoreError::from)?,
            )),
            None => Ok(None),
        }
    }

    async fn record_effect(&mut self, key: &str, output: &StepOutput) -> Result<(), StepError> {
        let result = serde_json::to_string(output).map_err(StoreError::from)?;
        sqlx::query(
            "INSERT INTO step_effects (idempotency_key, result, recorded_at) VALUES ($1, $2, $3)",
        )
        .bind(key)
        .bind(result)
        .bind(now_ms())
        .execute(&mut **self.transaction())
        .await
        .map_err(StoreError::from)?;
        Ok(())
    }

    async fn forget_effect(&mut self, key: &str) -> Result<(), StepError> {
        exec(
            self.transaction(),
            "DELETE FROM step_effects WHERE idempotency_key = $1",
            &[key],
        )
        .await
    }
}
