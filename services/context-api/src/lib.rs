//! tenantry-context-api: the read side of Tenantry. Edges call it on every
//! request to learn where a tenant lives, what it is licensed for and how to
//! reach its data; it only reads the tenant context store that the projector
//! writes.
//!
//! Modules:
//! - [`view`]: [`ContextView`], the JSON shape edges get (no fold internals).
//! - [`host`]: [`SiteHost`], site host names validated per RFC 1123.
//! - [`error`]: [`ApiError`], every failure mapped to a status and JSON body
//!   in one place.
//! - [`auth`]: [`ApiAuth`], bearer service tokens (a JWK key set or a
//!   shared secret), the issuer → route allow-list and tenant scoping;
//!   `auth::signing` mints tokens for tests and operators.
//! - `routes`: the handlers; `telemetry`: one tracing span per request.
//! - [`metrics`]: the Prometheus recorder, the request metrics middleware
//!   and `GET /metrics`; every metric the API emits is listed there.
//! - [`openapi`]: the OpenAPI 3.1 document of these routes, derived from
//!   the handlers and view types, at `GET /openapi.json`.
//!
//! Routes (all bodies are JSON, including every error):
//!
//! | route | success | errors |
//! |---|---|---|
//! | `GET /v1/tenants/{tenant_id}/context` | `200` [`ContextView`] | `400` `invalid_tenant_id`, `401` `unauthorized`, `403` `forbidden` (both with an [`auth::Reason`]), `404` `tenant_not_found`, `410` `tenant_destroyed`, `503` |
//! | `GET /v1/sites/{host}/context` | `200` [`ContextView`] | `400` `invalid_host`, `401`, `403`, `404` `site_not_found`, `410`, `503` |
//! | `GET /healthz` | `200` `{"status":"ok"}` | — |
//! | `GET /readyz` | `200` `{"status":"ready"}` | `503` `{"status":"unavailable","reason":…}` |
//! | `GET /metrics` | `200` Prometheus text format 0.0.4 (not JSON; no token) | — |
//! | `GET /openapi.json` | `200` this table as an OpenAPI 3.1 document (no token) | — |
//! | any other path | — | `404` `not_found` |
//! | other method on a route | — | `405` `method_not_allowed` (with `Allow`) |
//!
//! Depends on the store adapter and the domain; nothing depends on it.

pub mod auth;
pub mod cache;
pub mod changelog;
pub mod error;
pub mod host;
pub mod metrics;
pub mod openapi;
mod reader;
mod routes;
mod telemetry;
pub mod view;

pub use auth::ApiAuth;
pub use cache::ContextCache;
pub use error::ApiError;
pub use host::SiteHost;
pub use reader::ContextSource;
pub use view::{ContextView, LicenceView, ProductView, RegionView, SiteView, VersionView};

use anyhow::Context as _;
use axum::Router;
use axum::middleware;
use axum::routing::get;
use std::sync::Arc;
use tenantry_sagas::TenantContexts;
use tenantry_store::{ContextStore, Store};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The context API over `store` (a migrated [`Store`]) without
/// authentication: contexts are read with [`ContextStore`], readiness pings
/// the same pool. See the crate docs for routes, statuses and bodies.
pub fn router(store: Store) -> Router {
    router_with_auth(store, None)
}

/// [`router`] with bearer-token checks on the `/v1` routes when `auth` is
/// set ([`auth`]); health routes stay open for probes.
pub fn router_with_auth(store: Store, auth: Option<ApiAuth>) -> Router {
    router_with_contexts(Arc::new(ContextStore::new(store)), auth)
}

/// [`router_with_auth`] over any [`TenantContexts`] (the SQL
/// [`ContextStore`] or another adapter chosen by configuration); readiness
/// is its [`TenantContexts::ping`].
pub fn router_with_contexts(contexts: Arc<dyn TenantContexts>, auth: Option<ApiAuth>) -> Router {
    router_with_source(ContextSource::store(contexts), auth)
}

/// The context API over `contexts` (a cache kept by the changelog, the
/// store, or both: [`ContextSource`]); readiness is
/// [`ContextSource::ready`].
pub fn router_with_source(contexts: ContextSource, auth: Option<ApiAuth>) -> Router {
    let state = routes::AppState { contexts, auth };
    Router::new()
        .route(
            "/v1/tenants/{tenant_id}/context",
            get(routes::context_by_tenant),
        )
        .route("/v1/sites/{host}/context", get(routes::context_by_host))
        .route("/healthz", get(routes::healthz))
        .route("/readyz", get(routes::readyz))
        .merge(metrics::metrics_routes(metrics::install_recorder()))
        .merge(openapi::openapi_routes())
        // Must follow the routes: it applies to those already registered.
        .method_not_allowed_fallback(routes::method_not_allowed)
        .fallback(routes::not_found)
        .layer(middleware::from_fn(telemetry::trace))
        .layer(middleware::from_fn(metrics::record))
        .with_state(state)
}

/// Serves [`router`] on `listener` until `shutdown` is cancelled, then stops
/// accepting connections and waits for in-flight requests to finish.
///
/// Errors: when accepting or serving fails at the socket level.
pub async fn serve(
    listener: TcpListener,
    store: Store,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    serve_with_auth(listener, store, None, shutdown).await
}

/// [`serve`] with [`router_with_auth`]. Without `auth` it logs a warning:
/// every tenant's context is then readable by anyone who reaches the port.
///
/// Errors: when accepting or serving fails at the socket level.
pub async fn serve_with_auth(
    listener: TcpListener,
    store: Store,
    auth: Option<ApiAuth>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    serve_contexts(listener, Arc::new(ContextStore::new(store)), auth, shutdown).await
}

/// [`serve_with_auth`] over any [`TenantContexts`] ([`router_with_contexts`]).
///
/// Errors: when accepting or serving fails at the socket level.
pub async fn serve_contexts(
    listener: TcpListener,
    contexts: Arc<dyn TenantContexts>,
    auth: Option<ApiAuth>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    serve_source(listener, ContextSource::store(contexts), auth, shutdown).await
}

/// [`serve`] with [`router_with_source`].
///
/// Errors: when accepting or serving fails at the socket level.
pub async fn serve_source(
    listener: TcpListener,
    contexts: ContextSource,
    auth: Option<ApiAuth>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let address = listener.local_addr().context("listener has no address")?;
    if auth.is_none() {
        tracing::warn!(%address, "Context API is unauthenticated: any caller can read every tenant's context; set --api-jwks-file, --api-jwks-url or --api-jwt-secret.");
    }
    tracing::info!(%address, "Context API listening.");
    axum::serve(listener, router_with_source(contexts, auth))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
        .context("context API server failed")?;
    tracing::info!(%address, "Context API stopped.");
    Ok(())
}
