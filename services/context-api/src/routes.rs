//! Handlers: parse the path, read the store, answer JSON.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;
use tenantry_schemas::{TenantId, ValidationError};

use crate::auth::{ApiAuth, Principal, Route};
use crate::cache::Served;
use crate::error::ApiError;
use crate::host::{SiteHost, truncate};
use crate::reader::{ContextSource, Lookup};
use std::sync::Arc;

/// How long `/readyz` waits for `SELECT 1` before reporting unavailable.
/// Kept below the usual 5 s probe timeout so the probe gets a JSON answer
/// instead of a dropped connection.
pub(crate) const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// Shared by every handler; cloning is cheap (shared handles).
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    pub(crate) contexts: ContextSource,
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

/// Longest `wait_ms` a caller may ask for.
pub(crate) const MAX_WAIT_MS: u64 = 10_000;

/// `wait_ms` when `min_sequence` is given without it.
pub(crate) const DEFAULT_WAIT_MS: u64 = 1_000;

/// Response header: the commerce sequence the served context reflects
/// (`version.commerce_sequence`), so a caller that asked for
/// `min_sequence` sees at once whether it got it.
pub(crate) const COMMERCE_SEQUENCE_HEADER: &str = "tenantry-commerce-sequence";

/// Query of both context routes (read-your-writes). Unknown parameters are
/// ignored. The values are taken as text and parsed here, so an error names
/// the parameter.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ReadQuery {
    /// Wait until the context reflects at least this commerce sequence
    /// (`version.commerce_sequence`), e.g. the sequence of the event the
    /// caller just published. Integer ≥ 0.
    min_sequence: Option<String>,
    /// Longest wait for `min_sequence`, in milliseconds: 0..=10000, default
    /// 1000. Without `min_sequence` it has no effect (it is still checked).
    wait_ms: Option<String>,
}

impl ReadQuery {
    /// `(min_sequence, wait)` when the caller asked to wait.
    fn wait(
        query: Result<Query<ReadQuery>, QueryRejection>,
    ) -> Result<Option<(i64, Duration)>, ApiError> {
        // Only a query string that is not `name=value` pairs at all (or
        // names a parameter twice) fails here.
        let Query(query) = query.map_err(|rejection| {
            ApiError::InvalidQuery(ValidationError::new(
                "query",
                format!(
                    "must be name=value pairs, each name at most once: {}",
                    rejection.body_text()
                ),
            ))
        })?;
        let wait_ms = match &query.wait_ms {
            None => DEFAULT_WAIT_MS,
            Some(raw) => match raw.parse::<u64>() {
                Ok(ms) if ms <= MAX_WAIT_MS => ms,
                _ => {
                    return Err(ApiError::InvalidQuery(ValidationError::new(
                        "wait_ms",
                        format!(
                            "must be an integer from 0 to {MAX_WAIT_MS} (milliseconds), got {:?}",
                            truncate(raw)
                        ),
                    )));
                }
            },
        };
        let Some(raw) = &query.min_sequence else {
            return Ok(None);
        };
        match raw.parse::<i64>() {
            Ok(min) if min >= 0 => Ok(Some((min, Duration::from_millis(wait_ms)))),
            _ => Err(ApiError::InvalidQuery(ValidationError::new(
                "min_sequence",
                format!(
                    "must be a commerce sequence, an integer 0 or more, got {:?}",
                    truncate(raw)
                ),
            ))),
        }
    }
}

/// `GET /v1/tenants/{tenant_id}/context`.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant_id}/context",
    operation_id = "context_by_tenant",
    tag = "contexts",
    summary = "A tenant's context, by tenant id.",
    params(
        ("tenant_id" = crate::openapi::schemas::TenantId, Path, description = "Tenant id."),
        crate::openapi::ContextParams,
    ),
    security(("bearer" = [])),
    responses(crate::openapi::ContextResponses)
)]
pub(crate) async fn context_by_tenant(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<ReadQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let caller = state.caller(&headers, Route::TenantContext).await?;
    let raw = path
        .map_err(|e| ApiError::InvalidTenantId(undecodable("tenant_id", &e)))?
        .0;
    let tenant_id = TenantId::parse(&raw).map_err(|e| ApiError::InvalidTenantId(short(e, &raw)))?;
    let wait = ReadQuery::wait(query)?;
    tracing::Span::current().record("tenant.id", tenant_id.as_str());
    caller.tenants.require(&tenant_id)?;
    match read(&state, Lookup::Tenant(&tenant_id), wait).await? {
        Some(served) if served.destroyed => Err(ApiError::TenantDestroyed(tenant_id)),
        Some(served) => Ok(context_response(&served, &headers)),
        None => Err(ApiError::TenantNotFound(tenant_id)),
    }
}

