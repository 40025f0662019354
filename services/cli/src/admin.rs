//! `tenantry admin`: the operators' timeline page and its JSON, with saga
//! retry and skip ([`tenantry_admin`]), on `--listen`. It reads the saga
//! store (`--database-url`) and the context store the context API reads,
//! and checks tokens as the context API does (`--api-jwt-secret` or a key
//! set, `--api-allow`). It refuses to start without authentication: its
//! routes retry and skip sagas.

use crate::services::{contexts, shutdown_on_signal};
use crate::settings::Settings;
use anyhow::Context as _;
use tenantry_provisioner::connect_store;

/// Serves the admin routes until Ctrl-C or SIGTERM.
///
/// Errors: no authentication configured, a store that cannot be opened, a
/// listen address that cannot be bound.
pub async fn run(settings: &Settings) -> anyhow::Result<()> {
    let auth = settings.api_auth().await?.ok_or_else(|| {
        anyhow::anyhow!(
            "--api-jwt-secret (TENANTRY_API_JWT_SECRET): the admin retries and skips sagas, \
             so it needs authentication: set --api-jwt-secret, --api-jwks-file or \
             --api-jwks-url (and --api-allow naming the /admin routes, e.g. ops=/admin/*)"
        )
    })?;
    let shutdown = shutdown_on_signal();
    settings.metrics.serve_metrics(&shutdown).await?;
    let store = connect_store(&settings.store.database_url, 4, &shutdown).await?;
    let contexts = contexts(settings, &shutdown).await?;
    let listener = tokio::net::TcpListener::bind(&settings.listen.listen)
        .await
        .with_context(|| {
            format!(
                "--listen (TENANTRY_LISTEN): cannot bind {}",
                settings.listen.listen
            )
        })?;
    let state = tenantry_admin::AdminState {
        store,
        contexts,
        auth,
    };
    tenantry_admin::serve(listener, state, shutdown).await
}
