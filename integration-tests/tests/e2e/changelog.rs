//! The tenant context changelog end to end: every context version the
//! projector writes goes to `tenant-context.changelog.v1` (compacted), in
//! order per tenant, and the log read from the start converges to the
//! context store; a destroyed tenant's last record says so.

use crate::support::{Stack, bootstrap, wait_for};
use std::time::Duration;
use tenantry_integration_tests::changelog::assert_converges;
use tenantry_kafka::KafkaConfig;
use tenantry_schemas::TenantId;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_changelog_holds_every_context_version_in_order_and_converges_to_the_store() {
    let stack = Stack::start().await;
    for (tenant, site) in [("c1", "alpha"), ("c2", "beta"), ("c3", "gamma")] {
        stack
            .create_tenant(tenant, site, "ada@acme.test", "DE")
            .await;
        stack.activate(tenant, 2, "jira").await;
    }
    stack
        .publish(&["tenant_destroyed", "--tenant", "c3", "--sequence", "3"])
        .await;
    for tenant in ["c1", "c2"] {
        crate::support::wait_for_product(&stack.api, tenant, "jira", "active").await;
    }
    wait_for(Duration::from_secs(60), "c3 gone", || async {
        (stack.get("/v1/tenants/c3/context").await.0 == 410).then_some(())
    })
    .await;
    let topic = stack.topics.changelog.clone();
    let contexts = stack.contexts.clone();
    stack.stop().await;

    let tenants: Vec<TenantId> = ["c1", "c2", "c3"]
        .into_iter()
        .map(|t| TenantId::parse(t).unwrap())
        .collect();
    let report = assert_converges(
        &KafkaConfig::new(bootstrap(), "it-changelog"),
        &topic,
        &contexts,
        &tenants,
    )
    .await;
    assert_eq!(report.tenants, 3, "{report:?}");
    // Creation, provisioning and activation each gave each tenant versions.
    assert!(report.records >= 6, "{report:?}");
    let last = tenantry_kafka::read_to_end(
        &KafkaConfig::new(bootstrap(), "it-changelog"),
        &topic,
        Duration::from_secs(30),
    )
    .await
    .unwrap()
    .into_iter()
    .rev()
    .find(|r| r.key.as_deref() == Some(b"c3".as_slice()))
    .expect("c3 has changelog records");
    let value: serde_json::Value =
        serde_json::from_slice(last.payload.as_deref().unwrap()).unwrap();
    assert_eq!(value["context"]["status"], "destroyed", "{value}");
}
