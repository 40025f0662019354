//! `tenantry bench kms`: how many AWS KMS calls the data-key cache of
//! `KmsKeyService` lets through, on the endpoint of `AWS_ENDPOINT_URL`
//! (the local stack's moto server).
//!
//! The service runs on a client this module builds with the production
//! settings (`KmsEndpoint::client`, `KmsSettings::default()` unless
//! `--max-seals` / `--max-age-ms` change the cache limits) plus an SDK
//! interceptor ([`calls::CallCounter`]) that counts every call by operation,
//! so what is counted is what KMS would bill, not what the service says.
//!
//! Phases, each counted on its own: create `--tenants` tenant keys; seal
//! `--seals` values round robin over the tenants, `--concurrency` at once;
//! open `--opens` of them; destroy the keys (clean-up). The goal (case K3)
//! is one `GenerateDataKey` per tenant per usage window of a data key
//! ([`report::usage_windows`]).

pub mod calls;
pub mod report;
#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use futures::{StreamExt, TryStreamExt, stream};
use hdrhistogram::Histogram;
use tenantry_keys::{CacheLimits, KeyService, KmsEndpoint, KmsKeyService, KmsSettings};
use tenantry_schemas::TenantId;
use uuid::Uuid;

use calls::CallCounter;
use report::{KmsReport, Phase};

/// `tenantry bench kms` arguments.
#[derive(Debug, Clone, Args)]
pub struct KmsArgs {
    /// Tenants, each with its own KMS key (`alias/tenantry/kb-<run>-<n>`).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub tenants: u32,
    /// Values sealed, round robin over the tenants.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub seals: u32,
    /// Sealed values opened afterwards (each open is one `Decrypt`; data
    /// keys are not cached for opening); 0: no open phase.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub opens: u32,
    /// Seals (and opens) in flight at once.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub concurrency: u32,
    /// Bytes of each sealed value (a product database credential is about 100).
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(0..=1_048_576))]
    pub value_bytes: u32,
    /// Seals one data key performs before it is retired (`CacheLimits::max_seals`);
    /// default the service's, 5,000,000.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_seals: Option<u64>,
    /// Milliseconds after which a data key is retired (`CacheLimits::ttl`);
    /// default the service's, 24 h.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_age_ms: Option<u64>,
    /// Print the figures as one JSON object on stdout, the human report on stderr.
    #[arg(long)]
    pub json: bool,
}

impl Default for KmsArgs {
    fn default() -> Self {
        Self {
            tenants: 50,
            seals: 10_000,
            opens: 1000,
            concurrency: 64,
            value_bytes: 256,
            max_seals: None,
            max_age_ms: None,
            json: false,
        }
    }
}

impl KmsArgs {
    /// The service's cache limits with the flags' overrides.
    pub fn limits(&self) -> CacheLimits {
        let default = CacheLimits::default();
        CacheLimits {
            max_seals: self.max_seals.unwrap_or(default.max_seals),
            ttl: self.max_age_ms.map_or(default.ttl, Duration::from_millis),
            ..default
        }
    }
}

/// Runs `tenantry bench kms` against `KmsEndpoint::from_env()` and prints the report.
///
/// Errors: AWS settings missing, KMS unreachable, or a count that does not add up.
pub async fn run(args: KmsArgs) -> anyhow::Result<()> {
    let endpoint = KmsEndpoint::from_env().map_err(|missing| {
        anyhow::anyhow!("bench kms needs the environment variable {}", missing.0)
    })?;
    let report = measure(&endpoint, &args).await?;
    if args.json {
        eprintln!("{report}");
        println!("{}", report.json());
    } else {
        println!("{report}");
    }
    Ok(())
}

