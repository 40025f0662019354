//! The provisioner's trace spans, named and attributed with the
//! OpenTelemetry semantic conventions (`messaging.*` for Kafka). All at
//! DEBUG: the default log filter never enables them, only the trace layer
//! does when an OTLP endpoint is configured ([`tenantry_telemetry::trace`]).
//!
//! - `process <topic>`: one commerce record, from decoding to its offset
//!   being finished; the parent is the producer's span when the record
//!   carries a `traceparent` header, else it starts a trace.
//! - `provisioner batch`: the records decided and committed together; a
//!   child of the first record's span, linked to the others'.
//! - `saga step <step>` / `saga compensate <step>`: one step's effect or
//!   compensation, a child of the record's span.
//! - `send <topic>` ([`tenantry_kafka::send_span`]): the relay publishing one outbox row, continuing the
//!   trace of the record whose processing wrote it.

use tracing::Span;

/// The span of one saga step's effect (`compensate`: its compensation).
pub fn step(saga: &tenantry_sagas::SagaState, step: &str, compensate: bool) -> Span {
    let operation = if compensate { "compensate" } else { "step" };
    tracing::debug_span!(
        "saga step",
        otel.name = %format_args!("saga {operation} {step}"),
        saga.id = %saga.saga_id,
        saga.kind = saga.kind.as_str(),
        saga.step = step,
        saga.operation = operation,
    )
}
