//! `tenantry bench`: provisions N tenants through all seven steps
//! on the local stack and reports throughput, publish → context-readable
//! latency percentiles, and the provisioner's CPU seconds and peak RSS.
//!
//! Each run is isolated: fresh topics (`Topics::with_suffix`) and a fresh
//! PostgreSQL database on the server of `--database-url`, both removed at the
//! end (`--keep-database` keeps both), and its own consumer groups. The
//! provisioner and the projector run as child processes of this executable, so the kernel accounts their
//! CPU time and memory separately (`/proc/<pid>/stat` utime + stime,
//! `/proc/<pid>/status` VmHWM).
//!
//! One warm-up tenant is provisioned first and excluded from the figures: it
//! proves both services joined their groups and warms their caches and pools.
//! Then the tenants are published open-loop at `--rate` (or all at once), and
//! one incremental query over `tenant_contexts` every [`POLL_EVERY`] finds the
//! contexts that became readable.
//!
//! Over the same window the run also counts the SQL statements PostgreSQL
//! executed for its database (`statements.rs`, `pg_stat_statements`).
//! `--json` prints the figures as one JSON object on stdout
//! (`Report::json`), the human report going to stderr.
//!
//! Three narrower measurements are subcommands: `bench kms` ([`kms`]: KMS
//! calls behind the data-key cache), `bench contexts` ([`contexts`]:
//! the context store on PostgreSQL beside DynamoDB) and `bench api`
//! ([`api`]: the context sidecar's requests/s and latency under `wrk`).
//! `bench propagation` ([`propagation`]) times a context version from the
//! projector's write to every context API instance serving it.

pub mod api;
pub mod contexts;
pub mod kms;
mod processes;
pub mod propagation;
mod report;
mod statements;
#[cfg(test)]
mod tests;
mod workload;

use crate::services::shutdown_on_signal;
use crate::settings::{Settings, flags};
use anyhow::Context;
use clap::{Args, Subcommand};
use processes::{Service, ServiceEnv};
use report::{BenchDatabase, Report};
use std::path::Path;
use std::time::Duration;
use tenantry_kafka::{delete_topics, ensure_topics};
use tenantry_schemas::Topics;
use tenantry_store::Store;
use uuid::Uuid;
use workload::drive;

/// How often the context store is polled for newly readable tenants. Bounds
/// the measurement error of each latency from above (5 ms).
pub const POLL_EVERY: Duration = Duration::from_millis(5);

/// Rows updated this long before the newest one already seen are read again
/// at the next poll. The projector writes serially, so commit order follows
/// `updated_at`; the margin only absorbs millisecond ties and a second writer.
const POLL_OVERLAP_MS: i64 = 50;

/// How long the warm-up tenant may take: includes both services' group joins.
const WARM_UP_TIMEOUT: Duration = Duration::from_secs(90);

/// How long a service may take to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// Products activated per tenant, in order: `(key, edition, seats, apps)`.
/// No apps: the bench measures the engine, not app callbacks (which need an
/// `--apps-config` and an app server).
const PRODUCTS: [(&str, &str, i32, &[&str]); 2] = [
    ("jira", "premium", 50, &[]),
    ("confluence", "standard", 50, &[]),
];

/// Countries the tenants are spread over, so placement uses several regions
/// and shards (`sagas/src/placement.rs`).
const COUNTRIES: [&str; 6] = ["DE", "US", "JP", "GB", "AU", "FR"];

