//! Every way an admin request can fail, mapped to a status and a JSON body
//! in one place. The shapes are the context API's ([`ApiError`]): a bad path
//! value or a refused request names the field and the reason,
//! `{"error":{"code":…,"field":"tenant_id","reason":…}}`; authentication
//! failures are the context API's own `401`/`403` bodies.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tenantry_context_api::ApiError;
use tenantry_context_api::auth::AuthFailure;
use tenantry_sagas::ContextsError;
use tenantry_schemas::{TenantId, ValidationError};
use tenantry_store::StoreError;

/// A failed admin request.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// `400` `invalid_tenant_id`: the path's tenant id does not parse.
    #[error("invalid tenant id: {0}")]
    InvalidTenantId(ValidationError),
    /// `401` / `403`: the bearer token, its issuer's routes or its tenants
    /// ([`tenantry_context_api::auth`]).
    #[error("{0}")]
    Auth(#[from] AuthFailure),
    /// `404` `tenant_not_found`: nothing is recorded for the tenant (no
    /// event, saga, parking or context).
    #[error("nothing is recorded for tenant {0} (no commerce event, saga or context)")]
    TenantNotFound(TenantId),
    /// `409` `tenant_not_parked`: retry or skip of a tenant that is not
    /// parked (as `tenantry sagas retry|skip` refuses it).
    #[error(
        "tenant {0} is not parked; retry and skip release a parked tenant only (reload the timeline)"
    )]
    NotParked(TenantId),
    /// `409` `nothing_to_retry`: retry of a tenant parked on a sequence gap,
    /// which has no failed saga to run again (the sentence of
    /// [`tenantry_store::parking::Requested::nothing_to_retry`]: skip the
    /// missing sequences or publish them).
    #[error("{0}")]
    NothingToRetry(String),
    /// `503` `store_unavailable`: the saga store failed. Logged, not returned.
    #[error("saga store failed: {0}")]
    Store(#[from] StoreError),
    /// `503` `store_unavailable`: the context store failed.
    #[error("context store failed: {0}")]
    Contexts(#[from] ContextsError),
    /// `503` `store_unreadable`: a stored row this version cannot read.
    #[error("stored data cannot be read: {0}")]
    Unreadable(String),
}

impl AdminError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            AdminError::InvalidTenantId(_) => StatusCode::BAD_REQUEST,
            AdminError::Auth(failure) => failure.reason.status(),
            AdminError::TenantNotFound(_) => StatusCode::NOT_FOUND,
            AdminError::NotParked(_) | AdminError::NothingToRetry(_) => StatusCode::CONFLICT,
            AdminError::Store(_) | AdminError::Contexts(_) | AdminError::Unreadable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = self.to_string();
        let body = match self {
            AdminError::InvalidTenantId(e) => return ApiError::InvalidTenantId(e).into_response(),
            AdminError::Auth(failure) => return ApiError::Auth(failure).into_response(),
            AdminError::TenantNotFound(_) => field_error("tenant_not_found", "tenant_id", &message),
            AdminError::NotParked(_) => field_error("tenant_not_parked", "tenant_id", &message),
            AdminError::NothingToRetry(_) => field_error("nothing_to_retry", "tenant_id", &message),
            AdminError::Store(_) | AdminError::Contexts(_) | AdminError::Unreadable(_) => {
                let code = if matches!(self, AdminError::Unreadable(_)) {
                    "store_unreadable"
                } else {
                    "store_unavailable"
                };
                tracing::error!(error.message = %message, "Admin request failed in a store.");
                json!({"error": {"code": code, "message": "a store failed; retry later (the cause is in the admin's log)"}})
            }
        };
        let mut response = (status, Json(body)).into_response();
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

fn field_error(code: &str, field: &str, reason: &str) -> serde_json::Value {
    json!({"error": {"code": code, "field": field, "reason": reason}})
}
