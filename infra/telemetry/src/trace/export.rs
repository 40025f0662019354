//! The OpenTelemetry layer and its exporter: OTLP over gRPC when an endpoint
//! is configured, any exporter for tests, nothing otherwise.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanExporter};
use std::sync::atomic::{AtomicBool, Ordering};
use tracing::Subscriber;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::FilterFn;
use tracing_subscriber::registry::LookupSpan;

/// Set once a trace layer is built; read by every propagation helper.
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Whether this process exports traces: a layer was built by [`layer`] or
/// [`layer_with_exporter`]. One relaxed atomic load: the hot paths ask it
/// before touching any header.
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// Spans whose target starts with this (Tenantry's crates) are exported;
/// other crates' spans (sqlx, hyper, tonic) are not.
pub const SPAN_TARGET_PREFIX: &str = "tenantry";

/// An OTLP/gRPC collector address: an `http://` or `https://` URL with a
/// host, e.g. `http://127.0.0.1:4317` (the OTLP/gRPC port, OTLP
/// specification "OTLP/gRPC Default Port"). `https://` uses TLS (rustls,
/// webpki roots).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint(String);

/// Why an [`Endpoint`] was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EndpointError {
    /// Not `http://` or `https://`.
    #[error(
        "must start with http:// or https:// (an OTLP/gRPC collector, e.g. http://127.0.0.1:4317), not {0:?}"
    )]
    Scheme(String),
    /// Nothing after the scheme.
    #[error("has no host: {0:?}")]
    NoHost(String),
    /// Not a URL (RFC 3986), e.g. a port that is not a number.
    #[error("is not a URL ({1}): {0:?}")]
    Invalid(String, String),
}

impl Endpoint {
    /// Parses `raw` (surrounding spaces ignored).
    ///
    /// # Errors
    /// [`EndpointError`] naming what is wrong with the URL.
    pub fn parse(raw: &str) -> Result<Self, EndpointError> {
        let trimmed = raw.trim();
        // The scheme is case-insensitive (RFC 3986 §3.1); kept lower-case.
        let (scheme, rest) = trimmed
            .split_once("://")
            .filter(|(scheme, _)| {
                scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")
            })
            .ok_or_else(|| EndpointError::Scheme(trimmed.to_owned()))?;
        let url = format!("{}://{rest}", scheme.to_ascii_lowercase());
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if host.is_empty() || host.starts_with(':') {
            return Err(EndpointError::NoHost(trimmed.to_owned()));
        }
        // What tonic will parse: a bad port or bracket is refused here, at
        // start, rather than turned into a warning and no traces.
        url.parse::<http::Uri>()
            .map_err(|error| EndpointError::Invalid(trimmed.to_owned(), error.to_string()))?;
        // `http::Uri` keeps any text after the last `:` as the port.
        let port = match host.rsplit_once(']') {
            Some((_, after)) => after.strip_prefix(':'),
            None => host.rsplit_once(':').map(|(_, port)| port),
        };
        if port.is_some_and(|port| port.parse::<u16>().is_err()) {
            return Err(EndpointError::Invalid(
                trimmed.to_owned(),
                "the port is not a number from 0 to 65535".to_owned(),
            ));
        }
        Ok(Self(url))
    }

    /// The URL as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }
}

impl std::str::FromStr for Endpoint {
    type Err = EndpointError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::parse(raw)
    }
}

/// The exporter could not be built.
#[derive(Debug, thiserror::Error)]
#[error("OTLP exporter for {endpoint}: {reason}")]
pub struct TraceError {
    endpoint: String,
    reason: String,
}

/// A built trace layer and the guard that flushes it.
pub struct Traces<S> {
    /// Add it to the subscriber (it carries its own filter: Tenantry's spans
    /// up to DEBUG, events up to INFO as span events).
    pub layer: Box<dyn Layer<S> + Send + Sync + 'static>,
    /// Keep it for the life of the process; dropping it exports what is
    /// buffered.
    pub guard: TraceGuard,
}

/// Owns the tracer provider; on drop, exports the spans still buffered
/// and stops the exporter (each export at most [`EXPORT_TIMEOUT`]).
#[derive(Debug)]
pub struct TraceGuard {
    provider: Option<SdkTracerProvider>,
}

impl TraceGuard {
    /// A guard with nothing to flush.
    pub fn none() -> Self {
        Self { provider: None }
    }

    /// Exports what is buffered now (tests read their exporter after it).
    pub fn flush(&self) {
        if let Some(provider) = &self.provider {
            blocking(|| {
                let _ = provider.force_flush();
            });
        }
    }
}

impl Drop for TraceGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            blocking(move || {
                if let Err(error) = provider.shutdown() {
                    // Not `eprintln!`: it panics when stderr is closed.
                    use std::io::Write as _;
                    let _ = writeln!(
                        std::io::stderr(),
                        "warning: exporting the last spans failed: {error}"
                    );
                }
            });
        }
    }
}

/// Runs `f`, which waits for the batch processor's task on the tokio
/// runtime: from a worker thread of a multi-threaded runtime it moves off
/// the worker first (`block_in_place`); on a current-thread runtime it is
/// skipped, since waiting there would wait for itself.
fn blocking(f: impl FnOnce()) {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        Ok(_) => {}
        Err(_) => f(),
    }
}

