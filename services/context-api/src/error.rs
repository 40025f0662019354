//! Every way a request can fail, mapped to an HTTP status and a JSON body in
//! one place ([`ApiError::status`] and its `IntoResponse`).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tenantry_sagas::ContextsError;
use tenantry_schemas::{TenantId, ValidationError};

use crate::auth::AuthFailure;
use crate::host::SiteHost;

/// A failed request. Every variant becomes a JSON body
/// `{"error":{"code":…, …}}`; only the store is allowed a 5xx.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// `400`: the tenant id in the path is not a valid [`TenantId`].
    /// Body: `{"error":{"code":"invalid_tenant_id","field":"tenant_id","reason":…}}`.
    #[error("invalid tenant id: {0}")]
    InvalidTenantId(ValidationError),
    /// `400`: the host in the path is not a valid [`SiteHost`].
    /// Body: `{"error":{"code":"invalid_host","field":"host","reason":…}}`.
    #[error("invalid host: {0}")]
    InvalidHost(ValidationError),
    /// `400`: a query parameter is malformed or out of range.
    /// Body: `{"error":{"code":"invalid_query","field":…,"reason":…}}`.
    #[error("invalid query: {0}")]
    InvalidQuery(ValidationError),
    /// `404`: no event has touched this tenant.
    /// Body: `{"error":{"code":"tenant_not_found","message":…}}`.
    #[error("no context for tenant {0}")]
    TenantNotFound(TenantId),
    /// `410`: the tenant was destroyed; edges must stop serving it.
    /// Body: `{"error":{"code":"tenant_destroyed","message":…}}`.
    #[error("tenant {0} was destroyed")]
    TenantDestroyed(TenantId),
    /// `404`: no tenant has this site host.
    /// Body: `{"error":{"code":"site_not_found","message":…}}`.
    #[error("no tenant has site host {0}")]
    SiteNotFound(SiteHost),
    /// `401` (no valid bearer token; with `WWW-Authenticate: Bearer`) or
    /// `403` (a valid token whose issuer may not call this route, or that
    /// is not scoped to this tenant), by [`AuthFailure::reason`] (see
    /// [`crate::auth`]). Body:
    /// `{"error":{"code":"unauthorized"|"forbidden","reason":…,"message":…}}`.
    /// Counted by reason in [`crate::auth::FAILURES_METRIC`].
    #[error("{0}")]
    Auth(#[from] AuthFailure),
    /// `404`: no route matches the path. Body code `not_found`.
    #[error("no route for {0}")]
    RouteNotFound(String),
    /// `405`: the route exists but not for this method. Body code
    /// `method_not_allowed`.
    #[error("method {0} not allowed on this route")]
    MethodNotAllowed(String),
    /// `503`: the tenant context store failed; the edge may retry. Body code
    /// `store_unavailable` (database unreachable or failing) or
    /// `context_unreadable` (a stored document does not parse, e.g. written
    /// by a newer projector during a rolling deploy). The cause is logged,
    /// not returned.
    #[error("tenant context store failed")]
    Store(#[from] ContextsError),
    /// `503`: a memory-only instance (`tenantry context-sidecar`) cannot
    /// tell whether the context exists: it is still reading the changelog,
    /// or it evicted contexts to stay within its bound. Body code
    /// `context_not_cached`; the edge may retry or ask another instance.
    #[error("{0}")]
    NotCached(&'static str),
}

impl ApiError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidTenantId(_) | ApiError::InvalidHost(_) | ApiError::InvalidQuery(_) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::Auth(failure) => failure.reason.status(),
            ApiError::TenantNotFound(_)
            | ApiError::SiteNotFound(_)
            | ApiError::RouteNotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::TenantDestroyed(_) => StatusCode::GONE,
            ApiError::Store(_) | ApiError::NotCached(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The machine-readable `error.code`.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidTenantId(_) => "invalid_tenant_id",
            ApiError::InvalidHost(_) => "invalid_host",
            ApiError::InvalidQuery(_) => "invalid_query",
            ApiError::Auth(failure) if failure.reason.status() == StatusCode::FORBIDDEN => {
                "forbidden"
            }
            ApiError::Auth(_) => "unauthorized",
            ApiError::TenantNotFound(_) => "tenant_not_found",
            ApiError::TenantDestroyed(_) => "tenant_destroyed",
            ApiError::SiteNotFound(_) => "site_not_found",
            ApiError::RouteNotFound(_) => "not_found",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::Store(ContextsError::Corrupt(_)) => "context_unreadable",
            ApiError::Store(_) => "store_unavailable",
            ApiError::NotCached(_) => "context_not_cached",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let code = self.code();
        let body = match &self {
            ApiError::InvalidTenantId(e) | ApiError::InvalidHost(e) | ApiError::InvalidQuery(e) => {
                json!({"error": {"code": code, "field": e.field, "reason": e.reason}})
            }
            ApiError::Store(cause) => {
                tracing::error!(
                    error.message = %self,
                    error.cause_chain = %cause,
                    "Tenant context store failed."
                );
                json!({"error": {"code": code, "message": "the tenant context store is unavailable; retry later"}})
            }
            ApiError::Auth(failure) => {
                failure.emit();
                json!({"error": {"code": code, "reason": failure.reason.code(), "message": failure.message}})
            }
            other => json!({"error": {"code": code, "message": other.to_string()}}),
        };
        let mut response = (status, Json(body)).into_response();
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
