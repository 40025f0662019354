//! `tenantry admin`: the operators' timeline page and its JSON, with saga
//! retry and skip ([`tenantry_admin`]), on `--listen` (default
//! 127.0.0.1:8090), with `/healthz`. It reads the saga store
//! (`--database-url`) and the context store the context API reads, and
//! checks tokens as the context API does (`--api-jwt-secret` or a key set,
//! `--api-allow`) but with its own audience (`--admin-jwt-audience`,
//! `tenantry-admin`). It refuses to start without authentication, or with
//! an allow-list that lets no issuer call an admin route: its routes retry
//! and skip sagas, and it would answer every request `403`.

use crate::services::{contexts, shutdown_on_signal};
use crate::settings::Settings;
use anyhow::Context as _;
use tenantry_context_api::ApiAuth;
use tenantry_context_api::auth::Route;
use tenantry_provisioner::connect_store;

/// Serves the admin routes until Ctrl-C or SIGTERM.
///
/// Errors: no authentication configured, an allow-list naming no admin
/// route, a store that cannot be opened, a listen address that cannot be
/// bound.
pub async fn run(settings: &Settings) -> anyhow::Result<()> {
    let auth = auth(settings).await?;
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

/// The admin's token checks, refused before anything is opened when they
/// would let nobody in.
///
/// Errors: no key setting; an allow-list (or none, with a secret: then the
/// issuer gets the context routes only) that names no admin route.
pub async fn auth(settings: &Settings) -> anyhow::Result<ApiAuth> {
    let auth = settings.admin_auth().await?.ok_or_else(|| {
        anyhow::anyhow!(
            "--api-jwt-secret (TENANTRY_API_JWT_SECRET): the admin retries and skips sagas, \
             so it needs authentication: set --api-jwt-secret, --api-jwks-file or \
             --api-jwks-url (and --api-allow naming the /admin routes, e.g. tenantry=/admin/*)"
        )
    })?;
    // With a shared secret every token's issuer is --api-jwt-issuer: that
    // issuer, not just any, must be let in.
    let shared = settings.auth.api_jwt_secret.is_some();
    let issuer = if shared {
        settings.auth.api_jwt_issuer.as_str()
    } else {
        "ops"
    };
    let allowed = if shared {
        auth.allows_issuer_any(issuer, &Route::ADMIN)
    } else {
        auth.allows_any(&Route::ADMIN)
    };
    if !allowed {
        let who = if shared {
            format!(
                "the issuer {issuer:?} (--api-jwt-issuer, the only one with a shared secret) \
                 may not call"
            )
        } else {
            "no issuer may call".to_owned()
        };
        anyhow::bail!(
            "--api-allow (TENANTRY_API_ALLOW): {who} an admin route, so every \
             request would be refused (403); name them one by one or with /admin/*, e.g. \
             --api-allow '{issuer}=/admin/*' (`*` grants the context routes only)"
        );
    }
    Ok(auth)
}
