//! Case D2 kind: a rebalance does not redeliver work that was finished and stored.

use std::time::Duration;

use tenantry_kafka::{Consumer, Producer, Record};
use tokio::time::{Instant, sleep_until};

use crate::support::{DEADLINE, broker, fresh_topic, recv_n, text, unique};

/// D2: worker A finishes and stores every record but its periodic commit has not run
/// (interval set to an hour); worker B joins the group. The revoke callback commits
/// A's stored offsets, so after the rebalance neither worker sees the old records
/// again: the first record each partition delivers is the new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d2_stored_offsets_are_committed_before_partitions_are_revoked() {
    let cfg = broker()
        .await
        .with_override("auto.commit.interval.ms", "3600000");
    let topic = fresh_topic(&cfg, "d2", 2).await;
    let producer = Producer::new(&cfg).unwrap();
    // Find one tenant per partition.
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
    loop {
        let balanced = a.assignment().unwrap().len() == 1 && b.assignment().unwrap().len() == 1;
        if balanced {
            break;
        }
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
