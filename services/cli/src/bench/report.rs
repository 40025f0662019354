//! The run's figures and the benchmark's own database.

use super::LogWarnings;
use super::processes::{ServiceFigures, StackCpu};
use super::statements::StatementCount;
use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use sqlx::{ConnectOptions, Connection};
use std::time::Duration;

/// The figures of one run.
pub(super) struct Report {
    pub(super) tenants: u32,
    pub(super) products: u8,
    pub(super) rate: Option<f64>,
    pub(super) latencies: Histogram<u64>,
    pub(super) failed: Vec<(String, String)>,
    /// First publish → last publish.
    pub(super) publish_span: Duration,
    /// First publish → last tenant readable.
    pub(super) span: Duration,
    pub(super) provisioner: ServiceFigures,
    pub(super) projector: ServiceFigures,
    /// This process: the load generator and the poller, which share the cores.
    pub(super) bench: ServiceFigures,
    /// PostgreSQL and the broker over the same window (`/proc`).
    pub(super) stack: StackCpu,
    /// SQL statements executed for the run's database over the same window.
    pub(super) statements: StatementCount,
    /// Sagas that ended during the run.
    pub(super) sagas: u64,
    /// First publish → last saga ended (provisioner done).
    pub(super) sagas_span: Option<Duration>,
    /// Services that logged warnings or errors during the run.
    pub(super) warnings: Vec<LogWarnings>,
    /// Records on the run's commerce and provisioning topics (the measured
    /// tenants and the warm-up tenant).
    pub(super) event_records: [u64; 2],
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |q: f64| self.latencies.value_at_quantile(q) as f64 / 1000.0;
        let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
        let readable = self.latencies.len();
        let seconds = self.span.as_secs_f64().max(1e-9);
        let offered = self
            .rate
            .map_or_else(|| "unlimited".to_owned(), |r| format!("{r}/s"));
        let command: Vec<String> = std::env::args().collect();
        writeln!(f, "command: {}", command.join(" "))?;
        writeln!(
            f,
            "tenants={} products={} offered={offered}  throughput={:.1} tenants/s  \
             latency p50={:.1} p95={:.1} p99={:.1} ms  provisioner cpu={:.2} s  peak_rss={:.1} MiB",
            self.tenants,
            self.products,
            readable as f64 / seconds,
            ms(0.50),
            ms(0.95),
            ms(0.99),
            self.provisioner.cpu.as_secs_f64(),
            mib(self.provisioner.peak_rss),
        )?;
        writeln!(
            f,
            "  {readable} readable, {} failed, in {:.2} s (published in {:.2} s); latency max={:.1} ms",
            self.failed.len(),
            self.span.as_secs_f64(),
            self.publish_span.as_secs_f64(),
            ms(1.0),
        )?;
        if let Some(sagas_span) = self.sagas_span {
            writeln!(
                f,
                "  provisioner: {} sagas ended by {:.2} s; projector: last context readable at {:.2} s",
                self.sagas,
                sagas_span.as_secs_f64(),
                self.span.as_secs_f64(),
            )?;
        }
        let per_tenant =
            |figures: &ServiceFigures| figures.cpu.as_secs_f64() * 1000.0 / f64::from(self.tenants);
        writeln!(
            f,
            "  cpu per tenant: provisioner={:.2} ms projector={:.2} ms bench={:.2} ms; \
             projector peak_rss={:.1} MiB",
            per_tenant(&self.provisioner),
            per_tenant(&self.projector),
            per_tenant(&self.bench),
            mib(self.projector.peak_rss),
        )?;
        let [commerce, provisioning] = self.event_records;
        let with_warm_up = f64::from(self.tenants) + 1.0;
        writeln!(
            f,
            "  records written per tenant: {:.2} ({commerce} commerce + {provisioning} provisioning \
             records for {} tenants, the warm-up tenant included)",
            (commerce + provisioning) as f64 / with_warm_up,
            self.tenants + 1,
        )?;
        match &self.statements {
            StatementCount::Counted {
                services,
                bench,
                lower_bound,
            } => writeln!(
                f,
                "  sql statements per tenant: {:.2}{} ({services} top-level statements executed for \
                 the run's database, pg_stat_statements; the bench's own {bench} excluded)",
                *services as f64 / f64::from(self.tenants),
                if *lower_bound {
                    " at least (pg_stat_statements evicted entries; raise pg_stat_statements.max)"
                } else {
                    ""
                },
            )?,
            StatementCount::Unavailable(reason) => {
                writeln!(f, "  sql statements per tenant: n/a ({reason})")?
            }
        }
        if !self.stack.0.is_empty() {
            let parts: Vec<String> = self
                .stack
                .0
                .iter()
                .map(|(name, cpu)| {
                    format!(
                        "{name}={:.2} ms",
                        cpu.as_secs_f64() * 1000.0 / f64::from(self.tenants)
                    )
                })
                .collect();
            writeln!(
                f,
                "  cpu per tenant, local stack (whole machine, /proc): {}",
                parts.join(" ")
            )?;
        }
        if let Some(rate) = self.rate.filter(|r| readable as f64 / seconds < 0.95 * r) {
            writeln!(
                f,
                "  saturated: throughput is below the offered {rate}/s, so latencies are \
                 queueing time and grow with --tenants"
            )?;
        }
        for w in &self.warnings {
            writeln!(
                f,
                "  {} logged {} warnings/errors; figures may include stalls. First: {}",
                w.role, w.count, w.first
            )?;
        }
        for (tenant, reason) in self.failed.iter().take(5) {
            writeln!(f, "  failed: {tenant}: {reason}")?;
        }
        Ok(())
    }
}

