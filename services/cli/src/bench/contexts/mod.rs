//! `tenantry bench contexts`: the tenant context store on PostgreSQL
//! (`tenantry_store::ContextStore`) beside the one on DynamoDB
//! (`tenantry_dynamodb::DynamoContexts`, on the endpoint of
//! `AWS_ENDPOINT_URL`: the local stack's moto server), through the port
//! both implement ([`TenantContexts`]), with the same contexts in the same
//! order.
//!
//! Each run uses a fresh PostgreSQL database (`tenantry_bench_ctx_<run>` on
//! the server of `--context-database-url`) and a fresh DynamoDB table
//! (`tenantry-bench-<run>`), both removed at the end, failed or not.
//!
//! Phases, each run on one store then the other before the next phase:
//!
//! - insert, then update: the projector's access pattern (`apply_batch` in
//!   `services/projector/src/apply.rs`): per batch of `--batch` tenants one
//!   `get_many` and one `put_many_if` at the revisions read;
//! - get by tenant, then by host: what the context API does per request
//!   (`get`, `get_by_host`), `--concurrency` requests in flight.

pub mod report;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use futures::{StreamExt, TryStreamExt, stream};
use hdrhistogram::Histogram;
use tenantry_dynamodb::{DynamoConfig, DynamoContexts};
use tenantry_sagas::{
    ContextVersion, ProductContext, ProductState, TenantContext, TenantContexts, TenantStatus,
};
use tenantry_schemas::{AppKey, Edition, Licence, ProductKey, Region, TenantId};
use tenantry_store::{ContextStore, Store};
use uuid::Uuid;

use super::report::BenchDatabase;
use report::{ContextsReport, Op, OpFigures};

/// `tenantry bench contexts` arguments.
#[derive(Debug, Clone, Args)]
pub struct ContextsArgs {
    /// Contexts written and read, one per tenant.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub contexts: u32,
    /// Tenants per write batch (one `get_many` and one `put_many_if`). The
    /// projector's batches hold 1–2 records at a light load and up to 500
    /// records (`BATCH_MAX`) when it catches up.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub batch: u32,
    /// Write batches in flight at once; 1, as one projector writes.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub write_concurrency: u32,
    /// Reads in flight at once, as concurrent context API requests.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub concurrency: u32,
    /// Print the figures as one JSON object on stdout, the human report on stderr.
    #[arg(long)]
    pub json: bool,
}

impl Default for ContextsArgs {
    fn default() -> Self {
        Self {
            contexts: 500,
            batch: 100,
            write_concurrency: 1,
            concurrency: 16,
            json: false,
        }
    }
}

/// Runs `tenantry bench contexts` and prints the report.
///
/// Errors: see [`measure`].
pub async fn run(context_database_url: &str, args: ContextsArgs) -> anyhow::Result<()> {
    let report = measure(context_database_url, &args).await?;
    if args.json {
        eprintln!("{report}");
        println!("{}", report.json());
    } else {
        println!("{report}");
    }
    Ok(())
}

/// Read-and-write rounds of one batch before the bench gives up on it
/// (the projector never gives up; a store that needs more is broken).
const WRITE_ROUNDS: usize = 8;

