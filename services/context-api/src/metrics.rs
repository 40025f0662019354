//! Prometheus metrics of the context API, served at `GET /metrics` in the
//! text exposition format 0.0.4 (no bearer token, like `/healthz`).
//!
//! Everything is emitted through the `metrics` facade and recorded by the
//! Prometheus recorder [`install_recorder`] installs once per process
//! (`tenantry_telemetry::metrics`, which also serves the route).
//!
//! | name | type | labels | unit, meaning |
//! |---|---|---|---|
//! | `tenantry_api_requests_total` | counter | `route`, `method`, `status` | requests answered ([`record`]) |
//! | `tenantry_api_request_duration_seconds` | histogram | `route` | seconds from the request reaching the router to its response head ([`REQUEST_DURATION_BUCKETS`]) |
//! | `tenantry_api_auth_failures_total` | counter | `reason` | requests refused with `401`/`403`, by [`crate::auth::Reason`] code |
//! | `tenantry_api_cache_lookups_total` | counter | `result` = `hit` \| `miss` | context cache lookups |
//! | `tenantry_api_cache_evictions_total` | counter | — | cache entries evicted to stay within `--cache-mib` |
//! | `tenantry_api_cache_entries` | gauge | — | contexts held by the cache |
//! | `tenantry_api_cache_bytes` | gauge | — | bytes, estimated size of the cached contexts |
//! | `tenantry_api_changelog_lag_seconds` | histogram | — | seconds from a changelog record's timestamp (the projector's write) to the cache applying it ([`CHANGELOG_LAG_BUCKETS`]) |
//! | `tenantry_api_changelog_records_total` | counter | `outcome` = `stored` \| `not_newer` \| `removed` \| `undecodable` | changelog records the cache read (`removed`: a tombstone) |
//!
//! Labels: `route` is the route template (`/v1/tenants/{tenant_id}/context`,
//! never the raw path, so ids do not multiply series), `unmatched` for a path
//! no route matches; `method` is the upper-case HTTP method, `other` for a
//! non-standard one; `status` is the three-digit response status.

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use metrics::{Counter, Histogram, Label, SharedString, Unit};
use metrics_exporter_prometheus::PrometheusHandle;
use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Instant;
use tenantry_telemetry::metrics::{Catalog, MetricDef, MetricKind};

/// Counter of answered requests, labelled `route`, `method`, `status`.
pub const REQUESTS_TOTAL: &str = "tenantry_api_requests_total";
/// Histogram of request durations in seconds, labelled `route`.
pub const REQUEST_DURATION: &str = "tenantry_api_request_duration_seconds";
/// Counter of context cache lookups, labelled `result` (`hit`, `miss`).
pub const CACHE_LOOKUPS_TOTAL: &str = "tenantry_api_cache_lookups_total";
/// Counter of cache entries evicted to stay within the cache's bound.
pub const CACHE_EVICTIONS_TOTAL: &str = "tenantry_api_cache_evictions_total";
/// Gauge of the contexts the cache holds.
pub const CACHE_ENTRIES: &str = "tenantry_api_cache_entries";
/// Gauge of the cache's estimated size in bytes.
pub const CACHE_BYTES: &str = "tenantry_api_cache_bytes";
/// Histogram of seconds from a changelog record's timestamp to the cache
/// applying it.
pub const CHANGELOG_LAG: &str = "tenantry_api_changelog_lag_seconds";
/// Counter of changelog records the cache read, labelled `outcome`
/// (`stored`, `not_newer`, `removed`, `undecodable`).
pub const CHANGELOG_RECORDS_TOTAL: &str = "tenantry_api_changelog_records_total";