/// Creates the keys, seals, opens, destroys the keys (also after a failure)
/// and returns the counted figures.
///
/// Errors: a KMS call failed for good, an opened value differs from the
/// sealed one, or the clean-up failed.
pub async fn measure(endpoint: &KmsEndpoint, args: &KmsArgs) -> anyhow::Result<KmsReport> {
    let settings = KmsSettings {
        cache: args.limits(),
        ..KmsSettings::default()
    };
    let counter = CallCounter::default();
    let client = counter.instrument(&endpoint.client(&settings.retry));
    let service = KmsKeyService::with_client(client, settings);
    let run_id = &Uuid::new_v4().simple().to_string()[..12];
    let tenants = (0..args.tenants)
        .map(|i| TenantId::parse(&format!("kb-{run_id}-{i}")))
        .collect::<Result<Vec<_>, _>>()?;
    let mut report = KmsReport::new(args, settings.cache);
    let measured = phases(&service, &counter, &tenants, args, &mut report).await;
    let before = counter.snapshot();
    let destroyed = stream::iter(&tenants)
        .map(|tenant| service.destroy_tenant_key(tenant))
        .buffer_unordered(args.concurrency as usize)
        .try_collect::<Vec<()>>()
        .await;
    report.cleanup = counter.snapshot().since(&before);
    measured?;
    destroyed.context("destroy the run's tenant keys")?;
    Ok(report)
}

/// Key creation, seals and opens, each counted into `report`.
async fn phases(
    service: &KmsKeyService,
    counter: &CallCounter,
    tenants: &[TenantId],
    args: &KmsArgs,
    report: &mut KmsReport,
) -> anyhow::Result<()> {
    let in_flight = args.concurrency as usize;
    let start = Instant::now();
    stream::iter(tenants)
        .map(|tenant| service.create_tenant_key(tenant))
        .buffer_unordered(in_flight)
        .try_collect::<Vec<()>>()
        .await
        .context("create the tenant keys")?;
    report.create = Phase::new(counter.snapshot(), start.elapsed(), None);

    // Values differ per seal only by their index; the content does not
    // change the cost (AES-256-GCM is length-bound).
    let value = |i: usize| {
        let mut value = format!("{i:08}").into_bytes();
        value.resize(args.value_bytes as usize, b'x');
        value
    };
    let before = counter.snapshot();
    let generated_before = service.generate_data_key_calls();
    let mut latencies = micros_histogram()?;
    let start = Instant::now();
    let mut sealed = stream::iter(0..args.seals as usize)
        .map(|i| {
            let tenant = i % tenants.len();
            let value = value(i);
            async move {
                let began = Instant::now();
                let sealed = service.seal(&tenants[tenant], &value).await;
                (i, tenant, began.elapsed(), sealed)
            }
        })
        .buffer_unordered(in_flight);
    // The first `--opens` seals are kept to be opened.
    let mut kept = Vec::with_capacity(args.opens.min(args.seals) as usize);
    while let Some((i, tenant, took, outcome)) = sealed.next().await {
        let outcome = outcome.with_context(|| format!("seal {i} for {}", tenants[tenant]))?;
        latencies.saturating_record(micros(took));
        report.sealed_bytes.get_or_insert(outcome.len());
        if i < args.opens as usize {
            kept.push((i, tenant, outcome));
        }
    }
    drop(sealed);
    report.seal = Phase::new(
        counter.snapshot().since(&before),
        start.elapsed(),
        Some(latencies),
    );
    report.service_generate_data_key_calls = service.generate_data_key_calls() - generated_before;

    if args.opens == 0 {
        return Ok(());
    }
    let before = counter.snapshot();
    let mut latencies = micros_histogram()?;
    let start = Instant::now();
    let mut opened = stream::iter(0..args.opens as usize)
        .map(|j| {
            let (i, tenant, sealed) = &kept[j % kept.len()];
            async move {
                let began = Instant::now();
                let opened = service.open(&tenants[*tenant], sealed).await;
                (*i, *tenant, began.elapsed(), opened)
            }
        })
        .buffer_unordered(in_flight);
    while let Some((i, tenant, took, outcome)) = opened.next().await {
        let plaintext = outcome.with_context(|| format!("open seal {i} of {}", tenants[tenant]))?;
        if plaintext != value(i) {
            bail!("seal {i} of {} opened to another value", tenants[tenant]);
        }
        latencies.saturating_record(micros(took));
    }
    drop(opened);
    report.open = Some(Phase::new(
        counter.snapshot().since(&before),
        start.elapsed(),
        Some(latencies),
    ));
    Ok(())
}

/// Latencies in microseconds, 1 µs to 1 hour, three significant digits.
fn micros_histogram() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, 3_600_000_000, 3)?)
}

fn micros(took: Duration) -> u64 {
    u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1)
}
