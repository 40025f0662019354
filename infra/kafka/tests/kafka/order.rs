//! Produce and consume: per-key (per-tenant) order, keys, headers, partitions.

use std::collections::HashMap;

use tenantry_kafka::{Consumer, Producer};

use crate::support::{broker, fresh_topic, recv_n, text, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_of_each_tenant_arrive_in_the_order_they_were_sent() {
    let cfg = broker().await;
    let topic = fresh_topic(&cfg, "order", 3).await;
    let producer = Producer::new(&cfg).unwrap();
    let tenants = ["t1", "t2", "t3", "t4", "t5"];
    let mut partition_of: HashMap<&str, i32> = HashMap::new();
    for seq in 0..10 {
        for tenant in tenants {
            let payload = format!("{tenant}:{seq}");
            let seq_header = seq.to_string();
            let (partition, _offset) = producer
                .send(
                    &topic,
                    tenant,
                    payload.as_bytes(),
                    &[("seq", seq_header.as_bytes())],
                )
                .await
                .unwrap();
            let first = *partition_of.entry(tenant).or_insert(partition);
            assert_eq!(first, partition, "a tenant's records share one partition");
        }
    }

    let consumer = Consumer::new(&cfg, &unique("order"), &[&topic]).unwrap();
    let records = recv_n(&consumer, 50).await;

    let mut seen: HashMap<&str, Vec<String>> = HashMap::new();
    for record in &records {
        let tenant = record.key_str().expect("utf-8 key");
        let tenant = tenants.iter().copied().find(|t| *t == tenant).unwrap();
        assert_eq!(record.topic, topic);
        assert_eq!(record.partition, partition_of[tenant]);
        assert!(record.timestamp_ms.is_some());
        let seq = std::str::from_utf8(record.header("seq").unwrap()).unwrap();
        assert_eq!(text(record), format!("{tenant}:{seq}"));
        seen.entry(tenant)
            .or_default()
            .push(text(record).to_owned());
    }
    for tenant in tenants {
        let expected: Vec<String> = (0..10).map(|seq| format!("{tenant}:{seq}")).collect();
        assert_eq!(seen[tenant], expected, "order of {tenant}");
    }
}
