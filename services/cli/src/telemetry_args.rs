//! Flags of what a service reports about itself: where it serves its
//! Prometheus metrics and where it exports its traces.

use clap::Args;

/// Telemetry settings of a long-running service.
#[derive(Debug, Clone, Default, Args)]
pub struct TelemetryArgs {
    /// Address to serve Prometheus metrics on (`GET /metrics`), e.g.
    /// `127.0.0.1:9464`. Unset: no metrics listener. The context API and
    /// sidecar also serve `/metrics` on their own --listen address.
    #[arg(long, global = true, env = "TENANTRY_METRICS_LISTEN")]
    pub metrics_listen: Option<std::net::SocketAddr>,
}
