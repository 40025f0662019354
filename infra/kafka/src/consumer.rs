//! [`Consumer`]: a group consumer whose commits follow the caller's progress.
//!
//! Offset rule (case D1): librdkafka auto-commits (`enable.auto.commit=true`) only the
//! offsets stored with [`Consumer::store`] (`enable.auto.offset.store=false`), and the
//! caller stores a record only after its effect is durable.
//!
//! Rebalance rule (case D2): the consumer context commits the stored offsets
//! synchronously before partitions are revoked, so the next owner starts after the
//! finished work (without it, a rebalance redelivers everything since the last
//! periodic commit). With `enable.auto.commit=true` librdkafka also commits the
//! stored offsets of unassigned partitions itself (`rdkafka_assignment.c`,
//! "unassigned partitions"); the callback keeps the rule when an operator turns
//! auto-commit off through the overrides, and logs the outcome. Tests `d2_*` cover both settings. Under the
//! cooperative protocol (the default, `config.rs`) a revoke names only the
//! partitions that move; committing every stored offset then is still right.
//!
//! Static membership (KIP-345): a consumer given an
//! [`instance_id`](ConsumerOptions::instance_id) joins as that static member, so a
//! process restarted under the same name gets its partitions back without a
//! rebalance of the group. Static members use the eager `roundrobin` assignor,
//! not `cooperative-sticky`: the cooperative protocol moves a partition in two
//! rebalances (revoke, then assign in a follow-up the revoking member asks
//! for), and a static member killed between them comes back with the
//! assignment the broker cached for it, without a rebalance, so the
//! revoked partitions stay unowned for good (observed in the crash tests:
//! two partitions unassigned, lag growing, after three static members were
//! SIGKILLed and restarted). An eager rebalance assigns every partition in
//! one generation, so the cached assignment is whole.

/// `partition.assignment.strategy` of static members (see the module docs).
/// All members of a group must speak the same protocol: a group mixes static
/// and dynamic members only if the operator sets one strategy for all
/// through the overrides.
const STATIC_MEMBER_ASSIGNOR: &str = "roundrobin";

use rdkafka::client::ClientContext;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer as _, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaError as RdKafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::{Offset, TopicPartitionList};

use crate::config::{CONSUMER_DEFAULTS, KafkaConfig, log_client_error};
use crate::error::KafkaError;
use crate::record::Record;

/// Options of a [`Consumer`] beyond the connection settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerOptions {
    /// Where a group with no committed offset starts: `true` sets librdkafka
    /// `auto.offset.reset=earliest` (the whole retained log), `false` sets `latest`
    /// (only records written after the group's first join). Default `true`: a new
    /// group never skips lifecycle events.
    pub from_beginning: bool,
    /// Static group membership: librdkafka `group.instance.id` (KIP-345). A stable
    /// name for this member, unique within its group (e.g. a StatefulSet pod's
    /// name). A member restarted under the same name within `session.timeout.ms`
    /// gets its partitions back with no rebalance; a member that does not come
    /// back loses them when its session expires. A second live member with the
    /// same name fences the first (it stops with a fatal error). `None` (default):
    /// dynamic membership, a rebalance at every join and leave. Static members
    /// use the eager `roundrobin` assignor (module docs), so the members of one
    /// group are all static or all dynamic.
    pub instance_id: Option<String>,
    /// Offsets are committed by a [`Transaction`](crate::Transaction) with the
    /// records it produced (consume-transform-produce, KIP-98 and KIP-447),
    /// never by the consumer: `enable.auto.commit=false`, and
    /// [`Consumer::store`] is not used. Default `false`.
    pub transactional: bool,
    /// Name of a gauge to set, per `topic` and `partition` label, to this
    /// member's lag in records ([`crate::lag::partition_lag`]), from
    /// librdkafka's statistics every
    /// [`STATISTICS_INTERVAL_MS`](crate::lag::STATISTICS_INTERVAL_MS)
    /// unless the overrides set `statistics.interval.ms`. `None` (default):
    /// no statistics.
    pub lag_gauge: Option<&'static str>,
}

impl Default for ConsumerOptions {
    fn default() -> Self {
        Self {
            from_beginning: true,
            instance_id: None,
            transactional: false,
            lag_gauge: None,
        }
    }
}

/// A `StreamConsumer` in a consumer group that commits only what the caller
/// [stores](Consumer::store). Records of one partition arrive in offset order.
///
/// Dropping it leaves the group: stored offsets are committed first (revoke callback),
/// which blocks the dropping thread for about one broker round trip.
pub struct Consumer {
    inner: StreamConsumer<GroupContext>,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("group_id", &self.inner.context().group_id)
            .finish_non_exhaustive()
    }
}

