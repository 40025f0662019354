//! [`Tail`]: follow a whole topic from its start, without a consumer group —
//! how a cache rebuilds itself from a compacted changelog and then stays in
//! step with it.

use std::collections::BTreeSet;
use std::time::Duration;

use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::error::KafkaError as RdKafkaError;
use rdkafka::util::Timeout;
use rdkafka::{Offset, TopicPartitionList};

use crate::config::{KafkaConfig, LogContext, TAIL_DEFAULTS};
use crate::error::KafkaError;
use crate::record::Record;

/// What [`Tail::next`] yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TailEvent {
    /// The next record of a partition (offset order within a partition).
    Record(Record),
    /// Every partition has been read to the end it had when it was reached
    /// (its last stable offset: `read_committed` is librdkafka's default, so
    /// only committed transactions are delivered). Yielded once, after the
    /// first pass; records keep coming afterwards as they are written.
    CaughtUp,
}

/// A reader assigned every partition of one topic from the beginning. No
/// group is joined and nothing is committed: each reader sees the whole
/// retained log (the last record per key after compaction, and whatever was
/// not compacted yet). Partitions added after [`Tail::start`] are not read.
pub struct Tail {
    inner: StreamConsumer<LogContext>,
    topic: String,
    /// Partitions whose end was not reached yet; empty once caught up.
    behind: BTreeSet<i32>,
    caught_up: bool,
}

impl std::fmt::Debug for Tail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tail")
            .field("topic", &self.topic)
            .field("behind", &self.behind)
            .finish_non_exhaustive()
    }
}

impl Tail {
    /// Assigns every partition of `topic` at its beginning.
    ///
    /// Errors: [`KafkaError::UnknownTopic`] when the topic does not exist
    /// (yet); a client error when the broker does not answer the metadata
    /// request within `timeout` (transient).
    pub async fn start(
        cfg: &KafkaConfig,
        topic: &str,
        timeout: Duration,
    ) -> Result<Self, KafkaError> {
        let inner: StreamConsumer<LogContext> = cfg
            .client_config(TAIL_DEFAULTS)
            .create_with_context(LogContext)
            .map_err(|e| KafkaError::client("create tail", e))?;
        // Metadata is a blocking call in rdkafka: off the async workers.
        let (inner, partitions) = {
            let topic = topic.to_owned();
            tokio::task::spawn_blocking(move || {
                let partitions = inner
                    .fetch_metadata(Some(&topic), Timeout::After(timeout))
                    .map(|metadata| {
                        metadata
                            .topics()
                            .iter()
                            .find(|t| t.name() == topic && t.error().is_none())
                            .map(|t| t.partitions().iter().map(|p| p.id()).collect::<Vec<_>>())
                            .unwrap_or_default()
                    });
                (inner, partitions)
            })
            .await
            .map_err(|_| KafkaError::client("tail metadata", RdKafkaError::Canceled))?
        };
        let partitions = partitions.map_err(|e| KafkaError::client("fetch metadata", e))?;
        if partitions.is_empty() {
            return Err(KafkaError::UnknownTopic(topic.to_owned()));
        }
        let mut assignment = TopicPartitionList::new();
        for partition in &partitions {
            assignment
                .add_partition_offset(topic, *partition, Offset::Beginning)
                .map_err(|e| KafkaError::client("assign", e))?;
        }
        inner
            .assign(&assignment)
            .map_err(|e| KafkaError::client("assign", e))?;
        Ok(Self {
            inner,
            topic: topic.to_owned(),
            behind: partitions.into_iter().collect(),
            caught_up: false,
        })
    }

    /// The topic followed.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Waits for the next record, or for [`TailEvent::CaughtUp`] once.
    ///
    /// Errors are reported once and the reader keeps going: transient ones
    /// (broker down) need only a back-off before the next call.
    pub async fn next(&mut self) -> Result<TailEvent, KafkaError> {
        loop {
            match self.inner.recv().await {
                Ok(message) => return Ok(TailEvent::Record(Record::from_message(&message))),
                // The end of a partition (covers a last offset that is a
                // transaction marker or a compacted-away record).
                Err(RdKafkaError::PartitionEOF(partition)) => {
                    self.behind.remove(&partition);
                    if self.behind.is_empty() && !self.caught_up {
                        self.caught_up = true;
                        return Ok(TailEvent::CaughtUp);
                    }
                }
                Err(error) => return Err(KafkaError::client("tail", error)),
            }
        }
    }
}
