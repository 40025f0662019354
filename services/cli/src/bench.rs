//! `tenantry bench` (issue #3): provisions N tenants through all seven steps
//! on the local stack and reports throughput, publish → context-readable
//! latency percentiles, and the provisioner's CPU seconds and peak RSS.
//!
//! Each run is isolated: fresh topics (`Topics::with_suffix`, left on the
//! broker afterwards — deleting topics on tansu 0.6.0 deletes all of them),
//! a fresh PostgreSQL database on the server of `--database-url` (dropped at
//! the end), and its own consumer groups. The provisioner and the projector
//! run as child processes of this executable, so the kernel accounts their
//! CPU time and memory separately (`/proc/<pid>/stat` utime + stime,
//! `/proc/<pid>/status` VmHWM).
//!
//! One warm-up tenant is provisioned first and excluded from the figures: it
//! proves both services joined their groups and warms their caches and pools.
//! Then the tenants are published open-loop at `--rate` (or all at once), and
//! one incremental query over `tenant_contexts` every [`POLL_EVERY`] finds the
//! contexts that became readable.

use crate::services::shutdown_on_signal;
use crate::settings::Settings;
use anyhow::{Context, bail};
use clap::Args;
use hdrhistogram::Histogram;
use sqlx::{ConnectOptions, Connection};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tenantry_kafka::{Producer, ensure_topics};
use tenantry_sagas::{ProductState, TenantContext, TenantStatus};
use tenantry_schemas::{
    AppKey, Codec, CommerceEvent, CommerceRecord, CountryCode, Edition, Envelope, ProductActivated,
    ProductKey, SiteName, TenantCreated, TenantId, Topics,
};
use tenantry_store::{ContextStore, Store};
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How often the context store is polled for newly readable tenants. Bounds
/// the measurement error of each latency from above (5 ms).
pub const POLL_EVERY: Duration = Duration::from_millis(5);

/// Rows updated this long before the newest one already seen are read again
/// at the next poll. The projector writes serially, so commit order follows
/// `updated_at`; the margin only absorbs millisecond ties and a second writer.
const POLL_OVERLAP_MS: i64 = 50;

/// How long the warm-up tenant may take: includes both group joins on tansu.
const WARM_UP_TIMEOUT: Duration = Duration::from_secs(90);

/// How long a service may take to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// Products activated per tenant, in order: `(key, edition, seats, apps)`.
const PRODUCTS: [(&str, &str, i32, &[&str]); 2] = [
    ("jira", "premium", 50, &["jira-slack"]),
    ("confluence", "standard", 50, &[]),
];

/// Countries the tenants are spread over, so placement uses several regions
/// and shards (`sagas/src/placement.rs`).
const COUNTRIES: [&str; 6] = ["DE", "US", "JP", "GB", "AU", "FR"];

