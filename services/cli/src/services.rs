//! Running one service, `republish`, and saga inspection.

use crate::output;
use crate::settings::{Settings, flags};
use anyhow::Context;
use clap::{Args, Subcommand};
use std::sync::Arc;
use tenantry_context_api::{ContextCache, ContextSource};
use tenantry_projector::ProjectorConfig;
use tenantry_provisioner::{ProvisionerConfig, connect_store};
use tenantry_sagas::TenantContexts;
use tenantry_schemas::TenantId;
use tenantry_store::parking::{self, OperatorAction};
use tenantry_store::{ContextStore, sagas as saga_store};
use tokio_util::sync::CancellationToken;

/// A token cancelled on Ctrl-C or SIGTERM.
pub fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            let signal = tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT (Ctrl-C)",
                _ = term.recv() => "SIGTERM",
            };
            tracing::info!(signal, "Shutdown requested; finishing work in flight.");
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!(
                signal = "Ctrl-C",
                "Shutdown requested; finishing work in flight."
            );
        }
        cancel.cancel();
    });
    token
}

/// The provisioner's settings from the shared ones.
pub fn provisioner_config(settings: &Settings) -> anyhow::Result<ProvisionerConfig> {
    Ok(ProvisionerConfig {
        kafka: settings.kafka("provisioner"),
        topics: settings.topics(),
        group_id: format!("{}-provisioner", settings.consumer.group_prefix),
        instance_id: settings.consumer.instance_id.clone(),
        database_url: settings.store.database_url.clone(),
        product_databases: settings.product_databases()?,
        effects: settings.effects(),
        step_attempts: 5,
        workers: settings.saga.workers,
        codec: settings.codec()?,
        apps: settings.apps()?,
        keys: settings.keys()?,
    })
}

/// The projector's settings from the shared ones.
pub fn projector_config(settings: &Settings) -> anyhow::Result<ProjectorConfig> {
    Ok(ProjectorConfig {
        kafka: settings.kafka("projector"),
        topics: settings.topics(),
        group_id: format!("{}-projector", settings.consumer.group_prefix),
        instance_id: settings.consumer.instance_id.clone(),
        codec: settings.codec()?,
        changelog: tenantry_projector::Changelog::Publish,
    })
}

/// `tenantry provisioner`; `/metrics` on `--metrics-listen` when set.
pub async fn provisioner(settings: &Settings) -> anyhow::Result<()> {
    let config = provisioner_config(settings)?;
    let shutdown = shutdown_on_signal();
    settings.metrics.serve_metrics(&shutdown).await?;
    tenantry_provisioner::run(config, shutdown).await
}

/// The tenant context store `--context-store` names: the SQL database of
/// `--context-database-url`, or the DynamoDB table `--dynamodb-table`
/// (created when missing).
pub(crate) async fn contexts(
    settings: &Settings,
    shutdown: &CancellationToken,
) -> anyhow::Result<Arc<dyn TenantContexts>> {
    if settings.contexts.context_store == "dynamodb" {
        let config = tenantry_dynamodb::DynamoConfig::from_env(settings.contexts.dynamodb_table.clone())
            .map_err(|missing| {
                anyhow::anyhow!(
                    "--context-store dynamodb (TENANTRY_CONTEXT_STORE) needs the environment variable {}",
                    missing.0
                )
            })?;
        let contexts = tenantry_dynamodb::DynamoContexts::new(config);
        contexts.ensure_table().await.with_context(|| {
            format!(
                "--dynamodb-table (TENANTRY_DYNAMODB_TABLE): DynamoDB table {} cannot be used",
                settings.contexts.dynamodb_table
            )
        })?;
        return Ok(Arc::new(contexts));
    }
    let store = connect_store(settings.context_database_url(), 8, shutdown).await?;
    Ok(Arc::new(ContextStore::new(store)))
}

/// `tenantry migrate`: connecting a SQL store applies its migrations;
/// opening the DynamoDB context store creates its table when missing.
/// `json`: print [`output::MigrateRow`] instead of text.
pub async fn migrate(settings: &Settings, json: bool) -> anyhow::Result<()> {
    let shutdown = shutdown_on_signal();
    connect_store(&settings.store.database_url, 2, &shutdown).await?;
    if json {
        contexts(settings, &shutdown).await?;
        let context_store = if settings.contexts.context_store == "dynamodb" {
            output::ContextStoreRow::Dynamodb {
                table: settings.contexts.dynamodb_table.clone(),
            }
        } else {
            output::ContextStoreRow::Sql {
                url: tenantry_store::masked(settings.context_database_url()),
            }
        };
        return output::print(&output::MigrateRow {
            store: tenantry_store::masked(&settings.store.database_url),
            context_store,
        });
    }
    println!(
        "store {}: migrated",
        tenantry_store::masked(&settings.store.database_url)
    );
    contexts(settings, &shutdown).await?;
    if settings.contexts.context_store == "dynamodb" {
        println!(
            "context store: DynamoDB table {} ready",
            settings.contexts.dynamodb_table
        );
    } else {
        println!(
            "context store {}: migrated",
            tenantry_store::masked(settings.context_database_url())
        );
    }
    Ok(())
}

