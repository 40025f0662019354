//! `tenantry-kafka` — the rdkafka adapter: it moves bytes, keys and headers between
//! Tenantry and a Kafka-API broker, and knows nothing of events, sagas or stores
//! (it must not depend on other tenantry crates; see DESIGN.md "Dependency direction").
//!
//! | module | owns |
//! |---|---|
//! | [`config`] | [`KafkaConfig`]: bootstrap, client id, librdkafka overrides; defaults per role |
//! | [`error`] | [`KafkaError`] and its transient/permanent split |
//! | [`producer`] | [`Producer`]: idempotent `FutureProducer` (`enable.idempotence=true`, `acks=all`) |
//! | [`record`] | [`Record`]: an owned record detached from the client |
//! | [`consumer`] | [`Consumer`]: group consumer that commits only offsets the caller stores (cases D1, D2) |
//! | [`lag`] | consumer lag per partition from librdkafka's statistics, as a gauge the consumer's owner names |
//! | [`dead_letter`](mod@dead_letter) | [`dead_letter()`]: copy a record to a dead-letter topic with `dlq.*` headers (case D3) |
//! | [`admin`] | [`ensure_topics`], [`delete_topics`], [`partition_leaders`] (admin API) |
//! | [`replay`] | [`read_to_end`]: read a whole topic without a consumer group |
//! | [`tail`] | [`Tail`]: follow a whole topic from its start without a consumer group (changelog caches) |
//! | [`transaction`] | [`Transaction`]: records produced and offsets committed atomically (KIP-98, KIP-447) |
//! | [`embedded`] | [`EmbeddedBroker`]: librdkafka's in-process mock cluster for `tenantry dev` |
//!
//! Delivery rule (DESIGN.md "Exactly-once effects from at-least-once delivery"): a
//! record's offset is committed only after the caller calls [`Consumer::store`], which
//! it does once the record's effect is durable. Everything else here is plumbing.
//!
//! Logging: librdkafka's log and error callbacks go to `tracing` (rdkafka's `tracing`
//! feature); client errors that heal by themselves (broker down, timeouts) are WARN,
//! the rest ERROR.

pub mod admin;
pub mod config;
pub mod consumer;
pub mod dead_letter;
pub mod embedded;
pub mod error;
pub mod lag;
pub mod producer;
pub mod record;
pub mod replay;
pub mod tail;
pub mod transaction;

pub use admin::{
    PartitionLeader, delete_topics, ensure_compacted_topics, ensure_topics, partition_leaders,
};
pub use config::KafkaConfig;
pub use consumer::{Consumer, ConsumerOptions};
pub use dead_letter::dead_letter;
pub use embedded::EmbeddedBroker;
pub use error::KafkaError;
pub use producer::Producer;
pub use record::{Record, send_span};
pub use replay::{ReadProgress, read_to_end, read_to_end_reporting};
pub use tail::{Tail, TailEvent};
pub use transaction::Transaction;
