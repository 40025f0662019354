//! The provisioner's notable events: each struct's
//! [`emit`](tenantry_telemetry::metrics::Event::emit) writes its log line and
//! records its metrics together ([`tenantry_telemetry::metrics`]).
//!
//! | name | type | labels | unit, meaning |
//! |---|---|---|---|
//! | `tenantry_provisioner_records_consumed_total` | counter | `topic` | commerce records received from Kafka ([`RecordConsumed`]) |
//! | `tenantry_provisioner_records_dead_lettered_total` | counter | `reason` ([`DeadLetterReason`]) | records sent to the dead-letter topic ([`RecordDeadLettered`]) |
//! | `tenantry_provisioner_consumer_lag_records` | gauge | `topic`, `partition` | records between the group's committed offset and the partition's end, from librdkafka statistics every 5 s (`tenantry_kafka::lag`) |
//! | `tenantry_provisioner_sagas_finished_total` | counter | `kind`, `outcome`, `path` | sagas ended: `outcome` `completed` \| `failed` \| `compensation_failed`; `path` `batch` \| `alone` ([`SagaFinished`]) |
//! | `tenantry_provisioner_saga_duration_seconds` | histogram | `kind`, `outcome` | seconds this process took to drive a saga to its end: from its start (or its resumption after a restart, or an operator's retry) |
//! | `tenantry_provisioner_steps_total` | counter | `kind`, `step`, `outcome` | step attempts: `succeeded` \| `retrying` \| `failed` ([`StepFinished`]) |
//! | `tenantry_provisioner_step_duration_seconds` | histogram | `kind`, `step` | seconds of one attempt of a step run on its own or in the runner's transaction of several (steps decided in a batch are counted, not timed) |
//! | `tenantry_provisioner_compensations_total` | counter | `kind`, `step`, `outcome` | compensation attempts: `compensated` \| `retrying` \| `failed` ([`CompensationFinished`]) |
//! | `tenantry_provisioner_parked_tenants` | gauge | — | tenants parked in the store (every replica reports the store's count), read every 5 s ([`StoreSampled`]) |
//! | `tenantry_provisioner_outbox_backlog` | gauge | — | outbox rows not yet published, read every 5 s ([`StoreSampled`]) |
//! | `tenantry_provisioner_relay_latency_seconds` | histogram | — | seconds from an outbox row's write (its record's `occurred_at`) to the broker acknowledging it ([`RecordRelayed`]) |
//! | `tenantry_provisioner_records_relayed_total` | counter | — | outbox records the broker acknowledged |
//!
//! Label values are the `as_str` names of typed enums (`SagaKind`, `Step`,
//! `SagaStatus`) or of the enums below; never a tenant or saga id.

use metrics::Unit;
use std::time::Duration;
use tenantry_sagas::{SagaState, Step};
use tenantry_schemas::DecodeError;
use tenantry_telemetry::metrics::{Catalog, Event, LATENCY_BUCKETS, MetricDef, MetricKind};

/// Counter of commerce records received, by `topic`.
pub const RECORDS_CONSUMED: &str = "tenantry_provisioner_records_consumed_total";
/// Counter of records dead-lettered, by `reason`.
pub const RECORDS_DEAD_LETTERED: &str = "tenantry_provisioner_records_dead_lettered_total";
/// Gauge of consumer lag in records, by `topic` and `partition`.
pub const CONSUMER_LAG: &str = "tenantry_provisioner_consumer_lag_records";
/// Counter of sagas ended, by `kind`, `outcome` and `path`.
pub const SAGAS_FINISHED: &str = "tenantry_provisioner_sagas_finished_total";
/// Histogram of saga durations in seconds, by `kind` and `outcome`.
pub const SAGA_DURATION: &str = "tenantry_provisioner_saga_duration_seconds";
/// Counter of step attempts, by `kind`, `step` and `outcome`.
pub const STEPS: &str = "tenantry_provisioner_steps_total";
/// Histogram of one step attempt in seconds, by `kind` and `step`.
pub const STEP_DURATION: &str = "tenantry_provisioner_step_duration_seconds";
/// Counter of compensation attempts, by `kind`, `step` and `outcome`.
pub const COMPENSATIONS: &str = "tenantry_provisioner_compensations_total";
/// Gauge of parked tenants.
pub const PARKED_TENANTS: &str = "tenantry_provisioner_parked_tenants";
/// Gauge of unpublished outbox rows.
pub const OUTBOX_BACKLOG: &str = "tenantry_provisioner_outbox_backlog";
/// Histogram of outbox write → broker acknowledgement, in seconds.
pub const RELAY_LATENCY: &str = "tenantry_provisioner_relay_latency_seconds";
/// Counter of relayed records.
pub const RECORDS_RELAYED: &str = "tenantry_provisioner_records_relayed_total";

