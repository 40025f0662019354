//! Connection settings and the librdkafka defaults of each client role.
//!
//! Every client is built the same way: `bootstrap.servers` and `client.id` from
//! [`KafkaConfig`], then the role's defaults (the `*_DEFAULTS` tables below, each line
//! naming its librdkafka property), then [`KafkaConfig::overrides`] — so an operator can
//! change any default without a code change.

use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError as RdKafkaError;

use crate::error::KafkaError;

/// Connection settings shared by [`Producer`](crate::Producer),
/// [`Consumer`](crate::Consumer) and the admin helpers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaConfig {
    /// librdkafka `bootstrap.servers`: comma-separated `host:port` list,
    /// e.g. `127.0.0.1:9092` (local stack) or [`EmbeddedBroker::bootstrap`](crate::EmbeddedBroker::bootstrap).
    pub bootstrap: String,
    /// librdkafka `client.id`: names this process in broker logs and quotas,
    /// e.g. `tenantry-provisioner`.
    pub client_id: String,
    /// Extra librdkafka properties (`name`, `value`), applied after the role defaults,
    /// so they win; e.g. `("isolation.level", "read_uncommitted")` for tansu's
    /// postgres:// engine (notes/local-stack.md). Unknown names fail client creation
    /// with [`KafkaError::Config`].
    pub overrides: Vec<(String, String)>,
}

impl KafkaConfig {
    /// Settings with no overrides.
    pub fn new(bootstrap: impl Into<String>, client_id: impl Into<String>) -> Self {
        Self {
            bootstrap: bootstrap.into(),
            client_id: client_id.into(),
            overrides: Vec::new(),
        }
    }

    /// Adds one librdkafka property to [`KafkaConfig::overrides`] (builder style).
    #[must_use]
    pub fn with_override(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.overrides.push((name.into(), value.into()));
        self
    }

    /// The librdkafka configuration for one client role: connection, `defaults`, overrides.
    pub(crate) fn client_config(&self, defaults: &[(&str, &str)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap)
            .set("client.id", &self.client_id);
        for (name, value) in defaults {
            config.set(*name, *value);
        }
        for (name, value) in &self.overrides {
            config.set(name, value);
        }
        config
    }
}

/// Producer defaults (librdkafka property, value).
pub(crate) const PRODUCER_DEFAULTS: &[(&str, &str)] = &[
    // No duplicates or reordering from producer retries (KIP-98 idempotent producer);
    // requires acks=all.
    ("enable.idempotence", "true"),
    ("acks", "all"),
    // Small batching window: Tenantry is latency-bound, not throughput-bound.
    ("linger.ms", "5"),
    // A send fails (transiently, MessageTimedOut) after 30 s instead of librdkafka's
    // 300 s default, so callers back off and report a broker outage promptly.
    ("message.timeout.ms", "30000"),
    // batch.num.messages stays at librdkafka's default: only tansu's memory:// engine
    // misreports offsets of multi-record batches (notes/local-stack.md); the local
    // stack runs sqlite://. Override it to 1 if you ever point Tenantry at memory://.
];

/// Group consumer defaults (librdkafka property, value); `group.id` and
/// `auto.offset.reset` are set by [`Consumer`](crate::Consumer).
pub(crate) const CONSUMER_DEFAULTS: &[(&str, &str)] = &[
    // Case D1: librdkafka commits in the background, but only offsets the application
    // stored explicitly (Consumer::store) after the record's effect is durable.
    ("enable.auto.commit", "true"),
    ("enable.auto.offset.store", "false"),
    // Commit stored offsets every second (librdkafka default 5 s): a crash redelivers
    // at most about a second of finished work, which dedup absorbs (case D2).
    ("auto.commit.interval.ms", "1000"),
    // The broker answers an empty fetch after at most 25 ms (default 500 ms). tansu 0.6
    // answers a fetch only when this wait ends, even when records arrive earlier, so it
    // bounds the latency of every hop. Measured with `tenantry bench --tenants 120
    // --rate 20` (publish → context readable) and the broker's CPU with an idle
    // provisioner and projector, on the local stack (2 cores):
    //   100 ms: p50 315 ms, p99 370 ms; idle broker 9.5 % of a core
    //    50 ms: p50 210 ms, p99 241 ms; 16 %
    //    25 ms: p50  90 ms, p99 125 ms; 29 %
    // A Kafka broker answers as soon as `fetch.min.bytes` (1) arrive; there the wait
    // only paces idle polling. Override with `--kafka-property fetch.wait.max.ms=100`.
    ("fetch.wait.max.ms", "25"),
    // A dead worker's partitions move after 10 s (default 45 s); heartbeats every 3 s.
    ("session.timeout.ms", "10000"),
    ("heartbeat.interval.ms", "3000"),
    // A service started before its topics exist finds them within 10 s instead
    // of librdkafka's 5-minute default, for one metadata request per 10 s.
    ("topic.metadata.refresh.interval.ms", "10000"),
];

/// Defaults of the group-less reader behind [`read_to_end`](crate::read_to_end).
pub(crate) const REPLAY_DEFAULTS: &[(&str, &str)] = &[
    // librdkafka's assign() fails with __UNKNOWN_GROUP without a group.id; the group is
    // never joined (partitions are assigned, not subscribed) and nothing is committed.
    ("group.id", "tenantry-replay"),
    ("enable.auto.commit", "false"),
    ("enable.auto.offset.store", "false"),
    // The end of each partition is reported, so an idle partition ends the read.
    ("enable.partition.eof", "true"),
    ("fetch.wait.max.ms", "100"),
];

/// Client context shared by the producer, the admin client and the replay reader:
/// routes librdkafka's error callback to `tracing` at a level that says whether an
/// operator must act (STYLE.md, vector: ERROR means an operator must act).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LogContext;

impl ClientContext for LogContext {
    fn error(&self, error: RdKafkaError, reason: &str) {
        log_client_error(error, reason);
    }
}

/// The replay reader assigns partitions itself: no rebalance or commit callbacks.
impl ConsumerContext for LogContext {}

/// Logs an error reported by librdkafka's background threads: WARN when librdkafka
/// recovers by itself (broker unreachable, timeouts), ERROR otherwise.
pub(crate) fn log_client_error(error: RdKafkaError, reason: &str) {
    let error = KafkaError::client("client", error);
    if error.is_transient() {
        tracing::warn!(error.message = %error, reason, "Kafka client reported a transient error.");
    } else {
        tracing::error!(error.message = %error, reason, "Kafka client reported an error.");
    }
}