/// The stores under test, by name, in the order each phase visits them.
type Stores = Vec<(&'static str, Arc<dyn TenantContexts>)>;

/// Creates both stores, measures, removes both (also after a failure).
///
/// Errors: `database_url` is not PostgreSQL, a store is unreachable, AWS
/// settings are missing, an operation fails or reads what was not written.
pub async fn measure(database_url: &str, args: &ContextsArgs) -> anyhow::Result<ContextsReport> {
    let run_id = Uuid::new_v4().simple().to_string()[..12].to_owned();
    let contexts = (0..args.contexts)
        .map(|i| fixture(&run_id, i))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let database =
        BenchDatabase::create(database_url, &format!("tenantry_bench_ctx_{run_id}")).await?;
    let pool = args.concurrency.max(args.write_concurrency) + 1;
    let postgres = match Store::connect(&database.url, pool).await {
        Ok(store) => store,
        Err(error) => {
            database.drop_database().await?;
            return Err(error).context("connect to the benchmark database");
        }
    };
    let table = format!("tenantry-bench-{run_id}");
    let dynamo = open_table(&table).await;
    let measured = match &dynamo {
        Ok(dynamo) => {
            let stores: Stores = vec![
                (
                    "PostgreSQL",
                    Arc::new(ContextStore::new(postgres.clone())) as Arc<dyn TenantContexts>,
                ),
                ("DynamoDB", Arc::clone(dynamo) as Arc<dyn TenantContexts>),
            ];
            let mut report = ContextsReport::new(args, &contexts, &database.name, &table);
            phases(&stores, &contexts, args, &mut report)
                .await
                .map(|()| report)
        }
        Err(error) => Err(anyhow::anyhow!("{error:#}")),
    };
    postgres.pool().close().await;
    let dropped = database.drop_database().await;
    let deleted = match &dynamo {
        Ok(dynamo) => dynamo
            .delete_table()
            .await
            .with_context(|| format!("delete DynamoDB table {}", dynamo.table())),
        Err(_) => Ok(()),
    };
    let report = measured?;
    dropped?;
    deleted?;
    Ok(report)
}

/// The DynamoDB store on a new table `table`.
async fn open_table(table: &str) -> anyhow::Result<Arc<DynamoContexts>> {
    let config = DynamoConfig::from_env(table).map_err(|missing| {
        anyhow::anyhow!(
            "bench contexts needs the environment variable {}",
            missing.0
        )
    })?;
    let store = Arc::new(DynamoContexts::new(config));
    store
        .ensure_table()
        .await
        .with_context(|| format!("create DynamoDB table {table}"))?;
    Ok(store)
}

/// Every phase on every store, phase by phase, into `report`.
async fn phases(
    stores: &Stores,
    contexts: &[TenantContext],
    args: &ContextsArgs,
    report: &mut ContextsReport,
) -> anyhow::Result<()> {
    let updated: Vec<TenantContext> = contexts.iter().map(updated).collect();
    // Opens the connections (PostgreSQL's pool, the SDK's HTTP pool) the
    // measured phases will use, so no phase pays for connecting.
    let in_flight = args.concurrency.max(args.write_concurrency) as usize;
    for (name, store) in stores {
        stream::iter(0..in_flight)
            .map(|_| store.ping())
            .buffer_unordered(in_flight)
            .try_collect::<Vec<()>>()
            .await
            .with_context(|| format!("{name}: warm-up"))?;
    }
    for op in Op::ALL {
        for (name, store) in stores {
            let store = store.as_ref();
            let figures = match op {
                Op::Insert => write(store, contexts, args).await,
                Op::Update => write(store, &updated, args).await,
                Op::GetByTenant => get_by_tenant(store, &updated, args).await,
                Op::GetByHost => get_by_host(store, &updated, args).await,
            }
            .with_context(|| format!("{name}: {}", op.name()))?;
            report.push(op, name, figures);
        }
    }
    Ok(())
}

/// Writes `contexts` as the projector's `apply_batch` does: per batch, the
/// stored revisions (`get_many`), then one `put_many_if` at those
/// revisions; the contexts not written are read and written again, as
/// there, and counted (nobody else writes, so any is the store's doing).
async fn write(
    store: &dyn TenantContexts,
    contexts: &[TenantContext],
    args: &ContextsArgs,
) -> anyhow::Result<OpFigures> {
    let batches = contexts
        .chunks(args.batch as usize)
        .map(|batch| async move {
            let began = Instant::now();
            let mut pending: Vec<&TenantContext> = batch.iter().collect();
            let mut rewritten = 0;
            for round in 0..WRITE_ROUNDS {
                let tenants: Vec<&TenantId> = pending.iter().map(|c| &c.tenant_id).collect();
                let stored = store.get_many(&tenants).await?;
                let writes: Vec<(TenantContext, Option<i64>)> = pending
                    .iter()
                    .map(|c| ((*c).clone(), stored.get(&c.tenant_id).map(|(_, rev)| *rev)))
                    .collect();
                let written = store.put_many_if(&writes).await?;
                pending.retain(|c| !written.contains(&c.tenant_id));
                if pending.is_empty() {
                    return Ok((began.elapsed(), batch.len(), rewritten));
                }
                tracing::warn!(round, tenant = %pending[0].tenant_id, not_written = pending.len(),
                "Contexts not written at the revision read; reading and writing them again.");
                rewritten += pending.len();
            }
            bail!(
                "{} of {} contexts still not written after {WRITE_ROUNDS} rounds",
                pending.len(),
                batch.len()
            )
        });
    timed(batches, args.write_concurrency).await
}

/// One `get` per tenant; each must find the tenant's context.
async fn get_by_tenant(
    store: &dyn TenantContexts,
    contexts: &[TenantContext],
    args: &ContextsArgs,
) -> anyhow::Result<OpFigures> {
    let reads = contexts.iter().map(|context| async move {
        let began = Instant::now();
        match store.get(&context.tenant_id).await? {
            Some(found) if found == *context => Ok((began.elapsed(), 1, 0)),
            other => bail!("{}: read {other:?}", context.tenant_id),
        }
    });
    timed(reads, args.concurrency).await
}

/// One `get_by_host` per tenant's host; each must find the tenant's context.
async fn get_by_host(
    store: &dyn TenantContexts,
    contexts: &[TenantContext],
    args: &ContextsArgs,
) -> anyhow::Result<OpFigures> {
    let reads = contexts.iter().map(|context| async move {
        let host = context.state.site_host.as_deref().unwrap_or_default();
        let began = Instant::now();
        match store.get_by_host(host).await? {
            Some(found) if found == *context => Ok((began.elapsed(), 1, 0)),
            other => bail!("{host}: read {other:?}"),
        }
    });
    timed(reads, args.concurrency).await
}

/// Runs `ops` (each answering its latency, how many contexts it handled
/// and how many of them it wrote again), `in_flight` at once, and collects
/// their figures.
async fn timed<F>(ops: impl Iterator<Item = F>, in_flight: u32) -> anyhow::Result<OpFigures>
where
    F: std::future::Future<Output = anyhow::Result<(Duration, usize, usize)>>,
{
    let mut latencies = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)?;
    let (mut contexts, mut rewritten) = (0, 0);
    let start = Instant::now();
    let mut done = stream::iter(ops).buffer_unordered(in_flight as usize);
    while let Some(outcome) = done.next().await {
        let (took, handled, again) = outcome?;
        latencies.saturating_record(u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1));
        contexts += handled;
        rewritten += again;
    }
    Ok(OpFigures {
        contexts,
        rewritten,
        elapsed: start.elapsed(),
        latencies,
    })
}

