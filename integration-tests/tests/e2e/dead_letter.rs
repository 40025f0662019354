//! Case D3: poison records go to the dead-letter topic with reason, source
//! topic, partition and offset headers, and the partition keeps flowing.

use crate::support::{Stack, bootstrap, wait_for_product};
use std::time::Duration;
use tenantry_kafka::{KafkaConfig, Producer, read_to_end};
use tenantry_schemas::*;
use uuid::Uuid;

fn record(sequence: i64, event: CommerceEvent) -> CommerceRecord {
    CommerceRecord {
        envelope: Envelope {
            event_id: Uuid::new_v4(),
            tenant_id: TenantId::parse("t3").unwrap(),
            sequence,
            occurred_at_ms: 1_767_225_600_000,
            source: "it".into(),
            correlation_id: None,
            causation_id: None,
        },
        event,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn d3_poison_records_are_dead_lettered_and_the_partition_keeps_flowing() {
    let stack = Stack::start().await;
    let codec = Codec::embedded();
    let topic = stack.topics.commerce.clone();
    let created = record(
        1,
        CommerceEvent::TenantCreated(TenantCreated {
            site: SiteName::parse("t3site").unwrap(),
            owner_email: "o@t3.test".into(),
            country: CountryCode::parse("SG").unwrap(),
            residency_pin: None,
            kms_key: None,
        }),
    );
    let activated = record(
        2,
        CommerceEvent::ProductActivated(ProductActivated {
            product: ProductKey::parse("jira").unwrap(),
            edition: Edition::Standard,
            seats: 5,
            apps: vec![],
        }),
    );
    let mut unknown_schema = vec![0u8, 0, 0, 0x27, 0x0f]; // magic 0, schema id 9999
    unknown_schema.extend_from_slice(&[2, 4, 6]);
    let payloads: Vec<Vec<u8>> = vec![
        codec.encode_commerce(&topic, &created).await.unwrap(),
        br#"{"tenant":"t3"}"#.to_vec(),
        vec![0, 0, 0, 0, 7],
        unknown_schema,
        codec.encode_commerce(&topic, &activated).await.unwrap(),
    ];
    let producer = Producer::new(&KafkaConfig::new(bootstrap(), "it-poison")).unwrap();
    for payload in &payloads {
        producer.send(&topic, "t3", payload, &[]).await.unwrap();
    }

    let context = wait_for_product(&stack.api, "t3", "jira", "active").await;
    assert_eq!(context["region"]["code"], "sg");

    let config = KafkaConfig::new(bootstrap(), "it-dlq-reader");
    let dead = crate::support::wait_for(Duration::from_secs(30), "3 dead letters", || {
        let config = config.clone();
        let dlq = stack.topics.commerce_dlq.clone();
        async move {
            let records = read_to_end(&config, &dlq, Duration::from_secs(10))
                .await
                .ok()?;
            (records.len() >= 3).then_some(records)
        }
    })
    .await;
    assert_eq!(dead.len(), 3, "exactly the three poison records");
    let header = |r: &tenantry_kafka::Record, name: &str| {
        String::from_utf8_lossy(r.header(name).unwrap_or_else(|| panic!("header {name}")))
            .into_owned()
    };
    let mut offsets: Vec<i64> = dead
        .iter()
        .map(|r| header(r, "dlq.source.offset").parse().unwrap())
        .collect();
    offsets.sort();
    let first = offsets[0];
    assert_eq!(
        offsets,
        vec![first, first + 1, first + 2],
        "records 2-4 of the partition"
    );
    for r in &dead {
        assert_eq!(header(r, "dlq.source.topic"), topic);
        assert!(header(r, "dlq.source.partition").parse::<i32>().is_ok());
        assert!(!header(r, "dlq.reason").is_empty());
    }
    let unknown = dead
        .iter()
        .find(|r| r.payload.as_deref() == Some(&payloads[3][..]))
        .unwrap();
    assert!(
        header(unknown, "dlq.reason").contains("9999"),
        "{}",
        header(unknown, "dlq.reason")
    );
    stack.stop().await;
}
