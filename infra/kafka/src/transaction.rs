//! [`Transaction`]: consume-transform-produce with exactly-once output
//! (KIP-98 transactions, KIP-447 group-metadata fencing).
//!
//! A reader with `isolation.level=read_committed` (librdkafka's default)
//! sees the records a transaction produced exactly when the consumer
//! offsets committed in it moved past the input that produced them: a
//! crash or a rebalance before the commit aborts both, and the input is
//! read again by whoever owns its partition next. A member fenced by a
//! rebalance cannot commit: its offsets carry its group generation.
//!
//! One producer runs one transaction at a time: [`Transaction::begin`],
//! [`Transaction::send`] any number of records, then [`Transaction::commit`]
//! with the consumer's offsets, or [`Transaction::abort`]. After an error
//! the caller aborts and starts again from the committed offsets (a new
//! consumer session): that is the only recovery librdkafka allows for an
//! abortable error, and a fatal one needs a new producer anyway.

use std::time::Duration;

use rdkafka::consumer::ConsumerGroupMetadata;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use rdkafka::util::Timeout;
use rdkafka::{Offset, TopicPartitionList};

use crate::config::{KafkaConfig, LogContext, PRODUCER_DEFAULTS};
use crate::error::KafkaError;

/// How long transaction calls (init, offsets, commit, abort) may take.
const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(30);

/// A transactional producer (`transactional.id` set; idempotent, `acks=all`).
#[derive(Clone)]
pub struct Transaction {
    inner: FutureProducer<LogContext>,
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction").finish_non_exhaustive()
    }
}

impl Transaction {
    /// Creates the producer under `transactional_id` and registers it with
    /// the transaction coordinator, which aborts what an earlier producer
    /// of that id left open. Runs on tokio's blocking pool.
    ///
    /// Errors: [`KafkaError::Config`] for a bad property; a client error
    /// when the coordinator does not answer within 30 s.
    pub async fn new(cfg: &KafkaConfig, transactional_id: &str) -> Result<Self, KafkaError> {
        let mut config = cfg.client_config(PRODUCER_DEFAULTS);
        config.set("transactional.id", transactional_id);
        // A transaction left open by a process that died blocks
        // `read_committed` readers of its partitions (the last stable
        // offset) until the coordinator aborts it: 10 s instead of
        // librdkafka's 60 s default.
        config.set("transaction.timeout.ms", "10000");
        // librdkafka refuses a delivery timeout over the transaction timeout.
        config.set("message.timeout.ms", "10000");
        let inner: FutureProducer<LogContext> = config
            .create_with_context(LogContext)
            .map_err(|e| KafkaError::client("create transactional producer", e))?;
        let producer = inner.clone();
        tokio::task::spawn_blocking(move || producer.init_transactions(TRANSACTION_TIMEOUT))
            .await
            .map_err(|_| {
                KafkaError::client("init transactions", rdkafka::error::KafkaError::Canceled)
            })?
            .map_err(|e| KafkaError::client("init transactions", e))?;
        Ok(Self { inner })
    }

    /// Starts a transaction.
    ///
    /// Errors: a client error (a transaction is already open, or the
    /// producer is fenced).
    pub fn begin(&self) -> Result<(), KafkaError> {
        self.inner
            .begin_transaction()
            .map_err(|e| KafkaError::client("begin transaction", e))
    }

    /// Produces one record in the open transaction and waits for its
    /// acknowledgement; `None` payload writes a tombstone.
    ///
    /// Errors: as [`Producer::send`](crate::Producer::send); the
    /// transaction must then be aborted.
    pub async fn send(
        &self,
        topic: &str,
        key: &str,
        payload: Option<&[u8]>,
    ) -> Result<(), KafkaError> {
        self.send_with_headers(topic, key, payload, &[]).await
    }

    /// [`send`](Transaction::send) with `headers`: (name, value) pairs,
    /// duplicates allowed (e.g. the W3C `traceparent` of the span that
    /// wrote the record).
    ///
    /// Errors: as [`send`](Transaction::send).
    pub async fn send_with_headers(
        &self,
        topic: &str,
        key: &str,
        payload: Option<&[u8]>,
        headers: &[(&str, &[u8])],
    ) -> Result<(), KafkaError> {
        let mut record: FutureRecord<'_, str, [u8]> = FutureRecord::to(topic).key(key);
        if !headers.is_empty() {
            let mut owned = OwnedHeaders::new_with_capacity(headers.len());
            for (name, value) in headers {
                owned = owned.insert(Header {
                    key: name,
                    value: Some(*value),
                });
            }
            record = record.headers(owned);
        }
        if let Some(payload) = payload {
            record = record.payload(payload);
        }
        self.inner
            .send(record, Timeout::Never)
            .await
            .map(|_| ())
            .map_err(|(error, _)| KafkaError::client("produce in transaction", error))
    }

    /// Commits the open transaction with `offsets` — `(topic, partition,
    /// next offset to read)` — as the consumer group's position, under
    /// `group` (the consumer's [`group_metadata`](crate::Consumer::group_metadata)).
    /// Runs on tokio's blocking pool.
    ///
    /// Errors: a client error; nothing of the transaction is visible then,
    /// and the caller aborts it.
    pub async fn commit(
        &self,
        offsets: &[(String, i32, i64)],
        group: ConsumerGroupMetadata,
    ) -> Result<(), KafkaError> {
        let mut list = TopicPartitionList::with_capacity(offsets.len());
        for (topic, partition, next) in offsets {
            list.add_partition_offset(topic, *partition, Offset::Offset(*next))
                .map_err(|e| KafkaError::client("commit transaction", e))?;
        }
        let producer = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            if list.count() > 0 {
                producer
                    .send_offsets_to_transaction(&list, &group, TRANSACTION_TIMEOUT)
                    .map_err(|e| KafkaError::client("send offsets to transaction", e))?;
            }
            producer
                .commit_transaction(TRANSACTION_TIMEOUT)
                .map_err(|e| KafkaError::client("commit transaction", e))
        })
        .await
        .map_err(|_| {
            KafkaError::client("commit transaction", rdkafka::error::KafkaError::Canceled)
        })?
    }

    /// Aborts the open transaction: what it produced is never visible to
    /// `read_committed` readers. Runs on tokio's blocking pool.
    ///
    /// Errors: a client error (the producer is fenced or failed for good).
    pub async fn abort(&self) -> Result<(), KafkaError> {
        let producer = self.inner.clone();
        tokio::task::spawn_blocking(move || producer.abort_transaction(TRANSACTION_TIMEOUT))
            .await
            .map_err(|_| {
                KafkaError::client("abort transaction", rdkafka::error::KafkaError::Canceled)
            })?
            .map_err(|e| KafkaError::client("abort transaction", e))
    }
}