/// Upper bounds (seconds) of [`SAGA_DURATION`]: 1 ms (a batch of store-only
/// steps) to 15 minutes (an RDS shard's bounded wait, `--rds-wait-secs`).
pub const SAGA_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
];

/// Every metric of the module docs.
pub const CATALOG: Catalog = &[
    counter(
        RECORDS_CONSUMED,
        "Commerce records received from Kafka, by topic.",
    ),
    counter(
        RECORDS_DEAD_LETTERED,
        "Records sent to the dead-letter topic, by reason.",
    ),
    MetricDef {
        name: CONSUMER_LAG,
        kind: MetricKind::Gauge,
        unit: Some(Unit::Count),
        help: "Records between the group's committed offset and the partition's end, by topic and partition.",
    },
    counter(
        SAGAS_FINISHED,
        "Sagas ended, by kind, outcome and path (batch, alone).",
    ),
    MetricDef {
        name: SAGA_DURATION,
        kind: MetricKind::Histogram(SAGA_BUCKETS),
        unit: Some(Unit::Seconds),
        help: "Seconds this process took to drive a saga to its end, by kind and outcome.",
    },
    counter(STEPS, "Saga step attempts, by saga kind, step and outcome."),
    MetricDef {
        name: STEP_DURATION,
        kind: MetricKind::Histogram(LATENCY_BUCKETS),
        unit: Some(Unit::Seconds),
        help: "Seconds of one step attempt outside a batch, by saga kind and step.",
    },
    counter(
        COMPENSATIONS,
        "Compensation attempts, by saga kind, step and outcome.",
    ),
    MetricDef {
        name: PARKED_TENANTS,
        kind: MetricKind::Gauge,
        unit: Some(Unit::Count),
        help: "Tenants parked in the store.",
    },
    MetricDef {
        name: OUTBOX_BACKLOG,
        kind: MetricKind::Gauge,
        unit: Some(Unit::Count),
        help: "Outbox rows not yet published.",
    },
    MetricDef {
        name: RELAY_LATENCY,
        kind: MetricKind::Histogram(LATENCY_BUCKETS),
        unit: Some(Unit::Seconds),
        help: "Seconds from an outbox row's write to the broker acknowledging its record.",
    },
    counter(RECORDS_RELAYED, "Outbox records the broker acknowledged."),
];

const fn counter(name: &'static str, help: &'static str) -> MetricDef {
    MetricDef {
        name,
        kind: MetricKind::Counter,
        unit: Some(Unit::Count),
        help,
    }
}

/// A commerce record arrived from the consumer.
pub struct RecordConsumed<'a> {
    /// Its topic.
    pub topic: &'a str,
}

impl Event for RecordConsumed<'_> {
    fn emit(self) {
        tracing::trace!(topic = self.topic, "Record consumed.");
        metrics::counter!(RECORDS_CONSUMED, "topic" => self.topic.to_owned()).increment(1);
    }
}

/// Why a record went to the dead-letter topic: the `reason` label, and the
/// code that starts its `dlq.reason` header where it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadLetterReason {
    /// An empty value (a tombstone) on the commerce topic.
    Tombstone,
    /// Not Confluent framing, or an Avro body that does not decode or resolve.
    Malformed,
    /// A schema id the registry does not know.
    UnknownSchema,
    /// A well-formed record of another kind.
    WrongKind,
    /// A field breaks a rule.
    Invalid,
    /// The record key is not the envelope's tenant id.
    KeyMismatch,
    /// The event id already identifies another event.
    EventIdConflict,
}