/// `tenantry projector`; `/metrics` on `--metrics-listen` when set.
pub async fn projector(
    settings: &Settings,
    args: &crate::projector_args::ProjectorArgs,
) -> anyhow::Result<()> {
    let shutdown = shutdown_on_signal();
    settings.metrics.serve_metrics(&shutdown).await?;
    let contexts = contexts(settings, &shutdown).await?;
    let config = args.apply(projector_config(settings)?);
    tenantry_projector::run(config, contexts, shutdown).await
}

/// `tenantry context-api`: the cache follows the changelog (unless
/// `--cache-mib 0`), misses read the context store.
pub async fn context_api(settings: &Settings) -> anyhow::Result<()> {
    let auth = settings.api_auth().await?;
    let shutdown = shutdown_on_signal();
    settings.metrics.serve_metrics(&shutdown).await?;
    let contexts = contexts(settings, &shutdown).await?;
    let listener = bind(settings).await?;
    let source = if settings.cache.cache_mib == 0 {
        ContextSource::store(contexts)
    } else {
        let (cache, follower) = follow_changelog(settings, "context-api", &shutdown);
        ContextSource::cached(cache, follower, Some(contexts))
    };
    tenantry_context_api::serve_source(listener, source, auth, shutdown).await
}

/// `tenantry context-sidecar`: the cache alone, filled from the changelog.
pub async fn context_sidecar(settings: &Settings) -> anyhow::Result<()> {
    if settings.cache.cache_mib == 0 {
        anyhow::bail!(
            "--cache-mib (TENANTRY_CACHE_MIB): the sidecar serves from its cache only; give it 1 MiB or more"
        );
    }
    let auth = settings.api_auth().await?;
    let shutdown = shutdown_on_signal();
    settings.metrics.serve_metrics(&shutdown).await?;
    let listener = bind(settings).await?;
    let (cache, follower) = follow_changelog(settings, "context-sidecar", &shutdown);
    let source = ContextSource::cached(cache, follower, None);
    tenantry_context_api::serve_source(listener, source, auth, shutdown).await
}

async fn bind(settings: &Settings) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(&settings.listen.listen)
        .await
        .with_context(|| {
            format!(
                "--listen (TENANTRY_LISTEN): cannot bind {}",
                settings.listen.listen
            )
        })
}

/// A cache of `--cache-mib` following the changelog topic until `shutdown`.
pub(crate) fn follow_changelog(
    settings: &Settings,
    role: &str,
    shutdown: &CancellationToken,
) -> (
    Arc<ContextCache>,
    tokio::sync::watch::Receiver<tenantry_context_api::changelog::FollowStatus>,
) {
    let cache = Arc::new(ContextCache::new(
        settings.cache.cache_mib.saturating_mul(1024 * 1024),
    ));
    let (follower, _task) = tenantry_context_api::changelog::follow(
        settings.kafka(role),
        settings.topics().changelog,
        cache.clone(),
        shutdown.clone(),
    );
    (cache, follower)
}