/// `tenantry bench` arguments.
#[derive(Debug, Args)]
pub struct BenchArgs {
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
    /// Keep the benchmark database (its name is printed) instead of dropping it.
    #[arg(long)]
    pub keep_database: bool,
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
pub async fn run(settings: &Settings, args: BenchArgs) -> anyhow::Result<()> {
    let run_id = Uuid::new_v4().simple().to_string()[..12].to_owned();
    let suffix = format!("bench-{run_id}");
    let topics = Topics::with_suffix(&suffix);
    ensure_topics(&settings.kafka("bench"), &topics.with_partitions())
        .await
        .with_context(|| format!("bootstrap: cannot create topics on {}", settings.bootstrap))?;
    let database =
        BenchDatabase::create(&settings.database_url, &format!("tenantry_bench_{run_id}")).await?;
    let logs = tempfile::Builder::new()
        .prefix("tenantry-bench-")
        .tempdir()?;
    let env = ServiceEnv {
        settings,
        database_url: &database.url,
        suffix: &suffix,
    };
    let outcome = measure(&env, &topics, &args, &run_id, logs.path()).await;
    let dropped = if args.keep_database {
        println!("kept database {}", database.name);
        database.close().await
    } else {
        database.drop_database().await
    };
    match outcome {
        Ok(report) => {
            dropped?;
            println!("{report}");
            if !report.warnings.is_empty() {
                println!("  service logs kept in {}", logs.keep().display());
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

/// Warm-up, publish, poll; returns the figures.
async fn drive(
    settings: &Settings,
    topics: &Topics,
    args: &BenchArgs,
    run_id: &str,
    store: &Store,
    services: &mut [Service; 2],
    shutdown: &CancellationToken,
) -> anyhow::Result<Report> {
    let codec = settings.codec()?;
    let products = usize::from(args.products);
    let warm_up = encode_tenant(&codec, topics, &format!("w{run_id}"), 0, products).await?;
    let mut tenants = Vec::with_capacity(args.tenants as usize);
    for index in 0..args.tenants as usize {
        tenants.push(
            encode_tenant(
                &codec,
                topics,
                &format!("b{run_id}-{index}"),
                index,
                products,
            )
            .await?,
        );
    }
    let producer = Producer::new(&settings.kafka("bench"))?;

    tracing::info!(tenant_id = %warm_up.id, "Waiting for the warm-up tenant (group joins).");
    let warm_up_started = Instant::now();
    send_in_order(&producer, &topics.commerce, &warm_up).await?;
    let contexts = ContextStore::new(store.clone());
    loop {
        if let Some(context) = contexts.get(&warm_up.id).await? {
            match settled(&context, products) {
                Some(Ok(())) => break,
                Some(Err(reason)) => bail!("warm-up tenant {} failed: {reason}", warm_up.id),
                None => {}
            }
        }
        check(services, shutdown)?;
        if warm_up_started.elapsed() > WARM_UP_TIMEOUT {
            bail!(
                "warm-up tenant {} not readable within {WARM_UP_TIMEOUT:?}",
                warm_up.id
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tracing::info!(elapsed = ?warm_up_started.elapsed(), tenants = args.tenants, rate = ?args.rate, "Warm-up done; publishing.");

    let mut tracker = Tracker::new(&tenants, products);
    let before = [
        services[0].stats()?,
        services[1].stats()?,
        os::stats(std::process::id())?,
    ];
    let started = Instant::now();
    let started_ms = tenantry_store::now_ms();
    let schedule = args.rate.map_or(Duration::ZERO, |rate| {
        Duration::from_secs_f64(f64::from(args.tenants) / rate)
    });
    let deadline = started + schedule + Duration::from_secs(args.timeout);
    let mut publisher = tokio::spawn(publish(
        producer,
        topics.commerce.clone(),
        tenants,
        args.rate,
    ));
    let mut published = None;
    let mut ticker = tokio::time::interval(POLL_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while tracker.remaining > 0 {
        tokio::select! {
            // A failed publish ends the run at once instead of at the deadline.
            result = &mut publisher, if published.is_none() => {
                published = Some(result.context("publisher task")??);
            }
            _ = ticker.tick() => {
                tracker.poll(store).await?;
                check(services, shutdown)?;
                if Instant::now() > deadline {
                    bail!(
                        "{} of {} tenants not readable within {} s after the last publish \
                         (rerun with --keep-database and see `tenantry sagas show <tenant>`)",
                        tracker.remaining,
                        args.tenants,
                        args.timeout
                    );
                }
            }
        }
    }
    let finished = Instant::now();
    // Where the time went: when the provisioner finished its last saga
    // (saga store) against when the projector made the last context readable.
    let (sagas, last_saga_ms): (i64, Option<i64>) = sqlx::query_as(
        "SELECT COUNT(*), MAX(updated_at) FROM sagas WHERE status NOT IN ('running', 'compensating') AND created_at >= $1",
    )
    .bind(started_ms)
    .fetch_one(store.pool())
    .await
    .context("read the saga store")?;
    let after = [
        services[0].stats()?,
        services[1].stats()?,
        os::stats(std::process::id())?,
    ];
    let published = match published {
        Some(published) => published,
        None => publisher.await.context("publisher task")??,
    };
    Ok(Report {
        tenants: args.tenants,
        products: args.products,
        rate: args.rate,
        latencies: tracker.latencies(&published)?,
        failed: tracker.failed,
        publish_span: published.last().map_or(Duration::ZERO, |t| *t - started),
        span: tracker.last_readable.unwrap_or(finished) - started,
        provisioner: ServiceFigures::between(&before[0], &after[0]),
        projector: ServiceFigures::between(&before[1], &after[1]),
        bench: ServiceFigures::between(&before[2], &after[2]),
        warnings: Vec::new(),
        sagas: u64::try_from(sagas).unwrap_or(0),
        sagas_span: last_saga_ms
            .map(|ms| Duration::from_millis(u64::try_from(ms - started_ms).unwrap_or(0))),
    })
}

/// One tenant's commerce records, encoded before the clock starts.
struct EncodedTenant {
    id: TenantId,
    /// `tenant_created` (sequence 1), then one `product_activated` per product (2, 3).
    payloads: Vec<Vec<u8>>,
}

async fn encode_tenant(
    codec: &Codec,
    topics: &Topics,
    id: &str,
    index: usize,
    products: usize,
) -> anyhow::Result<EncodedTenant> {
    let tenant_id = TenantId::parse(id)?;
    let record = |sequence: i64, event: CommerceEvent| CommerceRecord {
        envelope: Envelope {
            event_id: Uuid::new_v4(),
            tenant_id: tenant_id.clone(),
            sequence,
            occurred_at_ms: tenantry_store::now_ms(),
            source: "tenantry-bench".into(),
            correlation_id: None,
            causation_id: None,
        },
        event,
    };
    let mut records = vec![record(
        1,
        CommerceEvent::TenantCreated(TenantCreated {
            site: SiteName::parse(&format!("s{id}"))?,
            owner_email: format!("owner@{id}.test"),
            country: CountryCode::parse(COUNTRIES[index % COUNTRIES.len()])?,
            residency_pin: None,
        }),
    )];
    for (sequence, (product, edition, seats, apps)) in (2..).zip(&PRODUCTS[..products]) {
        records.push(record(
            sequence,
            CommerceEvent::ProductActivated(ProductActivated {
                product: ProductKey::parse(product)?,
                edition: Edition::parse(edition)?,
                seats: *seats,
                apps: apps
                    .iter()
                    .map(|a| AppKey::parse(a))
                    .collect::<Result<_, _>>()?,
            }),
        ));
    }
    let mut payloads = Vec::with_capacity(records.len());
    for record in &records {
        record.validate()?;
        payloads.push(codec.encode_commerce(&topics.commerce, record).await?);
    }
    Ok(EncodedTenant {
        id: tenant_id,
        payloads,
    })
}

/// Sends a tenant's records; all are enqueued before the first
/// acknowledgement is awaited (`join_all` polls in order), and the idempotent
/// producer keeps that order within the tenant's partition.
async fn send_in_order(
    producer: &Producer,
    topic: &str,
    tenant: &EncodedTenant,
) -> anyhow::Result<()> {
    let sends = tenant
        .payloads
        .iter()
        .map(|payload| producer.send(topic, tenant.id.as_str(), payload, &[]));
    for result in futures::future::join_all(sends).await {
        result.with_context(|| format!("publish tenant {}", tenant.id))?;
    }
    Ok(())
}

/// Publishes every tenant, the i-th at `i / rate` seconds (open loop: a slow
/// provisioner does not slow the offered load), or all at once without a
/// rate. Returns each tenant's publish instant (before its first record is
/// enqueued), once every record is acknowledged.
async fn publish(
    producer: Producer,
    topic: String,
    tenants: Vec<EncodedTenant>,
    rate: Option<f64>,
) -> anyhow::Result<Vec<Instant>> {
    let start = tokio::time::Instant::now();
    let mut published = Vec::with_capacity(tenants.len());
    let mut sends = Vec::with_capacity(tenants.len());
    for (index, tenant) in tenants.into_iter().enumerate() {
        if let Some(rate) = rate {
            tokio::time::sleep_until(start + Duration::from_secs_f64(index as f64 / rate)).await;
        }
        published.push(Instant::now());
        let (producer, topic) = (producer.clone(), topic.clone());
        sends.push(tokio::spawn(async move {
            send_in_order(&producer, &topic, &tenant).await
        }));
    }
    for send in sends {
        send.await.context("publish task")??;
    }
    Ok(published)
}

/// `Some(Ok)` when the tenant saga and `products` product sagas completed,
/// `Some(Err(reason))` when one of them failed, `None` while in progress.
fn settled(context: &TenantContext, products: usize) -> Option<Result<(), String>> {
    let failure = || {
        context
            .last_failure
            .clone()
            .unwrap_or_else(|| "saga failed".into())
    };
    if context.status == TenantStatus::Failed
        || context
            .products
            .values()
            .any(|p| p.state == ProductState::Failed)
    {
        return Some(Err(failure()));
    }
    let active = context
        .products
        .values()
        .filter(|p| p.state == ProductState::Active)
        .count();
    (context.status == TenantStatus::Active && active >= products).then_some(Ok(()))
}

/// Which tenants are readable, found by incremental polls of `tenant_contexts`.
struct Tracker {
    products: usize,
    index: HashMap<String, usize>,
    /// Revision last parsed per tenant: a row is parsed only when it changed.
    revisions: Vec<i64>,
    readable: Vec<Option<Instant>>,
    done: Vec<bool>,
    remaining: usize,
    failed: Vec<(String, String)>,
    last_readable: Option<Instant>,
    /// Newest `updated_at` seen (Unix ms).
    newest_ms: i64,
}

impl Tracker {
    fn new(tenants: &[EncodedTenant], products: usize) -> Self {
        Self {
            products,
            index: tenants
                .iter()
                .enumerate()
                .map(|(i, t)| (t.id.as_str().to_owned(), i))
                .collect(),
            revisions: vec![0; tenants.len()],
            readable: vec![None; tenants.len()],
            done: vec![false; tenants.len()],
            remaining: tenants.len(),
            failed: Vec::new(),
            last_readable: None,
            newest_ms: 0,
        }
    }

    /// One query for every context updated since the last poll (minus
    /// [`POLL_OVERLAP_MS`]); parses only rows whose revision changed.
    async fn poll(&mut self, store: &Store) -> anyhow::Result<()> {
        let rows: Vec<(String, i64, i64, String)> = sqlx::query_as(
            "SELECT tenant_id, revision, updated_at, context FROM tenant_contexts \
             WHERE updated_at >= $1",
        )
        .bind(self.newest_ms - POLL_OVERLAP_MS)
        .fetch_all(store.pool())
        .await
        .context("poll tenant_contexts")?;
        let now = Instant::now();
        for (tenant, revision, updated_at, context) in rows {
            self.newest_ms = self.newest_ms.max(updated_at);
            let Some(&i) = self.index.get(&tenant) else {
                continue; // the warm-up tenant
            };
            if self.done[i] || revision <= self.revisions[i] {
                continue;
            }
            self.revisions[i] = revision;
            let context: TenantContext = serde_json::from_str(&context)
                .with_context(|| format!("context of tenant {tenant} does not parse"))?;
            match settled(&context, self.products) {
                None => continue,
                Some(Ok(())) => {
                    self.readable[i] = Some(now);
                    self.last_readable = Some(now);
                }
                Some(Err(reason)) => self.failed.push((tenant, reason)),
            }
            self.done[i] = true;
            self.remaining -= 1;
        }
        Ok(())
    }

    /// Publish → readable latencies of the readable tenants, in microseconds.
    fn latencies(&self, published: &[Instant]) -> anyhow::Result<Histogram<u64>> {
        // 1 µs to 1 h at 3 significant digits.
        let mut histogram = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)?;
        for (readable, published) in self.readable.iter().zip(published) {
            if let Some(readable) = readable {
                let micros = readable.saturating_duration_since(*published).as_micros();
                histogram.saturating_record(u64::try_from(micros).unwrap_or(u64::MAX).max(1));
            }
        }
        Ok(histogram)
    }
}

/// What the child services need besides this process's settings.
struct ServiceEnv<'a> {
    settings: &'a Settings,
    database_url: &'a str,
    suffix: &'a str,
}

/// A service running as a child process of this executable.
struct Service {
    role: &'static str,
    child: Child,
    pid: u32,
    log: PathBuf,
    exited: Option<ExitStatus>,
}

impl Service {
    /// Starts `tenantry <role>` with this run's settings, database, topic
    /// suffix and group prefix. Its stderr
    /// (the service log) goes to `<logs>/<role>.log`.
    fn spawn(role: &'static str, env: &ServiceEnv<'_>, logs: &Path) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("path of the tenantry executable")?;
        let log = logs.join(format!("{role}.log"));
        let mut command = Command::new(&exe);
        // The environment is inherited (TENANTRY_* variables reach the
        // services as they reach this process); what this run must decide,
        // and every flag given to `tenantry bench`, is set explicitly.
        let settings = env.settings;
        command
            .arg(role)
            .env("TENANTRY_BOOTSTRAP", &settings.bootstrap)
            .env("TENANTRY_DATABASE_URL", env.database_url)
            .env("TENANTRY_CONTEXT_DATABASE_URL", env.database_url)
            .env("TENANTRY_TOPIC_SUFFIX", env.suffix)
            .env("TENANTRY_GROUP_PREFIX", env.suffix)
            .env("TENANTRY_SITE_DOMAIN", &settings.site_domain)
            .env(
                "TENANTRY_SHARD_CAPACITY",
                settings.shard_capacity.to_string(),
            )
            .env("TENANTRY_WORKERS", settings.workers.to_string());
        match &settings.schema_registry_url {
            Some(url) => command.env("TENANTRY_SCHEMA_REGISTRY_URL", url),
            None => command.env_remove("TENANTRY_SCHEMA_REGISTRY_URL"),
        };
        match &settings.log {
            Some(filter) => command.env("TENANTRY_LOG", filter),
            None => command.env_remove("TENANTRY_LOG"),
        };
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("start {} {role}", exe.display()))?;
        let pid = child.id().context("child pid")?;
        tracing::info!(service = role, pid, log = %log.display(), "Service started.");
        Ok(Self {
            role,
            child,
            pid,
            log,
            exited: None,
        })
    }

    /// Fails when the service has exited.
    fn check(&mut self) -> anyhow::Result<()> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait()?;
        }
        match self.exited {
            Some(status) => bail!(
                "{} exited early ({status}); its log: {}",
                self.role,
                self.log.display()
            ),
            None => Ok(()),
        }
    }

    /// CPU time and peak RSS so far.
    fn stats(&mut self) -> anyhow::Result<ProcStats> {
        self.check()?;
        os::stats(self.pid).with_context(|| format!("read /proc of the {}", self.role))
    }

    /// SIGTERM, then SIGKILL after [`STOP_TIMEOUT`].
    async fn stop(&mut self) -> anyhow::Result<()> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait()?;
        }
        if self.exited.is_some() {
            return Ok(());
        }
        os::terminate(self.pid)?;
        match tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await {
            Ok(status) => {
                self.exited = Some(status?);
                Ok(())
            }
            Err(_) => {
                self.child.kill().await?;
                bail!("{} ignored SIGTERM for {STOP_TIMEOUT:?}; killed", self.role)
            }
        }
    }
}

/// Fails when Ctrl-C was pressed or a service exited.
fn check(services: &mut [Service], shutdown: &CancellationToken) -> anyhow::Result<()> {
    if shutdown.is_cancelled() {
        bail!("interrupted");
    }
    services.iter_mut().try_for_each(Service::check)
}

/// A process's accounting from /proc.
#[derive(Debug, Clone, Copy)]
struct ProcStats {
    /// utime + stime.
    cpu: Duration,
    /// VmHWM, bytes.
    peak_rss: u64,
}

#[cfg(target_os = "linux")]
mod os {
    use super::ProcStats;
    use std::time::Duration;

