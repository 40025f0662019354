//! Flags of what a command reports about itself: where a service serves its
//! Prometheus metrics ([`MetricsArgs`]) and where a command exports its
//! traces ([`TraceArgs`]).

use crate::Command;
use clap::Args;
use tenantry_telemetry::trace::Endpoint;

/// Where a long-running service serves its Prometheus metrics.
#[derive(Debug, Clone, Default, Args)]
pub struct MetricsArgs {
    /// Address to serve Prometheus metrics on (`GET /metrics`), e.g.
    /// `127.0.0.1:9464`. Unset: no metrics listener. The context API and
    /// sidecar also serve `/metrics` on their own --listen address.
    #[arg(long, env = "TENANTRY_METRICS_LISTEN")]
    pub metrics_listen: Option<std::net::SocketAddr>,
}

/// Where a command exports its OpenTelemetry traces.
#[derive(Debug, Clone, Default, Args)]
pub struct TraceArgs {
    /// OTLP/gRPC collector to export traces to, e.g. `http://127.0.0.1:4317`
    /// (`https://` for TLS). Unset: no traces are built or exported. The
    /// standard `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` and
    /// `OTEL_TRACES_SAMPLER[_ARG]` variables apply too.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", value_name = "URL")]
    pub otlp_endpoint: Option<Endpoint>,
}

/// What the process exports traces as: the OTLP endpoint of the command's
/// trace flags, and `service.name` by role.
#[derive(Debug, Clone, Default)]
pub struct TraceSelection {
    /// Where to export; `None`: no traces.
    pub endpoint: Option<Endpoint>,
    /// `tenantry-provisioner`, `tenantry-projector`, `tenantry-context-api`,
    /// `tenantry-context-sidecar`, `tenantry-admin`, `tenantry-dev`,
    /// `tenantry-publish`; `tenantry` for the commands without trace flags.
    pub service: &'static str,
}

/// The trace export of `command`, for `settings::init_tracing`.
pub fn select_traces(command: &Command) -> TraceSelection {
    let (traces, service) = match command {
        Command::Provisioner(flags) => (Some(&flags.traces), "tenantry-provisioner"),
        Command::Projector { flags, .. } => (Some(&flags.traces), "tenantry-projector"),
        Command::ContextApi(flags) => (Some(&flags.traces), "tenantry-context-api"),
        Command::ContextSidecar(flags) => (Some(&flags.traces), "tenantry-context-sidecar"),
        Command::Admin(flags) => (Some(&flags.traces), "tenantry-admin"),
        Command::Dev { flags, .. } => (Some(&flags.traces), "tenantry-dev"),
        Command::Publish { flags, .. } => (Some(&flags.traces), "tenantry-publish"),
        _ => (None, "tenantry"),
    };
    TraceSelection {
        endpoint: traces.and_then(|t| t.otlp_endpoint.clone()),
        service,
    }
}

/// Every metric catalog this binary's services emit, so the one recorder
/// of the process knows every histogram's buckets (`tenantry dev` runs all
/// services in one process).
const METRIC_CATALOGS: &[tenantry_telemetry::metrics::Catalog] = &[
    tenantry_provisioner::events::CATALOG,
    tenantry_projector::events::CATALOG,
    tenantry_context_api::metrics::CATALOG,
    tenantry_admin::metrics::CATALOG,
    tenantry_keys::CATALOG,
];

/// Installs the process's metrics recorder with every service's catalog,
/// before any service emits (the first install fixes histogram buckets).
/// The context API, the sidecar and `dev` always serve `/metrics`, so they
/// call it at start; the other services only through
/// [`MetricsArgs::serve_metrics`], so without a listener nothing is recorded.
pub fn install_metrics() -> tenantry_telemetry::metrics::PrometheusHandle {
    tenantry_telemetry::metrics::install(METRIC_CATALOGS)
}

impl MetricsArgs {
    /// With `--metrics-listen`: installs the recorder ([`install_metrics`]),
    /// binds the address and serves `GET /metrics` there until `shutdown`.
    /// Without it: nothing (a service nobody scrapes records no metrics).
    ///
    /// Errors: the address cannot be bound, named as the flag's field.
    pub async fn serve_metrics(
        &self,
        shutdown: &tokio_util::sync::CancellationToken,
    ) -> anyhow::Result<Option<std::net::SocketAddr>> {
        let Some(address) = self.metrics_listen else {
            return Ok(None);
        };
        let handle = install_metrics();
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|error| {
                anyhow::anyhow!(
                    "--metrics-listen (TENANTRY_METRICS_LISTEN): cannot bind {address}: {error}"
                )
            })?;
        let bound = listener.local_addr()?;
        let stop = shutdown.clone().cancelled_owned();
        tokio::spawn(async move {
            if let Err(error) = tenantry_telemetry::metrics::serve(listener, handle, stop).await {
                tracing::warn!(error.message = %error, "The metrics listener stopped.");
            }
        });
        Ok(Some(bound))
    }
}

#[cfg(test)]
mod tests {
    use crate::Cli;
    use clap::Parser as _;

    #[tokio::test]
    async fn a_taken_metrics_address_names_the_field() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let args = super::MetricsArgs {
            metrics_listen: Some(taken.local_addr().unwrap()),
        };
        let shutdown = tokio_util::sync::CancellationToken::new();
        let error = args.serve_metrics(&shutdown).await.unwrap_err().to_string();
        assert!(
            error.starts_with("--metrics-listen (TENANTRY_METRICS_LISTEN): cannot bind 127.0.0.1:"),
            "{error}"
        );
    }

    #[test]
    fn a_bad_otlp_endpoint_names_the_flag() {
        let error = Cli::try_parse_from([
            "tenantry",
            "provisioner",
            "--otlp-endpoint",
            "localhost:4317",
        ])
        .unwrap_err()
        .to_string();
        assert!(error.contains("--otlp-endpoint"), "{error}");
        assert!(error.contains("http://"), "{error}");
    }

    #[test]
    fn each_service_has_its_service_name() {
        let cli = Cli::try_parse_from([
            "tenantry",
            "projector",
            "--otlp-endpoint",
            "http://127.0.0.1:4317",
        ])
        .unwrap();
        let selected = super::select_traces(&cli.command);
        assert_eq!(selected.service, "tenantry-projector");
        assert_eq!(
            selected.endpoint.as_ref().map(|e| e.as_str()),
            Some("http://127.0.0.1:4317")
        );
    }
}
