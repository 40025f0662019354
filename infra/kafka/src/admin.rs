//! Topic administration through the Kafka admin API: [`ensure_topics`] creates
//! missing topics, [`delete_topics`] removes them, [`partition_leaders`] says which
//! broker leads each partition.

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::error::{KafkaError as RdKafkaError, RDKafkaErrorCode};
use rdkafka::util::Timeout;

use crate::config::{KafkaConfig, LogContext};
use crate::error::KafkaError;

/// How long the broker may take to create the topics, and then to show them in
/// metadata with all their partitions.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Replication factor -1 asks the broker for its `default.replication.factor`
/// (KIP-464, CreateTopics v4+), so the same call suits one local broker and a cluster.
const BROKER_DEFAULT_REPLICATION: i32 = -1;

/// Creates each `(topic, partitions)` that does not exist yet, with the broker's
/// `default.replication.factor` (replication factor -1, KIP-464), then
/// waits until every topic is visible in metadata with at least that many partitions,
/// so a producer or consumer started right after does not race the creation.
///
/// "Already exists" is success, whatever the existing partition count. Tenantry creates
/// its topics explicitly (the local stack's broker has `auto.create.topics.enable=false`,
/// so a mistyped name fails); the librdkafka mock cluster has no admin API — use
/// [`EmbeddedBroker`](crate::EmbeddedBroker) there.
/// Errors: [`KafkaError::TopicCreation`] when the broker refuses a topic,
/// [`KafkaError::Timeout`] (transient) after 30 s.
pub async fn ensure_topics(cfg: &KafkaConfig, topics: &[(&str, i32)]) -> Result<(), KafkaError> {
    create_topics(cfg, topics, &[]).await
}

/// [`ensure_topics`] for compacted topics (`cleanup.policy=compact`: the
/// broker keeps each key's newest record), such as a changelog. An existing
/// topic is left as it is.
///
/// # Errors
/// As [`ensure_topics`].
pub async fn ensure_compacted_topics(
    cfg: &KafkaConfig,
    topics: &[(&str, i32)],
) -> Result<(), KafkaError> {
    create_topics(cfg, topics, &[("cleanup.policy", "compact")]).await
}

async fn create_topics(
    cfg: &KafkaConfig,
    topics: &[(&str, i32)],
    settings: &[(&str, &str)],
) -> Result<(), KafkaError> {
    if topics.is_empty() {
        return Ok(());
    }
    let deadline = Instant::now() + ADMIN_TIMEOUT;
    let admin: AdminClient<LogContext> = cfg
        .client_config(&[])
        .create_with_context(LogContext)
        .map_err(|e| KafkaError::client("create admin client", e))?;
    let new_topics: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|(name, partitions)| {
            settings.iter().fold(
                NewTopic::new(
                    name,
                    *partitions,
                    TopicReplication::Fixed(BROKER_DEFAULT_REPLICATION),
                ),
                |topic, (key, value)| topic.set(key, value),
            )
        })
        .collect();
    let wanted: Vec<(String, usize)> = topics
        .iter()
        .map(|(name, partitions)| {
            (
                (*name).to_owned(),
                usize::try_from(*partitions).unwrap_or(0),
            )
        })
        .collect();
    // Topics that exist already need no admin request: a broker without
    // the admin API (librdkafka's mock cluster, whose topics are created
    // through it) then works too.
    let (admin, wanted, exist) = tokio::task::spawn_blocking(move || {
        let exist = wanted.iter().all(|(topic, partitions)| {
            partitions_of(&admin, topic, EXISTS_TIMEOUT) >= Some(*partitions)
        });
        (admin, wanted, exist)
    })
    .await
    .map_err(|_| KafkaError::client("create topics", RdKafkaError::Canceled))?;
    if exist {
        return Ok(());
    }
    let options = AdminOptions::new()
        .operation_timeout(Some(Timeout::After(ADMIN_TIMEOUT)))
        .request_timeout(Some(Timeout::After(ADMIN_TIMEOUT)));
    let results = admin
        .create_topics(&new_topics, &options)
        .await
        .map_err(|e| KafkaError::client("create topics", e))?;
    for result in results {
        match result {
            Ok(topic) => tracing::info!(messaging.destination.name = topic, "Topic created."),
            Err((topic, RDKafkaErrorCode::TopicAlreadyExists)) => {
                tracing::debug!(messaging.destination.name = topic, "Topic already exists.");
            }
            Err((topic, code)) => return Err(KafkaError::TopicCreation { topic, code }),
        }
    }
    tokio::task::spawn_blocking(move || wait_for_metadata(&admin, &wanted, deadline))
        .await
        // The blocking task panicked or the runtime is shutting down.
        .map_err(|_| KafkaError::client("create topics", RdKafkaError::Canceled))?
}

