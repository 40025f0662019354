//! Shared helpers: broker address, fresh topics and groups, bounded receive.

use std::time::Duration;

use tenantry_kafka::{Consumer, KafkaConfig, Record, ensure_topics};
use tokio::time::timeout;
use uuid::Uuid;

/// Upper bound for any wait in these tests (group joins and rebalances take seconds).
pub const DEADLINE: Duration = Duration::from_secs(60);

/// Connection settings for the real broker; fails fast with a hint when it is down.
pub async fn broker() -> KafkaConfig {
    let bootstrap =
        std::env::var("TENANTRY_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".to_owned());
    let first = bootstrap.split(',').next().unwrap_or_default().to_owned();
    let reachable = timeout(
        Duration::from_secs(3),
        tokio::net::TcpStream::connect(first.as_str()),
    )
    .await;
    assert!(
        matches!(reachable, Ok(Ok(_))),
        "no Kafka-API broker at {bootstrap}: start the local stack (infra/local/up) \
         or set TENANTRY_BOOTSTRAP"
    );
    KafkaConfig::new(bootstrap, "tenantry-kafka-tests")
}

/// A unique name: `{prefix}-{uuid}`.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", Uuid::new_v4())
}

/// Creates a fresh topic with `partitions` partitions and returns its name.
pub async fn fresh_topic(cfg: &KafkaConfig, prefix: &str, partitions: i32) -> String {
    let topic = unique(prefix);
    ensure_topics(cfg, &[(topic.as_str(), partitions)])
        .await
        .expect("create topic");
    topic
}

/// Receives exactly `n` records, skipping transient errors; panics after [`DEADLINE`].
pub async fn recv_n(consumer: &Consumer, n: usize) -> Vec<Record> {
    let mut records = Vec::with_capacity(n);
    let result = timeout(DEADLINE, async {
        while records.len() < n {
            match consumer.recv().await {
                Ok(record) => records.push(record),
                Err(e) if e.is_transient() => {}
                Err(e) => panic!("consume failed: {e}"),
            }
        }
    })
    .await;
    assert!(
        result.is_ok(),
        "received {} of {n} records before the deadline",
        records.len()
    );
    records
}

/// The payload as UTF-8.
pub fn text(record: &Record) -> &str {
    std::str::from_utf8(record.payload.as_deref().unwrap_or_default()).expect("utf-8 payload")
}
