//! `tenantry dev [--demo]`: provisioner, projector and context API in one
//! process on the embedded default — librdkafka's mock cluster (in process,
//! topics created through it) and SQLite files in a data directory.

use crate::publish;
use crate::services::{projector_config, provisioner_config, shutdown_on_signal};
use crate::settings::Settings;
use anyhow::Context;
use clap::Args;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tenantry_context_api::ContextView;
use tenantry_kafka::EmbeddedBroker;
use tenantry_provisioner::ProductDbTarget;
use tenantry_sagas::{ProductState, TenantContext, TenantStatus};
use tenantry_schemas::{CommerceRecord, TenantId};
use tenantry_store::{ContextStore, Store};
use tokio_util::sync::CancellationToken;

/// `tenantry dev` arguments.
#[derive(Debug, Args)]
pub struct DevArgs {
    /// Publish sample tenants and print their contexts once provisioned.
    #[arg(long)]
    pub demo: bool,
    /// Keep SQLite files here (default: a temporary directory removed on exit,
    /// since the embedded broker's topics do not outlive the process either).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Stop after the demo instead of serving until Ctrl-C.
    #[arg(long, requires = "demo")]
    pub exit_after_demo: bool,
}

/// Runs `tenantry dev`.
pub async fn run(settings: &Settings, args: DevArgs) -> anyhow::Result<()> {
    let temp = tempfile::Builder::new().prefix("tenantry-dev-").tempdir()?;
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| temp.path().to_owned());
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("--data-dir: cannot create {}", data_dir.display()))?;

    let topics = settings.topics();
    // The mock cluster has no admin API: the changelog the projector would
    // create is created here (without compaction, which the mock ignores).
    let mut all = topics.with_partitions();
    all.push((topics.changelog.as_str(), topics.changelog_partitions()));
    let broker = EmbeddedBroker::start(&all)?;
    let mut settings = settings.clone();
    settings.broker.bootstrap = broker.bootstrap();
    settings.store.database_url = format!("sqlite://{}", data_dir.join("provisioner.db").display());
    settings.contexts.context_database_url = Some(format!(
        "sqlite://{}",
        data_dir.join("context.db").display()
    ));

    let shutdown = shutdown_on_signal();
    // Every service's catalog before any emits: dev runs them all in one
    // process, and its API serves `/metrics` whatever --metrics-listen says.
    crate::telemetry_args::install_metrics();
    let metrics = settings.metrics.serve_metrics(&shutdown).await?;
    let context_store = Store::connect(settings.context_database_url(), 1).await?;
    let listener = tokio::net::TcpListener::bind(&settings.listen.listen)
        .await
        .with_context(|| {
            format!(
                "--listen (TENANTRY_LISTEN): cannot bind {} (use --listen 127.0.0.1:0 for any free port)",
                settings.listen.listen
            )
        })?;
    let api = format!("http://{}", listener.local_addr()?);

    let mut provisioner = provisioner_config(&settings)?;
    provisioner.product_databases = ProductDbTarget::SqliteDir(data_dir.join("product-dbs"));
    provisioner.keys = Arc::new(tenantry_keys::LocalKeyService::new(data_dir.join("keys"))?);
    // Apps: unless --apps-config names real ones, the demo apps are served by
    // an in-process app that verifies each signed lifecycle callback.
    let recorder = if settings.saga.apps_config.is_none() {
        let (recorder, apps) = demo_apps().await?;
        provisioner.apps = apps;
        Some(recorder)
    } else {
        None
    };
    let projector = projector_config(&settings)?;
    let auth = settings.api_auth().await?;
    let contexts: Arc<dyn tenantry_sagas::TenantContexts> =
        Arc::new(ContextStore::new(context_store.clone()));
    let source = if settings.cache.cache_mib == 0 {
        tenantry_context_api::ContextSource::store(contexts)
    } else {
        let (cache, follower) = crate::services::follow_changelog(&settings, "dev-api", &shutdown);
        tenantry_context_api::ContextSource::cached(cache, follower, Some(contexts))
    };
    let tasks = [
        tokio::spawn(tenantry_provisioner::run(provisioner, shutdown.clone())),
        tokio::spawn(tenantry_projector::run(
            projector,
            Arc::new(ContextStore::new(context_store.clone())),
            shutdown.clone(),
        )),
        tokio::spawn(tenantry_context_api::serve_source(
            listener,
            source,
            auth,
            shutdown.clone(),
        )),
    ];

    println!(
        "Tenantry dev is running (embedded Kafka broker, SQLite in {}).",
        data_dir.display()
    );
    println!("  Kafka bootstrap: {}", settings.broker.bootstrap);
    println!("  Context API:     {api}");
    if let Some(metrics) = metrics {
        println!("  Metrics:         http://{metrics}/metrics (the API's /metrics too)");
    }
    // The running binary's path: the lines work as printed whether it was
    // started with `cargo run` or installed as `tenantry`.
    let program = std::env::current_exe()
        .map(|path| path.display().to_string())
        .unwrap_or_else(|_| "tenantry".into());
    println!("Try:");
    println!(
        "  {program} publish tenant_created --tenant t9 --sequence 1 --site nine --owner-email owner@nine.test --country DE --wait --bootstrap {} --database-url {} --context-database-url {}",
        settings.broker.bootstrap,
        settings.store.database_url,
        settings.context_database_url()
    );
    println!("  curl {api}/v1/tenants/t9/context");
    println!(
        "  {program} sagas show t9 --database-url {}   # and sagas list; dlq list --bootstrap {}",
        settings.store.database_url, settings.broker.bootstrap
    );

    if args.demo {
        demo(&settings, &ContextStore::new(context_store), &shutdown).await?;
        if args.exit_after_demo {
            shutdown.cancel();
        }
    }
    if !shutdown.is_cancelled() {
        println!("Serving until Ctrl-C.");
    }
    for task in tasks {
        task.await??;
    }
    if let Some(recorder) = recorder {
        println!(
            "Apps received {} signed lifecycle callbacks.",
            recorder.calls().len()
        );
    }
    drop(broker);
    Ok(())
}

