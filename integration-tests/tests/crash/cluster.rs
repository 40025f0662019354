//! A three-broker Kafka cluster loses its busiest broker mid-run; nothing is
//! lost or doubled.
//!
//! Three KRaft nodes (each broker and controller, [`PrivateKafka::cluster`])
//! on loopback ports; the run's topics get replication factor 3 and
//! `min.insync.replicas=2` (the cluster's defaults), and every Tenantry
//! producer writes with `acks=all` and idempotence (its defaults,
//! `infra/kafka/src/config.rs`). One provisioner works through 60 tenants in
//! two waves. Mid-way through the first, the broker that leads the most
//! partitions of the run's topics and of `__consumer_offsets` (so usually the
//! group coordinator too) is SIGKILLed; the second wave is published while it
//! is down — two in-sync replicas remain, so `acks=all` writes go on — and it
//! is restarted on its data a few seconds later, to catch up as a follower.
//! Then every guarantee of `guarantees.rs` is checked: every tenant
//! provisioned exactly once, one `saga_completed` per saga for a reader that
//! deduplicates by event id, nothing lost.

use crate::infra::OutageRun;
use crate::progress::Progress;
use crate::provisioner::Deployment;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tenantry_integration_tests::kafka::PrivateKafka;
use tenantry_integration_tests::{RunDir, fresh_database, fresh_topics_on};
use tenantry_kafka::{KafkaConfig, partition_leaders};

/// Tenants, in two waves.
const TENANTS: usize = 60;

/// How long the broker stays down.
const OUTAGE: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_brokers_lose_the_busiest_mid_run_and_nothing_is_lost_or_doubled() {
    let started = Instant::now();
    let run = RunDir::new("cluster");
    let mut cluster = PrivateKafka::cluster(3, run.path()).await;
    println!(
        "three-broker cluster test, {TENANTS} tenants (logs {}); cluster up in {:.1} s",
        run.path().display(),
        started.elapsed().as_secs_f64()
    );
    let (suffix, topics) = fresh_topics_on(&cluster.bootstrap()).await;
    let kafka = KafkaConfig::new(cluster.bootstrap(), "it-cluster");
    let run_topics = [
        topics.commerce.as_str(),
        topics.commerce_dlq.as_str(),
        topics.provisioning.as_str(),
    ];
    for p in partition_leaders(&kafka, &run_topics)
        .await
        .expect("metadata of the run's topics")
    {
        assert_eq!(
            p.in_sync.len(),
            3,
            "{}/{} is not replicated to all three brokers: {p:?}",
            p.topic,
            p.partition
        );
    }
    let deployment = Deployment {
        bootstrap: cluster.bootstrap(),
        suffix,
        database_url: fresh_database().await,
    };
    let half = TENANTS / 2;
    let mut outage = OutageRun::start(&run, deployment, topics.clone(), TENANTS, 0..half).await;

    // Mid-way through wave 1: take away the broker that leads the most.
    let before = outage.wait_mid_run(5).await;
    let mut counted = run_topics.to_vec();
    counted.push("__consumer_offsets");
    let leaders = partition_leaders(&kafka, &counted)
        .await
        .expect("metadata before the kill");
    let mut led: BTreeMap<i32, usize> = BTreeMap::new();
    for p in &leaders {
        *led.entry(p.leader).or_default() += 1;
    }
    let (&victim, &partitions) = led
        .iter()
        .max_by_key(|(_, n)| **n)
        .expect("partitions have leaders");
    let victim = u32::try_from(victim).expect("a leader's node id");
    cluster.kill(victim).await;
    let down = Instant::now();
    println!(
        "  killed broker {victim}, leader of {partitions} of {} partitions (leaders per broker: \
         {led:?}); before {before}",
        leaders.len()
    );

    outage.publish(&run, half..TENANTS, "wave-2").await;
    tokio::time::sleep(OUTAGE.saturating_sub(down.elapsed())).await;
    let during = Progress::read(&outage.pool).await.expect("store readable");
    cluster.restart(victim).await;
    println!(
        "  broker {victim} restarted after {:.1} s down (wave 2 published meanwhile); {during}",
        down.elapsed().as_secs_f64()
    );

    let finish = outage.finish().await;
    println!(
        "  every tenant provisioned {:.1} s after the restart; guarantees hold; test {:.1} s",
        finish.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}
