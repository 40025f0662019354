//! One tracing span per request, named with OpenTelemetry HTTP semantic
//! conventions (`http.request.method`, `http.route`,
//! `http.response.status_code`).
//!
//! The span is at DEBUG: at the API's request rate an INFO span cost about
//! 3 µs of CPU a request (15 % of the sidecar's CPU in `tenantry bench
//! api`), mostly the log formatter recording its fields, for no line
//! logged. `--log tenantry_context_api=debug` turns it on, and so does an
//! OTLP endpoint (`--otlp-endpoint`): the trace layer enables Tenantry's
//! DEBUG spans on its own, and the span then continues the trace of the
//! request's W3C `traceparent` header (`url.path`, `otel.kind = server`
//! too). Without either, the span is disabled and nothing here runs but
//! the level check.
//!
//! The cache's apply of a changelog record is
//! [`tenantry_kafka::Record::process_span`], a span of the trace its
//! `traceparent` header names (the commerce event's).

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;
use tracing::field::Empty;

/// Wraps every route and the fallbacks. `http.route` is the route template
/// (`/v1/tenants/{tenant_id}/context`), never the raw path, so a tenant id
/// is only in `tenant.id`; unmatched paths are `unmatched`.
pub(crate) async fn trace(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let span = tracing::debug_span!(
        "http.request",
        otel.name = %format_args!("{} {route}", request.method()),
        otel.kind = "server",
        http.request.method = %request.method(),
        http.route = %route,
        url.path = request.uri().path(),
        http.response.status_code = Empty,
        tenant.id = Empty,
    );
    if !span.is_disabled() {
        tenantry_telemetry::trace::continue_from_http(&span, request.headers());
    }
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    // As i64: the trace layer keeps an unsigned value as text.
    span.record("http.response.status_code", i64::from(status));
    span.in_scope(|| tracing::debug!(status, "Request completed."));
    response
}