impl DeadLetterReason {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tombstone => "tombstone",
            Self::Malformed => "malformed",
            Self::UnknownSchema => "unknown_schema",
            Self::WrongKind => "wrong_kind",
            Self::Invalid => "invalid",
            Self::KeyMismatch => "key_mismatch",
            Self::EventIdConflict => "event_id_conflict",
        }
    }

    /// The reason of a permanent decode error ([`DecodeError::is_permanent`]).
    pub fn of(error: &DecodeError) -> Self {
        match error {
            DecodeError::UnknownSchema { .. } => Self::UnknownSchema,
            DecodeError::WrongKind(_) => Self::WrongKind,
            DecodeError::Invalid(_) => Self::Invalid,
            // An unavailable registry is retried, never dead-lettered.
            DecodeError::Malformed(_) | DecodeError::RegistryUnavailable(_) => Self::Malformed,
        }
    }
}

/// A record was sent to the dead-letter topic.
pub struct RecordDeadLettered<'a> {
    /// The record.
    pub record: &'a tenantry_kafka::Record,
    /// Why, as a label.
    pub reason: DeadLetterReason,
    /// Why, in full: its `dlq.reason` header.
    pub detail: &'a str,
}

impl Event for RecordDeadLettered<'_> {
    fn emit(self) {
        let record = self.record;
        tracing::warn!(topic = %record.topic, partition = record.partition,
            offset = record.offset, reason = %self.detail, "Record dead-lettered.");
        metrics::counter!(RECORDS_DEAD_LETTERED, "reason" => self.reason.as_str()).increment(1);
    }
}

/// Which path drove a saga: decided in a batch of records, or by the
/// runner on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SagaPath {
    /// In a worker's unit of work ([`crate::batch`]).
    Batch,
    /// By the saga runner ([`crate::runner`]).
    Alone,
}

impl SagaPath {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Batch => "batch",
            Self::Alone => "alone",
        }
    }
}

/// A saga reached a terminal status and that was committed.
pub struct SagaFinished<'a> {
    /// The saga as committed.
    pub saga: &'a SagaState,
    /// How long this process drove it.
    pub duration: Duration,
    /// Batch or runner.
    pub path: SagaPath,
}

impl Event for SagaFinished<'_> {
    fn emit(self) {
        let saga = self.saga;
        let (kind, outcome) = (saga.kind.as_str(), saga.status.as_str());
        match self.path {
            SagaPath::Alone => tracing::info!(saga_id = %saga.saga_id, tenant_id = %saga.tenant_id,
                status = outcome, duration = ?self.duration, "Saga finished."),
            // A batch can finish hundreds; the batch is what is logged.
            SagaPath::Batch => {
                tracing::debug!(saga_id = %saga.saga_id, tenant_id = %saga.tenant_id,
                status = outcome, "Saga finished in a batch.")
            }
        }
        metrics::counter!(SAGAS_FINISHED, "kind" => kind, "outcome" => outcome, "path" => self.path.as_str())
            .increment(1);
        metrics::histogram!(SAGA_DURATION, "kind" => kind, "outcome" => outcome)
            .record(self.duration.as_secs_f64());
    }
}

/// What became of one attempt of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepOutcome {
    /// The step's effect is done.
    Succeeded,
    /// It failed and will be tried again.
    Retrying,
    /// It failed for good: the saga compensates (or is blocked).
    Failed,
}

impl StepOutcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Retrying => "retrying",
            Self::Failed => "failed",
        }
    }
}

/// One attempt of a saga step ended.
pub struct StepFinished<'a> {
    /// The saga's id (logged only).
    pub saga: &'a SagaState,
    /// The step.
    pub step: Step,
    /// Its outcome.
    pub outcome: StepOutcome,
    /// How long the attempt took; `None` for a step decided in a batch.
    pub duration: Option<Duration>,
    /// Attempt number, from 1.
    pub attempt: usize,
    /// Why it failed, when it did.
    pub reason: Option<&'a str>,
}

