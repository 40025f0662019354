//! Static group membership (KIP-345, `ConsumerOptions::instance_id`): a member
//! restarted under its name takes its partitions back and the rest of the group
//! never notices.

use std::time::Duration;

use tenantry_kafka::{Consumer, ConsumerOptions, KafkaConfig};
use tokio::time::{Instant, sleep_until};

use crate::support::{DEADLINE, broker, fresh_topic, unique};

fn member(cfg: &KafkaConfig, group: &str, topic: &str, name: &str) -> Consumer {
    let options = ConsumerOptions {
        instance_id: Some(name.to_owned()),
        ..ConsumerOptions::default()
    };
    Consumer::with_options(cfg, group, &[topic], options).unwrap()
}

/// How long the member stays away before it comes back.
const AWAY: Duration = Duration::from_secs(4);

/// Polls both consumers (rebalance callbacks run inside `recv`) for 200 ms.
async fn tick(a: &Consumer, b: &Consumer) {
    let until = sleep_until(Instant::now() + Duration::from_millis(200));
    tokio::select! {
        _ = a.recv() => {}
        _ = b.recv() => {}
        () = until => {}
    }
}

/// Members `a` and `b` own one partition each. `a` goes away (a static member's
/// close does not leave the group) and comes back under the same name 4 s later:
/// it owns its old partition again, and `b` owns exactly its own partition the
/// whole time. With dynamic membership `b` takes both partitions when `a` leaves
/// (this test then fails) and gives one back when the new `a` joins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_static_member_takes_its_partitions_back_without_a_rebalance() {
    let cfg = broker().await;
    let topic = fresh_topic(&cfg, "static", 2).await;
    let group = unique("static");
    let name_a = unique("a");
    let a = member(&cfg, &group, &topic, &name_a);
    let b = member(&cfg, &group, &topic, &unique("b"));
    let deadline = Instant::now() + DEADLINE;
    while !(a.assignment().unwrap().len() == 1 && b.assignment().unwrap().len() == 1) {
        assert!(
            Instant::now() < deadline,
            "the first assignment did not finish"
        );
        tick(&a, &b).await;
    }
    let owned_by_a = a.assignment().unwrap();
    let owned_by_b = b.assignment().unwrap();
    drop(a);

    // Away for 4 s, within the 10 s session timeout: long enough for a dynamic
    // group to have rebalanced `a`'s partition to `b` (about a second here).
    let away = Instant::now() + AWAY;
    while Instant::now() < away {
        let until = sleep_until(Instant::now() + Duration::from_millis(200));
        tokio::select! {
            _ = b.recv() => {}
            () = until => {}
        }
        assert_eq!(
            b.assignment().unwrap(),
            owned_by_b,
            "the other member's partitions changed while a was away"
        );
    }
    let a = member(&cfg, &group, &topic, &name_a);
    while a.assignment().unwrap() != owned_by_a {
        assert!(
            Instant::now() < deadline,
            "the restarted member did not get {owned_by_a:?} back (it has {:?}, b has {:?})",
            a.assignment().unwrap(),
            b.assignment().unwrap()
        );
        assert_eq!(
            b.assignment().unwrap(),
            owned_by_b,
            "the other member's partitions changed while a was away"
        );
        tick(&a, &b).await;
    }
    // A little longer: no late rebalance moves anything either.
    for _ in 0..10 {
        tick(&a, &b).await;
        assert_eq!(a.assignment().unwrap(), owned_by_a);
        assert_eq!(b.assignment().unwrap(), owned_by_b);
    }
}

/// Two live members under one name: the broker fences the older one, whose
/// `recv` then fails with a fatal error (it must stop, not retry for ever) and
/// which reports why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_member_under_the_same_name_fences_the_first() {
    let cfg = broker().await;
    let topic = fresh_topic(&cfg, "fenced", 1).await;
    let group = unique("fenced");
    let name = unique("same");
    let first = member(&cfg, &group, &topic, &name);
    let deadline = Instant::now() + DEADLINE;
    while first.assignment().unwrap().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the first member got no partition"
        );
        let _ = tokio::time::timeout(Duration::from_millis(200), first.recv()).await;
    }
    let second = member(&cfg, &group, &topic, &name);
    let error = loop {
        assert!(Instant::now() < deadline, "the first member was not fenced");
        tokio::select! {
            Ok(Err(error)) = tokio::time::timeout(Duration::from_millis(200), first.recv()) => {
                if error.is_fatal() {
                    break error;
                }
            }
            _ = second.recv() => {}
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    };
    let reason = first.fatal_error().expect("a fatal error is recorded");
    assert!(!error.is_transient(), "{error}");
    assert!(reason.contains("fenced"), "{reason}");
}
