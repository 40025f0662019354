//! Product databases (step 6): where a tenant's product data lives.
//!
//! Local stack: a PostgreSQL schema per tenant and product on the local server
//! (standing in for a database on an RDS shard). Embedded mode: a SQLite file
//! per tenant and product in the data directory. Both are idempotent: creating
//! an existing database or dropping a missing one succeeds.
//!
//! Tenantry provisions the database empty; the product creates its own tables
//! in it (its migrations are the product's, not the provisioner's). A schema
//! is a catalog row only, while every table costs PostgreSQL files (heap,
//! index, TOAST table and index): measured on the local stack, a schema
//! with one two-column table took 3.6 ms against 1.0 ms for the schema alone,
//! most of it the kernel allocating inodes. A SQLite database holds a
//! `tenantry_meta` table, which is what makes the file exist. Moves copy
//! whatever tables the product created.

use crate::store::StoreError;
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use std::path::PathBuf;
use uuid::Uuid;

/// PostgreSQL's identifier limit (NAMEDATALEN − 1), the bound for names.
pub const MAX_NAME_LEN: usize = 63;

/// Where product databases are created.
#[derive(Debug, Clone)]
pub enum ProductDatabases {
    /// A schema per database on this PostgreSQL pool.
    PostgresSchemas(AnyPool),
    /// A SQLite file per database in this directory.
    SqliteFiles(PathBuf),
}

/// Database name for a tenant and product: `t_<tenant>__<product>` with `-`
/// as `_`; names over [`MAX_NAME_LEN`] are cut and suffixed with a hash of the
/// full name so they stay unique and deterministic.
pub fn database_name(tenant_id: &str, product: &str) -> String {
    let full = format!("t_{tenant_id}__{product}").replace('-', "_");
    if full.len() <= MAX_NAME_LEN {
        return full;
    }
    let hash = Uuid::new_v5(&Uuid::NAMESPACE_OID, full.as_bytes())
        .simple()
        .to_string();
    format!("{}_{}", &full[..MAX_NAME_LEN - 13], &hash[..12])
}

/// Database name of a product moved to `region`: [`database_name`] with
/// `__<region>` appended (cut and hashed the same way when too long), so the
/// target never collides with the source on a shared server.
pub fn moved_database_name(tenant_id: &str, product: &str, region: &str) -> String {
    database_name(tenant_id, &format!("{product}__{region}"))
}

/// Stores sealed credentials (hex) with product database `database`,
/// once: the first sealing wins. On a pool or in a transaction.
pub(crate) async fn store_credentials<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    sealed: &str,
    database: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE product_databases SET credentials = $1 WHERE database_name = $2 AND credentials IS NULL",
    )
    .bind(sealed)
    .bind(database)
    .execute(executor)
    .await?;
    Ok(())
}

/// Creates product database `name` as a schema inside the store's
/// PostgreSQL transaction `tx` (idempotent), so it exists exactly when the
/// transaction commits.
pub(crate) async fn create_schema_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    name: &str,
) -> Result<(), StoreError> {
    let q = quoted(name)?;
    sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {q}"))
        .persistent(false)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The tables of PostgreSQL schema `schema`, by name.
async fn schema_tables(pool: &AnyPool, schema: &str) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name",
    )
    .bind(schema)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(t,)| t).collect())
}

/// Writes a copy of the SQLite file `source` to `target` (`VACUUM INTO`, which
/// needs `target` not to exist); returns the number of tables copied.
async fn vacuum_into(
    source: &std::path::Path,
    target: &std::path::Path,
) -> Result<usize, StoreError> {
    let url = format!("sqlite://{}", source.display());
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await?;
    let (tables,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'")
            .fetch_one(&pool)
            .await?;
    let target = target.display().to_string();
    sqlx::query(&format!("VACUUM INTO '{}'", target.replace('\'', "''")))
        .execute(&pool)
        .await?;
    pool.close().await;
    Ok(usize::try_from(tables).unwrap_or(0))
}

pub(crate) fn quoted(name: &str) -> Result<String, StoreError> {
    if name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        Ok(format!("\"{name}\""))
    } else {
        Err(StoreError::Corrupt(format!(
            "unsafe database name {name:?}"
        )))
    }
}

