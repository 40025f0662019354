//! [`KafkaError`]: every failure of this crate, split into transient (back off and
//! retry: the broker is down, slow or moving partitions) and permanent (a bug, bad
//! configuration or a broker that refuses the request for good).

use std::time::Duration;

use rdkafka::error::{KafkaError as RdKafkaError, RDKafkaErrorCode};

/// A failure talking to Kafka. Use [`KafkaError::is_transient`] to decide between
/// pausing/retrying (infrastructure back-off) and failing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KafkaError {
    /// A client could not be created: an unknown librdkafka property or a bad value in
    /// the defaults or [`KafkaConfig::overrides`](crate::KafkaConfig::overrides). Permanent.
    #[error("invalid Kafka client configuration: {0}")]
    Config(#[source] RdKafkaError),
    /// librdkafka reported an error during `op` (e.g. `"produce"`, `"consume"`,
    /// `"commit"`); transient or not depending on the error code.
    #[error("Kafka {op} failed: {source}")]
    Client {
        /// The operation that failed.
        op: &'static str,
        /// librdkafka's error.
        #[source]
        source: RdKafkaError,
    },
    /// The broker refused to create `topic` (admin API), for a reason other than
    /// "already exists".
    #[error("creating Kafka topic {topic} failed: {code}")]
    TopicCreation {
        /// The topic.
        topic: String,
        /// The broker's error code.
        code: RDKafkaErrorCode,
    },
    /// The broker refused to delete `topic` (admin API), for a reason other than
    /// "unknown topic".
    #[error("deleting Kafka topic {topic} failed: {code}")]
    TopicDeletion {
        /// The topic.
        topic: String,
        /// The broker's error code.
        code: RDKafkaErrorCode,
    },
    /// `op` did not finish before its deadline. Transient.
    #[error("Kafka {op} did not finish within {after:?}")]
    Timeout {
        /// The operation that timed out.
        op: &'static str,
        /// The deadline that passed.
        after: Duration,
    },
    /// [`Consumer::store`](crate::Consumer::store) for a partition that is no longer
    /// assigned to this consumer (revoked by a rebalance, librdkafka `__STATE`). The
    /// record will be delivered again to the partition's new owner; idempotent handlers
    /// absorb that (case D2). Permanent for this record: log and move on.
    #[error("partition {topic}/{partition} is not assigned to this consumer")]
    NotAssigned {
        /// The record's topic.
        topic: String,
        /// The record's partition.
        partition: i32,
    },
    /// The topic does not exist (metadata has no such topic). Permanent: create it
    /// first with [`ensure_topics`](crate::ensure_topics).
    #[error("Kafka topic {0} does not exist")]
    UnknownTopic(String),
    /// The [`EmbeddedBroker`](crate::EmbeddedBroker) thread failed or has stopped. Permanent.
    #[error("embedded Kafka broker: {0}")]
    Embedded(String),
}

impl KafkaError {
    /// Wraps librdkafka's error for `op`; client-creation errors become [`KafkaError::Config`].
    pub(crate) fn client(op: &'static str, source: RdKafkaError) -> Self {
        match source {
            RdKafkaError::ClientConfig(..) | RdKafkaError::ClientCreation(_) => {
                Self::Config(source)
            }
            source => Self::Client { op, source },
        }
    }

    /// The librdkafka/Kafka error code, when there is one.
    pub fn code(&self) -> Option<RDKafkaErrorCode> {
        match self {
            Self::Client {
                source: RdKafkaError::AdminOp(code),
                ..
            } => Some(*code),
            Self::Client { source, .. } => source.rdkafka_error_code(),
            Self::TopicCreation { code, .. } | Self::TopicDeletion { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// True when retrying later can succeed without anyone changing anything: the
    /// broker is unreachable or slow, a partition leader or group coordinator is moving,
    /// a rebalance is under way, the broker failed internally (UNKNOWN_SERVER_ERROR),
    /// the local queue is full, or a deadline passed.
    ///
    /// Source of the list: the Kafka protocol's retriable error codes (the Java
    /// client's `RetriableException` subclasses) plus librdkafka's local transport,
    /// timeout and queue errors (`__TRANSPORT`, `__ALL_BROKERS_DOWN`, `__MSG_TIMED_OUT`,
    /// `__TIMED_OUT`, `__QUEUE_FULL`, …). Configuration, authorisation, size and
    /// protocol errors are permanent.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Timeout { .. } => true,
            Self::Config(_) | Self::NotAssigned { .. } | Self::UnknownTopic(_) => false,
            Self::Embedded(_) => false,
            Self::Client {
                source: RdKafkaError::Canceled | RdKafkaError::NoMessageReceived,
                ..
            } => true,
            Self::Client { .. } | Self::TopicCreation { .. } | Self::TopicDeletion { .. } => {
                self.code().is_some_and(is_transient_code)
            }
        }
    }

    /// True when the client can never work again and the process must stop: librdkafka
    /// raised a fatal error, e.g. this static group member was fenced because another
    /// live member took its `group.instance.id` (`FENCED_INSTANCE_ID`, KIP-345).
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            Self::Client {
                source: RdKafkaError::MessageConsumptionFatal(_),
                ..
            }
        ) || matches!(
            self.code(),
            Some(RDKafkaErrorCode::Fatal | RDKafkaErrorCode::FencedInstanceId)
        )
    }
}