    /// utime + stime (`/proc/<pid>/stat`, clock ticks) and VmHWM (`/proc/<pid>/status`, kB).
    pub(super) fn stats(pid: u32) -> anyhow::Result<ProcStats> {
        let process = procfs::process::Process::new(i32::try_from(pid)?)?;
        let stat = process.stat()?;
        let ticks = (stat.utime + stat.stime) as f64;
        Ok(ProcStats {
            cpu: Duration::from_secs_f64(ticks / procfs::ticks_per_second() as f64),
            peak_rss: process.status()?.vmhwm.unwrap_or(0) * 1024,
        })
    }

    pub(super) fn terminate(pid: u32) -> anyhow::Result<()> {
        let pid = rustix::process::Pid::from_raw(i32::try_from(pid)?)
            .ok_or_else(|| anyhow::anyhow!("pid 0"))?;
        rustix::process::kill_process(pid, rustix::process::Signal::TERM)?;
        Ok(())
    }
}

#[cfg(not(target_os = "linux"))]
mod os {
    use super::ProcStats;

    pub(super) fn stats(_pid: u32) -> anyhow::Result<ProcStats> {
        anyhow::bail!("tenantry bench reads /proc and runs on Linux only")
    }

    pub(super) fn terminate(_pid: u32) -> anyhow::Result<()> {
        anyhow::bail!("tenantry bench runs on Linux only")
    }
}

/// One service's figures over the measured window.
#[derive(Debug, Clone, Copy)]
struct ServiceFigures {
    cpu: Duration,
    peak_rss: u64,
}

impl ServiceFigures {
    fn between(before: &ProcStats, after: &ProcStats) -> Self {
        Self {
            cpu: after.cpu.saturating_sub(before.cpu),
            peak_rss: after.peak_rss,
        }
    }
}

/// The figures of one run.
struct Report {
    tenants: u32,
    products: u8,
    rate: Option<f64>,
    latencies: Histogram<u64>,
    failed: Vec<(String, String)>,
    /// First publish → last publish.
    publish_span: Duration,
    /// First publish → last tenant readable.
    span: Duration,
    provisioner: ServiceFigures,
    projector: ServiceFigures,
    /// This process: the load generator and the poller, which share the cores.
    bench: ServiceFigures,
    /// Sagas that ended during the run.
    sagas: u64,
    /// First publish → last saga ended (provisioner done).
    sagas_span: Option<Duration>,
    /// Services that logged warnings or errors during the run.
    warnings: Vec<LogWarnings>,
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

/// The benchmark's own database on the server of `--database-url`.
struct BenchDatabase {
    name: String,
    url: String,
    /// A connection to the server's `postgres` database, for CREATE/DROP.
    admin: sqlx::PgConnection,
}

impl BenchDatabase {
    async fn create(database_url: &str, name: &str) -> anyhow::Result<Self> {
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
    async fn drop_database(mut self) -> anyhow::Result<()> {
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut self.admin)
        .await
        .with_context(|| format!("drop database {}", self.name))?;
        self.close().await
    }

