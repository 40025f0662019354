//! Migrations from one source (`migrations/`): both backends end with the
//! same schema, and databases migrated by the code before the merge of
//! `migrations/postgres/` and `migrations/sqlite/` still open.
//!
//! The PostgreSQL tests use the server of `TENANTRY_DATABASE_URL` (local
//! stack) and a scratch database each, dropped at the end.

#[path = "common/scratch.rs"]
mod scratch;

use scratch::ScratchDatabase;
use sqlx::Connection;
use sqlx::migrate::Migrator;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use tenantry_store::Store;

/// SHA-384 (hex) of the PostgreSQL migrations as released, computed with
/// `git show 6590056:infra/store/migrations/postgres/<file> | sha384sum`.
/// PostgreSQL databases record these in `_sqlx_migrations`; sqlx refuses to
/// start if the file of an applied version changes.
const RELEASED_POSTGRES_CHECKSUMS: [(i64, &str); 7] = [
    (
        1,
        "48c817797d388c7afebc1e3a7f076d64fa113d7ede38059b25d96f53f0272aff76c4b17562299c7ebae4e7dc09a4364f",
    ),
    (
        2,
        "9393d10416214103c2ae497470b0e7f19a843e426d55cdbedcb46d2a56c1e53f97e9306986976210750a3f9d54685b31",
    ),
    (
        3,
        "c14d1a19ea172498a8befaf816d4e0478c185170fd6504ee8e6988f354cb8d63ce8991b3f38e14a2cb20bcdb5ce48377",
    ),
    (
        4,
        "b5a14bc8b46a3c331b4ea79c806ce0b4510c12f4de7b662a7639c109006030d1a61ab3ae6288841db07ed6a7ccccf61b",
    ),
    (
        5,
        "0609bd5514db64561b5a2106a512ef12faf1c21acb0f733c13c57b84722f60b814175bc15b652dea3ecacf1df3741654",
    ),
    (
        6,
        "f11e2335d2572d9d36a167dc90e0f57206cbc87695579abf88fb313cc83ecf7d22640a317070a942d08c0ad4e5cad161",
    ),
    (
        7,
        "c861da84561ca09690afd1e2815d689438a9b720e0c77e60f52eed5b6e863e9f05f73b03609607f5809014e237fe870e",
    ),
];

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A directory holding the migrations of `source` up to version `through`:
/// a database migrated by it stands for one made by an older release.
fn migrations_through(source: &Path, through: i64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(source).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let version = name
            .split_once('_')
            .and_then(|(v, _)| v.parse::<i64>().ok());
        if version.is_some_and(|v| v <= through) && name.ends_with(".sql") {
            std::fs::copy(&path, dir.path().join(name)).unwrap();
        }
    }
    dir
}

/// One column: table, column, SQLite affinity of its type, nullable, and
/// position in the primary key (0: not in it).
type Column = (String, String, &'static str, bool, i64);

/// The affinity SQLite gives a declared type (sqlite.org/datatype3.html
/// §3.1), applied to both backends' type names so that `BIGINT` and
/// `bigint`, `INTEGER PRIMARY KEY AUTOINCREMENT` and `bigserial` compare
/// equal while `TEXT` and `BIGINT` do not.
fn affinity(declared: &str) -> &'static str {
    let declared = declared.to_uppercase();
    if declared.contains("INT") {
        "INTEGER"
    } else if ["CHAR", "CLOB", "TEXT"]
        .iter()
        .any(|t| declared.contains(t))
    {
        "TEXT"
    } else if declared.is_empty() || declared.contains("BLOB") {
        "BLOB"
    } else if ["REAL", "FLOA", "DOUB"]
        .iter()
        .any(|t| declared.contains(t))
    {
        "REAL"
    } else {
        "NUMERIC"
    }
}

