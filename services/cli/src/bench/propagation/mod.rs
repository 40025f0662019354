//! `tenantry bench propagation`: the time from the projector's write of a
//! tenant's new context to every context API instance serving it.
//!
//! The run is isolated: a fresh topic suffix (`Topics::with_suffix`, which
//! also names the consumer groups), a fresh context store — a SQLite file
//! in a temporary directory by default, or with `--store postgres` a fresh
//! database on the server of `--context-database-url` — and the services as
//! child processes of this executable: one `tenantry projector` and
//! `--instances` `tenantry context-sidecar`s (memory only, each on a free
//! loopback port, unauthenticated). Topics, database and directory are
//! removed at the end, failed or not (`--keep-logs` keeps the directory
//! with the service logs).
//!
//! Once every sidecar's `/readyz` answers `200` (it has read the changelog,
//! which the projector creates on start, to its end), one warm-up tenant is
//! published and waited for on every instance: it proves the projector has
//! joined its group. Then `--versions` tenant-state records go round
//! `--tenants` tenants, open loop at `--rate` records/s, each the tenant's
//! next version (commerce and provisioning sequence 1, 2, …). Right before
//! a record is handed to the producer, one long-poll per instance is
//! opened for it (`GET /v1/tenants/{id}/context?min_sequence=<its
//! sequence>&wait_ms=10000`): the instance answers as soon as it has the
//! version, and the arrival of that answer is the instant it served it.
//!
//! The bench reads the changelog itself (a [`tenantry_kafka::Tail`] like
//! the sidecars') to learn each version's record timestamp: set by the
//! projector's producer when it enqueued the record, right after its store
//! write. A record's latency on an instance is its answer's arrival minus
//! the timestamp of the first changelog version that reflects its sequence
//! (the projector folds a tenant's records of one batch into one version);
//! the goal's figure is, per record, the latest instance's — "every API
//! instance serves it" — and its p99 is held to [`report::GOAL_P99_MS`].
//! Publish → served (end to end), publish → changelog (the projector) and
//! changelog → the bench's own reader (Kafka alone) are reported beside it,
//! so a miss can be placed.
//!
//! `--samples <file>` writes the raw instants, one CSV line per record.
//!
//! Precision: all instants are wall-clock (`SystemTime`) on one machine;
//! record timestamps are whole milliseconds, so changelog-based figures
//! read up to 1 ms high. A long-poll that timed out (or any other answer)
//! fails the run after the report.

mod load;
pub mod report;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use tenantry_kafka::{Producer, delete_topics, ensure_topics};
use tenantry_schemas::Topics;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::processes::{Service, ServiceEnv};
use super::report::BenchDatabase;
use crate::services::shutdown_on_signal;
use crate::settings::Settings;
use load::{Follower, Instances};
use report::{PropagationReport, Tally};

/// How long the sidecars may take to be ready (the projector creates the
/// changelog topic first).
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the warm-up tenant may take: includes the projector's group join.
const WARM_UP_TIMEOUT: Duration = Duration::from_secs(90);

/// How long the bench's changelog reader may take, after the last
/// long-poll ended, to have read every version the instances served.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Environment variables that would turn on the API's authentication in a
/// sidecar; the bench calls it without tokens.
const AUTH_VARIABLES: [&str; 4] = [
    "TENANTRY_API_JWT_SECRET",
    "TENANTRY_API_JWKS_FILES",
    "TENANTRY_API_JWKS_URL",
    "TENANTRY_API_ALLOW",
];

/// `tenantry bench propagation` arguments.
#[derive(Debug, Clone, Args)]
pub struct PropagationArgs {
    /// Context API instances (`tenantry context-sidecar`) that must each serve every version.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=32))]
    pub instances: u16,
    /// Tenants the versions go round.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub tenants: u32,
    /// Tenant-state records published, each a new version of its tenant.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub versions: u32,
    /// Offered load in records per second (open loop).
    #[arg(long, default_value_t = 200.0, value_parser = parse_rate)]
    pub rate: f64,
    /// The projector's context store: `sqlite` (a file in a temporary
    /// directory) or `postgres` (a fresh database on the server of
    /// --context-database-url).
    #[arg(long, default_value = "sqlite", value_parser = ["sqlite", "postgres"])]
    pub store: String,
    /// Keep the directory of the service logs (its path is printed).
    #[arg(long)]
    pub keep_logs: bool,
    /// Also write one CSV line per record to this file: publish, changelog
    /// timestamp and arrival, each instance's answer (ms since the epoch).
    #[arg(long, value_name = "PATH")]
    pub samples: Option<std::path::PathBuf>,
    /// Print the figures as one JSON object on stdout, the human report on stderr.
    #[arg(long)]
    pub json: bool,
}

