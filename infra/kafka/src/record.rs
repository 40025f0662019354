//! [`Record`]: a consumed record copied out of librdkafka's buffers, so it can cross
//! `await` points, tasks and threads while the consumer keeps polling.

use rdkafka::Message;
use rdkafka::message::Headers;

/// An owned, detached Kafka record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Topic the record was read from.
    pub topic: String,
    /// Partition within [`Record::topic`].
    pub partition: i32,
    /// Offset within the partition (0-based position in the log).
    pub offset: i64,
    /// Record key as written (Tenantry writes the tenant id, UTF-8); `None` when absent.
    pub key: Option<Vec<u8>>,
    /// Record value; `None` for a tombstone.
    pub payload: Option<Vec<u8>>,
    /// Headers in wire order, duplicates kept; a header with a null value becomes an
    /// empty value.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Record timestamp in milliseconds since the Unix epoch (create or log-append time,
    /// as the topic is configured); `None` when the broker sent none.
    pub timestamp_ms: Option<i64>,
}

/// The span of producing one record with `key` to `topic` (DEBUG,
/// OpenTelemetry messaging semantic conventions: `send <topic>`, producer
/// kind, and `messaging.message.id` when the record has an id of its own),
/// a child of `traceparent` when given (W3C), else of the current span.
pub fn send_span(
    topic: &str,
    key: &str,
    message_id: Option<&str>,
    traceparent: Option<&str>,
) -> tracing::Span {
    let span = tracing::debug_span!(
        "send",
        otel.name = %format_args!("send {topic}"),
        otel.kind = "producer",
        messaging.system = "kafka",
        messaging.operation.type = "send",
        messaging.destination.name = topic,
        messaging.kafka.message.key = key,
        messaging.message.id = tracing::field::Empty,
    );
    if let Some(id) = message_id {
        span.record("messaging.message.id", id);
    }
    if let Some(traceparent) = traceparent {
        tenantry_telemetry::trace::continue_from_traceparent(&span, traceparent);
    }
    span
}

impl Record {
    /// The span of processing this record (DEBUG, OpenTelemetry messaging
    /// semantic conventions: `process <topic>`, consumer kind, the topic,
    /// key, partition and offset, and `group` when the consumer has one),
    /// continuing the trace of its `traceparent` header when it has one.
    pub fn process_span(&self, group: Option<&str>) -> tracing::Span {
        let span = tracing::debug_span!(
            "process",
            otel.name = %format_args!("process {}", self.topic),
            otel.kind = "consumer",
            messaging.system = "kafka",
            messaging.operation.type = "process",
            messaging.destination.name = %self.topic,
            messaging.consumer.group.name = tracing::field::Empty,
            messaging.kafka.message.key = self.key_str().unwrap_or_default(),
            messaging.kafka.destination.partition = self.partition,
            messaging.kafka.message.offset = self.offset,
        );
        if let Some(group) = group {
            span.record("messaging.consumer.group.name", group);
        }
        tenantry_telemetry::trace::continue_from_kafka(&span, &self.headers);
        span
    }

    /// Copies a borrowed librdkafka message.
    pub(crate) fn from_message<M: Message>(message: &M) -> Self {
        let headers = message
            .headers()
            .map(|headers| {
                headers
                    .iter()
                    .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().map(<[u8]>::to_vec),
            headers,
            timestamp_ms: message.timestamp().to_millis(),
        }
    }

    /// The key as UTF-8 (the tenant id for Tenantry topics); `None` when absent or not UTF-8.
    pub fn key_str(&self) -> Option<&str> {
        self.key
            .as_deref()
            .and_then(|k| std::str::from_utf8(k).ok())
    }

    /// The value of the last header named `name` (Kafka allows duplicates; the last wins).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_slice())
    }
}
