//! Handlers: parse the path, read the store, answer JSON.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::time::Duration;
use tenantry_sagas::{TenantContexts, TenantStatus};
use tenantry_schemas::{TenantId, ValidationError};

use crate::auth::{ApiAuth, Principal, Route};
use crate::error::ApiError;
use crate::host::{SiteHost, truncate};
use crate::view::ContextView;
use std::sync::Arc;

/// How long `/readyz` waits for `SELECT 1` before reporting unavailable.
/// Kept below the usual 5 s probe timeout so the probe gets a JSON answer
/// instead of a dropped connection.
pub(crate) const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// Shared by every handler; cloning is cheap (shared handles).
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    pub(crate) contexts: Arc<dyn TenantContexts>,
    /// `None`: no authentication configured (logged at start).
    pub(crate) auth: Option<ApiAuth>,
}

impl AppState {
    /// The caller, allowed to call `route` (everyone without authentication).
    async fn caller(&self, headers: &HeaderMap, route: Route) -> Result<Arc<Principal>, ApiError> {
        match &self.auth {
            Some(auth) => Ok(auth.authorize(headers, route).await?),
            None => Ok(Arc::new(Principal::anonymous())),
        }
    }
}

/// `GET /v1/tenants/{tenant_id}/context`.
pub(crate) async fn context_by_tenant(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let caller = state.caller(&headers, Route::TenantContext).await?;
    let raw = path
        .map_err(|e| ApiError::InvalidTenantId(undecodable("tenant_id", &e)))?
        .0;
    let tenant_id = TenantId::parse(&raw).map_err(|e| ApiError::InvalidTenantId(short(e, &raw)))?;
    tracing::Span::current().record("tenant.id", tenant_id.as_str());
    caller.tenants.require(&tenant_id)?;
    match state.contexts.get(&tenant_id).await? {
        Some(context) if context.state.status == TenantStatus::Destroyed => {
            Err(ApiError::TenantDestroyed(tenant_id))
        }
        Some(context) => Ok(context_response(&ContextView::from(&context))),
        None => Err(ApiError::TenantNotFound(tenant_id)),
    }
}

/// `GET /v1/sites/{host}/context`.
pub(crate) async fn context_by_host(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let caller = state.caller(&headers, Route::SiteContext).await?;
    let raw = path
        .map_err(|e| ApiError::InvalidHost(undecodable("host", &e)))?
        .0;
    let host = SiteHost::parse(&raw).map_err(ApiError::InvalidHost)?;
    let found = state.contexts.get_by_host(host.as_str()).await?;
    // The check is on the tenant the host resolves to.
    if let Some(context) = &found {
        caller.tenants.require(&context.tenant_id)?;
    }
    match found {
        Some(context) if context.state.status == TenantStatus::Destroyed => {
            Err(ApiError::TenantDestroyed(context.tenant_id))
        }
        Some(context) => {
            tracing::Span::current().record("tenant.id", context.tenant_id.as_str());
            Ok(context_response(&ContextView::from(&context)))
        }
        None => Err(ApiError::SiteNotFound(host)),
    }
}

/// `GET /healthz`: the process is up. Touches nothing else.
pub(crate) async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /readyz`: the store answers `SELECT 1` within [`READINESS_TIMEOUT`].
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    let ping = state.contexts.ping();
    let reason = match tokio::time::timeout(READINESS_TIMEOUT, ping).await {
        Ok(Ok(_)) => return Json(json!({"status": "ready"})).into_response(),
        Ok(Err(error)) => format!("database error: {error}"),
        Err(_) => format!(
            "database did not answer within {} ms",
            READINESS_TIMEOUT.as_millis()
        ),
    };
    tracing::warn!(reason, "Store is not ready.");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"status": "unavailable", "reason": reason})),
    )
        .into_response()
}

/// Any path no route matches.
pub(crate) async fn not_found(uri: Uri) -> ApiError {
    ApiError::RouteNotFound(truncate(uri.path()))
}

/// A known path with a method it does not serve.
pub(crate) async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::MethodNotAllowed(truncate(method.as_str()))
}

fn context_response(view: &ContextView) -> Response {
    let mut response = Json(view).into_response();
    // Contexts change as sagas run: an edge or proxy must not serve a stale one.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A path segment axum could not decode (e.g. `%FF`, not UTF-8) is a bad
/// value of that field, not a server error.
fn undecodable(field: &str, rejection: &PathRejection) -> ValidationError {
    ValidationError::new(
        field,
        format!("could not be decoded: {}", rejection.body_text()),
    )
}

/// [`TenantId::parse`] echoes the whole value; a path can be kilobytes long.
fn short(error: ValidationError, raw: &str) -> ValidationError {
    let reason = error
        .reason
        .replace(&format!("{raw:?}"), &format!("{:?}", truncate(raw)));
    ValidationError::new(error.field, reason)
}