impl Report {
    /// The figures as one JSON object (`tenantry bench --json`). Latencies
    /// are publish → context readable, in ms; CPU figures are ms of CPU per
    /// measured tenant over the measured window; `null` where a figure is
    /// unavailable.
    pub(super) fn json(&self) -> serde_json::Value {
        let ms = |q: f64| round(self.latencies.value_at_quantile(q) as f64 / 1000.0);
        let mib = |bytes: u64| round(bytes as f64 / (1024.0 * 1024.0));
        let per_tenant =
            |cpu: Duration| round(cpu.as_secs_f64() * 1000.0 / f64::from(self.tenants));
        let readable = self.latencies.len();
        let seconds = self.span.as_secs_f64().max(1e-9);
        let services = self.provisioner.cpu + self.projector.cpu + self.bench.cpu;
        let stack: Duration = self.stack.0.iter().map(|(_, cpu)| *cpu).sum();
        let [commerce, provisioning] = self.event_records;
        let (statements, lower_bound) = match &self.statements {
            StatementCount::Counted {
                services,
                bench,
                lower_bound,
            } => (
                serde_json::json!({ "services": services, "bench_excluded": bench }),
                Some(*lower_bound),
            ),
            StatementCount::Unavailable(reason) => {
                (serde_json::json!({ "unavailable": reason }), None)
            }
        };
        serde_json::json!({
            "tenants": self.tenants,
            "products": self.products,
            "offered_rate_per_s": self.rate,
            "readable": readable,
            "failed": self.failed.len(),
            "span_s": round(seconds),
            "publish_span_s": round(self.publish_span.as_secs_f64()),
            "tenants_per_s": round(readable as f64 / seconds),
            "p50_ms": ms(0.50),
            "p95_ms": ms(0.95),
            "p99_ms": ms(0.99),
            "max_ms": ms(1.0),
            "cpu_ms_per_tenant": {
                "provisioner": per_tenant(self.provisioner.cpu),
                "projector": per_tenant(self.projector.cpu),
                "bench": per_tenant(self.bench.cpu),
            },
            "cpu_ms_per_tenant_total": per_tenant(services),
            "stack_cpu_ms_per_tenant": self
                .stack
                .0
                .iter()
                .map(|(name, cpu)| (name.clone(), serde_json::json!(per_tenant(*cpu))))
                .collect::<serde_json::Map<_, _>>(),
            "cpu_ms_per_tenant_with_stack": per_tenant(services + stack),
            "provisioner_peak_rss_mib": mib(self.provisioner.peak_rss),
            "projector_peak_rss_mib": mib(self.projector.peak_rss),
            "records_per_tenant": round(
                (commerce + provisioning) as f64 / (f64::from(self.tenants) + 1.0)
            ),
            "sql_statements_per_tenant": self.statements.per_tenant(self.tenants).map(round),
            "sql_statements_lower_bound": lower_bound,
            "sql_statements": statements,
            "sagas": self.sagas,
            "sagas_span_s": self.sagas_span.map(|d| round(d.as_secs_f64())),
            "warnings": self
                .warnings
                .iter()
                .map(|w| serde_json::json!({ "service": w.role, "count": w.count, "first": w.first }))
                .collect::<Vec<_>>(),
        })
    }
}

/// Three decimals: enough for milliseconds, short on a terminal.
fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The benchmark's own database on the server of `--database-url`.
pub(super) struct BenchDatabase {
    pub(super) name: String,
    pub(super) url: String,
    /// A connection to the server's `postgres` database, for CREATE/DROP.
    admin: sqlx::PgConnection,
}

