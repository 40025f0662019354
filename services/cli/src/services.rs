//! Running one service, `replay`, and saga inspection.

use crate::settings::Settings;
use anyhow::Context;
use clap::{Args, Subcommand};
use std::time::Duration;
use tenantry_projector::ProjectorConfig;
use tenantry_provisioner::{ProductDbTarget, ProvisionerConfig, connect_store};
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
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        cancel.cancel();
    });
    token
}

/// The provisioner's settings from the shared ones.
pub fn provisioner_config(settings: &Settings) -> anyhow::Result<ProvisionerConfig> {
    Ok(ProvisionerConfig {
        kafka: settings.kafka("provisioner"),
        topics: settings.topics(),
        group_id: format!("{}-provisioner", settings.group_prefix),
        database_url: settings.database_url.clone(),
        product_databases: ProductDbTarget::PostgresSchemas,
        effects: settings.effects(),
        step_attempts: 5,
        codec: settings.codec()?,
    })
}

/// The projector's settings from the shared ones.
pub fn projector_config(settings: &Settings) -> anyhow::Result<ProjectorConfig> {
    Ok(ProjectorConfig {
        kafka: settings.kafka("projector"),
        topics: settings.topics(),
        group_id: format!("{}-projector", settings.group_prefix),
        codec: settings.codec()?,
    })
}

/// `tenantry provisioner`.
pub async fn provisioner(settings: &Settings) -> anyhow::Result<()> {
    let config = provisioner_config(settings)?;
    tenantry_provisioner::run(config, shutdown_on_signal()).await
}

/// `tenantry projector`.
pub async fn projector(settings: &Settings) -> anyhow::Result<()> {
    let shutdown = shutdown_on_signal();
    let store = connect_store(settings.context_database_url(), &shutdown).await?;
    tenantry_projector::run(
        projector_config(settings)?,
        ContextStore::new(store),
        shutdown,
    )
    .await
}

/// `tenantry context-api`.
pub async fn context_api(settings: &Settings) -> anyhow::Result<()> {
    let shutdown = shutdown_on_signal();
    let store = connect_store(settings.context_database_url(), &shutdown).await?;
    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .with_context(|| format!("listen: cannot bind {}", settings.listen))?;
    tracing::info!(address = %listener.local_addr()?, "Context API listening.");
    tenantry_context_api::serve(listener, store, shutdown).await
}

/// `tenantry replay`.
pub async fn replay(settings: &Settings) -> anyhow::Result<()> {
    let shutdown = shutdown_on_signal();
    let store = ContextStore::new(connect_store(settings.context_database_url(), &shutdown).await?);
    let codec = settings.codec()?;
    let report = tenantry_projector::replay(
        &settings.kafka("replay"),
        &settings.topics(),
        &codec,
        &store,
        Duration::from_secs(30),
    )
    .await?;
    println!(
        "replay: read {} records, applied {} events, skipped {}, wrote {} tenant contexts",
        report.records_read, report.events_applied, report.skipped, report.tenants
    );
    Ok(())
}

/// `tenantry sagas …` arguments.
#[derive(Debug, Args)]
pub struct SagasArgs {
    /// What to show.
    #[command(subcommand)]
    pub command: SagasCommand,
}

/// Saga inspection commands.
#[derive(Debug, Subcommand)]
pub enum SagasCommand {
    /// Show every saga of a tenant, with status, steps done and failure reason.
    Show {
        /// Tenant id.
        tenant: String,
    },
}

/// `tenantry sagas show <tenant>`.
pub async fn sagas(settings: &Settings, args: SagasArgs) -> anyhow::Result<()> {
    let SagasCommand::Show { tenant } = args.command;
    let tenant = tenantry_schemas::TenantId::parse(&tenant)?;
    let store = tenantry_store::Store::connect(&settings.database_url, 2).await?;
    let sagas = saga_store::for_tenant(store.pool(), tenant.as_str()).await?;
    if sagas.is_empty() {
        anyhow::bail!("tenant: no sagas recorded for {tenant}");
    }
    for saga in sagas {
        let steps: Vec<&str> = saga.results.keys().map(|s| s.name()).collect();
        println!(
            "{}  {:<17} {:<19} v{:<3} product={} steps=[{}]{}",
            saga.saga_id,
            saga.kind.as_str(),
            saga.status.as_str(),
            saga.version,
            saga.product().map_or("-".into(), ToString::to_string),
            steps.join(","),
            saga.failure
                .map(|f| format!("  failure: {f}"))
                .unwrap_or_default()
        );
    }
    Ok(())
}