/// Apps of the demo tenants, registered in dev mode.
pub const DEMO_APPS: &[&str] = &["jira-slack", "tempo-timesheets", "confluence-drawio"];

/// Starts the in-process app for [`DEMO_APPS`] on a free loopback port and
/// returns it with the matching configuration (one random secret per app).
async fn demo_apps() -> anyhow::Result<(
    tenantry_apps::recorder::AppRecorder,
    tenantry_apps::AppsConfig,
)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let secrets: std::collections::HashMap<String, String> = DEMO_APPS
        .iter()
        .map(|app| {
            (
                (*app).to_owned(),
                format!(
                    "{}{}",
                    uuid::Uuid::new_v4().simple(),
                    uuid::Uuid::new_v4().simple()
                ),
            )
        })
        .collect();
    let recorder = tenantry_apps::recorder::start(listener, secrets.clone()).await;
    let apps = serde_json::json!({
        "egress_allow": [recorder.addr().to_string()],
        "apps": DEMO_APPS.iter().map(|app| serde_json::json!({
            "key": app,
            "base_url": recorder.base_url(app),
            "shared_secret": secrets[*app],
        })).collect::<Vec<_>>(),
    });
    let config = tenantry_apps::AppsConfig::from_json(&apps.to_string())?;
    Ok((recorder, config))
}

/// The demo's tenants, as JSON lines (the `publish --file` format).
pub const DEMO_EVENTS: &str = include_str!("../demo/tenants.jsonl");

async fn demo(
    settings: &Settings,
    store: &ContextStore,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let records = publish::parse_batch(DEMO_EVENTS)?;
    let mut per_tenant: BTreeMap<TenantId, Vec<&CommerceRecord>> = BTreeMap::new();
    for record in &records {
        per_tenant
            .entry(record.envelope.tenant_id.clone())
            .or_default()
            .push(record);
    }
    println!(
        "\nDemo: publishing {} events for {} tenants…",
        records.len(),
        per_tenant.len()
    );
    let started = Instant::now();
    publish::send(settings, &records, false).await?;
    let mut pending: BTreeMap<TenantId, usize> = per_tenant
        .iter()
        .map(|(tenant, events)| {
            (
                tenant.clone(),
                events
                    .iter()
                    .filter(|r| r.event.product().is_some())
                    .count(),
            )
        })
        .collect();
    let mut done: BTreeMap<TenantId, (Duration, TenantContext)> = BTreeMap::new();
    let deadline = started + Duration::from_secs(60);
    while !pending.is_empty() && Instant::now() < deadline && !shutdown.is_cancelled() {
        for (tenant, products) in pending.clone() {
            if let Some(context) = store.get(&tenant).await?
                && settled(&context, products)
            {
                pending.remove(&tenant);
                done.insert(tenant, (started.elapsed(), context));
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for (tenant, (_, context)) in &done {
        println!("\nGET /v1/tenants/{tenant}/context");
        println!(
            "{}",
            serde_json::to_string_pretty(&ContextView::from(context))?
        );
    }
    println!(
        "\nPublish → context readable (all of a tenant's events, one batch; the first run includes the embedded broker's first consumer-group join, about 3 s):"
    );
    for (tenant, (latency, context)) in &done {
        println!(
            "  {tenant:<10} {:>7.1} ms  status={} host={}",
            latency.as_secs_f64() * 1000.0,
            context.state.status.as_str(),
            context.state.site_host.as_deref().unwrap_or("-")
        );
    }
    for tenant in pending.keys() {
        println!("  {tenant:<10} not provisioned within 60 s — see `tenantry sagas show {tenant}`");
    }
    Ok(())
}

/// A tenant is settled when its tenant saga ended, `products` products ended
/// and it is not being moved to a newer residency pin.
fn settled(context: &TenantContext, products: usize) -> bool {
    let state = &context.state;
    let tenant_done = matches!(state.status, TenantStatus::Active | TenantStatus::Failed);
    let products_done = state
        .products
        .values()
        .filter(|p| matches!(p.state, ProductState::Active | ProductState::Failed))
        .count();
    tenant_done && products_done >= products && state.moving_to.is_none()
}