/// Columns and explicitly created indexes of a SQLite store, without
/// sqlx's and SQLite's own tables.
async fn sqlite_schema(store: &Store) -> (BTreeSet<Column>, BTreeSet<String>) {
    let rows: Vec<(String, String, String, i64, i64)> = sqlx::query_as(
        "SELECT m.name, p.name, p.type, p.\"notnull\", p.pk \
         FROM sqlite_master m JOIN pragma_table_info(m.name) p \
         WHERE m.type = 'table' AND m.name <> '_sqlx_migrations' \
           AND substr(m.name, 1, 7) <> 'sqlite_'",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let columns = rows
        .into_iter()
        // SQLite lets a non-integer primary key column hold NULL unless
        // declared NOT NULL; PostgreSQL does not, and neither does the code.
        .map(|(table, column, ty, not_null, pk)| {
            (table, column, affinity(&ty), not_null == 0 && pk == 0, pk)
        })
        .collect();
    let indexes: Vec<(String,)> =
        sqlx::query_as("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
            .fetch_all(store.pool())
            .await
            .unwrap();
    (columns, indexes.into_iter().map(|(i,)| i).collect())
}

/// Columns and explicitly created indexes (not those behind a constraint)
/// of a PostgreSQL store's `public` schema, without sqlx's table.
async fn postgres_schema(store: &Store) -> (BTreeSet<Column>, BTreeSet<String>) {
    let rows: Vec<(String, String, String, String, i64)> = sqlx::query_as(
        "SELECT c.table_name::text, c.column_name::text, c.data_type::text, \
                c.is_nullable::text, \
                COALESCE((SELECT k.ordinal_position::bigint \
                          FROM information_schema.table_constraints t \
                          JOIN information_schema.key_column_usage k \
                            ON k.constraint_schema = t.constraint_schema \
                           AND k.constraint_name = t.constraint_name \
                          WHERE t.constraint_type = 'PRIMARY KEY' \
                            AND t.table_schema = c.table_schema \
                            AND t.table_name = c.table_name \
                            AND k.column_name = c.column_name), 0) \
         FROM information_schema.columns c \
         WHERE c.table_schema = 'public' AND c.table_name <> '_sqlx_migrations'",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let columns = rows
        .into_iter()
        .map(|(table, column, ty, nullable, pk)| {
            (table, column, affinity(&ty), nullable == "YES", pk)
        })
        .collect();
    let indexes: Vec<(String,)> = sqlx::query_as(
        "SELECT i.relname::text FROM pg_index x \
         JOIN pg_class i ON i.oid = x.indexrelid \
         JOIN pg_namespace n ON n.oid = i.relnamespace \
         WHERE n.nspname = 'public' \
           AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid)",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    (columns, indexes.into_iter().map(|(i,)| i).collect())
}

/// `(version, checksum)` recorded in a store's `_sqlx_migrations`, hex.
async fn recorded(store: &Store) -> Vec<(i64, String)> {
    let rows: Vec<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT version, checksum FROM _sqlx_migrations ORDER BY version")
            .fetch_all(store.pool())
            .await
            .unwrap();
    rows.into_iter().map(|(v, c)| (v, hex(&c))).collect()
}

/// A SQLite file in a temporary directory (deleted with it).
struct SqliteFile {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl SqliteFile {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tenantry.db");
        Self { _dir: dir, path }
    }

    fn url(&self) -> String {
        format!("sqlite://{}", self.path.display())
    }
}

/// The files in `migrations/` are byte for byte the released PostgreSQL
/// migrations.
#[test]
fn released_postgres_migrations_keep_their_checksums() {
    let migrator = sqlx::migrate!("./migrations");
    let released: Vec<(i64, String)> = migrator
        .iter()
        .filter(|m| m.version <= 7)
        .map(|m| (m.version, hex(&m.checksum)))
        .collect();
    let frozen: Vec<(i64, String)> = RELEASED_POSTGRES_CHECKSUMS
        .iter()
        .map(|(v, c)| (*v, (*c).to_owned()))
        .collect();
    assert_eq!(released, frozen);
}

/// Case (1): the same migrations give both backends the same tables,
/// columns (affinity, nullability, primary key) and indexes.
#[tokio::test]
async fn fresh_sqlite_and_postgres_stores_have_the_same_schema() {
    let file = SqliteFile::new();
    let sqlite = Store::connect(&file.url(), 1).await.unwrap();
    let database = ScratchDatabase::create("mig").await;
    let postgres = Store::connect(&database.url(), 2).await.unwrap();

    let (sqlite_columns, sqlite_indexes) = sqlite_schema(&sqlite).await;
    let (postgres_columns, postgres_indexes) = postgres_schema(&postgres).await;
    assert!(
        sqlite_columns
            .iter()
            .any(|c| c.0 == "outbox" && c.1 == "id")
    );
    assert_eq!(
        sqlite_columns
            .symmetric_difference(&postgres_columns)
            .collect::<Vec<_>>(),
        Vec::<&Column>::new(),
        "columns of one backend only"
    );
    assert!(sqlite_indexes.contains("tenant_events_waiting"));
    assert_eq!(sqlite_indexes, postgres_indexes);
    postgres.pool().close().await;
}

/// Case (2): a SQLite store made by the retired `migrations/sqlite/` files,
/// at every released version, opens with the current code, keeps its rows
/// and ends as a fresh store: same recorded checksums, same schema.
#[tokio::test]
async fn sqlite_stores_made_by_the_retired_sqlite_files_open() {
    let fresh_file = SqliteFile::new();
    let fresh = Store::connect(&fresh_file.url(), 1).await.unwrap();
    let retired = manifest_dir().join("tests/fixtures/retired_sqlite_migrations");
    for through in 1..=7 {
        let file = SqliteFile::new();
        let old = migrations_through(&retired, through);
        let mut conn = sqlx::SqliteConnection::connect(&format!("{}?mode=rwc", file.url()))
            .await
            .unwrap();
        Migrator::new(old.path())
            .await
            .unwrap()
            .run(&mut conn)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO outbox (event_id, tenant_id, record, created_at) \
             VALUES ('e1', 't1', '{}', 1)",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();

        let store = Store::connect(&file.url(), 1)
            .await
            .unwrap_or_else(|e| panic!("retired store at version {through}: {e}"));
        assert_eq!(recorded(&store).await, recorded(&fresh).await, "{through}");
        assert_eq!(sqlite_schema(&store).await, sqlite_schema(&fresh).await);
        let (id,): (i64,) = sqlx::query_as("SELECT id FROM outbox WHERE event_id = 'e1'")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(id, 1);
        store.pool().close().await;
    }
}

/// A recorded checksum that is neither the current one nor a retired one
/// still stops a SQLite store: adoption is not a blanket rewrite.
#[tokio::test]
async fn a_sqlite_store_with_an_unknown_checksum_is_refused() {
    let file = SqliteFile::new();
    let store = Store::connect(&file.url(), 1).await.unwrap();
    sqlx::query("UPDATE _sqlx_migrations SET checksum = $1 WHERE version = 1")
        .bind(vec![0u8; 48])
        .execute(store.pool())
        .await
        .unwrap();
    store.pool().close().await;
    let error = Store::connect(&file.url(), 1).await.unwrap_err();
    assert!(
        error
            .to_string()
            .contains("migration 1 was previously applied but has been modified"),
        "{error}"
    );
}

/// Case (3): a PostgreSQL database migrated by the released migrator
/// (the same files, read by sqlx's PostgreSQL driver) records the released
/// checksums and opens with the current code, which applies what is missing.
#[tokio::test]
async fn postgres_databases_made_by_the_released_migrator_open() {
    for through in [5, 7] {
        let database = ScratchDatabase::create("mig").await;
        let old = migrations_through(&manifest_dir().join("migrations"), through);
        let mut conn = sqlx::PgConnection::connect(&database.url()).await.unwrap();
        Migrator::new(old.path())
            .await
            .unwrap()
            .run(&mut conn)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO outbox (event_id, tenant_id, record, created_at) \
             VALUES ('e1', 't1', '{}', 1)",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();

        let store = Store::connect(&database.url(), 2)
            .await
            .unwrap_or_else(|e| panic!("released database at version {through}: {e}"));
        let frozen: Vec<(i64, String)> = RELEASED_POSTGRES_CHECKSUMS
            .iter()
            .map(|(v, c)| (*v, (*c).to_owned()))
            .collect();
        assert_eq!(recorded(&store).await[..7], frozen[..]);
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM outbox")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(count, 1);
        store.pool().close().await;
    }
}
