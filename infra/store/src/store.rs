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
    /// No connection could be opened to the database at `url` (password
    /// masked) when connecting; retrying may succeed.
    #[error("database {url} is unreachable: {reason}")]
    Unreachable {
        /// The URL, with any password replaced by `***`.
        url: String,
        /// The driver's reason (connection refused, unknown database, …).
        reason: String,
    },
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
    /// A row the transaction inserts as new was written by another one that
    /// committed first (the in-memory store's optimistic commit); retrying
    /// the transaction reads it and may succeed.
    #[error("concurrent write: {0}")]
    Conflict(String),
    /// The operation cannot be done faithfully (a product database whose
    /// tables use its own types or sequences cannot be copied); retrying
    /// will not help.
    #[error("{0}")]
    Unsupported(String),
}

impl StoreError {
    /// Whether waiting will not cure it: the database does not exist
    /// (SQLSTATE `3D000`) or the server refuses the credentials (class
    /// `28`), per PostgreSQL's "Appendix A. Error Codes".
    pub fn is_permanent(&self) -> bool {
        let StoreError::Database(sqlx::Error::Database(db)) = self else {
            return false;
        };
        db.code()
            .is_some_and(|code| code == "3D000" || code.starts_with("28"))
    }

    /// Whether a compare-and-set lost ([`StoreError::Stale`]).
    pub fn is_stale(&self) -> bool {
        matches!(self, StoreError::Stale(_))
    }
}

impl tenantry_sagas::StoreFailure for StoreError {
    fn is_stale(&self) -> bool {
        StoreError::is_stale(self)
    }

    fn is_permanent(&self) -> bool {
        StoreError::is_permanent(self)
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

/// `url` with the password of its user info, if any, replaced by `***`
/// (`postgres://app:***@db:5432/tenantry`), for error messages and logs.
pub fn masked(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) if !userinfo.contains('/') => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_owned(),
        },
        _ => url.to_owned(),
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
    /// Errors: [`StoreError::Unreachable`] naming the URL and the driver's
    /// reason when no connection opens within 10 s; [`StoreError::Database`]
    /// when the server refuses the connection (its SQLSTATE says why: `3D000`
    /// no such database, class `28` credentials) or a migration fails.
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
            .await;
        let pool = match pool {
            Ok(pool) => pool,
            // The server answered (unknown database, bad credentials): its
            // SQLSTATE tells the caller whether waiting can help.
            Err(error @ sqlx::Error::Database(_)) => return Err(StoreError::Database(error)),
            Err(error) => {
                // A pool that timed out hides why; one direct connection tells.
                let reason = match error {
                    sqlx::Error::PoolTimedOut => {
                        match tokio::time::timeout(
                            Duration::from_secs(10),
                            <sqlx::AnyConnection as sqlx::Connection>::connect(&url),
                        )
                        .await
                        {
                            Ok(Err(cause)) => cause.to_string(),
                            _ => error.to_string(),
                        }
                    }
                    other => other.to_string(),
                };
                return Err(StoreError::Unreachable {
                    url: masked(&url),
                    reason,
                });
            }
        };
        let store = Self { pool, backend };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies `migrations/` (one source for both backends, translated for
    /// SQLite; see `migrations/README.md` and [`crate::migrations`]).
    async fn migrate(&self) -> Result<(), StoreError> {
        crate::migrations::run(&self.pool, self.backend)
            .await
            .map_err(|e| StoreError::Database(e.into()))
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

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_masked_and_the_rest_kept() {
        let cases = [
            (
                "postgres://app:s3cret@db:5432/t",
                "postgres://app:***@db:5432/t",
            ),
            (
                "postgres://postgres@127.0.0.1:5432/t",
                "postgres://postgres@127.0.0.1:5432/t",
            ),
            ("postgres://db/t?user=a@b", "postgres://db/t?user=a@b"),
            ("sqlite:///tmp/a.db", "sqlite:///tmp/a.db"),
        ];
        for (url, want) in cases {
            assert_eq!(super::masked(url), want, "{url}");
        }
    }
}