/// Upper bounds (seconds) of [`REQUEST_DURATION`]: 1–2.5–5 steps from
/// 25 µs (a cache hit answered in-process) to 10 s (the longest `wait_ms` of
/// a conditional read), three buckets a decade.
pub const REQUEST_DURATION_BUCKETS: [f64; 18] = [
    0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Upper bounds (seconds) of [`CHANGELOG_LAG`]: 1–2.5–5 steps from 1 ms to
/// 10 s.
pub const CHANGELOG_LAG_BUCKETS: [f64; 13] = [
    0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

pub use tenantry_telemetry::metrics::CONTENT_TYPE;

/// Every metric of the module docs, with its unit, help and buckets, for
/// [`tenantry_telemetry::metrics::install`].
pub const CATALOG: Catalog = &[
    MetricDef {
        name: REQUESTS_TOTAL,
        kind: MetricKind::Counter,
        unit: Some(Unit::Count),
        help: "Requests answered, by route template, method and status.",
    },
    MetricDef {
        name: crate::auth::FAILURES_METRIC,
        kind: MetricKind::Counter,
        unit: Some(Unit::Count),
        help: "Requests refused with 401 or 403, by reason.",
    },
    MetricDef {
        name: CACHE_LOOKUPS_TOTAL,
        kind: MetricKind::Counter,
        unit: Some(Unit::Count),
        help: "Context cache lookups, by result (hit, miss).",
    },
    MetricDef {
        name: CACHE_EVICTIONS_TOTAL,
        kind: MetricKind::Counter,
        unit: Some(Unit::Count),
        help: "Cache entries evicted to stay within the cache's bound.",
    },
    MetricDef {
        name: CHANGELOG_RECORDS_TOTAL,
        kind: MetricKind::Counter,
        unit: Some(Unit::Count),
        help: "Changelog records read by the context cache, by outcome.",
    },
    MetricDef {
        name: CACHE_ENTRIES,
        kind: MetricKind::Gauge,
        unit: Some(Unit::Count),
        help: "Contexts held by the cache.",
    },
    MetricDef {
        name: CACHE_BYTES,
        kind: MetricKind::Gauge,
        unit: Some(Unit::Bytes),
        help: "Estimated size of the cached contexts.",
    },
    MetricDef {
        name: REQUEST_DURATION,
        kind: MetricKind::Histogram(&REQUEST_DURATION_BUCKETS),
        unit: Some(Unit::Seconds),
        help: "Seconds from a request reaching the router to its response, by route template.",
    },
    MetricDef {
        name: CHANGELOG_LAG,
        kind: MetricKind::Histogram(&CHANGELOG_LAG_BUCKETS),
        unit: Some(Unit::Seconds),
        help: "Seconds from a changelog record's timestamp to the cache applying it.",
    },
];

/// The process's Prometheus recorder
/// ([`tenantry_telemetry::metrics::install`] with [`CATALOG`]): installed on
/// the first call, the same handle after. A binary that runs more services
/// installs every catalog first; this call then only returns the handle.
pub fn install_recorder() -> PrometheusHandle {
    tenantry_telemetry::metrics::install(&[CATALOG])
}

/// `GET /metrics` rendering `handle`, for any router state
/// ([`tenantry_telemetry::metrics::routes`]).
pub fn metrics_routes<S>(handle: PrometheusHandle) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    tenantry_telemetry::metrics::routes(handle)
}

/// `GET /metrics`: every metric of the module docs, as Prometheus text.
/// Served by [`tenantry_telemetry::metrics::routes`]; this declaration only
/// documents the route in `/openapi.json`.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "meta",
    responses((
        status = 200,
        description = "Prometheus text exposition format 0.0.4.",
        content_type = "text/plain",
        body = String
    ))
)]
#[allow(dead_code)] // Only its `#[utoipa::path]` declaration is used.
pub(crate) fn render() {}

/// The series of one route template.
struct RouteSeries {
    duration: Histogram,
    /// By method label and status.
    requests: HashMap<(&'static str, u16), Counter>,
}

thread_local! {
    /// Handles by route template. Per worker thread, so the hot path takes
    /// no lock and builds no label set: `counter!` with labels allocates the
    /// key twice and hashes it on every call. Bounded by routes × methods ×
    /// statuses; a handle stays valid for the life of the process.
    static SERIES: RefCell<HashMap<Box<str>, RouteSeries>> = RefCell::new(HashMap::new());
}

/// Middleware around every route and the fallbacks: counts the request in
/// [`REQUESTS_TOTAL`] and times it in [`REQUEST_DURATION`].
pub(crate) async fn record(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let status = response.status().as_u16();
    SERIES.with_borrow_mut(|series| {
        if !series.contains_key(route) {
            series.insert(route.into(), RouteSeries::new(route));
        }
        let Some(series) = series.get_mut(route) else {
            return;
        };
        series.duration.record(elapsed.as_secs_f64());
        series
            .requests
            .entry((method, status))
            .or_insert_with(|| {
                metrics::counter!(
                    REQUESTS_TOTAL,
                    vec![
                        Label::new("route", SharedString::from(route.to_owned())),
                        Label::new("method", method),
                        Label::new("status", status.to_string()),
                    ]
                )
            })
            .increment(1);
    });
    response
}

impl RouteSeries {
    fn new(route: &str) -> Self {
        Self {
            duration: metrics::histogram!(REQUEST_DURATION, "route" => route.to_owned()),
            requests: HashMap::new(),
        }
    }
}

/// Standard methods by name; anything else is `other`, so a client cannot
/// create series by inventing methods.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{StatusCode, header};
    use axum::routing::get;

    #[test]
    fn catalog_is_well_formed() {
        tenantry_telemetry::metrics::assert_well_formed(CATALOG);
    }

    #[test]
    fn install_returns_the_installed_recorder_every_time() {
        let (first, second) = (install_recorder(), install_recorder());
        metrics::counter!("tenantry_test_install_total").increment(1);
        for handle in [first, second] {
            assert!(handle.render().contains("tenantry_test_install_total 1"));
        }
    }

    #[tokio::test]
    async fn requests_are_counted_by_route_template_method_and_status() {
        let app: Router = Router::new()
            .route("/v1/things/{id}", get(|| async { StatusCode::NO_CONTENT }))
            .merge(metrics_routes(install_recorder()))
            .layer(axum::middleware::from_fn(record));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let client = reqwest::Client::new();
        for path in ["/v1/things/a", "/v1/things/b", "/nowhere"] {
            client.get(format!("{base}{path}")).send().await.unwrap();
        }
        let response = client.get(format!("{base}/metrics")).send().await.unwrap();
        assert_eq!(response.headers()[header::CONTENT_TYPE], CONTENT_TYPE);
        let text = response.text().await.unwrap();
        for line in [
            r#"tenantry_api_requests_total{route="/v1/things/{id}",method="GET",status="204"} 2"#,
            r#"tenantry_api_requests_total{route="unmatched",method="GET",status="404"} 1"#,
            r#"tenantry_api_request_duration_seconds_bucket{route="/v1/things/{id}",le="0.000025"} "#,
            r#"tenantry_api_request_duration_seconds_count{route="/v1/things/{id}"} 2"#,
            "# HELP tenantry_api_requests_total ",
            "# TYPE tenantry_api_request_duration_seconds histogram",
        ] {
            assert!(text.contains(line), "{line} not in:\n{text}");
        }
    }
}
