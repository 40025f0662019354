//! `GET /metrics`: as a route of a service's own router ([`routes`]), or on
//! a listener of its own ([`serve`]).

use super::CONTENT_TYPE;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use std::future::Future;
use tokio::net::TcpListener;

/// `GET /metrics` rendering `handle`, for any router state.
pub fn routes<S>(handle: PrometheusHandle) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/metrics", get(render))
        .layer(Extension(handle))
}

/// Serves [`routes`] — `/metrics` only, anything else `404` — on `listener`
/// until `shutdown` completes, then finishes the scrapes in flight.
///
/// # Errors
/// Accepting on the listener failed for good (axum retries transient
/// accept errors itself).
pub async fn serve(
    listener: TcpListener,
    handle: PrometheusHandle,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let address = listener.local_addr()?;
    tracing::info!(%address, "Serving Prometheus metrics at /metrics.");
    axum::serve(listener, routes::<()>(handle))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Every metric recorded in this process, as Prometheus text. The upkeep
/// that [`render`](PrometheusHandle::render) runs first folds histogram
/// samples into their buckets.
async fn render(Extension(handle): Extension<PrometheusHandle>) -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
        handle.render(),
    )
        .into_response()
}
