//! The API's OpenAPI 3.1 document, served at `GET /openapi.json` (no token).
//!
//! Generated at compile time by `utoipa` from the handlers'
//! `#[utoipa::path]` annotations and the view types' `ToSchema` derives, so
//! the document changes with the code; [`schemas`] describes what cannot be
//! derived. schemathesis checks the running API against it
//! (`tests/api/schemathesis.rs`).

mod context;
pub mod schemas;

pub(crate) use context::{ContextParams, ContextResponses};

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::LazyLock;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// Name of the bearer-token security scheme (a JWT service token).
pub const BEARER: &str = "bearer";

/// The document's root: every path and the schemas they reference.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tenantry context API",
        description = "The read side of Tenantry: where a tenant lives, what it is licensed for and how to reach its data. Every body is JSON except `/metrics`."
    ),
    paths(
        crate::routes::context_by_tenant,
        crate::routes::context_by_host,
        crate::routes::healthz,
        crate::routes::readyz,
        crate::metrics::render,
        document
    ),
    components(schemas(
        crate::ContextView,
        schemas::ETag,
        schemas::SiteHost,
        schemas::ErrorBody,
        schemas::Health,
        schemas::Readiness
    )),
    modifiers(&BearerScheme)
)]
pub struct ApiDoc;

/// Declares [`BEARER`]: `Authorization: Bearer <JWT>` (RFC 6750).
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A service token (ASAP-style JWT) whose issuer the route allow-list names.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document as JSON, built on first use.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_json()
        .expect("the OpenAPI document serializes")
});

/// `GET /openapi.json`, for any router state.
pub fn openapi_routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new().route("/openapi.json", get(document))
}

/// `GET /openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi",
    tag = "meta",
    responses((
        status = 200,
        description = "The OpenAPI 3.1 document of this API.",
        content_type = "application/json",
        body = Object
    ))
)]
pub(crate) async fn document() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        DOCUMENT.as_str(),
    )
        .into_response()
}

#[cfg(test)]
mod tests;
