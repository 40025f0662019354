//! Case D2 kind: a rebalance does not redeliver work that was finished and stored.

use std::time::Duration;

use tenantry_kafka::{Consumer, KafkaConfig, Producer, Record};
use tokio::time::{Instant, sleep_until};

use crate::support::{DEADLINE, broker, fresh_topic, recv_n, text, unique};

/// D2 with production settings: worker A finishes and stores every record, its
/// periodic commit has not run (interval set to an hour), worker B joins the group.
/// After the rebalance neither worker sees the old records again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d2_a_joining_worker_does_not_receive_finished_work() {
    let cfg = broker()
        .await
        .with_override("auto.commit.interval.ms", "3600000");
    joining_worker_sees_no_finished_work(cfg).await;
}

/// D2, the revoke callback alone: with `enable.auto.commit=false` neither the periodic
/// commit nor librdkafka's own commit of unassigned partitions runs, so only the
/// consumer context's synchronous commit before the revoke can save the stored
/// offsets (without it this test sees every old record again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d2_the_revoke_callback_commits_stored_offsets() {
    let cfg = broker().await.with_override("enable.auto.commit", "false");
    joining_worker_sees_no_finished_work(cfg).await;
}

/// A stores every record of a two-partition topic, then B joins the group; once each
/// owns one partition, a new record is written to each partition. Every record
/// delivered after B joined must be a new one.
async fn joining_worker_sees_no_finished_work(cfg: KafkaConfig) {
    let topic = fresh_topic(&cfg, "d2", 2).await;
    let producer = Producer::new(&cfg).unwrap();
    // Write "old" records until each partition holds one; remember a tenant per partition.
    let mut tenant_of = [None, None];
    let mut old = 0;
    for n in 0..100 {
        let tenant = format!("t{n}");
        let (partition, _) = producer
            .send(&topic, &tenant, format!("old:{tenant}").as_bytes(), &[])
            .await
            .unwrap();
        old += 1;
        tenant_of[usize::try_from(partition).unwrap()].get_or_insert(tenant);
        if tenant_of.iter().all(Option::is_some) {
            break;
        }
    }
    let group = unique("d2");

    let a = Consumer::new(&cfg, &group, &[&topic]).unwrap();
    for record in recv_n(&a, old).await {
        a.store(&record).unwrap();
    }

    let b = Consumer::new(&cfg, &group, &[&topic]).unwrap();
    let mut after_join: Vec<Record> = Vec::new();
    let deadline = Instant::now() + DEADLINE;
    // Poll both members (rebalance callbacks run inside recv) until each owns one partition.
    while !(a.assignment().unwrap().len() == 1 && b.assignment().unwrap().len() == 1) {
        assert!(Instant::now() < deadline, "rebalance did not finish");
        let tick = sleep_until(Instant::now() + Duration::from_millis(200));
        tokio::select! {
            Ok(record) = a.recv() => after_join.push(record),
            Ok(record) = b.recv() => after_join.push(record),
            () = tick => {}
        }
    }

    for tenant in tenant_of.iter().flatten() {
        producer
            .send(&topic, tenant, format!("new:{tenant}").as_bytes(), &[])
            .await
            .unwrap();
    }
    while after_join
        .iter()
        .filter(|r| text(r).starts_with("new:"))
        .count()
        < 2
    {
        assert!(Instant::now() < deadline, "new records did not arrive");
        let tick = sleep_until(Instant::now() + Duration::from_millis(200));
        tokio::select! {
            Ok(record) = a.recv() => after_join.push(record),
            Ok(record) = b.recv() => after_join.push(record),
            () = tick => {}
        }
    }
    let redelivered: Vec<&str> = after_join
        .iter()
        .map(text)
        .filter(|t| t.starts_with("old:"))
        .collect();
    assert!(redelivered.is_empty(), "redelivered: {redelivered:?}");
}
