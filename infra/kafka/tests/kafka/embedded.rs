//! The embedded broker (`tenantry dev`) and client errors that need no broker.

use std::time::Duration;

use tenantry_kafka::{Consumer, EmbeddedBroker, KafkaConfig, KafkaError, Producer, read_to_end};

use crate::support::{recv_n, text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_broker_round_trip() {
    let broker = EmbeddedBroker::start(&[("commerce.lifecycle.v1", 2)]).unwrap();
    assert!(!broker.bootstrap().is_empty());
    let cfg = broker.config("embedded-test");
    let producer = Producer::new(&cfg).unwrap();
    for event in [
        "created(t1)",
        "created(t2)",
        "activated(t1,jira)",
        "activated(t2,jira)",
    ] {
        let tenant = &event[event.find('(').unwrap() + 1..event.find([',', ')']).unwrap()];
        producer
            .send("commerce.lifecycle.v1", tenant, event.as_bytes(), &[])
            .await
            .unwrap();
    }

    let consumer = Consumer::new(&cfg, "provisioner", &["commerce.lifecycle.v1"]).unwrap();
    let records = recv_n(&consumer, 4).await;
    for tenant in ["t1", "t2"] {
        let events: Vec<&str> = records
            .iter()
            .filter(|r| r.key_str() == Some(tenant))
            .map(text)
            .collect();
        assert_eq!(
            events,
            [
                format!("created({tenant})"),
                format!("activated({tenant},jira)")
            ]
        );
    }
    for record in &records {
        consumer.store(record).unwrap();
    }

    let all = read_to_end(&cfg, "commerce.lifecycle.v1", Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(all.len(), 4);

    broker.create_topic("provisioning.events.v1", 1).unwrap();
    let (partition, offset) = producer
        .send("provisioning.events.v1", "t1", b"provisioned(t1)", &[])
        .await
        .unwrap();
    assert_eq!((partition, offset), (0, 0));
    producer.flush(Duration::from_secs(5)).await.unwrap();
}

#[test]
fn an_unknown_librdkafka_property_is_a_permanent_configuration_error() {
    let cfg = KafkaConfig::new("127.0.0.1:1", "bad").with_override("no.such.property", "1");
    let error = Producer::new(&cfg).unwrap_err();
    assert!(matches!(error, KafkaError::Config(_)), "{error:?}");
    assert!(!error.is_transient());
}