/// Whether a librdkafka/Kafka error code is retriable (see [`KafkaError::is_transient`]).
fn is_transient_code(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode as C;
    matches!(
        code,
        // librdkafka local errors.
        C::BrokerTransportFailure
            | C::Resolve
            | C::MessageTimedOut
            | C::AllBrokersDown
            | C::OperationTimedOut
            | C::TimedOutQueue
            | C::QueueFull
            | C::WaitingForCoordinator
            | C::InProgress
            | C::PreviousInProgress
            | C::WaitCache
            | C::Retry
            | C::PurgeQueue
            | C::PurgeInflight
            | C::NodeUpdate
            // Broker errors the protocol marks retriable.
            | C::UnknownTopicOrPartition
            | C::LeaderNotAvailable
            | C::NotLeaderForPartition
            | C::RequestTimedOut
            | C::BrokerNotAvailable
            | C::ReplicaNotAvailable
            | C::NetworkException
            | C::CoordinatorLoadInProgress
            | C::CoordinatorNotAvailable
            | C::NotCoordinator
            | C::NotEnoughReplicas
            | C::NotEnoughReplicasAfterAppend
            | C::NotController
            | C::KafkaStorageError
            | C::FetchSessionIdNotFound
            | C::InvalidFetchSessionEpoch
            | C::FencedLeaderEpoch
            | C::UnknownLeaderEpoch
            | C::OffsetNotAvailable
            | C::PreferredLeaderNotAvailable
            | C::EligibleLeadersNotAvailable
            | C::UnstableOffsetCommit
            | C::ThrottlingQuotaExceeded
            // The broker's UNKNOWN_SERVER_ERROR: an internal broker failure, never a
            // verdict on the record.
            | C::Unknown
            // Group membership churn: the consumer rejoins by itself.
            | C::RebalanceInProgress
            | C::IllegalGeneration
            | C::UnknownMemberId
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_outage_and_timeouts_are_transient() {
        for code in [
            RDKafkaErrorCode::AllBrokersDown,
            RDKafkaErrorCode::MessageTimedOut,
            RDKafkaErrorCode::BrokerTransportFailure,
            RDKafkaErrorCode::RequestTimedOut,
            RDKafkaErrorCode::Unknown,
        ] {
            let error = KafkaError::client("produce", RdKafkaError::MessageProduction(code));
            assert!(error.is_transient(), "{code:?}");
        }
        let timeout = KafkaError::Timeout {
            op: "read_to_end",
            after: Duration::from_secs(1),
        };
        assert!(timeout.is_transient());
    }

    #[test]
    fn refusals_and_configuration_are_permanent() {
        for code in [
            RDKafkaErrorCode::MessageSizeTooLarge,
            RDKafkaErrorCode::TopicAuthorizationFailed,
            RDKafkaErrorCode::InvalidConfig,
        ] {
            let error = KafkaError::client("produce", RdKafkaError::MessageProduction(code));
            assert!(!error.is_transient(), "{code:?}");
        }
        let config = KafkaError::client("create", RdKafkaError::ClientCreation("bad".into()));
        assert!(matches!(config, KafkaError::Config(_)));
        assert!(!config.is_transient());
        let exists = KafkaError::TopicCreation {
            topic: "t".into(),
            code: RDKafkaErrorCode::InvalidPartitions,
        };
        assert!(!exists.is_transient());
    }
}