/// `tenantry bench` arguments: the end-to-end benchmark's, or a subcommand.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchArgs {
    /// A narrower measurement instead of the end-to-end one.
    #[command(subcommand)]
    pub measure: Option<Measure>,
    /// Tenants to provision and measure (one more warm-up tenant is not counted).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub tenants: u32,
    /// Offered load in tenants per second (open loop); default: unlimited, every tenant at once.
    #[arg(long, value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// Products activated per tenant: 1 (jira) or 2 (jira, confluence).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2))]
    pub products: u8,
    /// Seconds to wait, after the last tenant is published, for every context to be readable.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
    /// Keep the benchmark database (its name is printed) and the run's topics
    /// instead of removing them, to look at afterwards.
    #[arg(long)]
    pub keep_database: bool,
    /// Keep the provisioner's and projector's logs (their directory is
    /// printed); they are kept anyway when the run fails or warns.
    #[arg(long)]
    pub keep_logs: bool,
    /// Print the figures as one JSON object on stdout; the human report and
    /// every other line go to stderr.
    #[arg(long)]
    pub json: bool,
    /// What the provisioner and projector of the run are started with.
    #[command(flatten)]
    pub flags: flags::Bench,
}

/// `tenantry bench <measurement>`.
#[derive(Debug, Subcommand)]
pub enum Measure {
    /// KMS calls per seal behind the data-key cache (tenant keys on the
    /// AWS_ENDPOINT_URL emulator), seals/s and opens/s.
    Kms(kms::KmsArgs),
    /// Context store writes/s and reads/s, PostgreSQL (--context-database-url's
    /// server) beside DynamoDB (the AWS_ENDPOINT_URL emulator).
    Contexts {
        #[allow(missing_docs)]
        #[command(flatten)]
        args: contexts::ContextsArgs,
        #[allow(missing_docs)]
        #[command(flatten)]
        flags: flags::BenchContexts,
    },
    /// Context API requests/s and latency under wrk: a context-sidecar
    /// serving --tenants synthetic contexts from its cache (a fresh
    /// changelog topic), every request with a verified bearer token.
    Api {
        #[allow(missing_docs)]
        #[command(flatten)]
        args: api::ApiArgs,
        #[allow(missing_docs)]
        #[command(flatten)]
        flags: Box<flags::BenchApi>,
    },
    /// Projector write → served by every context API instance: a projector
    /// and --instances context-sidecars on a fresh topic suffix, one
    /// long-poll (min_sequence) per instance for each version published.
    Propagation {
        #[allow(missing_docs)]
        #[command(flatten)]
        args: propagation::PropagationArgs,
        #[allow(missing_docs)]
        #[command(flatten)]
        flags: Box<flags::BenchPropagation>,
    },
}

fn parse_rate(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err(format!(
            "must be a positive number of tenants per second, got {raw:?}"
        )),
    }
}

