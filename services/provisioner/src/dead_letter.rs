//! Where records the provisioner cannot decode or accept go: the
//! dead-letter queue, behind [`DeadLetterQueue`] so that the ingest runs
//! without a broker in tests. Production: [`KafkaDeadLetters`], the
//! commerce dead-letter topic with the reason, partition and offset in
//! headers (`tenantry_kafka::dead_letter`).

use std::future::Future;
use tenantry_kafka::{KafkaError, Producer, Record, dead_letter};

/// Publishes a record to the dead-letter queue with the reason.
///
/// Contract: once `publish` returns `Ok` the record is durable there; the
/// caller then stores the record's offset. An `Err` is retried by the caller.
pub trait DeadLetterQueue: Send + Sync + 'static {
    /// Why publishing failed (infrastructure; retrying may succeed).
    type Error: std::fmt::Display + Send;

    /// Publishes `record` with `reason` (`<code>: <detail>`).
    fn publish(
        &self,
        record: &Record,
        reason: &str,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// The dead-letter topic on Kafka.
#[derive(Clone)]
pub struct KafkaDeadLetters {
    /// Producer.
    pub producer: Producer,
    /// The commerce dead-letter topic.
    pub topic: String,
}

impl DeadLetterQueue for KafkaDeadLetters {
    type Error = KafkaError;

    async fn publish(&self, record: &Record, reason: &str) -> Result<(), KafkaError> {
        dead_letter(&self.producer, &self.topic, record, reason).await
    }
}