/// `GET /v1/sites/{host}/context`.
#[utoipa::path(
    get,
    path = "/v1/sites/{host}/context",
    operation_id = "context_by_host",
    tag = "contexts",
    summary = "The context of the tenant a site host belongs to.",
    params(
        ("host" = crate::openapi::schemas::SiteHost, Path, description = "Site host."),
        crate::openapi::ContextParams,
    ),
    security(("bearer" = [])),
    responses(crate::openapi::ContextResponses)
)]
pub(crate) async fn context_by_host(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<ReadQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let caller = state.caller(&headers, Route::SiteContext).await?;
    let raw = path
        .map_err(|e| ApiError::InvalidHost(undecodable("host", &e)))?
        .0;
    let host = SiteHost::parse(&raw).map_err(ApiError::InvalidHost)?;
    let wait = ReadQuery::wait(query)?;
    let found = read(&state, Lookup::Host(&host), wait).await?;
    // The check is on the tenant the host resolves to; the refusal names
    // the host the caller gave, never the tenant that owns it.
    if let Some(served) = &found {
        caller
            .tenants
            .require(&served.tenant_id)
            .map_err(|mut refused| {
                refused.message = format!("the token may not read the tenant of site host {host}");
                refused
            })?;
    }
    match found {
        Some(served) if served.destroyed => {
            Err(ApiError::TenantDestroyed(served.tenant_id.clone()))
        }
        Some(served) => {
            tracing::Span::current().record("tenant.id", served.tenant_id.as_str());
            Ok(context_response(&served, &headers))
        }
        None => Err(ApiError::SiteNotFound(host)),
    }
}

async fn read(
    state: &AppState,
    lookup: Lookup<'_>,
    wait: Option<(i64, Duration)>,
) -> Result<Option<Arc<Served>>, ApiError> {
    match wait {
        Some((min_sequence, wait)) => {
            state
                .contexts
                .get_at_least(lookup, min_sequence, wait)
                .await
        }
        None => state.contexts.get(lookup).await,
    }
}

/// `GET /healthz`: the process is up. Touches nothing else.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "meta",
    summary = "Liveness: the process is up.",
    responses((status = 200, description = "Up.", body = crate::openapi::schemas::Health))
)]
pub(crate) async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /readyz`: the store answers `SELECT 1` within [`READINESS_TIMEOUT`]
/// (when there is a store) and the cache has read the changelog to its end
/// (when there is a cache).
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "meta",
    summary = "Readiness: contexts can be served.",
    responses(
        (status = 200, description = "Ready.", body = crate::openapi::schemas::Readiness),
        (status = 503, description = "Not ready; `reason` says why.", body = crate::openapi::schemas::Readiness)
    )
)]
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    let Err(reason) = state.contexts.ready(READINESS_TIMEOUT).await else {
        return Json(json!({"status": "ready"})).into_response();
    };
    tracing::warn!(reason, "Not ready.");
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

/// `200` with the encoded context, or `304` when `If-None-Match` names its
/// `ETag` (weak comparison, RFC 9110 §13.1.2).
fn context_response(served: &Served, request: &HeaderMap) -> Response {
    let mut response = if none_match(request, &served.etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            served.body.clone(),
        )
            .into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, served.etag.clone());
    headers.insert(
        COMMERCE_SEQUENCE_HEADER,
        HeaderValue::from(served.commerce_sequence),
    );
    // Contexts change as sagas run: a cache in between may keep a copy but
    // must ask again (with the ETag) before using it.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Whether an `If-None-Match` header matches `etag`: `*`, or one of its
/// comma-separated entity tags equal to it once a `W/` prefix is dropped.
fn none_match(request: &HeaderMap, etag: &HeaderValue) -> bool {
    let etag = etag.as_bytes();
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag).as_bytes() == etag)
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
