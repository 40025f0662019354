//! Connection, backend detection and migrations.

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Which database is behind the `Any` pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL (`postgres://…`).
    Postgres,
    /// SQLite (`sqlite://…`), the embedded mode.
    Sqlite,
}

/// A store error: infrastructure (retry later) or data (a bug or corrupt row).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database is unreachable or failed; retrying may succeed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored document does not parse.
    #[error("corrupt stored document: {0}")]
    Corrupt(String),
    /// Compare-and-set lost: the row changed since it was read.
    #[error("stale write: {0}")]
    Stale(String),
    /// Something an operation needs does not exist (a product database to
    /// copy); retrying will not create it.
    #[error("{0}")]
    Missing(String),
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

/// Current time in Unix epoch milliseconds (the store's time unit).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A pool on PostgreSQL or SQLite, migrated.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Connects to `url` (`postgres://…` or `sqlite://path`; a SQLite file is
    /// created when missing) and applies migrations.
    ///
    /// SQLite runs in WAL mode with a 5 s busy timeout so the embedded
    /// services can share a file; PostgreSQL gets `max_connections` connections.
    ///
    /// Errors: [`StoreError::Database`] when the database is unreachable or a
    /// migration fails.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_owned(),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 1,
                Backend::Postgres => max_connections,
            })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL;")
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        let store = Self { pool, backend };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let result = match self.backend {
            Backend::Postgres => {
                sqlx::migrate!("./migrations/postgres")
                    .run(&self.pool)
                    .await
            }
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&self.pool).await,
        };
        result.map_err(|e| StoreError::Database(e.into()))
    }

    /// The pool.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }
}