fn parse_rate(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err(format!(
            "must be a positive number of records per second, got {raw:?}"
        )),
    }
}

/// What every step of a run needs.
struct Run<'a> {
    settings: &'a Settings,
    args: &'a PropagationArgs,
    /// Names the database and the tenants (`cb-<run_id>-<n>`).
    run_id: String,
    /// Suffixed with `prop-<run_id>`, as are the consumer groups.
    topics: Topics,
    /// Ctrl-C or SIGTERM: the run stops and cleans up.
    shutdown: CancellationToken,
}

impl Run<'_> {
    fn suffix(&self) -> String {
        format!("prop-{}", self.run_id)
    }
}

/// Runs `tenantry bench propagation` and prints the report.
///
/// Errors: the local stack is unreachable, a service exits early or is not
/// ready in time, a publish fails, or a long-poll was not served (after
/// the report is printed).
pub async fn run(settings: &Settings, args: PropagationArgs) -> anyhow::Result<()> {
    let run_id = Uuid::new_v4().simple().to_string()[..12].to_owned();
    let run = Run {
        settings,
        args: &args,
        topics: Topics::with_suffix(&format!("prop-{run_id}")),
        run_id,
        // From the start, so that Ctrl-C at any point still cleans up.
        shutdown: shutdown_on_signal(),
    };
    let dir = tempfile::Builder::new()
        .prefix("tenantry-bench-propagation-")
        .tempdir()
        .context("temporary directory")?;
    let measured = isolated(&run, dir.path()).await;
    // The changelog is the projector's; it exists if the projector started.
    let names = [
        run.topics.provisioning.as_str(),
        run.topics.changelog.as_str(),
    ];
    let deleted = delete_topics(&settings.kafka("bench"), &names).await;
    if args.keep_logs {
        eprintln!("service logs kept in {}", dir.keep().display());
    }
    let report = measured?;
    deleted.context("delete the run's topics")?;
    if args.json {
        eprintln!("{report}");
        println!("{}", report.json());
    } else {
        println!("{report}");
    }
    let tally = &report.tally;
    if !tally.complete() {
        bail!(
            "{} long-poll(s) timed out and {} failed of {}; {} served version(s) had no changelog \
             record",
            tally.timed_out,
            tally.failed,
            tally.polls,
            tally.unmatched
        );
    }
    Ok(())
}

/// Creates the provisioning topic and the context store, measures, and
/// removes the store (also after a failure).
async fn isolated(run: &Run<'_>, dir: &Path) -> anyhow::Result<PropagationReport> {
    let (settings, topics) = (run.settings, &run.topics);
    let partitions = topics
        .with_partitions()
        .into_iter()
        .find(|(name, _)| *name == topics.provisioning)
        .map_or(3, |(_, partitions)| partitions);
    ensure_topics(
        &settings.kafka("bench"),
        &[(topics.provisioning.as_str(), partitions)],
    )
    .await
    .with_context(|| settings.at_bootstrap("cannot create topics"))?;
    if run.args.store == "postgres" {
        let database = BenchDatabase::create(
            settings.context_database_url(),
            &format!("tenantry_bench_prop_{}", run.run_id),
        )
        .await?;
        let measured = measure(run, &database.url, dir).await;
        let dropped = database.drop_database().await;
        let report = measured?;
        dropped?;
        Ok(report)
    } else {
        let url = format!("sqlite://{}", dir.join("contexts.db").display());
        measure(run, &url, dir).await
    }
}