impl Event for StepFinished<'_> {
    fn emit(self) {
        let (kind, step) = (self.saga.kind.as_str(), self.step.name());
        if let Some(reason) = self.reason {
            tracing::warn!(saga_id = %self.saga.saga_id, step, attempt = self.attempt,
                retryable = self.outcome == StepOutcome::Retrying, %reason, "Saga step failed.");
        } else {
            tracing::trace!(saga_id = %self.saga.saga_id, step, "Saga step succeeded.");
        }
        metrics::counter!(STEPS, "kind" => kind, "step" => step, "outcome" => self.outcome.as_str())
            .increment(1);
        if let Some(duration) = self.duration {
            metrics::histogram!(STEP_DURATION, "kind" => kind, "step" => step)
                .record(duration.as_secs_f64());
        }
    }
}

/// What became of one attempt of a compensation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompensationOutcome {
    /// The step's effect is undone.
    Compensated,
    /// It failed and will be tried again.
    Retrying,
    /// It failed for good: the saga needs an operator.
    Failed,
}

impl CompensationOutcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Compensated => "compensated",
            Self::Retrying => "retrying",
            Self::Failed => "failed",
        }
    }
}

/// One attempt of a compensation ended.
pub struct CompensationFinished<'a> {
    /// The saga.
    pub saga: &'a SagaState,
    /// The step being undone.
    pub step: Step,
    /// Its outcome.
    pub outcome: CompensationOutcome,
    /// Why it failed, when it did.
    pub reason: Option<&'a str>,
}

impl Event for CompensationFinished<'_> {
    fn emit(self) {
        let (saga_id, step) = (self.saga.saga_id, self.step.name());
        let reason = self.reason.unwrap_or("");
        match self.outcome {
            CompensationOutcome::Compensated => {
                tracing::debug!(%saga_id, step, "Step compensated.");
            }
            CompensationOutcome::Retrying => {
                tracing::warn!(%saga_id, step, %reason, "Compensation failed; retrying.");
            }
            CompensationOutcome::Failed => tracing::error!(%saga_id, step, %reason,
                "Compensation failed; saga needs an operator."),
        }
        metrics::counter!(COMPENSATIONS, "kind" => self.saga.kind.as_str(), "step" => step,
            "outcome" => self.outcome.as_str())
        .increment(1);
    }
}

/// The store's counts the provisioner reports as gauges, read together.
pub struct StoreSampled {
    /// Tenants parked.
    pub parked_tenants: u64,
    /// Outbox rows not yet published.
    pub outbox_backlog: u64,
}

impl Event for StoreSampled {
    fn emit(self) {
        tracing::trace!(
            parked_tenants = self.parked_tenants,
            outbox_backlog = self.outbox_backlog,
            "Store sampled."
        );
        metrics::gauge!(PARKED_TENANTS).set(self.parked_tenants as f64);
        metrics::gauge!(OUTBOX_BACKLOG).set(self.outbox_backlog as f64);
    }
}

/// The broker acknowledged an outbox record.
pub struct RecordRelayed {
    /// From the row's write to the acknowledgement (0 when the clocks of the
    /// database writer and this process disagree the other way).
    pub latency: Duration,
}

impl RecordRelayed {
    /// The latency of a record written at `occurred_at_ms` (Unix ms, the
    /// outbox row's write) and acknowledged at `now_ms`.
    pub fn at(occurred_at_ms: i64, now_ms: i64) -> Self {
        let millis = u64::try_from(now_ms.saturating_sub(occurred_at_ms)).unwrap_or(0);
        Self {
            latency: Duration::from_millis(millis),
        }
    }
}

impl Event for RecordRelayed {
    fn emit(self) {
        tracing::trace!(latency = ?self.latency, "Outbox record relayed.");
        metrics::counter!(RECORDS_RELAYED).increment(1);
        metrics::histogram!(RELAY_LATENCY).record(self.latency.as_secs_f64());
    }
}

/// Wall-clock now in Unix milliseconds (the clock outbox rows are stamped
/// with).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests;
