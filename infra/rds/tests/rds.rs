//! The RDS control plane against the AWS emulator (moto at
//! `AWS_ENDPOINT_URL`, `infra/local/up`): real `CreateDBInstance`,
//! `DescribeDBInstances`, `CreateDBSnapshot` calls.

use std::sync::Arc;
use std::time::Duration;

use tenantry_rds::{RdsConfig, RdsShards, aws_region, instance_identifier};
use tenantry_schemas::Region;

fn control_plane() -> RdsShards {
    let mut config = RdsConfig::from_env().expect("run `. infra/local/env` (AWS_* variables)");
    config.poll_interval = Duration::from_millis(50);
    config.available_timeout = Duration::from_secs(5);
    RdsShards::new(config)
}

/// A shard id no other run used: moto keeps its state across test runs.
fn fresh_shard(region: Region) -> String {
    let run = &uuid::Uuid::new_v4().simple().to_string()[..8];
    format!("{region}-shard-{run}")
}

async fn instances_named(rds: &RdsShards, region: Region, shard: &str) -> usize {
    let listed = rds
        .rds(region)
        .describe_db_instances()
        .send()
        .await
        .expect("DescribeDBInstances");
    let identifier = instance_identifier("tenantry", shard);
    listed
        .db_instances()
        .iter()
        .filter(|i| i.db_instance_identifier() == Some(identifier.as_str()))
        .count()
}

#[tokio::test]
async fn a_shard_instance_is_multi_az_encrypted_under_its_region_key_and_tagged() {
    let rds = control_plane();
    let shard = fresh_shard(Region::Ch);
    let instance = rds.ensure_instance(Region::Ch, &shard, 250).await.unwrap();
    assert_eq!(instance.identifier, instance_identifier("tenantry", &shard));
    assert_eq!(instance.aws_region, "eu-central-2");
    assert_eq!(instance.status, "available");
    assert!(instance.multi_az);
    assert!(instance.storage_encrypted);
    let key = rds.storage_key(Region::Ch).await.unwrap();
    assert_eq!(instance.kms_key_id.as_deref(), Some(key.as_str()));
    assert!(key.contains(":eu-central-2:"), "{key}");
    assert!(instance.endpoint.is_some());
    for (tag, value) in [
        ("tenantry:region", "ch"),
        ("tenantry:shard", shard.as_str()),
        ("tenantry:capacity", "250"),
    ] {
        assert!(
            instance.tags.contains(&(tag.to_owned(), value.to_owned())),
            "{tag}={value} in {:?}",
            instance.tags
        );
    }
}

#[tokio::test]
async fn ensuring_a_shard_again_or_concurrently_makes_one_instance() {
    let rds = Arc::new(control_plane());
    let shard = fresh_shard(Region::Jp);
    let racers: Vec<_> = (0..3)
        .map(|_| {
            let rds = Arc::clone(&rds);
            let shard = shard.clone();
            tokio::spawn(async move { rds.ensure_instance(Region::Jp, &shard, 10).await })
        })
        .collect();
    let mut identifiers = Vec::new();
    for racer in racers {
        identifiers.push(racer.await.unwrap().unwrap().identifier);
    }
    identifiers.dedup();
    assert_eq!(identifiers, [instance_identifier("tenantry", &shard)]);
    rds.ensure_instance(Region::Jp, &shard, 10).await.unwrap();
    assert_eq!(instances_named(&rds, Region::Jp, &shard).await, 1);
    // In the region's AWS region, nowhere else.
    assert_eq!(instances_named(&rds, Region::Sg, &shard).await, 0);
}

#[tokio::test]
async fn a_region_keeps_one_storage_key() {
    let first = control_plane().storage_key(Region::Kr).await.unwrap();
    // A new control plane (no cache) finds the same key by its alias.
    let again = control_plane().storage_key(Region::Kr).await.unwrap();
    assert_eq!(first, again);
    assert!(first.contains(&format!(":{}:", aws_region(Region::Kr))));
}

#[tokio::test]
async fn a_snapshot_is_taken_once_and_deleted_idempotently() {
    let rds = control_plane();
    let shard = fresh_shard(Region::Au);
    rds.ensure_instance(Region::Au, &shard, 10).await.unwrap();
    let name = format!("snap_t_acme__jira_{}", &shard[9..]);
    let identifier = rds.snapshot(Region::Au, &shard, &name).await.unwrap();
    assert_eq!(
        rds.snapshot(Region::Au, &shard, &name).await.unwrap(),
        identifier
    );
    assert_eq!(
        rds.snapshot_status(Region::Au, &identifier)
            .await
            .unwrap()
            .as_deref(),
        Some("available")
    );
    rds.delete_snapshot(Region::Au, &name).await.unwrap();
    rds.delete_snapshot(Region::Au, &name).await.unwrap();
    assert_eq!(
        rds.snapshot_status(Region::Au, &identifier).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn a_snapshot_of_a_shard_without_an_instance_is_refused() {
    let rds = control_plane();
    let error = rds
        .snapshot(Region::Ca, &fresh_shard(Region::Ca), "snap_x")
        .await
        .unwrap_err();
    assert!(!error.is_retryable(), "{error}");
    assert!(error.to_string().contains("CreateDBSnapshot"), "{error}");
}