/// `tenantry republish` arguments.
#[derive(Debug, Args)]
pub struct RepublishArgs {
    /// Only these tenants (default: every tenant the provisioner knows).
    #[arg(value_name = "TENANT")]
    pub tenants: Vec<String>,
    /// Print one JSON document on stdout instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `tenantry republish`: rebuilds each tenant's record from the provisioner's
/// tables and queues its tenant state in the outbox, one transaction per
/// tenant; the provisioner's relay publishes them and the projector replaces
/// each context with them. With `--json` it prints [`output::RepublishRow`].
///
/// Errors: a tenant id does not parse; the provisioner's store is unreachable.
pub async fn republish(settings: &Settings, args: RepublishArgs) -> anyhow::Result<()> {
    let shutdown = shutdown_on_signal();
    let store = connect_store(&settings.store.database_url, 2, &shutdown).await?;
    let known = tenantry_store::tenant_states::tenants(store.pool()).await?;
    let tenants = if args.tenants.is_empty() {
        known
    } else {
        let mut named = Vec::with_capacity(args.tenants.len());
        for raw in &args.tenants {
            let tenant = TenantId::parse(raw).map_err(|e| anyhow::anyhow!("{e}"))?;
            if !known.contains(&tenant) {
                anyhow::bail!(
                    "tenant: {tenant} is unknown to the provisioner (no event of it was released or parked)"
                );
            }
            named.push(tenant);
        }
        named
    };
    let count = tenantry_store::tenant_states::republish(store.pool(), &tenants).await?;
    let pending = tenantry_store::outbox::pending(store.pool()).await?;
    if args.json {
        return output::print(&output::RepublishRow {
            queued_tenants: count,
            outbox_pending: pending,
        });
    }
    println!(
        "republish: queued the state of {count} tenant(s); {pending} record(s) wait in the outbox \
         for the provisioner's relay (start `tenantry provisioner` if it is not running)"
    );
    Ok(())
}

/// `tenantry sagas …` arguments.
#[derive(Debug, Args)]
pub struct SagasArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: SagasCommand,
}

/// Saga inspection and operator commands.
#[derive(Debug, Subcommand)]
pub enum SagasCommand {
    /// List sagas that are not completed, or with --parked the parked tenants.
    ///
    /// With --json: an array of sagas `{"saga_id", "tenant_id", "kind", "status",
    /// "version", "trigger_sequence", "product", "steps", "compensated",
    /// "failure", "blocked"}`; with --parked too, an array of `{"tenant_id",
    /// "kind", "reason", "saga_id", "event_id", "action", "parked_at_ms",
    /// "waiting"}`. Absent values are null.
    List {
        /// Only parked tenants (failed saga or sequence gap) and what waits behind them.
        #[arg(long)]
        parked: bool,
        /// Print one JSON document on stdout instead of text.
        #[arg(long)]
        json: bool,
        #[allow(missing_docs)]
        #[command(flatten)]
        flags: flags::SagaStore,
    },
    /// Show a tenant's sagas (status, steps done and compensated, failure), its commerce events
    /// (processed, stale or waiting), rejections and parking.
    ///
    /// With --json: `{"tenant_id", "sagas": [saga as in sagas list], "events":
    /// [{"sequence", "kind", "state"}], "rejections": [{"sequence", "kind",
    /// "reason"}], "parked": parked tenant as in sagas list --parked, or null}`.
    Show {
        /// Tenant id.
        tenant: String,
        /// Print one JSON document on stdout instead of text.
        #[arg(long)]
        json: bool,
        #[allow(missing_docs)]
        #[command(flatten)]
        flags: flags::SagaStore,
    },
    /// Run a parked tenant's failed saga again, then release its waiting events.
    ///
    /// With --json: `{"tenant_id", "action": "retry"}` once requested.
    Retry {
        /// Tenant id.
        tenant: String,
        /// Print one JSON document on stdout instead of text.
        #[arg(long)]
        json: bool,
        #[allow(missing_docs)]
        #[command(flatten)]
        flags: flags::SagaStore,
    },
    /// Give up a parked tenant's failed change (or its missing sequences) and release its waiting
    /// events; later events that depend on the change are rejected, not re-planned.
    ///
    /// With --json: `{"tenant_id", "action": "skip"}` once requested.
    Skip {
        /// Tenant id.
        tenant: String,
        /// Print one JSON document on stdout instead of text.
        #[arg(long)]
        json: bool,
        #[allow(missing_docs)]
        #[command(flatten)]
        flags: flags::SagaStore,
    },
}

