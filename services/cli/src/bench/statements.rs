//! SQL statements the PostgreSQL server executed for the run's database over
//! the measured window, counted with the `pg_stat_statements` extension.
//!
//! The extension is preloaded by `infra/local/up` and created in the
//! database of `--database-url` (`tenantry`); its view there shows every
//! database's statements, so the run's own database (and its product
//! databases, which are schemas in it) is picked by `dbid`. The figure is the
//! sum of `calls` after the window minus before it: statements of every kind
//! (DDL and `BEGIN`/`COMMIT` included, `track_utility = on`), top-level only
//! (`pg_stat_statements.track = top`, the default): a function or a `DO`
//! block counts as the one statement a client sent, whatever it runs inside
//! (the provisioner creates a batch's product schemas in one `DO` block).
//! The bench's own polls of `tenant_contexts` and its closing saga count run
//! on that database too; they are counted apart and left out.
//!
//! Without the extension the count is unavailable, never an error: the run
//! still reports everything else.

use sqlx::{ConnectOptions, Connection, PgConnection};
use tenantry_store::Store;

/// Leading text of the statements this process runs on the run's database
/// during the window (`workload.rs`: the poll and the closing saga count).
const BENCH_STATEMENTS: [&str; 2] = [
    "SELECT tenant_id, revision, updated_at, context FROM tenant_contexts%",
    "SELECT COUNT(*), MAX(updated_at) FROM sagas%",
];

/// The count over the window, or why there is none.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum StatementCount {
    Counted {
        /// Statements executed for the run's database, the bench's own excluded.
        services: u64,
        /// The bench's own statements (polls), excluded from `services`.
        bench: u64,
        /// `pg_stat_statements` evicted entries during the window
        /// (`pg_stat_statements_info.dealloc` grew): calls of evicted
        /// entries are lost, so `services` is a lower bound.
        lower_bound: bool,
    },
    Unavailable(String),
}

impl StatementCount {
    /// Statements per tenant, the bench's own excluded.
    pub(super) fn per_tenant(&self, tenants: u32) -> Option<f64> {
        match self {
            StatementCount::Counted { services, .. } => {
                Some(*services as f64 / f64::from(tenants.max(1)))
            }
            StatementCount::Unavailable(_) => None,
        }
    }
}

/// One reading of the counters.
#[derive(Debug, Clone)]
struct Reading {
    calls: i64,
    bench: i64,
    /// `pg_stat_statements_info` (PostgreSQL 14 and later): evictions so
    /// far, and when the statistics were last reset, as text.
    info: Option<(i64, String)>,
}

/// The counters at the window's start, and a connection to read them again.
pub(super) struct StatementWindow {
    connection: PgConnection,
    dbid: i64,
    before: Reading,
}

impl StatementWindow {
    /// Reads the counters for the database of `store` (the run's), through a
    /// connection to `database_url`, where the extension is. `Err` carries
    /// the reason the count is unavailable (a sentence for the report, also
    /// logged once as a warning), never a failure of the run.
    pub(super) async fn open(database_url: &str, store: &Store) -> Result<Self, String> {
        let opened = Self::try_open(database_url, store).await;
        if let Err(reason) = &opened {
            tracing::warn!(%reason, "No SQL statement count for this run.");
        }
        opened
    }

    async fn try_open(database_url: &str, store: &Store) -> Result<Self, String> {
        let options: sqlx::postgres::PgConnectOptions = database_url
            .parse()
            .map_err(|e| format!("database_url: {e}"))?;
        let mut connection =
            PgConnection::connect_with(&options.clone().disable_statement_logging())
                .await
                .map_err(|e| format!("cannot connect to read pg_stat_statements: {e}"))?;
        // On the run's database, before the window opens.
        // On the run's database, before the window opens (the store's pool
        // is `sqlx::Any`, which has no `oid` type: read it as int8).
        let dbid: i64 = sqlx::query_scalar(
            "SELECT oid::int8 FROM pg_database WHERE datname = current_database()",
        )
        .fetch_one(store.pool())
        .await
        .map_err(|e| format!("the run's database oid: {e}"))?;
        // Entries of dropped databases (earlier runs' own, with one
        // `CREATE SCHEMA` entry per product database) fill the
        // `pg_stat_statements.max` slots, and evictions make every count a
        // lower bound; nobody can read them any more, so drop them. Needs a
        // superuser (or a grant); without one the count goes on regardless.
        if let Err(e) = sqlx::query(
            "SELECT pg_stat_statements_reset(0, d.dbid, 0) FROM (SELECT DISTINCT dbid \
             FROM pg_stat_statements WHERE dbid <> 0 \
             AND dbid NOT IN (SELECT oid FROM pg_database)) d",
        )
        .execute(&mut connection)
        .await
        {
            tracing::debug!(error = %e, "Statistics of dropped databases not reset.");
        }
        let before = read(&mut connection, dbid).await.map_err(|e| {
            format!(
                "pg_stat_statements is not available in database {} ({e}); \
                 infra/local/up preloads and creates it",
                options.get_database().unwrap_or("of --database-url")
            )
        })?;
        Ok(Self {
            connection,
            dbid,
            before,
        })
    }

    /// Reads the counters again and closes the connection.
    pub(super) async fn close(mut self) -> StatementCount {
        let after = read(&mut self.connection, self.dbid).await;
        let _ = self.connection.close().await;
        let reset = |after: &Reading| match (&self.before.info, &after.info) {
            (Some((_, before)), Some((_, after))) => before != after,
            _ => false,
        };
        match after {
            // Someone (another shell measuring too) reset the statistics:
            // the difference means nothing.
            Ok(after) if reset(&after) => StatementCount::Unavailable(
                "pg_stat_statements was reset during the run (pg_stat_statements_reset)".into(),
            ),
            Ok(after) => StatementCount::Counted {
                services: u64::try_from(
                    (after.calls - after.bench) - (self.before.calls - self.before.bench),
                )
                .unwrap_or(0),
                bench: u64::try_from(after.bench - self.before.bench).unwrap_or(0),
                lower_bound: after.info.map(|(dealloc, _)| dealloc)
                    != self.before.info.as_ref().map(|(dealloc, _)| *dealloc),
            },
            Err(e) => StatementCount::Unavailable(format!("pg_stat_statements: {e}")),
        }
    }
}

async fn read(connection: &mut PgConnection, dbid: i64) -> Result<Reading, sqlx::Error> {
    let (calls, bench): (i64, i64) = sqlx::query_as(
        "SELECT COALESCE(SUM(calls), 0)::int8, \
                COALESCE(SUM(calls) FILTER (WHERE query LIKE ANY ($2)), 0)::int8 \
         FROM pg_stat_statements WHERE dbid = $1::int8::oid",
    )
    .bind(dbid)
    .bind(&BENCH_STATEMENTS[..])
    .fetch_one(&mut *connection)
    .await?;
    // PostgreSQL 14 and later; older servers tell neither.
    let info = sqlx::query_as(
        "SELECT dealloc, COALESCE(stats_reset::text, '') FROM pg_stat_statements_info",
    )
    .fetch_one(&mut *connection)
    .await
    .ok();
    Ok(Reading { calls, bench, info })
}