impl ProductDatabases {
    /// Creates database `name` (idempotent).
    pub async fn create(&self, name: &str) -> Result<(), StoreError> {
        match self {
            ProductDatabases::PostgresSchemas(pool) => {
                let q = quoted(name)?;
                sqlx::raw_sql(&format!("CREATE SCHEMA IF NOT EXISTS {q}"))
                    .execute(pool)
                    .await?;
            }
            ProductDatabases::SqliteFiles(dir) => {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    self.sqlite_path(dir, name).display()
                );
                let pool = AnyPoolOptions::new()
                    .max_connections(1)
                    .connect(&url)
                    .await?;
                sqlx::query(
                    "CREATE TABLE IF NOT EXISTS tenantry_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
                )
                .execute(&pool)
                .await?;
                pool.close().await;
            }
        }
        Ok(())
    }

    /// Whether [`ProductDatabases::create_in`] works: databases are schemas
    /// on the store's own PostgreSQL database, whose DDL is transactional.
    pub fn transactional(&self) -> bool {
        matches!(self, ProductDatabases::PostgresSchemas(_))
    }

    /// Creates database `name` inside the store transaction `tx` (idempotent),
    /// so it exists exactly when the transaction commits.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] for an unsafe name or when the databases are
    /// not [`ProductDatabases::transactional`]; [`StoreError::Database`].
    pub async fn create_in(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        name: &str,
    ) -> Result<(), StoreError> {
        if !self.transactional() {
            return Err(StoreError::Corrupt(format!(
                "product database {name}: SQLite files cannot be created in a store transaction"
            )));
        }
        create_schema_in(tx, name).await
    }

    /// Drops database `name` (idempotent).
    pub async fn drop_database(&self, name: &str) -> Result<(), StoreError> {
        match self {
            ProductDatabases::PostgresSchemas(pool) => {
                sqlx::raw_sql(&format!("DROP SCHEMA IF EXISTS {} CASCADE", quoted(name)?))
                    .execute(pool)
                    .await?;
            }
            ProductDatabases::SqliteFiles(dir) => {
                match tokio::fs::remove_file(self.sqlite_path(dir, name)).await {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(StoreError::Database(sqlx::Error::Io(e))),
                }
            }
        }
        Ok(())
    }

    /// Copies database `source` to a new database `snapshot` (the seed's
    /// backups): on PostgreSQL a schema with a copy of every table, in SQLite
    /// `VACUUM INTO` a new file. Idempotent: an existing snapshot is kept.
    ///
    /// # Errors
    /// [`StoreError::Unsupported`] when a table of `source` uses the
    /// schema's own types, sequences or identity columns, which a copy of
    /// its tables cannot carry ([`uncopyable_columns`]).
    pub async fn snapshot(&self, source: &str, snapshot: &str) -> Result<(), StoreError> {
        if self.exists(snapshot).await? || !self.exists(source).await? {
            return Ok(());
        }
        match self {
            ProductDatabases::PostgresSchemas(pool) => {
                refuse_uncopyable(pool, source, "snapshot").await?;
                let tables = schema_tables(pool, source).await?;
                let (src, dst) = (quoted(source)?, quoted(snapshot)?);
                let mut sql = format!("CREATE SCHEMA {dst};");
                for table in tables {
                    let table = quoted(&table)?;
                    sql.push_str(&format!(
                        "CREATE TABLE {dst}.{table} AS TABLE {src}.{table};"
                    ));
                }
                // One simple-query message: PostgreSQL runs it as one implicit
                // transaction, so a half-made snapshot never stays behind.
                sqlx::raw_sql(&sql).execute(pool).await?;
            }
            ProductDatabases::SqliteFiles(dir) => {
                vacuum_into(
                    &self.sqlite_path(dir, source),
                    &self.sqlite_path(dir, snapshot),
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Replaces the content of database `target` with a copy of every table
    /// of `source` (a move to another region): on PostgreSQL each table is
    /// recreated with `LIKE … INCLUDING ALL` and filled by `INSERT … SELECT`
    /// in one implicit transaction; in SQLite the file is rewritten by
    /// `VACUUM INTO`. Idempotent: a second copy gives the same target.
    /// Returns the number of tables copied.
    ///
    /// # Errors
    /// [`StoreError::Missing`] when `source` does not exist (permanent);
    /// [`StoreError::Unsupported`] when its tables use the schema's own
    /// types, sequences or identity columns ([`uncopyable_columns`]);
    /// [`StoreError::Database`] when the database fails (retryable).
    pub async fn copy_into(&self, source: &str, target: &str) -> Result<usize, StoreError> {
        if !self.exists(source).await? {
            return Err(StoreError::Missing(format!(
                "product database {source} does not exist; nothing to copy to {target}"
            )));
        }
        match self {
            ProductDatabases::PostgresSchemas(pool) => {
                refuse_uncopyable(pool, source, "move").await?;
                let tables = schema_tables(pool, source).await?;
                let (src, dst) = (quoted(source)?, quoted(target)?);
                let mut sql = format!("CREATE SCHEMA IF NOT EXISTS {dst};");
                for table in &tables {
                    let table = quoted(table)?;
                    sql.push_str(&format!(
                        "DROP TABLE IF EXISTS {dst}.{table}; \
                         CREATE TABLE {dst}.{table} (LIKE {src}.{table} INCLUDING ALL); \
                         INSERT INTO {dst}.{table} SELECT * FROM {src}.{table};"
                    ));
                }
                sqlx::raw_sql(&sql).execute(pool).await?;
                Ok(tables.len())
            }
            ProductDatabases::SqliteFiles(dir) => {
                let target_path = self.sqlite_path(dir, target);
                match tokio::fs::remove_file(&target_path).await {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(StoreError::Database(sqlx::Error::Io(e))),
                }
                Ok(vacuum_into(&self.sqlite_path(dir, source), &target_path).await?)
            }
        }
    }

    /// Keeps database `name` under `archived_<name>` instead of dropping it.
    /// Idempotent.
    pub async fn archive(&self, name: &str) -> Result<(), StoreError> {
        let archived: String = format!("archived_{name}")
            .chars()
            .take(MAX_NAME_LEN)
            .collect();
        if !self.exists(name).await? {
            return Ok(());
        }
        match self {
            ProductDatabases::PostgresSchemas(pool) => {
                sqlx::raw_sql(&format!(
                    "ALTER SCHEMA {} RENAME TO {}",
                    quoted(name)?,
                    quoted(&archived)?
                ))
                .execute(pool)
                .await?;
            }
            ProductDatabases::SqliteFiles(dir) => {
                tokio::fs::rename(
                    self.sqlite_path(dir, name),
                    self.sqlite_path(dir, &archived),
                )
                .await
                .map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
            }
        }
        Ok(())
    }

    /// Whether database `name` exists.
    pub async fn exists(&self, name: &str) -> Result<bool, StoreError> {
        match self {
            ProductDatabases::PostgresSchemas(pool) => {
                let (n,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = $1",
                )
                .bind(name)
                .fetch_one(pool)
                .await?;
                Ok(n == 1)
            }
            ProductDatabases::SqliteFiles(dir) => {
                Ok(tokio::fs::try_exists(self.sqlite_path(dir, name))
                    .await
                    .unwrap_or(false))
            }
        }
    }

    fn sqlite_path(&self, dir: &std::path::Path, name: &str) -> PathBuf {
        dir.join(format!("{name}.sqlite"))
    }
}

/// The columns of `schema`'s tables that a copy of its tables cannot carry
/// faithfully, as `table.column (why)`: a column of a type defined in the
/// schema (an enum, a domain — dropping the source schema would drop the
/// copy's column with it), an identity column (the copy's `INSERT … SELECT`
/// is refused), and a default drawing from a sequence (`serial`: the copy
/// would keep drawing from the source's sequence, and lose its default when
/// the source is dropped).
pub async fn uncopyable_columns(pool: &AnyPool, schema: &str) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT c.relname || '.' || a.attname || ' (' || CASE \
           WHEN tn.nspname = n.nspname THEN 'type ' || t.typname || ' of the schema' \
           WHEN a.attidentity <> '' THEN 'identity column' \
           ELSE 'default from a sequence' END || ')' \
         FROM pg_attribute a \
         JOIN pg_class c ON c.oid = a.attrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_type t ON t.oid = a.atttypid \
         JOIN pg_namespace tn ON tn.oid = t.typnamespace \
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
         WHERE n.nspname = $1 AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped \
           AND (tn.nspname = n.nspname OR a.attidentity <> '' \
                OR pg_get_expr(d.adbin, d.adrelid) LIKE 'nextval(%') \
         ORDER BY c.relname, a.attnum",
    )
    .bind(schema)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(column,)| column).collect())
}