/// A provisioned tenant's context as the projector stores it: active, two
/// products with licences, shard, database and an app, three identity
/// groups (the shape of `integration-tests/fixtures/contract-v1`'s).
pub fn fixture(run_id: &str, i: u32) -> anyhow::Result<TenantContext> {
    let site = format!("cb-{run_id}-{i}");
    let mut context = TenantContext::empty(TenantId::parse(&site)?);
    let product = |key: &str, edition, apps: &[&str]| -> anyhow::Result<_> {
        let context = ProductContext {
            state: ProductState::Active,
            licence: Some(Licence { seats: 50, edition }),
            shard: Some("eu-shard-1".to_owned()),
            database: Some(format!("t_{site}__{key}").replace('-', "_")),
            installed_apps: apps
                .iter()
                .map(|app| AppKey::parse(app))
                .collect::<Result<_, _>>()?,
            failure: None,
        };
        Ok((ProductKey::parse(key)?, context))
    };
    let state = &mut context.state;
    state.commerce_sequence = 3;
    state.status = TenantStatus::Active;
    state.site_host = Some(format!("{site}.tenantry.test"));
    state.region = Some(Region::Eu);
    state.products = [
        product("jira", Edition::Premium, &["jira-slack"])?,
        product("confluence", Edition::Standard, &[])?,
    ]
    .into();
    state.groups = ["confluence-users", "jira-users", "site-admins"]
        .map(str::to_owned)
        .into();
    state.site = Some(site);
    context.version = ContextVersion {
        provisioning_sequence: 14,
        event_id: Some(Uuid::new_v4()),
    };
    Ok(context)
}

/// `context` after a licence update: more seats, the next sequences.
fn updated(context: &TenantContext) -> TenantContext {
    let mut next = context.clone();
    next.state.commerce_sequence += 1;
    for product in next.state.products.values_mut() {
        if let Some(licence) = &mut product.licence {
            licence.seats += 10;
        }
    }
    next.version = ContextVersion {
        provisioning_sequence: context.version.provisioning_sequence + 3,
        event_id: Some(Uuid::new_v4()),
    };
    next
}
