//! The handlers. Each authorizes first (token, route, tenant scope), so a
//! caller without a valid token learns nothing about the tenant.

use crate::timeline;
use crate::{AdminError, AdminState};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tenantry_context_api::auth::Route;
use tenantry_context_api::{ApiError, ContextView};
use tenantry_schemas::TenantId;
use tenantry_store::parking::{self, OperatorAction};
use tenantry_store::timeline as rows;

fn tenant_id(raw: &str) -> Result<TenantId, AdminError> {
    TenantId::parse(raw).map_err(AdminError::InvalidTenantId)
}

/// The verified tenant of a request to `route`.
async fn authorize(
    state: &AdminState,
    headers: &HeaderMap,
    route: Route,
    raw: &str,
) -> Result<(TenantId, Option<String>), AdminError> {
    let principal = state.auth.authorize(headers, route).await?;
    let tenant = tenant_id(raw)?;
    // Retry and skip act on the tenant; the timeline reads it.
    let verb = match route {
        Route::AdminRetry | Route::AdminSkip => "act on",
        _ => "read",
    };
    principal.tenants.require_to(verb, &tenant)?;
    Ok((tenant, principal.issuer.clone()))
}

/// `GET /admin/tenants/{tenant_id}`: the page. It holds no tenant data, so
/// it needs no token; its script asks for one.
pub(crate) async fn page(Path(raw): Path<String>) -> Result<Response, AdminError> {
    tenant_id(&raw)?;
    Ok(crate::page::response())
}

/// `GET /admin/v1/tenants/{tenant_id}/timeline`.
pub(crate) async fn timeline(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Json<timeline::Timeline>, AdminError> {
    let (tenant, _) = authorize(&state, &headers, Route::AdminTimeline, &raw).await?;
    let pool = state.store.pool();
    let events = rows::events(pool, &tenant).await?;
    let sagas = rows::sagas(pool, &tenant).await?;
    let transitions = rows::transitions(pool, &tenant).await?;
    let parked = parking::get(pool, &tenant).await?;
    let context = state.contexts.get(&tenant).await?;
    if events.is_empty() && sagas.is_empty() && parked.is_none() && context.is_none() {
        return Err(AdminError::TenantNotFound(tenant));
    }
    let document = timeline::build(
        tenant.as_str(),
        &events,
        &sagas,
        &transitions,
        parked.as_ref(),
        context.as_ref().map(ContextView::from),
    )
    .map_err(AdminError::Unreadable)?;
    Ok(Json(document))
}

/// The `202` body of retry and skip.
#[derive(Debug, Serialize)]
struct Requested {
    tenant_id: String,
    action: &'static str,
    message: String,
}

/// `POST /admin/v1/tenants/{tenant_id}/retry`.
pub(crate) async fn retry(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Response, AdminError> {
    request(
        state,
        headers,
        raw,
        Route::AdminRetry,
        OperatorAction::Retry,
    )
    .await
}

/// `POST /admin/v1/tenants/{tenant_id}/skip`.
pub(crate) async fn skip(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Response, AdminError> {
    request(state, headers, raw, Route::AdminSkip, OperatorAction::Skip).await
}

/// What `tenantry sagas retry|skip` does: [`parking::request`] records the
/// action on the parking row; the provisioner that owns the tenant's
/// partition carries it out within a second.
async fn request(
    state: AdminState,
    headers: HeaderMap,
    raw: String,
    route: Route,
    action: OperatorAction,
) -> Result<Response, AdminError> {
    let (tenant, issuer) = authorize(&state, &headers, route, &raw).await?;
    let pool = state.store.pool();
    let requested = parking::request(pool, &tenant, action).await?;
    if let Some(refusal) = requested.nothing_to_retry(&tenant) {
        return Err(AdminError::NothingToRetry(refusal));
    }
    if !requested.is_recorded() {
        let known = !rows::events(pool, &tenant).await?.is_empty()
            || !rows::sagas(pool, &tenant).await?.is_empty();
        return Err(if known {
            AdminError::NotParked(tenant)
        } else {
            AdminError::TenantNotFound(tenant)
        });
    }
    tracing::info!(
        tenant_id = %tenant,
        action = action.as_str(),
        issuer = issuer.as_deref().unwrap_or("-"),
        "Operator action requested from the admin page."
    );
    let body = Requested {
        tenant_id: tenant.to_string(),
        action: action.as_str(),
        message: format!(
            "{} requested for {tenant}; the provisioner carries it out within a second",
            action.as_str()
        ),
    };
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

/// `GET /healthz`: the admin is serving (as the context API's: no token,
/// touches nothing else).
pub(crate) async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// Any other path: the context API's `404` `not_found`.
pub(crate) async fn not_found(uri: Uri) -> ApiError {
    ApiError::RouteNotFound(uri.path().to_owned())
}

/// Another method on a route: the context API's `405`.
pub(crate) async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::MethodNotAllowed(method.to_string())
}
