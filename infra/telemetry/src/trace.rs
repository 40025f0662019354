//! OpenTelemetry traces across Kafka hops.
//!
//! A commerce event's trace crosses four processes and three topics:
//!
//! ```text
//! tenantry publish ─traceparent─► commerce.lifecycle.v1 ─► provisioner (record, transaction,
//!   saga steps) ─outbox row─► relay ─traceparent─► provisioning.events.v1 ─► projector
//!   (record, context write) ─traceparent─► tenant-context.changelog.v1 ─► context API
//!   (cache apply); an HTTP request with that traceparent joins it too
//! ```
//!
//! - [`export`](layer): the `tracing` layer that turns the services' spans into
//!   OpenTelemetry spans, built only when an OTLP endpoint is configured
//!   ([`layer`]), or with any exporter for tests ([`layer_with_exporter`]);
//!   the [`TraceGuard`] that flushes it.
//! - [`propagation`](KafkaHeaders): W3C trace context (`traceparent`,
//!   `tracestate`; <https://www.w3.org/TR/trace-context/>) read from and
//!   written to Kafka record headers and HTTP headers.
//!
//! Without an endpoint no layer, exporter or propagator exists: every
//! helper here first checks [`exporting`] (one relaxed atomic load) and does
//! nothing else, and the services' trace spans are at DEBUG, which the
//! default log filter never enables, so their callsites stay disabled.
//!
//! Span fields follow the OpenTelemetry semantic conventions (v1.37:
//! `messaging.*` for Kafka, `db.*` for the stores, `http.*`/`url.*` for the
//! context API); `otel.name` and `otel.kind` set the OpenTelemetry span name
//! (`process commerce.lifecycle.v1`) and kind, as `tracing-opentelemetry`
//! reads them.

mod export;
mod propagation;

pub use export::{
    Endpoint, EndpointError, SPAN_TARGET_PREFIX, TraceError, TraceGuard, Traces, exporting, layer,
    layer_with_exporter,
};
pub use propagation::{
    KafkaHeaders, TRACEPARENT, TRACESTATE, TraceHeaders, batch, continue_from_http,
    continue_from_kafka, continue_from_traceparent, headers_of, link, new_traceparent,
    traceparent_of,
};
