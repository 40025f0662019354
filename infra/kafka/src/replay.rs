//! [`read_to_end`]: read a whole topic once, without a consumer group — for
//! `tenantry replay` (DESIGN.md "Replay equals live") and for tests.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::error::KafkaError as RdKafkaError;
use rdkafka::util::Timeout;
use rdkafka::{Message as _, Offset, TopicPartitionList};

use crate::config::{KafkaConfig, LogContext, REPLAY_DEFAULTS};
use crate::error::KafkaError;
use crate::record::Record;

/// Told how far a [`read_to_end_reporting`] got: `(records read, records
/// to read)`, after every record. The second figure is the sum of the
/// partitions' `high - low` watermarks when the read began, an upper bound
/// (transaction markers and compacted-away offsets are counted but never
/// read).
#[derive(Clone)]
pub struct ReadProgress(std::sync::Arc<dyn Fn(u64, u64) + Send + Sync>);

impl ReadProgress {
    /// A progress report calling `report(read, total)`.
    pub fn new(report: impl Fn(u64, u64) + Send + Sync + 'static) -> Self {
        Self(std::sync::Arc::new(report))
    }
}

impl std::fmt::Debug for ReadProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReadProgress")
    }
}

/// Longest single wait on librdkafka, so the deadline is checked often.
const POLL_SLICE: Duration = Duration::from_millis(100);

/// Reads `topic` from the start of each partition up to the high watermarks observed
/// at call time (records written afterwards are left out), assigning all partitions
/// directly: no group is joined and nothing is committed.
///
/// Returns the records of each partition in offset order, partitions one after
/// another in partition order. Runs on tokio's blocking pool. Errors:
/// [`KafkaError::UnknownTopic`]; [`KafkaError::Timeout`] (transient) when the whole
/// read takes longer than `timeout`; permanent client errors while fetching.
pub async fn read_to_end(
    cfg: &KafkaConfig,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<Record>, KafkaError> {
    read_to_end_reporting(cfg, topic, timeout, None).await
}

/// [`read_to_end`], telling `progress` how far it got after every record.
///
/// Errors: those of [`read_to_end`].
pub async fn read_to_end_reporting(
    cfg: &KafkaConfig,
    topic: &str,
    timeout: Duration,
    progress: Option<ReadProgress>,
) -> Result<Vec<Record>, KafkaError> {
    let cfg = cfg.clone();
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || read_blocking(&cfg, &topic, timeout, progress.as_ref()))
        .await
        // The blocking task panicked or the runtime is shutting down.
        .map_err(|_| KafkaError::client("read_to_end", RdKafkaError::Canceled))?
}

fn read_blocking(
    cfg: &KafkaConfig,
    topic: &str,
    timeout: Duration,
    progress: Option<&ReadProgress>,
) -> Result<Vec<Record>, KafkaError> {
    let deadline = Instant::now() + timeout;
    let timed_out = || KafkaError::Timeout {
        op: "read_to_end",
        after: timeout,
    };
    let left = || {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(timed_out())
        } else {
            Ok(left)
        }
    };
    let consumer: BaseConsumer<LogContext> = cfg
        .client_config(REPLAY_DEFAULTS)
        .create_with_context(LogContext)
        .map_err(|e| KafkaError::client("create reader", e))?;

    let metadata = consumer
        .fetch_metadata(Some(topic), Timeout::After(left()?))
        .map_err(|e| KafkaError::client("fetch metadata", e))?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .map(|t| t.partitions().iter().map(|p| p.id()).collect())
        .unwrap_or_default();
    if partitions.is_empty() {
        return Err(KafkaError::UnknownTopic(topic.to_owned()));
    }

    // Partition -> high watermark (offset of the next record to be written).
    let mut pending: HashMap<i32, i64> = HashMap::new();
    let mut assignment = TopicPartitionList::new();
    let (mut total, mut read) = (0u64, 0u64);
    for partition in partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, Timeout::After(left()?))
            .map_err(|e| KafkaError::client("fetch watermarks", e))?;
        if high > low {
            total += u64::try_from(high - low).unwrap_or(0);
            pending.insert(partition, high);
            assignment
                .add_partition_offset(topic, partition, Offset::Offset(low))
                .map_err(|e| KafkaError::client("assign", e))?;
        }
    }
    let mut by_partition: HashMap<i32, Vec<Record>> = HashMap::new();
    if !pending.is_empty() {
        consumer
            .assign(&assignment)
            .map_err(|e| KafkaError::client("assign", e))?;
    }
    while !pending.is_empty() {
        match consumer.poll(left()?.min(POLL_SLICE)) {
            None => {}
            Some(Ok(message)) => {
                let partition = message.partition();
                let Some(&high) = pending.get(&partition) else {
                    continue; // already complete; a record written after the call
                };
                if message.offset() < high {
                    by_partition
                        .entry(partition)
                        .or_default()
                        .push(Record::from_message(&message));
                    read += 1;
                    if let Some(progress) = progress {
                        (progress.0)(read, total);
                    }
                }
                if message.offset() >= high - 1 {
                    pending.remove(&partition);
                    tracing::debug!(topic, partition, end = high, "End of partition reached.");
                }
            }
            // The end of the log; covers a last offset that is no record (a
            // transaction marker, a compacted-away record).
            // librdkafka reports it as an error value (`enable.partition.eof`);
            // it is the end this reader waits for, logged as what it is.
            Some(Err(RdKafkaError::PartitionEOF(partition)))
                if pending.remove(&partition).is_some() =>
            {
                tracing::debug!(topic, partition, "End of partition reached.");
            }
            // A partition already complete.
            Some(Err(RdKafkaError::PartitionEOF(_))) => {}
            Some(Err(error)) => {
                let error = KafkaError::client("consume", error);
                if !error.is_transient() {
                    return Err(error);
                }
                tracing::debug!(error.message = %error, "Transient error while reading to end.");
            }
        }
    }
    let mut partitions: Vec<i32> = by_partition.keys().copied().collect();
    partitions.sort_unstable();
    Ok(partitions
        .into_iter()
        .flat_map(|p| by_partition.remove(&p).unwrap_or_default())
        .collect())
}
