//! Trace spans of the store's transactions, with the OpenTelemetry
//! database semantic conventions (`db.system.name`, `db.operation.name`).
//! DEBUG, so only the trace layer (when exporting) enables them.

use crate::store::Backend;

/// `db.system.name` of `backend` (OpenTelemetry semantic conventions,
/// "Database": `postgresql`, `sqlite`).
pub(crate) fn db_system(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "postgresql",
        Backend::Sqlite => "sqlite",
    }
}

/// The span of a batch commit: every table of a batch of records in one
/// transaction; `rows` is the number of commerce events it records.
pub(crate) fn batch_commit(backend: Backend, rows: usize) -> tracing::Span {
    tracing::debug_span!(
        "db.transaction",
        otel.name = "BATCH provisioner",
        otel.kind = "client",
        db.system.name = db_system(backend),
        db.operation.name = "BATCH",
        db.operation.batch.size = rows as i64,
    )
}

/// The span of a unit of work's commit: its held writes (tenant records,
/// outbox) and `COMMIT`.
pub(crate) fn commit(backend: Backend) -> tracing::Span {
    tracing::debug_span!(
        "db.transaction",
        otel.name = "COMMIT provisioner",
        otel.kind = "client",
        db.system.name = db_system(backend),
        db.operation.name = "COMMIT",
    )
}

/// The span of a compare-and-set write of `contexts` tenant contexts (the
/// projector's context write): one upsert per 1,000.
pub(crate) fn context_write(backend: Backend, contexts: usize) -> tracing::Span {
    tracing::debug_span!(
        "db.query",
        otel.name = "INSERT tenant_contexts",
        otel.kind = "client",
        db.system.name = db_system(backend),
        db.operation.name = "INSERT",
        db.collection.name = "tenant_contexts",
        db.operation.batch.size = contexts as i64,
    )
}
