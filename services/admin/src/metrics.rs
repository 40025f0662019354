//! The admin's Prometheus metrics, served on `--metrics-listen` (the
//! process's recorder, [`tenantry_telemetry::metrics`]):
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `tenantry_admin_requests_total` | counter | `route`, `method`, `status` | requests answered; `route` is the template (`/admin/v1/tenants/{tenant_id}/retry`), `unmatched` for no route |
//! | `tenantry_admin_request_duration_seconds` | histogram | `route` | request to response head |
//!
//! Token refusals are counted by the context API's
//! `tenantry_api_auth_failures_total` (the admin checks tokens with its
//! `ApiAuth`). The admin serves operators, a few requests a minute: the
//! series are looked up per request, without the context API's per-thread
//! handles.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics::Unit;
use std::time::Instant;
use tenantry_telemetry::metrics::{Catalog, MetricDef, MetricKind};

/// Counter of answered requests, labelled `route`, `method`, `status`.
pub const REQUESTS_TOTAL: &str = "tenantry_admin_requests_total";
/// Histogram of request durations in seconds, labelled `route`.
pub const REQUEST_DURATION: &str = "tenantry_admin_request_duration_seconds";

/// Upper bounds (seconds) of [`REQUEST_DURATION`]: a timeline reads a
/// tenant's rows (milliseconds) and a retry writes one.
const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// The admin's metrics, for [`tenantry_telemetry::metrics::install`].
pub const CATALOG: Catalog = &[
    MetricDef {
        name: REQUESTS_TOTAL,
        kind: MetricKind::Counter,
        unit: Some(Unit::Count),
        help: "Admin requests answered, by route template, method and status.",
    },
    MetricDef {
        name: REQUEST_DURATION,
        kind: MetricKind::Histogram(DURATION_BUCKETS),
        unit: Some(Unit::Seconds),
        help: "Seconds from an admin request to its response head, by route template.",
    },
];

/// Middleware around every admin route: counts the request and times it.
pub(crate) async fn record(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method: &'static str = match request.method().as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    metrics::histogram!(REQUEST_DURATION, "route" => route.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!(
        REQUESTS_TOTAL,
        "route" => route,
        "method" => method,
        "status" => response.status().as_u16().to_string()
    )
    .increment(1);
    response
}

#[cfg(test)]
mod tests {
    #[test]
    fn catalog_is_well_formed() {
        tenantry_telemetry::metrics::assert_well_formed(super::CATALOG);
    }
}
