//! [`Producer`]: an idempotent librdkafka `FutureProducer`.

use std::time::Duration;

use rdkafka::error::KafkaError as RdKafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use rdkafka::util::Timeout;

use crate::config::{KafkaConfig, LogContext, PRODUCER_DEFAULTS};
use crate::error::KafkaError;

/// An idempotent producer (`enable.idempotence=true`, `acks=all`, `linger.ms=1`,
/// `message.timeout.ms=30000`; see `config.rs`). Cheap to clone: clones share one
/// librdkafka client and its background thread.
///
/// Dropping the last clone purges records still queued; await every
/// [`send`](Producer::send) or call [`flush`](Producer::flush) before dropping it.
#[derive(Clone)]
pub struct Producer {
    inner: FutureProducer<LogContext>,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer").finish_non_exhaustive()
    }
}

impl Producer {
    /// Creates the client; it connects lazily, so this does not fail when the broker is
    /// down. Errors: [`KafkaError::Config`] for a bad property in the overrides.
    pub fn new(cfg: &KafkaConfig) -> Result<Self, KafkaError> {
        let inner = cfg
            .client_config(PRODUCER_DEFAULTS)
            .create_with_context(LogContext)
            .map_err(|e| KafkaError::client("create producer", e))?;
        Ok(Self { inner })
    }

    /// Sends one record and waits for the broker's acknowledgement (all in-sync
    /// replicas). `key` is the tenant id: it picks the partition, which keeps each
    /// tenant's records in order (DESIGN.md "Per-tenant order"). `headers` are
    /// (name, value) pairs, duplicates allowed.
    ///
    /// Returns `(partition, offset)` of the written record. Errors: transient when the
    /// broker stays unreachable for `message.timeout.ms` (30 s); permanent when the
    /// broker refuses the record (e.g. too large). Waits (never fails) while the local
    /// queue is full.
    pub async fn send(
        &self,
        topic: &str,
        key: &str,
        payload: &[u8],
        headers: &[(&str, &[u8])],
    ) -> Result<(i32, i64), KafkaError> {
        self.send_raw(topic, Some(key.as_bytes()), Some(payload), headers)
            .await
    }

    /// Like [`send`](Producer::send) with an arbitrary (or no) key and an optional
    /// payload (`None` writes a tombstone): used to copy records verbatim, e.g. to a
    /// dead-letter topic. A record without a key goes to a partition of librdkafka's
    /// choosing.
    pub async fn send_raw(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
        headers: &[(&str, &[u8])],
    ) -> Result<(i32, i64), KafkaError> {
        let mut owned = OwnedHeaders::new_with_capacity(headers.len());
        for (name, value) in headers {
            owned = owned.insert(Header {
                key: name,
                value: Some(*value),
            });
        }
        let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic).headers(owned);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(payload) = payload {
            record = record.payload(payload);
        }
        // Timeout::Never: wait for room in a full local queue (back-pressure); delivery
        // itself is bounded by message.timeout.ms.
        match self.inner.send(record, Timeout::Never).await {
            Ok(delivery) => {
                tracing::trace!(
                    messaging.destination.name = topic,
                    messaging.destination.partition.id = delivery.partition,
                    messaging.kafka.offset = delivery.offset,
                    "Record produced."
                );
                Ok((delivery.partition, delivery.offset))
            }
            Err((error, _record)) => Err(KafkaError::client("produce", error)),
        }
    }

    /// Asks the broker for `topic`'s metadata within `timeout`, so a tool can
    /// fail at once with a clear reason instead of after the 30 s message
    /// timeout. Runs on tokio's blocking pool.
    ///
    /// # Errors
    /// [`KafkaError::Client`] when the broker does not answer in time (op
    /// `"reach broker"`) or does not know the topic (op `"find topic"`, librdkafka
    /// `UnknownTopicOrPartition`).
    pub async fn check_topic(&self, topic: &str, timeout: Duration) -> Result<(), KafkaError> {
        let inner = self.inner.clone();
        let name = topic.to_owned();
        let metadata = tokio::task::spawn_blocking(move || {
            inner
                .client()
                .fetch_metadata(Some(&name), Timeout::After(timeout))
        })
        .await
        .map_err(|_| KafkaError::client("reach broker", RdKafkaError::Canceled))?
        .map_err(|e| KafkaError::client("reach broker", e))?;
        match metadata.topics().iter().find(|t| t.name() == topic) {
            Some(t) if t.error().is_none() && !t.partitions().is_empty() => Ok(()),
            _ => Err(KafkaError::client(
                "find topic",
                RdKafkaError::MetadataFetch(
                    rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition,
                ),
            )),
        }
    }

    /// Waits up to `timeout` until every queued record is acknowledged. Runs on tokio's
    /// blocking pool (librdkafka's flush blocks). Errors: transient
    /// ([`KafkaError::is_transient`]) when records are still queued at the deadline.
    pub async fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.flush(Timeout::After(timeout)))
            .await
            // The blocking task panicked or the runtime is shutting down.
            .map_err(|_| KafkaError::client("flush", RdKafkaError::Canceled))?
            .map_err(|e| KafkaError::client("flush", e))
    }
}
