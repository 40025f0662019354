//! Migrations from one source, `migrations/`, for both backends.
//!
//! The files are written for PostgreSQL, which runs them unchanged. SQLite
//! runs the same embedded files after [`SQLITE_TRANSLATIONS`], applied at run
//! time; the rule for writing a portable migration is in
//! `migrations/README.md`.
//!
//! Checksums: a database records the SHA-384 of every migration text it ran
//! and sqlx refuses to start when the text of an applied version changes. On
//! PostgreSQL that text is the file, so a released file is never edited. On
//! SQLite it is the translation, so a translation must not change its output
//! for a released file; and SQLite stores made by the retired
//! `migrations/sqlite/` copies are adopted by [`adopt_retired_sqlite_checksums`].

use crate::store::Backend;
use sqlx::AnyPool;
use sqlx::error::BoxDynError;
use sqlx::migrate::{MigrateError, Migration, MigrationSource, Migrator};
use std::future::Future;
use std::pin::Pin;

/// The migrations as written, applied unchanged to PostgreSQL.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// PostgreSQL-only constructs and what SQLite runs instead, as literal text
/// replacements in this order.
///
/// `BIGSERIAL PRIMARY KEY`: SQLite has no sequences; an `INTEGER PRIMARY KEY`
/// is the rowid, and `AUTOINCREMENT` stops it from reusing the id of a deleted
/// row, as a sequence never does (the outbox deletes the rows it publishes).
pub(crate) const SQLITE_TRANSLATIONS: &[(&str, &str)] =
    &[("BIGSERIAL PRIMARY KEY", "INTEGER PRIMARY KEY AUTOINCREMENT")];

/// `(version, SHA-384 in upper-case hex)` of each retired
/// `migrations/sqlite/` file whose text is not the translation of the shared
/// file: only 0001, whose first comment line named its dialect. Versions 2–7
/// were identical to the shared files. The files are kept as the test fixture
/// `tests/fixtures/retired_sqlite_migrations/`; a test checks this list
/// against them. Closed: later versions have only the shared source.
const RETIRED_SQLITE_CHECKSUMS: &[(i64, &str)] = &[(
    1,
    "C18AF38C406162E3C0732C633E2DE60BC68417A992FC6B82A9DAE36D26347A8498C722EF1F1694BD34D293E693D0C731",
)];

/// Applies the pending migrations of `backend` on `pool`.
///
/// Errors: [`MigrateError::VersionMismatch`] when an applied migration's
/// recorded checksum is neither the current one nor (SQLite) a retired one;
/// [`MigrateError::Execute`] when the database fails.
pub(crate) async fn run(pool: &AnyPool, backend: Backend) -> Result<(), MigrateError> {
    match backend {
        Backend::Postgres => MIGRATOR.run(pool).await,
        Backend::Sqlite => {
            let migrator = sqlite_migrator().await?;
            adopt_retired_sqlite_checksums(pool, &migrator).await?;
            migrator.run(pool).await
        }
    }
}

/// The SQLite migrator: every migration of [`MIGRATOR`], translated.
async fn sqlite_migrator() -> Result<Migrator, MigrateError> {
    let migrations = MIGRATOR
        .iter()
        .map(|m| {
            Migration::new(
                m.version,
                m.description.clone(),
                m.migration_type,
                to_sqlite(&m.sql).into(),
                m.no_tx,
            )
        })
        .collect();
    Migrator::new(Resolved(migrations)).await
}

/// `sql` with [`SQLITE_TRANSLATIONS`] applied.
pub(crate) fn to_sqlite(sql: &str) -> String {
    SQLITE_TRANSLATIONS
        .iter()
        .fold(sql.to_owned(), |sql, (from, to)| sql.replace(from, to))
}