    async fn close(self) -> anyhow::Result<()> {
        Ok(self.admin.close().await?)
    }
}

/// `url` with its database (the path) replaced by `name`, keeping user, host
/// and query: `postgres://u@h:5432/tenantry?sslmode=disable` →
/// `postgres://u@h:5432/<name>?sslmode=disable`.
fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
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
mod tests {
    use super::*;

    #[test]
    fn database_is_replaced_and_the_rest_kept() {
        let cases = [
            (
                "postgres://postgres@127.0.0.1:5432/tenantry",
                "postgres://postgres@127.0.0.1:5432/b",
            ),
            (
                "postgres://u:p@h/db?sslmode=disable",
                "postgres://u:p@h/b?sslmode=disable",
            ),
            ("postgres://h:5432", "postgres://h:5432/b"),
            ("postgresql://h?x=1", "postgresql://h/b?x=1"),
        ];
        for (url, expected) in cases {
            assert_eq!(with_database(url, "b").unwrap(), expected, "{url}");
        }
        assert!(with_database("nonsense", "b").is_err());
    }

    #[test]
    fn colour_sequences_are_stripped() {
        assert_eq!(
            strip_ansi("\u{1b}[2m2026\u{1b}[0m \u{1b}[33m WARN\u{1b}[0m librdkafka: x"),
            "2026  WARN librdkafka: x"
        );
        assert_eq!(strip_ansi("plain"), "plain");
    }

