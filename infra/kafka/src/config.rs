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
    /// so they win; e.g. `("linger.ms", "5")`. Unknown names fail client creation
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
    // A key goes to the partition Java clients pick for it (murmur2 of the key, as
    // Kafka's DefaultPartitioner and Streams do; librdkafka's default is CRC32), so
    // a tenant's records land in one partition whichever client wrote them: the
    // commerce system's producer, `tenantry publish`, or the relay. Records without
    // a key go to a random partition.
    ("partitioner", "murmur2_random"),
    // A 1 ms batching window (librdkafka's default is 5 ms). Every hop of an event
    // through Tenantry pays it once; the relay and `publish --file` enqueue a whole
    // batch before the first send is awaited, so their records are batched anyway.
    // Measured with `tenantry bench` on the local stack (2 cores; runs of one
    // series interleaved, series apart): `--tenants 300 --rate 20` p50 publish →
    // context 30.7 ms at 5 ms, 25.5 at 1 ms, 24.5 at 0 ms; `--tenants 1000` 188 and
    // 204 tenants/s at 1 ms against 190 at 5 ms, and in another series 156 and 163
    // at 0 ms against 193 and 212 at 5 ms (more, smaller produce requests).
    ("linger.ms", "1"),
    // A send fails (transiently, MessageTimedOut) after 30 s instead of librdkafka's
    // 300 s default, so callers back off and report a broker outage promptly.
    ("message.timeout.ms", "30000"),
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
    // Incremental cooperative rebalancing (KIP-429): a member joining or leaving
    // moves only the partitions that change owner, and the others keep being
    // consumed through the rebalance; librdkafka's default (range,roundrobin)
    // stops every member for each one. Every member of a group must use it.
    ("partition.assignment.strategy", "cooperative-sticky"),
    // A Kafka broker answers a fetch as soon as `fetch.min.bytes` (1) arrive, so
    // this wait only paces polling of idle partitions: librdkafka's default.
    ("fetch.wait.max.ms", "500"),
    // A dead worker's partitions move after 10 s (default 45 s); heartbeats every 3 s.
    // With static membership (ConsumerOptions::instance_id) this is also how long
    // the group waits for a member that went away to come back under its name.
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

/// Defaults of the group-less follower behind [`Tail`](crate::Tail).
pub(crate) const TAIL_DEFAULTS: &[(&str, &str)] = &[
    // As for the replay reader: assign() needs a group.id, which is never
    // joined; nothing is committed.
    ("group.id", "tenantry-tail"),
    ("enable.auto.commit", "false"),
    ("enable.auto.offset.store", "false"),
    // The end of each partition is reported, so the follower knows when it
    // has caught up with what was written before it started.
    ("enable.partition.eof", "true"),
    // A broker answers a fetch as soon as a record arrives (fetch.min.bytes
    // 1); this only bounds how long an idle fetch is held open. A follower
    // serves from what it read, so a new record is delivered at once either
    // way; 100 ms keeps the end-of-partition report prompt at start.
    ("fetch.wait.max.ms", "100"),
    // Its topics are fixed; partitions added later are not followed.
    ("topic.metadata.refresh.interval.ms", "60000"),
    // `queued.max.messages.kbytes` stays at librdkafka's 64 MiB: capped at
    // 8 MiB, a sidecar took 7.3 s instead of 1.6 s to read 100,000 contexts
    // (`tenantry bench api`), for about 20 MiB less RSS while warming.
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
/// recovers by itself (broker unreachable, timeouts), ERROR otherwise. The end
/// of a partition (`enable.partition.eof`, the replay reader) is no error: it
/// is reported through this callback too when a fetch reaches the end of a
/// partition the reader has no pending record of.
pub(crate) fn log_client_error(error: RdKafkaError, reason: &str) {
    if matches!(
        error,
        RdKafkaError::PartitionEOF(_)
            | RdKafkaError::Global(rdkafka::types::RDKafkaErrorCode::PartitionEOF)
    ) {
        tracing::debug!(reason, "End of partition reached.");
        return;
    }
    let error = KafkaError::client("client", error);
    if error.is_transient() {
        tracing::warn!(error.message = %error, reason, "Kafka client reported a transient error.");
    } else {
        tracing::error!(error.message = %error, reason, "Kafka client reported an error.");
    }
}
