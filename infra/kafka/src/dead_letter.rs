//! [`dead_letter()`]: park a record that can never be processed on a dead-letter topic
//! (DESIGN.md "Bad input never stalls, never vanishes"; case D3).

use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::KafkaError;
use crate::producer::Producer;
use crate::record::Record;

/// Header: why the record was dead-lettered (UTF-8, human-readable).
pub const DLQ_REASON: &str = "dlq.reason";
/// Header: topic the record was read from (UTF-8).
pub const DLQ_SOURCE_TOPIC: &str = "dlq.source.topic";
/// Header: partition the record was read from (UTF-8 decimal).
pub const DLQ_SOURCE_PARTITION: &str = "dlq.source.partition";
/// Header: offset the record was read from (UTF-8 decimal).
pub const DLQ_SOURCE_OFFSET: &str = "dlq.source.offset";
/// Header: when it was dead-lettered, milliseconds since the Unix epoch (UTF-8 decimal).
pub const DLQ_FAILED_AT_MS: &str = "dlq.failed_at_ms";

const DLQ_HEADERS: [&str; 5] = [
    DLQ_REASON,
    DLQ_SOURCE_TOPIC,
    DLQ_SOURCE_PARTITION,
    DLQ_SOURCE_OFFSET,
    DLQ_FAILED_AT_MS,
];

/// Sends `record` to `dlq_topic`: same key and payload (bytes untouched, so the DLQ
/// keeps per-tenant order), the original headers, then [`DLQ_REASON`],
/// [`DLQ_SOURCE_TOPIC`], [`DLQ_SOURCE_PARTITION`], [`DLQ_SOURCE_OFFSET`] and
/// [`DLQ_FAILED_AT_MS`] (wall clock of this process). A record dead-lettered a second
/// time keeps only the newest `dlq.*` headers.
///
/// Waits for the broker's acknowledgement; store the record's offset only after this
/// returns `Ok` (case D3: "the offset moves on", but never before the record is safe).
/// Errors: as [`Producer::send`].
pub async fn dead_letter(
    producer: &Producer,
    dlq_topic: &str,
    record: &Record,
    reason: &str,
) -> Result<(), KafkaError> {
    let failed_at_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
        .to_string();
    let partition = record.partition.to_string();
    let offset = record.offset.to_string();
    let mut headers: Vec<(&str, &[u8])> = record
        .headers
        .iter()
        .filter(|(name, _)| !DLQ_HEADERS.contains(&name.as_str()))
        .map(|(name, value)| (name.as_str(), value.as_slice()))
        .collect();
    headers.extend([
        (DLQ_REASON, reason.as_bytes()),
        (DLQ_SOURCE_TOPIC, record.topic.as_bytes()),
        (DLQ_SOURCE_PARTITION, partition.as_bytes()),
        (DLQ_SOURCE_OFFSET, offset.as_bytes()),
        (DLQ_FAILED_AT_MS, failed_at_ms.as_bytes()),
    ]);
    producer
        .send_raw(
            dlq_topic,
            record.key.as_deref(),
            record.payload.as_deref(),
            &headers,
        )
        .await?;
    tracing::warn!(
        messaging.destination.name = dlq_topic,
        // Where the record came from, under its header names.
        dlq.source.topic = record.topic.as_str(),
        dlq.source.partition = record.partition,
        dlq.source.offset = record.offset,
        reason,
        "Record sent to the dead-letter topic."
    );
    Ok(())
}