impl Consumer {
    /// Joins consumer group `group_id` and subscribes to `topics`, with
    /// [`ConsumerOptions::default`] (start from the beginning when the group has no
    /// committed offset) and dynamic membership. Defaults: `enable.auto.commit=true`,
    /// `enable.auto.offset.store=false`, `auto.commit.interval.ms=1000`,
    /// `partition.assignment.strategy=cooperative-sticky`, `session.timeout.ms=10000`
    /// (see `config.rs`).
    ///
    /// Connects lazily: the group is joined while [`recv`](Consumer::recv) is polled.
    /// Errors: [`KafkaError::Config`] for a bad property; a subscription error.
    pub fn new(cfg: &KafkaConfig, group_id: &str, topics: &[&str]) -> Result<Self, KafkaError> {
        Self::with_options(cfg, group_id, topics, ConsumerOptions::default())
    }

    /// [`Consumer::new`] with explicit [`ConsumerOptions`].
    pub fn with_options(
        cfg: &KafkaConfig,
        group_id: &str,
        topics: &[&str],
        options: ConsumerOptions,
    ) -> Result<Self, KafkaError> {
        let reset = if options.from_beginning {
            "earliest"
        } else {
            "latest"
        };
        let mut config = cfg.client_config(CONSUMER_DEFAULTS);
        config.set("group.id", group_id);
        if !cfg.overrides.iter().any(|(k, _)| k == "auto.offset.reset") {
            config.set("auto.offset.reset", reset);
        }
        if let Some(instance) = &options.instance_id {
            config.set("group.instance.id", instance);
            if !cfg
                .overrides
                .iter()
                .any(|(k, _)| k == "partition.assignment.strategy")
            {
                config.set("partition.assignment.strategy", STATIC_MEMBER_ASSIGNOR);
            }
        }
        if options.transactional {
            config.set("enable.auto.commit", "false");
        }
        if options.lag_gauge.is_some()
            && !cfg
                .overrides
                .iter()
                .any(|(k, _)| k == "statistics.interval.ms")
        {
            config.set("statistics.interval.ms", crate::lag::STATISTICS_INTERVAL_MS);
        }
        let context = GroupContext {
            group_id: group_id.to_owned(),
            lag_gauge: options.lag_gauge,
            transactional: options.transactional,
        };
        let inner: StreamConsumer<GroupContext> = config
            .create_with_context(context)
            .map_err(|e| KafkaError::client("create consumer", e))?;
        inner
            .subscribe(topics)
            .map_err(|e| KafkaError::client("subscribe", e))?;
        Ok(Self { inner })
    }

    /// Waits for the next record of any assigned partition. Records of one partition
    /// arrive in offset order. Errors are reported once and the consumer keeps going:
    /// transient ones (broker down) need only a back-off before the next call.
    pub async fn recv(&self) -> Result<Record, KafkaError> {
        let message = self
            .inner
            .recv()
            .await
            .map_err(|e| KafkaError::client("consume", e))?;
        Ok(Record::from_message(&message))
    }

    /// Stores `record.offset + 1` (the next offset to read) as this group's position in
    /// the record's partition; librdkafka commits it within `auto.commit.interval.ms`,
    /// at a rebalance, or at [`commit_now`](Consumer::commit_now).
    ///
    /// Call it only after the record's effect is durable (case D1), and in offset order
    /// per partition: storing a record marks every earlier record of its partition done.
    /// Errors: [`KafkaError::NotAssigned`] when a rebalance took the partition away (the
    /// record will be redelivered to its new owner; dedup makes that harmless).
    pub fn store(&self, record: &Record) -> Result<(), KafkaError> {
        let mut list = TopicPartitionList::with_capacity(1);
        list.add_partition_offset(
            &record.topic,
            record.partition,
            Offset::Offset(record.offset + 1),
        )
        .map_err(|e| KafkaError::client("store offset", e))?;
        match self.inner.store_offsets(&list) {
            Ok(()) => Ok(()),
            Err(RdKafkaError::StoreOffset(
                RDKafkaErrorCode::State | RDKafkaErrorCode::UnknownPartition,
            )) => Err(KafkaError::NotAssigned {
                topic: record.topic.clone(),
                partition: record.partition,
            }),
            Err(e) => Err(KafkaError::client("store offset", e)),
        }
    }

