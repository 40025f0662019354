//! Case D3 kind: a poison record is copied to the dead-letter topic with `dlq.*` headers.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tenantry_kafka::{Producer, dead_letter, read_to_end};

use crate::support::{broker, fresh_topic};

fn now_ms() -> i64 {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();
    i64::try_from(ms).unwrap()
}

/// D3: five bytes `00 00 00 00 07` (magic byte, no schema id) go to the DLQ unchanged,
/// with the original headers and reason, source topic, partition, offset and time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d3_dead_letter_keeps_key_payload_headers_and_adds_the_source() {
    let cfg = broker().await;
    let topic = fresh_topic(&cfg, "d3", 1).await;
    let dlq = fresh_topic(&cfg, "d3-dlq", 1).await;
    let producer = Producer::new(&cfg).unwrap();
    producer.send(&topic, "t3", b"valid", &[]).await.unwrap();
    let poison: &[u8] = &[0, 0, 0, 0, 7];
    producer
        .send(&topic, "t3", poison, &[("traceparent", b"00-abc-def-01")])
        .await
        .unwrap();
    let source = read_to_end(&cfg, &topic, Duration::from_secs(30))
        .await
        .unwrap();
    let record = &source[1];

    let before = now_ms();
    dead_letter(&producer, &dlq, record, "truncated Confluent frame")
        .await
        .unwrap();
    let after = now_ms();

    let parked = read_to_end(&cfg, &dlq, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(parked.len(), 1);
    let parked = &parked[0];
    assert_eq!(parked.key_str(), Some("t3"));
    assert_eq!(parked.payload.as_deref(), Some(poison));
    let header = |name: &str| std::str::from_utf8(parked.header(name).unwrap()).unwrap();
    assert_eq!(header("traceparent"), "00-abc-def-01");
    assert_eq!(header("dlq.reason"), "truncated Confluent frame");
    assert_eq!(header("dlq.source.topic"), topic);
    assert_eq!(header("dlq.source.partition"), "0");
    assert_eq!(header("dlq.source.offset"), "1");
    let failed_at: i64 = header("dlq.failed_at_ms").parse().unwrap();
    assert!((before..=after).contains(&failed_at));

    // Dead-lettered again (e.g. from a DLQ replay): only the newest dlq.* headers remain.
    let dlq2 = fresh_topic(&cfg, "d3-dlq2", 1).await;
    dead_letter(&producer, &dlq2, parked, "still broken")
        .await
        .unwrap();
    let twice = read_to_end(&cfg, &dlq2, Duration::from_secs(30))
        .await
        .unwrap();
    let reasons: Vec<&[u8]> = twice[0]
        .headers
        .iter()
        .filter(|(name, _)| name == "dlq.reason")
        .map(|(_, value)| value.as_slice())
        .collect();
    assert_eq!(reasons, [b"still broken".as_slice()]);
    assert_eq!(twice[0].header("dlq.source.topic"), Some(dlq.as_bytes()));
    assert_eq!(
        twice[0].header("traceparent"),
        Some(b"00-abc-def-01".as_slice())
    );
}
