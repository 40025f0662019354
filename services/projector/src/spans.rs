//! The projector's trace spans (OpenTelemetry semantic conventions,
//! `messaging.*`), at DEBUG: only the trace layer enables them, when an
//! OTLP endpoint is configured ([`tenantry_telemetry::trace`]).
//!
//! - `process <topic>`: one provisioning record, continuing the trace of
//!   the relay's `send` span from its `traceparent` header.
//! - `project`: the batch's context write (its `db.*` span is the store's)
//!   and changelog publish; a child of the first record's span, linked to
//!   the others'.
//!
//! Each changelog record carries the `traceparent` of its tenant's last
//! record's span, so the context API's cache continues that trace.

use tenantry_kafka::Record;
use tenantry_telemetry::trace;
use tracing::Span;

/// The span of one consumed provisioning record.
pub(crate) fn record(record: &Record, group: &str) -> Span {
    let span = tracing::debug_span!(
        "process",
        otel.name = %format_args!("process {}", record.topic),
        otel.kind = "consumer",
        messaging.system = "kafka",
        messaging.operation.type = "process",
        messaging.destination.name = %record.topic,
        messaging.consumer.group.name = group,
        messaging.kafka.message.key = record.key_str().unwrap_or_default(),
        messaging.kafka.destination.partition = record.partition,
        messaging.kafka.message.offset = record.offset,
    );
    trace::continue_from_kafka(&span, &record.headers);
    span
}

/// The span of a batch's context write and changelog publish.
pub(crate) fn project(spans: &[Span]) -> Span {
    let Some((first, rest)) = spans.split_first() else {
        return Span::none();
    };
    let span = tracing::debug_span!(
        parent: first,
        "project",
        messaging.batch.message_count = spans.len() as i64,
    );
    for other in rest {
        trace::link(&span, other);
    }
    span
}