/// Runs `tenantry bench`: creates the topics and database, runs the services,
/// measures, prints the report, and stops and cleans up in every case.
///
/// Errors: the local stack is unreachable, `--database-url` is not PostgreSQL,
/// a service exits early, a publish fails, or tenants are not readable in time.
/// `bench kms`, `bench contexts` and `bench api` run [`kms::run`],
/// [`contexts::run`] and [`api::run`] instead.
pub async fn run(mut args: BenchArgs, log: Option<&str>) -> anyhow::Result<()> {
    match args.measure.take() {
        Some(Measure::Kms(args)) => return kms::run(args).await,
        Some(Measure::Contexts { args, flags }) => {
            let settings = Settings::of(flags, log);
            return contexts::run(settings.context_database_url(), args).await;
        }
        Some(Measure::Api { args, flags }) => {
            return api::run(&Settings::of(*flags, log), args).await;
        }
        Some(Measure::Propagation { args, flags }) => {
            return propagation::run(&Settings::of(*flags, log), args).await;
        }
        None => {}
    }
    let settings = &Settings::of(args.flags.clone(), log);
    let run_id = Uuid::new_v4().simple().to_string()[..12].to_owned();
    let suffix = format!("bench-{run_id}");
    let topics = Topics::with_suffix(&suffix);
    ensure_topics(&settings.kafka("bench"), &topics.with_partitions())
        .await
        .with_context(|| settings.at_bootstrap("cannot create topics"))?;
    let database = BenchDatabase::create(
        &settings.store.database_url,
        &format!("tenantry_bench_{run_id}"),
    )
    .await?;
    let logs = tempfile::Builder::new()
        .prefix("tenantry-bench-")
        .tempdir()?;
    let env = ServiceEnv {
        settings,
        database_url: &database.url,
        suffix: &suffix,
    };
    let args_keep_logs = args.keep_logs;
    let json = args.json;
    // With --json, stdout carries the JSON object and nothing else.
    let say = |line: String| {
        if json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    let outcome = measure(&env, &topics, &args, &run_id, logs.path()).await;
    let dropped = if args.keep_database {
        say(format!("kept database {}", database.name));
        database.close().await
    } else {
        // The changelog is not among `with_partitions` (the projector
        // creates it, compacted); it is the run's too.
        let names: Vec<&str> = topics
            .with_partitions()
            .iter()
            .map(|(name, _)| *name)
            .chain([topics.changelog.as_str()])
            .collect();
        if let Err(error) = delete_topics(&settings.kafka("bench"), &names).await {
            eprintln!("topics of the run not deleted: {error}");
        }
        database.drop_database().await
    };
    match outcome {
        Ok(report) => {
            dropped?;
            say(report.to_string());
            if !report.warnings.is_empty() || args_keep_logs {
                say(format!("  service logs kept in {}", logs.keep().display()));
            }
            if json {
                println!("{}", report.json());
            }
            Ok(())
        }
        Err(error) => {
            let kept = logs.keep();
            eprintln!("service logs kept in {}", kept.display());
            if let Err(drop_error) = dropped {
                eprintln!("also: {drop_error:#}");
            }
            Err(error)
        }
    }
}

/// Starts the services, measures, and stops them whatever happened.
async fn measure(
    env: &ServiceEnv<'_>,
    topics: &Topics,
    args: &BenchArgs,
    run_id: &str,
    logs: &Path,
) -> anyhow::Result<Report> {
    let store = Store::connect(env.database_url, 2).await?;
    // Measurement only, in this run's own database: without it every poll
    // is a sequential scan of tenant_contexts (≈1 ms at 1,000 tenants, 200
    // polls/s — a fifth of a core taken from the services being measured).
    // It costs the projector's updates their HOT path, so figures err low.
    sqlx::query(
        "CREATE INDEX IF NOT EXISTS bench_tenant_contexts_updated_at \
         ON tenant_contexts (updated_at)",
    )
    .execute(store.pool())
    .await
    .context("create the poll index")?;
    let mut services = [
        Service::spawn("provisioner", env, logs)?,
        Service::spawn("projector", env, logs)?,
    ];
    let shutdown = shutdown_on_signal();
    let measured = drive(
        env.settings,
        topics,
        args,
        run_id,
        &store,
        &mut services,
        &shutdown,
    )
    .await;
    for service in &mut services {
        if let Err(error) = service.stop().await {
            tracing::warn!(service = service.role, error.message = %format!("{error:#}"), "Service did not stop cleanly.");
        }
    }
    store.pool().close().await;
    let mut report = measured?;
    for service in &services {
        if let Some(warnings) = LogWarnings::scan(service.role, &service.log)? {
            report.warnings.push(warnings);
        }
    }
    Ok(report)
}

/// WARN and ERROR lines of a service log: a broker stall or a retried
/// database error during the run makes its figures suspect, so say so.
#[derive(Debug)]
struct LogWarnings {
    role: &'static str,
    count: usize,
    first: String,
}

impl LogWarnings {
    fn scan(role: &'static str, log: &Path) -> anyhow::Result<Option<Self>> {
        let text =
            std::fs::read_to_string(log).with_context(|| format!("read {}", log.display()))?;
        let mut lines = text
            .lines()
            .map(strip_ansi)
            .filter(|line| line.contains(" WARN ") || line.contains(" ERROR "));
        let Some(first) = lines.next() else {
            return Ok(None);
        };
        Ok(Some(Self {
            role,
            count: 1 + lines.count(),
            first,
        }))
    }
}

/// `line` without ANSI colour sequences (`ESC [ … m`), as tracing writes them.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
