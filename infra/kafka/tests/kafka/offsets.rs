//! Case D1 kind: only offsets the caller stores are committed.

use tenantry_kafka::{Consumer, Producer};

use crate::support::{broker, fresh_topic, recv_n, text, unique};

/// D1: a worker takes records 0, 1, 2 but only 0 and 1 become durable (stored); it
/// goes away; the next worker of the group resumes at record 2, not after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d1_a_new_group_member_resumes_after_the_last_stored_record() {
    let cfg = broker().await;
    let topic = fresh_topic(&cfg, "d1", 1).await;
    let producer = Producer::new(&cfg).unwrap();
    for event in [
        "created(t1)",
        "activated(t1,jira)",
        "activated(t1,confluence)",
    ] {
        producer
            .send(&topic, "t1", event.as_bytes(), &[])
            .await
            .unwrap();
    }
    let group = unique("d1");

    let first = Consumer::new(&cfg, &group, &[&topic]).unwrap();
    let taken = recv_n(&first, 3).await;
    assert_eq!(
        taken.iter().map(|r| r.offset).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    first.store(&taken[0]).unwrap();
    first.store(&taken[1]).unwrap();
    // Record 2's effect never became durable: the worker stops here.
    drop(first);

    let second = Consumer::new(&cfg, &group, &[&topic]).unwrap();
    let resumed = recv_n(&second, 1).await;
    assert_eq!(resumed[0].offset, 2);
    assert_eq!(text(&resumed[0]), "activated(t1,confluence)");
}

/// D1: nothing stored means nothing committed, even after `commit_now`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d1_records_that_were_never_stored_are_delivered_again() {
    let cfg = broker().await;
    let topic = fresh_topic(&cfg, "d1-none", 1).await;
    let producer = Producer::new(&cfg).unwrap();
    producer
        .send(&topic, "t1", b"created(t1)", &[])
        .await
        .unwrap();
    let group = unique("d1-none");

    let first = Consumer::new(&cfg, &group, &[&topic]).unwrap();
    assert_eq!(recv_n(&first, 1).await[0].offset, 0);
    first.commit_now().unwrap();
    drop(first);

    let second = Consumer::new(&cfg, &group, &[&topic]).unwrap();
    assert_eq!(recv_n(&second, 1).await[0].offset, 0);
}