/// Fails with [`StoreError::Unsupported`] when `source` has
/// [`uncopyable_columns`]: a copy that silently loses columns or defaults
/// is worse than a refusal an operator sees.
async fn refuse_uncopyable(pool: &AnyPool, source: &str, what: &str) -> Result<(), StoreError> {
    let columns = uncopyable_columns(pool, source).await?;
    if columns.is_empty() {
        return Ok(());
    }
    Err(StoreError::Unsupported(format!(
        "product database {source} cannot be copied faithfully for a {what}: {}; \
         its tables use what only the schema defines",
        columns.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_safe_bounded_and_distinct() {
        assert_eq!(database_name("t1", "jira"), "t_t1__jira");
        assert_eq!(database_name("acme-corp", "jira"), "t_acme_corp__jira");
        let long_a = database_name(&"a".repeat(63), "confluence");
        let long_b = database_name(&"a".repeat(62), "confluence");
        assert!(long_a.len() <= MAX_NAME_LEN);
        assert_ne!(long_a, long_b);
        assert!(quoted(&long_a).is_ok());
        assert!(quoted("x\"; drop").is_err());
    }

    #[tokio::test]
    async fn sqlite_copy_moves_the_rows_and_a_missing_source_is_permanent() {
        sqlx::any::install_default_drivers();
        let dir = tempfile::tempdir().unwrap();
        let databases = ProductDatabases::SqliteFiles(dir.path().to_owned());
        databases.create("t_t1__jira").await.unwrap();
        let url = format!(
            "sqlite://{}",
            dir.path().join("t_t1__jira.sqlite").display()
        );
        let pool = AnyPoolOptions::new().connect(&url).await.unwrap();
        sqlx::query("INSERT INTO tenantry_meta (key, value) VALUES ('issues', '42')")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        let target = moved_database_name("t1", "jira", "ch");
        databases.create(&target).await.unwrap();
        // Twice: a repeated copy gives the same target.
        for _ in 0..2 {
            assert_eq!(databases.copy_into("t_t1__jira", &target).await.unwrap(), 1);
        }
        let url = format!(
            "sqlite://{}",
            dir.path().join(format!("{target}.sqlite")).display()
        );
        let pool = AnyPoolOptions::new().connect(&url).await.unwrap();
        let (value,): (String,) =
            sqlx::query_as("SELECT value FROM tenantry_meta WHERE key = 'issues'")
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(value, "42");
        assert!(matches!(
            databases.copy_into("t_t9__jira", &target).await,
            Err(StoreError::Missing(_))
        ));
    }
}