/// The trace layer exporting over OTLP/gRPC to `endpoint`, or `None`
/// without one: then nothing is built and [`exporting`] stays false.
/// Spans are batched on the tokio runtime (call it inside one) and
/// exported every 5 s or per 512 spans (SDK defaults, `OTEL_BSP_*`).
///
/// `service` is the resource's `service.name` (`tenantry-provisioner`, …)
/// unless `OTEL_SERVICE_NAME` is set; `OTEL_RESOURCE_ATTRIBUTES` adds
/// attributes; `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` choose the
/// sampler (default `parentbased_always_on`: a record or request whose
/// traceparent is sampled is traced).
///
/// # Errors
/// [`TraceError`] when the exporter cannot be built (a URL tonic refuses).
pub fn layer<S>(endpoint: Option<&Endpoint>, service: &str) -> Result<Option<Traces<S>>, TraceError>
where
    S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    let Some(endpoint) = endpoint else {
        return Ok(None);
    };
    let mut builder = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint.as_str());
    // A collector that accepts connections and never answers must not hold
    // a service's shutdown (Kubernetes' default grace is 30 s) nor add 10 s
    // (tonic's default) to a `tenantry publish`: each export gives up after
    // EXPORT_TIMEOUT unless `OTEL_EXPORTER_OTLP_TIMEOUT` says otherwise.
    if std::env::var_os("OTEL_EXPORTER_OTLP_TIMEOUT").is_none() {
        builder = builder.with_timeout(EXPORT_TIMEOUT);
    }
    if endpoint.is_https() {
        use opentelemetry_otlp::WithTonicConfig as _;
        use opentelemetry_otlp::tonic_types::transport::ClientTlsConfig;
        builder = builder.with_tls_config(ClientTlsConfig::new().with_enabled_roots());
    }
    let exporter = builder.build().map_err(|error| TraceError {
        endpoint: endpoint.as_str().to_owned(),
        reason: error.to_string(),
    })?;
    let processor =
        opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
            exporter,
            opentelemetry_sdk::runtime::Tokio,
        )
        .with_batch_config(batch_config())
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(resource(service))
        .build();
    Ok(Some(traces(provider)))
}

/// Longest one export to the collector may take before its spans are
/// dropped (the SDK's default is 30 s, tonic's 10 s).
pub const EXPORT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// The batch processor's settings: the SDK's defaults and `OTEL_BSP_*`,
/// with [`EXPORT_TIMEOUT`] as the longest export unless
/// `OTEL_BSP_EXPORT_TIMEOUT` is set.
fn batch_config() -> opentelemetry_sdk::trace::BatchConfig {
    let builder = opentelemetry_sdk::trace::BatchConfigBuilder::default();
    if std::env::var_os("OTEL_BSP_EXPORT_TIMEOUT").is_some() {
        return builder.build();
    }
    builder.with_max_export_timeout(EXPORT_TIMEOUT).build()
}

/// The trace layer with `exporter` behind a simple (synchronous) span
/// processor: each span is exported as it ends. For tests (the SDK's
/// in-memory exporter); a service uses [`layer`].
pub fn layer_with_exporter<S, E>(exporter: E, service: &str) -> Traces<S>
where
    S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    E: SpanExporter + 'static,
{
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter)
        .with_resource(resource(service))
        .build();
    traces(provider)
}

fn resource(service: &str) -> Resource {
    let builder = Resource::builder();
    // `Resource::builder` already took OTEL_SERVICE_NAME; the role is the
    // fallback for its `unknown_service`.
    if std::env::var_os("OTEL_SERVICE_NAME").is_some() {
        builder.build()
    } else {
        builder.with_service_name(service.to_owned()).build()
    }
}

fn traces<S>(provider: SdkTracerProvider) -> Traces<S>
where
    S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    let tracer = provider.tracer("tenantry");
    // Tenantry's spans (up to DEBUG: the per-record and per-request spans
    // are DEBUG so that the log filter alone never pays for them), and
    // Tenantry's events up to INFO as span events. Other crates' spans and
    // events are not exported.
    let filter = FilterFn::new(|meta| {
        let max = if meta.is_span() {
            tracing::Level::DEBUG
        } else {
            tracing::Level::INFO
        };
        meta.target().starts_with(SPAN_TARGET_PREFIX) && *meta.level() <= max
    })
    .with_max_level_hint(tracing::level_filters::LevelFilter::DEBUG);
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_threads(false)
        .with_filter(filter);
    EXPORTING.store(true, Ordering::Relaxed);
    Traces {
        layer: Box::new(layer),
        guard: TraceGuard {
            provider: Some(provider),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::Registry;

    #[test]
    fn without_an_endpoint_no_layer_is_built() {
        let built = layer::<Registry>(None, "tenantry-test").unwrap();
        assert!(built.is_none());
        assert!(!exporting());
    }

    #[test]
    fn an_endpoint_is_an_http_url_with_a_host() {
        assert_eq!(
            Endpoint::parse(" http://127.0.0.1:4317 ").unwrap().as_str(),
            "http://127.0.0.1:4317"
        );
        assert!(
            Endpoint::parse("https://otel.example:4317")
                .unwrap()
                .is_https()
        );
        assert!(matches!(
            Endpoint::parse("127.0.0.1:4317"),
            Err(EndpointError::Scheme(_))
        ));
        assert!(matches!(
            Endpoint::parse("http://:4317"),
            Err(EndpointError::NoHost(_))
        ));
        assert_eq!(
            Endpoint::parse("HTTP://collector:4317").unwrap().as_str(),
            "http://collector:4317",
            "the scheme is case-insensitive"
        );
        for bad in [
            "http://127.0.0.1:notaport",
            "http://[::1",
            "http://a b:4317",
        ] {
            assert!(
                matches!(Endpoint::parse(bad), Err(EndpointError::Invalid(..))),
                "{bad}"
            );
        }
    }
}