    #[test]
    fn rate_must_be_positive_and_finite() {
        assert_eq!(parse_rate("200"), Ok(200.0));
        assert_eq!(parse_rate("0.5"), Ok(0.5));
        for bad in ["0", "-1", "inf", "NaN", "fast"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }

    fn product(state: ProductState) -> tenantry_sagas::ProductContext {
        tenantry_sagas::ProductContext {
            state,
            licence: None,
            shard: None,
            database: None,
            installed_apps: Vec::new(),
            provisioned_sequence: 0,
            suspended: false,
            failed: None,
        }
    }

    #[test]
    fn a_tenant_is_settled_when_its_sagas_ended() {
        let mut context = TenantContext::empty(TenantId::parse("t1").unwrap());
        context.status = TenantStatus::Provisioning;
        assert_eq!(settled(&context, 1), None);
        context.status = TenantStatus::Active;
        assert_eq!(settled(&context, 1), None, "no product yet");
        let jira = tenantry_schemas::ProductKey::parse("jira").unwrap();
        context
            .products
            .insert(jira.clone(), product(ProductState::Provisioning));
        assert_eq!(settled(&context, 1), None, "product not active yet");
        context
            .products
            .insert(jira.clone(), product(ProductState::Active));
        assert_eq!(settled(&context, 1), Some(Ok(())));
        assert_eq!(settled(&context, 2), None, "second product missing");
        context.products.insert(jira, product(ProductState::Failed));
        context.last_failure = Some("no shard".into());
        assert_eq!(settled(&context, 1), Some(Err("no shard".into())));
    }
}