/// Polls metadata until every wanted topic has its partitions (blocking).
fn wait_for_metadata(
    admin: &AdminClient<LogContext>,
    wanted: &[(String, usize)],
    deadline: Instant,
) -> Result<(), KafkaError> {
    for (topic, partitions) in wanted {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(KafkaError::Timeout {
                    op: "create topics",
                    after: ADMIN_TIMEOUT,
                });
            }
            let visible = partitions_of(admin, topic, left);
            if visible.is_some_and(|n| n >= *partitions) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100).min(left));
        }
    }
    Ok(())
}

/// How long the check that topics exist already waits for metadata.
const EXISTS_TIMEOUT: Duration = Duration::from_secs(5);

/// The partition count of `topic` in the cluster's metadata, `None` when it
/// is unknown or the cluster does not answer within `timeout` (blocking).
fn partitions_of(admin: &AdminClient<LogContext>, topic: &str, timeout: Duration) -> Option<usize> {
    admin
        .inner()
        .fetch_metadata(Some(topic), Timeout::After(timeout))
        .ok()
        .and_then(|metadata| {
            metadata
                .topics()
                .iter()
                .find(|t| t.name() == topic && t.error().is_none())
                .map(|t| t.partitions().len())
        })
}

/// Where one partition's leader is, from the cluster's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLeader {
    /// Topic name.
    pub topic: String,
    /// Partition number.
    pub partition: i32,
    /// `node.id` of the broker leading it; `-1` while it has no leader.
    pub leader: i32,
    /// Node ids of its in-sync replicas.
    pub in_sync: Vec<i32>,
}

/// The leader and in-sync replicas of every partition of `topics`, asked of the
/// cluster within 10 s (blocking metadata request, run on tokio's blocking pool).
/// Fault tests use it to pick the broker whose loss hurts most.
///
/// Errors: [`KafkaError::Client`] when the cluster does not answer, or a topic is
/// unknown (`UnknownTopicOrPartition`).
pub async fn partition_leaders(
    cfg: &KafkaConfig,
    topics: &[&str],
) -> Result<Vec<PartitionLeader>, KafkaError> {
    let admin: AdminClient<LogContext> = cfg
        .client_config(&[])
        .create_with_context(LogContext)
        .map_err(|e| KafkaError::client("create admin client", e))?;
    let topics: Vec<String> = topics.iter().map(|t| (*t).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let mut leaders = Vec::new();
        for topic in &topics {
            let metadata = admin
                .inner()
                .fetch_metadata(Some(topic), Timeout::After(Duration::from_secs(10)))
                .map_err(|e| KafkaError::client("fetch metadata", e))?;
            for t in metadata.topics() {
                if let Some(code) = t.error() {
                    return Err(KafkaError::client(
                        "fetch metadata",
                        RdKafkaError::MetadataFetch(code.into()),
                    ));
                }
                leaders.extend(t.partitions().iter().map(|p| PartitionLeader {
                    topic: t.name().to_owned(),
                    partition: p.id(),
                    leader: p.leader(),
                    in_sync: p.isr().to_vec(),
                }));
            }
        }
        Ok(leaders)
    })
    .await
    .map_err(|_| KafkaError::client("fetch metadata", RdKafkaError::Canceled))?
}

/// Deletes `topics` (those that do not exist are skipped) and waits up to 30 s for
/// the broker's answer; used by `tenantry bench` to remove the topics of its run.
///
/// Errors: [`KafkaError::Client`] when the broker does not answer,
/// [`KafkaError::TopicDeletion`] when it refuses a topic.
pub async fn delete_topics(cfg: &KafkaConfig, topics: &[&str]) -> Result<(), KafkaError> {
    if topics.is_empty() {
        return Ok(());
    }
    let admin: AdminClient<LogContext> = cfg
        .client_config(&[])
        .create_with_context(LogContext)
        .map_err(|e| KafkaError::client("create admin client", e))?;
    let options = AdminOptions::new()
        .operation_timeout(Some(Timeout::After(ADMIN_TIMEOUT)))
        .request_timeout(Some(Timeout::After(ADMIN_TIMEOUT)));
    let results = admin
        .delete_topics(topics, &options)
        .await
        .map_err(|e| KafkaError::client("delete topics", e))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
            Err((topic, code)) => return Err(KafkaError::TopicDeletion { topic, code }),
        }
    }
    Ok(())
}