/// Starts the projector and the sidecars, measures, and stops them
/// whatever happened.
async fn measure(run: &Run<'_>, store_url: &str, logs: &Path) -> anyhow::Result<PropagationReport> {
    let suffix = run.suffix();
    let env = ServiceEnv {
        settings: run.settings,
        database_url: store_url,
        suffix: &suffix,
    };
    let ports = free_ports(usize::from(run.args.instances))?;
    // The run's own SQL store, whatever TENANTRY_CONTEXT_STORE says.
    let projector = Service::spawn_with("projector", "projector", &env, logs, |command| {
        command.env("TENANTRY_CONTEXT_STORE", "sql");
    })?;
    let mut services = vec![projector];
    for (i, port) in ports.iter().enumerate() {
        let name = format!("context-sidecar-{}", i + 1);
        let sidecar = Service::spawn_with("context-sidecar", &name, &env, logs, |command| {
            command.env("TENANTRY_LISTEN", format!("127.0.0.1:{port}"));
            for variable in AUTH_VARIABLES {
                command.env_remove(variable);
            }
        })?;
        services.push(sidecar);
    }
    let measured = drive(run, &ports, &mut services).await;
    for service in &mut services {
        if let Err(error) = service.stop().await {
            tracing::warn!(service = service.role, error.message = %format!("{error:#}"),
                "Service did not stop cleanly.");
        }
    }
    let mut report = measured?;
    report.projector_warnings = super::LogWarnings::scan("projector", &services[0].log)?
        .map(|warnings| (warnings.count, warnings.first));
    Ok(report)
}

/// Waits for the services, warms up, publishes and long-polls, and
/// matches the answers to the changelog.
async fn drive(
    run: &Run<'_>,
    ports: &[u16],
    services: &mut [Service],
) -> anyhow::Result<PropagationReport> {
    let (args, shutdown) = (run.args, &run.shutdown);
    let kafka = run.settings.kafka("bench");
    let instances = Instances::new(ports)?;
    instances
        .wait_ready(READY_TIMEOUT, services, shutdown)
        .await?;
    let follower = Follower::start(&kafka, &run.topics.changelog).await?;
    let codec = run.settings.codec()?;
    let producer = Producer::new(&kafka)?;
    let topic = run.topics.provisioning.as_str();

    // The warm-up tenant is the one after the measured ones.
    let warm = load::planned(&codec, topic, &run.run_id, args.tenants, 1).await?;
    producer
        .send(topic, warm.tenant.as_str(), &warm.payload, &[])
        .await
        .with_context(|| format!("publish the warm-up record on {topic}"))?;
    instances
        .wait_served(&warm.tenant, 1, WARM_UP_TIMEOUT)
        .await
        .context("warm-up")?;
    // About the long-polls in flight at once per instance with 250 ms answers.
    let in_flight = ((args.rate * 0.25).ceil() as usize).clamp(8, 128);
    instances.warm_connections(in_flight).await?;

    let mut planned = Vec::with_capacity(args.versions as usize);
    for i in 0..args.versions {
        let sequence = i64::from(i / args.tenants) + 1;
        let tenant = i % args.tenants;
        planned.push(load::planned(&codec, topic, &run.run_id, tenant, sequence).await?);
    }
    let driven = load::drive(
        &producer, topic, &planned, args.rate, &instances, services, shutdown,
    )
    .await?;
    let changelog = follower.settle(&driven.published, SETTLE_TIMEOUT).await;
    let tally = Tally::of(&driven.published, &driven.polls, &changelog);
    if let Some(path) = &args.samples {
        let csv = report::samples_csv(&driven.published, &driven.polls, &changelog);
        std::fs::write(path, csv).with_context(|| format!("write {}", path.display()))?;
    }
    let span = driven.publishing.as_secs_f64();
    Ok(PropagationReport {
        instances: instances.len(),
        tenants: args.tenants,
        versions: driven.published.len(),
        rate: args.rate,
        achieved_rate: if span > 0.0 {
            (driven.published.len() - 1) as f64 / span
        } else {
            0.0
        },
        store: args.store.clone(),
        tally,
        changelog_records: changelog.records(),
        projector_warnings: None,
    })
}

/// `count` distinct free loopback ports: bound together to port 0 and
/// released, for the sidecars to bind a moment later (another process
/// could take one in between; the sidecar then fails to start, loudly).
fn free_ports(count: usize) -> anyhow::Result<Vec<u16>> {
    let listeners = (0..count)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .context("find a free port")?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}