/// `tenantry sagas …`, with the global `--log` filter.
pub async fn sagas(args: SagasArgs, log: Option<&str>) -> anyhow::Result<()> {
    let flags = match &args.command {
        SagasCommand::List { flags, .. }
        | SagasCommand::Show { flags, .. }
        | SagasCommand::Retry { flags, .. }
        | SagasCommand::Skip { flags, .. } => flags.clone(),
    };
    let settings = Settings::of(flags, log);
    let store = tenantry_store::Store::connect(&settings.store.database_url, 2).await?;
    match args.command {
        SagasCommand::List {
            parked: true, json, ..
        } => {
            let parked = parking::list(store.pool()).await?;
            if json {
                let rows: Vec<_> = parked.iter().map(output::ParkedRow::from).collect();
                return output::print(&rows);
            }
            if parked.is_empty() {
                println!("no parked tenants");
            }
            for p in parked {
                println!(
                    "{:<12} {:<13} waiting={:<3} action={:<5} {}",
                    p.tenant_id,
                    p.kind,
                    p.waiting,
                    p.action.as_deref().unwrap_or("-"),
                    p.reason
                );
            }
        }
        SagasCommand::List {
            parked: false,
            json,
            ..
        } => {
            let sagas = saga_store::not_completed(store.pool()).await?;
            if json {
                let rows: Vec<_> = sagas.iter().map(output::SagaRow::from).collect();
                return output::print(&rows);
            }
            if sagas.is_empty() {
                println!(
                    "no saga unfinished or failed in {}",
                    tenantry_store::masked(&settings.store.database_url)
                );
            }
            for saga in sagas {
                print_saga(&saga);
            }
        }
        SagasCommand::Show { tenant, json, .. } => {
            let tenant = TenantId::parse(&tenant)?;
            let sagas = saga_store::for_tenant(store.pool(), tenant.as_str()).await?;
            let stream = tenantry_store::inbox::stream(store.pool(), &tenant).await?;
            let rejections = tenantry_store::inbox::rejections(store.pool(), &tenant).await?;
            let parked = parking::get(store.pool(), &tenant).await?;
            // A tenant whose only events were rejected, or that waits behind a
            // gap, has no saga yet: what is known of it is still shown.
            if sagas.is_empty() && stream.is_empty() && rejections.is_empty() && parked.is_none() {
                anyhow::bail!(
                    "tenant: nothing recorded for {tenant} (no saga, event or rejection)"
                );
            }
            if json {
                return output::print(&output::TenantReport::new(
                    tenant.as_str(),
                    &sagas,
                    &stream,
                    &rejections,
                    parked.as_ref(),
                ));
            }
            let events: Vec<String> = stream
                .into_iter()
                .map(|(sequence, kind, state)| format!("{sequence} {kind} {state}"))
                .collect();
            if sagas.is_empty() {
                println!("no sagas for {tenant}");
            }
            for saga in sagas {
                print_saga(&saga);
            }
            println!("events: {}", events.join(", "));
            for (sequence, kind, reason) in rejections {
                println!("rejected: sequence {sequence} {kind}: {reason}");
            }
            if let Some(p) = parked {
                println!(
                    "parked ({}), {} event(s) waiting: {}",
                    p.kind, p.waiting, p.reason
                );
            }
        }
        SagasCommand::Retry { tenant, json, .. } => {
            request(&store, &tenant, OperatorAction::Retry, json).await?;
        }
        SagasCommand::Skip { tenant, json, .. } => {
            request(&store, &tenant, OperatorAction::Skip, json).await?;
        }
    }
    Ok(())
}

async fn request(
    store: &tenantry_store::Store,
    tenant: &str,
    action: OperatorAction,
    json: bool,
) -> anyhow::Result<()> {
    let tenant = TenantId::parse(tenant)?;
    let requested = parking::request(store.pool(), &tenant, action).await?;
    if let Some(refusal) = requested.nothing_to_retry(&tenant) {
        // The sentence names the tenant already ("tenant t3 is parked …").
        anyhow::bail!("{refusal}");
    }
    if !requested.is_recorded() {
        anyhow::bail!("tenant: {tenant} is not parked (see tenantry sagas list --parked)");
    }
    if json {
        return output::print(&output::RequestedRow {
            tenant_id: tenant.to_string(),
            action: action.as_str(),
        });
    }
    println!(
        "{} requested for {tenant}; the provisioner carries it out within a second",
        action.as_str()
    );
    Ok(())
}

/// One line per saga: id, tenant, kind, status, version, product, the steps
/// completed, the steps compensated (in the order they were undone) and the
/// failure reason.
fn print_saga(saga: &tenantry_sagas::SagaState) {
    let steps: Vec<&str> = saga.results.keys().map(|s| s.name()).collect();
    let compensated: Vec<&str> = saga.compensated.iter().map(|s| s.name()).collect();
    println!(
        "{} {:<6} {:<17} {:<19} v{:<3} product={} steps=[{}]{}{}",
        saga.saga_id,
        saga.tenant_id,
        saga.kind.as_str(),
        saga.status.as_str(),
        saga.version,
        saga.product().map_or("-".into(), ToString::to_string),
        steps.join(","),
        if compensated.is_empty() {
            String::new()
        } else {
            format!(" compensated=[{}]", compensated.join(","))
        },
        saga.failure
            .as_ref()
            .map(|f| format!("  failure: {f}"))
            .unwrap_or_default()
    );
}
