//! Two provisioners started under one static-member name
//! (`TENANTRY_INSTANCE_ID`): the broker fences the older one, which stops
//! with an error that names the likely cause, instead of retrying for ever
//! while it owns nothing.

use crate::provisioner::{Deployment, Provisioner};
use std::time::Duration;
use tenantry_integration_tests::{
    Poll, RunDir, bootstrap, fresh_database, fresh_topics, wait_until,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provisioner_fenced_by_a_second_one_with_its_name_stops_with_the_reason() {
    let run = RunDir::new("fencing");
    let (suffix, _topics) = fresh_topics().await;
    let deployment = Deployment {
        bootstrap: bootstrap(),
        suffix,
        database_url: fresh_database().await,
    };
    let mut first = Provisioner::member(&deployment, &run, "same");
    first.start();
    wait_until(
        Duration::from_secs(60),
        "the first provisioner to get its partitions",
        || {
            first.assert_alive();
            let log = first.log_tail(50);
            async move {
                if log.contains("Partitions assigned") && !log.contains("partitions=0") {
                    Poll::Ready(())
                } else {
                    Poll::Waiting("no partitions yet".into())
                }
            }
        },
    )
    .await;
    let mut second = Provisioner::member(&deployment, &run, "same");
    second.start();
    let (status, log) = wait_until(
        Duration::from_secs(60),
        "the first provisioner to stop after being fenced",
        || {
            second.assert_alive();
            let exited = first.exited();
            async move {
                match exited {
                    Some(exit) => Poll::Ready(exit),
                    None => Poll::Waiting("still running".into()),
                }
            }
        },
    )
    .await;
    assert!(
        !status.success(),
        "a fenced provisioner exits non-zero: {status}"
    );
    assert!(
        log.contains("same --instance-id"),
        "the error names the likely cause:\n{log}"
    );
    second.stop().await;
}