impl BenchDatabase {
    pub(super) async fn create(database_url: &str, name: &str) -> anyhow::Result<Self> {
        if !database_url.starts_with("postgres://") && !database_url.starts_with("postgresql://") {
            bail!(
                "database_url: tenantry bench needs PostgreSQL (postgres://…), got another scheme"
            );
        }
        let options: sqlx::postgres::PgConnectOptions =
            with_database(database_url, "postgres")?.parse()?;
        // CREATE/DROP DATABASE wait for a checkpoint: not worth a slow-statement warning.
        let mut admin = sqlx::PgConnection::connect_with(&options.disable_statement_logging())
            .await
            .context("database_url: cannot connect to the PostgreSQL server")?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .with_context(|| format!("create database {name}"))?;
        tracing::info!(database = name, "Benchmark database created.");
        Ok(Self {
            name: name.to_owned(),
            url: with_database(database_url, name)?,
            admin,
        })
    }

    /// Drops the database (`WITH (FORCE)`: a connection left by a killed service does not block it).
    pub(super) async fn drop_database(mut self) -> anyhow::Result<()> {
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut self.admin)
        .await
        .with_context(|| format!("drop database {}", self.name))?;
        self.close().await
    }

    pub(super) async fn close(self) -> anyhow::Result<()> {
        Ok(self.admin.close().await?)
    }
}

/// `url` with its database (the path) replaced by `name`, keeping user, host
/// and query: `postgres://u@h:5432/tenantry?sslmode=disable` →
/// `postgres://u@h:5432/<name>?sslmode=disable`.
pub(super) fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    let (scheme, rest) = url
        .split_once("://")
        .context("database_url: expected scheme://host/database")?;
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (rest, None),
    };
    let authority = rest
        .split_once('/')
        .map_or(rest, |(authority, _)| authority);
    let query = query.map(|q| format!("?{q}")).unwrap_or_default();
    Ok(format!("{scheme}://{authority}/{name}{query}"))
}

#[cfg(test)]
mod json_tests {
    use super::*;

    fn report(statements: StatementCount) -> Report {
        let mut latencies = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for micros in [10_000, 20_000, 30_000, 40_000] {
            latencies.record(micros).unwrap();
        }
        let figures = |ms: u64, mib: u64| ServiceFigures {
            cpu: Duration::from_millis(ms),
            peak_rss: mib * 1024 * 1024,
        };
        Report {
            tenants: 4,
            products: 1,
            rate: None,
            latencies,
            failed: Vec::new(),
            publish_span: Duration::from_millis(10),
            span: Duration::from_secs(2),
            provisioner: figures(40, 24),
            projector: figures(8, 16),
            bench: figures(4, 0),
            stack: StackCpu(vec![("postgres".into(), Duration::from_millis(20))]),
            statements,
            sagas: 8,
            sagas_span: Some(Duration::from_millis(1500)),
            warnings: Vec::new(),
            event_records: [10, 5],
        }
    }

    #[test]
    fn figures_are_per_tenant_and_statements_exclude_the_bench() {
        let json = report(StatementCount::Counted {
            services: 90,
            bench: 30,
            lower_bound: false,
        })
        .json();
        assert_eq!(json["tenants_per_s"], 2.0);
        assert_eq!(json["cpu_ms_per_tenant"]["provisioner"], 10.0);
        assert_eq!(json["cpu_ms_per_tenant_total"], 13.0);
        assert_eq!(json["stack_cpu_ms_per_tenant"]["postgres"], 5.0);
        assert_eq!(json["cpu_ms_per_tenant_with_stack"], 18.0);
        assert_eq!(json["provisioner_peak_rss_mib"], 24.0);
        assert_eq!(json["records_per_tenant"], 3.0);
        assert_eq!(json["sql_statements_per_tenant"], 22.5);
        assert_eq!(json["sql_statements"]["bench_excluded"], 30);
        assert_eq!(json["sql_statements_lower_bound"], false);
    }

    #[test]
    fn no_statement_count_is_null_and_n_a() {
        let report = report(StatementCount::Unavailable("not loaded".into()));
        let json = report.json();
        assert!(json["sql_statements_per_tenant"].is_null());
        assert!(json["sql_statements_lower_bound"].is_null());
        assert_eq!(json["sql_statements"]["unavailable"], "not loaded");
        assert!(
            report
                .to_string()
                .contains("sql statements per tenant: n/a (not loaded)")
        );
    }
}
