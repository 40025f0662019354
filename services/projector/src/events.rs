//! The projector's notable events: each struct's
//! [`emit`](tenantry_telemetry::metrics::Event::emit) writes its log line and
//! records its metrics together ([`tenantry_telemetry::metrics`]).
//!
//! | name | type | labels | unit, meaning |
//! |---|---|---|---|
//! | `tenantry_projector_records_consumed_total` | counter | `topic` | provisioning records received from Kafka ([`RecordConsumed`]) |
//! | `tenantry_projector_records_skipped_total` | counter | `reason` = `tombstone` \| `malformed` \| `unknown_schema` \| `wrong_kind` \| `invalid` | records that do not decode, skipped ([`RecordSkipped`]) |
//! | `tenantry_projector_consumer_lag_records` | gauge | `topic`, `partition` | records between the last record handed to the projector and the partition's end, from librdkafka statistics every 5 s (`tenantry_kafka::lag`) |
//! | `tenantry_projector_lag_seconds` | histogram | — | seconds from a record's Kafka timestamp (the relay's send) to its batch's contexts being written ([`BatchProjected`]) |
//! | `tenantry_projector_context_changes_total` | counter | — | context versions a batch wrote to the store (compare-and-set won), or found already written by an earlier attempt, and publishes on the changelog |

use metrics::Unit;
use std::time::Duration;
use tenantry_kafka::Record;
use tenantry_schemas::DecodeError;
use tenantry_telemetry::metrics::{Catalog, Event, LATENCY_BUCKETS, MetricDef, MetricKind};

/// Counter of provisioning records received, by `topic`.
pub const RECORDS_CONSUMED: &str = "tenantry_projector_records_consumed_total";
/// Counter of undecodable records skipped, by `reason`.
pub const RECORDS_SKIPPED: &str = "tenantry_projector_records_skipped_total";
/// Gauge of consumer lag in records, by `topic` and `partition`.
pub const CONSUMER_LAG: &str = "tenantry_projector_consumer_lag_records";
/// Histogram of record timestamp → context written, in seconds.
pub const PROJECTION_LAG: &str = "tenantry_projector_lag_seconds";
/// Counter of context versions written (or found written) and published.
pub const CONTEXT_CHANGES: &str = "tenantry_projector_context_changes_total";

/// Every metric of the module docs.
pub const CATALOG: Catalog = &[
    MetricDef {
        name: RECORDS_CONSUMED,
        kind: MetricKind::Counter,
        unit: Some(Unit::Count),
        help: "Provisioning records received from Kafka, by topic.",
    },
    MetricDef {
        name: RECORDS_SKIPPED,
        kind: MetricKind::Counter,
        unit: Some(Unit::Count),
        help: "Provisioning records that do not decode, skipped, by reason.",
    },
    MetricDef {
        name: CONSUMER_LAG,
        kind: MetricKind::Gauge,
        unit: Some(Unit::Count),
        help: "Records between the last record handed to the projector and the partition's end, by topic and partition.",
    },
    MetricDef {
        name: PROJECTION_LAG,
        kind: MetricKind::Histogram(LATENCY_BUCKETS),
        unit: Some(Unit::Seconds),
        help: "Seconds from a provisioning record's timestamp to its context being written.",
    },
    MetricDef {
        name: CONTEXT_CHANGES,
        kind: MetricKind::Counter,
        unit: Some(Unit::Count),
        help: "Context versions written to the context store (or found written) and published.",
    },
];

/// A provisioning record arrived from the consumer.
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

/// A record of the provisioning topic that does not decode was skipped.
pub struct RecordSkipped<'a> {
    /// The record.
    pub record: &'a Record,
    /// Why; `None` for a record without a value (a tombstone).
    pub error: Option<&'a DecodeError>,
}

impl Event for RecordSkipped<'_> {
    fn emit(self) {
        let record = self.record;
        // `DecodeError::code` names the error's variant.
        let reason = self.error.map_or("tombstone", DecodeError::code);
        match self.error {
            Some(error) => tracing::warn!(topic = %record.topic, partition = record.partition,
                offset = record.offset, %error, "Record skipped by the projector."),
            None => tracing::debug!(topic = %record.topic, partition = record.partition,
                offset = record.offset, "Empty record skipped by the projector."),
        }
        metrics::counter!(RECORDS_SKIPPED, "reason" => reason).increment(1);
    }
}

/// A batch's contexts were written to the store.
pub struct BatchProjected<'a> {
    /// The batch's records.
    pub records: &'a [Record],
    /// Context versions the batch wrote or found written ([`crate::apply_batch`]).
    pub changes: usize,
    /// When the write returned, Unix ms.
    pub written_at_ms: i64,
}

impl BatchProjected<'_> {
    /// Per record with a timestamp: from it to [`Self::written_at_ms`], 0
    /// when the clocks disagree the other way.
    pub fn lags(&self) -> impl Iterator<Item = Duration> + '_ {
        self.records.iter().filter_map(|record| {
            let timestamp = record.timestamp_ms?;
            let millis = u64::try_from(self.written_at_ms.saturating_sub(timestamp)).unwrap_or(0);
            Some(Duration::from_millis(millis))
        })
    }
}

impl Event for BatchProjected<'_> {
    fn emit(self) {
        tracing::debug!(
            records = self.records.len(),
            changes = self.changes,
            "Batch projected."
        );
        let lag = metrics::histogram!(PROJECTION_LAG);
        for duration in self.lags() {
            lag.record(duration.as_secs_f64());
        }
        metrics::counter!(CONTEXT_CHANGES).increment(self.changes as u64);
    }
}

/// Wall-clock now in Unix milliseconds (the clock of Kafka create-time
/// timestamps).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};

    fn record(timestamp_ms: Option<i64>) -> Record {
        Record {
            topic: "provisioning.events.v1".into(),
            partition: 0,
            offset: 1,
            key: None,
            payload: None,
            headers: Vec::new(),
            timestamp_ms,
        }
    }

    #[test]
    fn catalog_is_well_formed() {
        tenantry_telemetry::metrics::assert_well_formed(CATALOG);
    }

    #[test]
    fn lag_counts_records_with_a_timestamp_and_never_goes_negative() {
        let records = [record(Some(1_000)), record(None), record(Some(1_600))];
        let batch = BatchProjected {
            records: &records,
            changes: 1,
            written_at_ms: 1_500,
        };
        let lags: Vec<_> = batch.lags().collect();
        assert_eq!(lags, [Duration::from_millis(500), Duration::ZERO]);
    }

    #[test]
    fn a_batch_records_one_lag_per_record_and_its_contexts() {
        let recorder: PrometheusRecorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full(PROJECTION_LAG.into()),
                LATENCY_BUCKETS,
            )
            .unwrap()
            .build_recorder();
        let records = [record(Some(1_000)), record(Some(1_400))];
        metrics::with_local_recorder(&recorder, || {
            BatchProjected {
                records: &records,
                changes: 2,
                written_at_ms: 1_500,
            }
            .emit();
            RecordSkipped {
                record: &records[0],
                error: None,
            }
            .emit();
        });
        let text = recorder.handle().render();
        for line in [
            "tenantry_projector_lag_seconds_count 2",
            r#"tenantry_projector_lag_seconds_bucket{le="0.1"} 1"#,
            "tenantry_projector_context_changes_total 2",
            r#"tenantry_projector_records_skipped_total{reason="tombstone"} 1"#,
        ] {
            assert!(text.contains(line), "{line} not in:\n{text}");
        }
    }
}
