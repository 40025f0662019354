//! `read_to_end`: a whole topic, partition by partition, without a group.

use std::time::Duration;

use tenantry_kafka::{KafkaError, Producer, read_to_end};

use crate::support::{broker, fresh_topic, text, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_to_end_returns_every_record_in_partition_order() {
    let cfg = broker().await;
    let topic = fresh_topic(&cfg, "replay", 3).await;
    let producer = Producer::new(&cfg).unwrap();
    for n in 0..30 {
        let tenant = format!("t{}", n % 7);
        producer
            .send(&topic, &tenant, format!("{tenant}:{n}").as_bytes(), &[])
            .await
            .unwrap();
    }

    let records = read_to_end(&cfg, &topic, Duration::from_secs(30))
        .await
        .unwrap();

    assert_eq!(records.len(), 30);
    let positions: Vec<(i32, i64)> = records.iter().map(|r| (r.partition, r.offset)).collect();
    let mut sorted = positions.clone();
    sorted.sort_unstable();
    assert_eq!(
        positions, sorted,
        "partition by partition, offsets ascending"
    );
    for partition in 0..3 {
        let offsets: Vec<i64> = positions
            .iter()
            .filter(|(p, _)| *p == partition)
            .map(|(_, o)| *o)
            .collect();
        let expected: Vec<i64> = (0..i64::try_from(offsets.len()).unwrap()).collect();
        assert_eq!(offsets, expected, "partition {partition} is complete");
    }
    let mut payloads: Vec<&str> = records.iter().map(text).collect();
    payloads.sort_unstable();
    payloads.dedup();
    assert_eq!(payloads.len(), 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_to_end_of_an_empty_topic_is_empty() {
    let cfg = broker().await;
    let topic = fresh_topic(&cfg, "replay-empty", 2).await;
    let records = read_to_end(&cfg, &topic, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(records.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_to_end_of_a_missing_topic_is_a_permanent_error() {
    let cfg = broker().await;
    let error = read_to_end(&cfg, &unique("missing"), Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(matches!(error, KafkaError::UnknownTopic(_)), "{error:?}");
    assert!(!error.is_transient());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_to_end_reports_each_record_read_against_the_watermarks() {
    use std::sync::{Arc, Mutex};
    let cfg = broker().await;
    let topic = fresh_topic(&cfg, "replay-progress", 2).await;
    let producer = Producer::new(&cfg).unwrap();
    for n in 0..12 {
        producer
            .send(&topic, &format!("t{n}"), b"x", &[])
            .await
            .unwrap();
    }
    let reports: Arc<Mutex<Vec<(u64, u64)>>> = Arc::default();
    let progress = tenantry_kafka::ReadProgress::new({
        let reports = Arc::clone(&reports);
        move |read, total| reports.lock().unwrap().push((read, total))
    });
    let records = tenantry_kafka::read_to_end_reporting(
        &cfg,
        &topic,
        Duration::from_secs(30),
        Some(progress),
    )
    .await
    .unwrap();
    let reports = reports.lock().unwrap();
    assert_eq!(records.len(), 12);
    let read: Vec<u64> = reports.iter().map(|(read, _)| *read).collect();
    assert_eq!(
        read,
        (1..=12).collect::<Vec<u64>>(),
        "once per record, counting up"
    );
    assert!(
        reports.iter().all(|(_, total)| *total == 12),
        "the watermarks' sum: {reports:?}"
    );
}