    /// librdkafka's fatal error, if one was raised (code and reason, e.g. "Fatal
    /// consumer error: Broker: Static consumer fenced by other consumer with same
    /// group.instance.id"); after one the consumer delivers nothing more.
    pub fn fatal_error(&self) -> Option<String> {
        self.inner
            .client()
            .fatal_error()
            .map(|(code, reason)| format!("{code}: {reason}"))
    }

    /// Commits the stored offsets now and waits for the broker's answer (blocks the
    /// calling thread for about one round trip); used on shutdown. Nothing stored since
    /// the last commit is success.
    pub fn commit_now(&self) -> Result<(), KafkaError> {
        match self.inner.commit_consumer_state(CommitMode::Sync) {
            Ok(()) | Err(RdKafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => Ok(()),
            Err(e) => Err(KafkaError::client("commit", e)),
        }
    }

    /// Stops fetching from every currently assigned partition (infrastructure back-off,
    /// case D3: the schema registry is unreachable). Records already buffered may still
    /// arrive. Partitions assigned by a later rebalance start unpaused.
    pub fn pause_all(&self) -> Result<(), KafkaError> {
        let assignment = self.assignment_list()?;
        self.inner
            .pause(&assignment)
            .map_err(|e| KafkaError::client("pause", e))
    }

    /// Resumes fetching from every currently assigned partition.
    pub fn resume_all(&self) -> Result<(), KafkaError> {
        let assignment = self.assignment_list()?;
        self.inner
            .resume(&assignment)
            .map_err(|e| KafkaError::client("resume", e))
    }

    /// The (topic, partition) pairs currently assigned to this member; empty before the
    /// first group join completes.
    pub fn assignment(&self) -> Result<Vec<(String, i32)>, KafkaError> {
        Ok(self
            .assignment_list()?
            .elements()
            .iter()
            .map(|e| (e.topic().to_owned(), e.partition()))
            .collect())
    }

    /// The group's generation and member id as this member knows them,
    /// which a [`Transaction`](crate::Transaction) sends with its offsets so
    /// that a member fenced by a rebalance cannot commit (KIP-447). `None`
    /// before the first join.
    pub fn group_metadata(&self) -> Option<rdkafka::consumer::ConsumerGroupMetadata> {
        self.inner.group_metadata()
    }

    fn assignment_list(&self) -> Result<TopicPartitionList, KafkaError> {
        self.inner
            .assignment()
            .map_err(|e| KafkaError::client("assignment", e))
    }
}

/// Consumer context: logs client errors by severity and commits stored offsets before
/// a revoke (case D2).
pub(crate) struct GroupContext {
    group_id: String,
    /// [`ConsumerOptions::lag_gauge`].
    lag_gauge: Option<&'static str>,
    /// [`ConsumerOptions::transactional`]: where the lag counts from.
    transactional: bool,
}

impl ClientContext for GroupContext {
    fn error(&self, error: RdKafkaError, reason: &str) {
        log_client_error(error, reason);
    }

    fn stats(&self, statistics: rdkafka::Statistics) {
        if let Some(gauge) = self.lag_gauge {
            crate::lag::report(gauge, &statistics, self.transactional);
        }
    }
}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(partitions) = rebalance else {
            return;
        };
        let group = self.group_id.as_str();
        let count = partitions.count();
        match consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(()) => tracing::debug!(
                messaging.consumer.group.name = group,
                partitions = count,
                "Committed stored offsets before partitions were revoked."
            ),
            Err(RdKafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            // The librdkafka mock cluster always answers RebalanceInProgress here
            // (notes/local-stack.md); the offsets are redelivered and dedup absorbs them.
            Err(error) => tracing::debug!(
                messaging.consumer.group.name = group,
                partitions = count,
                error.message = %error,
                "Commit before revoke failed; uncommitted records will be delivered again."
            ),
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(partitions) = rebalance {
            tracing::debug!(
                messaging.consumer.group.name = self.group_id.as_str(),
                partitions = partitions.count(),
                "Partitions assigned."
            );
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        let Err(error) = result else { return };
        if matches!(
            error,
            RdKafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)
        ) {
            return;
        }
        let error = KafkaError::client("commit", error);
        if error.is_transient() {
            tracing::debug!(
                messaging.consumer.group.name = self.group_id.as_str(),
                error.message = %error,
                "Offset commit failed; it is retried at the next commit."
            );
        } else {
            tracing::warn!(
                messaging.consumer.group.name = self.group_id.as_str(),
                error.message = %error,
                "Offset commit failed."
            );
        }
    }
}