/// Rewrites, in a SQLite store's `_sqlx_migrations`, each recorded checksum
/// equal to [`RETIRED_SQLITE_CHECKSUMS`] of its version to the checksum of
/// that version in `migrator`. A store made by the retired copies then
/// records what the current code would have recorded (the schema they made is
/// the same); any other mismatch is left for the migrator to refuse.
/// Idempotent, so processes sharing the file may race on it.
async fn adopt_retired_sqlite_checksums(
    pool: &AnyPool,
    migrator: &Migrator,
) -> Result<(), sqlx::Error> {
    let (tables,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_one(pool)
    .await?;
    if tables == 0 {
        return Ok(());
    }
    for (version, retired) in RETIRED_SQLITE_CHECKSUMS {
        let Some(current) = migrator.iter().find(|m| m.version == *version) else {
            continue;
        };
        let adopted = sqlx::query(
            "UPDATE _sqlx_migrations SET checksum = $1 WHERE version = $2 AND hex(checksum) = $3",
        )
        .bind(current.checksum.to_vec())
        .bind(*version)
        .bind(*retired)
        .execute(pool)
        .await?;
        if adopted.rows_affected() > 0 {
            tracing::info!(
                migration.version = version,
                "Adopted a migration applied by the retired SQLite copy."
            );
        }
    }
    Ok(())
}

/// Migrations already resolved, as the source [`Migrator::new`] takes.
#[derive(Debug)]
struct Resolved(Vec<Migration>);

impl<'s> MigrationSource<'s> for Resolved {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 's>> {
        Box::pin(std::future::ready(Ok(self.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::migrate::MigrationType;
    use std::path::Path;

    /// `(version, text)` of the retired SQLite files, in version order.
    fn retired_sqlite_files() -> Vec<(i64, String)> {
        let dir =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/retired_sqlite_migrations");
        let mut files: Vec<(i64, String)> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "sql"))
            .map(|path| {
                let name = path.file_name().unwrap().to_str().unwrap();
                let version = name.split_once('_').unwrap().0.parse().unwrap();
                (version, std::fs::read_to_string(&path).unwrap())
            })
            .collect();
        files.sort();
        files
    }

    fn checksum(sql: &str) -> Vec<u8> {
        Migration::new(
            0,
            "".into(),
            MigrationType::Simple,
            sql.to_owned().into(),
            false,
        )
        .checksum
        .into_owned()
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02X}")).collect()
    }

    /// The translation reproduces the retired SQLite files but for the
    /// first line of 0001, so the schema of an old SQLite store is the one
    /// the current code makes.
    #[test]
    fn translation_reproduces_the_retired_sqlite_files_but_the_0001_header() {
        let retired = retired_sqlite_files();
        assert_eq!(
            retired.iter().map(|(v, _)| *v).collect::<Vec<_>>(),
            (1..=7).collect::<Vec<_>>()
        );
        for (version, old) in retired {
            let shared = MIGRATOR.iter().find(|m| m.version == version).unwrap();
            let new = to_sqlite(&shared.sql);
            let differing: Vec<usize> = new
                .split('\n')
                .zip(old.split('\n'))
                .enumerate()
                .filter(|(_, (n, o))| n != o)
                .map(|(line, _)| line + 1)
                .collect();
            assert_eq!(
                new.split('\n').count(),
                old.split('\n').count(),
                "{version}"
            );
            let expected: &[usize] = if version == 1 { &[1] } else { &[] };
            assert_eq!(differing, expected, "lines differing in version {version}");
        }
    }

    /// A retired file's checksum is either the translated file's (nothing to
    /// adopt) or listed in RETIRED_SQLITE_CHECKSUMS, and the list holds
    /// nothing else.
    #[tokio::test]
    async fn retired_sqlite_checksums_are_those_of_the_fixture() {
        let migrator = sqlite_migrator().await.unwrap();
        let mut needed = Vec::new();
        for (version, old) in retired_sqlite_files() {
            let current = migrator.iter().find(|m| m.version == version).unwrap();
            if checksum(&old) != *current.checksum {
                needed.push((version, hex(&checksum(&old))));
            }
        }
        let listed: Vec<(i64, String)> = RETIRED_SQLITE_CHECKSUMS
            .iter()
            .map(|(v, c)| (*v, (*c).to_owned()))
            .collect();
        assert_eq!(listed, needed);
    }

    /// No PostgreSQL-only construct survives the translation (comments
    /// aside): a new migration that needs one needs a translation first.
    #[test]
    fn migrations_are_portable_after_translation() {
        const POSTGRES_ONLY: &[&str] = &[
            "SERIAL",
            "BIGSERIAL",
            "SMALLSERIAL",
            "BYTEA",
            "JSONB",
            "TIMESTAMPTZ",
            "ILIKE",
            "CONCURRENTLY",
        ];
        for m in MIGRATOR.iter() {
            let sql: String = to_sqlite(&m.sql)
                .lines()
                .map(|line| line.split_once("--").map_or(line, |(code, _)| code))
                .collect::<Vec<_>>()
                .join("\n")
                .to_uppercase();
            assert!(!sql.contains("::"), "a :: cast in version {}", m.version);
            for word in sql.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                assert!(
                    !POSTGRES_ONLY.contains(&word),
                    "{word} in version {} after translation",
                    m.version
                );
            }
        }
    }
}
