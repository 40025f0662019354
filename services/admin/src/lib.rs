//! tenantry-admin: the operators' side. One page per tenant — its commerce
//! events, its sagas' steps and compensations on a time axis, failures,
//! parking and the current context — and the two actions an operator takes
//! on a parked tenant, retry and skip, with the effect of `tenantry sagas
//! retry|skip` ([`tenantry_store::parking::request`], carried out by the
//! provisioner).
//!
//! Modules:
//! - [`timeline`]: the JSON document the page draws, built from the store's
//!   rows (pure).
//! - [`error`]: [`AdminError`], each failure as a status and JSON body.
//! - `routes`: the handlers; `page`: the page, one HTML document with its
//!   style and script inline, served with a Content-Security-Policy that
//!   allows exactly those two (by SHA-256).
//!
//! Routes:
//!
//! | route | success | errors |
//! |---|---|---|
//! | `GET /admin/tenants/{tenant_id}` | `200` the page (HTML, no tenant data; no token needed) | `400` `invalid_tenant_id` |
//! | `GET /admin/v1/tenants/{tenant_id}/timeline` | `200` [`timeline::Timeline`] | `400`, `401` `unauthorized`, `403` `forbidden`, `404` `tenant_not_found`, `503` |
//! | `POST /admin/v1/tenants/{tenant_id}/retry` | `202` `{"tenant_id","action":"retry","message"}` | `400`, `401`, `403`, `404`, `409` `tenant_not_parked` or `nothing_to_retry` (parked on a sequence gap: skip it or publish the missing sequences), `503` |
//! | `POST /admin/v1/tenants/{tenant_id}/skip` | `202` as retry, `"action":"skip"` | as retry, without `nothing_to_retry` |
//! | `GET /healthz` | `200` `{"status":"ok"}` (serving; no token) | — |
//!
//! The data and actions are behind the context API's [`ApiAuth`]: a bearer
//! token (`Authorization: Bearer`) whose issuer the route allow-list lets
//! call the route (`Route::AdminTimeline`, `AdminRetry`, `AdminSkip`; not
//! granted by `*`) and whose `tenants` claim covers the tenant. Its `aud`
//! is the admin's own, [`DEFAULT_AUDIENCE`] unless configured, not the
//! context API's: an edge's read token (`tenants: ["*"]`) signed by the
//! same issuer cannot retry or skip. Tokens come
//! in a header only, never a cookie, so another site cannot make a
//! browser send one (no CSRF).
//!
//! Depends on the store, the domain and the context API's auth; nothing
//! depends on it.

pub mod error;
pub mod metrics;
mod page;
mod routes;
pub mod timeline;

pub use error::AdminError;

use anyhow::Context as _;
use axum::Router;
use axum::routing::{get, post};
use std::sync::Arc;
use tenantry_context_api::ApiAuth;
use tenantry_sagas::TenantContexts;
use tenantry_store::Store;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The `aud` admin tokens carry by default (`tenantry admin
/// --admin-jwt-audience`); the context API's is `tenantry-context-api`, so
/// one kind of token is never the other.
pub const DEFAULT_AUDIENCE: &str = "tenantry-admin";

/// What the admin routes read and write.
#[derive(Clone)]
pub struct AdminState {
    /// The provisioner's store (events, sagas, parking), migrated.
    pub store: Store,
    /// The tenant context store the context API reads.
    pub contexts: Arc<dyn TenantContexts>,
    /// Bearer-token checks, as the context API's, with the admin's own
    /// audience ([`DEFAULT_AUDIENCE`]).
    pub auth: ApiAuth,
}

/// The admin routes (see the crate docs). Authentication is not optional:
/// the routes can retry and skip sagas. `/healthz` needs no token.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/healthz", get(routes::healthz))
        .route("/admin/tenants/{tenant_id}", get(routes::page))
        .route(
            "/admin/v1/tenants/{tenant_id}/timeline",
            get(routes::timeline),
        )
        .route("/admin/v1/tenants/{tenant_id}/retry", post(routes::retry))
        .route("/admin/v1/tenants/{tenant_id}/skip", post(routes::skip))
        .method_not_allowed_fallback(routes::method_not_allowed)
        .fallback(routes::not_found)
        .layer(axum::middleware::from_fn(metrics::record))
        .with_state(state)
}

/// Serves [`router`] on `listener` until `shutdown` is cancelled, then waits
/// for requests in flight.
///
/// Errors: when accepting or serving fails at the socket level.
pub async fn serve(
    listener: TcpListener,
    state: AdminState,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let address = listener.local_addr().context("listener has no address")?;
    tracing::info!(%address, "Admin listening; a tenant's page is /admin/tenants/<tenant id>.");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
        .context("admin server failed")?;
    tracing::info!(%address, "Admin stopped.");
    Ok(())
}
