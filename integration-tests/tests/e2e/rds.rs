//! Shards on RDS (`ProductDbTarget::Rds`) end to end: product databases
//! placed on RDS instances the provisioner creates in the tenant's region
//! through the AWS emulator's RDS API, schemas created on the data plane
//! (a PostgreSQL database apart from the store), and a deactivation's
//! snapshot taken with `CreateDBSnapshot`.

use crate::support::{Stack, fresh_database, wait_for, wait_for_product};
use std::sync::Arc;
use std::time::Duration;
use tenantry_provisioner::ProductDbTarget;
use tenantry_rds::{RdsConfig, RdsShards, instance_identifier};
use tenantry_schemas::Region;
use tenantry_store::product_db::ProductDatabases;

async fn create_and_activate(stack: &Stack, tenant: &str) {
    stack
        .publish(&[
            "tenant_created",
            "--tenant",
            tenant,
            "--sequence",
            "1",
            "--site",
            tenant,
            "--owner-email",
            "ada@acme.test",
            "--country",
            "CH",
            "--residency-pin",
            "ch",
        ])
        .await;
    stack.activate(tenant, 2, "jira").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn products_go_to_rds_instances_of_their_region_and_a_deactivation_snapshots_the_instance() {
    // Identifiers of this run only: the emulator outlives test runs.
    let prefix = format!("it{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let mut config = RdsConfig::from_env().expect("AWS_* variables (infra/local/env)");
    config.prefix.clone_from(&prefix);
    config.poll_interval = Duration::from_millis(50);
    config.available_timeout = Duration::from_secs(10);
    let rds = Arc::new(RdsShards::new(config));
    let store_url = fresh_database().await;
    let data_plane_url = fresh_database().await;
    let target = ProductDbTarget::Rds {
        control_plane: Arc::clone(&rds),
        data_plane: data_plane_url.clone(),
    };
    // One database per shard: the second tenant needs a second instance.
    let stack = Stack::start_with(store_url, target, 1).await;
    create_and_activate(&stack, "t1").await;
    let first = wait_for_product(&stack.api, "t1", "jira", "active").await;
    create_and_activate(&stack, "t2").await;
    let second = wait_for_product(&stack.api, "t2", "jira", "active").await;

    let mut shards = Vec::new();
    for shard in ["ch-shard-1", "ch-shard-2"] {
        let instance = rds
            .describe_instance(Region::Ch, shard)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no RDS instance for shard {shard}"));
        assert_eq!(instance.identifier, instance_identifier(&prefix, shard));
        assert_eq!(instance.aws_region, "eu-central-2");
        assert_eq!(instance.status, "available");
        assert!(
            instance.multi_az && instance.storage_encrypted,
            "{instance:?}"
        );
        assert_eq!(
            instance.kms_key_id.as_deref(),
            Some(rds.storage_key(Region::Ch).await.unwrap().as_str())
        );
        assert!(
            instance
                .tags
                .contains(&("tenantry:capacity".to_owned(), "1".to_owned())),
            "{:?}",
            instance.tags
        );
        shards.push(instance);
    }
    // No instance anywhere else for this run.
    assert_eq!(
        rds.describe_instance(Region::Eu, "eu-shard-1")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        rds.describe_instance(Region::Ch, "ch-shard-3")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        stack
            .count("SELECT COUNT(*) FROM shards WHERE region = 'ch' AND used = 1")
            .await,
        2
    );

    // The schemas are on the data plane, not on the store's database.
    let database = first["products"]["jira"]["database"]
        .as_str()
        .expect("t1's jira database")
        .to_owned();
    assert_ne!(
        second["products"]["jira"]["database"],
        first["products"]["jira"]["database"]
    );
    let data_plane = ProductDatabases::PostgresSchemas(
        tenantry_store::Store::connect(&data_plane_url, 2)
            .await
            .unwrap()
            .pool()
            .clone(),
    );
    let on_store = ProductDatabases::PostgresSchemas(stack.store.pool().clone());
    assert!(
        data_plane.exists(&database).await.unwrap(),
        "{database} on the data plane"
    );
    assert!(
        !on_store.exists(&database).await.unwrap(),
        "{database} not on the store"
    );

    // Deactivation: the database's copy on the data plane and a snapshot
    // of its instance, both under the snapshot's name.
    stack
        .publish(&[
            "product_deactivated",
            "--tenant",
            "t1",
            "--sequence",
            "3",
            "--product",
            "jira",
        ])
        .await;
    stack
        .until(
            "t1's jira retired",
            "SELECT COUNT(*) FROM product_databases WHERE tenant_id = 't1'",
            0,
        )
        .await;
    let (snapshot,): (String,) =
        sqlx::query_as("SELECT snapshot_name FROM database_snapshots WHERE tenant_id = 't1'")
            .fetch_one(stack.store.pool())
            .await
            .unwrap();
    let identifier = tenantry_rds::snapshot_identifier(&prefix, &snapshot);
    let status = wait_for(Duration::from_secs(30), "instance snapshot", || async {
        rds.snapshot_status(Region::Ch, &identifier).await.unwrap()
    })
    .await;
    assert_eq!(status, "available");
    let listed = rds
        .rds(Region::Ch)
        .describe_db_snapshots()
        .db_snapshot_identifier(&identifier)
        .send()
        .await
        .unwrap();
    assert_eq!(
        listed.db_snapshots()[0].db_instance_identifier(),
        Some(shards[0].identifier.as_str()),
        "the snapshot is of t1's instance"
    );
    wait_for(Duration::from_secs(30), "schema dropped", || async {
        (!data_plane.exists(&database).await.unwrap()).then_some(())
    })
    .await;
    assert!(
        data_plane.exists(&snapshot).await.unwrap(),
        "{snapshot} copy on the data plane"
    );
    stack.stop().await;
}
