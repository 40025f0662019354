//! A tenant's records land in one partition whichever client wrote them:
//! Tenantry's producers hash keys as Java clients do (`partitioner =
//! murmur2_random`, `infra/kafka/src/config.rs`), so a commerce system on the
//! Java client and `tenantry publish` or the relay agree. Checked against
//! Kafka's own console producer (Java, default partitioner).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::time::Duration;
use tenantry_integration_tests::bootstrap;
use tenantry_integration_tests::kafka::kafka_tool_script;
use tenantry_kafka::{KafkaConfig, Producer, ensure_topics, read_to_end};
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenantry_and_java_producers_put_a_tenant_in_the_same_partition() {
    let cfg = KafkaConfig::new(bootstrap(), "it-partitioning");
    let topic = format!(
        "partitioning-{}",
        &Uuid::new_v4().simple().to_string()[..12]
    );
    ensure_topics(&cfg, &[(topic.as_str(), 6)])
        .await
        .expect("create topic");
    let tenants: Vec<String> = (1..=30).map(|i| format!("t{i}")).collect();

    let producer = Producer::new(&cfg).unwrap();
    for tenant in &tenants {
        producer
            .send(&topic, tenant, b"tenantry", &[])
            .await
            .expect("produce");
    }

    let mut java = tokio::process::Command::new(kafka_tool_script())
        .args(["kafka-console-producer", "--bootstrap-server", &bootstrap()])
        .args(["--topic", &topic])
        .args([
            "--property",
            "parse.key=true",
            "--property",
            "key.separator=:",
        ])
        .stdin(Stdio::piped())
        .spawn()
        .expect("run infra/local/kafka-tool kafka-console-producer");
    let lines: String = tenants.iter().map(|t| format!("{t}:java\n")).collect();
    let mut stdin = java.stdin.take().expect("piped stdin");
    stdin.write_all(lines.as_bytes()).await.unwrap();
    drop(stdin);
    let status = tokio::time::timeout(Duration::from_secs(60), java.wait())
        .await
        .expect("console producer finishes")
        .unwrap();
    assert!(status.success(), "console producer failed: {status}");

    let records = read_to_end(&cfg, &topic, Duration::from_secs(30))
        .await
        .expect("read the topic");
    assert_eq!(records.len(), 2 * tenants.len(), "every record written");
    let mut partitions: BTreeMap<String, BTreeSet<(i32, String)>> = BTreeMap::new();
    for record in &records {
        partitions
            .entry(record.key_str().unwrap_or_default().to_owned())
            .or_default()
            .insert((
                record.partition,
                String::from_utf8_lossy(record.payload.as_deref().unwrap_or_default()).into(),
            ));
    }
    let split: Vec<_> = partitions
        .iter()
        .filter(|(_, seen)| seen.iter().map(|(p, _)| p).collect::<BTreeSet<_>>().len() > 1)
        .collect();
    assert!(split.is_empty(), "keys split across partitions: {split:?}");
    let used: BTreeSet<i32> = records.iter().map(|r| r.partition).collect();
    assert!(used.len() > 1, "30 keys all in one partition: {used:?}");
}
